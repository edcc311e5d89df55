import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { poll } from '../helpers/poll.js';

/**
 * A real OTLP/HTTP metrics receiver on loopback for tests: a node http server that accepts
 * POST /v1/metrics with application/x-protobuf (decoded with the OTLP .proto files in
 * test/fixtures/otel) or application/json, and keeps every request, normalised.
 */

const PROTO_DIR = fileURLToPath(new URL('../fixtures/otel/', import.meta.url));

function loadRequestType(): protobuf.Type {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto', { keepCase: false });
  return root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
}
const RequestType = loadRequestType();

export type AttrValue = string | number | boolean;

export interface Point {
  metric: string;
  unit: string;
  description: string;
  kind: 'sum' | 'gauge' | 'histogram';
  /** 'CUMULATIVE' | 'DELTA' for sums and histograms. */
  temporality?: string;
  monotonic?: boolean;
  attributes: Record<string, AttrValue>;
  /** Sums and gauges. */
  value?: number;
  /** True when the point was sent as as_int. */
  isInt?: boolean;
  /** Histograms. */
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  bounds?: number[];
  startNs: number;
  timeNs: number;
}

export interface ExportRequest {
  at: number;
  contentType: string;
  headers: IncomingMessage['headers'];
  resource: Record<string, AttrValue>;
  scopes: { name: string; version: string }[];
  points: Point[];
}

/* eslint-disable @typescript-eslint/no-explicit-any */
function anyValue(v: any): AttrValue {
  if (v === undefined || v === null) return '';
  if (v.stringValue !== undefined && v.stringValue !== null) return String(v.stringValue);
  if (v.intValue !== undefined && v.intValue !== null) return Number(v.intValue);
  if (v.doubleValue !== undefined && v.doubleValue !== null) return Number(v.doubleValue);
  if (v.boolValue !== undefined && v.boolValue !== null) return Boolean(v.boolValue);
  return JSON.stringify(v);
}

function attrs(list: any[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list ?? []) out[kv.key as string] = anyValue(kv.value);
  return out;
}

const TEMPORALITY: Record<string, string> = {
  '1': 'DELTA',
  '2': 'CUMULATIVE',
  AGGREGATION_TEMPORALITY_DELTA: 'DELTA',
  AGGREGATION_TEMPORALITY_CUMULATIVE: 'CUMULATIVE',
};

/** Normalises a decoded request (protobuf toObject with camelCase, or OTLP/JSON: same field names). */
export function normalise(body: any, contentType: string, headers: IncomingMessage['headers']): ExportRequest {
  const req: ExportRequest = { at: Date.now(), contentType, headers, resource: {}, scopes: [], points: [] };
  for (const rm of body.resourceMetrics ?? []) {
    Object.assign(req.resource, attrs(rm.resource?.attributes));
    for (const sm of rm.scopeMetrics ?? []) {
      req.scopes.push({ name: sm.scope?.name ?? '', version: sm.scope?.version ?? '' });
      for (const m of sm.metrics ?? []) {
        const base = { metric: m.name as string, unit: (m.unit ?? '') as string, description: (m.description ?? '') as string };
        const number = (kind: 'sum' | 'gauge', dps: any[], extra: Partial<Point>): void => {
          for (const dp of dps ?? []) {
            const isInt = dp.asInt !== undefined && dp.asInt !== null;
            req.points.push({
              ...base,
              kind,
              ...extra,
              attributes: attrs(dp.attributes),
              value: Number(isInt ? dp.asInt : dp.asDouble ?? 0),
              isInt,
              startNs: Number(dp.startTimeUnixNano ?? 0),
              timeNs: Number(dp.timeUnixNano ?? 0),
            });
          }
        };
        if (m.sum) number('sum', m.sum.dataPoints, { temporality: TEMPORALITY[String(m.sum.aggregationTemporality)] ?? String(m.sum.aggregationTemporality), monotonic: Boolean(m.sum.isMonotonic) });
        else if (m.gauge) number('gauge', m.gauge.dataPoints, {});
        else if (m.histogram) {
          for (const dp of m.histogram.dataPoints ?? []) {
            req.points.push({
              ...base,
              kind: 'histogram',
              temporality: TEMPORALITY[String(m.histogram.aggregationTemporality)] ?? String(m.histogram.aggregationTemporality),
              attributes: attrs(dp.attributes),
              count: Number(dp.count ?? 0),
              sum: Number(dp.sum ?? 0),
              bucketCounts: (dp.bucketCounts ?? []).map(Number),
              bounds: (dp.explicitBounds ?? []).map(Number),
              startNs: Number(dp.startTimeUnixNano ?? 0),
              timeNs: Number(dp.timeUnixNano ?? 0),
            });
          }
        }
      }
    }
  }
  return req;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export function decodeProtobuf(buf: Uint8Array): unknown {
  const msg = RequestType.decode(buf);
  return RequestType.toObject(msg, { longs: Number, enums: String, defaults: false, arrays: true, oneofs: false });
}

export class OtlpReceiver {
  readonly requests: ExportRequest[] = [];
  /** HTTP status answered to exports (set to e.g. 503 to simulate a failing collector). */
  status = 200;
  private server: Server | undefined;
  private portNumber = 0;

  static async start(port = 0): Promise<OtlpReceiver> {
    const r = new OtlpReceiver();
    await r.listen(port);
    return r;
  }

  get port(): number {
    return this.portNumber;
  }

  /** Base URL (what OTEL_EXPORTER_OTLP_ENDPOINT takes). */
  get base(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  get metricsUrl(): string {
    return `${this.base}/v1/metrics`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.portNumber = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/metrics') {
        res.writeHead(404).end();
        return;
      }
      const contentType = String(req.headers['content-type'] ?? '');
      if (this.status !== 200) {
        res.writeHead(this.status, { 'content-type': 'text/plain' }).end('unavailable');
        return;
      }
      try {
        const body = Buffer.concat(chunks);
        const decoded = contentType.includes('json') ? JSON.parse(body.toString('utf8')) : decodeProtobuf(body);
        this.requests.push(normalise(decoded, contentType, req.headers));
        // An empty ExportMetricsServiceResponse (full success) is an empty body in both encodings.
        res.writeHead(200, { 'content-type': contentType.includes('json') ? 'application/json' : 'application/x-protobuf' });
        res.end(contentType.includes('json') ? '{}' : undefined);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
      }
    });
  }

  /** Stops listening and cuts every connection (the collector "goes away"). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    if (!this.server) await this.listen(this.portNumber);
  }

  latest(): ExportRequest | undefined {
    return this.requests[this.requests.length - 1];
  }

  /** Waits for a request (received after `since`, a count of requests) that satisfies `pred`. */
  async waitFor(pred: (r: ExportRequest) => boolean, what: string, since = 0, timeoutMs = 20_000): Promise<ExportRequest> {
    return poll(() => this.requests.slice(since).find(pred), what, timeoutMs);
  }
}

/** Points of one metric, keyed by their attributes (sorted "k=v,..."), for exact comparisons. */
export function byAttributes(points: Point[], metric: string, keys?: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of points) {
    if (p.metric !== metric) continue;
    const ks = keys ?? Object.keys(p.attributes).sort();
    const key = ks.map((k) => `${k}=${String(p.attributes[k] ?? '')}`).join(',');
    out[key] = (out[key] ?? 0) + (p.value ?? p.count ?? 0);
  }
  return out;
}
