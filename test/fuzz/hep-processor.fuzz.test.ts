/**
 * Property tests for the whole HEP path with the real Pipeline: decodeHep -> inflatePayload -> scanSip ->
 * de-duplication -> counting (HepProcessor), and the TCP stream framer in front of it.
 *
 * test/hep/decode.test.ts, framing.test.ts and sip.test.ts already fuzz the decoder, the framer and the
 * SIP scanner one by one (never throw); this file covers what they do not:
 * - every packet ends in exactly one outcome (decode error, auth failure, other/log payload, SIP parse
 *   error, response, duplicate, request, request duplicate): nothing is lost or counted twice;
 * - whatever the input, the exposition only holds label values from the closed sets;
 * - bounded time per packet, also for hostile 64 KiB packets;
 * - a TCP stream of mutated packets cut at random never throws and frames at most what was sent.
 */
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { hep3 as hep3Bench, hepResponse, sipResponse } from '../../bench/soak/traffic.mjs';
import { Catalogue } from '../../src/classify/catalogue.js';
import { METHOD_LABELS } from '../../src/classify/methods.js';
import { SOURCES } from '../../src/event.js';
import { HEP_DECODE_ERRORS } from '../../src/parse/hep.js';
import { Pipeline } from '../../src/pipeline.js';
import { HepStreamFramer } from '../../src/sources/hep/framing.js';
import { HEP_DROP_REASONS, HEP_PARSE_ERRORS, HepProcessor } from '../../src/sources/hep/processor.js';
import { chunk, hep12, hep3, hep3msg, sipRequest, SPEC_EXAMPLE, standardChunks } from '../fixtures/hep/encode.js';
import { parseExposition } from '../helpers/metrics.js';

const catalogue = Catalogue.load();

function processor(opts: { authKey?: string; logPackets?: boolean; maxMessageSize?: number } = {}): { p: Pipeline; proc: HepProcessor; calls: Record<string, number> } {
  const p = new Pipeline(catalogue);
  p.enableSource('hep', { requests: true, parseErrorReasons: HEP_PARSE_ERRORS, dropReasons: HEP_DROP_REASONS });
  const proc = new HepProcessor(p, {
    authKey: opts.authKey !== undefined ? Buffer.from(opts.authKey) : undefined,
    dedupWindowMs: 40_000,
    dedupMaxEntries: 10_000,
    transactionTimeoutMs: 180_000,
    maxPendingTransactions: 10_000,
    maxMessageSize: opts.maxMessageSize ?? 64 * 1024,
    logPackets: opts.logPackets ?? false,
  });
  // Count every call into the pipeline (the outcomes of a packet).
  const calls: Record<string, number> = {};
  for (const name of ['response', 'duplicate', 'request', 'parseError', 'drop'] as const) {
    const orig = p[name].bind(p) as (...a: unknown[]) => void;
    (p as unknown as Record<string, unknown>)[name] = (...a: unknown[]): void => {
      calls[name] = (calls[name] ?? 0) + 1;
      orig(...a);
    };
  }
  return { p, proc, calls };
}

/** Real packets of every kind the decoder knows, to mutate. */
const R = (code: number, reason: string, callId: string, method = 'INVITE'): string => sipResponse({ code, reason, method, callId });
const SEEDS: Buffer[] = [
  hepResponse('seed', 0),
  hepResponse('seed', 3, { authKey: 'secret' }),
  hep3msg({ payload: R(486, 'Busy Here', 's1'), src: '2001:db8::1', dst: '2001:db8::2' }),
  hep3msg({ payload: R(503, 'Service Unavailable', 's2'), compress: 'zlib' }),
  hep3msg({ payload: R(180, 'Ringing', 's3'), compress: 'gzip' }),
  hep3msg({ payload: sipRequest({ method: 'INVITE', callId: 's4' }) }),
  hep3msg({ payload: sipRequest({ method: 'ACK', callId: 's4' }) }),
  hep3msg({ payload: 'ACC: transaction answered: method=INVITE;call_id=l1;code=404;reason=Not Found', type: 100 }),
  hep3msg({ payload: 'RTCP bytes', type: 5 }),
  hep12(1, { payload: R(200, 'OK', 's5') }),
  hep12(2, { payload: R(408, 'Request Timeout', 's6'), timeHeader: 'kamailio' }),
  hep12(2, { payload: R(487, 'Request Terminated', 's7'), timeHeader: 'packed10' }),
  hep12(2, { payload: R(603, 'Decline', 's8'), src: '::1', dst: '::2', timeHeader: 'fs' }),
  gzipSync(hep3msg({ payload: R(401, 'Unauthorized', 's9', 'REGISTER') })),
  hep3(standardChunks({ payload: R(699, 'Whatever', 's10', 'FOO') }).reverse()),
  hep3([chunk(0x0f, Buffer.from(R(100, 'Trying', 's11')))]),
  hep3Bench(R(200, 'OK', 's12').replace('Call-ID', 'i')),
  SPEC_EXAMPLE,
];

