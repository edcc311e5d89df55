import { describe, expect, it } from 'vitest';
import { SourceRateLimiter, sourceRateLimiter } from '../../src/net/ratelimit.js';

/** How many of `n` messages from `source` at time `now` are allowed. */
function burst(l: SourceRateLimiter, source: string, n: number, now: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (l.allow(source, now)) ok++;
  return ok;
}

describe('SourceRateLimiter', () => {
  it('lets a new source send a burst of one second worth, then nothing at the same instant', () => {
    const l = new SourceRateLimiter(10);
    expect(burst(l, '192.0.2.1', 25, 1000)).toBe(10);
    expect(l.allow('192.0.2.1', 1000)).toBe(false);
  });

  it('refills at the rate: one message per 1/rate seconds, fractions carried over', () => {
    const l = new SourceRateLimiter(10);
    expect(burst(l, 'a', 10, 0)).toBe(10);
    expect(l.allow('a', 99)).toBe(false); // 0.99 tokens
    expect(l.allow('a', 100)).toBe(true); // 1.0 token (0.99 kept from before + 0.01)
    expect(l.allow('a', 150)).toBe(false); // 0.5
    expect(l.allow('a', 200)).toBe(true);
    expect(burst(l, 'a', 10, 550)).toBe(3); // 3.5 tokens
    expect(burst(l, 'a', 10, 600)).toBe(1); // 0.5 + 0.5
  });

  it('never holds more than one second worth, however long a source was quiet', () => {
    const l = new SourceRateLimiter(5);
    expect(burst(l, 'a', 5, 0)).toBe(5);
    expect(burst(l, 'a', 100, 3_600_000)).toBe(5);
  });

  it('a steady rate at the limit is never dropped; above it, the excess is', () => {
    const l = new SourceRateLimiter(100);
    let ok = 0;
    for (let t = 0; t < 10_000; t += 10) if (l.allow('a', t)) ok++; // exactly 100/s
    expect(ok).toBe(1000);
    const m = new SourceRateLimiter(100);
    ok = 0;
    for (let t = 0; t < 10_000; t += 5) if (m.allow('a', t)) ok++; // 200/s for 10 s
    expect(ok).toBe(100 + 999); // the initial burst plus 100 per second: 999.5 tokens refilled from t = 0 to 9995
  });

  it('sources are independent', () => {
    const l = new SourceRateLimiter(3);
    expect(burst(l, '127.0.0.1', 10, 0)).toBe(3);
    expect(burst(l, '127.0.0.2', 10, 0)).toBe(3);
    expect(burst(l, '::1', 2, 0)).toBe(2);
    expect(l.allow('127.0.0.1', 0)).toBe(false);
  });

  it('a clock that goes backwards neither refills nor throws', () => {
    const l = new SourceRateLimiter(2);
    expect(burst(l, 'a', 3, 10_000)).toBe(2);
    expect(l.allow('a', 5_000)).toBe(false);
    expect(l.allow('a', 10_500)).toBe(true);
  });

  it('remembers at most maxSources sources, forgetting the least recently seen', () => {
    const l = new SourceRateLimiter(2, 3);
    expect(burst(l, 'a', 2, 0)).toBe(2);
    expect(burst(l, 'b', 2, 0)).toBe(2);
    expect(burst(l, 'c', 2, 0)).toBe(2);
    expect(l.allow('a', 0)).toBe(false); // a is now the most recently seen
    expect(l.allow('d', 0)).toBe(true); // forgets b, the least recently seen
    expect(l.size).toBe(3);
    expect(l.allow('a', 0)).toBe(false); // still remembered, still empty
    expect(l.allow('c', 0)).toBe(false);
    expect(burst(l, 'b', 5, 0)).toBe(2); // forgotten: starts with a full bucket again (forgets d)
    expect(l.size).toBe(3);
  });

  it('a flood of distinct (spoofed) sources keeps memory bounded', () => {
    const l = new SourceRateLimiter(10, 4096);
    let ok = 0;
    for (let i = 0; i < 100_000; i++) if (l.allow(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i)) ok++;
    expect(ok).toBe(100_000); // each a new source with a full bucket
    expect(l.size).toBe(4096);
  });

  it('0 means unlimited (no limiter); bad arguments are rejected', () => {
    expect(sourceRateLimiter(0)).toBeUndefined();
    expect(sourceRateLimiter(7)?.rate).toBe(7);
    expect(() => new SourceRateLimiter(0)).toThrow();
    expect(() => new SourceRateLimiter(1, 0)).toThrow();
  });
});
