/**
 * Syslog header parsing: RFC 5424 and RFC 3164 as real senders write it.
 *
 * The header is only needed to find the message text (MSG / CONTENT) and the program name for the
 * app-name filter; the text itself goes through the log dialects. So the parser is liberal wherever the
 * message text can still be located, and reports an error (a reason from SYSLOG_HEADER_ERRORS) only when
 * it cannot: a broken PRI, an RFC 5424 header with missing fields, or unterminated structured data.
 * It never throws.
 *
 * Detection after `<PRI>`: a digit followed by a space is the RFC 5424 VERSION; anything else is RFC 3164
 * (whose TIMESTAMP starts with a month name, or with an RFC 3339 date as rsyslog's high-precision
 * templates write it). A message without a `<` at all is taken as bare text (RFC 3164 section 4.3.3
 * says a relay treats such a message as CONTENT).
 */

export const SYSLOG_HEADER_ERRORS = ['bad_pri', 'bad_header', 'bad_structured_data'] as const;
export type SyslogHeaderError = (typeof SYSLOG_HEADER_ERRORS)[number];

export type SyslogFormat = 'rfc5424' | 'rfc3164' | 'none';

export interface SyslogMessage {
  format: SyslogFormat;
  /** PRI value 0-191, or -1 when the message has no PRI. */
  pri: number;
  /** As written ('' when absent or the RFC 5424 NILVALUE). Never parsed: counting uses arrival. */
  timestamp: string;
  hostname: string;
  /** RFC 5424 APP-NAME, or the RFC 3164 tag without `[pid]` and `:` (e.g. `/usr/sbin/kamailio`). */
  appName: string;
  procId: string;
  msgId: string;
  /** Raw STRUCTURED-DATA ('' for the NILVALUE or RFC 3164). */
  structuredData: string;
  /** The message text (BOM removed). */
  msg: string;
}

export interface SyslogHeaderFailure {
  error: SyslogHeaderError;
}

const SP = 32;
const LT = 60;
const GT = 62;

/** Parses one syslog message (framing already removed). Never throws. */
export function parseSyslogMessage(text: string): SyslogMessage | SyslogHeaderFailure {
  if (text.charCodeAt(0) !== LT) return bare(text);
  // PRI: "<" 1*3DIGIT ">", value 0-191.
  let pri = 0;
  let i = 1;
  for (; i < 4 && i < text.length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    pri = pri * 10 + c;
  }
  if (i === 1 || i >= text.length || text.charCodeAt(i) !== GT || pri > 191) return { error: 'bad_pri' };
  i++;
  const v = text.charCodeAt(i);
  if (v >= 49 && v <= 57) {
    // VERSION = NONZERO-DIGIT 0*2DIGIT, then SP.
    let j = i + 1;
    while (j < i + 3 && isDigit(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === SP) return parse5424(text, pri, j + 1);
  }
  return parse3164(text, pri, i);
}

function bare(text: string): SyslogMessage {
  return { format: 'none', pri: -1, timestamp: '', hostname: '', appName: '', procId: '', msgId: '', structuredData: '', msg: text };
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

// ---- RFC 5424 ---------------------------------------------------------------------------------------

/** Maximum field lengths from RFC 5424 section 6 (TIMESTAMP: a generous bound for RFC 3339 text). */
const FIELD_MAX = [64, 255, 48, 128, 32] as const;

function parse5424(text: string, pri: number, start: number): SyslogMessage | SyslogHeaderFailure {
  // TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
  const fields: string[] = [];
  let i = start;
  for (let f = 0; f < 5; f++) {
    const end = text.indexOf(' ', i);
    if (end <= i || end - i > (FIELD_MAX[f] as number)) return { error: 'bad_header' };
    for (let k = i; k < end; k++) {
      const c = text.charCodeAt(k);
      if (c < 33 || c > 126) return { error: 'bad_header' };
    }
    const value = text.slice(i, end);
    fields.push(value === '-' ? '' : value);
    i = end + 1;
  }
  let sd = '';
  const c = text.charCodeAt(i);
  if (c === 45 /* - */) {
    i++;
  } else if (c === 91 /* [ */) {
    const end = scanStructuredData(text, i);
    if (end < 0) return { error: 'bad_structured_data' };
    sd = text.slice(i, end);
    i = end;
  } else {
    return { error: 'bad_structured_data' };
  }
  let msg = '';
  if (i < text.length) {
    if (text.charCodeAt(i) !== SP) return { error: 'bad_structured_data' };
    msg = text.slice(i + 1);
    if (msg.charCodeAt(0) === 0xfeff) msg = msg.slice(1);
  }
  return {
    format: 'rfc5424',
    pri,
    timestamp: fields[0] as string,
    hostname: fields[1] as string,
    appName: fields[2] as string,
    procId: fields[3] as string,
    msgId: fields[4] as string,
    structuredData: sd,
    msg,
  };
}

/**
 * Scans one or more SD-ELEMENTs (`[id k="v" ...]`) from `start` (a `[`). PARAM-VALUEs are quoted and
 * may contain `\"`, `\\` and `\]`. Returns the index after the last `]`, or -1 when malformed.
 */
export function scanStructuredData(text: string, start: number): number {
  let i = start;
  const n = text.length;
  while (i < n && text.charCodeAt(i) === 91) {
    i++;
    // SD-ID: at least one printable character other than '=', ' ', ']' and '"'.
    const idStart = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === SP || c === 93 || c === 61 || c === 34 || c < 33 || c > 126) break;
      i++;
    }
    if (i === idStart) return -1;
    for (;;) {
      if (i >= n) return -1;
      const c = text.charCodeAt(i);
      if (c === 93 /* ] */) {
        i++;
        break;
      }
      if (c !== SP) return -1;
      i++;
      // PARAM-NAME "=" %d34 PARAM-VALUE %d34
      const nameStart = i;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 61 || d === SP || d === 93 || d === 34 || d < 33 || d > 126) break;
        i++;
      }
      if (i === nameStart || text.charCodeAt(i) !== 61 || text.charCodeAt(i + 1) !== 34) return -1;
      i += 2;
      for (;;) {
        if (i >= n) return -1;
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) {
          i++;
          break;
        } else i++;
      }
    }
  }
  return i;
}

