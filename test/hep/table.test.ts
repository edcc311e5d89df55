import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fpA, fpB, hashBytes, hashInt, hashReset } from '../../src/sources/hep/hash.js';
import { DedupWindow, FpTable, PendingTable } from '../../src/sources/hep/table.js';

describe('FpTable', () => {
  it('behaves like a Map under random inserts and deletes (including colliding home slots)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 2000 }),
        (ops) => {
          const t = new FpTable(1000, 16);
          const ref = new Map<number, number>();
          for (const [ins, k] of ops) {
            // many keys share home slots: a = k * 1024 all map to slot 0 of small tables
            const a = (k % 7) * 1024 + (k % 3);
            const b = k;
            const s = t.find(a, b);
            expect(s >= 0).toBe(ref.has(k));
            if (ins && s < 0 && !t.full) {
              const slot = t.insert(a, b);
              t.rec[(slot << 2) + 2] = k;
              ref.set(k, k);
            } else if (!ins && s >= 0) {
              t.removeSlot(s);
              ref.delete(k);
            }
            expect(t.size).toBe(ref.size);
          }
          for (const k of ref.keys()) {
            const s = t.find((k % 7) * 1024 + (k % 3), k);
            expect(s).toBeGreaterThanOrEqual(0);
            expect(t.rec[(s << 2) + 2]).toBe(k);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('grows up to its bound and keeps every entry', () => {
    const t = new FpTable(100_000, 16);
    for (let i = 0; i < 100_000; i++) t.insert(Math.imul(i, 0x9e3779b1), i);
    expect(t.size).toBe(100_000);
    expect(t.full).toBe(true);
    for (let i = 0; i < 100_000; i += 997) expect(t.find(Math.imul(i, 0x9e3779b1), i)).toBeGreaterThanOrEqual(0);
    expect(t.capacity).toBeLessThanOrEqual(262_144);
  });
});

describe('DedupWindow', () => {
  it('reports first copy, retransmission (known path) and relayed copy (new path)', () => {
    const w = new DedupWindow(10, 1000);
    expect(w.seen(1, 1, 7, 0)).toBe(0);
    expect(w.seen(0, 0, 7, 0)).toBe(0); // the key (0, 0) works too
    expect(w.seen(1, 1, 7, 1)).toBe(1);
    expect(w.seen(1, 1, 8, 2)).toBe(2);
    expect(w.seen(1, 1, 8, 3)).toBe(1);
    expect(w.seen(1, 1, 9, 4)).toBe(2);
    expect(w.seen(1, 1, 0xffffffff, 4)).toBe(2);
  });

  it('remembers keys for at least the window and at most twice the window', () => {
    const w = new DedupWindow(100, 1000);
    w.seen(1, 1, 1, 0); // generation starts at 0
    w.seen(2, 2, 1, 999);
    expect(w.seen(1, 1, 1, 999)).toBe(1);
    expect(w.seen(1, 1, 1, 1000)).toBe(1); // new generation at 1000: the old one is still consulted
    expect(w.seen(2, 2, 1, 1999)).toBe(1); // 1000 ms after its first copy: still remembered
    expect(w.seen(1, 1, 1, 2000)).toBe(0); // generation of time 0 forgotten: first copy again
    expect(w.seen(2, 2, 1, 2000)).toBe(0);
    w.expire(10_000);
    w.expire(20_000);
    expect(w.size).toBe(0);
  });

  it('forgets the oldest generation early when full and counts its entries', () => {
    const w = new DedupWindow(6, 1_000_000, 1); // 3 keys per generation
    for (let k = 1; k <= 7; k++) w.seen(k, k, 1, k);
    expect(w.evictions).toBe(3); // keys 1-3
    expect(w.size).toBe(4);
    expect(w.seen(1, 1, 1, 10)).toBe(0);
    expect(w.seen(5, 5, 1, 10)).toBe(1);
  });

  it('stays bounded over many more keys than it holds', () => {
    const w = new DedupWindow(5000, 1_000_000);
    for (let i = 0; i < 50_000; i++) w.seen(Math.imul(i, 0x9e3779b1), i, 1, i);
    expect(w.size).toBeLessThanOrEqual(5000);
    expect(w.size + w.evictions).toBe(50_000);
  });

  it('touching its pages in slices changes no entry', () => {
    const w = new DedupWindow(200_000, 1_000_000, 200_000);
    for (let i = 0; i < 50_000; i++) expect(w.seen(Math.imul(i, 0x9e3779b1), i, 7, 0)).toBe(0);
    let pages = Infinity;
    for (let from = 0; from < pages; from += 10) pages = w.touchPages(from, from + 10);
    // 100,000 entries per generation -> 262,144 slots of 16 bytes = 4 MiB = 1024 pages
    expect(pages).toBe(1024);
    for (let i = 0; i < 50_000; i++) expect(w.seen(Math.imul(i, 0x9e3779b1), i, 7, 0)).toBe(1);
    expect(w.seen(1, 50_001, 7, 0)).toBe(0);
    expect(w.size).toBe(50_001);
  });
});

describe('PendingTable', () => {
  it('sweeps entries older than the timeout, in bounded steps', () => {
    const p = new PendingTable(10_000, 5000);
    for (let i = 0; i < 1000; i++) {
      const s = p.table.insert(Math.imul(i, 0x9e3779b1), i);
      p.table.rec[(s << 2) + 3] = p.stamp(i < 500 ? 10_000 : 20_000); // receive time
    }
    let removed = 0;
    for (let k = 0; k < 300; k++) removed += p.sweep(16_000, 64); // 8192 slots: more than two passes
    expect(removed).toBe(500);
    expect(p.size).toBe(500);
  });
});

describe('fingerprint hashing', () => {
  const fp = (fields: string[]) => {
    hashReset();
    for (const f of fields) hashBytes(Buffer.from(f), 0, f.length);
    hashInt(42);
    return `${fpA()}:${fpB()}`;
  };
  it('separates field boundaries', () => {
    expect(fp(['ab', 'c'])).not.toBe(fp(['a', 'bc']));
    expect(fp(['abc', ''])).not.toBe(fp(['', 'abc']));
  });
  it('has no collisions among 200k similar keys', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) seen.add(fp([`call-${i}@host`, 'INVITE', `tag${i % 10}`]));
    expect(seen.size).toBe(200_000);
  });
});
