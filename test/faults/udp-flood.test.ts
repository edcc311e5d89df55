/**
 * Fault injection: UDP floods beyond what the daemon can take, on the HEP and the syslog input.
 *
 * Both inputs handle a datagram synchronously in the socket callback, so there is no queue inside the
 * exporter: the excess is dropped by the kernel when the socket receive buffer is full, and the exporter
 * exports the kernel's per-socket drop counter (/proc/net/udp) as sip_exporter_{hep,syslog}_udp_kernel_drops_total.
 * That makes the accounting exact: every datagram sent is either received (counted in
 * sip_exporter_hep_packets_total / sip_exporter_syslog_messages_total) or dropped by the kernel (the only
 * other place loopback can drop is the per-CPU input backlog, /proc/net/softnet_stat, allowed for as slack).
 *
 * To exceed capacity on any machine, the receive buffer is set to 64 KiB (the kernel doubles it): about a
 * hundred datagrams, so every stall of the event loop longer than a millisecond or two overflows it, and
 * the HEP input (fast enough to keep up with one sender when its buffer is large) gets two senders.
 * Floods last 3 s each; the senders are child processes (bench/soak/flood.mjs).
 *
 * Memory: the daemon runs with a 64 MiB V8 old-space limit (NODE_OPTIONS=--max-old-space-size=64). Anything
 * that grew with the traffic (per-message state, a queue) would exhaust it during the floods and crash the
 * process; the test also bounds the RSS growth between the first and the second flood.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { expectedCounts, hepResponse, syslog3164 } from '../../bench/soak/traffic.mjs';
import { diff, flood, killAll, poll, responses, sendUdp, softnetDrops, sorted, startDaemon, sum, timedGet, type Daemon, type FloodResult } from './helpers.js';

afterAll(killAll);

const FLOOD_MS = 3000;
const MiB = 1024 * 1024;
const HEAP_CAP = { NODE_OPTIONS: '--max-old-space-size=64' };

interface Probe {
  maxHealthyMs: number;
  maxMetricsMs: number;
  probes: number;
}

/** Runs `during` while probing /-/healthy and /metrics every 100 ms; returns the slowest answers. */
async function probing<T>(d: Daemon, during: Promise<T>): Promise<[T, Probe]> {
  const p: Probe = { maxHealthyMs: 0, maxMetricsMs: 0, probes: 0 };
  let done = false;
  const loop = (async () => {
    while (!done) {
      p.maxHealthyMs = Math.max(p.maxHealthyMs, await timedGet(d.url('/-/healthy')));
      p.maxMetricsMs = Math.max(p.maxMetricsMs, await timedGet(d.url('/metrics')));
      p.probes++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const r = await during;
    return [r, p];
  } finally {
    done = true;
    await loop;
  }
}

interface Accounting {
  /** Datagrams the input received (its own counter). */
  received: string;
  received_labels: Record<string, string>;
  kernelDrops: string;
  queue: string;
  source: 'hep' | 'syslog';
}

const HEP: Accounting = {
  received: 'sip_exporter_hep_packets_total',
  received_labels: { transport: 'udp' },
  kernelDrops: 'sip_exporter_hep_udp_kernel_drops_total',
  queue: 'sip_exporter_hep_udp_receive_queue_bytes',
  source: 'hep',
};
const SYSLOG: Accounting = {
  received: 'sip_exporter_syslog_messages_total',
  received_labels: { transport: 'udp' },
  kernelDrops: 'sip_exporter_syslog_udp_kernel_drops_total',
  queue: 'sip_exporter_syslog_udp_receive_queue_bytes',
  source: 'syslog',
};

interface Snapshot {
  received: number;
  drops: number;
  responses: number;
  parseErrors: number;
  dropped: number;
  softnet: number;
  logLines: number;
}

async function snapshot(d: Daemon, a: Accounting): Promise<Snapshot> {
  const m = await d.metrics();
  return {
    received: sum(m, a.received, a.received_labels),
    drops: sum(m, a.kernelDrops),
    responses: sum(m, 'sip_responses_total', { source: a.source }),
    parseErrors: sum(m, 'sip_exporter_parse_errors_total', { source: a.source }),
    dropped: sum(m, 'sip_exporter_dropped_total', { source: a.source }),
    softnet: softnetDrops(),
    logLines: d.logs.length,
  };
}

/** Waits until the socket queue is empty and neither the received nor the kernel drop counter moves. */
async function drained(d: Daemon, a: Accounting): Promise<void> {
  let last = '';
  await poll(async () => {
    const m = await d.metrics();
    const now = `${sum(m, a.received, a.received_labels)}/${sum(m, a.kernelDrops)}`;
    const settled = sum(m, a.queue) === 0 && now === last;
    last = now;
    return settled;
  }, 'the UDP queue to drain', 15_000, 200);
}

/** One flood: every datagram sent is received or dropped by the kernel, every received one counted. */
async function floodOnce(d: Daemon, a: Accounting, address: string, tag: string, senders: number): Promise<{ f: FloodResult; probe: Probe; received: number; drops: number }> {
  const before = await snapshot(d, a);
  const floods = Promise.all(Array.from({ length: senders }, (_, k) => flood(a.source, address, `${tag}${k}`, FLOOD_MS)));
  const [all, probe] = await probing(d, floods);
  const f: FloodResult = { sent: 0, errors: 0, from: 0, to: 0, ms: 0 };
  for (const r of all) {
    f.sent += r.sent;
    f.errors += r.errors;
    f.ms = Math.max(f.ms, r.ms);
  }
  await drained(d, a);
  const after = await snapshot(d, a);
  const received = after.received - before.received;
  const drops = after.drops - before.drops;
  expect(f.errors).toBe(0);
  expect(f.sent).toBeGreaterThan(10_000);
  // Beyond capacity: the kernel dropped part of the flood, and says so.
  expect(drops).toBeGreaterThan(0);
  // Exact accounting: sent = received + dropped by the socket (+ backlog drops of the whole host, if any).
  const lost = f.sent - received - drops;
  expect(lost).toBeGreaterThanOrEqual(0);
  expect(lost).toBeLessThanOrEqual(after.softnet - before.softnet);
  // Every received datagram is exactly one distinct response; nothing else was counted or dropped.
  expect(after.responses - before.responses).toBe(received);
  expect(after.parseErrors - before.parseErrors).toBe(0);
  expect(after.dropped - before.dropped).toBe(0);
  // /metrics and /-/healthy kept answering within a second during the flood.
  expect(probe.probes).toBeGreaterThan(5);
  expect(probe.maxHealthyMs).toBeLessThan(1000);
  expect(probe.maxMetricsMs).toBeLessThan(1000);
  // No per-packet logging: at most a handful of lines during the whole flood.
  expect(after.logLines - before.logLines).toBeLessThanOrEqual(5);
  return { f, probe, received, drops };
}

/** After the flood: a known batch at a sane rate is counted exactly, with no further drops. */
async function batchAfter(d: Daemon, a: Accounting, address: string, messages: (string | Buffer)[], want: Record<string, number>): Promise<void> {
  const before = await d.metrics();
  // One datagram a millisecond: far below capacity.
  await sendUdp(address, messages, 1);
  await poll(async () => sum(await d.metrics(), a.received, a.received_labels) - sum(before, a.received, a.received_labels) === messages.length, 'the batch to arrive', 10_000);
  const after = await d.metrics();
  expect(diff(responses(after, a.source), responses(before, a.source))).toEqual(sorted(want));
  expect(sum(after, a.kernelDrops) - sum(before, a.kernelDrops)).toBe(0);
}

describe('UDP flood on the HEP input', () => {
  it('drops and counts the excess, answers HTTP within 1 s, stays bounded in memory, and counts exactly afterwards', async () => {
    const d = await startDaemon(['--hep.listen-address=127.0.0.1:0', '--hep.tcp=false', '--hep.recv-buffer-size=64KiB'], { env: HEAP_CAP });
    try {
      const address = d.addresses['hep.udp']!;
      expect(sum(await d.metrics(), 'sip_exporter_hep_udp_receive_buffer_bytes')).toBeLessThanOrEqual(128 * 1024);
      const rss0 = d.rss();
      const one = await floodOnce(d, HEP, address, 'flood-a', 2);
      const rss1 = d.rss();
      const two = await floodOnce(d, HEP, address, 'flood-b', 2);
      const rss2 = d.rss();
      // Bounded: the de-duplication tables grow up to hep.dedup-max-entries (about 16 bytes per entry,
      // typed arrays outside the V8 heap), everything else stays within the heap cap.
      expect(d.running()).toBe(true);
      expect(rss1 - rss0).toBeLessThan(128 * MiB);
      expect(rss2 - rss1).toBeLessThan(32 * MiB);
      const batch = Array.from({ length: 500 }, (_, i) => hepResponse('after', i));
      await batchAfter(d, HEP, address, batch, expectedCounts(0, 500));
      console.log(
        `HEP flood: sent ${one.f.sent}+${two.f.sent}, received ${one.received}+${two.received}, kernel drops ${one.drops}+${two.drops}; ` +
          `slowest /-/healthy ${Math.round(Math.max(one.probe.maxHealthyMs, two.probe.maxHealthyMs))} ms, /metrics ${Math.round(Math.max(one.probe.maxMetricsMs, two.probe.maxMetricsMs))} ms; ` +
          `RSS ${(rss0 / MiB).toFixed(0)} -> ${(rss1 / MiB).toFixed(0)} -> ${(rss2 / MiB).toFixed(0)} MiB`,
      );
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('UDP flood on the syslog input', () => {
  it('drops and counts the excess, answers HTTP within 1 s, stays bounded in memory, and counts exactly afterwards', async () => {
    const d = await startDaemon(['--syslog.listen-address=127.0.0.1:0', '--syslog.recv-buffer-size=64KiB'], { env: HEAP_CAP });
    try {
      const address = d.addresses['syslog.udp']!;
      const rss0 = d.rss();
      const one = await floodOnce(d, SYSLOG, address, 'flood-a', 1);
      const rss1 = d.rss();
      const two = await floodOnce(d, SYSLOG, address, 'flood-b', 1);
      const rss2 = d.rss();
      expect(d.running()).toBe(true);
      expect(rss1 - rss0).toBeLessThan(64 * MiB);
      expect(rss2 - rss1).toBeLessThan(32 * MiB);
      const batch = Array.from({ length: 500 }, (_, i) => syslog3164('after', i));
      await batchAfter(d, SYSLOG, address, batch, expectedCounts(0, 500));
      console.log(
        `syslog flood: sent ${one.f.sent}+${two.f.sent}, received ${one.received}+${two.received}, kernel drops ${one.drops}+${two.drops}; ` +
          `slowest /-/healthy ${Math.round(Math.max(one.probe.maxHealthyMs, two.probe.maxHealthyMs))} ms, /metrics ${Math.round(Math.max(one.probe.maxMetricsMs, two.probe.maxMetricsMs))} ms; ` +
          `RSS ${(rss0 / MiB).toFixed(0)} -> ${(rss1 / MiB).toFixed(0)} -> ${(rss2 / MiB).toFixed(0)} MiB`,
      );
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
