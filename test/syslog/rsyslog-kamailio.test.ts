/**
 * End to end from a real Kamailio driven by sipp (test/e2e/harness), through a private rsyslogd that
 * follows Kamailio's log file with imfile while the calls run, to three exporters: UDP/RFC 3164,
 * TCP/LF and TCP/octet-counted RFC 5424. Each exporter must count exactly the acc records the call
 * plan predicts (the harness derives them from the plan, never from observation).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../helpers/daemon.js';
import { runCalls, startKamailio, waitForAccLines, type CallGroup, type Kamailio } from '../e2e/harness/index.js';
import { asCountKeys, expectExactly, LEGS, startLegs, startRsyslog, type Rsyslog } from './rsyslog.js';
import { split } from './util.js';

const PLAN: CallGroup[] = [
  { code: 200, count: 4 },
  { code: 486, count: 3 },
  { code: 603, count: 1, transport: 'tcp' },
  { outcome: 'cancel', count: 2 },
  { outcome: 'unknown-user', count: 2 },
  { outcome: 'timeout', count: 1 },
  { method: 'OPTIONS', code: 200, count: 3 },
  { method: 'REGISTER', code: 401, count: 2 },
];

describe('Kamailio + sipp -> rsyslog -> exporter', () => {
  let dir: string | undefined;
  let k: Kamailio | undefined;
  let rs: Rsyslog | undefined;
  let daemons: RunningDaemon[] = [];
  afterEach(async () => {
    await k?.stop();
    await rs?.stop();
    for (const d of daemons) await d.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    k = rs = dir = undefined;
    daemons = [];
  });

  it('counts equal the acc records of the call plan over all three forwarding modes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'syslog-kamailio-'));
    daemons = await startLegs();
    k = await startKamailio({ dir });
    rs = await startRsyslog(
      dir,
      k.logFile,
      LEGS.map((leg, i) => leg.target(split((daemons[i] as RunningDaemon).addresses[`syslog.${leg.transport}`]!).port)),
    );
    const { expected } = await runCalls(k, PLAN);
    await waitForAccLines(k, expected.accLines);
    // Stop Kamailio so its log is final, then every line of it must arrive.
    await k.stop();
    const lines = readFileSync(k.logFile, 'utf8').split('\n').filter((l) => l !== '').length;
    expect(expected.accLines).toBeGreaterThan(15);
    await expectExactly(daemons, lines, asCountKeys(expected.accAnswered), rs);
  }, 120_000);
});
