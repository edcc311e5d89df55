import { describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/classify/catalogue.js';
import { warmUpHep } from '../../src/sources/hep/warmup.js';
import { parseExposition, sum } from '../helpers/metrics.js';

const OPTS = { dedupWindowMs: 32_000, dedupMaxEntries: 100_000, transactionTimeoutMs: 180_000, maxPendingTransactions: 10_000, maxMessageSize: 65536, logPackets: false, authKey: Buffer.from('secret') };

describe('HEP JIT warm-up', () => {
  it('runs the real hot path (responses, requests, retransmissions) on a scratch pipeline, not the real one', async () => {
    const p = warmUpHep(Catalogue.load(), OPTS, 1600);
    const text = parseExposition(await p.registry.metrics());
    // 8 templates x 200 rounds; every Call-ID is sent twice, so half of the copies are retransmissions
    expect(sum(text, 'sip_exporter_parse_errors_total')).toBe(0);
    expect(sum(text, 'sip_exporter_dropped_total')).toBe(0);
    expect(sum(text, 'sip_responses_total')).toBe(500);
    expect(sum(text, 'sip_requests_total')).toBe(300);
    expect(sum(text, 'sip_response_duplicates_total', { kind: 'retransmission' })).toBe(500);
    expect(sum(text, 'sip_responses_total', { code: '486', method: 'INVITE' })).toBe(100);
    expect(sum(text, 'sip_responses_total', { code: '200', method: 'BYE' })).toBe(100);
  });
});
