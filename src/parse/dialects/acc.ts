import { parseStatusCode } from '../../classify/status.js';
import type { ParseResult, SipEvent } from '../../event.js';

/**
 * Kamailio and OpenSIPS `acc` module records in log mode:
 *
 *   ACC: transaction answered: timestamp=1504783013;method=INVITE;from_tag=..;to_tag=..;call_id=..;code=486;reason=Busy Here[;extra=..]
 *
 * Events: request accounted, transaction answered, call missed, call ended (OpenSIPS CDR) count;
 * request acknowledged (an ACK) does not. The
 * fixed keys (method, from_tag, to_tag, call_id, code, reason) come before any extra keys, values are not
 * escaped, keys may repeat in extras (multi-leg), and whatever prefix the logger put in front of `ACC: `
 * (syslog header, Kamailio stderr `N(pid) LEVEL:`, journald, OpenSIPS `LEVEL:module:func:`) is ignored.
 */

export const ACC_MARKER = 'ACC: ';

/** Which record the last parseAcc() call read (set on every call, so the hot path allocates nothing for it). */
export const ACC_OTHER = 0;
export const ACC_ANSWERED = 1;
export const ACC_MISSED = 2;
export let lastAccKind = ACC_OTHER;

const SEMI = 59;

/** Index where the value of `key` ("method=") starts, for a key at `from` or right after a ';'; else -1. */
function valueOf(s: string, key: string, from: number): number {
  let i = s.indexOf(key, from);
  while (i >= 0) {
    if (i === from || s.charCodeAt(i - 1) === SEMI) return i + key.length;
    i = s.indexOf(key, i + 1);
  }
  return -1;
}

function valueEnd(s: string, v: number): number {
  const e = s.indexOf(';', v);
  return e < 0 ? s.length : e;
}

/**
 * Parses the acc record whose `ACC: ` marker is at `at` in `s` (a single line without its newline).
 * Returns undefined when the text after the marker is not an acc record.
 */
export function parseAcc(s: string, at: number): ParseResult {
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
      // `request acknowledged` records an ACK (report_ack): it repeats the code of the reply the ACK
      // confirms, which the INVITE's own record already counted. ACK has no response of its own.
      else if (s.startsWith('request acknowledged: ', p)) return undefined;
      break;
    case 99: // c
      if (s.startsWith('call missed: ', p)) {
        fields = p + 13;
        lastAccKind = ACC_MISSED;
      }
      else if (s.startsWith('call ended: ', p)) fields = p + 12;
      break;
  }
  if (fields < 0) return undefined;

  // The fixed keys come first and in this order, so each is searched from where the previous one ended
  // (one pass over the line); a key not found that way is searched again from the start of the fields,
  // and because fixed keys precede extras, the first match is the fixed one even when extras repeat a key.
  let at2 = fields;
  let method = '';
  const mv = valueOf(s, 'method=', fields);
  if (mv >= 0) {
    const me = valueEnd(s, mv);
    method = s.slice(mv, me);
    at2 = me;
  }
  let toTag: string | undefined;
  let tv = valueOf(s, 'to_tag=', at2);
  if (tv < 0) tv = valueOf(s, 'to_tag=', fields);
  if (tv >= 0) {
    const te = valueEnd(s, tv);
    if (te > tv) toTag = s.slice(tv, te);
    if (te > at2) at2 = te;
  }
  let callId: string | undefined;
  let cv = valueOf(s, 'call_id=', at2);
  if (cv < 0) cv = valueOf(s, 'call_id=', fields);
  if (cv >= 0) {
    const ce = valueEnd(s, cv);
    if (ce > cv) callId = s.slice(cv, ce);
    if (ce > at2) at2 = ce;
  }
  let kv = valueOf(s, 'code=', at2);
  if (kv < 0) kv = valueOf(s, 'code=', fields);
  if (kv < 0) return { error: 'missing_code' };
  const ke = valueEnd(s, kv);
  let code: number | undefined;
  if (ke - kv === 3) {
    // Inline three-digit check (the common case); parseStatusCode gives the same answer.
    const a = s.charCodeAt(kv) - 48;
    const b = s.charCodeAt(kv + 1) - 48;
    const c = s.charCodeAt(kv + 2) - 48;
    if (a >= 1 && a <= 6 && b >= 0 && b <= 9 && c >= 0 && c <= 9) code = a * 100 + b * 10 + c;
  } else {
    code = parseStatusCode(s.slice(kv, ke));
  }
  if (code === undefined) {
    // acc writes code=0 for records without a reply (e.g. acc_log_request() with a text comment).
    if (ke === kv || (ke - kv === 1 && s.charCodeAt(kv) === 48)) return undefined;
    return { error: 'invalid_code' };
  }
  let reason = '';
  const rv = s.startsWith(';reason=', ke) ? ke + 8 : valueOf(s, 'reason=', ke);
  if (rv >= 0) {
    let re = valueEnd(s, rv);
    while (re > rv && s.charCodeAt(re - 1) <= 32) re--;
    reason = s.slice(rv, re);
  }

  const ev: SipEvent = { code, reason, method };
  if (callId !== undefined) ev.callId = callId;
  if (toTag !== undefined) ev.toTag = toTag;
  if (s.startsWith('timestamp=', fields)) {
    const ts = Number(s.slice(fields + 10, valueEnd(s, fields + 10)));
    if (ts > 0) ev.timestampMs = Math.round(ts * 1000);
  }
  return ev;
}
