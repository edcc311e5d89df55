/**
 * Log dialects: turns proxy log lines into SIP response events.
 *
 * One parser per log stream (file, syslog sender): multi-line blocks (Asterisk PJSIP/chan_sip dumps,
 * FreeSWITCH siptrace) are held until complete, so a stream's lines must go to the same parser in order.
 *
 * Speed: lines are recognised by a literal marker ("ACC: ", "<--- ", "Got SIP response ", "nta: ",
 * "entering state [", " bytes ") before any regular expression runs. `scan()` (the tailer's fast path)
 * decodes a whole chunk at once and walks it with string built-ins: acc records are found with one
 * remembered "ACC: " search and parsed in place; other lines get one test of the remaining markers.
 *
 * Double counting: Kamailio's "call missed" and "transaction answered" records of one failed INVITE are
 * paired (see accOut). When a proxy logs the same response twice in different forms, the message-level form
 * wins. A chan_sip `Got SIP response` line is ignored while chan_sip `SIP read` dumps are being logged, and
 * FreeSWITCH `entering state` lines are ignored while siptrace dumps or nta lines are (and nta lines while
 * siptrace dumps are), where "while" means within the last PRECEDENCE_WINDOW lines of the stream.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { isParseError, type ParseResult, type SipEvent } from '../../event.js';
import { parseSipMessage } from '../sip.js';
import { ACC_ANSWERED, ACC_MARKER, ACC_MISSED, ACC_OTHER, lastAccKind, parseAcc, parseAccIn } from './acc.js';
import { ASTERISK_BLOCK_MARKER, CHAN_SIP_GOT_MARKER, asteriskBlockHeader, isChanSipDumpEnd, parseChanSipGot, type BlockHeader } from './asterisk.js';
import { matchCustom, type CustomPattern } from './custom.js';
import { FS_STATE_MARKER, NTA_MARKER, SIPTRACE_MARKER, parseFsState, parseNta, siptraceHeader, stripFsUuid } from './freeswitch.js';
import { hasRsyslogEscape, unescapeRsyslog } from './rsyslog.js';

export { unescapeRsyslog } from './rsyslog.js';
export { compileCustomPattern, CUSTOM_GROUPS, type CustomPattern } from './custom.js';

export type Dialect = 'auto' | 'kamailio' | 'opensips' | 'asterisk' | 'freeswitch' | 'custom';
export const DIALECTS: readonly Dialect[] = ['auto', 'kamailio', 'opensips', 'asterisk', 'freeswitch', 'custom'];

export interface LineParserOptions {
  dialect: Dialect;
  /** User patterns. With dialect `custom` only these are used; with `auto` they are tried on lines no built-in dialect recognised. */
  patterns?: readonly CustomPattern[];
}

export interface LineParser {
  /**
   * One line without its newline. Emits zero or more results through the callback. Multi-line blocks
   * (Asterisk PJSIP/chan_sip dumps, FreeSWITCH siptrace) are held until complete. Text that itself holds
   * several lines (real newlines, or rsyslog `#012` escapes) is taken as one complete record: its lines
   * are parsed in order and a block still open at its end is completed.
   */
  line(text: string): void;
  /** End of input or idle: completes/discards a pending block. */
  flush(): void;
}

/** Counters `scan()` adds to. */
export interface ScanStats {
  /** Complete lines seen (including too long ones). */
  lines: number;
  /** Lines longer than the maximum, skipped without parsing. */
  tooLong: number;
}

/** Parse error reasons the log dialects produce (a closed set: the `reason` label values). */
export const LOG_PARSE_ERRORS = ['invalid_code', 'missing_code', 'malformed_message', 'incomplete_block'] as const;

/** Lines within which message-level evidence suppresses summary lines of the same proxy (see above). */
export const PRECEDENCE_WINDOW = 2000;
/** A block is completed (parsed as far as it got) after this many lines or characters. */
export const MAX_BLOCK_LINES = 200;
export const MAX_BLOCK_CHARS = 64 * 1024;
/**
 * Failed acc records searched for a partner (see accOut). Kamailio writes both records of a transaction
 * from the same process within microseconds, so only lines of other processes can come between them.
 */
export const ACC_PAIR_WINDOW = 64;
/** Channels remembered for FreeSWITCH `entering state` de-duplication. */
const MAX_FS_CHANNELS = 10_000;

