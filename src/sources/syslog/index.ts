import { statSync } from 'node:fs';
import type { Config } from '../../config/schema.js';
import { LOG_PARSE_ERRORS } from '../../parse/dialects/index.js';
import { FRAMING_ERRORS } from '../../parse/syslog/framing.js';
import { SYSLOG_HEADER_ERRORS } from '../../parse/syslog/header.js';
import { registerSource } from '../registry.js';
import { SyslogSource, syslogDialect } from './source.js';

/** Modification time of a file, so replacing a certificate and sending SIGHUP restarts the TLS listener. */
function mtime(file: string): number | null {
  if (file === '') return null;
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

registerSource({
  name: 'syslog',
  enabled: (config: Config) => config.syslog['listen-address'] !== null || config.syslog['tls-listen-address'] !== null,
  settings: (config: Config) => {
    const s = config.syslog;
    const dialect = syslogDialect(config);
    return {
      ...s,
      dialect,
      patterns: dialect === 'auto' || dialect === 'custom' ? config.log.patterns.map((p) => [p.name, p.regex.source, p.regex.flags, p.marker ?? null]) : [],
      tlsFiles: s['tls-listen-address'] === null ? null : [s['tls-cert-file'], s['tls-key-file'], s['tls-client-ca-file']].map(mtime),
    };
  },
  create: (ctx) => new SyslogSource(ctx),
  // Dialect errors (parse_errors_total); messages dropped unread (dropped_total): too large, cut off,
  // broken header, sender not allowed, sender over syslog.max-rate-per-source.
  parseErrorReasons: LOG_PARSE_ERRORS,
  dropReasons: [...FRAMING_ERRORS.filter((r) => r !== 'bad_octet_count'), ...SYSLOG_HEADER_ERRORS, 'not_allowed', 'rate_limited'],
});
