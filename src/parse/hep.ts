/**
 * HEP (Homer Encapsulation Protocol) decoder: HEPv3 ("HEP3"/"EEP3"), HEPv1/v2 (legacy, UDP) and
 * gzip-wrapped packets (`1f 8b`, heplify's payload_zip). See docs/hep-input.md for the format notes.
 *
 * The decoder reads chunks by offset from the Buffer and fills a reusable `HepPacket` with offsets; it
 * never allocates on the common path (plain payload chunk 0x000f) and never throws: every length is
 * checked before it is used, and a packet that is short, lies about a length or carries a malformed
 * chunk yields one reason from the closed set HEP_DECODE_ERRORS.
 */
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { isSipStartLine } from './sip.js';

/** Why a packet could not be decoded (a closed set: these are label values). */
export const HEP_DECODE_ERRORS = [
  /** Fewer bytes than the smallest header of its version. */
  'too_short',
  /** Neither "HEP3"/"EEP3", nor version byte 1/2, nor a gzip wrapper. */
  'bad_magic',
  /** HEPv3 total length below 6 or beyond the bytes received. */
  'bad_length',
  /** A chunk header cut short, a chunk length below 6, or a chunk running past the packet end. */
  'bad_chunk_length',
  /** A fixed-size chunk (address, port, timestamp, protocol type ...) with the wrong size. */
  'bad_chunk_value',
  /** No payload chunk (0x000f / 0x0010), or a HEPv1/v2 packet without a SIP message after the header. */
  'no_payload',
  /** A compressed payload chunk or a gzip-wrapped packet that does not inflate. */
  'decompress_failed',
  /** A decompressed payload or packet larger than hep.max-message-size. */
  'too_large',
  /** A TCP connection that ended (closed, reset, idle timeout, shutdown) in the middle of a packet. */
  'truncated',
] as const;
export type HepDecodeError = (typeof HEP_DECODE_ERRORS)[number];

/** HEP protocol types (chunk 0x000b) the exporter reads. */
export const HEP_TYPE_SIP = 1;
export const HEP_TYPE_LOG = 100;
export const HEP_TYPE_XLOG = 0x56;

/** Chunk type ids (vendor 0x0000), HEP3 spec rev 37. */
export const CHUNK = {
  family: 0x01,
  ipProto: 0x02,
  srcIp4: 0x03,
  dstIp4: 0x04,
  srcIp6: 0x05,
  dstIp6: 0x06,
  srcPort: 0x07,
  dstPort: 0x08,
  tsSec: 0x09,
  tsUsec: 0x0a,
  protoType: 0x0b,
  captureId: 0x0c,
  keepAlive: 0x0d,
  authKey: 0x0e,
  payload: 0x0f,
  compressedPayload: 0x10,
  correlationId: 0x11,
  vlan: 0x12,
  nodeName: 0x13,
} as const;

/** Decoded fields of one HEP packet, as offsets into `buf` (-1 = absent). Reused across packets. */
export class HepPacket {
  /** The bytes the offsets refer to: the input, or the inflated packet when it was gzip-wrapped. */
  buf: Uint8Array = EMPTY;
  version = 0;
  family = -1;
  ipProto = -1;
  /** Start of the source / destination address; ipLen is 4 (IPv4) or 16 (IPv6), 0 when absent. */
  srcIp = -1;
  dstIp = -1;
  srcIpLen = 0;
  dstIpLen = 0;
  srcPort = -1;
  dstPort = -1;
  tsSec = -1;
  tsUsec = -1;
  /** Protocol type (0x000b); HEPv1/v2 packets always carry SIP (1). */
  protoType = -1;
  captureId = -1;
  authStart = -1;
  authEnd = -1;
  correlationStart = -1;
  correlationEnd = -1;
  /** The captured message: `payload` is `buf` or the inflated 0x0010 chunk. */
  payload: Uint8Array = EMPTY;
  payloadStart = -1;
  payloadEnd = -1;
  compressed = false;
  /** Offsets of a compressed payload chunk, inflated by `inflatePayload` only when needed. */
  zipStart = -1;
  zipEnd = -1;

