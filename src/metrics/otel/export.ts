import { hostname } from 'node:os';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { AggregationTemporalityPreference, OTLPMetricExporter as OTLPJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config/schema.js';
import { decodePairs } from '../../config/sections/otel.js';
import { RateLimitedLog, type Logger } from '../../logger.js';
import { PACKAGE } from '../../paths.js';
import type { Pipeline } from '../../pipeline.js';
import { OtelBridge } from './bridge.js';
import { HistogramMirror } from './histograms.js';

export type OtelConfig = Config['otel'];
type ExporterOptions = NonNullable<ConstructorParameters<typeof OTLPProtoMetricExporter>[0]>;
type ExportResult = Parameters<Parameters<PushMetricExporter['export']>[1]>[0];
/** ExportResultCode of @opentelemetry/core (not a direct dependency): 0 success, 1 failed. */
const SUCCESS = 0;
const FAILED = 1;

/** Not yet in the stable part of @opentelemetry/semantic-conventions (it is in the incubating set). */
const ATTR_SERVICE_INSTANCE_ID = 'service.instance.id';
const DEFAULT_BASE = 'http://localhost:4318';
const SCOPE = { name: 'sip-response-exporter', version: PACKAGE.version };

/** Whether the config turns the OTLP export on (see otel.enabled). */
export function otelEnabled(c: OtelConfig): boolean {
  if (c.enabled === 'auto') return c.endpoint !== '' || c['metrics-endpoint'] !== '';
  return c.enabled === 'true';
}

/** The URL metrics are posted to: metrics-endpoint as is, or endpoint + /v1/metrics. */
export function metricsUrl(c: OtelConfig): string {
  if (c['metrics-endpoint'] !== '') return c['metrics-endpoint'];
  const base = c.endpoint !== '' ? c.endpoint : DEFAULT_BASE;
  return base.endsWith('/') ? `${base}v1/metrics` : `${base}/v1/metrics`;
}

/**
 * Resource attributes: the SDK defaults (telemetry.sdk.*), service.version, service.instance.id
 * (host name unless configured), the user's resource attributes, and service.name with the
 * precedence of the OpenTelemetry spec: otel.service-name (OTEL_SERVICE_NAME) > service.name in
 * otel.resource-attributes (OTEL_RESOURCE_ATTRIBUTES) > sip-response-exporter.
 */
export function resourceAttributes(c: OtelConfig, host = hostname()): Record<string, string> {
  const user = decodePairs(c['resource-attributes']);
  return {
    [ATTR_SERVICE_VERSION]: PACKAGE.version,
    [ATTR_SERVICE_INSTANCE_ID]: host,
    ...user,
    ...(c['instance-id'] !== '' ? { [ATTR_SERVICE_INSTANCE_ID]: c['instance-id'] } : {}),
    [ATTR_SERVICE_NAME]: c['service-name'] !== '' ? c['service-name'] : (user[ATTR_SERVICE_NAME] ?? 'sip-response-exporter'),
  };
}

export function buildResource(c: OtelConfig): Resource {
  return defaultResource().merge(resourceFromAttributes(resourceAttributes(c)));
}

/** Closed set of failure reasons (label values of sip_exporter_otel_export_failures_total). */
export const EXPORT_FAILURE_REASONS = ['unreachable', 'timeout', 'rejected', 'other'] as const;
export type ExportFailureReason = (typeof EXPORT_FAILURE_REASONS)[number];

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED']);

export function failureReason(err: unknown): ExportFailureReason {
  const e = err as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown } | undefined;
  if (e === undefined || e === null) return 'other';
  if (typeof e.code === 'string') {
    if (UNREACHABLE.has(e.code)) return 'unreachable';
    if (e.code === 'ETIMEDOUT') return 'timeout';
  }
  if (typeof e.code === 'number') return 'rejected'; // OTLPExporterError: the receiver answered with an HTTP error
  const msg = typeof e.message === 'string' ? e.message : '';
  if (e.name === 'TimeoutError' || /timed? ?out/i.test(msg)) return 'timeout';
  if (/retryable status/i.test(msg)) return 'rejected'; // 429/502/503/504 until the retries ran out
  if (e.cause !== undefined && e.cause !== err) return failureReason(e.cause);
  return 'other';
}