// ---- RFC 3164 ---------------------------------------------------------------------------------------

/**
 * `Mmm dd hh:mm:ss` with a space-padded or unpadded day, optional fraction and year (Cisco), or an
 * RFC 3339 timestamp (rsyslog's high-precision forwarding templates), followed by a space.
 */
const TS_3164 =
  /(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}\d{1,2}(?: \d{4})? \d\d:\d\d:\d\d(?:\.\d{1,9})?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?):? /y;

/** Characters of a host name or address (letters, digits, `.`, `-`, `_`, and `:` inside IPv6). */
function isHostChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 58) || c === 46 || c === 45 || c === 95;
}

/**
 * A tag as senders write it without a timestamp: `program[pid]:`. (`word:` alone is not taken: it is as
 * likely to be a level such as `NOTICE:` that the dialects need.)
 */
const BARE_TAG = /[^\s:[\]]{1,128}\[[^\s\]]{0,32}\]:(?: |$)/y;

function parse3164(text: string, pri: number, start: number): SyslogMessage {
  let i = start;
  const n = text.length;
  let timestamp = '';
  TS_3164.lastIndex = i;
  if (TS_3164.test(text)) {
    const end = TS_3164.lastIndex - 1;
    timestamp = text.slice(i, text.charCodeAt(end - 1) === 58 ? end - 1 : end);
    i = TS_3164.lastIndex;
  } else {
    // No timestamp: there is no host name either; take a tag only in the unmistakable
    // `program[pid]:` form, else everything after PRI is the text.
    BARE_TAG.lastIndex = i;
    if (!BARE_TAG.test(text)) return { ...bare(text.slice(i)), format: 'rfc3164', pri };
  }
  let hostname = '';
  if (timestamp !== '') {
    // HOSTNAME, unless the sender left it out and the next token is already the tag
    // (`kamailio[796]:`, `/usr/sbin/kamailio:`): a host name is made of host characters, does not end
    // in ':' and is followed by a space.
    let j = i;
    while (j < n && isHostChar(text.charCodeAt(j))) j++;
    if (j > i && j < n && text.charCodeAt(j) === SP && text.charCodeAt(j - 1) !== 58) {
      hostname = text.slice(i, j);
      i = j + 1;
    }
  }
  // TAG: up to ':' (included), a space or `[pid]`; at most 128 characters (rsyslog forwards at most 32).
  const noTag = (): SyslogMessage => ({ format: 'rfc3164', pri, timestamp, hostname, appName: '', procId: '', msgId: '', structuredData: '', msg: text.slice(i) });
  let j = i;
  const limit = Math.min(n, i + 128);
  while (j < limit) {
    const c = text.charCodeAt(j);
    if (c === SP || c === 58 || c === 91) break;
    j++;
  }
  if (j === i || (j === limit && j < n)) return noTag();
  let end = j;
  let procId = '';
  if (j < n && text.charCodeAt(j) === 91 /* [ */) {
    const close = text.indexOf(']', j);
    if (close < 0 || close - j > 33) return noTag();
    procId = text.slice(j + 1, close);
    if (procId.includes(' ')) return noTag();
    end = close + 1;
  }
  const appName = text.slice(i, j);
  if (end < n && text.charCodeAt(end) === 58 /* : */) end++;
  if (end < n && text.charCodeAt(end) === SP) end++;
  return { format: 'rfc3164', pri, timestamp, hostname, appName, procId, msgId: '', structuredData: '', msg: text.slice(end) };
}

/**
 * The app-name filter: a set of program names; a message passes when its program is one of them or ends
 * in `/name` (so `kamailio` matches the tag `/usr/sbin/kamailio`). An empty list passes everything.
 */
export function appNameFilter(names: readonly string[]): ((appName: string) => boolean) | undefined {
  if (names.length === 0) return undefined;
  const set = new Set(names);
  return (appName) => {
    if (set.has(appName)) return true;
    const slash = appName.lastIndexOf('/');
    return slash >= 0 && set.has(appName.slice(slash + 1));
  };
}
