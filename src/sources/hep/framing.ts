/**
 * HEPv3 over TCP has no framing of its own: the stream is back-to-back HEP3 packets, each delimited by
 * the 16-bit total length in its header (the way heplify-server and Kamailio read it). This framer cuts
 * a stream into packets: complete packets inside a read are handed out in place (no copy); only a
 * packet split across reads is assembled in a per-connection buffer, which never exceeds 65535 bytes
 * (the largest length a HEP3 header can state).
 *
 * Anything that is not a HEP3 header where one must start is garbage: the stream cannot be
 * resynchronised, so the framer reports it and the connection is closed.
 */

export type FramingError = 'bad_magic' | 'bad_length';

/** Largest HEP3 packet (the length field is 16 bits). */
export const MAX_HEP3_PACKET = 65535;

export type PacketHandler = (buf: Uint8Array, start: number, end: number) => void;

function magicPrefixOk(b: Uint8Array, start: number, n: number): boolean {
  // "HEP3" or "EEP3", checking only the n bytes available
  if (n > 0 && b[start] !== 0x48 && b[start] !== 0x45) return false;
  if (n > 1 && b[start + 1] !== 0x45) return false;
  if (n > 2 && b[start + 2] !== 0x50) return false;
  if (n > 3 && b[start + 3] !== 0x33) return false;
  return true;
}

export class HepStreamFramer {
  /** Bytes of an incomplete packet carried over to the next read. */
  private pending: Buffer | undefined;
  private have = 0;
  /** Set once garbage was seen; further input is ignored. */
  failed: FramingError | undefined;

  constructor(private readonly onPacket: PacketHandler) {}

  /** Bytes currently buffered (at most 65535). */
  get buffered(): number {
    return this.have;
  }

  /** Feeds one read. Returns a framing error when the stream is not HEPv3 (close the connection). */
  push(chunk: Uint8Array): FramingError | undefined {
    if (this.failed) return this.failed;
    let off = 0;
    const n = chunk.length;
    if (this.have > 0) {
      off = this.completePending(chunk);
      if (this.failed) return this.failed;
      if (off < 0) return undefined; // still incomplete, all of chunk consumed
    }
    while (off < n) {
      const left = n - off;
      if (left < 6) {
        if (!magicPrefixOk(chunk, off, Math.min(left, 4))) return this.fail('bad_magic');
        this.stash(chunk, off, n);
        return undefined;
      }
      if (!magicPrefixOk(chunk, off, 4)) return this.fail('bad_magic');
      const len = (chunk[off + 4]! << 8) | chunk[off + 5]!;
      if (len < 6) return this.fail('bad_length');
      if (left < len) {
        this.stash(chunk, off, n);
        return undefined;
      }
      this.onPacket(chunk, off, off + len);
      off += len;
    }
    return undefined;
  }

  /** Continues the buffered packet with bytes from chunk; returns the offset after it, or -1. */
  private completePending(chunk: Uint8Array): number {
    const buf = this.pending!;
    let off = 0;
    if (this.have < 6) {
      const take = Math.min(6 - this.have, chunk.length);
      buf.set(chunk.subarray(0, take), this.have);
      this.have += take;
      off = take;
      if (!magicPrefixOk(buf, 0, Math.min(this.have, 4))) {
        this.fail('bad_magic');
        return -1;
      }
      if (this.have < 6) return -1;
    }
    const len = (buf[4]! << 8) | buf[5]!;
    if (len < 6) {
      this.fail('bad_length');
      return -1;
    }
    const take = Math.min(len - this.have, chunk.length - off);
    if (take > 0) buf.set(chunk.subarray(off, off + take), this.have);
    this.have += take;
    off += take;
    if (this.have < len) return -1;
    this.have = 0;
    this.onPacket(buf, 0, len);
    return off;
  }

  private stash(chunk: Uint8Array, from: number, to: number): void {
    this.pending ??= Buffer.allocUnsafe(MAX_HEP3_PACKET);
    this.pending.set(chunk.subarray(from, to), 0);
    this.have = to - from;
  }

  private fail(reason: FramingError): FramingError {
    this.failed = reason;
    this.have = 0;
    this.pending = undefined;
    return reason;
  }
}
