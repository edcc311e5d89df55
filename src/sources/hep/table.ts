/**
 * Bounded hash tables keyed by 64-bit fingerprints, for the HEP input's distinct counting and
 * request/response matching. Flat typed arrays (no per-entry objects, no per-packet allocation), one
 * 16-byte record per slot so a lookup touches one cache line, linear probing with backward-shift
 * deletion (no tombstones), capacity doubling up to a fixed bound.
 *
 * Keys are two independent 32-bit hashes of the identifying fields (see hash.ts). With n live entries
 * the chance that a new distinct key collides with one of them is about n / 2^64 (a million entries:
 * 5e-14 per lookup), so counting is exact for all practical purposes while each entry costs 16-24 bytes.
 */

const MIN_CAPACITY = 1024;
/** Int32 words per 4 KiB page. */
const PAGE_WORDS = 1024;

function nextPow2(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

/**
 * Open-addressing table: key (a, b) -> slot with two 32-bit data words (u1, u2) and, optionally, a
 * float64 (t). Record layout in `rec`: [a, b, u1, u2] at 4 * slot. The key (0, 0) marks an empty slot,
 * so a key that hashes to (0, 0) is stored as (0, 1).
 */
export class FpTable {
  /** Live entries. */
  size = 0;
  private cap: number;
  private mask: number;
  private readonly maxCap: number;
  /** Records [a, b, u1, u2]; slots move on delete and resize: never keep a slot across calls. */
  rec: Int32Array;
  t: Float64Array;

  constructor(readonly maxEntries: number, initialEntries = 4096, private readonly withTime = false) {
    // load factor at most 3/4 at the bound, 1/2 while growing
    this.maxCap = nextPow2(Math.ceil((maxEntries * 4) / 3));
    this.cap = Math.min(this.maxCap, nextPow2(initialEntries * 2));
    this.mask = this.cap - 1;
    this.rec = new Int32Array(this.cap * 4);
    this.t = new Float64Array(withTime ? this.cap : 0);
  }

  /**
   * Writes one word of every 4 KiB page of rec in [fromPage, toPage) without changing it, so the
   * kernel backs those pages now. Returns the page count of rec. Large typed arrays start as untouched
   * zero pages; the first write to each is a page fault, and thousands of them in the first second of
   * traffic stall the receive loop long enough for the kernel to drop UDP packets.
   */
  touchPages(fromPage: number, toPage: number): number {
    const rec = this.rec;
    const pages = Math.ceil(rec.length / PAGE_WORDS);
    const end = Math.min(toPage, pages) * PAGE_WORDS;
    // Atomics.add(…, 0): a real write of the same value that the compiler cannot drop.
    for (let i = fromPage * PAGE_WORDS; i < end; i += PAGE_WORDS) Atomics.add(rec, i, 0);
    return pages;
  }

  get capacity(): number {
    return this.cap;
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.rec.byteLength + this.t.byteLength;
  }

  get full(): boolean {
    return this.size >= this.maxEntries;
  }

  find(a: number, b: number): number {
    if ((a | b) === 0) b = 1;
    const rec = this.rec;
    const mask = this.mask;
    let i = a & mask;
    for (;;) {
      const o = i << 2;
      const ka = rec[o]!;
      const kb = rec[o + 1]!;
      if (ka === a && kb === b) return i;
      if ((ka | kb) === 0) return -1;
      i = (i + 1) & mask;
    }
  }

  /** Inserts a key known to be absent; the caller keeps size below maxEntries. Returns its slot. */
  insert(a: number, b: number): number {
    if ((a | b) === 0) b = 1;
    if ((this.size + 1) * 2 > this.cap && this.cap < this.maxCap) this.grow();
    const rec = this.rec;
    const mask = this.mask;
    let i = a & mask;
    while ((rec[i << 2]! | rec[(i << 2) + 1]!) !== 0) i = (i + 1) & mask;
    const o = i << 2;
    rec[o] = a;
    rec[o + 1] = b;
    rec[o + 2] = 0;
    rec[o + 3] = 0;
    if (this.withTime) this.t[i] = 0;
    this.size++;
    return i;
  }

  used(i: number): boolean {
    return (this.rec[i << 2]! | this.rec[(i << 2) + 1]!) !== 0;
  }

  /** Removes the entry in slot i (backward-shift deletion keeps probe chains intact). */
  removeSlot(i: number): void {
    const { rec, t, mask, withTime } = this;
    let j = i;
    for (;;) {
      rec[i << 2] = 0;
      rec[(i << 2) + 1] = 0;
      for (;;) {
        j = (j + 1) & mask;
        const oj = j << 2;
        if ((rec[oj]! | rec[oj + 1]!) === 0) {
          this.size--;
          return;
        }
        const home = rec[oj]! & mask;
        // Entry j can stay if its home lies cyclically in (i, j].
        const stays = i <= j ? i < home && home <= j : i < home || home <= j;
        if (!stays) break;
      }
      const oi = i << 2;
      const oj = j << 2;
      rec[oi] = rec[oj]!;
      rec[oi + 1] = rec[oj + 1]!;
      rec[oi + 2] = rec[oj + 2]!;
      rec[oi + 3] = rec[oj + 3]!;
      if (withTime) t[i] = t[j]!;
      i = j;
    }
  }

  /** Forgets every entry (keeps the current capacity). */
  clear(): void {
    if (this.size === 0) return;
    this.rec.fill(0);
    this.size = 0;
  }

  private grow(): void {
    const oldRec = this.rec;
    const oldT = this.t;
    const oldCap = this.cap;
    this.cap *= 2;
    this.mask = this.cap - 1;
    this.rec = new Int32Array(this.cap * 4);
    this.t = new Float64Array(this.withTime ? this.cap : 0);
    const { rec, t, mask, withTime } = this;
    for (let s = 0; s < oldCap; s++) {
      const os = s << 2;
      const a = oldRec[os]!;
      const b = oldRec[os + 1]!;
      if ((a | b) === 0) continue;
      let i = a & mask;
      while ((rec[i << 2]! | rec[(i << 2) + 1]!) !== 0) i = (i + 1) & mask;
      const o = i << 2;
      rec[o] = a;
      rec[o + 1] = b;
      rec[o + 2] = oldRec[os + 2]!;
      rec[o + 3] = oldRec[os + 3]!;
      if (withTime) t[i] = oldT[s]!;
    }
  }
}

/**
 * A de-duplication window: remembers each key for at least `windowMs` after it was first seen, in at
 * most `maxEntries` entries.
 *
 * Two generations: new keys go into the current one; every windowMs the current generation becomes the
 * previous one and the previous one is forgotten, so a key is remembered between windowMs and
 * 2 x windowMs. Each generation holds at most maxEntries / 2 keys; when the current one fills up before
 * its time, the previous generation (the oldest keys) is forgotten early and its entries are counted in
 * `evictions`. A lookup is at most two probes into flat arrays, and nothing is removed key by key.
 *
 * Per key the first two distinct "paths" (hash of source and destination address) it was seen on are
 * kept, so a copy can be classified as a retransmission (a path seen before) or relayed (a new path).
 */
export class DedupWindow {
  private cur: FpTable;
  private prev: FpTable;
  private genStart = -Infinity;
  /** Entries forgotten before their window ended because the window was full. */
  evictions = 0;
  private readonly genMax: number;

  constructor(readonly maxEntries: number, public windowMs: number, initialEntries = 4096) {
    this.genMax = Math.max(1, Math.floor(maxEntries / 2));
    this.cur = new FpTable(this.genMax, Math.min(initialEntries, this.genMax));
    this.prev = new FpTable(this.genMax, Math.min(initialEntries, this.genMax));
  }

  /** Backs pages [fromPage, toPage) of both generations with memory (FpTable.touchPages); returns the page count of one. */
  touchPages(fromPage: number, toPage: number): number {
    this.prev.touchPages(fromPage, toPage);
    return this.cur.touchPages(fromPage, toPage);
  }

  get size(): number {
    return this.cur.size + this.prev.size;
  }

  get bytes(): number {
    return this.cur.bytes + this.prev.bytes;
  }

  /**
   * Looks the key up; a new key is inserted (first seen at `now` on `path`, a non-zero 32-bit value)
   * and 0 is returned. A known key returns 1 when `path` was seen before for it (retransmission) or
   * 2 for a new path (relayed copy).
   */
  seen(a: number, b: number, path: number, now: number): 0 | 1 | 2 {
    if (now - this.genStart >= this.windowMs) this.rotate(now, false);
    let tb = this.cur;
    let s = tb.find(a, b);
    if (s < 0) {
      tb = this.prev;
      s = tb.find(a, b);
    }
    if (s >= 0) {
      const rec = tb.rec;
      const o = s << 2;
      path |= 0;
      if (path === rec[o + 2] || path === rec[o + 3]) return 1;
      if (rec[o + 3] === 0) rec[o + 3] = path;
      return 2;
    }
    if (this.cur.size >= this.genMax) this.rotate(now, true);
    const slot = this.cur.insert(a, b);
    this.cur.rec[(slot << 2) + 2] = path | 0;
    return 0;
  }

  /** Moves to a new generation when the current one is windowMs old (also called by a timer). */
  expire(now: number): void {
    if (now - this.genStart >= this.windowMs) this.rotate(now, false);
  }

  private rotate(now: number, early: boolean): void {
    if (early) this.evictions += this.prev.size;
    const old = this.prev;
    old.clear();
    this.prev = this.cur;
    this.cur = old;
    // A long idle gap: the previous generation is older than the window too.
    if (!early && now - this.genStart >= 2 * this.windowMs) this.prev.clear();
    this.genStart = now;
  }
}

/**
 * Requests waiting for their response (latency measurement). Entries are removed when the final
 * response arrives, or by `sweep()` once older than the timeout; when the table is full new requests
 * are not tracked (counted by the caller).
 *
 * Columns: t = request capture time (ms), u1 = flags, u2 = `stamp(receive time)` (for sweep).
 */
export class PendingTable {
  readonly table: FpTable;
  private cursor = 0;
  /** Receive times are stored as whole seconds since this base (fits 32 bits for 68 years). */
  private readonly baseSec = Math.floor(Date.now() / 1000);

  constructor(readonly maxEntries: number, public timeoutMs: number) {
    this.table = new FpTable(maxEntries, Math.min(4096, maxEntries), true);
  }

  get size(): number {
    return this.table.size;
  }

  /** The u2 value for a receive time in ms. */
  stamp(nowMs: number): number {
    return Math.floor(nowMs / 1000) - this.baseSec;
  }

  /**
   * Removes entries received more than timeoutMs before `nowMs`, visiting at most `budget` slots per
   * call so a large table never stalls the event loop. Returns how many entries timed out.
   */
  sweep(nowMs: number, budget = 65536): number {
    const tb = this.table;
    const limit = this.stamp(nowMs - this.timeoutMs);
    let removed = 0;
    let visited = 0;
    while (visited < budget && visited < tb.capacity) {
      if (this.cursor >= tb.capacity) this.cursor = 0;
      const i = this.cursor;
      if (tb.used(i) && tb.rec[(i << 2) + 3]! < limit) {
        tb.removeSlot(i);
        removed++;
        // the slot may now hold a shifted entry: look at it again
      } else this.cursor++;
      visited++;
    }
    return removed;
  }
}