const CR = 13;
const NL = 10;
/** scan() decodes at most about this many bytes at a time. */
const SEGMENT = 64 * 1024;

interface OpenBlock extends BlockHeader {
  lines: string[];
  chars: number;
  /** Headers ended (blank line); a chan_sip dump is still consumed up to its end marker. */
  headersDone: boolean;
  /** Total lines consumed, to bound a dump whose end marker never comes. */
  consumed: number;
}

type Emit = (r: ParseResult) => void;

export class LogLineParser implements LineParser {
  private readonly acc: boolean;
  private readonly asterisk: boolean;
  private readonly freeswitch: boolean;
  private readonly patterns: readonly CustomPattern[];
  /** In scan(), lines without an acc marker are handed on only if they match this (the other markers). */
  private readonly rare: RegExp | undefined;
  /** Some custom pattern has no marker: every line must be decoded and tried. */
  private readonly everyLine: boolean;

  private block: OpenBlock | undefined;
  /** Lines seen so far (for the precedence windows). */
  private lineNo = 0;
  private chanSipDumpAt = -Infinity;
  private ntaAt = -Infinity;
  private siptraceAt = -Infinity;
  private readonly fsLastCode = new Map<string, number>();
  private readonly fsOrder = new Ring(MAX_FS_CHANNELS, (ch) => this.fsLastCode.delete(ch));
  /** The last failed acc records, for pairing "call missed" with "transaction answered" (see accOut). */
  private readonly accRing: ({ kind: number; code: number; callId: string; method: string } | undefined)[] = new Array(ACC_PAIR_WINDOW);
  private accHead = 0;
  /** scan() decodes bytes as latin1: event text fields holding bytes >= 0x80 are re-decoded as UTF-8. */
  private latin1 = false;

