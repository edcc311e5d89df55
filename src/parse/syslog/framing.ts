/**
 * Syslog stream framing (RFC 6587 for TCP, RFC 5425 for TLS), detected per frame on the same stream:
 *
 * - octet counting: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN a decimal number without a leading zero;
 * - non-transparent framing: the message up to a trailer, LF (also CRLF) or NUL.
 *
 * A frame that starts with 1-9 is octet-counted, anything else is trailer-delimited (what rsyslog's
 * imtcp does). Stray LF, CR and NUL bytes between frames are skipped, so octet-counted messages that
 * carry a trailing newline work as well.
 *
 * Bad frames are reported and the stream recovers:
 * - `bad_octet_count`: digits not followed by a space (or more than 10 digits); the frame is then read
 *   as trailer-delimited text, digits included (OpenBSD syslogd does the same);
 * - `message_too_large`: longer than the maximum; an octet-counted frame is skipped by its count, a
 *   trailer-delimited one up to its trailer, without buffering either;
 * - `truncated_frame`: the stream ended inside an octet-counted frame. (Text after the last trailer is
 *   a complete message at the end of the stream, like rsyslog treats it.)
 *
 * Memory per stream is bounded by the maximum message size: partial frames are copied into one buffer
 * that grows as needed, never kept as views of the (much larger) socket read buffers.
 */

export const FRAMING_ERRORS = ['bad_octet_count', 'message_too_large', 'truncated_frame'] as const;
export type FramingError = (typeof FRAMING_ERRORS)[number];

export interface FrameSink {
  /**
   * One message, trailers removed, never empty. The buffer may be a view into the framer's or the
   * caller's memory: valid only during the call.
   */
  message(msg: Buffer): void;
  error(reason: FramingError): void;
}

const LF = 10;
const CR = 13;
const NUL = 0;
const SP = 32;
const MAX_DIGITS = 10;

/** Framer states: between frames, reading a count, inside a counted frame or a line, skipping either. */
const State = { Start: 0, Count: 1, Data: 2, Line: 3, SkipData: 4, SkipLine: 5 } as const;
type State = (typeof State)[keyof typeof State];

export class StreamFramer {
  private state: State = State.Start;
  private count = 0;
  private digits = 0;
  private remaining = 0;
  private acc: Buffer = EMPTY;
  private accLen = 0;

  constructor(
    private readonly maxSize: number,
    private readonly sink: FrameSink,
  ) {}

