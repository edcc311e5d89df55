import type { Attributes } from '@opentelemetry/api';

/**
 * Metric and attribute names on the OpenTelemetry side.
 *
 * There are no official OpenTelemetry semantic conventions for SIP, so these are our own, chosen to
 * read like the HTTP conventions (`http.response.status_code` -> `sip.response.code`). Metric names
 * are chosen so that an OpenTelemetry Collector's Prometheus exporter (which appends `_total` to
 * monotonic sums and the unit suffix) produces the same metric names as our own /metrics endpoint;
 * only the label names differ (`sip_response_code` instead of `code`). docs/opentelemetry.md lists them.
 */

/** Prometheus label -> OpenTelemetry attribute, for the SIP metrics (sip_*). */
export const SIP_ATTRIBUTES: Readonly<Record<string, { name: string; int?: boolean }>> = {
  code: { name: 'sip.response.code', int: true },
  class: { name: 'sip.response.class' },
  reason: { name: 'sip.response.reason' },
  method: { name: 'sip.method' },
  source: { name: 'sip.source' },
  kind: { name: 'sip.duplicate.kind' },
};

/**
 * Prometheus label -> attribute for the exporter's own metrics (sip_exporter_*): only the input
 * source is renamed, so it reads the same as on the SIP metrics; reason, result and the like stay.
 */
export const SELF_ATTRIBUTES: Readonly<Record<string, { name: string; int?: boolean }>> = {
  source: { name: 'sip.source' },
};

/** The three SIP counters kept in dense arrays, mirrored by observable counters. */
export const SIP_COUNTERS = {
  responses: { name: 'sip.responses', unit: '{response}', prom: 'sip_responses_total' },
  requests: { name: 'sip.requests', unit: '{request}', prom: 'sip_requests_total' },
  duplicates: { name: 'sip.response_duplicates', unit: '{response}', prom: 'sip_response_duplicates_total' },
} as const;

/**
 * Prometheus metrics that are not mirrored from the registry: the dense SIP counters (observed
 * directly, see SIP_COUNTERS) and info-style gauges: build info is in the resource (service.version),
 * and the catalogue (sip_response_code_info: long text labels, constant) is for PromQL joins only.
 */
export const NOT_MIRRORED: ReadonlySet<string> = new Set([
  ...Object.values(SIP_COUNTERS).map((c) => c.prom),
  'sip_exporter_build_info',
  'sip_response_code_info',
]);

/**
 * Unit suffixes: [suffix, unit, strip]. Durations follow the OpenTelemetry habit (the name says what
 * is measured, the unit says seconds: sip.final_response_delay, unit s). Other suffixes stay in the
 * name, because without them names like sip_exporter.log_bytes would read "sip_exporter.log".
 */
const UNIT_SUFFIXES: readonly [string, string, boolean][] = [
  ['_seconds', 's', true],
  ['_bytes', 'By', false],
  ['_ratio', '1', false],
];

/**
 * Converts a Prometheus metric name to an OpenTelemetry name and unit, by one mechanical rule: drop
 * `_total` and a `_seconds` suffix (unit s; `_bytes` sets unit By but stays in the name), then the
 * namespace prefix `sip_` or `sip_exporter_` ends with a dot instead of an underscore:
 *   sip_responses_total                  -> sip.responses
 *   sip_final_response_delay_seconds     -> sip.final_response_delay              (unit s)
 *   sip_exporter_parse_errors_total      -> sip_exporter.parse_errors
 *   sip_exporter_log_bytes_total         -> sip_exporter.log_bytes                (unit By)
 *   sip_exporter_otel_last_success_timestamp_seconds -> sip_exporter.otel_last_success_timestamp (unit s)
 * The Collector's Prometheus exporter turns these back into the original names (dots become
 * underscores, `_total` and the unit suffix are appended again).
 */
export function otelName(prom: string): { name: string; unit: string } {
  let base = prom.endsWith('_total') ? prom.slice(0, -'_total'.length) : prom;
  let unit = '';
  for (const [suffix, u, strip] of UNIT_SUFFIXES) {
    if (base.endsWith(suffix)) {
      if (strip) base = base.slice(0, -suffix.length);
      unit = u;
      break;
    }
  }
  if (base.startsWith('sip_exporter_')) return { name: `sip_exporter.${base.slice('sip_exporter_'.length)}`, unit };
  if (base.startsWith('sip_')) return { name: `sip.${base.slice('sip_'.length)}`, unit };
  return { name: base, unit };
}

/** Label set -> attributes through a rename table; `int` attributes become numbers. */
export function toAttributes(labels: Readonly<Record<string, string | number | undefined>>, table: Readonly<Record<string, { name: string; int?: boolean }>>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(labels)) {
    if (v === undefined) continue;
    const t = table[k];
    if (t === undefined) out[k] = String(v);
    else if (t.int) {
      const n = Number(v);
      out[t.name] = Number.isFinite(n) ? n : String(v);
    } else out[t.name] = String(v);
  }
  return out;
}

/** The attribute table for a Prometheus metric name. */
export function attributeTable(prom: string): Readonly<Record<string, { name: string; int?: boolean }>> {
  return prom.startsWith('sip_exporter_') ? SELF_ATTRIBUTES : SIP_ATTRIBUTES;
}
