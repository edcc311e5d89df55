/**
 * Bounded hash tables keyed by 64-bit fingerprints, for the HEP input's distinct counting and
 * request/response matching. Flat typed arrays (no per-entry objects, no per-packet allocation),
 * linear probing with backward-shift deletion (no tombstones), capacity doubling up to a fixed bound.
 *
 * Keys are two independent 32-bit hashes of the identifying fields (see hash.ts). With n live entries
 * the chance that a new distinct key collides with one of them is about n / 2^64 (1M entries: 5e-14
 * per lookup), so counting is exact for all practical purposes while each entry costs ~40 bytes.
 */

const MIN_CAPACITY = 1024;

function nextPow2(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

/** Open-addressing table: key (a, b) -> slot with two uint32 data columns and one float64 column. */
export class FpTable {
  /** Live entries. */
  size = 0;
  private cap: number;
  private mask: number;
  private readonly maxCap: number;
  ka: Int32Array;
  kb: Int32Array;
  used: Uint8Array;
  /** Data columns, indexed by slot. Slots move on delete and resize: never keep a slot across calls. */
  u1: Uint32Array;
  u2: Uint32Array;
  t: Float64Array;

  constructor(readonly maxEntries: number, initialEntries = 4096) {
    // load factor at most 3/4 at the bound, 1/2 while growing
    this.maxCap = nextPow2(Math.ceil((maxEntries * 4) / 3));
    this.cap = Math.min(this.maxCap, nextPow2(initialEntries * 2));
    this.mask = this.cap - 1;
    this.ka = new Int32Array(this.cap);
    this.kb = new Int32Array(this.cap);
    this.used = new Uint8Array(this.cap);
    this.u1 = new Uint32Array(this.cap);
    this.u2 = new Uint32Array(this.cap);
    this.t = new Float64Array(this.cap);
  }

  get capacity(): number {
    return this.cap;
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.cap * (4 + 4 + 1 + 4 + 4 + 8);
  }

  get full(): boolean {
    return this.size >= this.maxEntries;
  }

  find(a: number, b: number): number {
    const { ka, kb, used, mask } = this;
    let i = a & mask;
    while (used[i] === 1) {
      if (ka[i] === a && kb[i] === b) return i;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** Inserts a key known to be absent; the caller keeps size below maxEntries. Returns its slot. */
  insert(a: number, b: number): number {
    if ((this.size + 1) * 2 > this.cap && this.cap < this.maxCap) this.grow();
    const { ka, kb, used, mask } = this;
    let i = a & mask;
    while (used[i] === 1) i = (i + 1) & mask;
    used[i] = 1;
    ka[i] = a;
    kb[i] = b;
    this.u1[i] = 0;
    this.u2[i] = 0;
    this.t[i] = 0;
    this.size++;
    return i;
  }

  /** Removes the entry in slot i (backward-shift deletion keeps probe chains intact). */
  removeSlot(i: number): void {
    const { ka, kb, used, u1, u2, t, mask } = this;
    let j = i;
    for (;;) {
      used[i] = 0;
      for (;;) {
        j = (j + 1) & mask;
        if (used[j] === 0) {
          this.size--;
          return;
        }
        const home = ka[j]! & mask;
        // Entry j can stay if its home lies cyclically in (i, j].
        const stays = i <= j ? i < home && home <= j : i < home || home <= j;
        if (!stays) break;
      }
      used[i] = 1;
      ka[i] = ka[j]!;
      kb[i] = kb[j]!;
      u1[i] = u1[j]!;
      u2[i] = u2[j]!;
      t[i] = t[j]!;
      i = j;
    }
  }

  private grow(): void {
    const old = { ka: this.ka, kb: this.kb, used: this.used, u1: this.u1, u2: this.u2, t: this.t, cap: this.cap };
    this.cap *= 2;
    this.mask = this.cap - 1;
    this.ka = new Int32Array(this.cap);
    this.kb = new Int32Array(this.cap);
    this.used = new Uint8Array(this.cap);
    this.u1 = new Uint32Array(this.cap);
    this.u2 = new Uint32Array(this.cap);
    this.t = new Float64Array(this.cap);
    const { ka, kb, used, u1, u2, t, mask } = this;
    for (let s = 0; s < old.cap; s++) {
      if (old.used[s] === 0) continue;
      const a = old.ka[s]!;
      let i = a & mask;
      while (used[i] === 1) i = (i + 1) & mask;
      used[i] = 1;
      ka[i] = a;
      kb[i] = old.kb[s]!;
      u1[i] = old.u1[s]!;
      u2[i] = old.u2[s]!;
      t[i] = old.t[s]!;
    }
  }
}

/**
 * A de-duplication window: remembers each key for `windowMs` after it was first seen, in at most
 * `maxEntries` entries. Keys expire in insertion order (a FIFO ring of inserts); when the window is full
 * the oldest key is evicted early and counted in `evictions`.
 *
 * Per entry the table keeps the first two distinct "paths" (hash of source and destination address)
 * the key was seen on, so a copy can be classified as a retransmission (a path seen before) or a
 * relayed copy (a new path).
 */
export class DedupWindow {
  readonly table: FpTable;
  /** Entries removed before their window ended because the window was full. */
  evictions = 0;
  private ringA: Int32Array;
  private ringB: Int32Array;
  private ringT: Float64Array;
  private head = 0;
  private len = 0;

  constructor(readonly maxEntries: number, public windowMs: number, initialEntries = 4096) {
    this.table = new FpTable(maxEntries, Math.min(initialEntries, maxEntries));
    const n = Math.min(maxEntries, nextPow2(initialEntries));
    this.ringA = new Int32Array(n);
    this.ringB = new Int32Array(n);
    this.ringT = new Float64Array(n);
  }

  get size(): number {
    return this.table.size;
  }

  get bytes(): number {
    return this.table.bytes + this.ringA.length * 16;
  }

  /**
   * Looks the key up; a new key is inserted (first seen at `now` on `path`) and 0 is returned.
   * A known key returns 1 when `path` was seen before for it (retransmission) or 2 for a new path
   * (relayed copy).
   */
  seen(a: number, b: number, path: number, now: number): 0 | 1 | 2 {
    this.expire(now);
    const tb = this.table;
    const s = tb.find(a, b);
    if (s >= 0) {
      const p1 = tb.u1[s]!;
      const p2 = tb.u2[s]!;
      if (path === p1 || path === p2) return 1;
      if (p2 === 0) tb.u2[s] = path;
      return 2;
    }
    if (this.len >= this.maxEntries) this.popHead(true);
    const slot = tb.insert(a, b);
    tb.u1[slot] = path;
    tb.t[slot] = now;
    this.push(a, b, now);
    return 0;
  }

  /** Drops keys first seen more than windowMs before `now`. */
  expire(now: number): void {
    const limit = now - this.windowMs;
    while (this.len > 0 && this.ringT[this.head]! <= limit) this.popHead(false);
  }

  private popHead(evict: boolean): void {
    const h = this.head;
    const a = this.ringA[h]!;
    const b = this.ringB[h]!;
    const t = this.ringT[h]!;
    this.head = (h + 1) % this.ringA.length;
    this.len--;
    const tb = this.table;
    const s = tb.find(a, b);
    if (s >= 0 && tb.t[s] === t) {
      tb.removeSlot(s);
      if (evict) this.evictions++;
    }
  }

  private push(a: number, b: number, t: number): void {
    if (this.len === this.ringA.length) this.growRing();
    const i = (this.head + this.len) % this.ringA.length;
    this.ringA[i] = a;
    this.ringB[i] = b;
    this.ringT[i] = t;
    this.len++;
  }

  private growRing(): void {
    const n = this.ringA.length;
    const m = Math.min(this.maxEntries, n * 2);
    const ra = new Int32Array(m);
    const rb = new Int32Array(m);
    const rt = new Float64Array(m);
    for (let k = 0; k < this.len; k++) {
      const i = (this.head + k) % n;
      ra[k] = this.ringA[i]!;
      rb[k] = this.ringB[i]!;
      rt[k] = this.ringT[i]!;
    }
    this.ringA = ra;
    this.ringB = rb;
    this.ringT = rt;
    this.head = 0;
  }
}

/**
 * Requests waiting for their response (latency measurement). Entries are removed when the final
 * response arrives, or by `sweep()` once older than the timeout; when the table is full new requests
 * are not tracked (counted by the caller).
 *
 * Columns: t = request capture time (ms), u1 = flags, u2 = receive time in whole seconds (for sweep).
 */
export class PendingTable {
  readonly table: FpTable;
  private cursor = 0;

  constructor(readonly maxEntries: number, public timeoutMs: number) {
    this.table = new FpTable(maxEntries, Math.min(4096, maxEntries));
  }

  get size(): number {
    return this.table.size;
  }

  /**
   * Removes entries received more than timeoutMs before `nowMs`, visiting at most `budget` slots per
   * call so a large table never stalls the event loop. Returns how many entries timed out.
   */
  sweep(nowMs: number, budget = 65536): number {
    const tb = this.table;
    const limit = Math.floor((nowMs - this.timeoutMs) / 1000);
    let removed = 0;
    let visited = 0;
    while (visited < budget && visited < tb.capacity) {
      if (this.cursor >= tb.capacity) this.cursor = 0;
      const i = this.cursor;
      if (tb.used[i] === 1 && tb.u2[i]! < limit) {
        tb.removeSlot(i);
        removed++;
        // the slot may now hold a shifted entry: look at it again
      } else this.cursor++;
      visited++;
    }
    return removed;
  }
}
