import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { DATA_DIR } from '../paths.js';
import { classOf, isValidCode, MAX_CODE, MIN_CODE, type StatusClass } from './status.js';

/** One catalogued status code, as stored in data/catalogue.json. */
export interface CodeEntry {
  code: number;
  class: StatusClass;
  /** Registered reason phrase (IANA), or the RFC 2543 phrase for legacy codes. */
  reason: string;
  /** Other phrases seen on the wire for the same code. */
  aliases: string[];
  meaning: string;
  causes: string[];
  actions: string[];
  rfc: string;
  registered: boolean;
  legacy: boolean;
  deprecated: boolean;
  /** Routine in healthy traffic (100 Trying, 401/407 challenges, 487 after CANCEL ...). */
  expected: boolean;
}

export interface ClassInfo {
  name: string;
  meaning: string;
}

interface CatalogueFile {
  version: number;
  classes: Record<StatusClass, ClassInfo>;
  codes: CodeEntry[];
}

/** Reason label of a valid code that the catalogue does not list; RFC 3261 treats it like x00. */
export const UNRECOGNIZED_REASON = 'Unrecognized';

export const DEFAULT_CATALOGUE_PATH = join(DATA_DIR, 'catalogue.json');
export const CATALOGUE_SCHEMA_PATH = join(DATA_DIR, 'catalogue.schema.json');

export class CatalogueError extends Error {}

/** What the catalogue says about any valid code, catalogued or not. */
export interface CodeDescription {
  code: number;
  class: StatusClass;
  classInfo: ClassInfo;
  /** Present when the code is catalogued. */
  entry?: CodeEntry;
  /** For an uncatalogued code: the x00 entry of its class, which RFC 3261 says to treat it as. */
  treatedAs?: CodeEntry;
  /** The `reason` label value. */
  reasonLabel: string;
}

export class Catalogue {
  private readonly byCode = new Map<number, CodeEntry>();
  private readonly classes: Record<StatusClass, ClassInfo>;
  /** reason label per code, indexed by code - 100; built once so classification is an array read. */
  readonly reasonLabels: readonly string[];

  private constructor(file: CatalogueFile) {
    this.classes = file.classes;
    for (const e of file.codes) this.byCode.set(e.code, e);
    const labels: string[] = [];
    for (let code = MIN_CODE; code <= MAX_CODE; code++) labels.push(this.byCode.get(code)?.reason ?? UNRECOGNIZED_REASON);
    this.reasonLabels = labels;
  }

  /** Loads and validates a catalogue file; throws CatalogueError naming the file and the problem. */
  static load(path: string = DEFAULT_CATALOGUE_PATH): Catalogue {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new CatalogueError(`catalogue ${path}: ${(err as Error).message}`);
    }
    return new Catalogue(validateCatalogue(raw, path));
  }

  get(code: number): CodeEntry | undefined {
    return this.byCode.get(code);
  }

  entries(): CodeEntry[] {
    return [...this.byCode.values()].sort((a, b) => a.code - b.code);
  }

  classInfo(cls: StatusClass): ClassInfo {
    return this.classes[cls];
  }

  reasonLabel(code: number): string {
    return this.reasonLabels[code - MIN_CODE] ?? UNRECOGNIZED_REASON;
  }

  /** Describes any valid code (100-699); returns undefined for an invalid one. */
  describe(code: number): CodeDescription | undefined {
    if (!isValidCode(code)) return undefined;
    const cls = classOf(code);
    const entry = this.byCode.get(code);
    const d: CodeDescription = { code, class: cls, classInfo: this.classes[cls], reasonLabel: this.reasonLabel(code) };
    if (entry) d.entry = entry;
    else {
      const x00 = this.byCode.get(Math.floor(code / 100) * 100);
      if (x00) d.treatedAs = x00;
    }
    return d;
  }
}

let compiled: ReturnType<Ajv2020['compile']> | undefined;

function validateCatalogue(raw: unknown, path: string): CatalogueFile {
  if (!compiled) {
    const schema = JSON.parse(readFileSync(CATALOGUE_SCHEMA_PATH, 'utf8')) as object;
    compiled = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  }
  if (!compiled(raw)) {
    const errs = (compiled.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
    throw new CatalogueError(`catalogue ${path} does not match its schema: ${errs.join('; ')}`);
  }
  const file = raw as CatalogueFile;
  // Rules JSON Schema cannot express: unique codes and a class that matches the first digit.
  const seen = new Set<number>();
  for (const e of file.codes) {
    if (seen.has(e.code)) throw new CatalogueError(`catalogue ${path}: code ${e.code} appears twice`);
    seen.add(e.code);
    if (classOf(e.code) !== e.class) {
      throw new CatalogueError(`catalogue ${path}: code ${e.code} has class "${e.class}", expected "${classOf(e.code)}"`);
    }
  }
  return file;
}
