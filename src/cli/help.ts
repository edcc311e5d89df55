import { formatListenAddress, type ListenAddress } from '../config/parsers.js';
import { KEYS } from '../config/schema.js';
import { PACKAGE } from '../paths.js';

function showDefault(v: unknown): string {
  if (v === null) return '"" (disabled)';
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.join(', ');
  if (typeof v === 'object' && v !== null && 'port' in v) return formatListenAddress(v as ListenAddress);
  return String(v);
}

export function usage(commandsHelp: string): string {
  const lines = [
    `sip-response-exporter ${PACKAGE.version}: counts SIP responses from proxy logs, HEP and syslog and exposes them`,
    'to Prometheus (/metrics) and OpenTelemetry.',
    '',
    'Usage:',
    '  sip-response-exporter [run] [flags]      run the daemon (default command)',
    commandsHelp,
    '  sip-response-exporter --help | --version',
    '',
    'Configuration precedence: flag > environment variable > config file > default.',
    'Every key is written the same way everywhere: flag --section.key, YAML "section: {key: ...}",',
    'environment SIP_EXPORTER_SECTION_KEY (dots and dashes become underscores).',
    '',
    'Flags:',
    '  --config PATH                             YAML config file (env SIP_EXPORTER_CONFIG)',
  ];
  for (const k of KEYS) {
    if (k.spec.fileOnly) continue;
    const left = `  --${k.name}${k.spec.boolean ? '' : ' ' + k.spec.type.toUpperCase()}`;
    const def = k.spec.secret ? '' : ` (default: ${k.spec.defaultText ?? showDefault(k.spec.default)})`;
    lines.push(`${left.padEnd(42)}${k.spec.help}${def}${k.spec.repeatable ? ' [repeatable]' : ''}`);
  }
  const fileOnly = KEYS.filter((k) => k.spec.fileOnly);
  if (fileOnly.length > 0) {
    lines.push('', 'Config-file-only keys:');
    for (const k of fileOnly) lines.push(`  ${k.name.padEnd(40)}${k.spec.help}`);
  }
  lines.push('', 'Documentation: README.md (configuration, metrics, catalogue).');
  return lines.join('\n') + '\n';
}
