import { Writable } from 'node:stream';
import { Histogram } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/classify/catalogue.js';
import { resolveConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { failureReason, OtelExport, type OtelConfig } from '../../src/metrics/otel/export.js';
import { latencyMetrics } from '../../src/metrics/latency.js';
import { PACKAGE } from '../../src/paths.js';
import { Pipeline } from '../../src/pipeline.js';
import { nonZero, parseExposition } from '../helpers/metrics.js';
import { byAttributes, OtlpReceiver } from './receiver.js';

/** In-process tests of the OTLP export: a real OtelExport posting to a real loopback receiver. */

const catalogue = Catalogue.load();

function capture(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger('info', dest), lines };
}

function otelConfig(env: Record<string, string>): OtelConfig {
  return resolveConfig({ env }).otel;
}

function feed(p: Pipeline): void {
  const ev = (code: number, method: string) => ({ code, reason: '', method });
  for (let i = 0; i < 5; i++) p.accept('log', ev(200, 'INVITE'));
  for (let i = 0; i < 3; i++) p.accept('log', ev(486, 'INVITE'));
  p.accept('log', ev(401, 'REGISTER'));
  p.accept('hep', ev(503, 'OPTIONS'));
  p.accept('hep', ev(199, 'SUBSCRIBE'));
  p.accept('log', ev(606, 'FOOBAR')); // unknown method -> other label
  p.accept('log', { error: 'invalid_code' });
  p.request('hep', 'INVITE');
  p.request('hep', 'INVITE');
  p.duplicate('hep', 'retransmission');
  p.drop('syslog', 'queue_full', 2);
}

const open: (OtelExport | OtlpReceiver)[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) {
    if (o instanceof OtelExport) await o.shutdown(2000);
    else await o.stop();
  }
});

async function setup(env: Record<string, string> = {}): Promise<{ p: Pipeline; rx: OtlpReceiver; otel: OtelExport; lines: Record<string, unknown>[] }> {
  const rx = await OtlpReceiver.start();
  open.push(rx);
  const p = new Pipeline(catalogue);
  p.enableSource('log');
  p.enableSource('hep', { requests: true });
  const { logger, lines } = capture();
  const otel = new OtelExport(otelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.base, OTEL_METRIC_EXPORT_INTERVAL: '3600000', ...env }), p, logger);
  open.push(otel);
  return { p, rx, otel, lines };
}

