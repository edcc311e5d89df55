/**
 * A fast, tolerant SIP message parser (RFC 3261 section 7) that reads only what the exporter needs: the
 * start line (status code and reason, or request method), CSeq number and method, Call-ID, the To and From
 * tags and the branch of the top Via. The body is never read.
 *
 * Tolerated: CRLF or bare LF line ends, folded (multi-line) headers, header names in any case and their
 * compact forms (i: t: f: v:), whitespace before the colon, leading blank lines.
 *
 * Two layers:
 * - `scanSip(buf, start, end, scan)` fills a reusable `SipScan` with byte offsets and allocates nothing
 *   (the HEP hot path hashes the offsets directly);
 * - `parseSipBuffer` / `parseSipMessage` return a plain `SipMessage` with strings, for everything else.
 *
 * Neither ever throws on bad input. A status line whose code is not exactly three digits 100-699
 * (`SIP/2.0 099 x`, `SIP/2.0 700 x`, `SIP/2.0 2000 x`) is still reported as a response, with
 * `code` undefined and the raw `codeText`, so callers can count parse error `invalid_code`.
 */
import { parseStatusCode } from '../classify/status.js';
import { STANDARD_METHODS } from '../classify/methods.js';

export interface SipMessage {
  isResponse: boolean;
  /** Status code validated by parseStatusCode (three digits, 100-699); undefined if the text was invalid. */
  code?: number;
  /** The status-code token as written in the status line (responses only). */
  codeText?: string;
  reason?: string;
  /** CSeq method as written (case preserved), '' when there is no usable CSeq header. */
  method: string;
  /** Method from the request line (requests only). */
  requestMethod?: string;
  cseq?: number;
  callId?: string;
  toTag?: string;
  fromTag?: string;
  /** branch parameter of the first (top-most) Via value. */
  branch?: string;
}

/** Byte offsets of one scanned message. Ranges are [start, end) into `buf`; start -1 means absent. */
export class SipScan {
  /** The bytes the offsets refer to: the input, or an unfolded copy when the message had folded headers. */
  buf: Uint8Array = EMPTY;
  isResponse = false;
  /** Valid status code (100-699), or 0 when the status line's code is invalid (see codeStart/codeEnd). */
  code = 0;
  codeStart = -1;
  codeEnd = -1;
  reasonStart = -1;
  reasonEnd = -1;
  reqMethodStart = -1;
  reqMethodEnd = -1;
  /** CSeq number, or -1 when absent or not a number below 2^32. */
  cseq = -1;
  /** CSeq method range; `methodName` is the interned standard name when it is one. */
  methodStart = -1;
  methodEnd = -1;
  methodName: string | undefined = undefined;
  /** Request-line method interned name (standard methods only). */
  reqMethodName: string | undefined = undefined;
  callIdStart = -1;
  callIdEnd = -1;
  toTagStart = -1;
  toTagEnd = -1;
  fromTagStart = -1;
  fromTagEnd = -1;
  branchStart = -1;
  branchEnd = -1;
  /**
   * Offset just after the header section (after the blank line, or `end`), or -1 when scanning
   * stopped early because every wanted header had been found.
   */
  headerEnd = -1;

  reset(buf: Uint8Array): void {
    this.buf = buf;
    this.isResponse = false;
    this.code = 0;
    this.codeStart = this.codeEnd = this.reasonStart = this.reasonEnd = -1;
    this.reqMethodStart = this.reqMethodEnd = -1;
    this.cseq = -1;
    this.methodStart = this.methodEnd = -1;
    this.methodName = undefined;
    this.reqMethodName = undefined;
    this.callIdStart = this.callIdEnd = -1;
    this.toTagStart = this.toTagEnd = -1;
    this.fromTagStart = this.fromTagEnd = -1;
    this.branchStart = this.branchEnd = -1;
    this.headerEnd = -1;
  }
}

const EMPTY = new Uint8Array(0);

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;
const SEMI = 59;
const COMMA = 44;
const EQ = 61;
const DQUOTE = 34;
const BSLASH = 92;
const LT = 60;
const GT = 62;

// Header ids (bit id-1 of a `fields` mask)
const H_OTHER = 0;
const H_CALLID = 1;
const H_CSEQ = 2;
const H_TO = 3;
const H_FROM = 4;
const H_VIA = 5;

/** Header selection for scanSip's `fields`: skip the headers a caller does not need. */
export const F_CALLID = 1 << (H_CALLID - 1);
export const F_CSEQ = 1 << (H_CSEQ - 1);
export const F_TO = 1 << (H_TO - 1);
export const F_FROM = 1 << (H_FROM - 1);
export const F_VIA = 1 << (H_VIA - 1);
export const ALL_FIELDS = F_CALLID | F_CSEQ | F_TO | F_FROM | F_VIA;

