/**
 * Real end-to-end: Kamailio (Debian package) with siptrace mirrors every SIP message it receives or
 * sends as HEPv3 to the exporter, over UDP and, in a second run, over TCP, while sipp callers and
 * callees place calls with a known mix of outcomes (including a UAS that ignores ACKs and retransmits
 * its final response). tshark captures the same run's SIP traffic on loopback (every message of the run
 * goes to or from Kamailio's SIP port), and the exporter's sip_responses_total{source="hep"} must equal,
 * per (method, code), the distinct responses in that capture.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCalls, startKamailio, type CallGroup, type Kamailio } from '../e2e/harness/index.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { nonZero, sum, type Sample } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';
import { distinctByMethodCode, responsesInCapture, startCapture, type Capture } from './capture.js';

const PLAN: CallGroup[] = [
  { code: 486, count: 3 },
  { code: 200, count: 4 },
  { outcome: 'cancel', count: 2 },
  { outcome: 'timeout', count: 1 },
  { code: 486, count: 2, retransmit: true },
  { code: 603, count: 2, retransmit: true },
  { method: 'OPTIONS', code: 200, count: 2 },
  { method: 'REGISTER', code: 401, count: 2 },
  { outcome: 'unknown-user', count: 1 },
  { code: 480, count: 1, transport: 'tcp' },
];

describe.each(['udp', 'tcp'] as const)('Kamailio siptrace -> HEPv3 over %s -> exporter', (transport) => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    cleanup.length = 0;
  });

  it('counts exactly the distinct responses tshark sees on the wire', async () => {
    const dir = mkdtempSync(join(tmpdir(), `hep-e2e-${transport}-`));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));

    const d: RunningDaemon = await startDaemon(['--hep.listen-address=127.0.0.1:0']);
    cleanup.push(() => d.stop());
    const hepAddr = d.addresses[`hep.${transport}`]!;

    const k: Kamailio = await startKamailio({ dir, hep: { address: hepAddr, transport } });
    cleanup.push(() => k.stop());

    const cap: Capture = await startCapture(join(dir, 'sip.pcapng'), `udp port ${k.sipPort} or tcp port ${k.sipPort}`);
    cleanup.push(() => cap.stop());

    const run = await runCalls(k, PLAN);
    // Wait until the traffic has really ended (the last retransmissions and their mirrored copies):
    // HEP mirrors every SIP packet, so when the exporter has received nothing new for 1.5 s the wire is
    // quiet too, and the capture and the exporter have seen the same packets.
    let last = -1;
    let stableSince = Date.now();
    await poll(async () => {
      const n = sum(await d.metrics(), 'sip_exporter_hep_packets_total');
      if (n !== last) {
        last = n;
        stableSince = Date.now();
      }
      return Date.now() - stableSince >= 1500;
    }, 'HEP traffic to end', 30_000, 250);
    await cap.stop();

    const wire = responsesInCapture(cap.file, [k.sipPort, ...run.groups.flatMap((g) => [g.uacPort, ...(g.uasPort ? [g.uasPort] : [])])]);
    const { distinct, copies } = distinctByMethodCode(wire);
    const total = Object.values(distinct).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(30);

    // wait until the exporter has seen as many distinct responses, then compare per (method, code)
    let m: Sample[] = [];
    await poll(async () => {
      m = await d.metrics();
      return sum(m, 'sip_responses_total', { source: 'hep' }) >= total;
    }, `exporter counting ${total} distinct responses`, 15_000).catch(() => undefined);
    const got = nonZero(m, 'sip_responses_total', ['method', 'code'], { source: 'hep' });
    const want: Record<string, number> = {};
    for (const [k2, v] of Object.entries(distinct)) {
      const [method, code] = k2.split(' ');
      want[`method=${method},code=${code}`] = v;
    }
    if (process.env.HEP_E2E_VERBOSE) console.log(transport, JSON.stringify({ want, copies }));
    expect(got).toEqual(want);

    // The final responses match the plan's expectation too (provisional ones come on top). CANCEL is
    // the exception: the proxy answers the caller's CANCEL itself ("200 canceling") and the callee
    // answers the proxy's CANCEL; two responses with different To-tags on different hops, both distinct.
    for (const [key, n] of Object.entries(run.expected.final)) {
      const [method, code] = key.split(' ');
      if (method === 'CANCEL') expect(got[`method=${method},code=${code}`], key).toBe(2 * n);
      else expect(got[`method=${method},code=${code}`], key).toBe(n);
    }

    // every response was mirrored at least twice (both legs) or retransmitted: duplicates were counted
    const dups = sum(m, 'sip_response_duplicates_total', { source: 'hep' });
    expect(copies).toBeGreaterThan(0);
    expect(sum(m, 'sip_response_duplicates_total', { source: 'hep', kind: 'relayed' })).toBeGreaterThan(0);
    expect(sum(m, 'sip_response_duplicates_total', { source: 'hep', kind: 'retransmission' })).toBeGreaterThan(0);
    // HEP sees each relayed response on both legs; the wire capture sees exactly the same packets
    expect(dups).toBe(copies);

    // requests: INVITEs placed, counted once although each crossed two legs
    expect(sum(m, 'sip_requests_total', { source: 'hep', method: 'INVITE' })).toBe(PLAN.filter((g) => !('method' in g)).reduce((a, g) => a + g.count, 0));
    // latency: every answered INVITE produced a Session Request Delay observation
    expect(sum(m, 'sip_session_request_delay_seconds_count', { source: 'hep' })).toBeGreaterThan(0);
    expect(sum(m, 'sip_final_response_delay_seconds_count', { source: 'hep', method: 'INVITE' })).toBeGreaterThan(0);
    expect(sum(m, 'sip_exporter_parse_errors_total', { source: 'hep' })).toBe(0);
    if (transport === 'tcp') expect(sum(m, 'sip_exporter_hep_packets_total', { transport: 'tcp' })).toBeGreaterThan(0);
  });
});
