import { parseStatusCode } from '../../classify/status.js';
import type { ParseResult, SipEvent } from '../../event.js';

/**
 * Kamailio and OpenSIPS `acc` module records in log mode:
 *
 *   ACC: transaction answered: timestamp=1504783013;method=INVITE;from_tag=..;to_tag=..;call_id=..;code=486;reason=Busy Here[;extra=..]
 *
 * Records: request accounted, transaction answered, call missed and call ended (OpenSIPS CDR) count;
 * request acknowledged (an ACK, report_ack) does not: it repeats the code of the reply the ACK confirms.
 * The fixed keys (method, from_tag, to_tag, call_id, code, reason) come before any extra keys, values are
 * not escaped, keys may repeat in extras (multi-leg CDRs), and whatever prefix the logger put in front of
 * `ACC: ` (syslog header, Kamailio stderr `N(pid) LEVEL:`, journald, OpenSIPS `LEVEL:module:func:`) is
 * ignored. The first occurrence of a key wins.
 */

export const ACC_MARKER = 'ACC: ';

/** Which record the last parseAcc() call read (module state, so the hot path allocates nothing for it). */
export const ACC_OTHER = 0;
export const ACC_ANSWERED = 1;
export const ACC_MISSED = 2;
export let lastAccKind = ACC_OTHER;

const SEMI = 59;

/** Standard methods as constants: the hot path returns these instead of allocating a substring. */
const METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE'];

/** The constant for a standard method (its hash is computed once), else the string itself. */
function internMethod(m: string): string {
  switch (m.length) {
    case 6:
      return m === 'INVITE' ? 'INVITE' : m === 'CANCEL' ? 'CANCEL' : m === 'NOTIFY' ? 'NOTIFY' : m === 'UPDATE' ? 'UPDATE' : m;
    case 3:
      return m === 'BYE' ? 'BYE' : m === 'ACK' ? 'ACK' : m;
    case 8:
      return m === 'REGISTER' ? 'REGISTER' : m;
    case 7:
      return m === 'OPTIONS' ? 'OPTIONS' : m === 'PUBLISH' ? 'PUBLISH' : m === 'MESSAGE' ? 'MESSAGE' : m;
    default:
      return m;
  }
}

function methodAt(s: string, v: number, end: number): string {
  const len = end - v;
  for (const m of METHODS) if (m.length === len && s.startsWith(m, v)) return m;
  return s.slice(v, end);
}

/** Index of the value of `key` ("method=") at or after `from`, where the key starts a field; else -1. */
function valueOf(s: string, key: string, from: number, fields: number): number {
  let i = s.indexOf(key, from);
  while (i >= 0) {
    if (i === fields || s.charCodeAt(i - 1) === SEMI) return i + key.length;
    i = s.indexOf(key, i + 1);
  }
  return -1;
}

function valueEnd(s: string, v: number): number {
  const e = s.indexOf(';', v);
  return e < 0 ? s.length : e;
}

/**
 * Parses the acc record whose `ACC: ` marker is at `at` in `s` (one line without its newline).
 * Returns undefined when the text after the marker is not an acc record that counts. Lines that may
 * hold rsyslog escapes are un-escaped by the caller before they get here.
 *
 * This is the hot path of the log input, one call per acc line: a few native substring searches that
 * hop over the fields in their fixed order (method, from_tag, to_tag, call_id, code, reason), and
 * substrings only for what the event carries. The to_tag is not extracted (log events are not
 * de-duplicated, so nothing would use it).
 */
export function parseAcc(s: string, at: number): ParseResult {
  return parseAccIn(s, at, s.length);
}

/**
 * parseAcc() for the line s[lineStart?, end) inside a larger text (a decoded chunk), without copying the
 * line out first: the fast expression cannot cross a newline, and only a match that ends within the
 * line counts.
 */
