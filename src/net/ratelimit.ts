/** How many source addresses a limiter remembers by default; beyond that the least recently seen is forgotten. */
export const DEFAULT_MAX_SOURCES = 4096;

interface Bucket {
  tokens: number;
  last: number;
}

/**
 * A token bucket per source address: `rate` messages per second, with a burst of one second's worth
 * (`rate` tokens). A source seen for the first time starts with a full bucket.
 *
 * Memory is bounded: at most `maxSources` buckets are kept (a Map in least-recently-seen order, each
 * message moves its source to the end); when full, the least recently seen source is forgotten, so a
 * flood of spoofed source addresses costs a fixed amount of memory (a forgotten source that comes back
 * starts with a full bucket again). Cost per message: two Map operations and a few arithmetic ones.
 *
 * The caller passes the clock (milliseconds, e.g. Date.now() it already read for the message).
 */
export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    readonly rate: number,
    readonly maxSources = DEFAULT_MAX_SOURCES,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new Error(`rate must be a positive number, got ${rate}`);
    if (!Number.isInteger(maxSources) || maxSources < 1) throw new Error(`maxSources must be a positive integer, got ${maxSources}`);
    this.perMs = rate / 1000;
  }

  /** Number of sources currently remembered. */
  get size(): number {
    return this.buckets.size;
  }

  /** True if a message from `source` at time `now` (ms) is within the limit (and takes a token). */
  allow(source: string, now: number): boolean {
    const b = this.buckets.get(source);
    if (b === undefined) {
      if (this.buckets.size >= this.maxSources) {
        // Least recently seen first in insertion order.
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      this.buckets.set(source, { tokens: this.rate - 1, last: now });
      return true;
    }
    // Move to the end: most recently seen.
    this.buckets.delete(source);
    this.buckets.set(source, b);
    const elapsed = now - b.last;
    if (elapsed > 0) {
      const t = b.tokens + elapsed * this.perMs;
      b.tokens = t > this.rate ? this.rate : t;
      b.last = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    return false;
  }

  clear(): void {
    this.buckets.clear();
  }
}

/** A limiter for a configured rate, or undefined for 0 (unlimited). */
export function sourceRateLimiter(rate: number, maxSources = DEFAULT_MAX_SOURCES): SourceRateLimiter | undefined {
  return rate > 0 ? new SourceRateLimiter(rate, maxSources) : undefined;
}