describe('OTLP export (in process)', () => {
  it('exports the same counts as /metrics, with sip.* attributes and the resource', async () => {
    const { p, rx, otel } = await setup({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=voice%20ops', OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret' });
    feed(p);
    await otel.forceFlush();
    const req = await rx.waitFor((r) => r.points.length > 0, 'an export');
    const prom = parseExposition(await p.exposition());

    expect(req.contentType).toBe('application/x-protobuf');
    expect(req.headers['x-api-key']).toBe('s3cret');
    expect(req.resource).toMatchObject({
      'service.name': 'sip-response-exporter',
      'service.version': PACKAGE.version,
      'deployment.environment.name': 'test',
      team: 'voice ops',
      'telemetry.sdk.language': 'nodejs',
    });
    expect(typeof req.resource['service.instance.id']).toBe('string');
    expect(req.scopes).toContainEqual({ name: 'sip-response-exporter', version: PACKAGE.version });

    // Every non-zero Prometheus series has an equal OTel point, and vice versa.
    const otelResponses = Object.fromEntries(
      Object.entries(byAttributes(req.points, 'sip.responses', ['sip.response.code', 'sip.response.class', 'sip.response.reason', 'sip.method', 'sip.source'])).filter(([, v]) => v !== 0),
    );
    const promResponses = nonZero(prom, 'sip_responses_total', ['code', 'class', 'reason', 'method', 'source']);
    const renamed = Object.fromEntries(
      Object.entries(otelResponses).map(([k, v]) => [k.replace('sip.response.code=', 'code=').replace('sip.response.class=', 'class=').replace('sip.response.reason=', 'reason=').replace('sip.method=', 'method=').replace('sip.source=', 'source='), v]),
    );
    expect(renamed).toEqual(promResponses);
    expect(Object.keys(promResponses)).toHaveLength(6);

    const busy = req.points.find((pt) => pt.metric === 'sip.responses' && pt.attributes['sip.response.code'] === 486);
    expect(busy).toMatchObject({
      kind: 'sum',
      monotonic: true,
      temporality: 'CUMULATIVE',
      unit: '{response}',
      isInt: true,
      value: 3,
      attributes: { 'sip.response.code': 486, 'sip.response.class': '4xx', 'sip.response.reason': 'Busy Here', 'sip.method': 'INVITE', 'sip.source': 'log' },
    });
    // Zero series created at start-up are exported too (like /metrics), so rate() works from the start.
    const zeros = req.points.filter((pt) => pt.metric === 'sip.responses' && pt.value === 0);
    expect(zeros.length).toBeGreaterThan(50);
    expect(zeros.length + Object.keys(otelResponses).length).toBe(prom.filter((s) => s.name === 'sip_responses_total').length);

    expect(byAttributes(req.points, 'sip.requests')).toEqual({ 'sip.method=INVITE,sip.source=hep': 2, 'sip.method=REGISTER,sip.source=hep': 0, 'sip.method=OPTIONS,sip.source=hep': 0, 'sip.method=BYE,sip.source=hep': 0, 'sip.method=CANCEL,sip.source=hep': 0 });
    expect(byAttributes(req.points, 'sip.response_duplicates')).toEqual({ 'sip.duplicate.kind=retransmission,sip.source=hep': 1, 'sip.duplicate.kind=relayed,sip.source=hep': 0 });

    // The exporter's own counters, mirrored from the prom-client registry.
    expect(byAttributes(req.points, 'sip_exporter.events')).toEqual({ 'sip.source=log': 10, 'sip.source=hep': 2 });
    expect(byAttributes(req.points, 'sip_exporter.parse_errors')).toEqual({ 'reason=invalid_code,sip.source=log': 1 });
    expect(byAttributes(req.points, 'sip_exporter.dropped')).toEqual({ 'reason=queue_full,sip.source=syslog': 2 });
    expect(byAttributes(req.points, 'sip_exporter.config_reloads')).toEqual({ 'result=success': 0, 'result=failure': 0 });
    expect(req.points.some((pt) => pt.metric.startsWith('sip_exporter.otel_'))).toBe(true);
    expect(req.points.some((pt) => pt.metric === 'sip_exporter.build_info' || pt.metric === 'sip.response_code_info')).toBe(false);
    expect(req.points.some((pt) => pt.metric.startsWith('process') || pt.metric.startsWith('nodejs'))).toBe(false);
  });

  it('keeps exporting cumulative totals, and the export is counted on /metrics', async () => {
    const { p, rx, otel } = await setup();
    feed(p);
    await otel.forceFlush();
    feed(p);
    await otel.forceFlush();
    const req = rx.latest()!;
    expect(byAttributes(req.points, 'sip.responses', ['sip.response.code', 'sip.method', 'sip.source'])['sip.response.code=486,sip.method=INVITE,sip.source=log']).toBe(6);
    const prom = parseExposition(await p.exposition());
    expect(prom.find((s) => s.name === 'sip_exporter_otel_exports_total')?.value).toBe(2);
    expect(prom.filter((s) => s.name === 'sip_exporter_otel_export_failures_total').every((s) => s.value === 0)).toBe(true);
    expect(prom.find((s) => s.name === 'sip_exporter_otel_last_success_timestamp_seconds')?.value).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  it('exports deltas when otel.temporality is delta', async () => {
    const { p, rx, otel } = await setup({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'DELTA' });
    feed(p);
    await otel.forceFlush();
    feed(p);
    p.accept('log', { code: 486, reason: '', method: 'INVITE' });
    await otel.forceFlush();
    const [first, second] = rx.requests.slice(-2);
    const key = 'sip.response.code=486,sip.method=INVITE,sip.source=log';
    const keys = ['sip.response.code', 'sip.method', 'sip.source'];
    expect(byAttributes(first!.points, 'sip.responses', keys)[key]).toBe(3);
    expect(byAttributes(second!.points, 'sip.responses', keys)[key]).toBe(4);
    expect(second!.points.find((pt) => pt.metric === 'sip.responses')?.temporality).toBe('DELTA');
  });

  it('mirrors prom-client histograms named sip_* as OTLP histograms', async () => {
    const { p, rx, otel } = await setup();
    const h = new Histogram({ name: 'sip_test_latency_seconds', help: 'Test latency.', labelNames: ['method', 'source'], buckets: [0.1, 0.5, 1], registers: [p.registry] });
    for (const v of [0.05, 0.2, 0.3, 0.7, 3]) h.observe({ method: 'INVITE', source: 'hep' }, v);
    await otel.forceFlush();
    const pt = rx.latest()!.points.find((x) => x.metric === 'sip.test_latency');
    expect(pt).toMatchObject({
      kind: 'histogram',
      unit: 's',
      temporality: 'CUMULATIVE',
      attributes: { 'sip.method': 'INVITE', 'sip.source': 'hep' },
      count: 5,
      bounds: [0.1, 0.5, 1],
      bucketCounts: [1, 2, 1, 1],
    });
    expect(pt!.sum).toBeCloseTo(4.25);
  });

  it('exports the latency histograms (DenseHistogram) as deltas when asked, with contiguous intervals', async () => {
    const { p, rx, otel } = await setup({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta' });
    const lat = latencyMetrics(p.registry);
    lat.observeFinal('hep', 'INVITE', 486, 0.03);
    lat.observeFinal('hep', 'INVITE', 486, 2);
    lat.observeSrd('hep', 180, 0.2);
    await otel.forceFlush();
    lat.observeFinal('hep', 'INVITE', 486, 0.04);
    await otel.forceFlush();
    const [a, b] = rx.requests.slice(-2);
    const pick = (r: typeof a) => r!.points.find((x) => x.metric === 'sip.final_response_delay' && x.attributes['sip.method'] === 'INVITE' && x.attributes['sip.response.class'] === '4xx');
    const bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];
    expect(pick(a)).toMatchObject({ kind: 'histogram', temporality: 'DELTA', unit: 's', count: 2, bounds, attributes: { 'sip.source': 'hep' } });
    expect(pick(a)!.bucketCounts).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(pick(b)).toMatchObject({ count: 1, bucketCounts: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
    expect(pick(b)!.sum).toBeCloseTo(0.04);
    expect(pick(b)!.startNs).toBe(pick(a)!.timeNs); // delta intervals follow each other
    const srd = a!.points.find((x) => x.metric === 'sip.session_request_delay' && x.attributes['sip.response.class'] === '1xx');
    expect(srd).toMatchObject({ count: 1, attributes: { 'sip.source': 'hep' } });
  });

  it('posts OTLP/JSON when otel.protocol is http/json', async () => {
    const { p, rx, otel } = await setup({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    feed(p);
    await otel.forceFlush();
    const req = rx.latest()!;
    expect(req.contentType).toBe('application/json');
    expect(byAttributes(req.points, 'sip_exporter.events')).toEqual({ 'sip.source=log': 10, 'sip.source=hep': 2 });
  });

  it('counts and logs a failing collector without throwing, then recovers', async () => {
    const { p, rx, otel, lines } = await setup({ OTEL_EXPORTER_OTLP_TIMEOUT: '300' });
    await rx.stop();
    feed(p);
    await otel.forceFlush();
    await otel.forceFlush();
    let prom = parseExposition(await p.exposition());
    expect(prom.find((s) => s.name === 'sip_exporter_otel_export_failures_total' && s.labels.reason === 'unreachable')?.value).toBe(2);
    expect(lines.filter((l) => l.msg === 'OTLP metrics export failed; the next export carries the counts')).toHaveLength(1); // rate-limited
    rx.status = 503;
    await rx.restart();
    await otel.forceFlush();
    prom = parseExposition(await p.exposition());
    expect(prom.find((s) => s.name === 'sip_exporter_otel_export_failures_total' && s.labels.reason === 'rejected')?.value).toBe(1);
    rx.status = 200;
    await otel.forceFlush();
    expect(byAttributes(rx.latest()!.points, 'sip_exporter.events')).toEqual({ 'sip.source=log': 10, 'sip.source=hep': 2 });
    expect(lines.some((l) => l.msg === 'OTLP metrics export works again')).toBe(true);
    prom = parseExposition(await p.exposition());
    expect(prom.find((s) => s.name === 'sip_exporter_otel_exports_total')?.value).toBe(4);
  });

  it('refuses grpc loudly', () => {
    const p = new Pipeline(catalogue);
    expect(() => new OtelExport(otelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), p, capture().logger)).toThrow(/grpc is not supported/);
  });
});

describe('failureReason', () => {
  it('classifies transport errors into a closed set', () => {
    expect(failureReason(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('unreachable');
    expect(failureReason(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }))).toBe('unreachable');
    expect(failureReason(new Error('Request timed out'))).toBe('timeout');
    expect(failureReason(Object.assign(new Error('Bad Request'), { code: 400 }))).toBe('rejected');
    expect(failureReason(new Error('Export failed with retryable status'))).toBe('rejected');
    expect(failureReason(new Error('boom'))).toBe('other');
    expect(failureReason(undefined)).toBe('other');
  });
});
