/**
 * Call plans and the outcome table they must produce. Pure code (no processes): the expected counts
 * are derived from the plan alone, never from observation, so a test can compare what the exporter
 * (or Kamailio's acc log) reports against an independent source of truth. See ./index.ts for the
 * overview and the rules.
 */

/** Methods the harness can send. Non-INVITE requests are single transactions. */
export type PlanMethod = 'INVITE' | 'OPTIONS' | 'REGISTER' | 'MESSAGE' | 'INFO';
export const PLAN_METHODS: readonly PlanMethod[] = ['INVITE', 'OPTIONS', 'REGISTER', 'MESSAGE', 'INFO'];

/** One group of identical calls (or non-INVITE transactions) in a plan. */
export interface CallGroup {
  /** Number of calls (transactions for non-INVITE methods) in this group; at least 1. */
  count: number;
  /** Request method; default INVITE. */
  method?: PlanMethod;
  /**
   * Final response code the UAS answers with. INVITE: 200 (answered, ACK, BYE) or 300-699 (rejected).
   * Non-INVITE: 200-699. Required unless `outcome` says who decides the outcome instead.
   */
  code?: number;
  /** Reason phrase for `code`; default from REASON_PHRASES (or "Response <code>"). */
  reason?: string;
  /**
   * Outcomes that are not the UAS's code:
   *  - 'cancel'       (INVITE only) the UAS rings, the caller CANCELs: INVITE 487 (+ CANCEL 200);
   *  - 'timeout'      the UAS never answers, the proxy's fr_timer fires: a locally generated 408;
   *  - 'unknown-user' no UAS at all, the proxy answers 404 Not Found itself (no 100 Trying).
   */
  outcome?: 'cancel' | 'timeout' | 'unknown-user';
  /**
   * INVITE with code 300-699 only: the UAS ignores the proxy's ACKs and retransmits its final
   * response on UDP (Timer G) for a while. The proxy absorbs the copies; the caller sees one.
   */
  retransmit?: boolean;
  /** Caller-to-proxy transport; default 'udp'. The proxy always relays to the UAS over UDP. */
  transport?: 'udp' | 'tcp';
  /** Calls started per second (sipp -r); default 50. */
  rate?: number;
}

/** What actually runs for a group: one UAS scenario (or none) and one UAC scenario. */
export type GroupKind = 'answer' | 'reject' | 'reject-retransmit' | 'cancel' | 'timeout' | 'unknown-user' | 'non-invite';

export interface NormalizedGroup {
  kind: GroupKind;
  method: PlanMethod;
  /**
   * The final code the caller receives for the request itself (INVITE 487 for a cancel, 408 for a
   * timeout, 500 when the UAS answered 503: a proxy must not relay 503, RFC 3261 16.7, and tm doesn't).
   */
  code: number;
  /** The final code the UAS sends (= code, except 503 -> caller gets 500); undefined when no UAS answers. */
  uasCode: number | undefined;
  /** Reason phrase the UAS sends. */
  reason: string;
  count: number;
  transport: 'udp' | 'tcp';
  rate: number;
}

/** "METHOD CODE" -> count, e.g. { "INVITE 486": 3, "BYE 200": 5 }. */
export type Counts = Record<string, number>;

export interface Expected {
  /**
   * Distinct final responses, one per transaction, keyed "METHOD CODE": what the proxy sent to the
   * callers (a UAS 503 appears as the 500 the caller got). Includes "CANCEL 200" for cancelled calls.
   */
  final: Counts;
  /**
   * Distinct final responses on the wire, either leg, copies and retransmissions merged by (Call-ID,
   * CSeq, code): `final` plus the UAS's 503s that the proxy turned into 500s.
   */
  wire: Counts;
  /** "ACC: transaction answered:" lines Kamailio writes (every accounted final response, any code). */
  accAnswered: Counts;
  /**
   * "ACC: call missed:" lines (failed INVITEs, only when Kamailio runs with accMissed). They carry the
   * code of the branch's reply: 503 where "transaction answered" says 500.
   */
  accMissed: Counts;
  /** Total ACC lines the plan adds to Kamailio's log (answered + missed). */
  accLines: number;
  /** Distinct provisional responses: the proxy's "100 trying" per relayed INVITE, the UAS's 180. */
  provisional: Counts;
  /**
   * Lower bound of final-response PACKETS a capture of all proxy traffic (HEP trace_mode) sees:
   * 2 per relayed response (UAS->proxy, proxy->caller); 1 per response the proxy generates itself
   * (408 timeout, 404 unknown user); "CANCEL 200": 2 (the UAS's, absorbed, and the proxy's own);
   * a UAS 503: 1 x 503 (UAS leg) + 1 x 500 (caller leg). Retransmissions add more: compare with >=.
   */
  finalPacketsMin: Counts;
  /** Final responses the UAS retransmits (retransmit groups): each is seen 1 + (usually 2) times on the UAS leg. */
  retransmitted: Counts;
}

