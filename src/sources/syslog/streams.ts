import type { LineParser } from '../../parse/dialects/index.js';

interface Stream {
  parser: LineParser;
  /** Last message time (ms). */
  last: number;
  /** A single line went in since the last flush, so a multi-line block may be open. */
  pending: boolean;
}

/**
 * One log-dialect parser per sender, so the syslog input treats each sender's messages like the lines
 * of one log file: a sender that forwards a multi-line record line by line (rsyslog imfile reading an
 * Asterisk full log, for example) still has its block assembled in order, and each sender's precedence
 * windows stay its own. A sender is identified by host name (or peer address), program and process id.
 *
 * A message that holds several lines (real newlines or rsyslog `#012` escapes) is complete in itself:
 * the dialect parser reads it as one record. Blocks left open by line-by-line senders are completed
 * after `idleFlushMs` without further lines from that sender. Memory is bounded: at most `maxStreams`
 * senders are remembered (the least recently used one is flushed and forgotten), and senders silent for
 * `forgetMs` are forgotten.
 */
export class SenderStreams {
  private readonly streams = new Map<string, Stream>();
  /** The previous message's sender: consecutive messages mostly come from the same one. */
  private lastHost = '';
  private lastApp = '';
  private lastProc = '';
  private recent: Stream | undefined;

  constructor(
    private readonly create: () => LineParser,
    private readonly maxStreams = 1024,
    private readonly idleFlushMs = 2000,
    private readonly forgetMs = 10 * 60_000,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** Feeds one message text from the sender (host, program, process id). */
  message(host: string, app: string, proc: string, text: string, now: number): void {
    let s = this.recent;
    if (s === undefined || host !== this.lastHost || app !== this.lastApp || proc !== this.lastProc || now - s.last > 1000) {
      s = this.lookup(`${host}\0${app}\0${proc}`, now);
      this.recent = s;
      this.lastHost = host;
      this.lastApp = app;
      this.lastProc = proc;
    }
    s.last = now;
    s.parser.line(text);
    s.pending = text.indexOf('\n') < 0;
  }

  private lookup(key: string, now: number): Stream {
    let s = this.streams.get(key);
    if (s === undefined) {
      if (this.streams.size >= this.maxStreams) this.evictOldest();
      s = { parser: this.create(), last: now, pending: false };
      this.streams.set(key, s);
    } else if (now - s.last > 1000) {
      // Keep the map in rough least-recently-used order without reordering on every message.
      this.streams.delete(key);
      this.streams.set(key, s);
    }
    return s;
  }

  /** Completes blocks of quiet senders and forgets long-silent ones; call about once a second. */
  sweep(now: number): void {
    for (const [key, s] of this.streams) {
      const idle = now - s.last;
      if (s.pending && idle >= this.idleFlushMs) {
        s.pending = false;
        s.parser.flush();
      }
      if (idle >= this.forgetMs) {
        this.streams.delete(key);
        if (this.recent === s) this.recent = undefined;
      }
    }
  }

  flushAll(): void {
    for (const s of this.streams.values()) s.parser.flush();
    this.streams.clear();
    this.recent = undefined;
  }

  private evictOldest(): void {
    const first = this.streams.entries().next();
    if (first.done === true) return;
    const [key, s] = first.value;
    this.streams.delete(key);
    if (this.recent === s) this.recent = undefined;
    s.parser.flush();
  }
}
