/**
 * hep.max-rate-per-source and syslog.max-rate-per-source against the real daemon (built CLI): a source
 * over the limit gets exactly its bucket through, the rest is dropped and counted exactly, other
 * sources (other loopback addresses: 127.0.0.2, 127.0.0.3) are unaffected, and the bucket refills.
 *
 * Exact counts: the rate is 5/s (burst 5), so one token comes back every 200 ms; each burst is sent at
 * once over loopback and arrives within a few milliseconds, far less than 200 ms (checked on the
 * sender side), so exactly 5 messages of a burst get through.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { sum, type Sample } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';
import { hep3msg, sipResponse } from '../fixtures/hep/encode.js';
import { acc3164, acc5424 } from '../syslog/util.js';

const RATE = 5;
/** A burst must be sent well within the time one token takes to come back (1000 / RATE ms). */
const MAX_BURST_MS = 100;

function hostPort(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
}

/** Sends all datagrams at once from a socket bound to `from`; resolves with the milliseconds it took. */
async function udpBurst(to: string, from: string, messages: (string | Buffer)[]): Promise<number> {
  const { host, port } = hostPort(to);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, from, () => resolve());
  });
  const t = performance.now();
  try {
    await Promise.all(messages.map((m) => new Promise<void>((resolve, reject) => s.send(typeof m === 'string' ? Buffer.from(m) : m, port, host, (e) => (e ? reject(e) : resolve())))));
    return performance.now() - t;
  } finally {
    s.close();
  }
}

/** Writes `data` in one write on a TCP connection from `from`, then closes it and waits for the close. */
async function tcpBurst(to: string, from: string, data: Buffer): Promise<void> {
  const { host, port } = hostPort(to);
  const c = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port, localAddress: from, noDelay: true }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
  c.on('error', () => undefined);
  await new Promise<void>((resolve) => c.end(data, () => resolve()));
  await new Promise<void>((resolve) => (c.destroyed ? resolve() : c.once('close', () => resolve())));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('hep.max-rate-per-source', () => {
  let d: RunningDaemon;
  let n = 0;
  const packet = (): Buffer => hep3msg({ payload: sipResponse({ code: 486, reason: 'Busy Here', callId: `rl-${n++}` }), src: '10.0.0.2', dst: '10.0.0.1' });
  const packets = (k: number): Buffer[] => Array.from({ length: k }, packet);
  const received = (m: Sample[], transport: string): number => sum(m, 'sip_exporter_hep_packets_total', { transport });

  beforeAll(async () => {
    d = await startDaemon(['--hep.listen-address=127.0.0.1:0', `--hep.max-rate-per-source=${RATE}`]);
  });
  afterAll(async () => {
    expect(await d?.stop()).toBe(0);
  });

  it('shows the rate-limit series at zero', async () => {
    const text = await d.metricsText();
    expect(text).toContain('sip_exporter_dropped_total{source="hep",reason="rate_limited"} 0');
    expect(text).toContain('sip_exporter_hep_rate_limited_total{transport="udp"} 0');
    expect(text).toContain('sip_exporter_hep_rate_limited_total{transport="tcp"} 0');
  });

  it('UDP: a source over the limit gets exactly its burst through, another source is unaffected, the bucket refills', async () => {
    const to = d.addresses['hep.udp']!;
    // 30 at once from 127.0.0.1 (5 pass) and, interleaved, 3 from 127.0.0.2 (all pass).
    const [ms1, ms2] = await Promise.all([udpBurst(to, '127.0.0.1', packets(30)), udpBurst(to, '127.0.0.2', packets(3))]);
    expect(Math.max(ms1, ms2)).toBeLessThan(MAX_BURST_MS);
    let m = await poll(async () => {
      const s = await d.metrics();
      return received(s, 'udp') === 33 && s;
    }, '33 UDP packets received');
    expect(sum(m, 'sip_exporter_hep_rate_limited_total', { transport: 'udp' })).toBe(25);
    expect(sum(m, 'sip_exporter_dropped_total', { source: 'hep', reason: 'rate_limited' })).toBe(25);
    expect(sum(m, 'sip_responses_total', { source: 'hep', code: '486' })).toBe(8);

    // A second later the bucket of 127.0.0.1 is full again: one second worth (5) of 8 passes.
    await sleep(1100);
    expect(await udpBurst(to, '127.0.0.1', packets(8))).toBeLessThan(MAX_BURST_MS);
    m = await poll(async () => {
      const s = await d.metrics();
      return received(s, 'udp') === 41 && s;
    }, '41 UDP packets received');
    expect(sum(m, 'sip_exporter_hep_rate_limited_total', { transport: 'udp' })).toBe(28);
    expect(sum(m, 'sip_exporter_dropped_total', { source: 'hep', reason: 'rate_limited' })).toBe(28);
    expect(sum(m, 'sip_responses_total', { source: 'hep', code: '486' })).toBe(13);
    expect(sum(m, 'sip_exporter_parse_errors_total', { source: 'hep' })).toBe(0);
  });

  it('TCP: packets of one connection are limited by its source address', async () => {
    const before = await d.metrics();
    await tcpBurst(d.addresses['hep.tcp']!, '127.0.0.3', Buffer.concat(packets(20)));
    const m = await poll(async () => {
      const s = await d.metrics();
      return received(s, 'tcp') === received(before, 'tcp') + 20 && s;
    }, '20 TCP packets received');
    expect(sum(m, 'sip_exporter_hep_rate_limited_total', { transport: 'tcp' })).toBe(15);
    expect(sum(m, 'sip_exporter_dropped_total', { source: 'hep', reason: 'rate_limited' })).toBe(sum(before, 'sip_exporter_dropped_total', { source: 'hep', reason: 'rate_limited' }) + 15);
    expect(sum(m, 'sip_responses_total', { source: 'hep', code: '486' })).toBe(sum(before, 'sip_responses_total', { source: 'hep', code: '486' }) + 5);
  });
});

