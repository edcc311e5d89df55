/**
 * Fault injection: hostile and broken TCP clients on the HEP and syslog inputs. A client that sends one
 * byte a second, a stuck client (half a message, then silence), half-closed and reset connections, many
 * idle connections beyond the connection limit: each is bounded and ends as counted, while a
 * well-behaved client's messages are still counted exactly and HTTP keeps answering.
 *
 * A half-open connection whose peer vanished without FIN or RST looks exactly like a silent client to
 * the server (nothing arrives); that is the stuck client below, ended by the idle timeout. (Making a real
 * peer vanish needs packet filtering, which a test on a shared machine must not touch.)
 */
import type { Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedCounts, hep3, hepResponse, octetFrame, sipResponse, syslog3164 } from '../../bench/soak/traffic.mjs';
import { closed, connectTcp, diff, killAll, poll, responses, sendUdp, sleep, sorted, startDaemon, sum, timedGet, write, type Daemon } from './helpers.js';

afterAll(killAll);

const MiB = 1024 * 1024;

/** Writes `b` one byte per `gapMs`. */
async function trickle(c: Socket, b: Buffer, gapMs: number): Promise<void> {
  for (let i = 0; i < b.length; i++) {
    await write(c, b.subarray(i, i + 1));
    await sleep(gapMs);
  }
}

/** Polls HTTP every 200 ms while `during` runs; returns the slowest answer in ms. */
async function httpWhile(d: Daemon, during: Promise<unknown>): Promise<number> {
  let worst = 0;
  let done = false;
  void during.finally(() => (done = true));
  while (!done) {
    worst = Math.max(worst, await timedGet(d.url('/-/healthy')), await timedGet(d.url('/metrics')));
    await sleep(200);
  }
  await during;
  return worst;
}

/** A HEP packet of about `size` bytes (a response padded with a long header). */
function bigHep(tag: string, size: number): Buffer {
  const base = sipResponse({ code: 200, reason: 'OK', method: 'INVITE', callId: `${tag}@soak` });
  const pad = `X-Pad: ${'x'.repeat(Math.max(0, size - base.length - 200))}\r\n`;
  return hep3(base.replace('Content-Length: 0', `${pad}Content-Length: 0`));
}

