import { parseDuration, str } from '../parsers.js';
import { bad, ok, section, type KeySpec, type Parsed } from '../types.js';

/**
 * OpenTelemetry: push the same counts over OTLP (HTTP/protobuf or HTTP/JSON) next to /metrics.
 *
 * The standard OTEL_* environment variables are accepted as aliases (read after the canonical
 * SIP_EXPORTER_OTEL_* name), so the exporter drops into an OpenTelemetry deployment unchanged.
 * docs/opentelemetry.md describes the metric and attribute names.
 */

export const OTEL_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtelProtocol = (typeof OTEL_PROTOCOLS)[number];
export const OTEL_TEMPORALITIES = ['cumulative', 'delta', 'lowmemory'] as const;
export type OtelTemporality = (typeof OTEL_TEMPORALITIES)[number];
export type OtelEnabled = 'auto' | 'true' | 'false';

const asText = (raw: unknown): string | undefined =>
  typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;

/** "auto" (on when an endpoint is configured), or a boolean; `--otel.enabled` alone means true. */
const enabledKey: KeySpec<OtelEnabled> = {
  type: 'auto|bool',
  help: 'Push metrics over OTLP. auto turns it on when otel.endpoint or otel.metrics-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) is set; true uses http://localhost:4318 when no endpoint is given; false turns it off whatever the OTEL_* variables say.',
  default: 'auto',
  boolean: true,
  parse: (raw) => {
    const t = asText(raw);
    if (t === undefined) return bad('expected auto, true or false');
    if (/^auto$/i.test(t)) return ok('auto');
    if (/^(true|1|yes|on)$/i.test(t)) return ok('true');
    if (/^(false|0|no|off)$/i.test(t)) return ok('false');
    return bad('expected auto, true or false');
  },
};

/** An http(s) URL or "" (unset). */
function urlKey(help: string, envAliases: readonly string[]): KeySpec<string> {
  return str(help, '', {
    type: 'URL',
    envAliases,
    parse: (raw) => {
      const t = asText(raw)?.trim();
      if (t === undefined) return bad('expected an http:// or https:// URL');
      if (t === '') return ok('');
      let u: URL;
      try {
        u = new URL(t);
      } catch {
        return bad('expected an http:// or https:// URL');
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return bad(`scheme ${u.protocol} is not supported; expected http:// or https://`);
      return ok(t);
    },
  });
}

/**
 * A duration in Prometheus style ("30s") or a plain number of milliseconds, the unit of the
 * OTEL_METRIC_EXPORT_INTERVAL / *_TIMEOUT variables.
 */
function msDuration(help: string, def: string, minMs: number, maxMs: number, envAliases: readonly string[]): KeySpec<number> {
  const d = parseDuration(def);
  if (!d.ok) throw new Error(`bad default duration ${def}`);
  return {
    type: 'duration',
    help,
    default: d.value,
    envAliases,
    parse: (raw) => {
      const t = asText(raw)?.trim();
      if (t === undefined) return bad('expected a duration such as 30s or a number of milliseconds');
      const v: Parsed<number> = /^\d+$/.test(t) ? ok(Number(t)) : parseDuration(t);
      if (!v.ok) return bad('expected a duration such as 30s or a number of milliseconds');
      if (v.value < minMs || v.value > maxMs) return bad(`must be between ${minMs}ms and ${maxMs}ms`);
      return v;
    },
  };
}

const KEY_RE = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/**
 * A list of `key=value` pairs in the W3C-baggage-like format of OTEL_EXPORTER_OTLP_HEADERS and
 * OTEL_RESOURCE_ATTRIBUTES (values percent-encoded). From env the list is comma-separated, as the
 * OTEL_* variables are; flags repeat; YAML takes a list of "k=v" strings or a mapping (plain values).
 * The value stays a list of validated, still-encoded "k=v" items; decodePairs() turns it into a record.
 */
function pairList(help: string, envAliases: readonly string[], extra: Partial<KeySpec<string[]>> = {}): KeySpec<string[]> {
  return {
    type: 'list',
    help,
    default: [],
    repeatable: true,
    envAliases,
    parse: (raw) => {
      let items: unknown[];
      if (typeof raw === 'string') items = raw.split(',');
      else if (Array.isArray(raw)) items = raw.flatMap((x) => (typeof x === 'string' ? x.split(',') : [x]));
      else if (typeof raw === 'object' && raw !== null) {
        items = Object.entries(raw).map(([k, v]) => `${k}=${encodeURIComponent(asText(v) ?? '')}`);
      } else return bad('expected key=value pairs');
      const out: string[] = [];
      for (const [i, item] of items.entries()) {
        if (typeof item !== 'string') return bad(`item ${i} is not a string`);
        const s = item.trim();
        if (s === '') continue;
        const eq = s.indexOf('=');
        if (eq <= 0) return bad(`item ${i}: expected key=value`);
        const key = s.slice(0, eq).trim();
        if (!KEY_RE.test(key)) return bad(`item ${i}: ${JSON.stringify(key)} is not a valid key`);
        out.push(`${key}=${s.slice(eq + 1).trim()}`);
      }
      return ok(out);
    },
    ...extra,
  };
}

/** Turns validated `k=v` items into a record, percent-decoding the values (later items win). */
export function decodePairs(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const v = item.slice(eq + 1);
    let decoded = v;
    try {
      decoded = decodeURIComponent(v);
    } catch {
      // Not valid percent-encoding: keep the value as written.
    }
    out[item.slice(0, eq)] = decoded;
  }
  return out;
}

