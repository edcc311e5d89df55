import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client';
import { SOURCES, type Source } from '../event.js';
import { PACKAGE } from '../paths.js';
import { SOURCE_INDEX } from './sip.js';
import { DenseCounter } from './dense.js';

/**
 * The exporter's own health metrics (prefix sip_exporter_) plus Node.js process metrics. Parse errors
 * and drops are labelled by a short reason chosen by the code (a closed set), never by input text.
 */
export class SelfMetrics {
  readonly events: DenseCounter;
  readonly parseErrors: Counter<'source' | 'reason'>;
  readonly dropped: Counter<'source' | 'reason'>;
  readonly inputUp: Gauge<'source'>;
  readonly buildInfo: Gauge<string>;
  readonly configReloads: Counter<'result'>;

  constructor(registry: Registry) {
    this.events = new DenseCounter(
      registry,
      'sip_exporter_events_total',
      'SIP response events produced by each input source and handed to the classifier, before deduplication.',
      ['source'],
      SOURCES.length,
      (i) => ({ source: SOURCES[i] as string }),
    );
    this.parseErrors = new Counter({
      name: 'sip_exporter_parse_errors_total',
      help: 'Input that looked like SIP response evidence but could not be used, by input source and reason (for example invalid_code for code=9x9 or 700).',
      labelNames: ['source', 'reason'],
      registers: [registry],
    });
    this.dropped = new Counter({
      name: 'sip_exporter_dropped_total',
      help: 'Input the exporter had to discard without parsing it, by input source and reason (for example line_too_long or queue_full).',
      labelNames: ['source', 'reason'],
      registers: [registry],
    });
    this.inputUp = new Gauge({
      name: 'sip_exporter_input_up',
      help: 'Whether each configured input source is running (1) or failed to start or stopped (0). Absent for inputs that are not configured.',
      labelNames: ['source'],
      registers: [registry],
    });
    this.configReloads = new Counter({
      name: 'sip_exporter_config_reloads_total',
      help: 'Configuration reload attempts, by result (success or failure).',
      labelNames: ['result'],
      registers: [registry],
    });
    this.buildInfo = new Gauge({
      name: 'sip_exporter_build_info',
      help: 'Build information of the running exporter (value 1): version and Node.js version.',
      labelNames: ['version', 'nodejs'],
      registers: [registry],
    });
    this.buildInfo.set({ version: PACKAGE.version, nodejs: process.version }, 1);
    for (const r of ['success', 'failure']) this.configReloads.inc({ result: r }, 0);
    collectDefaultMetrics({ register: registry });
    // prom-client exposes these gauges with a _total suffix, which Prometheus reserves for counters
    // (promtool check metrics fails on them); the per-type gauges without the suffix carry the same data.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }

  eventIndex(source: Source): number {
    return SOURCE_INDEX[source];
  }

  /** Creates the per-source series at zero when an input is enabled. */
  enableSource(source: Source, parseErrorReasons: readonly string[], dropReasons: readonly string[]): void {
    this.events.show(this.eventIndex(source));
    for (const reason of parseErrorReasons) this.parseErrors.inc({ source, reason }, 0);
    for (const reason of dropReasons) this.dropped.inc({ source, reason }, 0);
  }
}
