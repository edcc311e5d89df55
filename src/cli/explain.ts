import type { Catalogue } from '../classify/catalogue.js';
import { parseStatusCode } from '../classify/status.js';

/** Text for `explain <code>`; returns [exitCode, text]. */
export function explain(catalogue: Catalogue, text: string): [number, string] {
  const code = parseStatusCode(text.trim());
  if (code === undefined) {
    return [2, `"${text}" is not a SIP status code: status codes are three digits from 100 to 699 (RFC 3261 section 7.2).\n`];
  }
  const d = catalogue.describe(code);
  if (!d) return [2, `invalid code ${code}\n`];
  const lines: string[] = [];
  const e = d.entry;
  if (e) {
    const flags = [e.expected ? 'expected in normal call flows' : '', e.legacy ? 'legacy (RFC 2543, not in the IANA registry)' : '', e.deprecated ? 'deprecated' : '']
      .filter(Boolean)
      .join('; ');
    lines.push(`${e.code} ${e.reason}`);
    lines.push(`  class:    ${d.class} ${d.classInfo.name}`);
    if (e.aliases.length > 0) lines.push(`  also:     ${e.aliases.map((a) => `"${a}"`).join(', ')}`);
    lines.push(`  defined:  ${e.rfc}${e.registered ? ' (IANA registered)' : ''}`);
    if (flags) lines.push(`  note:     ${flags}`);
    lines.push('', `Meaning: ${e.meaning}`, '', 'Likely causes:');
    for (const c of e.causes) lines.push(`  - ${c}`);
    lines.push('', 'What to check or do:');
    for (const a of e.actions) lines.push(`  - ${a}`);
  } else {
    lines.push(`${code} (not in the catalogue)`);
    lines.push(`  class:    ${d.class} ${d.classInfo.name}`);
    lines.push('', `${d.class}: ${d.classInfo.meaning}`);
    if (d.treatedAs) {
      lines.push('');
      if (code < 200) {
        lines.push('RFC 3261 section 8.1.3.2: a client treats an unrecognised provisional response like 183 Session Progress.');
      } else {
        lines.push(
          'RFC 3261 section 8.1.3.2: a client treats an unrecognised final response like the x00 code of its class,',
          `so ${code} is handled as ${d.treatedAs.code} ${d.treatedAs.reason}.`,
        );
      }
      lines.push(`It is counted with reason="Unrecognized" and class="${d.class}".`);
    }
  }
  return [0, lines.filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n') + '\n'];
}