  reset(buf: Uint8Array): void {
    this.buf = buf;
    this.version = 0;
    this.family = this.ipProto = -1;
    this.srcIp = this.dstIp = -1;
    this.srcIpLen = this.dstIpLen = 0;
    this.srcPort = this.dstPort = -1;
    this.tsSec = this.tsUsec = -1;
    this.protoType = -1;
    this.captureId = -1;
    this.authStart = this.authEnd = -1;
    this.correlationStart = this.correlationEnd = -1;
    this.payload = EMPTY;
    this.payloadStart = this.payloadEnd = -1;
    this.compressed = false;
    this.zipStart = this.zipEnd = -1;
  }

  /** Capture time in ms since the epoch, or undefined when the packet has none (or it is zero). */
  timeMs(): number | undefined {
    if (this.tsSec <= 0) return undefined;
    const us = this.tsUsec > 0 && this.tsUsec < 1_000_000 ? this.tsUsec : 0;
    return this.tsSec * 1000 + us / 1000;
  }
}

const EMPTY = new Uint8Array(0);

export interface HepDecodeOptions {
  /** Largest payload or packet accepted after decompression, in bytes. */
  maxMessageSize: number;
}

const u16 = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
const u32 = (b: Uint8Array, i: number): number => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;

/**
 * Decodes one HEP packet in buf[start, end). Returns undefined on success (fields in `out`), or the
 * reason it could not be decoded. A compressed payload (chunk 0x0010) is located but not inflated;
 * call `inflatePayload` when the payload is needed.
 */
export function decodeHep(buf: Uint8Array, start: number, end: number, out: HepPacket, opts: HepDecodeOptions): HepDecodeError | undefined {
  out.reset(buf);
  if (start < 0) start = 0;
  if (end > buf.length) end = buf.length;
  const n = end - start;
  if (n < 1) return 'too_short';
  const b0 = buf[start]!;
  if (b0 === 0x48 || b0 === 0x45) {
    // "HEP3" / "EEP3"
    if (n < 4) return 'too_short';
    if (buf[start + 1] !== 0x45 || buf[start + 2] !== 0x50 || buf[start + 3] !== 0x33) return 'bad_magic';
    return decodeV3(buf, start, end, out);
  }
  if (b0 === 0x1f) {
    if (n < 2) return 'too_short';
    if (buf[start + 1] !== 0x8b) return 'bad_magic';
    return decodeGzipWrapped(buf, start, end, out, opts);
  }
  if (b0 === 1 || b0 === 2) return decodeV12(buf, start, end, out);
  return 'bad_magic';
}

function decodeGzipWrapped(buf: Uint8Array, start: number, end: number, out: HepPacket, opts: HepDecodeOptions): HepDecodeError | undefined {
  let inner: Buffer;
  try {
    inner = gunzipSync(buf.subarray(start, end), { maxOutputLength: opts.maxMessageSize });
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError ? 'too_large' : 'decompress_failed';
  }
  // Only a plain HEPv3 packet may be inside (no nested wrappers).
  if (inner.length < 4 || !(inner[0] === 0x48 || inner[0] === 0x45) || inner[1] !== 0x45 || inner[2] !== 0x50 || inner[3] !== 0x33) {
    out.reset(buf);
    return 'bad_magic';
  }
  out.reset(inner);
  return decodeV3(inner, 0, inner.length, out);
}

/** Required value size of the fixed-size generic chunks (0 = variable). */
const FIXED_SIZE = new Uint8Array(0x20);
FIXED_SIZE[CHUNK.family] = 1;
FIXED_SIZE[CHUNK.ipProto] = 1;
FIXED_SIZE[CHUNK.srcIp4] = 4;
FIXED_SIZE[CHUNK.dstIp4] = 4;
FIXED_SIZE[CHUNK.srcIp6] = 16;
FIXED_SIZE[CHUNK.dstIp6] = 16;
FIXED_SIZE[CHUNK.srcPort] = 2;
FIXED_SIZE[CHUNK.dstPort] = 2;
FIXED_SIZE[CHUNK.tsSec] = 4;
FIXED_SIZE[CHUNK.tsUsec] = 4;
FIXED_SIZE[CHUNK.protoType] = 1;
FIXED_SIZE[CHUNK.captureId] = 4;
FIXED_SIZE[CHUNK.keepAlive] = 2;
FIXED_SIZE[CHUNK.vlan] = 2;

