/**
 * Fault injection: configuration reload (SIGHUP, and POST /-/reload with --web.enable-lifecycle).
 *
 * The new configuration is validated whole before anything changes; a bad one is rejected with a clear
 * error (sip_exporter_config_reloads_total{result="failure"}) and the old one keeps running. Inputs whose
 * settings did not change keep running with their state (open connections, the HEP de-duplication window,
 * the tailer's position: no line lost or counted twice); a changed input is restarted.
 *
 * Settings live in a config file (flags would override the file on every reload), with fixed loopback
 * ports for HEP and syslog so that a restarted input comes back on the same address.
 */
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { accLogLine, expectedCounts, hepResponse, syslog3164 } from '../../bench/soak/traffic.mjs';
import { closed, connectTcp, freePort, killAll, logsWith, poll, responses, sendUdp, sleep, sorted, startDaemon, sum, tempDir, write, type Daemon } from './helpers.js';

afterAll(killAll);
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

interface Setup {
  dir: string;
  log: string;
  cfg: string;
  hep: string;
  syslog: string;
  /** Writes the config file: the base settings merged with `over` (section -> key -> value). */
  write(over?: Record<string, Record<string, unknown>>): void;
}

async function setup(opts: { positionFile?: boolean } = {}): Promise<Setup> {
  const t = tempDir('sre-faults-reload-');
  cleanups.push(t.cleanup);
  const log = join(t.dir, 'app.log');
  writeFileSync(log, '');
  const hep = `127.0.0.1:${await freePort()}`;
  const syslog = `127.0.0.1:${await freePort()}`;
  const cfg = join(t.dir, 'exporter.yml');
  const base = (): Record<string, Record<string, unknown>> => ({
    hep: { 'listen-address': hep },
    syslog: { 'listen-address': syslog },
    log: { path: [log], 'poll-interval': '100ms', ...(opts.positionFile ? { 'position-file': join(t.dir, 'positions.json') } : {}) },
  });
  const s: Setup = {
    dir: t.dir,
    log,
    cfg,
    hep,
    syslog,
    write(over = {}) {
      const doc = base();
      for (const [section, keys] of Object.entries(over)) doc[section] = { ...(doc[section] ?? {}), ...keys };
      writeFileSync(cfg, stringify(doc));
    },
  };
  s.write();
  return s;
}

async function daemon(s: Setup, extra: string[] = []): Promise<Daemon> {
  const d = await startDaemon([`--config=${s.cfg}`, ...extra], { listenersOff: false });
  cleanups.push(() => {
    if (d.running()) d.proc.kill('SIGKILL');
  });
  return d;
}

const reloads = async (d: Daemon, result: 'success' | 'failure'): Promise<number> => sum(await d.metrics(), 'sip_exporter_config_reloads_total', { result });

async function sighup(d: Daemon, result: 'success' | 'failure' = 'success'): Promise<void> {
  const before = await reloads(d, result);
  d.proc.kill('SIGHUP');
  await poll(async () => (await reloads(d, result)) === before + 1, `a reload ${result}`);
}

async function post(d: Daemon): Promise<{ status: number; body: string }> {
  const r = await fetch(d.url('/-/reload'), { method: 'POST' });
  return { status: r.status, body: await r.text() };
}

