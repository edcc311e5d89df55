import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { Catalogue, CATALOGUE_SCHEMA_PATH, DEFAULT_CATALOGUE_PATH, UNRECOGNIZED_REASON } from '../../src/classify/catalogue.js';
import { ROOT } from '../helpers/daemon.js';

/** The IANA registry (75 codes), copied from the project's reference material. */
const iana = readFileSync(join(ROOT, 'test/fixtures/iana-sip-response-codes.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split('\t'))
  .map(([code, phrase, ref]) => ({ code: Number(code), phrase: phrase as string, ref: ref as string }));

const catalogue = Catalogue.load();

describe('catalogue', () => {
  it('holds exactly the 75 IANA codes plus the RFC 2543 codes 409 and 411', () => {
    expect(iana).toHaveLength(75);
    const want = [...iana.map((r) => r.code), 409, 411].sort((a, b) => a - b);
    expect(catalogue.entries().map((e) => e.code)).toEqual(want);
  });

  it.each(iana)('$code has class $code.toString()[0]xx, the registered phrase and its RFC', ({ code, phrase, ref }) => {
    const e = catalogue.get(code);
    expect(e).toBeDefined();
    expect(e!.class).toBe(`${String(code)[0]}xx`);
    expect(e!.reason).toBe(phrase);
    expect(e!.rfc).toBe(ref.replace(/^RFC(\d+)$/, 'RFC $1'));
    expect(e!.registered).toBe(true);
    expect(e!.legacy).toBe(false);
  });

  it('marks 409 and 411 as legacy RFC 2543 codes outside the registry', () => {
    for (const [code, reason] of [[409, 'Conflict'], [411, 'Length Required']] as const) {
      const e = catalogue.get(code)!;
      expect(e).toMatchObject({ class: '4xx', reason, rfc: 'RFC 2543', registered: false, legacy: true });
    }
  });

  it('records the phrases seen in the wild next to the registered ones', () => {
    expect(catalogue.get(500)!.aliases).toContain('Internal Server Error');
    expect(catalogue.get(437)!.aliases).toContain('Unsupported Certificate');
    expect(catalogue.get(436)!.aliases).toContain('Bad Identity-Info');
    expect(catalogue.get(202)).toMatchObject({ deprecated: true });
  });

  it('flags the codes that are routine in healthy call flows', () => {
    for (const code of [100, 180, 183, 200, 401, 407, 487]) expect(catalogue.get(code)!.expected, String(code)).toBe(true);
    for (const code of [404, 408, 486, 500, 503, 603]) expect(catalogue.get(code)!.expected, String(code)).toBe(false);
  });

  it('gives every code a meaning, causes and actions', () => {
    for (const e of catalogue.entries()) {
      expect(e.meaning.length, String(e.code)).toBeGreaterThan(20);
      expect(e.causes.length, String(e.code)).toBeGreaterThan(0);
      expect(e.actions.length, String(e.code)).toBeGreaterThan(0);
    }
  });

  it('validates against its JSON schema, and the schema rejects broken entries', () => {
    const schema = JSON.parse(readFileSync(CATALOGUE_SCHEMA_PATH, 'utf8')) as object;
    const validate = new Ajv2020({ strict: false }).compile(schema);
    const doc = JSON.parse(readFileSync(DEFAULT_CATALOGUE_PATH, 'utf8')) as { codes: Record<string, unknown>[] };
    expect(validate(doc)).toBe(true);
    const broken = structuredClone(doc);
    broken.codes[0]!.class = '7xx';
    expect(validate(broken)).toBe(false);
    const missing = structuredClone(doc);
    delete missing.codes[3]!.causes;
    expect(validate(missing)).toBe(false);
  });

  it('rejects a catalogue whose class does not match the code at load time', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const doc = JSON.parse(readFileSync(DEFAULT_CATALOGUE_PATH, 'utf8')) as { codes: { code: number; class: string }[] };
    const e = doc.codes.find((c) => c.code === 486)!;
    e.class = '5xx';
    const path = join(mkdtempSync(join(tmpdir(), 'cat-')), 'bad.json');
    writeFileSync(path, JSON.stringify(doc));
    expect(() => Catalogue.load(path)).toThrow(/code 486 has class "5xx", expected "4xx"/);
  });

  it('describes uncatalogued valid codes by their class, like the x00 code', () => {
    const d = catalogue.describe(478)!;
    expect(d.entry).toBeUndefined();
    expect(d.class).toBe('4xx');
    expect(d.treatedAs?.code).toBe(400);
    expect(d.reasonLabel).toBe(UNRECOGNIZED_REASON);
    expect(catalogue.describe(199)!.entry?.reason).toBe('Early Dialog Terminated');
    expect(catalogue.describe(699)!.treatedAs?.code).toBe(600);
    expect(catalogue.describe(700)).toBeUndefined();
    expect(catalogue.describe(99)).toBeUndefined();
  });
});
