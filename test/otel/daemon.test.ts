/**
 * End to end: the built daemon (npm run build) with the OTLP export on, real input from a log file,
 * and a real OTLP/HTTP receiver on loopback (test/otel/receiver.ts decodes the protobuf requests).
 *
 * 1. Real Kamailio + sipp (test/e2e/harness) write an acc log; the exported data points equal the
 *    Prometheus /metrics counts for the same events, with the resource attributes.
 * 2. The collector goes away: the daemon keeps counting and serving /metrics, counts the failures,
 *    logs them at a bounded rate, and exports everything again when the collector returns.
 * 3. SIGTERM flushes a final export; with the collector down, shutdown is still prompt.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PACKAGE } from '../../src/paths.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { nonZero, sum, type Sample } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';
import { runCalls, startKamailio, waitForAccLines, type Kamailio } from '../e2e/harness/index.js';
import { byAttributes, OtlpReceiver, type ExportRequest, type Point } from './receiver.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sre-otel-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function receiver(): Promise<OtlpReceiver> {
  const rx = await OtlpReceiver.start();
  cleanups.push(() => rx.stop());
  return rx;
}

async function daemon(args: string[], env: Record<string, string>): Promise<RunningDaemon> {
  const d = await startDaemon(args, env);
  cleanups.push(() => d.stop());
  return d;
}

/** A Kamailio acc record as Kamailio writes it to stderr (the harness' log format). */
function accLine(i: number, code: number, method = 'INVITE', reason = 'Busy Here'): string {
  return (
    ` 1(4242) NOTICE: acc [acc.c:287]: acc_log_request(): ACC: transaction answered: timestamp=1700000000;method=${method};` +
    `from_tag=f${i};to_tag=t${i};call_id=call-${i}@127.0.0.1;code=${code};reason=${reason};src_user=sipp;src_domain=127.0.0.1;src_ip=127.0.0.1\n`
  );
}

const RESPONSE_KEYS = ['code', 'class', 'reason', 'method', 'source'] as const;
const ATTR_OF: Record<string, string> = { code: 'sip.response.code', class: 'sip.response.class', reason: 'sip.response.reason', method: 'sip.method', source: 'sip.source' };

/** Non-zero sip.responses points in the key format of nonZero() (Prometheus label names). */
function otelResponses(points: Point[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of points) {
    if (p.metric !== 'sip.responses' || p.value === 0) continue;
    const key = RESPONSE_KEYS.map((k) => `${k}=${String(p.attributes[ATTR_OF[k]!] ?? '')}`).join(',');
    out[key] = (out[key] ?? 0) + p.value!;
  }
  return out;
}

function otelValue(req: ExportRequest, metric: string, attrs: Record<string, string> = {}): number | undefined {
  const pts = req.points.filter((p) => p.metric === metric && Object.entries(attrs).every(([k, v]) => p.attributes[k] === v));
  return pts.length === 0 ? undefined : pts.reduce((a, p) => a + (p.value ?? 0), 0);
}

const promValue = (s: Sample[], name: string, labels: Record<string, string> = {}): number => sum(s, name, labels);