  /** Bytes held for an incomplete frame (for tests and limits). */
  get buffered(): number {
    return this.accLen;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    // Next LF / NUL positions in this chunk, found lazily and reused while still ahead of i.
    let lf = -2;
    let nul = -2;
    while (i < n) {
      switch (this.state) {
        case State.Start: {
          const b = chunk[i] as number;
          if (b === LF || b === CR || b === NUL) {
            i++;
          } else if (b >= 49 && b <= 57) {
            this.state = State.Count;
            this.count = 0;
            this.digits = 0;
          } else {
            this.state = State.Line;
          }
          break;
        }
        case State.Count: {
          while (i < n) {
            const b = chunk[i] as number;
            if (b < 48 || b > 57 || this.digits === MAX_DIGITS) break;
            this.count = this.count * 10 + (b - 48);
            this.digits++;
            i++;
          }
          if (i === n) break;
          if (chunk[i] === SP && this.digits <= MAX_DIGITS) {
            i++;
            this.remaining = this.count;
            if (this.count > this.maxSize) {
              this.sink.error('message_too_large');
              this.state = State.SkipData;
            } else {
              this.state = State.Data;
            }
          } else {
            // Not a count after all: the digits start a trailer-delimited message.
            this.sink.error('bad_octet_count');
            this.append(Buffer.from(String(this.count), 'latin1'), 0, this.digits);
            this.state = State.Line;
          }
          break;
        }
        case State.Data: {
          const take = Math.min(this.remaining, n - i);
          if (this.accLen === 0 && take === this.remaining) {
            this.emit(chunk, i, i + take);
          } else {
            this.append(chunk, i, i + take);
            if (take === this.remaining) {
              this.emit(this.acc, 0, this.accLen);
              this.accLen = 0;
            }
          }
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.state = State.Start;
            this.shrink();
          }
          break;
        }
        case State.Line: {
          if (lf !== -1 && lf < i) lf = chunk.indexOf(LF, i);
          if (nul !== -1 && nul < i) nul = chunk.indexOf(NUL, i);
          const end = lf < 0 ? nul : nul < 0 ? lf : Math.min(lf, nul);
          if (end < 0) {
            if (this.accLen + (n - i) > this.maxSize + 1) {
              // +1: room for the CR of a CRLF trailer.
              this.sink.error('message_too_large');
              this.accLen = 0;
              this.shrink();
              this.state = State.SkipLine;
            } else {
              this.append(chunk, i, n);
            }
            i = n;
            break;
          }
          if (this.accLen === 0) {
            this.line(chunk, i, end);
          } else if (this.accLen + (end - i) > this.maxSize + 1) {
            this.sink.error('message_too_large');
            this.accLen = 0;
          } else {
            this.append(chunk, i, end);
            this.line(this.acc, 0, this.accLen);
            this.accLen = 0;
          }
          this.shrink();
          i = end + 1;
          this.state = State.Start;
          break;
        }
        case State.SkipData: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = State.Start;
          break;
        }
        case State.SkipLine: {
          if (lf !== -1 && lf < i) lf = chunk.indexOf(LF, i);
          if (nul !== -1 && nul < i) nul = chunk.indexOf(NUL, i);
          const end = lf < 0 ? nul : nul < 0 ? lf : Math.min(lf, nul);
          if (end < 0) {
            i = n;
          } else {
            i = end + 1;
            this.state = State.Start;
          }
          break;
        }
      }
    }
  }

  /** The stream ended: a trailing unterminated line is a message, a partial octet frame an error. */
  end(): void {
    switch (this.state) {
      case State.Line:
        if (this.accLen > 0) this.line(this.acc, 0, this.accLen);
        break;
      case State.Count:
      case State.Data:
        this.sink.error('truncated_frame');
        break;
      default:
        break;
    }
    this.state = State.Start;
    this.accLen = 0;
    this.acc = EMPTY;
  }

  /**
   * The stream broke off (reset, idle timeout, shutdown): a partial frame of either kind is counted as
   * truncated and discarded, nothing is emitted.
   */
  abort(): void {
    if (this.state === State.Count || this.state === State.Data || (this.state === State.Line && this.accLen > 0)) this.sink.error('truncated_frame');
    this.state = State.Start;
    this.accLen = 0;
    this.acc = EMPTY;
  }

  /** A trailer-delimited message: drop a CR before the LF and check the size. */
  private line(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === CR) end--;
    if (end - start > this.maxSize) {
      this.sink.error('message_too_large');
      return;
    }
    if (end > start) this.sink.message(buf.subarray(start, end));
  }

  /** An octet-counted message: trailing LF / CR / NUL added by some templates are not part of the text. */
  private emit(buf: Buffer, start: number, end: number): void {
    while (end > start) {
      const b = buf[end - 1];
      if (b !== LF && b !== CR && b !== NUL) break;
      end--;
    }
    if (end > start) this.sink.message(buf.subarray(start, end));
  }

  private append(src: Buffer, start: number, end: number): void {
    const len = end - start;
    if (len <= 0) return;
    const need = this.accLen + len;
    if (need > this.acc.length) {
      let cap = Math.max(this.acc.length * 2, 1024);
      while (cap < need) cap *= 2;
      const next = Buffer.allocUnsafe(Math.min(cap, Math.max(need, this.maxSize + 1)));
      this.acc.copy(next, 0, 0, this.accLen);
      this.acc = next;
    }
    src.copy(this.acc, this.accLen, start, end);
    this.accLen = need;
  }

  /** Gives back a large buffer once a big frame is done, so idle connections hold little memory. */
  private shrink(): void {
    if (this.accLen === 0 && this.acc.length > 16 * 1024) this.acc = EMPTY;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * One UDP datagram is one message (RFC 5426). Trailing LF / CR / NUL are removed. Returns the message
 * bytes, undefined for an empty datagram, or 'message_too_large'.
 */
export function datagramMessage(buf: Buffer, maxSize: number): Buffer | 'message_too_large' | undefined {
  let end = buf.length;
  while (end > 0) {
    const b = buf[end - 1];
    if (b !== LF && b !== CR && b !== NUL) break;
    end--;
  }
  if (end === 0) return undefined;
  if (end > maxSize) return 'message_too_large';
  return end === buf.length ? buf : buf.subarray(0, end);
}
