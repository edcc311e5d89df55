import { compileCustomPattern, type CustomPattern } from '../../parse/dialects/custom.js';
import { bool, bytes, duration, oneOf, str, strList } from '../parsers.js';
import { bad, ok, section, type KeySpec } from '../types.js';

export const LOG_DIALECTS = ['auto', 'kamailio', 'opensips', 'asterisk', 'freeswitch', 'custom'] as const;

/** `log.patterns`: a YAML list of {name, regex, marker?, flags?}; each regex is compiled once here. */
const patterns: KeySpec<CustomPattern[]> = {
  type: 'list',
  help: 'Custom patterns, a list of {name, regex, marker, flags}: JavaScript regular expressions with named groups code (required), reason, method, callid. marker (optional) is a literal every matching line contains; it keeps non-matching lines cheap. Used alone with dialect custom, after the built-in dialects with auto.',
  default: [],
  fileOnly: true,
  parse: (raw) => {
    if (!Array.isArray(raw)) return bad('expected a list of {name, regex} mappings');
    const out: CustomPattern[] = [];
    const names = new Set<string>();
    for (const [i, item] of raw.entries()) {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) return bad(`item ${i} is not a mapping with name and regex`);
      const { name, regex, marker, flags, ...rest } = item as Record<string, unknown>;
      const label = typeof name === 'string' && name !== '' ? name : `#${i}`;
      const extra = Object.keys(rest);
      if (extra.length > 0) return bad(`pattern "${label}": unknown key ${extra.map((k) => `"${k}"`).join(', ')} (known: name, regex, marker, flags)`);
      if (typeof name !== 'string' || name === '') return bad(`item ${i}: name must be a non-empty string`);
      if (names.has(name)) return bad(`pattern "${name}": duplicate name`);
      names.add(name);
      if (typeof regex !== 'string' || regex === '') return bad(`pattern "${name}": regex must be a non-empty string`);
      if (marker !== undefined && (typeof marker !== 'string' || marker === '')) return bad(`pattern "${name}": marker must be a non-empty string`);
      if (flags !== undefined && (typeof flags !== 'string' || !/^[imsu]*$/.test(flags))) return bad(`pattern "${name}": flags may only contain i, m, s, u`);
      const p = compileCustomPattern(name, regex, flags as string | undefined, marker as string | undefined);
      if (typeof p === 'string') return bad(p);
      out.push(p);
    }
    return ok(out);
  },
};

/** Log-file input: tails proxy log files. */
export const log = section({
  path: strList('Log file path or glob to follow (repeatable). Files that match later are picked up. No path disables the log input.', [], (p) => (p === '' ? 'empty path' : undefined)),
  dialect: oneOf('Log format; auto detects it per line.', 'auto', LOG_DIALECTS),
  'from-beginning': bool('Read files that exist at start-up from their beginning instead of their end (files that appear later are always read from the beginning).', false),
  'position-file': str('File where read positions are saved, so a restart resumes where the last run stopped. Empty: no position file.', ''),
  'position-interval': duration('How often read positions are written to the position file (also written at shutdown).', '1s', 100, 3_600_000),
  'max-line-length': bytes('Longest line parsed; longer lines are counted in sip_exporter_dropped_total{reason="line_too_long"} and skipped.', '64KiB', 256, 64 * 1024 * 1024),
  'poll-interval': duration('How often files and globs are checked for new data, rotation and new files (file-system notifications make most changes visible sooner).', '250ms', 10, 60_000),
  'rotate-wait': duration('How long a file that was rotated away (renamed) stays open, so lines the writer still appends to it are read.', '5s', 0, 3_600_000),
  patterns,
});
