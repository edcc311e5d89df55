import { duration } from '../parsers.js';
import { section } from '../types.js';

/** Process-wide settings. */
export const general = section({
  'shutdown-timeout': duration('Longest time a graceful shutdown may take before the process exits anyway.', '10s', 100, 300_000),
});