describe('OTLP export from the running daemon', () => {
  it('exports the same counts as /metrics for a real Kamailio acc log, with the resource attributes', async () => {
    const dir = tempDir();
    const k: Kamailio = await startKamailio({ dir });
    cleanups.push(() => k.stop());
    const { expected } = await runCalls(k, [
      { code: 486, count: 3 },
      { code: 200, count: 4 },
      { outcome: 'cancel', count: 2 },
      { method: 'OPTIONS', code: 200, count: 3 },
      { method: 'REGISTER', code: 401, count: 2 },
      { outcome: 'unknown-user', count: 1 },
      { code: 603, count: 1 },
    ]);
    await waitForAccLines(k, expected.accLines);

    const rx = await receiver();
    const d = await daemon([`--log.path=${k.logFile}`, '--log.from-beginning', '--otel.instance-id=sbc-e2e-1'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.base,
      OTEL_METRIC_EXPORT_INTERVAL: '250',
      OTEL_SERVICE_NAME: 'edge-proxy-exporter',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=e2e,service.namespace=voice',
    });

    // Wait until the exporter has read every acc record, then for an export taken after that.
    const prom = await poll(async () => {
      const s = await d.metrics();
      return promValue(s, 'sip_responses_total', { source: 'log' }) === expected.accLines ? s : undefined;
    }, `${expected.accLines} responses on /metrics`);
    const since = rx.requests.length;
    const req = await rx.waitFor((r) => r.points.some((p) => p.metric === 'sip.responses'), 'an export after the input caught up', since);

    expect(req.contentType).toBe('application/x-protobuf');
    expect(req.resource).toMatchObject({
      'service.name': 'edge-proxy-exporter',
      'service.version': PACKAGE.version,
      'service.instance.id': 'sbc-e2e-1',
      'service.namespace': 'voice',
      'deployment.environment.name': 'e2e',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.language': 'nodejs',
    });

    const promResponses = nonZero(prom, 'sip_responses_total', RESPONSE_KEYS);
    expect(otelResponses(req.points)).toEqual(promResponses);
    // And both equal what Kamailio logged (a sanity check of the comparison itself).
    expect(promResponses['code=486,class=4xx,reason=Busy Here,method=INVITE,source=log']).toBe(expected.accAnswered['INVITE 486']);
    expect(promResponses['code=401,class=4xx,reason=Unauthorized,method=REGISTER,source=log']).toBe(2);
    expect(Object.values(promResponses).reduce((a, b) => a + b, 0)).toBe(expected.accLines);

    // Series created at zero on /metrics are exported at zero as well.
    const promSeries = prom.filter((s) => s.name === 'sip_responses_total').length;
    expect(req.points.filter((p) => p.metric === 'sip.responses')).toHaveLength(promSeries);

    // The exporter's own counters, including the log input's, mirror /metrics.
    for (const [promName, otelName, labels] of [
      ['sip_exporter_events_total', 'sip_exporter.events', { source: 'log' }],
      ['sip_exporter_log_lines_total', 'sip_exporter.log_lines', {}],
      ['sip_exporter_log_bytes_total', 'sip_exporter.log_bytes', {}],
    ] as const) {
      const otelAttrs: Record<string, string> = 'source' in labels ? { 'sip.source': labels.source } : {};
      expect(otelValue(req, otelName, otelAttrs), otelName).toBe(promValue(prom, promName, labels));
    }
    expect(otelValue(req, 'sip_exporter.input_up', { 'sip.source': 'log' })).toBe(1);
    const busy = req.points.find((p) => p.metric === 'sip.responses' && p.attributes['sip.response.code'] === 486);
    expect(busy).toMatchObject({ kind: 'sum', monotonic: true, temporality: 'CUMULATIVE', isInt: true, unit: '{response}' });
  });

  it('exports requests, duplicates and the latency histograms of the HEP input equal to /metrics', async () => {
    const rx = await receiver();
    const d = await daemon(['--hep.listen-address=127.0.0.1:0', '--hep.tcp=false'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.base, OTEL_METRIC_EXPORT_INTERVAL: '250' });
    const k: Kamailio = await startKamailio({ dir: tempDir(), hep: { address: d.addresses['hep.udp']!, transport: 'udp' } });
    cleanups.push(() => k.stop());
    const { expected } = await runCalls(k, [
      { code: 486, count: 3, retransmit: true },
      { code: 200, count: 3 },
      { outcome: 'cancel', count: 1 },
      { method: 'OPTIONS', code: 200, count: 2 },
    ]);
    const finals = Object.values(expected.wire).reduce((a, b) => a + b, 0);

    // Wait until every final response has been counted and the counts stand still.
    let last = '';
    const prom = await poll(async () => {
      const s = await d.metrics();
      const final = s.filter((x) => x.name === 'sip_responses_total' && x.labels.source === 'hep' && !x.labels.class!.startsWith('1')).reduce((a, x) => a + x.value, 0);
      const snapshot = JSON.stringify(s.filter((x) => x.name.startsWith('sip_') && !x.name.startsWith('sip_exporter_')));
      const stable = snapshot === last;
      last = snapshot;
      return final >= finals && stable ? s : undefined;
    }, `${finals} final responses from HEP`, 20_000, 300);
    const req = await rx.waitFor((r) => r.points.some((p) => p.metric === 'sip.final_response_delay'), 'an export after HEP settled', rx.requests.length);

    expect(otelResponses(req.points)).toEqual(nonZero(prom, 'sip_responses_total', RESPONSE_KEYS));
    const renameRequests = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k2, v]) => [k2.replace('sip.method=', 'method=').replace('sip.source=', 'source='), v]));
    expect(renameRequests(Object.fromEntries(Object.entries(byAttributes(req.points, 'sip.requests', ['sip.method', 'sip.source'])).filter(([, v]) => v > 0)))).toEqual(
      nonZero(prom, 'sip_requests_total', ['method', 'source']),
    );
    expect(otelValue(req, 'sip.response_duplicates', { 'sip.duplicate.kind': 'retransmission' })).toBe(promValue(prom, 'sip_response_duplicates_total', { kind: 'retransmission' }));
    expect(otelValue(req, 'sip.response_duplicates', { 'sip.duplicate.kind': 'relayed' })).toBe(promValue(prom, 'sip_response_duplicates_total', { kind: 'relayed' }));
    expect(promValue(prom, 'sip_response_duplicates_total', { kind: 'relayed' })).toBeGreaterThan(0);

    // Histograms: per series, count, sum and every bucket equal the Prometheus histogram.
    for (const [promName, otelName] of [
      ['sip_final_response_delay_seconds', 'sip.final_response_delay'],
      ['sip_session_request_delay_seconds', 'sip.session_request_delay'],
    ] as const) {
      const points = req.points.filter((p) => p.metric === otelName);
      expect(points.length, otelName).toBe(prom.filter((x) => x.name === `${promName}_count`).length);
      expect(points.reduce((a, p) => a + p.count!, 0), otelName).toBeGreaterThan(0);
      for (const p of points) {
        expect(p).toMatchObject({ kind: 'histogram', unit: 's', temporality: 'CUMULATIVE' });
        const labels: Record<string, string> = { class: p.attributes['sip.response.class'] as string, source: p.attributes['sip.source'] as string };
        if (p.attributes['sip.method'] !== undefined) labels.method = p.attributes['sip.method'] as string;
        expect(p.count).toBe(promValue(prom, `${promName}_count`, labels));
        expect(p.sum).toBeCloseTo(promValue(prom, `${promName}_sum`, labels), 9);
        let cumulative = 0;
        p.bounds!.forEach((b, i) => {
          cumulative += p.bucketCounts![i]!;
          expect(cumulative, `${otelName} ${JSON.stringify(labels)} le=${b}`).toBe(
            prom.find((x) => x.name === `${promName}_bucket` && Number(x.labels.le) === b && Object.entries(labels).every(([lk, lv]) => x.labels[lk] === lv))?.value,
          );
        });
        expect(cumulative + p.bucketCounts![p.bounds!.length]!).toBe(p.count);
      }
    }
    const invite = req.points.find((p) => p.metric === 'sip.final_response_delay' && p.attributes['sip.method'] === 'INVITE' && p.attributes['sip.response.class'] === '4xx');
    expect(invite?.count).toBe((expected.final['INVITE 486'] ?? 0) + (expected.final['INVITE 487'] ?? 0)); // busy + cancelled
  });

  it('keeps counting and serving /metrics while the collector is down, and exports again when it returns', async () => {
    const dir = tempDir();
    const log = join(dir, 'kamailio.log');
    writeFileSync(log, '');
    const rx = await receiver();
    const d = await daemon([`--log.path=${log}`, '--log.poll-interval=50ms'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.base,
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_EXPORTER_OTLP_TIMEOUT: '150',
    });
    const eventsOf = (r: ExportRequest): number | undefined => otelValue(r, 'sip_exporter.events', { 'sip.source': 'log' });

    for (let i = 0; i < 5; i++) appendFileSync(log, accLine(i, 486));
    await rx.waitFor((r) => eventsOf(r) === 5, 'an export with 5 events');

    // The collector goes away (connections refused).
    await rx.stop();
    const exportedWhileUp = rx.requests.length;
    for (let i = 5; i < 12; i++) appendFileSync(log, accLine(i, i % 2 ? 503 : 486, 'INVITE', i % 2 ? 'Service Unavailable' : 'Busy Here'));
    const down = await poll(async () => {
      const t0 = Date.now();
      const s = await d.metrics();
      expect(Date.now() - t0).toBeLessThan(1000); // /metrics stays fast
      return promValue(s, 'sip_exporter_events_total', { source: 'log' }) === 12 && promValue(s, 'sip_exporter_otel_export_failures_total', { reason: 'unreachable' }) >= 3 ? s : undefined;
    }, '12 events counted and 3 failed exports while the collector is down');
    expect(promValue(down, 'sip_responses_total', { code: '503' })).toBe(4);
    expect(d.proc.exitCode).toBeNull();
    // Several failed exports, but at most one warning per minute and reason.
    const failures = d.logs.filter((l) => l.msg === 'OTLP metrics export failed; the next export carries the counts');
    const reasons = failures.map((l) => l.reason as string);
    expect(new Set(reasons).size).toBe(reasons.length);
    expect(failures.find((l) => l.reason === 'unreachable')).toMatchObject({ level: 'warn', endpoint: rx.metricsUrl });

    // It comes back on the same port: the next export carries everything counted meanwhile.
    await rx.restart();
    const back = await rx.waitFor((r) => eventsOf(r) === 12, 'an export with all 12 events', exportedWhileUp);
    const prom = await d.metrics();
    expect(otelResponses(back.points)).toEqual(nonZero(prom, 'sip_responses_total', RESPONSE_KEYS));
    expect(otelValue(back, 'sip.responses', { 'sip.response.reason': 'Service Unavailable' })).toBe(4);
    await poll(() => d.logs.some((l) => l.msg === 'OTLP metrics export works again'), 'the recovery log line');
    const after = await d.metrics();
    expect(promValue(after, 'sip_exporter_otel_exports_total')).toBeGreaterThan(promValue(after, 'sip_exporter_otel_export_failures_total'));
    expect(promValue(after, 'sip_exporter_otel_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 30);
  });

  it('moves to a new collector on reload (SIGHUP), flushing to the old one first', async () => {
    const dir = tempDir();
    const log = join(dir, 'kamailio.log');
    writeFileSync(log, accLine(0, 486) + accLine(1, 486));
    const a = await receiver();
    const b = await receiver();
    const cfg = join(dir, 'config.yml');
    const yaml = (rx: OtlpReceiver) => `otel:\n  endpoint: ${rx.base}\n  interval: 1h\n  instance-id: reload-test\n`;
    writeFileSync(cfg, yaml(a));
    const d = await daemon([`--config=${cfg}`, `--log.path=${log}`, '--log.from-beginning'], {});
    await poll(async () => promValue(await d.metrics(), 'sip_exporter_events_total', { source: 'log' }) === 2, '2 events');
    writeFileSync(cfg, yaml(b));
    d.proc.kill('SIGHUP');
    await poll(async () => promValue(await d.metrics(), 'sip_exporter_config_reloads_total', { result: 'success' }) === 1, 'a successful reload');
    // The old export flushed its last data to a; the new one exports to b (here: at shutdown).
    expect(a.requests).toHaveLength(1);
    expect(otelValue(a.requests[0]!, 'sip_exporter.events', { 'sip.source': 'log' })).toBe(2);
    appendFileSync(log, accLine(2, 486));
    await poll(async () => promValue(await d.metrics(), 'sip_exporter_events_total', { source: 'log' }) === 3, '3 events');
    expect(await d.stop()).toBe(0);
    expect(b.requests).toHaveLength(1);
    expect(otelValue(b.requests[0]!, 'sip_exporter.events', { 'sip.source': 'log' })).toBe(3);
    expect(otelValue(b.requests[0]!, 'sip_exporter.config_reloads', { result: 'success' })).toBe(1);
    expect(otelValue(b.requests[0]!, 'sip_exporter.otel_exports')).toBe(1); // the same self-metrics carry on
    expect(b.requests[0]!.resource['service.instance.id']).toBe('reload-test');
  });

  it('flushes a final export on SIGTERM', async () => {
    const dir = tempDir();
    const log = join(dir, 'kamailio.log');
    writeFileSync(log, '');
    const rx = await receiver();
    // One export an hour: only the shutdown flush can deliver these counts in time.
    const d = await daemon([`--log.path=${log}`, '--log.poll-interval=50ms'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.base, OTEL_METRIC_EXPORT_INTERVAL: '3600000' });
    for (let i = 0; i < 4; i++) appendFileSync(log, accLine(i, 404, 'INVITE', 'Not Found'));
    await poll(async () => promValue(await d.metrics(), 'sip_responses_total', { code: '404' }) === 4, '4 responses on /metrics');
    expect(rx.requests).toHaveLength(0);
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(rx.requests).toHaveLength(1);
    expect(otelValue(rx.requests[0]!, 'sip.responses', { 'sip.response.code': 404 } as never)).toBe(4);
    expect(byAttributes(rx.requests[0]!.points, 'sip_exporter.events')).toMatchObject({ 'sip.source=log': 4 });
  });

  it('shuts down promptly when the collector is unreachable', async () => {
    const dir = tempDir();
    const log = join(dir, 'kamailio.log');
    writeFileSync(log, accLine(0, 486));
    const rx = await receiver();
    await rx.stop(); // nothing listens on this port any more
    const d = await daemon([`--log.path=${log}`, '--log.from-beginning', '--general.shutdown-timeout=2s'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.base, OTEL_METRIC_EXPORT_INTERVAL: '3600000' });
    await poll(async () => promValue(await d.metrics(), 'sip_exporter_events_total', { source: 'log' }) === 1, 'the event on /metrics');
    // Exit status 0: the shutdown finished before general.shutdown-timeout (else it exits with 1).
    // The final export is given at most half of it (1 s), whatever otel.timeout (10 s) says.
    const t0 = Date.now();
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(d.logs.some((l) => l.msg === 'final OTLP metrics export did not finish in time' || l.msg === 'OTLP metrics export failed; the next export carries the counts')).toBe(true);
  });
});