  constructor(opts: LineParserOptions, private readonly emitResult: Emit) {
    const d = opts.dialect;
    this.acc = d === 'auto' || d === 'kamailio' || d === 'opensips';
    this.asterisk = d === 'auto' || d === 'asterisk';
    this.freeswitch = d === 'auto' || d === 'freeswitch';
    this.patterns = d === 'auto' || d === 'custom' ? [...(opts.patterns ?? [])] : [];
    const markers: string[] = [];
    if (this.asterisk) markers.push(ASTERISK_BLOCK_MARKER, CHAN_SIP_GOT_MARKER);
    if (this.freeswitch) markers.push(FS_STATE_MARKER, NTA_MARKER, SIPTRACE_MARKER);
    this.everyLine = this.patterns.some((p) => p.marker === undefined);
    for (const p of this.patterns) if (p.marker !== undefined && !markers.includes(p.marker)) markers.push(p.marker);
    this.rare = markers.length > 0 ? new RegExp(markers.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')) : undefined;
  }

  line(text: string): void {
    this.latin1 = false;
    if (text.indexOf('\n') >= 0) {
      this.record(text);
      return;
    }
    this.lineNo++;
    this.handle(text.charCodeAt(text.length - 1) === CR ? text.slice(0, -1) : text);
  }

  flush(): void {
    if (this.block !== undefined) this.completeBlock();
  }

  /**
   * The tailer's fast path: parses the complete lines in buf[start, end), where end is just after a
   * newline (a final line without one is parsed too). Lines longer than maxLineLength (without the
   * newline) are counted in stats.tooLong and skipped. ASCII and valid UTF-8 are decoded as such; any
   * other bytes are decoded one character per byte (never fails) and event fields are re-decoded as
   * UTF-8 (invalid sequences become U+FFFD).
   */
  scan(buf: Buffer, start: number, end: number, maxLineLength: number, stats: ScanStats): void {
    // Decoded in segments of about SEGMENT bytes cut at newlines: short-lived strings stay in the young
    // generation, and what an event keeps alive (a Call-ID is a slice of its segment) stays small.
    while (start < end) {
      let stop = end;
      if (end - start > SEGMENT) {
        stop = buf.lastIndexOf(NL, start + SEGMENT - 1) + 1;
        if (stop <= start) {
          stop = buf.indexOf(NL, start + SEGMENT) + 1;
          if (stop <= 0 || stop > end) stop = end;
        }
      }
      this.scanSegment(buf, start, stop, maxLineLength, stats);
      start = stop;
    }
  }

  private scanSegment(buf: Buffer, start: number, end: number, maxLineLength: number, stats: ScanStats): void {
    const part = buf.subarray(start, end);
    if (isAscii(part)) this.scanText((buf as unknown as Latin1Slicer).latin1Slice(start, end), maxLineLength, stats);
    else if (isUtf8(part)) this.scanText(buf.toString('utf8', start, end), maxLineLength, stats);
    else {
      this.latin1 = true;
      try {
        this.scanText((buf as unknown as Latin1Slicer).latin1Slice(start, end), maxLineLength, stats);
      } finally {
        this.latin1 = false;
      }
    }
  }

  /**
   * Works on the decoded chunk with string built-ins: one newline search per line; one "ACC: " search per
   * acc record (its next position is remembered, so lines before it cost nothing more); other lines are
   * tested with one regular expression of the remaining markers. Lines are sliced (O(1)) only when needed,
   * and every search runs on a slice, so no search crosses a line end.
   */
  private scanText(s: string, maxLineLength: number, stats: ScanStats): void {
    const n = s.length;
    const rare = this.rare;
    const every = this.everyLine;
    let nextAcc = this.acc ? -2 : -1;
    // Next '#' in the chunk (n when there is none): a line with one may hold rsyslog escapes and goes
    // through the general path, which un-escapes before parsing, exactly as line() does.
    let nextHash = -1;
    let p = 0;
    while (p < n) {
      let nl = s.indexOf('\n', p);
      if (nl < 0) nl = n;
      stats.lines++;
      this.lineNo++;
      if (nl - p > maxLineLength) {
        stats.tooLong++;
        p = nl + 1;
        continue;
      }
      const e = nl > p && s.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      if (this.block !== undefined || every) {
        this.handle(s.slice(p, e));
        p = nl + 1;
        continue;
      }
      if (nextAcc !== -1) {
        if (nextAcc < p) nextAcc = s.indexOf(ACC_MARKER, p);
        if (nextAcc >= 0 && nextAcc < nl) {
          // An acc record, the common case: parse it straight from the marker. Anything unusual (JSON,
          // rsyslog escapes, not an acc record after all) takes the general path.
          if (nextHash < p) {
            nextHash = s.indexOf('#', p);
            if (nextHash < 0) nextHash = n;
          }
          if (s.charCodeAt(p) !== 123 && nextAcc < e && nextHash >= e) {
            const r = parseAccIn(s, nextAcc, e);
            if (r !== undefined) {
              this.accOut(r);
              p = nl + 1;
              continue;
            }
          }
          this.handle(s.slice(p, e));
          p = nl + 1;
          continue;
        }
      }
      if (rare !== undefined) {
        const line = s.slice(p, e);
        if (rare.test(line)) this.handle(line);
      }
      p = nl + 1;
    }
  }

  /** A record holding several lines (multi-line syslog message, rsyslog-escaped dump). */
  private record(text: string): void {
    const parts = text.split('\n');
    for (const part of parts) {
      this.lineNo++;
      this.handle(part.charCodeAt(part.length - 1) === CR ? part.slice(0, -1) : part);
    }
    this.flush();
  }

  private handle(line: string): void {
    if (this.block !== undefined && this.blockLine(line)) return;

    if (line.indexOf('#') >= 0 && hasRsyslogEscape(line)) {
      const text = unescapeRsyslog(line);
      if (text.indexOf('\n') >= 0 || text.indexOf('\r') >= 0) {
        this.lineNo--;
        this.record(text.replace(/\r\n?/g, '\n'));
        return;
      }
      line = text;
    }

    let i: number;
    if (this.acc && (i = line.indexOf(ACC_MARKER)) >= 0) {
      const r = line.charCodeAt(0) === 123 /* { */ ? accFromJson(line) : parseAcc(line, i);
      if (r !== undefined) return this.accOut(r);
    }
    if (this.asterisk) {
      if ((i = line.indexOf(ASTERISK_BLOCK_MARKER)) >= 0) {
        const h = asteriskBlockHeader(line, i);
        if (h) return this.openBlock(h);
      }
      if ((i = line.indexOf(CHAN_SIP_GOT_MARKER)) >= 0) {
        const r = parseChanSipGot(line, i);
        if (r !== undefined) {
          if (this.lineNo - this.chanSipDumpAt <= PRECEDENCE_WINDOW) return;
          return this.out(r);
        }
      }
    }
    if (this.freeswitch) {
      if (line.indexOf(FS_STATE_MARKER) >= 0) {
        const s = parseFsState(line);
        if (s !== undefined) return this.fsState(s);
      }
      if ((i = line.indexOf(NTA_MARKER)) >= 0) {
        const r = parseNta(line, i);
        if (r !== undefined) {
          if (this.lineNo - this.siptraceAt <= PRECEDENCE_WINDOW) return;
          this.ntaAt = this.lineNo;
          return this.out(r);
        }
      }
      if (line.indexOf(SIPTRACE_MARKER) >= 0) {
        const h = siptraceHeader(line);
        if (h) return this.openBlock(h);
      }
    }
    for (const p of this.patterns) {
      const r = matchCustom(p, line);
      if (r !== undefined) return this.out(r);
    }
  }

  /**
   * With both failed_transaction_flag and log_missed_flag set, Kamailio writes a failed INVITE twice:
   * "call missed" (the branch's reply) and "transaction answered" (the reply sent upstream). When both
   * carry the same Call-ID, method and code they are one response relayed, and it is counted once; when
   * the codes differ (a 503 from downstream, 500 sent upstream) they are two responses. Each record pairs
   * with at most one record of the other kind among the last ACC_PAIR_WINDOW failed records, so repeated
   * responses in one call still all count.
   */
  private accOut(r: ParseResult): void {
    if (r === undefined || 'error' in r) return this.out(r);
    const kind = lastAccKind;
    if (kind === ACC_OTHER || r.code < 300 || r.callId === undefined) return this.out(r);
    // Look for an unpaired record of the other kind among the last few failed ones (newest first).
    const other = kind === ACC_ANSWERED ? ACC_MISSED : ACC_ANSWERED;
    const ring = this.accRing;
    for (let k = 0, i = this.accHead; k < ACC_PAIR_WINDOW; k++) {
      i = i === 0 ? ACC_PAIR_WINDOW - 1 : i - 1;
      const e = ring[i];
      if (e === undefined) break;
      if (e.kind === other && e.code === r.code && e.callId === r.callId && e.method === r.method) {
        e.kind = ACC_OTHER; // paired: it cannot pair again
        return;
      }
    }
    ring[this.accHead] = { kind, code: r.code, callId: r.callId, method: r.method };
    this.accHead = (this.accHead + 1) % ACC_PAIR_WINDOW;
    this.out(r);
  }

  private fsState(s: ReturnType<typeof parseFsState>): void {
    if (s === undefined) return;
    if ('error' in s) return this.out(s);
    if (this.lineNo - this.siptraceAt <= PRECEDENCE_WINDOW || this.lineNo - this.ntaAt <= PRECEDENCE_WINDOW) return;
    const last = this.fsLastCode.get(s.channel);
    const ended = s.state === 'terminated';
    if (ended) this.fsLastCode.delete(s.channel);
    // Code 0: no SIP status yet. The same code again on the same channel is the same response seen from a
    // later state (completed[200] -> ready[200]), not a new one.
    if (s.code === 0 || last === s.code) return;
    if (!ended) {
      if (!this.fsLastCode.has(s.channel)) this.fsOrder.add(s.channel);
      this.fsLastCode.set(s.channel, s.code);
    }
    this.out({ code: s.code, reason: '', method: 'INVITE' });
  }

  private openBlock(h: BlockHeader): void {
    if (this.block !== undefined) this.completeBlock();
    if (h.kind === 'chansip') this.chanSipDumpAt = this.lineNo;
    else if (h.kind === 'siptrace') this.siptraceAt = this.lineNo;
    this.block = { ...h, lines: [], chars: 0, headersDone: false, consumed: 0 };
  }

  /** Feeds a line to the open block; returns false when the line is not part of it (the block is then complete). */
  private blockLine(raw: string): boolean {
    const b = this.block as OpenBlock;
    let line = raw;
    if (b.kind === 'siptrace') line = stripFsUuid(line);
    const t = line.trim();
    if (b.kind === 'chansip') {
      if (isChanSipDumpEnd(t)) {
        this.completeBlock();
        return true;
      }
      if (t.startsWith(ASTERISK_BLOCK_MARKER) && asteriskBlockHeader(t, 0) !== undefined) {
        this.completeBlock();
        return false;
      }
    } else if (b.kind === 'pjsip') {
      if (line.indexOf(ASTERISK_BLOCK_MARKER) >= 0 && asteriskBlockHeader(line, line.indexOf(ASTERISK_BLOCK_MARKER)) !== undefined) {
        this.completeBlock();
        return false;
      }
    } else if (line.indexOf(SIPTRACE_MARKER) >= 0 && siptraceHeader(line) !== undefined) {
      this.completeBlock();
      return false;
    }
    b.consumed++;
    if (b.headersDone) {
      // Only chan_sip dumps get here: their body runs until the end marker.
      if (b.consumed > MAX_BLOCK_LINES) this.completeBlock();
      return true;
    }
    if (t === '') {
      if (b.lines.length === 0) {
        // Nothing logged after the header: the message is missing.
        this.completeBlock();
        return true;
      }
      b.headersDone = true;
      if (b.kind !== 'chansip') this.completeBlock();
      return true;
    }
    if (b.kind === 'siptrace' && b.lines.length === 0 && /^-+$/.test(t)) return true; // tport_log_msg separator
    b.lines.push(b.kind === 'siptrace' ? line.trimStart() : line);
    b.chars += line.length;
    if (b.lines.length >= MAX_BLOCK_LINES || b.chars >= MAX_BLOCK_CHARS) {
      b.headersDone = true;
      if (b.kind !== 'chansip') this.completeBlock();
    }
    return true;
  }

  private completeBlock(): void {
    const b = this.block;
    if (b === undefined) return;
    this.block = undefined;
    if (b.lines.length === 0) {
      if (b.response === true) this.out({ error: 'incomplete_block' });
      return;
    }
    const msg = parseSipMessage(b.lines.join('\n'));
    if (msg === undefined) {
      if (b.response === true || (b.lines[0] as string).trimStart().startsWith('SIP/')) this.out({ error: 'malformed_message' });
      return;
    }
    if (!msg.isResponse) return;
    if (msg.code === undefined) return this.out({ error: 'invalid_code' });
    const ev: SipEvent = { code: msg.code, reason: msg.reason ?? '', method: msg.method };
    if (msg.cseq !== undefined) ev.cseq = msg.cseq;
    if (msg.callId !== undefined) ev.callId = msg.callId;
    if (msg.toTag !== undefined) ev.toTag = msg.toTag;
    if (b.src !== undefined) ev.src = b.src;
    if (b.dst !== undefined) ev.dst = b.dst;
    this.out(ev);
  }

  private out(r: ParseResult): void {
    if (r !== undefined && this.latin1 && !isParseError(r)) fixLatin1(r);
    this.emitResult(r);
  }
}

/** Node's Buffer has latin1Slice (what toString('latin1') calls after argument checks); not in @types/node. */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

/**
 * Bounds a map by insertion order without iterating it (a Map iterator must skip every deleted entry at
 * its front, which gets slow under constant insert/delete): the oldest key is evicted when a new one
 * comes in and the ring is full. A key deleted earlier and added again may be evicted early; that only
 * forgets a little sooner.
 */
class Ring {
  private readonly keys: (string | undefined)[];
  private i = 0;
  constructor(size: number, private readonly evict: (key: string) => void) {
    this.keys = new Array<string | undefined>(size);
  }
  add(key: string): void {
    const old = this.keys[this.i];
    if (old !== undefined) this.evict(old);
    this.keys[this.i] = key;
    this.i = (this.i + 1) % this.keys.length;
  }
}


function hasHigh(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return true;
  return false;
}

function utf8(s: string): string {
  return hasHigh(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/** Text decoded as latin1 whose bytes were UTF-8: re-decode the event's text fields. */
function fixLatin1(ev: SipEvent): void {
  ev.reason = utf8(ev.reason);
  ev.method = utf8(ev.method);
  if (ev.callId !== undefined) ev.callId = utf8(ev.callId);
  if (ev.toTag !== undefined) ev.toTag = utf8(ev.toTag);
}

/** Kamailio `log_engine_type="json"`: the acc record is the "message" member. */
function accFromJson(line: string): ParseResult {
  let msg: unknown;
  try {
    msg = (JSON.parse(line) as { message?: unknown }).message;
  } catch {
    msg = undefined;
  }
  if (typeof msg !== 'string') {
    const i = line.indexOf(ACC_MARKER);
    return i >= 0 ? parseAcc(line, i) : undefined;
  }
  const i = msg.indexOf(ACC_MARKER);
  return i >= 0 ? parseAcc(msg.replace(/\s+$/, ''), i) : undefined;
}

export function createLineParser(opts: LineParserOptions, emit: (r: ParseResult) => void): LogLineParser {
  return new LogLineParser(opts, emit);
}