export function parseAccIn(s: string, at: number, end: number): ParseResult {
  // The common, well-formed record in one regular-expression match (one native call); anything else
  // (missing or out-of-order keys, broken codes, escapes) goes through the careful parser below.
  FAST.lastIndex = at;
  const m = FAST.exec(s);
  // lastIndex is where the match ended (sticky expression): no need to look at the matched text.
  if (m !== null && FAST.lastIndex <= end) {
    const method = internMethod(m[1] as string);
    const callId = m[2] as string;
    const reason = m[3] as string;
    // "t"ransaction answered, "call m"issed, "call e"nded, "r"equest accounted
    const k = s.charCodeAt(at + 5);
    lastAccKind = k === 116 ? ACC_ANSWERED : k === 99 && s.charCodeAt(at + 10) === 109 ? ACC_MISSED : ACC_OTHER;
    // The code is the three digits before ";reason=", which ends the match with the reason.
    const c = FAST.lastIndex - reason.length - 11;
    const code = (s.charCodeAt(c) - 48) * 100 + (s.charCodeAt(c + 1) - 48) * 10 + (s.charCodeAt(c + 2) - 48);
    const r: SipEvent = {
      code,
      reason: reason.length > 0 && reason.charCodeAt(reason.length - 1) <= 32 ? reason.trimEnd() : reason,
      method,
      callId: callId === '' ? undefined : callId,
    };
    return r;
  }
  return end === s.length ? parseAccCareful(s, at) : parseAccCareful(s.slice(at, end), 0);
}

/**
 * transaction answered|call missed|request accounted|call ended, any fields, then the first method field,
 * any fields, the first call_id field immediately followed by a valid three-digit code and the reason.
 * The skipped fields may not start with the key looked for, so there is exactly one way to match and no
 * backtracking over combinations of repeated keys: linear time on any input.
 */
const FAST = /ACC: (?:transaction answered|call missed|request accounted|call ended): (?:(?!method=)[^;\n]*;)*method=([^;\n]*);(?:(?!call_id=)[^;\n]*;)*call_id=([^;\n]*);code=[1-6]\d\d;reason=([^;\n]*)/y;

function parseAccCareful(s: string, at: number): ParseResult {
  const p = at + ACC_MARKER.length;
  let fields = -1;
  lastAccKind = ACC_OTHER;
  switch (s.charCodeAt(p)) {
    case 116: // t
      if (s.startsWith('transaction answered: ', p)) {
        fields = p + 22;
        lastAccKind = ACC_ANSWERED;
      }
      break;
    case 114: // r
      if (s.startsWith('request accounted: ', p)) fields = p + 19;
      break;
    case 99: // c
      if (s.startsWith('call missed: ', p)) {
        fields = p + 13;
        lastAccKind = ACC_MISSED;
      } else if (s.startsWith('call ended: ', p)) fields = p + 12;
      break;
  }
  if (fields < 0) return undefined;

  // The fixed keys come first and in order, so each search starts where the previous value ended; a key
  // not found that way is looked for again from the start. The first match is always the fixed key,
  // even when extras repeat a key (multi-leg records).
  let from = fields;
  let method = '';
  const mv = valueOf(s, 'method=', fields, fields);
  if (mv >= 0) {
    const me = valueEnd(s, mv);
    method = methodAt(s, mv, me);
    from = me;
  }
  let kv = valueOf(s, 'code=', from, fields);
  if (kv < 0 && from > fields) kv = valueOf(s, 'code=', fields, fields);
  if (kv < 0) return { error: 'missing_code' };
  let cv = valueOf(s, 'call_id=', from, fields);
  if (cv < 0 || cv > kv) cv = valueOf(s, 'call_id=', fields, fields);
  let callId: string | undefined;
  if (cv >= 0) {
    // call_id comes right before code; a Call-ID never contains ';' (RFC 3261 word).
    const ce = cv < kv ? kv - 6 : valueEnd(s, cv);
    if (ce > cv) callId = s.slice(cv, ce);
  }

  const ke = valueEnd(s, kv);
  let code: number | undefined;
  if (ke - kv === 3) {
    const a = s.charCodeAt(kv) - 48;
    const b = s.charCodeAt(kv + 1) - 48;
    const c = s.charCodeAt(kv + 2) - 48;
    if (a >= 1 && a <= 6 && b >= 0 && b <= 9 && c >= 0 && c <= 9) code = a * 100 + b * 10 + c;
  }
  if (code === undefined) {
    const t = s.slice(kv, ke).trim();
    code = parseStatusCode(t);
    if (code === undefined) {
      // acc writes code=0 (or nothing) for records without a reply, e.g. acc_log_request() with a text comment.
      if (t === '' || t === '0') return undefined;
      return { error: 'invalid_code' };
    }
  }
  let reason = '';
  const rv = s.startsWith(';reason=', ke) ? ke + 8 : valueOf(s, 'reason=', ke, fields);
  if (rv >= 0) {
    let re = valueEnd(s, rv);
    while (re > rv && s.charCodeAt(re - 1) <= 32) re--;
    reason = s.slice(rv, re);
  }

  // One object shape for every record keeps the consumers' property accesses monomorphic.
  const ev: SipEvent = { code, reason, method, callId };
  return ev;
}
