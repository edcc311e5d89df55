/**
 * Two independent 32-bit hashes computed in one pass over byte ranges and integers, giving the 64-bit
 * fingerprints the de-duplication tables use. State lives in module variables so hashing allocates
 * nothing: `hashReset()`, then `hashBytes()` / `hashInt()` per field, then read `fpA()` / `fpB()`.
 *
 * Each field is followed by its length so field boundaries cannot shift ("ab"+"c" != "a"+"bc").
 */

let h1 = 0;
let h2 = 0;

export function hashReset(): void {
  h1 = 0x811c9dc5 | 0; // FNV-1a offset basis
  h2 = 0x9747b28c | 0;
}

export function hashBytes(buf: Uint8Array, start: number, end: number): void {
  let x = h1;
  let y = h2;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    x = Math.imul(x ^ c, 0x01000193); // FNV-1a
    y = Math.imul(y ^ c, 0x5bd1e995); // murmur2-style multiply-xorshift
    y ^= y >>> 15;
  }
  h1 = x;
  h2 = y;
  hashInt(end - start);
}

export function hashInt(n: number): void {
  // mix all four bytes of n into both states
  h1 = Math.imul(h1 ^ (n & 0xffff), 0x01000193);
  h1 = Math.imul(h1 ^ (n >>> 16), 0x01000193);
  let y = Math.imul(h2 ^ n, 0x5bd1e995);
  y ^= y >>> 15;
  h2 = Math.imul(y, 0x27d4eb2d);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** First half of the current fingerprint (finalized; the running state is not changed). */
export function fpA(): number {
  return fmix(h1);
}

/** Second half of the current fingerprint. */
export function fpB(): number {
  return fmix(h2 ^ 0x5f356495);
}
