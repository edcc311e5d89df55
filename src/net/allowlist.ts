import { isIPv4, isIPv6 } from 'node:net';

/**
 * Source-address allowlist from CIDR blocks ("10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1").
 * IPv4-mapped IPv6 addresses (::ffff:192.0.2.7, as a dual-stack socket reports them) match IPv4 blocks.
 * An empty list allows everyone. Lookups are a few integer compares per block: cheap enough per packet.
 */
export class Allowlist {
  private readonly v4: { net: number; mask: number }[] = [];
  private readonly v6: { net: bigint; mask: bigint }[] = [];
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const parsed = parseCidr(c);
      if (typeof parsed === 'string') throw new Error(parsed);
      if (parsed.v === 4) this.v4.push({ net: parsed.net, mask: parsed.mask });
      else this.v6.push({ net: parsed.net, mask: parsed.mask });
    }
    this.size = cidrs.length;
  }

  allows(address: string): boolean {
    if (this.size === 0) return true;
    let a = address;
    if (a.startsWith('::ffff:') && isIPv4(a.slice(7))) a = a.slice(7);
    if (isIPv4(a)) {
      const n = v4ToInt(a);
      for (const b of this.v4) if (((n & b.mask) >>> 0) === b.net) return true;
      return false;
    }
    if (isIPv6(a)) {
      const n = v6ToBigInt(a);
      for (const b of this.v6) if ((n & b.mask) === b.net) return true;
    }
    return false;
  }
}

type Cidr = { v: 4; net: number; mask: number } | { v: 6; net: bigint; mask: bigint };

/** Parses one CIDR block; returns an error message naming it when it is not valid. */
export function parseCidr(text: string): Cidr | string {
  const [addr = '', bitsText] = text.trim().split('/', 2);
  if (isIPv4(addr)) {
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    if (!Number.isInteger(bits) || bits < 0 || bits > 32 || (bitsText !== undefined && !/^\d+$/.test(bitsText))) return `invalid CIDR "${text}": prefix length must be 0-32`;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { v: 4, net: (v4ToInt(addr) & mask) >>> 0, mask };
  }
  if (isIPv6(addr)) {
    const bits = bitsText === undefined ? 128 : Number(bitsText);
    if (!Number.isInteger(bits) || bits < 0 || bits > 128 || (bitsText !== undefined && !/^\d+$/.test(bitsText))) return `invalid CIDR "${text}": prefix length must be 0-128`;
    const all = (1n << 128n) - 1n;
    const mask = bits === 0 ? 0n : (all << BigInt(128 - bits)) & all;
    return { v: 6, net: v6ToBigInt(addr) & mask, mask };
  }
  return `invalid CIDR "${text}": expected an IPv4 or IPv6 address with an optional /prefix`;
}

function v4ToInt(a: string): number {
  const p = a.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function v6ToBigInt(a: string): bigint {
  let addr = a;
  // Embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4).
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  if (v4tail) {
    const n = v4ToInt(v4tail[1] as string);
    addr = addr.slice(0, -(v4tail[1] as string).length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const zone = addr.indexOf('%');
  if (zone >= 0) addr = addr.slice(0, zone);
  const [head = '', tail] = addr.split('::', 2);
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g, 16));
  return n;
}