/** RFC 3261 token characters: alphanum and -.!%*_+`'~ */
const TOKEN = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  TOKEN[c] = /[A-Za-z0-9\-.!%*_+`'~]/.test(ch) ? 1 : 0;
}

/** Standard method names by length, for interning without allocation. */
const METHOD_BYTES: { name: string; bytes: Uint8Array }[] = STANDARD_METHODS.map((m) => ({ name: m, bytes: Buffer.from(m, 'latin1') }));

function internMethod(buf: Uint8Array, a: number, b: number): string | undefined {
  const len = b - a;
  for (let i = 0; i < METHOD_BYTES.length; i++) {
    const m = METHOD_BYTES[i]!;
    if (m.bytes.length !== len) continue;
    let j = 0;
    while (j < len && buf[a + j] === m.bytes[j]) j++;
    if (j === len) return m.name;
  }
  return undefined;
}

/** Lower-cases an ASCII letter byte (other bytes unchanged except 0x40-0x5f; callers compare to letters, '-'). */
const lc = (c: number): number => (c >= 65 && c <= 90 ? c | 0x20 : c);

function isSipVersion(buf: Uint8Array, i: number, end: number): boolean {
  // "SIP/" case-insensitively, followed by at least one non-space character
  return (
    i + 4 < end &&
    lc(buf[i]!) === 115 && // s
    lc(buf[i + 1]!) === 105 && // i
    lc(buf[i + 2]!) === 112 && // p
    buf[i + 3] === 47 && // /
    buf[i + 4] !== SP &&
    buf[i + 4] !== CR &&
    buf[i + 4] !== LF
  );
}

/**
 * End of the line starting at i: the index of its terminator (the CR of CRLF, or a bare LF), or end.
 * Only LF ends a line (one compare per byte); a lone CR is ordinary content.
 */
function lineEnd(buf: Uint8Array, i: number, end: number): number {
  const s = i;
  while (i < end && buf[i] !== LF) i++;
  return i > s && buf[i - 1] === CR ? i - 1 : i;
}

/** Index after the line terminator at i (CRLF, LF or lone CR). */
function nextLine(buf: Uint8Array, i: number, end: number): number {
  if (i < end && buf[i] === CR) i++;
  if (i < end && buf[i] === LF) i++;
  return i;
}

/**
 * True when a SIP start line (status line or request line) begins at `i`. Used by scanSip and by
 * decoders that have to find a SIP message inside a binary blob (HEPv1/v2).
 */
export function isSipStartLine(buf: Uint8Array, i: number, end: number): boolean {
  const le = lineEnd(buf, i, end);
  if (isSipVersion(buf, i, le)) {
    let j = i + 4;
    while (j < le && buf[j] !== SP) j++;
    return j < le;
  }
  let j = i;
  while (j < le && TOKEN[buf[j]!] === 1) j++;
  if (j === i || j >= le || buf[j] !== SP) return false;
  // request line: METHOD SP Request-URI SP SIP-Version
  let k = le;
  while (k > j && (buf[k - 1] === SP || buf[k - 1] === HT)) k--;
  let s = k;
  while (s > j && buf[s - 1] !== SP) s--;
  return s > j + 1 && isSipVersion(buf, s, k);
}

/**
 * Scans one SIP message in buf[start, end). Returns false (and leaves `scan` reset) when the bytes do
 * not start with a SIP status line or request line. Never throws, never reads outside [start, end).
 * `fields` (F_* bits) selects the headers to read; scanning stops once all of them were seen.
 */
export function scanSip(buf: Uint8Array, start: number, end: number, scan: SipScan, fields = ALL_FIELDS): boolean {
  if (start < 0) start = 0;
  if (end > buf.length) end = buf.length;
  scan.reset(buf);
  let i = start;
  // tolerate leading blank lines (keep-alives, stray CRLF)
  while (i < end && (buf[i] === CR || buf[i] === LF)) i++;
  if (i >= end) return false;
  const le = lineEnd(buf, i, end);
  if (isSipVersion(buf, i, le)) {
    let j = i + 4;
    while (j < le && buf[j] !== SP) j++;
    if (j >= le) return false;
    while (j < le && buf[j] === SP) j++;
    const cs = j;
    while (j < le && buf[j] !== SP && buf[j] !== HT) j++;
    if (j === cs) return false;
    scan.isResponse = true;
    scan.codeStart = cs;
    scan.codeEnd = j;
    scan.code = codeOf(buf, cs, j);
    while (j < le && (buf[j] === SP || buf[j] === HT)) j++;
    let r = le;
    while (r > j && (buf[r - 1] === SP || buf[r - 1] === HT)) r--;
    scan.reasonStart = j;
    scan.reasonEnd = r;
  } else {
    if (!isSipStartLine(buf, i, end)) return false;
    let j = i;
    while (j < le && TOKEN[buf[j]!] === 1) j++;
    scan.reqMethodStart = i;
    scan.reqMethodEnd = j;
    scan.reqMethodName = internMethod(buf, i, j);
  }
  return scanHeaders(buf, nextLine(buf, le, end), end, scan, start, fields);
}

/** Exactly the rule of parseStatusCode, on bytes: three digits, first 1-6. Returns 0 when invalid. */
function codeOf(buf: Uint8Array, a: number, b: number): number {
  if (b - a !== 3) return 0;
  const d0 = buf[a]! - 48;
  const d1 = buf[a + 1]! - 48;
  const d2 = buf[a + 2]! - 48;
  if (d0 < 1 || d0 > 6 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return 0;
  return d0 * 100 + d1 * 10 + d2;
}

function scanHeaders(buf: Uint8Array, i: number, end: number, scan: SipScan, msgStart: number, fields: number): boolean {
  // Headers still wanted; scanning stops once all were seen (the rest of the message is skipped).
  let want = ((fields & 1) + ((fields >> 1) & 1) + ((fields >> 2) & 1) + ((fields >> 3) & 1) + ((fields >> 4) & 1)) | 0;
  let seenVia = false;
  let seenTo = false;
  let seenFrom = false;
  let seenCallId = false;
  let seenCSeq = false;
  while (i < end) {
    const c0 = buf[i]!;
    if (c0 === CR || c0 === LF) {
      scan.headerEnd = nextLine(buf, i, end);
      return true;
    }
    const le = lineEnd(buf, i, end);
    // Only names starting with c, f, i, t or v can be wanted (Call-ID, CSeq, From, i, To, t, Via, v, f);
    // other lines, and continuation lines of headers that are not wanted, are skipped whole.
    const l0 = c0 | 0x20;
    if (l0 === 99 || l0 === 102 || l0 === 105 || l0 === 116 || l0 === 118) {
      let n = i;
      while (n < le && buf[n] !== COLON && buf[n] !== SP && buf[n] !== HT) n++;
      const id = headerId(buf, i, n);
      if (id !== H_OTHER && (fields & (1 << (id - 1))) !== 0) {
        let v = n;
        while (v < le && (buf[v] === SP || buf[v] === HT)) v++;
        if (v < le && buf[v] === COLON) {
          v++;
          while (v < le && (buf[v] === SP || buf[v] === HT)) v++;
          let ve = le;
          while (ve > v && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
          // a folded continuation of this header must be joined before its value is used
          const nl = nextLine(buf, le, end);
          if (nl < end && (buf[nl] === SP || buf[nl] === HT)) return unfolding ? false : rescanUnfolded(buf, msgStart, end, scan, fields);
          switch (id) {
            case H_CALLID:
              if (!seenCallId) {
                seenCallId = true;
                want--;
                if (ve > v) {
                  scan.callIdStart = v;
                  scan.callIdEnd = ve;
                }
              }
              break;
            case H_CSEQ:
              if (!seenCSeq) {
                seenCSeq = true;
                want--;
                readCSeq(buf, v, ve, scan);
              }
              break;
            case H_TO:
              if (!seenTo) {
                seenTo = true;
                want--;
                const t = findParam(buf, v, ve, true, P_TAG);
                if (t >= 0) {
                  scan.toTagStart = t;
                  scan.toTagEnd = paramEnd;
                }
              }
              break;
            case H_FROM:
              if (!seenFrom) {
                seenFrom = true;
                want--;
                const t = findParam(buf, v, ve, true, P_TAG);
                if (t >= 0) {
                  scan.fromTagStart = t;
                  scan.fromTagEnd = paramEnd;
                }
              }
              break;
            case H_VIA:
              if (!seenVia) {
                seenVia = true;
                want--;
                const t = findParam(buf, v, ve, false, P_BRANCH);
                if (t >= 0) {
                  scan.branchStart = t;
                  scan.branchEnd = paramEnd;
                }
              }
              break;
          }
          if (want === 0) return true;
        }
      }
    }
    i = nextLine(buf, le, end);
  }
  scan.headerEnd = end;
  return true;
}

function headerId(buf: Uint8Array, a: number, b: number): number {
  const len = b - a;
  const c = lc(buf[a]!);
  switch (len) {
    case 1:
      return c === 105 ? H_CALLID : c === 116 ? H_TO : c === 102 ? H_FROM : c === 118 ? H_VIA : H_OTHER; // i t f v
    case 2:
      return c === 116 && lc(buf[a + 1]!) === 111 ? H_TO : H_OTHER; // to
    case 3:
      return c === 118 && lc(buf[a + 1]!) === 105 && lc(buf[a + 2]!) === 97 ? H_VIA : H_OTHER; // via
    case 4:
      if (c === 99 && lc(buf[a + 1]!) === 115 && lc(buf[a + 2]!) === 101 && lc(buf[a + 3]!) === 113) return H_CSEQ; // cseq
      if (c === 102 && lc(buf[a + 1]!) === 114 && lc(buf[a + 2]!) === 111 && lc(buf[a + 3]!) === 109) return H_FROM; // from
      return H_OTHER;
    case 7: // call-id
      return c === 99 &&
        lc(buf[a + 1]!) === 97 &&
        lc(buf[a + 2]!) === 108 &&
        lc(buf[a + 3]!) === 108 &&
        buf[a + 4] === 45 &&
        lc(buf[a + 5]!) === 105 &&
        lc(buf[a + 6]!) === 100
        ? H_CALLID
        : H_OTHER;
    default:
      return H_OTHER;
  }
}

function readCSeq(buf: Uint8Array, v: number, ve: number, scan: SipScan): void {
  let j = v;
  let n = 0;
  while (j < ve && j - v < 11) {
    const d = buf[j]! - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
    j++;
  }
  const digits = j - v;
  if (digits > 0 && digits <= 10 && n <= 0xffffffff && (j === ve || buf[j] === SP || buf[j] === HT)) scan.cseq = n;
  else {
    // not a number: skip the first token so a method after it can still be read
    while (j < ve && buf[j] !== SP && buf[j] !== HT) j++;
  }
  while (j < ve && (buf[j] === SP || buf[j] === HT)) j++;
  const ms = j;
  while (j < ve && TOKEN[buf[j]!] === 1) j++;
  if (j > ms) {
    scan.methodStart = ms;
    scan.methodEnd = j;
    scan.methodName = internMethod(buf, ms, j);
  }
}

const P_TAG = Buffer.from('tag', 'latin1');
const P_BRANCH = Buffer.from('branch', 'latin1');
/** End of the value found by the last findParam call (module-level to avoid allocating a tuple). */
let paramEnd = -1;

/**
 * Finds header parameter `name` (case-insensitive) in the first value of a header. Skips quoted
 * strings and, for name-addr headers (To, From), anything inside <...> (URI parameters are not header
 * parameters). Stops at a comma outside quotes/brackets (the next value). Returns the value start and
 * sets paramEnd, or -1.
 */
function findParam(buf: Uint8Array, v: number, ve: number, nameAddr: boolean, name: Uint8Array): number {
  let i = v;
  for (;;) {
    // skip ordinary bytes with one table lookup each
    while (i < ve && PARAM_SPECIAL[buf[i]!] === 0) i++;
    if (i >= ve) return -1;
    const c = buf[i]!;
    if (c === DQUOTE) {
      i++;
      while (i < ve && buf[i] !== DQUOTE) i += buf[i] === BSLASH ? 2 : 1;
      i++;
      continue;
    }
    if (c === LT) {
      if (nameAddr) while (i < ve && buf[i] !== GT) i++;
      i++;
      continue;
    }
    if (c === COMMA) return -1;
    if (c !== SEMI) {
      i++;
      continue;
    }
    let p = i + 1;
    while (p < ve && (buf[p] === SP || buf[p] === HT)) p++;
    const ns = p;
    while (p < ve && TOKEN[buf[p]!] === 1) p++;
    if (p - ns === name.length) {
      let k = 0;
      while (k < name.length && lc(buf[ns + k]!) === name[k]) k++;
      if (k === name.length) {
        while (p < ve && (buf[p] === SP || buf[p] === HT)) p++;
        if (p < ve && buf[p] === EQ) {
          p++;
          while (p < ve && (buf[p] === SP || buf[p] === HT)) p++;
          const s = p;
          if (p < ve && buf[p] === DQUOTE) {
            // quoted parameter value (gen-value = token / host / quoted-string)
            p++;
            const qs = p;
            while (p < ve && buf[p] !== DQUOTE) p++;
            if (p > qs) {
              paramEnd = p;
              return qs;
            }
            return -1;
          }
          while (p < ve && buf[p] !== SEMI && buf[p] !== COMMA && buf[p] !== SP && buf[p] !== HT) p++;
          if (p > s) {
            paramEnd = p;
            return s;
          }
        }
        return -1;
      }
    }
    i = p;
  }
}

/** Bytes findParam must look at: quote, angle brackets, comma, semicolon. */
const PARAM_SPECIAL = new Uint8Array(256);
for (const c of [DQUOTE, LT, GT, COMMA, SEMI]) PARAM_SPECIAL[c] = 1;

/**
 * Folded headers are rare (RFC 3261 lets senders fold, few do). When one is seen, copy the message's
 * header section with every line break followed by SP/HT replaced by one space, and scan the copy.
 */
function rescanUnfolded(buf: Uint8Array, start: number, end: number, scan: SipScan, fields: number): boolean {
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  let i = start;
  let inHeaders = true;
  let lineStart = true;
  while (i < end) {
    const c = buf[i]!;
    if (inHeaders && (c === CR || c === LF)) {
      const nl = nextLine(buf, i, end);
      if (lineStart && o > 0) {
        // blank line: end of headers; copy the rest as is
        inHeaders = false;
        out.set(buf.subarray(i, end), o);
        o += end - i;
        break;
      }
      if (nl < end && (buf[nl] === SP || buf[nl] === HT) && o > 0) {
        let k = nl;
        while (k < end && (buf[k] === SP || buf[k] === HT)) k++;
        out[o++] = SP;
        i = k;
        lineStart = false;
        continue;
      }
      for (let k = i; k < nl; k++) out[o++] = buf[k]!;
      i = nl;
      lineStart = true;
      continue;
    }
    out[o++] = c;
    lineStart = false;
    i++;
  }
  const copy = out.subarray(0, o);
  // The copy has no folded lines left (every break followed by whitespace was joined); should one
  // still appear, the nested scan gives up instead of recursing (see `unfolding`).
  unfolding = true;
  try {
    return scanSip(copy, 0, copy.length, scan, fields);
  } finally {
    unfolding = false;
  }
}

/** True while scanning an unfolded copy: a continuation line there means give up, never recurse. */
let unfolding = false;

// ---- string-level API -------------------------------------------------------------------------------

const scratch = new SipScan();

function slice(buf: Uint8Array, a: number, b: number, enc: BufferEncoding): string | undefined {
  if (a < 0) return undefined;
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString(enc, a, b);
}

function toMessage(s: SipScan, enc: BufferEncoding): SipMessage {
  const b = s.buf;
  const msg: SipMessage = { isResponse: s.isResponse, method: s.methodName ?? slice(b, s.methodStart, s.methodEnd, enc) ?? '' };
  if (s.isResponse) {
    const codeText = slice(b, s.codeStart, s.codeEnd, enc) ?? '';
    msg.codeText = codeText;
    const code = parseStatusCode(codeText);
    if (code !== undefined) msg.code = code;
    msg.reason = slice(b, s.reasonStart, s.reasonEnd, enc) ?? '';
  } else {
    msg.requestMethod = s.reqMethodName ?? slice(b, s.reqMethodStart, s.reqMethodEnd, enc) ?? '';
  }
  if (s.cseq >= 0) msg.cseq = s.cseq;
  const callId = slice(b, s.callIdStart, s.callIdEnd, enc);
  if (callId !== undefined) msg.callId = callId;
  const toTag = slice(b, s.toTagStart, s.toTagEnd, enc);
  if (toTag !== undefined) msg.toTag = toTag;
  const fromTag = slice(b, s.fromTagStart, s.fromTagEnd, enc);
  if (fromTag !== undefined) msg.fromTag = fromTag;
  const branch = slice(b, s.branchStart, s.branchEnd, enc);
  if (branch !== undefined) msg.branch = branch;
  return msg;
}

/**
 * Parses a SIP message held in buf[start, end) (e.g. a HEP payload). Header text is decoded as latin1
 * (byte-preserving and the fastest decoding); pass 'utf8' to decode it as UTF-8 instead.
 * Returns undefined when the bytes are not a SIP message.
 */
export function parseSipBuffer(buf: Uint8Array, start = 0, end = buf.length, encoding: BufferEncoding = 'latin1'): SipMessage | undefined {
  if (!scanSip(buf, start, end, scratch)) return undefined;
  const m = toMessage(scratch, encoding);
  scratch.reset(EMPTY);
  return m;
}

/** Parses a SIP message from text (e.g. a SIP dump in a log). Returns undefined when it is not SIP. */
export function parseSipMessage(text: string): SipMessage | undefined {
  const buf = Buffer.from(text, 'utf8');
  return parseSipBuffer(buf, 0, buf.length, 'utf8');
}