function decodeV3(buf: Uint8Array, start: number, end: number, out: HepPacket): HepDecodeError | undefined {
  out.version = 3;
  if (end - start < 6) return 'too_short';
  const len = u16(buf, start + 4);
  if (len < 6 || start + len > end) return 'bad_length';
  // Bytes after the declared length (padding) are ignored.
  const pend = start + len;
  let pos = start + 6;
  while (pos < pend) {
    if (pos + 6 > pend) return 'bad_chunk_length';
    const clen = u16(buf, pos + 4);
    if (clen < 6 || pos + clen > pend) return 'bad_chunk_length';
    const vendor = u16(buf, pos);
    const type = u16(buf, pos + 2);
    const v = pos + 6;
    const vlen = clen - 6;
    pos += clen;
    // Vendor-specific chunks live in their vendor's own type space: skip them.
    if (vendor !== 0) continue;
    if (type < 0x20) {
      const need = FIXED_SIZE[type]!;
      if (need !== 0 && vlen !== need) return 'bad_chunk_value';
    }
    switch (type) {
      case CHUNK.family:
        out.family = buf[v]!;
        break;
      case CHUNK.ipProto:
        out.ipProto = buf[v]!;
        break;
      case CHUNK.srcIp4:
      case CHUNK.srcIp6:
        out.srcIp = v;
        out.srcIpLen = vlen;
        break;
      case CHUNK.dstIp4:
      case CHUNK.dstIp6:
        out.dstIp = v;
        out.dstIpLen = vlen;
        break;
      case CHUNK.srcPort:
        out.srcPort = u16(buf, v);
        break;
      case CHUNK.dstPort:
        out.dstPort = u16(buf, v);
        break;
      case CHUNK.tsSec:
        out.tsSec = u32(buf, v);
        break;
      case CHUNK.tsUsec:
        out.tsUsec = u32(buf, v);
        break;
      case CHUNK.protoType:
        out.protoType = buf[v]!;
        break;
      case CHUNK.captureId:
        out.captureId = u32(buf, v);
        break;
      case CHUNK.authKey:
        out.authStart = v;
        out.authEnd = v + vlen;
        break;
      case CHUNK.payload:
        out.payload = buf;
        out.payloadStart = v;
        out.payloadEnd = v + vlen;
        out.compressed = false;
        break;
      case CHUNK.compressedPayload:
        out.zipStart = v;
        out.zipEnd = v + vlen;
        break;
      case CHUNK.correlationId:
        out.correlationStart = v;
        out.correlationEnd = v + vlen;
        break;
      default:
        // unknown or not needed: skipped
        break;
    }
  }
  if (out.payloadStart < 0 && out.zipStart < 0) return 'no_payload';
  return undefined;
}

/**
 * Inflates the compressed payload chunk (0x0010) if the packet has one and no plain payload chunk.
 * zlib (`78 xx`), gzip (`1f 8b`) and raw deflate are accepted. Returns undefined on success.
 */
export function inflatePayload(p: HepPacket, opts: HepDecodeOptions): HepDecodeError | undefined {
  if (p.payloadStart >= 0 || p.zipStart < 0) return undefined;
  const z = p.buf.subarray(p.zipStart, p.zipEnd);
  const o = { maxOutputLength: opts.maxMessageSize };
  let inflated: Buffer;
  try {
    if (z.length >= 2 && z[0] === 0x1f && z[1] === 0x8b) inflated = gunzipSync(z, o);
    else if (z.length >= 2 && (z[0]! & 0x0f) === 8 && ((z[0]! << 8) | z[1]!) % 31 === 0) inflated = inflateSync(z, o);
    else inflated = inflateRawSync(z, o);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError ? 'too_large' : 'decompress_failed';
  }
  p.payload = inflated;
  p.payloadStart = 0;
  p.payloadEnd = inflated.length;
  p.compressed = true;
  return undefined;
}

const AF_INET = 2;
/** AF_INET6 on Linux (10), FreeBSD (28), macOS (30), and 24 (NetBSD/OpenBSD). */
const AF_INET6 = new Set([10, 24, 28, 30]);

