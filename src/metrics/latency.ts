import { Histogram, type Registry } from 'prom-client';
import { METHOD_COUNT, METHOD_LABELS, methodIndex } from '../classify/methods.js';
import { CLASSES, type StatusClass } from '../classify/status.js';
import { SOURCES, type Source } from '../event.js';
import { SOURCE_INDEX } from './sip.js';

/**
 * Latency histograms measured from capture timestamps (HEP carries the capture time of every message):
 *
 * - sip_session_request_delay_seconds{class,source}: RFC 6076 section 4.3 Session Request Delay, from an
 *   initial INVITE (no To-tag) to its first status-indicative response, i.e. the first response other
 *   than 100 Trying: a provisional 18x or a final response. `class` is that response's class, so
 *   class=~"1xx|2xx" is the successful-setup SRD of 4.3.1 and 3xx-6xx the failed-setup SRD of 4.3.2.
 * - sip_final_response_delay_seconds{method,class,source}: from any request (except ACK, which has no
 *   response) to its first final response (2xx-6xx), by CSeq method and the final response's class.
 *
 * Base unit seconds; buckets from 5 ms to 2 minutes cover local answers (401/407 in milliseconds),
 * post-dial delay (hundreds of ms to seconds) and ringing until answer or timeout (tens of seconds).
 */
export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];

interface ValuePair {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
}

/**
 * A prom-client Histogram whose series live in flat arrays indexed by a dense series number, like
 * DenseCounter: an observation is a bucket search and three array increments, without hashing a label
 * object. Still a prom-client Histogram, so the registry, /metrics and the OpenTelemetry mirror read it
 * through the usual get().
 */
export class DenseHistogram extends Histogram<string> {
  /** Per series: non-cumulative counts per bucket, the last slot being above the highest bound. */
  readonly counts: Float64Array;
  readonly sums: Float64Array;
  readonly totals: Float64Array;
  private readonly visible: Uint8Array;
  private readonly bounds: Float64Array;
  private readonly width: number;
  private readonly labelCache: (Record<string, string> | undefined)[];
  private readonly metricName: string;
  private readonly metricHelp: string;

  constructor(
    registry: Registry,
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    readonly series: number,
    readonly labelsOf: (index: number) => Record<string, string>,
  ) {
    super({ name, help, labelNames: [...labelNames], buckets: [...buckets], registers: [registry] });
    this.metricName = name;
    this.metricHelp = help;
    this.bounds = Float64Array.from(buckets);
    this.width = buckets.length + 1;
    this.counts = new Float64Array(series * this.width);
    this.sums = new Float64Array(series);
    this.totals = new Float64Array(series);
    this.visible = new Uint8Array(series);
    this.labelCache = new Array<Record<string, string> | undefined>(series);
  }

  observeIndex(series: number, value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[series * this.width + i]! += 1;
    this.sums[series]! += value;
    this.totals[series]! += 1;
  }

  /** Exposes a series at zero from the first scrape. */
  show(series: number): void {
    this.visible[series] = 1;
  }

  private labelsFor(i: number): Record<string, string> {
    let l = this.labelCache[i];
    if (!l) {
      l = this.labelsOf(i);
      this.labelCache[i] = l;
    }
    return l;
  }

  /** Same shape as prom-client's own histograms (read by Registry.metrics() and get()). */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: ValuePair[]; aggregator: 'sum' }> {
    const values: ValuePair[] = [];
    const name = this.metricName;
    const bucketName = `${name}_bucket`;
    for (let s = 0; s < this.series; s++) {
      if (this.totals[s] === 0 && this.visible[s] === 0) continue;
      const shared = this.labelsFor(s);
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += this.counts[s * this.width + i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: shared, value: acc, metricName: bucketName });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: this.totals[s]!, metricName: bucketName });
      values.push({ labels: {}, sharedLabels: shared, value: this.sums[s]!, metricName: `${name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: this.totals[s]!, metricName: `${name}_count` });
    }
    return { name, help: this.metricHelp, type: 'histogram', values, aggregator: 'sum' };
  }

  override observe(): void {
    throw new Error(`${this.metricName}: use observeIndex()`);
  }
}

const CLASS_COUNT = CLASSES.length;
const FINAL_CLASSES = CLASSES.length - 1; // 2xx-6xx

/** The two latency histograms of the HEP input (see the top of this file). */
export class LatencyMetrics {
  readonly srd: DenseHistogram;
  readonly finalDelay: DenseHistogram;

  constructor(registry: Registry) {
    this.srd = new DenseHistogram(
      registry,
      'sip_session_request_delay_seconds',
      'RFC 6076 Session Request Delay: time from an initial INVITE (no To-tag) to its first status-indicative response (the first response other than 100 Trying: 18x or final), by that response\'s class and input source, measured from capture timestamps.',
      ['class', 'source'],
      LATENCY_BUCKETS,
      SOURCES.length * CLASS_COUNT,
      (i) => ({ class: CLASSES[i % CLASS_COUNT] as string, source: SOURCES[Math.floor(i / CLASS_COUNT)] as string }),
    );
    this.finalDelay = new DenseHistogram(
      registry,
      'sip_final_response_delay_seconds',
      'Time from a SIP request to its first final response (2xx-6xx), by CSeq method, final response class and input source, measured from capture timestamps. ACK has no response and is not measured.',
      ['method', 'class', 'source'],
      LATENCY_BUCKETS,
      SOURCES.length * METHOD_COUNT * FINAL_CLASSES,
      (i) => {
        const c = i % FINAL_CLASSES;
        const rest = (i - c) / FINAL_CLASSES;
        const m = rest % METHOD_COUNT;
        const s = (rest - m) / METHOD_COUNT;
        return { method: METHOD_LABELS[m] as string, class: CLASSES[c + 1] as string, source: SOURCES[s] as string };
      },
    );
  }

  /** `code` is the status-indicative response's code (101-699). */
  observeSrd(source: Source, code: number, seconds: number): void {
    this.srd.observeIndex(SOURCE_INDEX[source] * CLASS_COUNT + (Math.floor(code / 100) - 1), seconds);
  }

  /** `code` is the final response's code (200-699); `method` the CSeq method as seen. */
  observeFinal(source: Source, method: string, code: number, seconds: number): void {
    this.finalDelay.observeIndex(this.finalIndex(source, methodIndex(method), Math.floor(code / 100) - 2), seconds);
  }

  private finalIndex(source: Source, m: number, c: number): number {
    return (SOURCE_INDEX[source] * METHOD_COUNT + m) * FINAL_CLASSES + c;
  }

  /** Creates the series dashboards use at zero: SRD by class, and INVITE/REGISTER/BYE/OPTIONS by class. */
  showZeroSeries(source: Source): void {
    for (let c = 0; c < CLASS_COUNT; c++) this.srd.show(SOURCE_INDEX[source] * CLASS_COUNT + c);
    for (const m of ['INVITE', 'REGISTER', 'BYE', 'OPTIONS']) {
      for (let c = 0; c < FINAL_CLASSES; c++) this.finalDelay.show(this.finalIndex(source, methodIndex(m), c));
    }
  }
}

const perRegistry = new WeakMap<Registry, LatencyMetrics>();

/** The latency metrics of a registry, created and registered on first use (inputs may restart). */
export function latencyMetrics(registry: Registry): LatencyMetrics {
  let m = perRegistry.get(registry);
  if (!m) {
    m = new LatencyMetrics(registry);
    perRegistry.set(registry, m);
  }
  return m;
}

export type { StatusClass };