describe('syslog.max-rate-per-source', () => {
  let d: RunningDaemon;
  let n = 0;
  const msgs = (k: number, code: number): string[] => Array.from({ length: k }, () => (n % 2 === 0 ? acc3164 : acc5424)('INVITE', code, 'R', n++));
  const received = (m: Sample[], transport: string): number => sum(m, 'sip_exporter_syslog_messages_total', { transport });
  const responses = (m: Sample[], code: string): number => sum(m, 'sip_responses_total', { source: 'syslog', code });

  beforeAll(async () => {
    d = await startDaemon(['--syslog.listen-address=127.0.0.1:0', `--syslog.max-rate-per-source=${RATE}`]);
  });
  afterAll(async () => {
    expect(await d?.stop()).toBe(0);
  });

  it('shows the rate-limit series at zero', async () => {
    const text = await d.metricsText();
    expect(text).toContain('sip_exporter_dropped_total{source="syslog",reason="rate_limited"} 0');
    expect(text).toContain('sip_exporter_syslog_rate_limited_total{transport="udp"} 0');
    expect(text).toContain('sip_exporter_syslog_rate_limited_total{transport="tcp"} 0');
  });

  it('UDP: a source over the limit gets exactly its burst through, another source is unaffected', async () => {
    const to = d.addresses['syslog.udp']!;
    const [ms1, ms2] = await Promise.all([udpBurst(to, '127.0.0.1', msgs(30, 503)), udpBurst(to, '127.0.0.2', msgs(4, 404))]);
    expect(Math.max(ms1, ms2)).toBeLessThan(MAX_BURST_MS);
    const m = await poll(async () => {
      const s = await d.metrics();
      return received(s, 'udp') === 34 && s;
    }, '34 UDP messages received');
    expect(sum(m, 'sip_exporter_syslog_rate_limited_total', { transport: 'udp' })).toBe(25);
    expect(sum(m, 'sip_exporter_dropped_total', { source: 'syslog', reason: 'rate_limited' })).toBe(25);
    expect(responses(m, '503')).toBe(5);
    expect(responses(m, '404')).toBe(4);
  });

  it('TCP: messages of one connection are limited by its source address', async () => {
    const before = await d.metrics();
    // 127.0.0.3 is a new source: 5 of 12 pass.
    await tcpBurst(d.addresses['syslog.tcp']!, '127.0.0.3', Buffer.from(msgs(12, 480).map((x) => `${x}\n`).join('')));
    const m = await poll(async () => {
      const s = await d.metrics();
      return received(s, 'tcp') === received(before, 'tcp') + 12 && s;
    }, '12 TCP messages received');
    expect(sum(m, 'sip_exporter_syslog_rate_limited_total', { transport: 'tcp' })).toBe(7);
    expect(sum(m, 'sip_exporter_dropped_total', { source: 'syslog', reason: 'rate_limited' })).toBe(32);
    expect(responses(m, '480')).toBe(5);
  });
});