/**
 * HEPv1/v2 (KAM sipcapture hep.h): u8 version, u8 header length, u8 family, u8 protocol, u16 sport,
 * u16 dport, then 4+4 (IPv4) or 16+16 (IPv6) address bytes; v2 adds a time header (tv_sec, tv_usec,
 * capture id) whose size and byte order differ between senders. So the payload is located by looking
 * for a SIP start line after the address block rather than trusting the header length.
 */
function decodeV12(buf: Uint8Array, start: number, end: number, out: HepPacket): HepDecodeError | undefined {
  const version = buf[start]!;
  out.version = version;
  if (end - start < 16) return 'too_short';
  const hl = buf[start + 1]!;
  const family = buf[start + 2]!;
  let ipLen: number;
  if (family === AF_INET) ipLen = 4;
  else if (AF_INET6.has(family)) ipLen = 16;
  else ipLen = hl >= 40 ? 16 : 4;
  const ipEnd = start + 8 + 2 * ipLen;
  if (ipEnd > end) return 'too_short';
  out.family = family;
  out.ipProto = buf[start + 3]!;
  out.srcPort = u16(buf, start + 4);
  out.dstPort = u16(buf, start + 6);
  out.srcIp = start + 8;
  out.dstIp = start + 8 + ipLen;
  out.srcIpLen = out.dstIpLen = ipLen;
  out.protoType = HEP_TYPE_SIP;
  let from = ipEnd;
  if (version === 2) {
    // time header: tv_sec, tv_usec (u32 each), capture id (u16), maybe 2 bytes of padding
    if (ipEnd + 10 <= end) {
      // Senders disagree on the byte order: take the reading closer to the current time.
      const le = readU32le(buf, ipEnd);
      const be = u32(buf, ipEnd);
      const now = Date.now() / 1000;
      const okLe = plausibleSeconds(le);
      const okBe = plausibleSeconds(be);
      const sec = okLe && okBe ? (Math.abs(le - now) <= Math.abs(be - now) ? le : be) : okLe ? le : okBe ? be : -1;
      if (sec > 0) {
        out.tsSec = sec;
        const usLe = readU32le(buf, ipEnd + 4);
        const usBe = u32(buf, ipEnd + 4);
        out.tsUsec = sec === le ? (usLe < 1_000_000 ? usLe : -1) : usBe < 1_000_000 ? usBe : -1;
      }
      from = ipEnd + 10;
    }
  }
  // Locate the SIP start line: first at the offsets real senders use (Kamailio pads the v2 time header
  // to 12 bytes, FreeSWITCH/heplify-server use 10, some count it in the header length), then anywhere in
  // the next few bytes (NUL padding).
  const candidates = version === 2 ? [ipEnd + 12, ipEnd + 10, start + hl, ipEnd] : [ipEnd, start + hl];
  for (const c of candidates) {
    if (c >= ipEnd && c < end && isSipStartLine(buf, c, end)) return setPayload(out, buf, c, end);
  }
  const limit = Math.min(end, from + 16);
  for (let i = ipEnd; i < limit; i++) {
    if (buf[i] !== 0 && isSipStartLine(buf, i, end)) return setPayload(out, buf, i, end);
  }
  return 'no_payload';
}

function setPayload(out: HepPacket, buf: Uint8Array, a: number, b: number): undefined {
  out.payload = buf;
  out.payloadStart = a;
  out.payloadEnd = b;
  return undefined;
}

const readU32le = (b: Uint8Array, i: number): number => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
/** 2001-01-01 .. 2100-01-01 */
const plausibleSeconds = (s: number): boolean => s >= 978_307_200 && s < 4_102_444_800;

/** "ip:port" of a decoded address, for logs and tests (allocates; never on the hot path). */
export function formatHepAddress(p: HepPacket, which: 'src' | 'dst'): string | undefined {
  const at = which === 'src' ? p.srcIp : p.dstIp;
  const len = which === 'src' ? p.srcIpLen : p.dstIpLen;
  const port = which === 'src' ? p.srcPort : p.dstPort;
  if (at < 0) return undefined;
  const b = p.buf;
  let ip: string;
  if (len === 4) ip = `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  else {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((b[at + i]! << 8) | b[at + i + 1]!).toString(16));
    ip = `[${parts.join(':')}]`;
  }
  return port >= 0 ? `${ip}:${port}` : ip;
}
