import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram as OtelHistogram,
  type HistogramMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { Histogram, type Registry } from 'prom-client';
import { attributeTable, otelName, toAttributes } from './names.js';

interface Series {
  attributes: Attributes;
  /** Start of the data point: process start (cumulative), the previous collection (delta). */
  start: HrTime;
  /** Cumulative state at the previous collection (delta temporality). */
  prev?: { counts: number[]; sum: number; count: number };
}

interface Family {
  name: string;
  unit: string;
  description: string;
  series: Map<string, Series>;
}

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

/**
 * Mirrors prom-client histograms named sip_* into OTLP histograms at collection time.
 *
 * The OpenTelemetry API has no asynchronous histogram, and recording every observation a second
 * time through a synchronous OTel histogram would double the hot-path cost (attribute hashing per
 * call). Instead this MetricProducer (an SDK extension point of the MetricReader) reads the
 * prom-client histograms once per export and converts them: Prometheus' cumulative `le` buckets
 * become OTLP explicit-bucket counts with the same boundaries, plus sum and count. Delta temporality
 * is computed here from the previous collection. Histograms registered later are picked up.
 */
export class HistogramMirror implements MetricProducer {
  private readonly families = new Map<string, Family>();

  constructor(
    private readonly registry: Registry,
    private readonly resource: Resource,
    private readonly scope: { name: string; version: string },
    private readonly temporality: AggregationTemporality,
  ) {}

  async collect(): Promise<CollectionResult> {
    const now = Date.now();
    const metrics: HistogramMetricData[] = [];
    const errors: unknown[] = [];
    for (const m of this.registry.getMetricsAsArray()) {
      if (!(m instanceof Histogram) || !m.name.startsWith('sip_')) continue;
      try {
        const data = await (m as Histogram<string>).get();
        metrics.push(this.convert(m.name, data.help, data.values, now));
      } catch (err) {
        errors.push(err);
      }
    }
    return {
      resourceMetrics: { resource: this.resource, scopeMetrics: metrics.length > 0 ? [{ scope: this.scope, metrics }] : [] },
      errors,
    };
  }

  private convert(prom: string, help: string, values: { value: number; labels: Record<string, string | number | undefined>; metricName?: string }[], now: number): HistogramMetricData {
    let fam = this.families.get(prom);
    if (!fam) {
      const { name, unit } = otelName(prom);
      fam = { name, unit, description: help, series: new Map() };
      this.families.set(prom, fam);
    }
    // Group the flat prom-client samples (_bucket{le}, _sum, _count) by label set.
    const groups = new Map<string, { labels: Record<string, string | number | undefined>; le: [number, number][]; sum: number; count: number }>();
    for (const v of values) {
      const { le, ...labels } = v.labels;
      const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
      let g = groups.get(key);
      if (!g) {
        g = { labels, le: [], sum: 0, count: 0 };
        groups.set(key, g);
      }
      if (v.metricName === `${prom}_bucket`) g.le.push([le === '+Inf' ? Infinity : Number(le), v.value]);
      else if (v.metricName === `${prom}_sum`) g.sum = v.value;
      else if (v.metricName === `${prom}_count`) g.count = v.value;
    }
    const table = attributeTable(prom);
    const dataPoints: DataPoint<OtelHistogram>[] = [];
    const end = hr(now);
    for (const [key, g] of groups) {
      g.le.sort((a, b) => a[0] - b[0]);
      const boundaries = g.le.filter(([b]) => Number.isFinite(b)).map(([b]) => b);
      const counts: number[] = [];
      let below = 0;
      for (const [, cum] of g.le.filter(([b]) => Number.isFinite(b))) {
        counts.push(cum - below);
        below = cum;
      }
      counts.push(g.count - below);
      let s = fam.series.get(key);
      if (!s) {
        // prom-client counts from process start, so that is where the first interval begins.
        s = { attributes: toAttributes(g.labels, table), start: hr(performance.timeOrigin) };
        fam.series.set(key, s);
      }
      if (this.temporality === AggregationTemporality.DELTA) {
        const prev = s.prev;
        const delta = {
          counts: counts.map((c, i) => c - (prev?.counts[i] ?? 0)),
          sum: g.sum - (prev?.sum ?? 0),
          count: g.count - (prev?.count ?? 0),
        };
        dataPoints.push({ startTime: s.start, endTime: end, attributes: s.attributes, value: { buckets: { boundaries, counts: delta.counts }, sum: delta.sum, count: delta.count } });
        s.prev = { counts, sum: g.sum, count: g.count };
        s.start = end;
      } else {
        dataPoints.push({ startTime: s.start, endTime: end, attributes: s.attributes, value: { buckets: { boundaries, counts }, sum: g.sum, count: g.count } });
      }
    }
    return {
      descriptor: { name: fam.name, description: fam.description, unit: fam.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: this.temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}
