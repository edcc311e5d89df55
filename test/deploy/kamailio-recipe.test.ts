import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, LOOPBACK, requireBinary, startChild, stopChild, stopGroup, type Child } from '../e2e/harness/proc.js';
import { ROOT, startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { nonZero } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';

/**
 * The demo proxy of the compose and Kubernetes recipes, for real: deploy/kamailio/entrypoint.sh starts
 * the installed Kamailio with deploy/kamailio/kamailio.cfg (siptrace HEPv3 + acc log, the settings of
 * deploy/senders/kamailio/), the demo callee and caller sipp scenarios place the calls of
 * demo-users.csv, and the exporter (built CLI) counts every final response once from the log file
 * the entrypoint writes and once from HEP. Only the addresses differ from the containers: loopback
 * ports chosen here instead of 5060/5070/9060.
 */
const DIR = join(ROOT, 'deploy/kamailio');
const CFG = join(DIR, 'kamailio.cfg');
const cfgText = readFileSync(CFG, 'utf8');

/** What the demo proxy answers per Request-URI user, read from kamailio.cfg itself. */
function expectedFinals(): Record<string, number> {
  const byUser = new Map<string, number>();
  for (const m of cfgText.matchAll(/\$rU == "(\w+)"\) \{\s*t_reply\("(\d{3})"/g)) byUser.set(m[1]!, Number(m[2]));
  expect(byUser.size).toBeGreaterThan(3);
  const users = readFileSync(join(DIR, 'demo-users.csv'), 'utf8').split('\n').slice(1).map((l) => l.split(';')[0]!.trim()).filter((u) => u !== '');
  const out: Record<string, number> = {};
  const add = (k: string): void => void (out[k] = (out[k] ?? 0) + 1);
  for (const u of users) {
    if (u === 'answer') {
      add('method=INVITE,code=200');
      add('method=BYE,code=200');
    } else add(`method=INVITE,code=${byUser.get(u) ?? 404}`);
  }
  return out;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('demo Kamailio recipe (deploy/kamailio)', () => {
  it('kamailio -c accepts the demo config', () => {
    const r = spawnSync(requireBinary('kamailio'), ['-c', '-f', CFG], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain('config file ok');
  });

  it('counts every final response of the demo calls once from the log and once from HEP', async () => {
    requireBinary('kamailio'); // the entrypoint runs it from PATH
    const sipp = requireBinary('sipp');
    const dir = mkdtempSync(join(tmpdir(), 'sip-exporter-recipe-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    // Kamailio drops to its own user when started as root: its runtime dir must be writable for it.
    chmodSync(dir, 0o777);
    mkdirSync(join(dir, 'logs'));
    const logFile = join(dir, 'logs/kamailio.log');
    writeFileSync(logFile, '');

    const [hepPort, sipPort, uasPort, uacPort] = [await freePort('both'), await freePort('both'), await freePort('udp'), await freePort('udp')];
    const d: RunningDaemon = await startDaemon([`--hep.listen-address=${LOOPBACK}:${hepPort}`, `--log.path=${logFile}`, '--log.from-beginning']);
    cleanups.push(() => d.stop());

    const proxy: Child = startChild(
      'bash',
      [
        join(DIR, 'entrypoint.sh'),
        '-m', '64', '-M', '8', '-P', join(dir, 'kamailio.pid'), '-Y', dir, '-w', dir,
        '-l', `udp:${LOOPBACK}:${sipPort}`, '-l', `tcp:${LOOPBACK}:${sipPort}`,
        '-A', `HEP_URI="sip:${LOOPBACK}:${hepPort}"`, '-A', `UAS_URI="sip:${LOOPBACK}:${uasPort}"`,
      ],
      { detached: true, out: 'ignore', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`, KAMAILIO_CFG: CFG, KAMAILIO_LOG_FILE: logFile } },
    );
    cleanups.push(() => stopGroup(proxy));
    await poll(() => {
      if (proxy.exit) throw new Error(`entrypoint exited ${JSON.stringify(proxy.exit)}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      return readFileSync(logFile, 'utf8').includes('sip-response-exporter demo proxy ready');
    }, 'the demo proxy to start', 20_000);

    const callee = startChild(sipp, ['-sf', join(DIR, 'demo-callee.xml'), '-i', LOOPBACK, '-p', String(uasPort), '-nostdin'], { detached: true, out: 'ignore' });
    cleanups.push(() => stopChild(callee));
    const calls = readFileSync(join(DIR, 'demo-users.csv'), 'utf8').trim().split('\n').length - 1;
    const caller = startChild(
      sipp,
      ['-sf', join(DIR, 'demo-caller.xml'), '-inf', join(DIR, 'demo-users.csv'), '-i', LOOPBACK, '-p', String(uacPort), '-m', String(calls), '-r', '20', '-nostdin', '-timeout', '30s', `${LOOPBACK}:${sipPort}`],
      { detached: true },
    );
    cleanups.push(() => stopChild(caller));
    const exit = await caller.exited;
    expect(exit.code, `sipp caller: ${caller.stdout().slice(-3000)}${caller.stderr()}`).toBe(0);

    const want = expectedFinals();
    const finals = (samples: Awaited<ReturnType<RunningDaemon['metrics']>>, source: string): Record<string, number> =>
      Object.fromEntries(Object.entries(nonZero(samples, 'sip_responses_total', ['method', 'code'], { source })).filter(([k]) => !/code=1\d\d$/.test(k)));
    let last: Record<string, Record<string, number>> = {};
    try {
      await poll(async () => {
        const s = await d.metrics();
        last = { log: finals(s, 'log'), hep: finals(s, 'hep') };
        const w = JSON.stringify(sorted(want));
        return JSON.stringify(sorted(last.log!)) === w && JSON.stringify(sorted(last.hep!)) === w;
      }, 'the exporter to count the demo calls', 20_000);
    } catch (err) {
      const daemon = `exporter exit code ${String(d.proc.exitCode)}, stderr: ${d.stderr.slice(-2000)}, last log lines: ${JSON.stringify(d.logs.slice(-5))}`;
      throw new Error(`${(err as Error).message}\nexpected ${JSON.stringify(sorted(want))}\ngot ${JSON.stringify(last)}\n${daemon}`);
    }
    expect(last.log).toEqual(want);
    expect(last.hep).toEqual(want);
  }, 90_000);
});

function sorted(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}