/** Random edits of a seed: byte flips, insertions, deletions, truncation and a random window. */
const mutated = fc
  .tuple(
    fc.constantFrom(...SEEDS),
    fc.array(fc.tuple(fc.constantFrom('flip', 'insert', 'delete'), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
    fc.nat(),
    fc.nat(),
  )
  .map(([seed, edits, a, b]) => {
    const bytes = [...seed];
    for (const [op, at, v] of edits) {
      const i = bytes.length === 0 ? 0 : at % (bytes.length + (op === 'insert' ? 1 : 0));
      if (op === 'flip' && bytes.length > 0) bytes[i] = v;
      else if (op === 'insert') bytes.splice(i, 0, v);
      else if (op === 'delete' && bytes.length > 0) bytes.splice(i, 1);
    }
    const buf = Buffer.from(bytes);
    const start = a % (buf.length + 1);
    const end = start + (b % (buf.length - start + 1));
    // Mostly the whole packet (the realistic case), sometimes a random window of it.
    return a % 4 === 0 ? buf.subarray(start, end) : buf;
  });

const anyPacket = fc.oneof(
  { weight: 6, arbitrary: mutated },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('HEP3', 'EEP3', '\x01\x10\x02', '\x02\x10\x02', '\x1f\x8b'), fc.uint8Array({ maxLength: 300 })).map(([m, u]) => Buffer.concat([Buffer.from(m, 'latin1'), u])) },
);

/** Outcomes a packet can have, from the pipeline calls and the HEP input's own dense counters. */
function outcomes(proc: HepProcessor, calls: Record<string, number>): number {
  const m = proc.metrics;
  const other = m.payloads.values[2]!;
  const log = m.payloads.values[1]!;
  const requestDups = m.duplicates.values[2]! + m.duplicates.values[3]!;
  return (calls.response ?? 0) + (calls.duplicate ?? 0) + (calls.request ?? 0) + (calls.parseError ?? 0) + (calls.drop ?? 0) + other + log + requestDups;
}

const CODE_RE = /^[1-6]\d\d$/;
const CLASSES = new Set(['1xx', '2xx', '3xx', '4xx', '5xx', '6xx']);
const REASONS = new Set([...catalogue.reasonLabels, 'Unrecognized']);

/** Every label value in the exposition comes from a closed set. */
async function checkLabels(p: Pipeline): Promise<void> {
  const samples = parseExposition(await p.exposition());
  const parseReasons = new Set<string>([...HEP_PARSE_ERRORS]);
  const dropReasons = new Set<string>([...HEP_DROP_REASONS]);
  for (const s of samples) {
    if (s.labels.source !== undefined) expect(SOURCES).toContain(s.labels.source);
    if (s.name === 'sip_responses_total') {
      expect(s.labels.code).toMatch(CODE_RE);
      expect(CLASSES.has(s.labels.class!)).toBe(true);
      expect(REASONS.has(s.labels.reason!)).toBe(true);
      expect(METHOD_LABELS).toContain(s.labels.method);
    }
    if (s.name === 'sip_requests_total') expect(METHOD_LABELS).toContain(s.labels.method);
    if (s.name === 'sip_exporter_parse_errors_total') expect(parseReasons.has(s.labels.reason!)).toBe(true);
    if (s.name === 'sip_exporter_dropped_total') expect(dropReasons.has(s.labels.reason!)).toBe(true);
    if (s.name === 'sip_exporter_hep_decode_errors_total') expect(HEP_DECODE_ERRORS).toContain(s.labels.reason);
  }
}

