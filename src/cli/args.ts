import { KEY_BY_NAME } from '../config/schema.js';
import type { FlagValues } from '../config/load.js';

export interface ParsedArgs {
  /** Positional words (command and its operands). */
  positional: string[];
  flags: FlagValues;
  /** --config PATH */
  config?: string;
  help: boolean;
  version: boolean;
  /** Options of a subcommand (e.g. replay --format table), name -> value; unknown to the config schema. */
  extra: Map<string, string[]>;
}

export class UsageError extends Error {}

/**
 * Parses `--name value`, `--name=value`, boolean `--name` / `--no-name`, `--` ends options.
 * Config keys go to `flags`; names listed in `extraOptions` (subcommand options) go to `extra`;
 * anything else is kept in flags so config validation reports it with a suggestion.
 */
export function parseArgs(argv: readonly string[], extraOptions: ReadonlySet<string> = new Set(), extraBooleans: ReadonlySet<string> = new Set()): ParsedArgs {
  const out: ParsedArgs = { positional: [], flags: new Map(), help: false, version: false, extra: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      out.help = true;
      continue;
    }
    if (arg === '-v' || arg === '--version') {
      out.version = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '-') {
      out.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (value === undefined && name.startsWith('no-')) {
      const positive = name.slice(3);
      if (KEY_BY_NAME.get(positive)?.spec.boolean || extraBooleans.has(positive)) {
        name = positive;
        value = 'false';
      }
    }
    const isBool = KEY_BY_NAME.get(name)?.spec.boolean || extraBooleans.has(name);
    if (value === undefined) {
      if (isBool) value = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`flag --${name} needs a value`);
        value = next;
        i++;
      }
    }
    if (name === 'config') out.config = value;
    else if (extraOptions.has(name) || extraBooleans.has(name)) push(out.extra, name, value);
    else push(out.flags, name, value);
  }
  return out;
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
