import { describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/classify/catalogue.js';
import { Pipeline } from '../../src/pipeline.js';
import { HEP_PARSE_ERRORS, HepProcessor, type ProcessorOptions } from '../../src/sources/hep/processor.js';
import { parseExposition, sum, type Sample } from '../helpers/metrics.js';
import { chunk, hep12, hep3, hep3msg, sipRequest, sipResponse, u8, type Msg } from '../fixtures/hep/encode.js';

const catalogue = Catalogue.load();
const UDP = 0;

function setup(opts: Partial<ProcessorOptions> = {}) {
  const pipeline = new Pipeline(catalogue);
  pipeline.enableSource('hep', { requests: true, parseErrorReasons: HEP_PARSE_ERRORS });
  const proc = new HepProcessor(pipeline, {
    dedupWindowMs: 40_000,
    dedupMaxEntries: 10_000,
    transactionTimeoutMs: 180_000,
    maxPendingTransactions: 10_000,
    maxMessageSize: 65536,
    logPackets: false,
    ...opts,
  });
  let now = 1_000_000;
  const send = (m: Msg | Buffer, at = now) => {
    const b = Buffer.isBuffer(m) ? m : hep3msg(m);
    proc.countPacket(UDP);
    proc.handle(b, 0, b.length, UDP, at);
  };
  const metrics = async (): Promise<Sample[]> => parseExposition(await pipeline.exposition());
  return {
    pipeline,
    proc,
    send,
    metrics,
    advance: (ms: number) => {
      now += ms;
      proc.tick(now);
    },
  };
}

const A = '10.0.0.1';
const P = '10.0.0.2'; // proxy
const B = '10.0.0.3';

describe('HEP processor: distinct counting', () => {
  it('counts one response seen on two legs and retransmitted once per leg', async () => {
    const t = setup();
    const r = sipResponse({ code: 486, reason: 'Busy Here', callId: 'c1', cseq: 5, toTag: 'x' });
    t.send({ payload: r, src: B, dst: P }); // UAS -> proxy
    t.send({ payload: r, src: P, dst: A }); // proxy relays to UAC
    t.send({ payload: r, src: B, dst: P }); // UAS retransmits
    t.send({ payload: r, src: P, dst: A }); // proxy relays the retransmission
    const s = await t.metrics();
    expect(sum(s, 'sip_responses_total', { source: 'hep', code: '486', method: 'INVITE' })).toBe(1);
    expect(sum(s, 'sip_response_duplicates_total', { source: 'hep', kind: 'relayed' })).toBe(1);
    expect(sum(s, 'sip_response_duplicates_total', { source: 'hep', kind: 'retransmission' })).toBe(2);
    expect(sum(s, 'sip_exporter_events_total', { source: 'hep' })).toBe(4);
  });

  it('keeps responses apart by Call-ID, CSeq number, CSeq method, code and To-tag', async () => {
    const t = setup();
    const base = { code: 200, callId: 'c', cseq: 1, method: 'INVITE', toTag: 't' };
    const variants = [base, { ...base, callId: 'd' }, { ...base, cseq: 2 }, { ...base, method: 'BYE' }, { ...base, code: 183 }, { ...base, toTag: 'u' }, { ...base, toTag: '' }];
    for (const v of variants) t.send({ payload: sipResponse(v) });
    for (const v of variants) t.send({ payload: sipResponse(v) });
    const s = await t.metrics();
    expect(sum(s, 'sip_responses_total', { source: 'hep' })).toBe(variants.length);
    expect(sum(s, 'sip_response_duplicates_total', { source: 'hep' })).toBe(variants.length);
  });

  it('counts a copy again once the window has passed (remembered between 1x and 2x the window)', async () => {
    const t = setup({ dedupWindowMs: 32_000 });
    const r = { payload: sipResponse({ callId: 'w' }) };
    const t0 = 1_000_000;
    t.send(r, t0);
    t.advance(31_000);
    t.send(r, t0 + 31_000);
    t.advance(2_000);
    t.send(r, t0 + 33_000);
    t.advance(33_000);
    t.send(r, t0 + 66_000);
    const s = await t.metrics();
    expect(sum(s, 'sip_responses_total', { source: 'hep' })).toBe(2);
    expect(sum(s, 'sip_response_duplicates_total', { source: 'hep' })).toBe(2);
  });

  it('bounds the window and counts evictions of the oldest entries', async () => {
    const t = setup({ dedupMaxEntries: 1000 });
    for (let i = 0; i < 1500; i++) t.send({ payload: sipResponse({ callId: `e${i}` }) });
    t.send({ payload: sipResponse({ callId: 'e0' }) }); // evicted: counted again
    t.send({ payload: sipResponse({ callId: 'e1499' }) }); // still remembered
    t.advance(1000);
    expect(t.proc.responses.size).toBe(501);
    const s = await t.metrics();
    expect(sum(s, 'sip_responses_total', { source: 'hep' })).toBe(1501);
    // generations of 500: e0-e499 were forgotten early, then e500-e999 to make room for e0
    expect(sum(s, 'sip_exporter_hep_window_evictions_total', { window: 'responses' })).toBe(1000);
    expect(sum(s, 'sip_exporter_hep_window_entries', { window: 'responses' })).toBe(0); // no collector without an input
  });

  it('counts distinct requests by CSeq method, relayed copies once, ACK and CANCEL as requests', async () => {
    const t = setup();
    const inv = { callId: 'r1', cseq: 1 };
    t.send({ payload: sipRequest({ ...inv, branch: 'z9hG4bK-a' }), src: A, dst: P });
    t.send({ payload: sipRequest({ ...inv, branch: 'z9hG4bK-p' }), src: P, dst: B }); // relayed with the proxy's branch
    t.send({ payload: sipRequest({ ...inv, branch: 'z9hG4bK-a' }), src: A, dst: P }); // retransmission
    t.send({ payload: sipRequest({ ...inv, method: 'CANCEL' }), src: A, dst: P });
    t.send({ payload: sipRequest({ ...inv, method: 'ACK' }), src: A, dst: P });
    t.send({ payload: sipRequest({ ...inv, method: 'ACK' }), src: P, dst: B });
    t.send({ payload: sipRequest({ callId: 'r2', method: 'REGISTER' }) });
    const s = await t.metrics();
    expect(sum(s, 'sip_requests_total', { source: 'hep', method: 'INVITE' })).toBe(1);
    expect(sum(s, 'sip_requests_total', { source: 'hep', method: 'CANCEL' })).toBe(1);
    expect(sum(s, 'sip_requests_total', { source: 'hep', method: 'ACK' })).toBe(1);
    expect(sum(s, 'sip_requests_total', { source: 'hep', method: 'REGISTER' })).toBe(1);
    expect(sum(s, 'sip_exporter_hep_duplicates_total', { message: 'request', kind: 'relayed' })).toBe(2);
    expect(sum(s, 'sip_exporter_hep_duplicates_total', { message: 'request', kind: 'retransmission' })).toBe(1);
    expect(sum(s, 'sip_responses_total', { source: 'hep' })).toBe(0);
  });

  it('accepts HEPv1/v2, compressed and gzip-wrapped packets alike', async () => {
    const t = setup();
    t.send(hep12(1, { payload: sipResponse({ callId: 'v1' }) }));
    t.send(hep12(2, { payload: sipResponse({ callId: 'v2' }) }));
    t.send({ payload: sipResponse({ callId: 'z' }), compress: 'zlib' });
    t.send({ payload: sipResponse({ callId: 'v6' }), src: '2001:db8::1', dst: '2001:db8::2' });
    const s = await t.metrics();
    expect(sum(s, 'sip_responses_total', { source: 'hep', code: '200' })).toBe(4);
    expect(sum(s, 'sip_exporter_hep_payloads_total', { type: 'sip' })).toBe(4);
  });
});

describe('HEP processor: errors, auth and payload types', () => {
  it('counts decode and SIP errors by reason, never as responses', async () => {
    const t = setup();
    t.send(Buffer.from('garbage'));
    t.send(hep3msg({ payload: sipResponse() }).subarray(0, 50));
    t.send({ payload: 'SIP/2.0 099 Weird\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n' });
    t.send({ payload: 'SIP/2.0 700 Big\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n' });
    t.send({ payload: 'SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n' });
    t.send({ payload: 'SIP/2.0 200 OK\r\nCall-ID: y\r\n\r\n' });
    t.send({ payload: 'hello' });
    const s = await t.metrics();
    const errs = (reason: string) => sum(s, 'sip_exporter_parse_errors_total', { source: 'hep', reason });
    expect(errs('bad_magic')).toBe(1);
    expect(errs('bad_length')).toBe(1);
    expect(errs('invalid_code')).toBe(2);
    expect(errs('missing_call_id')).toBe(1);
    expect(errs('missing_cseq')).toBe(1);
    expect(errs('not_sip')).toBe(1);
    expect(sum(s, 'sip_exporter_hep_decode_errors_total', { transport: 'udp' })).toBe(2);
    expect(sum(s, 'sip_responses_total', { source: 'hep' })).toBe(0);
    expect(sum(s, 'sip_exporter_hep_packets_total', { transport: 'udp' })).toBe(7);
  });

  it('drops packets with a missing or wrong auth key when one is configured', async () => {
    const t = setup({ authKey: Buffer.from('myHep') });
    t.send({ payload: sipResponse({ callId: 'ok' }), authKey: 'myHep' });
    t.send({ payload: sipResponse({ callId: 'wrong' }), authKey: 'myHe' });
    t.send({ payload: sipResponse({ callId: 'wrong2' }), authKey: 'myHeq' });
    t.send({ payload: sipResponse({ callId: 'none' }) });
    t.send(hep12(2, { payload: sipResponse({ callId: 'v2' }) }));
    const s = await t.metrics();
    expect(sum(s, 'sip_responses_total', { source: 'hep' })).toBe(1);
    expect(sum(s, 'sip_exporter_hep_auth_failures_total', { reason: 'wrong' })).toBe(2);
    expect(sum(s, 'sip_exporter_hep_auth_failures_total', { reason: 'missing' })).toBe(2);
    expect(sum(s, 'sip_exporter_dropped_total', { source: 'hep', reason: 'auth_failed' })).toBe(4);
  });

  it('ignores other payload types and log packets unless enabled', async () => {
    const t = setup();
    t.send({ payload: '{"rtcp":1}', type: 5 });
    t.send({ payload: 'ACC: transaction answered: timestamp=1;method=INVITE;from_tag=a;to_tag=b;call_id=c;code=404;reason=Not Found', type: 100 });
    const s = await t.metrics();
    expect(sum(s, 'sip_exporter_hep_payloads_total', { type: 'other' })).toBe(1);
    expect(sum(s, 'sip_exporter_hep_payloads_total', { type: 'log' })).toBe(1);
    expect(sum(s, 'sip_responses_total', { source: 'hep' })).toBe(0);
  });

  it('feeds log packets (type 100) to the log dialects with hep.log-packets', async () => {
    const t = setup({ logPackets: true });
    t.send({ payload: 'ACC: transaction answered: timestamp=1;method=INVITE;from_tag=a;to_tag=b;call_id=c;code=404;reason=Not Found', type: 100 });
    t.send({ payload: 'just some log line\n', type: 100 });
    const s = await t.metrics();
    expect(sum(s, 'sip_responses_total', { source: 'hep', code: '404', method: 'INVITE' })).toBe(1);
  });

  it('treats a packet without a protocol type chunk as SIP when it parses as SIP', async () => {
    const t = setup();
    t.send(hep3([chunk(0x0f, Buffer.from(sipResponse({ code: 404, reason: 'Not Found' })))]));
    t.send(hep3([chunk(0x0b, u8(1)), chunk(0x0f, Buffer.from(sipResponse({ code: 404, reason: 'Not Found', callId: 'other' })))]));
    const s = await t.metrics();
    expect(sum(s, 'sip_responses_total', { source: 'hep', code: '404' })).toBe(2);
  });
});

describe('HEP processor: latency from capture timestamps', () => {
  const T0 = 1_700_000_000;
  it('observes Session Request Delay and final response delay', async () => {
    const t = setup();
    const call = { callId: 'lat', cseq: 1 };
    t.send({ payload: sipRequest(call), sec: T0, usec: 0 });
    t.send({ payload: sipResponse({ ...call, code: 100, reason: 'Trying', toTag: '' }), sec: T0, usec: 10_000 });
    t.send({ payload: sipResponse({ ...call, code: 180, reason: 'Ringing' }), sec: T0, usec: 300_000 });
    t.send({ payload: sipResponse({ ...call, code: 183, reason: 'Session Progress' }), sec: T0, usec: 400_000 });
    t.send({ payload: sipResponse({ ...call, code: 200 }), sec: T0 + 4, usec: 300_000 });
    // a retransmitted 200 does not count again
    t.send({ payload: sipResponse({ ...call, code: 200 }), sec: T0 + 4, usec: 800_000 });
    // non-INVITE: REGISTER challenged in 2 ms
    t.send({ payload: sipRequest({ callId: 'reg', method: 'REGISTER' }), sec: T0, usec: 0 });
    t.send({ payload: sipResponse({ callId: 'reg', method: 'REGISTER', code: 401, reason: 'Unauthorized' }), sec: T0, usec: 2000 });
    // re-INVITE (has a To-tag): final delay yes, SRD no
    t.send({ payload: sipRequest({ callId: 'lat', cseq: 2, toTag: 'x' }), sec: T0 + 10, usec: 0 });
    t.send({ payload: sipResponse({ callId: 'lat', cseq: 2, code: 491, reason: 'Request Pending' }), sec: T0 + 10, usec: 50_000 });
    const s = await t.metrics();
    const srd = (cls: string, le: string) => sum(s, 'sip_session_request_delay_seconds_bucket', { class: cls, source: 'hep', le });
    expect(sum(s, 'sip_session_request_delay_seconds_count', { source: 'hep' })).toBe(1);
    expect(srd('1xx', '0.25')).toBe(0);
    expect(srd('1xx', '0.5')).toBe(1);
    expect(sum(s, 'sip_session_request_delay_seconds_sum', { class: '1xx' })).toBeCloseTo(0.3, 6);
    const fin = (m: string, cls: string) => sum(s, 'sip_final_response_delay_seconds_count', { method: m, class: cls, source: 'hep' });
    expect(fin('INVITE', '2xx')).toBe(1);
    expect(fin('INVITE', '4xx')).toBe(1);
    expect(fin('REGISTER', '4xx')).toBe(1);
    expect(sum(s, 'sip_final_response_delay_seconds_sum', { method: 'INVITE', class: '2xx' })).toBeCloseTo(4.3, 6);
    expect(sum(s, 'sip_final_response_delay_seconds_bucket', { method: 'REGISTER', class: '4xx', le: '0.005' })).toBe(1);
    expect(t.proc.pending.size).toBe(0);
  });

  it('SRD ends at a final response when no provisional came, and skips negative delays', async () => {
    const t = setup();
    t.send({ payload: sipRequest({ callId: 'f' }), sec: T0, usec: 0 });
    t.send({ payload: sipResponse({ callId: 'f', code: 503, reason: 'Service Unavailable' }), sec: T0 + 1, usec: 0 });
    t.send({ payload: sipRequest({ callId: 'neg' }), sec: T0 + 5, usec: 0 });
    t.send({ payload: sipResponse({ callId: 'neg', code: 486, reason: 'Busy Here' }), sec: T0 + 4, usec: 0 });
    const s = await t.metrics();
    expect(sum(s, 'sip_session_request_delay_seconds_count', { class: '5xx' })).toBe(1);
    expect(sum(s, 'sip_session_request_delay_seconds_count')).toBe(1);
    expect(sum(s, 'sip_exporter_hep_latency_skipped_total', { reason: 'negative_delay' })).toBe(1);
    expect(t.proc.pending.size).toBe(0);
  });

  it('forgets unanswered requests after the transaction timeout, and ACKs are never pending', async () => {
    const t = setup({ transactionTimeoutMs: 5000 });
    t.send({ payload: sipRequest({ callId: 'u' }) });
    t.send({ payload: sipRequest({ callId: 'u', method: 'ACK' }) });
    expect(t.proc.pending.size).toBe(1);
    t.advance(3000);
    expect(t.proc.pending.size).toBe(1);
    t.advance(4000);
    expect(t.proc.pending.size).toBe(0);
    const s = await t.metrics();
    expect(sum(s, 'sip_exporter_hep_transaction_timeouts_total')).toBe(1);
  });

  it('bounds pending transactions and counts requests it cannot time', async () => {
    const t = setup({ maxPendingTransactions: 100 });
    for (let i = 0; i < 150; i++) t.send({ payload: sipRequest({ callId: `p${i}` }) });
    t.advance(1000);
    expect(t.proc.pending.size).toBe(100);
    const s = await t.metrics();
    expect(sum(s, 'sip_exporter_hep_window_evictions_total', { window: 'transactions' })).toBe(50);
  });
});
