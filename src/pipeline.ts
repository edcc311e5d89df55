import { Registry } from 'prom-client';
import type { Catalogue } from './classify/catalogue.js';
import { isValidCode } from './classify/status.js';
import type { ParseResult, SipEvent, Source } from './event.js';
import { SelfMetrics } from './metrics/self.js';
import { SipMetrics, type DuplicateKind } from './metrics/sip.js';

/**
 * The one place where events are classified and counted. Every input calls into this object; it
 * owns the prom-client registry with the SIP metrics and the exporter's own metrics.
 *
 * Classification is an array lookup (code -> class/reason label, method -> closed label set), so the
 * hot path is two array increments per event.
 */
export class Pipeline {
  readonly registry = new Registry();
  readonly sip: SipMetrics;
  readonly self: SelfMetrics;

  constructor(readonly catalogue: Catalogue) {
    this.sip = new SipMetrics(this.registry, catalogue);
    this.self = new SelfMetrics(this.registry);
  }

  /** Counts one distinct SIP response. The code must already be valid (parsers validate it). */
  response(source: Source, ev: SipEvent): void {
    if (!isValidCode(ev.code)) {
      // A parser bug, not bad input: parsers must reject invalid codes themselves. Count, never label.
      this.parseError(source, 'invalid_code');
      return;
    }
    this.self.events.values[this.self.eventIndex(source)]! += 1;
    this.sip.responses.values[this.sip.responseIndex(ev.code, ev.method, source)]! += 1;
  }

  /** Feeds one parser result: counts the event or the error, ignores non-SIP input. */
  accept(source: Source, r: ParseResult): void {
    if (r === undefined) return;
    if ('error' in r) this.parseError(source, r.error);
    else this.response(source, r);
  }

  request(source: Source, method: string): void {
    this.sip.requests.values[this.sip.requestIndex(method, source)]! += 1;
  }

  duplicate(source: Source, kind: DuplicateKind): void {
    this.sip.duplicates.values[this.sip.duplicateIndex(kind, source)]! += 1;
  }

  parseError(source: Source, reason: string, n = 1): void {
    this.self.parseErrors.inc({ source, reason }, n);
  }

  drop(source: Source, reason: string, n = 1): void {
    this.self.dropped.inc({ source, reason }, n);
  }

  /** Marks an input as configured: its common series appear at zero from the first scrape. */
  enableSource(source: Source, opts: { requests?: boolean; parseErrorReasons?: readonly string[]; dropReasons?: readonly string[] } = {}): void {
    this.sip.showZeroSeries(source, { requests: opts.requests ?? false });
    this.self.enableSource(source, opts.parseErrorReasons ?? [], opts.dropReasons ?? []);
  }

  setInputUp(source: Source, up: boolean): void {
    this.self.inputUp.set({ source }, up ? 1 : 0);
  }

  async exposition(): Promise<string> {
    return this.registry.metrics();
  }
}