/** Appends acc lines to the log every `everyMs` until stopped; returns how many it wrote. */
function logWriter(path: string, tag: string, everyMs = 5): { stop: () => Promise<number> } {
  let n = 0;
  let go = true;
  const run = (async () => {
    while (go) {
      appendFileSync(path, `${accLogLine(tag, n)}\n`);
      n++;
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      go = false;
      await run;
      return n;
    },
  };
}

/**
 * Appends lines every `everyMs` while three reloads (POST /-/reload) each change log.poll-interval, so
 * the log input restarts three times under writes; returns the number of lines written.
 */
async function restartLogInputWhileWriting(s: Setup, d: Daemon, everyMs: number): Promise<number> {
  const w = logWriter(s.log, 'w', everyMs);
  await sleep(300);
  for (const interval of ['200ms', '150ms', '100ms']) {
    s.write({ log: { 'poll-interval': interval } });
    expect((await post(d)).status).toBe(200);
    await sleep(200);
  }
  return w.stop();
}

async function logCount(d: Daemon, n: number, what: string): Promise<void> {
  await poll(async () => sum(await d.metrics(), 'sip_exporter_events_total', { source: 'log' }) === n, what, 15_000);
  await sleep(300);
  expect(sum(await d.metrics(), 'sip_exporter_events_total', { source: 'log' })).toBe(n);
}

describe('reload with unchanged settings (SIGHUP)', () => {
  it('counts the reloads and keeps every input with its state: log position, HEP de-duplication, open syslog and HEP connections', async () => {
    const s = await setup();
    const d = await daemon(s);
    try {
      // State before: a HEP response (remembered for de-duplication), open TCP connections.
      await sendUdp(s.hep, [hepResponse('kept', 0)]);
      const hepTcp = await connectTcp(s.hep);
      const sysTcp = await connectTcp(s.syslog);
      await write(sysTcp, `${syslog3164('sys', 0)}\n`);
      await poll(async () => sum(await d.metrics(), 'sip_responses_total', { source: 'syslog' }) === 1, 'syslog before');
      // Lines keep coming while the daemon reloads twice.
      const w = logWriter(s.log, 'w');
      await sleep(300);
      await sighup(d);
      await sleep(200);
      await sighup(d);
      await sleep(300);
      const written = await w.stop();
      await logCount(d, written, `${written} log lines`);
      expect(responses(await d.metrics(), 'log')).toEqual(sorted(expectedCounts(0, written)));
      // HEP kept its window: the same response again is a duplicate, not a new response.
      await sendUdp(s.hep, [hepResponse('kept', 0)]);
      await write(hepTcp, hepResponse('kept', 1));
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_packets_total') === 3, 'three HEP packets');
      const m = await d.metrics();
      expect(sum(m, 'sip_responses_total', { source: 'hep' })).toBe(2);
      expect(sum(m, 'sip_response_duplicates_total', { source: 'hep', kind: 'retransmission' })).toBe(1);
      // The connections opened before the reloads are still served.
      await write(sysTcp, `${syslog3164('sys', 1)}\n`);
      await poll(async () => sum(await d.metrics(), 'sip_responses_total', { source: 'syslog' }) === 2, 'syslog after');
      expect(hepTcp.destroyed || sysTcp.destroyed).toBe(false);
      const m2 = await d.metrics();
      expect(sum(m2, 'sip_exporter_config_reloads_total', { result: 'success' })).toBe(2);
      expect(sum(m2, 'sip_exporter_config_reloads_total', { result: 'failure' })).toBe(0);
      expect(sum(m2, 'sip_exporter_hep_tcp_disconnects_total')).toBe(0);
      expect(sum(m2, 'sip_exporter_syslog_connections_closed_total')).toBe(0);
      expect(logsWith(d, 'configuration reloaded')).toHaveLength(2);
      hepTcp.destroy();
      sysTcp.destroy();
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('reload with a changed input (POST /-/reload)', () => {
  it('restarts only the changed input (HEP); the others keep their state and every log line is counted once', async () => {
    const s = await setup();
    const d = await daemon(s, ['--web.enable-lifecycle']);
    try {
      await sendUdp(s.hep, [hepResponse('restart', 0)]);
      const hepTcp = await connectTcp(s.hep);
      const sysTcp = await connectTcp(s.syslog);
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_connections') === 1, 'HEP connection');
      const w = logWriter(s.log, 'w');
      await sleep(300);
      s.write({ hep: { 'dedup-window': '30s' } });
      expect(await post(d)).toEqual({ status: 200, body: 'Reloaded\n' });
      await sleep(300);
      const written = await w.stop();
      await logCount(d, written, `${written} log lines`);
      // HEP was restarted: its connection was closed (shutdown), its window is new, so the same response
      // counts again; it listens on the same address.
      await closed(hepTcp);
      await sendUdp(s.hep, [hepResponse('restart', 0)]);
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_packets_total') === 2, 'two HEP packets');
      const m = await d.metrics();
      expect(sum(m, 'sip_responses_total', { source: 'hep' })).toBe(2);
      expect(sum(m, 'sip_exporter_hep_tcp_disconnects_total', { reason: 'shutdown' })).toBe(1);
      expect(sum(m, 'sip_exporter_input_up', { source: 'hep' })).toBe(1);
      // syslog was not touched.
      await write(sysTcp, `${syslog3164('sys', 0)}\n`);
      await poll(async () => sum(await d.metrics(), 'sip_responses_total', { source: 'syslog' }) === 1, 'syslog on the old connection');
      expect(sum(await d.metrics(), 'sip_exporter_syslog_connections_closed_total')).toBe(0);
      expect(sum(await d.metrics(), 'sip_exporter_config_reloads_total', { result: 'success' })).toBe(1);
      sysTcp.destroy();
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  it('a changed log input restarts from the position file: no line lost or counted twice while lines keep coming', async () => {
    const s = await setup({ positionFile: true });
    const d = await daemon(s, ['--web.enable-lifecycle']);
    try {
      const written = await restartLogInputWhileWriting(s, d, 2);
      await logCount(d, written, `${written} log lines across 3 restarts of the log input`);
      expect(responses(await d.metrics(), 'log')).toEqual(sorted(expectedCounts(0, written)));
      expect(logsWith(d, 'following log file')).toHaveLength(4);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  // Without a position file the restarted log input takes over the old tailer's positions in memory,
  // so lines appended around the reload are neither lost nor counted twice.
  it('a changed log input without a position file loses no line', async () => {
    const s = await setup();
    const d = await daemon(s, ['--web.enable-lifecycle']);
    try {
      const written = await restartLogInputWhileWriting(s, d, 1);
      await logCount(d, written, `${written} log lines`);
      expect(responses(await d.metrics(), 'log')).toEqual(sorted(expectedCounts(0, written)));
      expect(sum(await d.metrics(), 'sip_exporter_config_reloads_total', { result: 'success' })).toBe(3);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('reload with a bad configuration', () => {
  const BAD: [string, (s: Setup) => void, RegExp][] = [
    ['broken YAML', (s) => writeFileSync(s.cfg, 'hep:\n  listen-address: [unclosed\n'), /config file is not valid YAML at line/],
    ['an unknown key', (s) => s.write({ hep: { 'listen-adress': '127.0.0.1:1' } }), /unknown key "hep\.listen-adress".*did you mean "hep\.listen-address"/],
    ['an invalid value', (s) => s.write({ hep: { 'listen-address': 'nowhere' } }), /hep\.listen-address \(config file\): invalid value "nowhere"/],
  ];

  it('is rejected with a clear error (SIGHUP and POST), counted as a failure, and the old configuration keeps counting exactly', async () => {
    const s = await setup();
    const d = await daemon(s, ['--web.enable-lifecycle']);
    try {
      let logLines = 0;
      let hepPackets = 0;
      for (const [what, breakIt, message] of BAD) {
        breakIt(s);
        // SIGHUP: rejected, logged with the reason, counted.
        const before = logsWith(d, 'new configuration rejected; the running one stays').length;
        await sighup(d, 'failure');
        const rejected = logsWith(d, 'new configuration rejected; the running one stays');
        expect(rejected.length, what).toBe(before + 1);
        expect(String(rejected.at(-1)!.err), what).toMatch(message);
        expect(rejected.at(-1)!.level, what).toBe('error');
        // POST: 500 with the same reason in the body.
        const r = await post(d);
        expect(r.status, what).toBe(500);
        expect(r.body, what).toMatch(/^Reload failed: /);
        expect(r.body, what).toMatch(message);
        // Still counting with the old configuration, exactly.
        appendFileSync(s.log, `${accLogLine('bad', logLines)}\n`);
        logLines++;
        await sendUdp(s.hep, [hepResponse('bad', hepPackets)]);
        hepPackets++;
        await poll(async () => {
          const m = await d.metrics();
          return sum(m, 'sip_exporter_events_total', { source: 'log' }) === logLines && sum(m, 'sip_responses_total', { source: 'hep' }) === hepPackets;
        }, `counting after ${what}`);
      }
      // The file is gone altogether.
      const missing = s.cfg;
      renameSync(missing, `${missing}.away`);
      await sighup(d, 'failure');
      expect(String(logsWith(d, 'new configuration rejected; the running one stays').at(-1)!.err)).toMatch(/exporter\.yml/);
      renameSync(`${missing}.away`, missing);
      // Fixed: the next reload succeeds.
      s.write();
      await sighup(d, 'success');
      const m = await d.metrics();
      expect(sum(m, 'sip_exporter_config_reloads_total', { result: 'failure' })).toBe(7);
      expect(sum(m, 'sip_exporter_config_reloads_total', { result: 'success' })).toBe(1);
      for (const source of ['log', 'hep', 'syslog']) expect(sum(m, 'sip_exporter_input_up', { source })).toBe(1);
      expect(sum(m, 'sip_exporter_events_total', { source: 'log' })).toBe(3);
      expect(sum(m, 'sip_responses_total', { source: 'hep' })).toBe(3);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  // A configuration that validates but cannot be applied (here the new HEP address is in use) is
  // rejected as a whole: the changed inputs go back to their old settings and keep counting.
  it('a config that validates but cannot be applied (address in use) leaves the old input running', async () => {
    const s = await setup();
    const d = await daemon(s, ['--web.enable-lifecycle']);
    const blocker = await connectTcpServer();
    try {
      s.write({ hep: { 'listen-address': blocker.address } });
      const r = await post(d);
      expect(r.status).toBe(500);
      const m = await d.metrics();
      expect(sum(m, 'sip_exporter_input_up', { source: 'hep' })).toBe(1);
      await sendUdp(s.hep, [hepResponse('still', 0)]);
      await poll(async () => sum(await d.metrics(), 'sip_responses_total', { source: 'hep' }) === 1, 'the old HEP input still counting', 3000);
    } finally {
      await blocker.close();
      await d.stop();
    }
  });
});

describe('concurrent reloads', () => {
  // Overlapping reloads (two POSTs, SIGHUP and POST) are serialised: never two tailers of one input.
  it('three overlapping reloads of a changed log input leave one tailer: each line counted once', async () => {
    const s = await setup();
    const d = await daemon(s, ['--web.enable-lifecycle']);
    try {
      s.write({ log: { 'poll-interval': '200ms' } });
      const results = await Promise.all([post(d), post(d), post(d)]);
      expect(results.every((r) => r.status === 200 || r.status === 500)).toBe(true);
      await sleep(300);
      appendFileSync(s.log, Array.from({ length: 10 }, (_, i) => `${accLogLine('cc', i)}\n`).join(''));
      await sleep(1500);
      expect(sum(await d.metrics(), 'sip_exporter_events_total', { source: 'log' })).toBe(10);
    } finally {
      await d.stop();
    }
  });
});

describe('reload during start-up', () => {
  // The SIGHUP handler is installed before start-up; a reload asked for while the inputs start
  // (here: a glob of 3000 files) runs once they are up, instead of Node's default action killing the process.
  it('a SIGHUP while the inputs are starting does not kill the daemon', async () => {
    const t = tempDir('sre-faults-hup-');
    cleanups.push(t.cleanup);
    for (let i = 0; i < 3000; i++) writeFileSync(join(t.dir, `f${i}.log`), 'x\n');
    const d = await startDaemon([`--log.path=${join(t.dir, '*.log')}`], { noWait: true });
    try {
      await poll(() => d.logs.some((l) => l.msg === 'following log file'), 'the log input starting');
      d.proc.kill('SIGHUP');
      await poll(() => d.logs.some((l) => l.msg === 'sip-response-exporter started') || !d.running(), 'start-up to finish');
      expect(d.running()).toBe(true);
    } finally {
      if (d.running()) await d.stop();
    }
  });
});

/** A UDP+TCP listener on a free loopback port (to make an address "in use"). */
async function connectTcpServer(): Promise<{ address: string; close: () => Promise<void> }> {
  const net = await import('node:net');
  const dgram = await import('node:dgram');
  const port = await freePort();
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', () => r()));
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      udp.close();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}
