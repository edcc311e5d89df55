import { parseStatusCode } from '../../classify/status.js';
import type { ParseResult, SipEvent } from '../../event.js';

/**
 * Kamailio and OpenSIPS `acc` module records in log mode:
 *
 *   ACC: transaction answered: timestamp=1504783013;method=INVITE;from_tag=..;to_tag=..;call_id=..;code=486;reason=Busy Here[;extra=..]
 *
 * Events: request accounted, transaction answered, call missed, request acknowledged, call ended. The
 * fixed keys (method, from_tag, to_tag, call_id, code, reason) come before any extra keys, values are not
 * escaped, keys may repeat in extras (multi-leg), and whatever prefix the logger put in front of `ACC: `
 * (syslog header, Kamailio stderr `N(pid) LEVEL:`, journald, OpenSIPS `LEVEL:module:func:`) is ignored.
 */

export const ACC_MARKER = 'ACC: ';

const EVENTS = ['transaction answered: ', 'request accounted: ', 'call missed: ', 'request acknowledged: ', 'call ended: '];
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
  let p = at + ACC_MARKER.length;
  let known = false;
  for (const ev of EVENTS) {
    if (s.startsWith(ev, p)) {
      p += ev.length;
      known = true;
      break;
    }
  }
  if (!known) return undefined;
  const fields = p;

  // Every fixed key is looked up from the start of the fields: the fixed keys come first, so the first
  // match is the fixed one even when extras repeat a key.
  let method = '';
  const mv = valueOf(s, 'method=', fields);
  if (mv >= 0) method = s.slice(mv, valueEnd(s, mv));
  let toTag: string | undefined;
  const tv = valueOf(s, 'to_tag=', fields);
  if (tv >= 0) {
    const te = valueEnd(s, tv);
    if (te > tv) toTag = s.slice(tv, te);
  }
  let callId: string | undefined;
  const cv = valueOf(s, 'call_id=', fields);
  if (cv >= 0) {
    const ce = valueEnd(s, cv);
    if (ce > cv) callId = s.slice(cv, ce);
  }
  const kv = valueOf(s, 'code=', fields);
  if (kv < 0) return { error: 'missing_code' };
  const ke = valueEnd(s, kv);
  const codeText = s.slice(kv, ke);
  const code = parseStatusCode(codeText);
  if (code === undefined) {
    // acc writes code=0 for records without a reply (e.g. acc_log_request() with a text comment).
    if (codeText === '0' || codeText === '') return undefined;
    return { error: 'invalid_code' };
  }
  let reason = '';
  const rv = valueOf(s, 'reason=', ke);
  if (rv >= 0) reason = s.slice(rv, valueEnd(s, rv)).trim();

  const ev: SipEvent = { code, reason, method };
  if (callId !== undefined) ev.callId = callId;
  if (toTag !== undefined) ev.toTag = toTag;
  if (s.startsWith('timestamp=', fields)) {
    const ts = Number(s.slice(fields + 10, valueEnd(s, fields + 10)));
    if (Number.isFinite(ts) && ts > 0) ev.timestampMs = Math.round(ts * 1000);
  }
  return ev;
}
