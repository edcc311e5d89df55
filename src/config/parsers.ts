import { parseCidr } from '../net/allowlist.js';
import { bad, ok, type KeySpec, type Parsed } from './types.js';

/**
 * Listen address: "" disables, ":PORT" means all interfaces, "HOST:PORT", "[v6]:PORT". Port 0 asks the
 * kernel for a free port (tests); the bound address is logged at start-up.
 */
export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(text: string): Parsed<ListenAddress | null> {
  if (text === '') return ok(null);
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return bad(`expected HOST:PORT, :PORT, [IPv6]:PORT or "" to disable`);
  const port = Number(m[3]);
  if (port > 65535) return bad(`port ${port} is outside 0-65535`);
  const host = m[1] ?? m[2] ?? '';
  return ok({ host: host === '' ? '0.0.0.0' : host, port });
}

export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Durations in Prometheus style ("500ms", "32s", "5m", "1h30m"); result in milliseconds. */
export function parseDuration(text: string): Parsed<number> {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  if (text === '') return bad('expected a duration such as 500ms, 32s or 5m');
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return bad('expected a duration such as 500ms, 32s or 5m');
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    pos = re.lastIndex;
  }
  return ok(total);
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** Sizes: "65536", "64KiB", "4MiB", "1MB". */
export function parseBytes(text: string): Parsed<number> {
  const m = /^(\d+)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = m ? BYTE_UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || unit === undefined) return bad('expected a size such as 65536, 64KiB or 4MiB');
  return ok(Number(m[1]) * unit);
}

// ---- key constructors -----------------------------------------------------------------------------

const asText = (raw: unknown): string | undefined =>
  typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;

function textKey<T>(type: string, help: string, def: T, parse: (t: string) => Parsed<T>, extra: Partial<KeySpec<T>> = {}): KeySpec<T> {
  return {
    type,
    help,
    default: def,
    parse: (raw) => {
      const t = asText(raw);
      return t === undefined ? bad(`expected ${type}`) : parse(t);
    },
    ...extra,
  };
}

export const str = (help: string, def: string, extra: Partial<KeySpec<string>> = {}): KeySpec<string> =>
  textKey('string', help, def, (t) => ok(t), extra);

export const listen = (help: string, def: string): KeySpec<ListenAddress | null> => {
  const parsed = parseListenAddress(def);
  if (!parsed.ok) throw new Error(`bad default listen address ${def}`);
  return textKey('HOST:PORT', help, parsed.value, parseListenAddress);
};

export const int = (help: string, def: number, min: number, max: number, extra: Partial<KeySpec<number>> = {}): KeySpec<number> =>
  textKey('integer', help, def, (t) => {
    if (!/^-?\d+$/.test(t.trim())) return bad('expected a whole number');
    const n = Number(t);
    if (n < min || n > max) return bad(`must be between ${min} and ${max}`);
    return ok(n);
  }, extra);

export const bool = (help: string, def: boolean): KeySpec<boolean> =>
  textKey('bool', help, def, (t) => {
    if (/^(true|1|yes|on)$/i.test(t)) return ok(true);
    if (/^(false|0|no|off)$/i.test(t)) return ok(false);
    return bad('expected true or false');
  }, { boolean: true });

export const duration = (help: string, def: string, minMs = 0, maxMs = Number.MAX_SAFE_INTEGER): KeySpec<number> => {
  const parsed = parseDuration(def);
  if (!parsed.ok) throw new Error(`bad default duration ${def}`);
  return textKey('duration', help, parsed.value, (t) => {
    const d = parseDuration(t);
    if (!d.ok) return d;
    if (d.value < minMs || d.value > maxMs) return bad(`must be between ${minMs}ms and ${maxMs}ms`);
    return d;
  }, { defaultText: def });
};

export const bytes = (help: string, def: string, min: number, max: number): KeySpec<number> => {
  const parsed = parseBytes(def);
  if (!parsed.ok) throw new Error(`bad default size ${def}`);
  return textKey('size', help, parsed.value, (t) => {
    const b = parseBytes(t);
    if (!b.ok) return b;
    if (b.value < min || b.value > max) return bad(`must be between ${min} and ${max} bytes`);
    return b;
  }, { defaultText: def });
};

export const oneOf = <T extends string>(help: string, def: T, values: readonly T[]): KeySpec<T> =>
  textKey(values.join('|'), help, def, (t) => ((values as readonly string[]).includes(t) ? ok(t as T) : bad(`must be one of ${values.join(', ')}`)));

/** A list of strings: repeatable flag, comma-separated env var, YAML list (or a single string). */
export const strList = (help: string, def: readonly string[], check?: (item: string) => string | undefined): KeySpec<string[]> => ({
  type: 'list',
  help,
  default: [...def],
  repeatable: true,
  parse: (raw) => {
    const items = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : undefined;
    if (!items) return bad('expected a list of strings');
    const out: string[] = [];
    for (const [i, item] of items.entries()) {
      if (typeof item !== 'string') return bad(`item ${i} is not a string`);
      const err = check?.(item);
      if (err) return bad(`item ${i} (${JSON.stringify(item)}): ${err}`);
      out.push(item);
    }
    return ok(out);
  },
});

/** A list of CIDR blocks (source allowlists); each item is checked when the config is loaded. */
export const cidrList = (help: string): KeySpec<string[]> =>
  strList(help, [], (item) => {
    const r = parseCidr(item);
    return typeof r === 'string' ? r : undefined;
  });