/** The exporter's own metrics about the OTLP export, on the Prometheus registry (and mirrored). */
export class OtelSelfMetrics {
  readonly exports: Counter<string>;
  readonly failures: Counter<'reason'>;
  readonly lastSuccess: Gauge<string>;

  constructor(registry: Registry) {
    // Registered once per registry; a reload that restarts the export keeps counting on the same series.
    this.exports = (registry.getSingleMetric('sip_exporter_otel_exports_total') as Counter<string> | undefined) ?? new Counter({
      name: 'sip_exporter_otel_exports_total',
      help: 'OTLP metric export requests that finished, successfully or not (retries within one export count once).',
      registers: [registry],
    });
    this.failures = (registry.getSingleMetric('sip_exporter_otel_export_failures_total') as Counter<'reason'> | undefined) ?? new Counter({
      name: 'sip_exporter_otel_export_failures_total',
      help: 'OTLP metric exports that failed after their retries, by reason: unreachable (connection refused, DNS, network), timeout, rejected (the receiver answered with an HTTP error) or other. The data of a failed export is not lost: counters are cumulative and the next export carries them.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.lastSuccess = (registry.getSingleMetric('sip_exporter_otel_last_success_timestamp_seconds') as Gauge<string> | undefined) ?? new Gauge({
      name: 'sip_exporter_otel_last_success_timestamp_seconds',
      help: 'Unix time of the last successful OTLP metric export (0 until the first one).',
      registers: [registry],
    });
    for (const reason of EXPORT_FAILURE_REASONS) this.failures.inc({ reason }, 0);
  }
}

/**
 * Wraps the OTLP exporter to count every export's outcome and log failures at a bounded rate
 * (one warning per minute while the collector stays unreachable, one info line when it recovers).
 */
