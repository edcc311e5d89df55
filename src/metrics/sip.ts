import { Gauge, type Registry } from 'prom-client';
import type { Catalogue } from '../classify/catalogue.js';
import { METHOD_COUNT, METHOD_LABELS, methodIndex } from '../classify/methods.js';
import { classOf, MAX_CODE, MIN_CODE } from '../classify/status.js';
import { SOURCES, type Source } from '../event.js';
import { DenseCounter } from './dense.js';

const CODE_COUNT = MAX_CODE - MIN_CODE + 1;
export const SOURCE_INDEX: Record<Source, number> = { log: 0, hep: 1, syslog: 2 };

/** Series created at zero at start-up for each enabled source: the codes alerts and dashboards watch. */
export const ZERO_SERIES: Readonly<Record<string, readonly number[]>> = {
  INVITE: [100, 180, 183, 200, 301, 302, 401, 403, 404, 407, 408, 480, 486, 487, 488, 500, 502, 503, 504, 603],
  REGISTER: [200, 401, 403, 404, 408, 423, 500, 503],
  OPTIONS: [200, 404, 408, 503],
  BYE: [200, 408, 481],
  CANCEL: [200],
};

export const DUPLICATE_KINDS = ['retransmission', 'relayed'] as const;
export type DuplicateKind = (typeof DUPLICATE_KINDS)[number];

/**
 * The SIP metrics of the contract (README "Metrics"): distinct responses by code/class/reason/method/
 * source, requests by method/source, and duplicate copies. Label values come only from closed sets
 * (catalogue, METHOD_LABELS, SOURCES), so untrusted input can never create new label values beyond
 * 600 codes x 16 methods x 3 sources.
 */
export class SipMetrics {
  readonly responses: DenseCounter;
  readonly requests: DenseCounter;
  readonly duplicates: DenseCounter;
  readonly codeInfo: Gauge<string>;

  constructor(registry: Registry, catalogue: Catalogue) {
    const reasons = catalogue.reasonLabels;
    this.responses = new DenseCounter(
      registry,
      'sip_responses_total',
      'Distinct SIP responses seen, by status code, class, catalogue reason phrase, CSeq method and input source. Retransmitted and relayed copies of the same response are not counted here (see sip_response_duplicates_total).',
      ['code', 'class', 'reason', 'method', 'source'],
      SOURCES.length * METHOD_COUNT * CODE_COUNT,
      (i) => {
        const codeIdx = i % CODE_COUNT;
        const rest = (i - codeIdx) / CODE_COUNT;
        const m = rest % METHOD_COUNT;
        const s = (rest - m) / METHOD_COUNT;
        const code = codeIdx + MIN_CODE;
        return {
          code: String(code),
          class: classOf(code),
          reason: reasons[codeIdx] as string,
          method: METHOD_LABELS[m] as string,
          source: SOURCES[s] as string,
        };
      },
    );
    this.requests = new DenseCounter(
      registry,
      'sip_requests_total',
      'Distinct SIP requests seen, by CSeq method and input source. Only inputs that carry requests (HEP) count them; retransmitted and relayed copies are not counted.',
      ['method', 'source'],
      SOURCES.length * METHOD_COUNT,
      (i) => ({ method: METHOD_LABELS[i % METHOD_COUNT] as string, source: SOURCES[Math.floor(i / METHOD_COUNT)] as string }),
    );
    this.duplicates = new DenseCounter(
      registry,
      'sip_response_duplicates_total',
      'Copies of an already counted SIP response, by kind: retransmission (same source and destination as the first copy) or relayed (the same response on another leg, e.g. mirrored by a proxy). A response is identified by Call-ID, CSeq number, CSeq method, status code and To-tag within the deduplication window.',
      ['kind', 'source'],
      SOURCES.length * DUPLICATE_KINDS.length,
      (i) => ({ kind: DUPLICATE_KINDS[i % DUPLICATE_KINDS.length] as string, source: SOURCES[Math.floor(i / DUPLICATE_KINDS.length)] as string }),
    );
    this.codeInfo = new Gauge({
      name: 'sip_response_code_info',
      help: 'Catalogue entry of each known SIP status code (value 1), so dashboards can show the reason phrase, meaning, likely causes and actions next to the counts by joining on the code label.',
      labelNames: ['code', 'class', 'reason', 'rfc', 'registered', 'legacy', 'deprecated', 'expected', 'meaning', 'causes', 'actions'],
      registers: [registry],
    });
    for (const e of catalogue.entries()) {
      this.codeInfo.set(
        {
          code: String(e.code),
          class: e.class,
          reason: e.reason,
          rfc: e.rfc,
          registered: String(e.registered),
          legacy: String(e.legacy),
          deprecated: String(e.deprecated),
          expected: String(e.expected),
          meaning: e.meaning,
          causes: e.causes.join('; '),
          actions: e.actions.join('; '),
        },
        1,
      );
    }
  }

  responseIndex(code: number, method: string, source: Source): number {
    return (SOURCE_INDEX[source] * METHOD_COUNT + methodIndex(method)) * CODE_COUNT + (code - MIN_CODE);
  }

  requestIndex(method: string, source: Source): number {
    return SOURCE_INDEX[source] * METHOD_COUNT + methodIndex(method);
  }

  duplicateIndex(kind: DuplicateKind, source: Source): number {
    return SOURCE_INDEX[source] * DUPLICATE_KINDS.length + DUPLICATE_KINDS.indexOf(kind);
  }

  /**
   * Creates the common series at zero for an enabled source. Request and duplicate series only make
   * sense for inputs that see every copy of every message (HEP).
   */
  showZeroSeries(source: Source, opts: { requests: boolean }): void {
    for (const [method, codes] of Object.entries(ZERO_SERIES)) {
      for (const code of codes) this.responses.show(this.responseIndex(code, method, source));
      if (opts.requests) this.requests.show(this.requestIndex(method, source));
    }
    if (opts.requests) for (const kind of DUPLICATE_KINDS) this.duplicates.show(this.duplicateIndex(kind, source));
  }
}
