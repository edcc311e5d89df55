import { ConfigError, type FlagValues } from '../../src/config/load.js';

/** Command-line flag values as the CLI hands them to resolveConfig(). */
export const flags = (o: Record<string, string | string[]>): FlagValues => new Map(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));

/** The problems of the ConfigError that fn throws (fails if it throws none). */
export function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