describe('fuzz: HEP packets through the processor and the pipeline', () => {
  it('every packet (random, mutated real, truncated) ends in exactly one outcome, in bounded time, without throwing', async () => {
    const { p, proc, calls } = processor();
    let packets = 0;
    let slowest = 0;
    fc.assert(
      fc.property(anyPacket, (buf) => {
        const before = outcomes(proc, calls);
        const t = performance.now();
        proc.handle(buf, 0, buf.length, 0, Date.now());
        slowest = Math.max(slowest, performance.now() - t);
        packets++;
        expect(outcomes(proc, calls) - before).toBe(1);
      }),
      { numRuns: 20_000 },
    );
    expect(slowest).toBeLessThan(250);
    expect(packets).toBe(20_000);
    await checkLabels(p);
  });

  it('with an auth key, only packets carrying it are counted; the others are one auth failure each', async () => {
    const { p, proc, calls } = processor({ authKey: 'secret' });
    fc.assert(
      fc.property(anyPacket, (buf) => {
        const before = outcomes(proc, calls);
        const responses = calls.response ?? 0;
        proc.handle(buf, 0, buf.length, 0, Date.now());
        expect(outcomes(proc, calls) - before).toBe(1);
        // A counted response must have carried the key.
        if ((calls.response ?? 0) > responses) expect(buf.includes(Buffer.from('secret'))).toBe(true);
      }),
      { numRuns: 5000 },
    );
    await checkLabels(p);
  });

  it('with hep.log-packets, log payloads go through the dialects: never a throw, labels closed', async () => {
    const { p, proc } = processor({ logPackets: true });
    const logSeeds = [
      'ACC: transaction answered: timestamp=1;method=INVITE;from_tag=a;to_tag=b;call_id=c;code=486;reason=Busy Here',
      'NOTICE: acc [acc.c:317]: ACC: call missed: method=BYE;call_id=x;code=9x9;reason=y',
      '<--- Received SIP response (12 bytes) from UDP:1.2.3.4:5060 --->#012SIP/2.0 200 OK#012CSeq: 1 INVITE#012',
      '-- Got SIP response 486 "Busy Here" back from 192.0.2.1:5060',
      'nta: received 480 Temporarily Unavailable for INVITE (1)',
    ];
    fc.assert(
      fc.property(fc.constantFrom(...logSeeds), fc.string({ maxLength: 40 }), fc.nat(), fc.constantFrom(100, 0x56), (seed, junk, at, type) => {
        const i = at % (seed.length + 1);
        const text = seed.slice(0, i) + junk + seed.slice(i);
        const buf = hep3msg({ payload: Buffer.from(text, 'utf8'), type });
        proc.handle(buf, 0, buf.length, 0, Date.now());
      }),
      { numRuns: 5000 },
    );
    await checkLabels(p);
  });

  it('hostile 64 KiB packets take bounded time (no quadratic scans)', () => {
    const { proc } = processor();
    const big = (s: string): Buffer => hep3Bench(s.slice(0, 65_000));
    const hostile = [
      // a status line and nothing else, 64 KB long
      big(`SIP/2.0 200 ${'x'.repeat(70_000)}`),
      // thousands of folded header lines (each fold triggers the unfolding copy once)
      big(`SIP/2.0 200 OK\r\nCall-ID: a\r\n${'To: <sip:x>\r\n ;tag=1\r\n'.repeat(3000)}`),
      // a To header with thousands of parameters and quotes
      big(`SIP/2.0 200 OK\r\nTo: <sip:x>${';p="\\"'.repeat(10_000)}\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n`),
      // thousands of short header lines starting with the wanted letters
      big(`SIP/2.0 200 OK\r\n${'c: x\r\nf: y\r\nt: z\r\nv: w\r\n'.repeat(3000)}`),
      // bare CRs (not line ends) everywhere
      big(`SIP/2.0 200 OK${'\r'.repeat(65_000)}`),
    ];
    // HEPv1/v2 with 60 KB of NUL padding before the SIP start line (the decoder searches a bounded window)
    const v2 = hep12(2, { payload: Buffer.concat([Buffer.alloc(60_000), Buffer.from(R(200, 'OK', 'pad'))]) });
    for (const buf of [...hostile, v2, gzipSync(hostile[1]!)]) {
      const t = performance.now();
      for (let k = 0; k < 20; k++) proc.handle(buf, 0, buf.length, 0, Date.now());
      expect((performance.now() - t) / 20).toBeLessThan(50);
    }
  });

  it('a TCP stream of mutated packets, cut into random reads, never throws and frames at most the bytes sent', () => {
    const { proc, calls } = processor();
    fc.assert(
      fc.property(fc.array(fc.oneof(mutated, fc.constantFrom(...SEEDS)), { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }), (packets, cuts) => {
        const before = outcomes(proc, calls);
        const stream = Buffer.concat(packets);
        let framed = 0;
        let framedBytes = 0;
        const framer = new HepStreamFramer((buf, start, end) => {
          framed++;
          framedBytes += end - start;
          proc.handle(buf, start, end, 1, Date.now());
        });
        let off = 0;
        let k = 0;
        let failed = false;
        while (off < stream.length && !failed) {
          const n = cuts[k++ % cuts.length]!;
          failed = framer.push(stream.subarray(off, off + n)) !== undefined;
          off += n;
          expect(framer.buffered).toBeLessThanOrEqual(65_535);
        }
        expect(framedBytes).toBeLessThanOrEqual(stream.length);
        expect(outcomes(proc, calls) - before).toBe(framed);
      }),
      { numRuns: 3000 },
    );
  });
});
