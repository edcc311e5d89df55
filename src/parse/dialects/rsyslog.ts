/**
 * rsyslog's control-character escapes. With `parser.escapeControlCharactersOnReceive` (on by default)
 * rsyslog writes a control character as `#` and three octal digits: LF is `#012`, CR `#015`, TAB `#011`;
 * with `parser.escape8BitCharactersOnReceive` bytes 0x80-0xFF are escaped the same way (`#303#251`).
 * Printable ASCII is never escaped, so `#100` or `#2` in a message is literal text and is left alone.
 */

function octal(c: number): number {
  return c >= 48 && c <= 55 ? c - 48 : -1;
}

/** The byte an escape at `i` (the `#`) stands for, or -1 when there is none. */
function escapeAt(text: string, i: number): number {
  if (i + 3 >= text.length) return -1;
  const a = octal(text.charCodeAt(i + 1));
  const b = octal(text.charCodeAt(i + 2));
  const c = octal(text.charCodeAt(i + 3));
  if (a < 0 || b < 0 || c < 0) return -1;
  const v = a * 64 + b * 8 + c;
  // Only what rsyslog escapes: C0 controls, DEL and (with 8-bit escaping) 0x80-0xFF.
  return v < 32 || v === 127 || (v >= 128 && v <= 255) ? v : -1;
}

/** Cheap test: does the text contain an rsyslog escape? */
export function hasRsyslogEscape(text: string): boolean {
  for (let i = text.indexOf('#'); i >= 0; i = text.indexOf('#', i + 1)) {
    if (escapeAt(text, i) >= 0) return true;
  }
  return false;
}

/**
 * rsyslog control-character escapes (#012 newline, #015 CR, #011 tab, #NNN octal) -> characters.
 * Consecutive escaped 8-bit bytes are decoded together as UTF-8 (invalid sequences become U+FFFD).
 * Never throws; text without escapes is returned as is.
 */
export function unescapeRsyslog(text: string): string {
  let i = text.indexOf('#');
  if (i < 0) return text;
  let out = '';
  let from = 0;
  let bytes: number[] = [];
  const flushBytes = (): void => {
    if (bytes.length > 0) {
      out += Buffer.from(bytes).toString('utf8');
      bytes = [];
    }
  };
  while (i >= 0) {
    const v = escapeAt(text, i);
    if (v < 0) {
      i = text.indexOf('#', i + 1);
      continue;
    }
    if (i > from) {
      flushBytes();
      out += text.slice(from, i);
    }
    if (v >= 128) bytes.push(v);
    else {
      flushBytes();
      out += String.fromCharCode(v);
    }
    from = i + 4;
    i = text.indexOf('#', from);
  }
  if (from === 0) return text;
  flushBytes();
  return out + text.slice(from);
}
