import { general } from './sections/general.js';
import { hep } from './sections/hep.js';
import { log } from './sections/log.js';
import { logging } from './sections/logging.js';
import { otel } from './sections/otel.js';
import { syslog } from './sections/syslog.js';
import { web } from './sections/web.js';
import type { KeySpec, SectionValues } from './types.js';

/** All configuration sections, in the order --help and the README list them. */
export const SCHEMA = { web, logging, hep, syslog, log, otel, general } as const;

export type Schema = typeof SCHEMA;
export type Config = { [S in keyof Schema]: SectionValues<Schema[S]> };
export type SectionName = keyof Schema;

export interface FlatKey {
  section: string;
  key: string;
  /** "section.key", the flag name and the YAML path. */
  name: string;
  env: string;
  spec: KeySpec<unknown>;
}

export function envName(name: string): string {
  return 'SIP_EXPORTER_' + name.toUpperCase().replace(/[.-]/g, '_');
}

export const KEYS: readonly FlatKey[] = Object.entries(SCHEMA).flatMap(([section, spec]) =>
  Object.entries(spec as Record<string, KeySpec<unknown>>).map(([key, s]) => ({
    section,
    key,
    name: `${section}.${key}`,
    env: envName(`${section}.${key}`),
    spec: s,
  })),
);

export const KEY_BY_NAME = new Map(KEYS.map((k) => [k.name, k]));
