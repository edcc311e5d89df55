/** Shared by the deploy tests: the Dockerfile's runtime settings, schema validation, config resolution, script runs. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { resolveConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { ROOT } from '../helpers/daemon.js';

export interface ImageInfo {
  /** ENV of the runtime (last) stage. */
  env: Record<string, string>;
  /** EXPOSE of the runtime stage, e.g. "9468/tcp". */
  expose: string[];
  user: string;
}

/** The runtime stage of the repository's Dockerfile: what a container starts with. */
export function dockerfile(): ImageInfo {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const lastFrom = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
  const info: ImageInfo = { env: {}, expose: [], user: 'root' };
  for (const line of lines.slice(lastFrom)) {
    const [instr, ...rest] = line.trim().split(/\s+/);
    if (/^ENV$/i.test(instr ?? '')) {
      for (const kv of rest) {
        const eq = kv.indexOf('=');
        if (eq > 0) info.env[kv.slice(0, eq)] = kv.slice(eq + 1).replace(/^"(.*)"$/, '$1');
      }
    } else if (/^EXPOSE$/i.test(instr ?? '')) {
      info.expose.push(...rest.map((p) => (p.includes('/') ? p : `${p}/tcp`)));
    } else if (/^USER$/i.test(instr ?? '')) {
      info.user = rest[0] ?? '';
    }
  }
  return info;
}

/**
 * The exporter's configuration inside a container: the image's ENV, then the deployment's environment
 * (which replaces image ENV of the same name), and a config file text. Throws ConfigError like the
 * daemon would at start-up.
 */
export function containerConfig(env: Record<string, string>, fileText?: string): Config {
  const all = { ...dockerfile().env, ...env };
  const sipEnv = Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith('SIP_EXPORTER_')));
  return resolveConfig({ env: sipEnv, ...(fileText !== undefined ? { fileText } : {}) });
}

/** Validates `doc` against a JSON schema in test/deploy/schemas/; returns readable errors. */
export function schemaErrors(schemaFile: string, doc: unknown): string[] {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
  const validate = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'test/deploy/schemas', schemaFile), 'utf8')) as object);
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** job="..." of the rules' selector (rules/thresholds.yml), which scrape configs must produce. */
export function rulesJob(): string {
  const text = readFileSync(join(ROOT, 'rules/thresholds.yml'), 'utf8');
  const m = /^selector: '.*job="([^"]+)".*'$/m.exec(text);
  if (!m) throw new Error('no job="..." selector in rules/thresholds.yml');
  return m[1]!;
}

/**
 * Runs a repository bash script (path relative to the root) with this Node first on PATH; resolves with
 * its exit code and everything it printed on stdout and stderr, interleaved.
 */
export function runScript(script: string): Promise<{ code: number | null; text: string }> {
  const out: string[] = [];
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [join(ROOT, script)], {
      cwd: ROOT,
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.stdout.setEncoding('utf8').on('data', (d: string) => out.push(d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => out.push(d));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, text: out.join('') }));
  });
}
