import type { LogLineParser, ScanStats } from '../../parse/dialects/index.js';

const NL = 10;
/** Default read size: large enough that per-read overhead vanishes, small enough to stay cache-friendly. */
export const CHUNK_SIZE = 1 << 20;

/**
 * Splits a byte stream into lines for a LogLineParser with bounded memory: it owns one buffer of
 * maxLineLength + chunkSize bytes, callers read straight into its free space (`writeOffset`/`space`) or
 * `push()` chunks, and only an incomplete last line (at most maxLineLength bytes) is kept between reads.
 * A line longer than maxLineLength is counted (stats.tooLong) and its bytes are discarded as they arrive,
 * never buffered.
 */
export class LineReader {
  readonly buf: Buffer;
  /** Bytes at the start of buf that belong to the incomplete last line. */
  private len = 0;
  /** Discarding the rest of a line that is too long (or, when quiet, a line we joined in the middle). */
  private skipping = false;
  private quietSkip = false;
  /** Bytes of the line being skipped so far. */
  private skipped = 0;

  constructor(
    readonly parser: LogLineParser,
    readonly maxLineLength: number,
    readonly stats: ScanStats,
    chunkSize = CHUNK_SIZE,
  ) {
    this.buf = Buffer.allocUnsafe(maxLineLength + 1 + chunkSize);
  }

  /** Where the next read should write into `buf`. */
  get writeOffset(): number {
    return this.len;
  }

  /** How many bytes may be written at writeOffset. */
  get space(): number {
    return this.buf.length - this.len;
  }

  /** Bytes received that are not yet part of a complete line; the stream position of the next line start is (bytes received - pending). */
  get pending(): number {
    return this.skipping ? this.skipped : this.len;
  }

  /**
   * Starts in the middle of a line (tailing from the end of a file that does not end with a newline):
   * the bytes up to the next newline belong to a line written before we started and are dropped uncounted.
   */
  skipPartialLine(): void {
    this.len = 0;
    this.skipping = true;
    this.quietSkip = true;
    this.skipped = 0;
  }

  /** `n` bytes were written at writeOffset: parses every complete line. */
  commit(n: number): void {
    if (n <= 0) return;
    const buf = this.buf;
    const end = this.len + n;
    let start = 0;
    if (this.skipping) {
      const nl = buf.indexOf(NL, this.len);
      if (nl < 0 || nl >= end) {
        this.skipped += n;
        this.len = 0;
        return;
      }
      if (!this.quietSkip) {
        this.stats.lines++;
        this.stats.tooLong++;
      }
      this.skipping = false;
      this.quietSkip = false;
      this.skipped = 0;
      start = nl + 1;
    }
    const last = end > start ? buf.lastIndexOf(NL, end - 1) : -1;
    if (last >= start) {
      this.parser.scan(buf, start, last + 1, this.maxLineLength, this.stats);
      start = last + 1;
    }
    const rest = end - start;
    if (rest > this.maxLineLength) {
      this.skipping = true;
      this.quietSkip = false;
      this.skipped = rest;
      this.len = 0;
    } else {
      if (rest > 0 && start > 0) buf.copyWithin(0, start, end);
      this.len = rest;
    }
  }

  /** Copies a chunk in (for streams such as gunzip) and parses every complete line. */
  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.space, chunk.length - off);
      this.buf.set(chunk.subarray(off, off + n), this.len);
      off += n;
      this.commit(n);
    }
  }

  /**
   * The stream ended for good (end of a replayed file, a rotated file closed): an unterminated last line
   * is a line, and a pending multi-line block is completed.
   */
  end(): void {
    if (this.skipping) {
      if (!this.quietSkip && this.skipped > 0) {
        this.stats.lines++;
        this.stats.tooLong++;
      }
    } else if (this.len > 0) {
      this.parser.scan(this.buf, 0, this.len, this.maxLineLength, this.stats);
    }
    this.reset();
    this.parser.flush();
  }

  /** Forgets the incomplete line (the file was truncated under us). */
  reset(): void {
    this.len = 0;
    this.skipping = false;
    this.quietSkip = false;
    this.skipped = 0;
  }
}
