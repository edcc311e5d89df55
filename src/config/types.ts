/**
 * Declarative configuration keys. Every key has one name used everywhere: the YAML file
 * (`section: { key: value }`), the flag (`--section.key`) and the environment variable
 * (`SIP_EXPORTER_SECTION_KEY`). Each section lives in its own file under sections/ and the Config type is
 * inferred from those declarations, so adding a key is one line in one file.
 */

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const bad = <T>(error: string): Parsed<T> => ({ ok: false, error });

export interface KeySpec<T> {
  /** Human description for --help and the README reference. */
  help: string;
  /** Type shown in --help, e.g. "HOST:PORT", "duration", "bool". */
  type: string;
  default: T;
  /** How the default is written in docs and --help when it differs from String(default) ("32s", "4MiB"). */
  defaultText?: string;
  /** Parses a value from a flag, env var or YAML; text sources pass strings, YAML may pass any type. */
  parse: (raw: unknown) => Parsed<T>;
  /** Repeatable flag (list value): each occurrence adds an item. Env vars split on commas. */
  repeatable?: boolean;
  /** Boolean flag: `--key` alone means true. */
  boolean?: boolean;
  /** Extra environment variable names read after the canonical one (e.g. the standard OTEL_* names). */
  envAliases?: readonly string[];
  /** Not settable from flags or env (structured values such as lists of objects). */
  fileOnly?: boolean;
  /** Never printed (secrets such as auth keys and password hashes). */
  secret?: boolean;
}

export type SectionSpec = Record<string, KeySpec<unknown>>;
export type SectionValues<S> = { [K in keyof S]: S[K] extends KeySpec<infer T> ? T : never };

/** Helper that keeps each key's value type while checking the section's shape. */
export function section<S extends Record<string, KeySpec<any>>>(spec: S): S {
  return spec;
}
