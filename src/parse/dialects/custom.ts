import { parseStatusCode } from '../../classify/status.js';
import type { ParseResult, SipEvent } from '../../event.js';

/** A user pattern from `log.patterns`: a regular expression with named groups. */
export interface CustomPattern {
  name: string;
  /** Named groups: code (required), reason, method, callid. */
  regex: RegExp;
  /** Optional literal text every matching line contains; lines without it skip the regex (much faster). */
  marker?: string;
}

export const CUSTOM_GROUPS = ['code', 'reason', 'method', 'callid'] as const;

/**
 * Compiles a pattern from config and checks its named groups. Returns the problem as text (naming the
 * pattern) rather than throwing, so config validation can report it.
 */
export function compileCustomPattern(name: string, source: string, flags = '', marker?: string): CustomPattern | string {
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags.replace(/[gy]/g, ''));
  } catch (err) {
    return `pattern "${name}": invalid regular expression: ${(err as Error).message}`;
  }
  // An empty alternative always matches '', and the match lists every named group of the pattern.
  const probe = new RegExp(`(?:${source})|`, regex.flags).exec('');
  const groups = Object.keys(probe?.groups ?? {});
  if (!groups.includes('code')) return `pattern "${name}": needs a named group (?<code>...) for the status code`;
  const unknown = groups.filter((g) => !(CUSTOM_GROUPS as readonly string[]).includes(g));
  if (unknown.length > 0) return `pattern "${name}": unknown named group ${unknown.map((g) => `"${g}"`).join(', ')} (known: ${CUSTOM_GROUPS.join(', ')})`;
  return marker !== undefined && marker !== '' ? { name, regex, marker } : { name, regex };
}

/** Applies one pattern to a line: undefined when it does not match. */
export function matchCustom(p: CustomPattern, line: string): ParseResult {
  if (p.marker !== undefined && line.indexOf(p.marker) < 0) return undefined;
  const m = p.regex.exec(line);
  if (!m) return undefined;
  const g = m.groups ?? {};
  const code = parseStatusCode(g.code ?? '');
  if (code === undefined) return { error: 'invalid_code' };
  const ev: SipEvent = { code, reason: g.reason ?? '', method: g.method ?? '' };
  if (g.callid !== undefined && g.callid !== '') ev.callId = g.callid;
  return ev;
}