class CountingExporter implements PushMetricExporter {
  private failing = 0;
  private readonly rateLimited: RateLimitedLog;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly self: OtelSelfMetrics,
    private readonly logger: Logger,
    private readonly url: string,
    logIntervalMs: number,
  ) {
    this.rateLimited = new RateLimitedLog(logger, logIntervalMs);
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    const done = (r: ExportResult): void => {
      this.self.exports.inc();
      if (r.code === SUCCESS) {
        this.self.lastSuccess.set(Date.now() / 1000);
        if (this.failing > 0) this.logger.info({ endpoint: this.url, failed_exports: this.failing }, 'OTLP metrics export works again');
        this.failing = 0;
      } else {
        const reason = failureReason(r.error);
        this.self.failures.inc({ reason });
        this.failing++;
        this.rateLimited.warn(`otel-export-${reason}`, { endpoint: this.url, reason, err: r.error?.message ?? String(r.error) }, 'OTLP metrics export failed; the next export carries the counts');
      }
      resultCallback(r);
    };
    try {
      this.inner.export(metrics, done);
    } catch (err) {
      done({ code: FAILED, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality(t: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(t) ?? AggregationTemporality.CUMULATIVE;
  }
}

let diagInstalled = false;

/** Routes the SDK's own diagnostics to our logger at debug level (failures are logged by CountingExporter). */
function installDiag(logger: Logger): void {
  if (diagInstalled || !logger.isLevelEnabled('debug')) return;
  diagInstalled = true;
  const log = (level: string) => (message: string, ...args: unknown[]) =>
    logger.debug({ otel_diag: level, args: args.map((a) => (a instanceof Error ? a.message : a)) }, message);
  const d: DiagLogger = { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), verbose: log('verbose') };
  diag.setLogger(d, { logLevel: DiagLogLevel.DEBUG, suppressOverrideMessage: true });
}

export interface OtelExportOptions {
  /** Interval of the rate-limited failure log (default 60 s). */
  logIntervalMs?: number;
}

/**
 * The OTLP metrics export: a MeterProvider with the resource, a PeriodicExportingMetricReader and
 * the OTLP/HTTP exporter (protobuf or JSON). Instruments come from OtelBridge and HistogramMirror;
 * nothing here touches the hot path. An unreachable collector costs one bounded export attempt per
 * interval (retries with backoff inside otel.timeout), counted and logged; it never blocks counting
 * or /metrics.
 */
export class OtelExport {
  readonly url: string;
  readonly bridge: OtelBridge;
  readonly resource: Resource;
  private readonly provider: MeterProvider;
  private stopped = false;

  constructor(readonly config: OtelConfig, pipeline: Pipeline, private readonly logger: Logger, opts: OtelExportOptions = {}) {
    if (config.protocol === 'grpc') {
      throw new Error('otel.protocol grpc is not supported; use http/protobuf (the receiver\'s OTLP/HTTP port, 4318 by default)');
    }
    installDiag(logger);
    this.url = metricsUrl(config);
    this.resource = buildResource(config);
    const self = new OtelSelfMetrics(pipeline.registry);
    const temporalityPreference = {
      cumulative: AggregationTemporalityPreference.CUMULATIVE,
      delta: AggregationTemporalityPreference.DELTA,
      lowmemory: AggregationTemporalityPreference.LOWMEMORY,
    }[config.temporality];
    const timeoutMillis = Math.min(config.timeout, config.interval);
    const headers = decodePairs(config.headers);
    const exporterOptions: ExporterOptions = {
      url: this.url,
      headers,
      timeoutMillis,
      compression: config.compression as ExporterOptions['compression'],
      temporalityPreference,
    };
    const inner = config.protocol === 'http/json' ? new OTLPJsonMetricExporter(exporterOptions) : new OTLPProtoMetricExporter(exporterOptions);
    const exporter = new CountingExporter(inner, self, logger, this.url, opts.logIntervalMs ?? 60_000);
    const histogramTemporality = exporter.selectAggregationTemporality(InstrumentType.HISTOGRAM);
    const reader = new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: config.interval,
      exportTimeoutMillis: timeoutMillis,
      metricProducers: [new HistogramMirror(pipeline.registry, this.resource, SCOPE, histogramTemporality)],
      // sip.responses may hold up to 600 codes x 16 methods x 3 sources; never fold series into overflow.
      cardinalityLimits: { default: 2000, observableCounter: 30_000 },
    });
    this.provider = new MeterProvider({ resource: this.resource, readers: [reader] });
    this.bridge = new OtelBridge(this.provider.getMeter(SCOPE.name, SCOPE.version), pipeline);
    logger.info(
      { endpoint: this.url, protocol: config.protocol, interval_ms: config.interval, temporality: config.temporality, resource: this.resource.attributes },
      'OpenTelemetry metrics export enabled',
    );
  }

  /** Picks up exporter self-metrics registered since start-up (inputs started later, reloads). */
  refresh(): void {
    this.bridge.refresh();
  }

  /** Collects and exports now (besides the interval). */
  async forceFlush(): Promise<void> {
    await this.provider.forceFlush();
  }

  /**
   * Final export, then stop. Waits at most `timeoutMs`; returns false when the final export did not
   * finish in time (the collector is down or slow), so shutdown never hangs on it.
   */
  async shutdown(timeoutMs: number): Promise<boolean> {
    if (this.stopped) return true;
    this.stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    try {
      const ok = await Promise.race([this.provider.shutdown().then(() => true as const), timedOut]);
      if (!ok) this.logger.warn({ endpoint: this.url, timeout_ms: timeoutMs }, 'final OTLP metrics export did not finish in time');
      return ok;
    } catch (err) {
      this.logger.warn({ endpoint: this.url, err: (err as Error).message }, 'final OTLP metrics export failed');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
