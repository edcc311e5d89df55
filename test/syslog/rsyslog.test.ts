/**
 * End to end with Debian's rsyslog: a private rsyslogd reads a file of real-format Kamailio log lines
 * (acc records in Kamailio's stderr and syslog-file forms, plus noise) with imfile and forwards every line
 * to three exporters at once: UDP with the traditional (RFC 3164) format, TCP with LF framing, and TCP
 * with octet counting and RFC 5424 (RSYSLOG_SyslogProtocol23Format). Each exporter must count exactly
 * the file's known content.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, type RunningDaemon } from '../helpers/daemon.js';
import { asCountKeys, expectExactly, LEGS, startLegs, startRsyslog, type Rsyslog } from './rsyslog.js';
import { split } from './util.js';

const FIXTURE = join(ROOT, 'test/fixtures/syslog/kamailio-acc.log');
const EXPECTED = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/syslog/kamailio-acc.expected.json'), 'utf8')) as Record<string, number>;

describe('rsyslog forwarding real-format Kamailio log lines (fixture)', () => {
  let dir: string | undefined;
  let daemons: RunningDaemon[] = [];
  let rs: Rsyslog | undefined;
  afterEach(async () => {
    await rs?.stop();
    for (const d of daemons) await d.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    rs = undefined;
    daemons = [];
  });

  it('counts equal the file content over UDP/3164, TCP/LF and TCP/octet-counted 5424', async () => {
    dir = mkdtempSync(join(tmpdir(), 'syslog-rsyslog-'));
    daemons = await startLegs();
    const lines = readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => l !== '').length;
    rs = await startRsyslog(
      dir,
      FIXTURE,
      LEGS.map((leg, i) => leg.target(split((daemons[i] as RunningDaemon).addresses[`syslog.${leg.transport}`]!).port)),
    );
    await expectExactly(daemons, lines, asCountKeys(EXPECTED), rs);
    expect(Object.values(EXPECTED).reduce((a, b) => a + b, 0)).toBe(120);
  });
});
