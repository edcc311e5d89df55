import { describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/classify/catalogue.js';
import { Pipeline } from '../../src/pipeline.js';
import { parseExposition, sum } from '../helpers/metrics.js';

const catalogue = Catalogue.load();

describe('Pipeline classification and counting', () => {
  it('labels responses from the catalogue, never from the wire', async () => {
    const p = new Pipeline(catalogue);
    p.accept('log', { code: 200, reason: 'ok', method: 'INVITE' });
    p.accept('log', { code: 200, reason: 'Alles Gut', method: 'INVITE' });
    p.accept('hep', { code: 500, reason: 'Internal Server Error', method: 'BYE' });
    p.accept('syslog', { code: 486, reason: 'Busy', method: '' });
    p.accept('log', { code: 478, reason: 'Unresolvable Destination', method: 'invite' });
    const s = parseExposition(await p.exposition());
    const rows = s.filter((x) => x.name === 'sip_responses_total' && x.value > 0).map((x) => ({ ...x.labels, value: x.value }));
    expect(rows).toEqual(
      expect.arrayContaining([
        { code: '200', class: '2xx', reason: 'OK', method: 'INVITE', source: 'log', value: 2 },
        { code: '500', class: '5xx', reason: 'Server Internal Error', method: 'BYE', source: 'hep', value: 1 },
        { code: '486', class: '4xx', reason: 'Busy Here', method: 'unknown', source: 'syslog', value: 1 },
        { code: '478', class: '4xx', reason: 'Unrecognized', method: 'OTHER', source: 'log', value: 1 },
      ]),
    );
    expect(rows).toHaveLength(4);
    expect(sum(s, 'sip_exporter_events_total', { source: 'log' })).toBe(3);
  });

  it('counts parse errors by reason and ignores non-SIP input', async () => {
    const p = new Pipeline(catalogue);
    p.accept('log', undefined);
    p.accept('log', { error: 'invalid_code' });
    p.accept('log', { error: 'invalid_code' });
    // A parser that forgot to validate cannot create a label: the event becomes a parse error.
    p.accept('hep', { code: 700, reason: 'x', method: 'INVITE' });
    p.accept('hep', { code: 99, reason: 'x', method: 'INVITE' });
    const s = parseExposition(await p.exposition());
    expect(sum(s, 'sip_exporter_parse_errors_total', { source: 'log', reason: 'invalid_code' })).toBe(2);
    expect(sum(s, 'sip_exporter_parse_errors_total', { source: 'hep', reason: 'invalid_code' })).toBe(2);
    expect(sum(s, 'sip_responses_total')).toBe(0);
    expect(s.some((x) => x.labels.code === '700' || x.labels.code === '99')).toBe(false);
  });

  it('creates the common series at zero for enabled sources only', async () => {
    const p = new Pipeline(catalogue);
    p.enableSource('hep', { requests: true, parseErrorReasons: ['bad_magic'], dropReasons: ['queue_full'] });
    p.enableSource('log');
    const s = parseExposition(await p.exposition());
    const zero = (labels: Record<string, string>) => s.find((x) => x.name === 'sip_responses_total' && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    expect(zero({ code: '503', method: 'INVITE', source: 'hep' })?.value).toBe(0);
    expect(zero({ code: '503', method: 'INVITE', source: 'log' })?.value).toBe(0);
    expect(zero({ code: '503', method: 'INVITE', source: 'syslog' })).toBeUndefined();
    expect(s.find((x) => x.name === 'sip_requests_total' && x.labels.source === 'hep' && x.labels.method === 'INVITE')?.value).toBe(0);
    expect(s.find((x) => x.name === 'sip_requests_total' && x.labels.source === 'log')).toBeUndefined();
    expect(s.find((x) => x.name === 'sip_response_duplicates_total' && x.labels.kind === 'relayed' && x.labels.source === 'hep')?.value).toBe(0);
    expect(s.find((x) => x.name === 'sip_exporter_parse_errors_total' && x.labels.reason === 'bad_magic')?.value).toBe(0);
    expect(s.find((x) => x.name === 'sip_exporter_dropped_total' && x.labels.reason === 'queue_full')?.value).toBe(0);
  });

  it('keeps counting across scrapes (cumulative, not reset by collection)', async () => {
    const p = new Pipeline(catalogue);
    p.accept('log', { code: 404, reason: 'Not Found', method: 'INVITE' });
    expect(sum(parseExposition(await p.exposition()), 'sip_responses_total', { code: '404' })).toBe(1);
    p.accept('log', { code: 404, reason: 'Not Found', method: 'INVITE' });
    await p.exposition();
    expect(sum(parseExposition(await p.exposition()), 'sip_responses_total', { code: '404' })).toBe(2);
  });

  it('publishes one info series per catalogued code with its meaning', async () => {
    const p = new Pipeline(catalogue);
    const info = parseExposition(await p.exposition()).filter((x) => x.name === 'sip_response_code_info');
    expect(info).toHaveLength(catalogue.entries().length);
    const busy = info.find((x) => x.labels.code === '486')!;
    expect(busy.value).toBe(1);
    expect(busy.labels).toMatchObject({ class: '4xx', reason: 'Busy Here', expected: 'false', rfc: 'RFC 3261' });
    expect(busy.labels.meaning).toBe(catalogue.get(486)!.meaning);
  });

  it('bounds the series count whatever the input (cardinality)', async () => {
    const p = new Pipeline(catalogue);
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 200_000; i++) {
      const code = rnd() % 1200;
      const method = String.fromCharCode(65 + (rnd() % 26)).repeat(1 + (rnd() % 3));
      p.accept(['log', 'hep', 'syslog'][rnd() % 3] as 'log', { code, reason: `r${rnd()}`, method, callId: `c${rnd()}`, src: `10.0.${rnd() % 255}.1:5060` });
    }
    const s = parseExposition(await p.exposition()).filter((x) => x.name === 'sip_responses_total');
    // 600 valid codes x 16 method labels x 3 sources is the documented upper bound.
    expect(s.length).toBeLessThanOrEqual(600 * 16 * 3);
    expect(new Set(s.map((x) => x.labels.method)).size).toBeLessThanOrEqual(16);
    expect(s.every((x) => /^[1-6]\d\d$/.test(x.labels.code!))).toBe(true);
  });
});