/** Options of the Kamailio instance that change what acc logs. */
export interface AccMode {
  /** Kamailio sets the acc missed-call flag on INVITEs (startKamailio({ accMissed: true })). */
  accMissed?: boolean;
  /** Kamailio accounts CANCEL transactions (startKamailio({ accCancel: true })). */
  accCancel?: boolean;
}

export const REASON_PHRASES: Readonly<Record<number, string>> = {
  200: 'OK', 202: 'Accepted',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  410: 'Gone', 413: 'Request Entity Too Large', 415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme',
  420: 'Bad Extension', 421: 'Extension Required', 423: 'Interval Too Brief', 480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete',
  485: 'Ambiguous', 486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here', 491: 'Request Pending',
  493: 'Undecipherable', 500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
};

export function reasonFor(code: number): string {
  return REASON_PHRASES[code] ?? `Response ${code}`;
}

/** "METHOD CODE" key used by every Counts table. */
export function countKey(method: string, code: number): string {
  return `${method} ${code}`;
}

/** Validates a group and resolves its defaults; throws on combinations the harness cannot run. */
export function normalizeGroup(g: CallGroup): NormalizedGroup {
  const what = JSON.stringify(g);
  if (!Number.isInteger(g.count) || g.count < 1) throw new Error(`call group ${what}: count must be a positive integer`);
  const method = g.method ?? 'INVITE';
  if (!PLAN_METHODS.includes(method)) throw new Error(`call group ${what}: unsupported method ${method}`);
  const transport = g.transport ?? 'udp';
  if (transport !== 'udp' && transport !== 'tcp') throw new Error(`call group ${what}: transport must be udp or tcp`);
  const rate = g.rate ?? 50;
  if (!(rate > 0)) throw new Error(`call group ${what}: rate must be > 0`);
  const base = { method, count: g.count, transport, rate };
  if (g.outcome !== undefined && g.code !== undefined) throw new Error(`call group ${what}: give either code or outcome`);
  if (g.retransmit && (method !== 'INVITE' || g.code === undefined || g.code < 300)) {
    throw new Error(`call group ${what}: retransmit needs an INVITE with a code 300-699`);
  }
  switch (g.outcome) {
    case 'cancel':
      if (method !== 'INVITE') throw new Error(`call group ${what}: cancel needs INVITE`);
      return { ...base, kind: 'cancel', code: 487, uasCode: 487, reason: 'Request Terminated' };
    case 'timeout':
      return { ...base, kind: 'timeout', code: 408, uasCode: undefined, reason: 'Request Timeout' };
    case 'unknown-user':
      return { ...base, kind: 'unknown-user', code: 404, uasCode: undefined, reason: 'Not Found' };
    case undefined:
      break;
    default:
      throw new Error(`call group ${what}: unknown outcome`);
  }
  const code = g.code;
  if (code === undefined || !Number.isInteger(code)) throw new Error(`call group ${what}: code or outcome required`);
  const reason = g.reason ?? reasonFor(code);
  if (/[\r\n]/.test(reason)) throw new Error(`call group ${what}: reason must be one line`);
  const relayed = code === 503 ? 500 : code;
  if (method === 'INVITE') {
    if (code === 200) return { ...base, kind: 'answer', code, uasCode: code, reason: 'OK' };
    if (code >= 300 && code <= 699) return { ...base, kind: g.retransmit ? 'reject-retransmit' : 'reject', code: relayed, uasCode: code, reason };
    throw new Error(`call group ${what}: INVITE code must be 200 or 300-699`);
  }
  if (code >= 200 && code <= 699) return { ...base, kind: 'non-invite', code: relayed, uasCode: code, reason };
  throw new Error(`call group ${what}: code must be 200-699`);
}

