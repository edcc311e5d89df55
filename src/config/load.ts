import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { KEY_BY_NAME, KEYS, SCHEMA, type Config, type FlatKey } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? `configuration error: ${problems[0]}` : `configuration errors:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Values given on the command line: flag name ("hep.listen-address") -> every value given. */
export type FlagValues = Map<string, string[]>;

export interface ConfigSources {
  flags?: FlagValues;
  env?: NodeJS.ProcessEnv;
  /** Path of the YAML file, if any. */
  file?: string;
  /** Already-read file content (tests); takes the place of reading `file`. */
  fileText?: string;
}

const ENV_PREFIX = 'SIP_EXPORTER_';
/** Env vars with our prefix that are not configuration keys. */
const ENV_NOT_KEYS = new Set(['SIP_EXPORTER_CONFIG']);

/**
 * The one precedence function: flag > environment > file > default, per key. Every value is parsed
 * and validated here, once; unknown keys anywhere are errors. Throws ConfigError listing every problem
 * with the key, where it came from and the bad value.
 */
export function resolveConfig(src: ConfigSources): Config {
  const problems: string[] = [];
  const env = src.env ?? {};
  const fileValues = readFile(src, problems);

  for (const name of src.flags?.keys() ?? []) {
    if (!KEY_BY_NAME.has(name) || KEY_BY_NAME.get(name)?.spec.fileOnly) problems.push(`unknown flag --${name}${suggest(name)}`);
  }
  for (const name of Object.keys(env)) {
    if (!name.startsWith(ENV_PREFIX) || ENV_NOT_KEYS.has(name)) continue;
    if (!KEYS.some((k) => k.env === name && !k.spec.fileOnly)) problems.push(`unknown environment variable ${name}`);
  }

  const out: Record<string, Record<string, unknown>> = {};
  for (const k of KEYS) {
    const sectionOut = (out[k.section] ??= {});
    const picked = pick(k, src.flags, env, fileValues);
    if (!picked) {
      sectionOut[k.key] = structuredClone(k.spec.default);
      continue;
    }
    const parsed = k.spec.parse(picked.raw);
    if (parsed.ok) sectionOut[k.key] = parsed.value;
    else problems.push(`${k.name} (${picked.from}): invalid value ${show(k, picked.raw)}: ${parsed.error}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Config;
}

interface Picked {
  raw: unknown;
  from: string;
}

function pick(k: FlatKey, flags: FlagValues | undefined, env: NodeJS.ProcessEnv, file: Map<string, unknown>): Picked | undefined {
  const flag = flags?.get(k.name);
  if (flag && flag.length > 0 && !k.spec.fileOnly) {
    return { raw: k.spec.repeatable ? flag : flag[flag.length - 1], from: `flag --${k.name}` };
  }
  if (!k.spec.fileOnly) {
    for (const name of [k.env, ...(k.spec.envAliases ?? [])]) {
      const v = env[name];
      if (v !== undefined) {
        const raw = k.spec.repeatable ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v;
        return { raw, from: `environment ${name}` };
      }
    }
  }
  if (file.has(k.name)) return { raw: file.get(k.name), from: 'config file' };
  return undefined;
}

function readFile(src: ConfigSources, problems: string[]): Map<string, unknown> {
  const values = new Map<string, unknown>();
  let text = src.fileText;
  if (text === undefined && src.file !== undefined) {
    try {
      text = readFileSync(src.file, 'utf8');
    } catch (err) {
      problems.push(`cannot read config file ${src.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return values;
    }
  }
  if (text === undefined) return values;
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    problems.push(`config file is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`);
    return values;
  }
  if (doc === null || doc === undefined) return values;
  if (!isPlainObject(doc)) {
    problems.push('config file must be a YAML mapping of sections (web:, hep:, log: ...)');
    return values;
  }
  for (const [section, body] of Object.entries(doc)) {
    if (!(section in SCHEMA)) {
      problems.push(`unknown section "${section}" in config file${suggest(section, Object.keys(SCHEMA))}`);
      continue;
    }
    if (body === null) continue;
    if (!isPlainObject(body)) {
      problems.push(`section "${section}" in config file must be a mapping of keys`);
      continue;
    }
    for (const [key, value] of Object.entries(body)) {
      const name = `${section}.${key}`;
      if (!KEY_BY_NAME.has(name)) problems.push(`unknown key "${name}" in config file${suggest(name)}`);
      else values.set(name, value);
    }
  }
  return values;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(k: FlatKey, raw: unknown): string {
  if (k.spec.secret) return '(secret value hidden)';
  const s = JSON.stringify(raw) ?? String(raw);
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}

/** " (did you mean ...?)" for a near-miss key name. */
function suggest(name: string, candidates: readonly string[] = KEYS.map((k) => k.name)): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean "${best}"?)` : '';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}
