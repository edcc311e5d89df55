import { oneOf } from '../parsers.js';
import { section } from '../types.js';

/** The exporter's own log output (pino JSON on stdout). Not to be confused with `log.*`, the log-file input. */
export const logging = section({
  level: oneOf('Minimum level of the exporter\'s own log messages.', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
});