function add(c: Counts, method: string, code: number, n: number): void {
  const k = countKey(method, code);
  c[k] = (c[k] ?? 0) + n;
}

/**
 * The outcome table a plan must produce. Rules (verified against Kamailio 5.6.3 with the harness's
 * kamailio.cfg, which flags every request except ACK for accounting, failed ones included):
 *  - answer  (INVITE 200): INVITE 200 + BYE 200 per call, both "transaction answered".
 *  - reject  (INVITE c):   INVITE c; with accMissed also one "call missed" line for it.
 *                          A UAS 503 reaches the caller as 500 (tm, RFC 3261 16.7): "transaction
 *                          answered" says code=500;reason=Server Internal Error, "call missed" says 503.
 *  - cancel:               INVITE 487 (+ missed); CANCEL 200 is sent by the proxy itself and logged only
 *                          with accCancel (acc writes reason "OK", the wire says "canceling").
 *  - timeout:              METHOD 408 "Request Timeout", generated by the proxy (+ missed for INVITE).
 *  - unknown-user:         METHOD 404 "Not Found", generated by the proxy (+ missed for INVITE).
 *  - non-invite (M c):     M c.
 * Provisional responses (100, 180) are never accounted.
 */
export function expectedOutcome(plan: readonly CallGroup[], mode: AccMode = {}): Expected {
  const e = emptyExpected();
  for (const raw of plan) {
    const g = normalizeGroup(raw);
    const n = g.count;
    const m = g.method;
    add(e.final, m, g.code, n);
    add(e.wire, m, g.code, n);
    add(e.accAnswered, m, g.code, n);
    if (m === 'INVITE' && g.code >= 300 && mode.accMissed) add(e.accMissed, m, g.uasCode ?? g.code, n);
    if (g.uasCode === undefined) {
      add(e.finalPacketsMin, m, g.code, n); // generated by the proxy: one packet, to the caller
    } else if (g.uasCode !== g.code) {
      add(e.wire, m, g.uasCode, n); // 503 from the UAS, absorbed; the proxy sends its own 500
      add(e.finalPacketsMin, m, g.uasCode, n);
      add(e.finalPacketsMin, m, g.code, n);
    } else {
      add(e.finalPacketsMin, m, g.code, 2 * n);
    }
    if (m === 'INVITE' && g.kind !== 'unknown-user') add(e.provisional, m, 100, n);
    switch (g.kind) {
      case 'answer':
        add(e.provisional, m, 180, n);
        add(e.final, 'BYE', 200, n);
        add(e.wire, 'BYE', 200, n);
        add(e.accAnswered, 'BYE', 200, n);
        add(e.finalPacketsMin, 'BYE', 200, 2 * n);
        break;
      case 'cancel':
        add(e.provisional, m, 180, n);
        add(e.final, 'CANCEL', 200, n);
        add(e.wire, 'CANCEL', 200, n);
        if (mode.accCancel) add(e.accAnswered, 'CANCEL', 200, n);
        add(e.finalPacketsMin, 'CANCEL', 200, 2 * n);
        break;
      case 'reject-retransmit':
        add(e.retransmitted, m, g.uasCode ?? g.code, n);
        break;
      default:
        break;
    }
  }
  e.accLines = sum(e.accAnswered) + sum(e.accMissed);
  return e;
}

export function sum(c: Counts): number {
  let t = 0;
  for (const v of Object.values(c)) t += v;
  return t;
}

/** Adds tables of several runs on the same Kamailio (e.g. to wait for all their ACC lines). */
function emptyExpected(): Expected {
  return { final: {}, wire: {}, accAnswered: {}, accMissed: {}, accLines: 0, provisional: {}, finalPacketsMin: {}, retransmitted: {} };
}

export function mergeExpected(...all: Expected[]): Expected {
  const out = emptyExpected();
  const tables = ['final', 'wire', 'accAnswered', 'accMissed', 'provisional', 'finalPacketsMin', 'retransmitted'] as const;
  for (const e of all) {
    for (const t of tables) for (const [k, v] of Object.entries(e[t])) out[t][k] = (out[t][k] ?? 0) + v;
    out.accLines += e.accLines;
  }
  return out;
}