describe('HEP over TCP: slow, stuck, half-closed and reset clients', () => {
  it('one byte a second is bounded and counted when complete; stuck, half-closed and reset connections end as counted; a good client is counted exactly', async () => {
    const d = await startDaemon(['--hep.listen-address=127.0.0.1:0', '--hep.udp=false', '--hep.tcp-idle-timeout=3s', '--hep.max-connections=64']);
    try {
      const addr = d.addresses['hep.tcp']!;
      // The first packet makes the input back its de-duplication tables with memory (a fixed cost of
      // tens of MiB, done in slices): take the memory baseline after that, so it measures connections.
      const prime = await connectTcp(addr);
      await write(prime, hepResponse('prime', 0));
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_packets_total', { transport: 'tcp' }) === 1, 'the priming packet');
      prime.end();
      await closed(prime);
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_connections') === 0, 'the priming connection to close');
      let last = 0;
      await poll(async () => {
        const r = d.rss();
        const settled = Math.abs(r - last) < MiB;
        last = r;
        return settled;
      }, 'the tables to be backed', 10_000, 200);
      const m0 = await d.metrics();
      const rss0 = d.rss();

      // Stuck clients: each sends all but the last bytes of a large packet (about 60 KB), then nothing.
      const stuck = await Promise.all(Array.from({ length: 20 }, () => connectTcp(addr)));
      await Promise.all(stuck.map((c, i) => write(c, bigHep(`stuck-${i}`, 60_000).subarray(0, 59_000))));
      // Half-closed: one complete packet and half of another, then FIN.
      const half = await connectTcp(addr);
      const h2 = hepResponse('half', 1);
      await write(half, Buffer.concat([hepResponse('half', 0), h2.subarray(0, 40)]));
      // Reset: one complete packet (counted before the reset), then half a packet and RST.
      const reset = await connectTcp(addr);
      await write(reset, hepResponse('reset', 0));
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_packets_total', { transport: 'tcp' }) - sum(m0, 'sip_exporter_hep_packets_total', { transport: 'tcp' }) === 2, 'the complete packets of the half-closed and the reset client');
      await write(reset, hepResponse('reset', 1).subarray(0, 30));
      await sleep(100);
      reset.resetAndDestroy();
      half.end();
      await closed(half);

      // One byte a second for five seconds (longer than the 3 s idle timeout: every byte restarts it),
      // then the rest: the packet is counted once, the connection stays up.
      const slow = await connectTcp(addr);
      const slowPacket = hepResponse('slow', 0);
      const slowDone = (async () => {
        await trickle(slow, slowPacket.subarray(0, 5), 1000);
        await write(slow, slowPacket.subarray(5));
      })();

      // Meanwhile a well-behaved client sends 300 packets in bursts.
      const good = await connectTcp(addr);
      const goodDone = (async () => {
        for (let b = 0; b < 15; b++) {
          await write(good, Buffer.concat(Array.from({ length: 20 }, (_, k) => hepResponse('good', b * 20 + k))));
          await sleep(250);
        }
      })();
      const worst = await httpWhile(d, Promise.all([slowDone, goodDone]));
      expect(worst).toBeLessThan(1000);
      const rssStuck = d.rss();

      // The stuck clients are closed by the idle timeout (3 s after their last byte).
      await Promise.all(stuck.map((c) => closed(c)));
      expect(slow.destroyed).toBe(false);
      good.end();
      slow.end();
      await Promise.all([closed(good), closed(slow)]);
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_connections') === 0, 'all connections closed');

      const m1 = await d.metrics();
      // good: 300; slow, half and reset: one complete packet each (message 0: INVITE 200). Partial packets: nothing.
      const want = expectedCounts(0, 300);
      want['INVITE 200'] = (want['INVITE 200'] ?? 0) + 3;
      expect(diff(responses(m1, 'hep'), responses(m0, 'hep'))).toEqual(sorted(want));
      const delta = (name: string, labels: Record<string, string> = {}): number => sum(m1, name, labels) - sum(m0, name, labels);
      expect(delta('sip_exporter_hep_packets_total', { transport: 'tcp' })).toBe(303);
      expect(delta('sip_exporter_hep_tcp_connections_total')).toBe(24);
      expect(delta('sip_exporter_hep_tcp_disconnects_total', { reason: 'idle_timeout' })).toBe(20);
      expect(delta('sip_exporter_hep_tcp_disconnects_total', { reason: 'closed' }) + delta('sip_exporter_hep_tcp_disconnects_total', { reason: 'error' })).toBe(4);
      expect(delta('sip_exporter_hep_tcp_disconnects_total', { reason: 'error' })).toBeLessThanOrEqual(1);
      // Each connection that ended inside a packet (20 stuck, half-closed, reset) counts one truncated packet.
      expect(delta('sip_exporter_parse_errors_total', { source: 'hep' })).toBe(22);
      expect(delta('sip_exporter_parse_errors_total', { source: 'hep', reason: 'truncated' })).toBe(22);
      // Memory per connection is bounded by one HEP packet (64 KiB): 20 stuck clients hold about 1.2 MB.
      expect(rssStuck - rss0).toBeLessThan(48 * MiB);
      console.log(`HEP TCP: slowest HTTP answer ${Math.round(worst)} ms; RSS ${(rss0 / MiB).toFixed(0)} -> ${(rssStuck / MiB).toFixed(0)} MiB with 20 stuck 59 KB partial packets`);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  it('idle connections beyond hep.max-connections are refused and counted exactly; UDP and HTTP are unaffected; slots free up after the idle timeout', async () => {
    const d = await startDaemon(['--hep.listen-address=127.0.0.1:0', '--hep.max-connections=20', '--hep.tcp-idle-timeout=2s']);
    try {
      const tcp = d.addresses['hep.tcp']!;
      const m0 = await d.metrics();
      const idle = await Promise.all(Array.from({ length: 20 }, () => connectTcp(tcp)));
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_connections') === 20, '20 open');
      // Ten more: accepted by the kernel, closed at once by the exporter.
      const extra = await Promise.all(Array.from({ length: 10 }, () => connectTcp(tcp)));
      await Promise.all(extra.map((c) => closed(c)));
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_refused_total', { reason: 'max_connections' }) - sum(m0, 'sip_exporter_hep_tcp_refused_total', { reason: 'max_connections' }) === 10, '10 refused');
      // UDP on the same port is unaffected while every TCP slot is taken.
      const worst = await httpWhile(d, sendUdp(d.addresses['hep.udp']!, Array.from({ length: 200 }, (_, i) => hepResponse('udp', i)), 1));
      expect(worst).toBeLessThan(1000);
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_packets_total', { transport: 'udp' }) === 200, '200 UDP packets');
      // The idle ones are closed after 2 s; a new client then gets a slot.
      await Promise.all(idle.map((c) => closed(c)));
      const late = await connectTcp(tcp);
      await write(late, Buffer.concat(Array.from({ length: 50 }, (_, i) => hepResponse('late', i))));
      late.end();
      await closed(late);
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_packets_total', { transport: 'tcp' }) === 50, '50 TCP packets');
      const m1 = await d.metrics();
      expect(diff(responses(m1, 'hep'), responses(m0, 'hep'))).toEqual(sorted(mergeCounts(expectedCounts(0, 200), expectedCounts(0, 50))));
      expect(sum(m1, 'sip_exporter_hep_tcp_refused_total', { reason: 'max_connections' }) - sum(m0, 'sip_exporter_hep_tcp_refused_total', { reason: 'max_connections' })).toBe(10);
      expect(sum(m1, 'sip_exporter_hep_tcp_disconnects_total', { reason: 'idle_timeout' }) - sum(m0, 'sip_exporter_hep_tcp_disconnects_total', { reason: 'idle_timeout' })).toBe(20);
      expect(sum(m1, 'sip_exporter_hep_tcp_connections_total') - sum(m0, 'sip_exporter_hep_tcp_connections_total')).toBe(21);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('HEP over TCP: partial packets', () => {
  // A HEP TCP connection that ends inside a packet (peer closed, reset, idle timeout) counts the partial
  // packet once, as the syslog input counts a truncated frame.
  it('counts a partial packet left when a connection ends (FIN, RST or idle timeout)', async () => {
    const d = await startDaemon(['--hep.listen-address=127.0.0.1:0', '--hep.udp=false', '--hep.tcp-idle-timeout=1s']);
    try {
      const addr = d.addresses['hep.tcp']!;
      const m0 = await d.metrics();
      const part = hepResponse('partial', 0).subarray(0, 50);
      const [fin, rst, silent] = await Promise.all([connectTcp(addr), connectTcp(addr), connectTcp(addr)]);
      await Promise.all([write(fin!, part), write(rst!, part), write(silent!, part)]);
      await sleep(100);
      fin!.end();
      rst!.resetAndDestroy();
      await Promise.all([closed(fin!), closed(silent!)]);
      await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_connections') === 0, 'all closed');
      const m1 = await d.metrics();
      const counted = (m: typeof m1): number => sum(m, 'sip_exporter_dropped_total', { source: 'hep' }) + sum(m, 'sip_exporter_parse_errors_total', { source: 'hep' });
      expect(counted(m1) - counted(m0)).toBe(3);
    } finally {
      await d.stop();
    }
  });
});

function mergeCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

describe('syslog over TCP: slow, stuck, half-closed and reset clients, connections beyond the limit', () => {
  it('each case is bounded and counted; a good client and UDP are counted exactly; HTTP answers', async () => {
    const d = await startDaemon(['--syslog.listen-address=127.0.0.1:0', '--syslog.max-connections=10', '--syslog.idle-timeout=3s']);
    try {
      const tcp = d.addresses['syslog.tcp']!;
      const m0 = await d.metrics();
      const delta = (m1: Awaited<ReturnType<Daemon['metrics']>>, name: string, labels: Record<string, string> = {}): number => sum(m1, name, labels) - sum(m0, name, labels);

      // One byte a second: an octet-counted frame trickled for 5 s (past the 3 s idle timeout), then the rest.
      const slow = await connectTcp(tcp);
      const slowFrame = Buffer.from(octetFrame(syslog3164('slow', 0)));
      const slowDone = (async () => {
        await trickle(slow, slowFrame.subarray(0, 5), 1000);
        await write(slow, slowFrame.subarray(5));
      })();
      // Stuck: half a frame, then silence (ended by the idle timeout, counted as truncated_frame).
      const stuck = await connectTcp(tcp);
      await write(stuck, octetFrame(syslog3164('stuck', 0)).slice(0, 60));
      // Half-closed: one LF frame and a last line without a trailer, then FIN: both are messages.
      const half = await connectTcp(tcp);
      await write(half, `${syslog3164('half', 0)}\n${syslog3164('half', 1)}`);
      half.end();
      // Reset inside an octet-counted frame: the frame is counted as truncated, nothing else is lost.
      const reset = await connectTcp(tcp);
      await write(reset, `${octetFrame(syslog3164('reset', 0))}${octetFrame(syslog3164('reset', 1)).slice(0, 50)}`);
      await poll(async () => delta(await d.metrics(), 'sip_exporter_syslog_messages_total', { transport: 'tcp' }) >= 3, 'half and reset frames');
      reset.resetAndDestroy();
      await closed(half);
      // A well-behaved client.
      const good = await connectTcp(tcp);
      // Fill the remaining slots (slow, stuck, good: 3 open) with idle connections, then 5 more are refused.
      const idle = await Promise.all(Array.from({ length: 7 }, () => connectTcp(tcp)));
      await poll(async () => sum(await d.metrics(), 'sip_exporter_syslog_open_connections', { transport: 'tcp' }) === 10, '10 open');
      const extra = await Promise.all(Array.from({ length: 5 }, () => connectTcp(tcp)));
      await Promise.all(extra.map((c) => closed(c)));

      const goodDone = (async () => {
        for (let b = 0; b < 10; b++) {
          await write(good, Array.from({ length: 30 }, (_, k) => `${syslog3164('good', b * 30 + k)}\n`).join(''));
          await sleep(300);
        }
        await sendUdp(d.addresses['syslog.udp']!, Array.from({ length: 100 }, (_, i) => syslog3164('udp', i)), 1);
      })();
      const worst = await httpWhile(d, Promise.all([slowDone, goodDone]));
      expect(worst).toBeLessThan(1000);
      await Promise.all([...idle, stuck].map((c) => closed(c)));
      good.end();
      slow.end();
      await Promise.all([closed(good), closed(slow)]);
      await poll(async () => sum(await d.metrics(), 'sip_exporter_syslog_open_connections', { transport: 'tcp' }) === 0, 'all closed');

      const m1 = await d.metrics();
      // good 300 + udp 100 + slow 1 + half 2 + reset 1 (index 0 of each tag has the outcome of message 0).
      let want = mergeCounts(expectedCounts(0, 300), expectedCounts(0, 100));
      want = mergeCounts(want, expectedCounts(0, 1));
      want = mergeCounts(want, expectedCounts(0, 2));
      want = mergeCounts(want, expectedCounts(0, 1));
      expect(diff(responses(m1, 'syslog'), responses(m0, 'syslog'))).toEqual(sorted(want));
      expect(delta(m1, 'sip_exporter_syslog_connections_rejected_total', { transport: 'tcp', reason: 'max_connections' })).toBe(5);
      // stuck (idle timeout inside a frame) and reset (inside a frame): two truncated frames, both dropped.
      expect(delta(m1, 'sip_exporter_syslog_framing_errors_total', { transport: 'tcp', reason: 'truncated_frame' })).toBe(2);
      expect(delta(m1, 'sip_exporter_dropped_total', { source: 'syslog', reason: 'truncated_frame' })).toBe(2);
      expect(delta(m1, 'sip_exporter_syslog_connections_closed_total', { transport: 'tcp', reason: 'idle_timeout' })).toBe(8);
      expect(delta(m1, 'sip_exporter_syslog_connections_closed_total', { transport: 'tcp', reason: 'error' })).toBe(1);
      expect(delta(m1, 'sip_exporter_syslog_connections_closed_total', { transport: 'tcp', reason: 'peer' })).toBe(3);
      expect(delta(m1, 'sip_exporter_syslog_messages_total', { transport: 'tcp' })).toBe(304);
      expect(delta(m1, 'sip_exporter_syslog_messages_total', { transport: 'udp' })).toBe(100);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
