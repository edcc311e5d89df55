import { ValueType, type Attributes, type Meter, type Observable, type ObservableResult } from '@opentelemetry/api';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Pipeline } from '../../pipeline.js';
import type { DenseCounter } from '../dense.js';
import { attributeTable, NOT_MIRRORED, otelName, SIP_ATTRIBUTES, SIP_COUNTERS, toAttributes } from './names.js';

/**
 * Mirrors the Prometheus metrics into OpenTelemetry instruments created through @opentelemetry/api.
 *
 * Every instrument is asynchronous (observable): its callback reads the same state /metrics reads,
 * at collection time, once per export interval. The hot path (one Float64Array increment per event,
 * see Pipeline) does not change at all when OpenTelemetry is on, and both outputs always agree.
 *
 * - sip.responses / sip.requests / sip.response_duplicates read the DenseCounter arrays directly
 *   (cumulative values, attribute objects built once per series and cached).
 * - Every other sip_* counter and gauge, above all the exporter's own sip_exporter_* ones, is read
 *   from the prom-client registry with metric.get(), whoever registered it (inputs add their own);
 *   new ones are picked up by refresh(), which also runs after each collection.
 * - Histograms cannot be observed through the API; histograms.ts mirrors them as a MetricProducer.
 */
export class OtelBridge {
  private readonly mirrored = new Map<string, Observable>();
  private refreshScheduled = false;

  constructor(private readonly meter: Meter, private readonly pipeline: Pipeline) {
    const { sip } = pipeline;
    this.observeDense(sip.responses, SIP_COUNTERS.responses, 'Distinct SIP responses seen, by status code, class, catalogue reason phrase, CSeq method and input source (retransmitted and relayed copies not counted).');
    this.observeDense(sip.requests, SIP_COUNTERS.requests, 'Distinct SIP requests seen, by CSeq method and input source (only inputs that carry requests, such as HEP, count them).');
    this.observeDense(sip.duplicates, SIP_COUNTERS.duplicates, 'Copies of an already counted SIP response, by kind (retransmission or relayed) and input source.');
    this.refresh();
  }

  private observeDense(dense: DenseCounter, spec: { name: string; unit: string }, description: string): void {
    const cache = new Array<Attributes | undefined>(dense.values.length);
    const counter = this.meter.createObservableCounter(spec.name, { description, unit: spec.unit, valueType: ValueType.INT });
    counter.addCallback((result) => {
      dense.forEach((labels, value, i) => {
        let attrs = cache[i];
        if (attrs === undefined) {
          attrs = toAttributes(labels, SIP_ATTRIBUTES);
          cache[i] = attrs;
        }
        result.observe(value, attrs);
      });
    });
  }

  /**
   * Creates instruments for sip_* counters and gauges (the exporter's own sip_exporter_* ones, and any
   * SIP metric an input adds) registered since the last call
   * (a pass over the registry's few dozen metric objects; nothing is collected here).
   */
  refresh(): void {
    const registry: Registry = this.pipeline.registry;
    for (const m of registry.getMetricsAsArray()) {
      const prom = m.name;
      if (!prom.startsWith('sip_') || NOT_MIRRORED.has(prom) || this.mirrored.has(prom)) continue;
      const isCounter = m instanceof Counter;
      if (!isCounter && !(m instanceof Gauge)) continue; // histograms: see histograms.ts; summaries: not used
      const { name, unit } = otelName(prom);
      const opts = { description: m.help, unit, valueType: ValueType.DOUBLE };
      const instrument = isCounter ? this.meter.createObservableCounter(name, opts) : this.meter.createObservableGauge(name, opts);
      const table = attributeTable(prom);
      instrument.addCallback(async (result: ObservableResult) => {
        this.scheduleRefresh();
        // Looked up by name each time, so a metric that was removed and registered anew is followed.
        const metric = registry.getSingleMetric(prom) as Counter<string> | Gauge<string> | undefined;
        if (metric === undefined) return;
        const data = await metric.get();
        for (const v of data.values) result.observe(v.value, toAttributes(v.labels, table));
      });
      this.mirrored.set(prom, instrument);
    }
  }

  /**
   * Called from inside a collection: instruments must not be created while the SDK iterates its
   * callbacks, so the check runs right after it; a new metric shows up from the next export on.
   */
  private scheduleRefresh(): void {
    if (this.refreshScheduled) return;
    this.refreshScheduled = true;
    setImmediate(() => {
      this.refreshScheduled = false;
      this.refresh();
    });
  }
}
