import { formatListenAddress, type ListenAddress } from './parsers.js';
import { KEYS, SCHEMA } from './schema.js';

function showDefault(v: unknown): string {
  if (v === null) return '`""` (disabled)';
  if (Array.isArray(v)) return v.length === 0 ? '(none)' : v.map((x) => `\`${typeof x === 'string' ? x : JSON.stringify(x)}\``).join(', ');
  if (typeof v === 'object' && v !== null && 'port' in v) return `\`${formatListenAddress(v as ListenAddress)}\``;
  return `\`${String(v)}\``;
}

/**
 * docs/configuration.md, rendered from the key declarations so the reference cannot drift from the
 * code (test/core/docs.test.ts compares them; `npm run docs` rewrites the file).
 */
export function renderConfigReference(): string {
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/sections/*.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every key has one name, used the same way in all three places:',
    '',
    '- YAML file (`--config FILE` or `SIP_EXPORTER_CONFIG`): `section:` then `key: value`',
    '- flag: `--section.key=value` (booleans: `--section.key` / `--no-section.key`; lists: repeat the flag)',
    '- environment: `SIP_EXPORTER_SECTION_KEY` (upper case, dots and dashes become underscores; lists are comma-separated)',
    '',
    'Precedence per key: flag > environment > file > default. Unknown keys, flags and `SIP_EXPORTER_*`',
    'variables are errors. Durations are written `500ms`, `32s`, `5m`, `1h30m`; sizes `65536`, `64KiB`, `4MiB`.',
    'Listen addresses are `HOST:PORT`, `:PORT` (all interfaces), `[IPv6]:PORT`, or `""` to disable.',
    '',
  ];
  for (const section of Object.keys(SCHEMA)) {
    out.push(`## ${section}`, '', '| key | type | default | env | description |', '|---|---|---|---|---|');
    for (const k of KEYS.filter((x) => x.section === section)) {
      const env = k.spec.fileOnly ? '(file only)' : [k.env, ...(k.spec.envAliases ?? [])].map((e) => `\`${e}\``).join(', ');
      const def = k.spec.secret ? '(none)' : k.spec.defaultText !== undefined ? `\`${k.spec.defaultText}\`` : showDefault(k.spec.default);
      const help = k.spec.help.replace(/\|/g, '\\|') + (k.spec.repeatable ? ' Repeatable.' : '');
      out.push(`| \`${k.name}\` | ${k.spec.type.replace(/\|/g, '\\|')} | ${def} | ${env} | ${help} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