function lowerOneOf<T extends string>(help: string, def: T, values: readonly T[], envAliases: readonly string[]): KeySpec<T> {
  return {
    type: values.join('|'),
    help,
    default: def,
    envAliases,
    parse: (raw) => {
      const t = asText(raw)?.trim().toLowerCase();
      return t !== undefined && (values as readonly string[]).includes(t) ? ok(t as T) : bad(`must be one of ${values.join(', ')}`);
    },
  };
}

export const otel = section({
  enabled: enabledKey,
  endpoint: urlKey('Base URL of the OTLP/HTTP receiver (an OpenTelemetry Collector on port 4318, Grafana Alloy, a vendor); /v1/metrics is appended. Setting it turns the export on (see otel.enabled).', [
    'OTEL_EXPORTER_OTLP_ENDPOINT',
  ]),
  'metrics-endpoint': urlKey('Full URL metrics are posted to, used as is; takes precedence over otel.endpoint.', ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']),
  protocol: lowerOneOf('OTLP transport. grpc is not supported: point http/protobuf at the receiver\'s HTTP port (4318) instead.', 'http/protobuf', OTEL_PROTOCOLS, [
    'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
    'OTEL_EXPORTER_OTLP_PROTOCOL',
  ]),
  headers: pairList('HTTP headers sent with every export, as key=value (values percent-encoded, e.g. Authorization=Bearer%20TOKEN).', [
    'OTEL_EXPORTER_OTLP_METRICS_HEADERS',
    'OTEL_EXPORTER_OTLP_HEADERS',
  ], { secret: true }),
  compression: lowerOneOf('Compression of the export requests.', 'none', ['none', 'gzip'] as const, [
    'OTEL_EXPORTER_OTLP_METRICS_COMPRESSION',
    'OTEL_EXPORTER_OTLP_COMPRESSION',
  ]),
  interval: msDuration('Time between two exports (a duration, or milliseconds as in OTEL_METRIC_EXPORT_INTERVAL).', '60s', 100, 86_400_000, [
    'OTEL_METRIC_EXPORT_INTERVAL',
  ]),
  timeout: msDuration('Longest time one export may take, retries included (a duration or milliseconds); capped at otel.interval.', '10s', 100, 600_000, [
    'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT',
    'OTEL_EXPORTER_OTLP_TIMEOUT',
    'OTEL_METRIC_EXPORT_TIMEOUT',
  ]),
  temporality: lowerOneOf('Aggregation temporality of the exported sums and histograms: cumulative (like Prometheus), delta, or lowmemory (delta for synchronous instruments only).', 'cumulative', OTEL_TEMPORALITIES, [
    'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
  ]),
  'service-name': str('Resource attribute service.name. Empty means service.name from otel.resource-attributes, else sip-response-exporter.', '', {
    envAliases: ['OTEL_SERVICE_NAME'],
  }),
  'instance-id': str('Resource attribute service.instance.id. Empty means service.instance.id from otel.resource-attributes, else the host name.', ''),
  'resource-attributes': pairList('Extra resource attributes as key=value (values percent-encoded), e.g. deployment.environment.name=prod.', ['OTEL_RESOURCE_ATTRIBUTES']),
});
