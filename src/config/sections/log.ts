import { oneOf, strList } from '../parsers.js';
import { section } from '../types.js';

export const LOG_DIALECTS = ['auto', 'kamailio', 'opensips', 'asterisk', 'freeswitch', 'custom'] as const;

/** Log-file input: tails proxy log files. */
export const log = section({
  path: strList('Log file path or glob to follow (repeatable). No path disables the log input.', [], (p) => (p === '' ? 'empty path' : undefined)),
  dialect: oneOf('Log format; auto detects it per line.', 'auto', LOG_DIALECTS),
});
