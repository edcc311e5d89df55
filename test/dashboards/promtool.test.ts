/**
 * The Prometheus rules pass the real promtool (Debian package `prometheus`): `check rules` and the unit
 * tests in rules/tests/. Also checks that those unit tests cover every alert the way the issue asks
 * (silent one evaluation before `for` has elapsed, firing right after with labels and annotations,
 * silent under idle traffic) and every recording rule with expected samples.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { RULES_PATH } from '../../scripts/gen-dashboards.js';
import { ROOT } from '../helpers/daemon.js';

const run = promisify(execFile);
const TEST_DIR = 'rules/tests';
const testFiles = readdirSync(join(ROOT, TEST_DIR))
  .filter((f) => f.endsWith('.test.yml'))
  .map((f) => `${TEST_DIR}/${f}`);

async function promtool(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: ROOT, timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('promtool not found: install the Debian package prometheus (scripts/install-test-deps.sh)');
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

interface Rule {
  record?: string;
  alert?: string;
  for?: string;
}
interface ExpAlert {
  exp_labels?: Record<string, string>;
  exp_annotations?: Record<string, string>;
}
interface UnitTest {
  name?: string;
  interval?: string;
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: ExpAlert[] }[];
  promql_expr_test?: { expr: string; eval_time: string; exp_samples?: unknown[] }[];
}

const rules = (parseYaml(readFileSync(join(ROOT, RULES_PATH), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const tests = testFiles.flatMap((f) => {
  const doc = parseYaml(readFileSync(join(ROOT, f), 'utf8')) as { evaluation_interval?: string; tests: UnitTest[] };
  return doc.tests.map((t) => ({ ...t, evaluation: doc.evaluation_interval ?? '1m' }));
});

function seconds(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/([0-9]+)(ms|s|m|h|d|w)/g)) {
    const n = Number(m[1]);
    total += n * ({ ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 } as Record<string, number>)[m[2] as string]!;
  }
  return total;
}

describe('promtool', () => {
  it('check rules accepts the generated rules file', async () => {
    const r = await promtool(['check', 'rules', RULES_PATH]);
    expect(r.out).toMatch(/SUCCESS: [0-9]+ rules found/);
    expect(r.code, r.out).toBe(0);
  });

  it('check rules rejects a broken rule (the check is real)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sip-rules-'));
    try {
      const bad = join(dir, 'bad.rules.yml');
      writeFileSync(bad, 'groups:\n  - name: bad\n    rules:\n      - record: x:y:rate5m\n        expr: sum by (job (rate(a_total[5m]))\n');
      const r = await promtool(['check', 'rules', bad]);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/FAILED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('test rules: every unit test passes', async () => {
    const r = await promtool(['test', 'rules', ...testFiles]);
    expect(r.out, r.out).not.toMatch(/FAILED/);
    expect(r.code, r.out).toBe(0);
    expect(r.out.match(/SUCCESS/g)?.length).toBe(testFiles.length);
  });
});

describe('unit test coverage', () => {
  const alerts = rules.filter((r) => r.alert !== undefined);

  it.each(alerts.map((a) => [a.alert as string, a] as const))('%s: silent just before its for, firing after, with labels and annotations', (name, rule) => {
    const forS = seconds(rule.for ?? '0s');
    let covered = false;
    for (const t of tests) {
      const cases = (t.alert_rule_test ?? []).filter((c) => c.alertname === name);
      const firing = cases.filter((c) => (c.exp_alerts ?? []).length > 0);
      for (const f of firing) {
        const at = seconds(f.eval_time);
        const before = cases.find((c) => seconds(c.eval_time) === at - seconds(t.evaluation) && (c.exp_alerts ?? []).length === 0);
        // the earliest firing expectation must be preceded by a silent one, and be at least `for` after
        // the start of the series so that the for clause is really what delayed it
        if (!before || at < forS) continue;
        for (const e of f.exp_alerts ?? []) {
          expect(e.exp_labels?.severity, `${name}: severity label`).toBeDefined();
          expect(Object.keys(e.exp_annotations ?? {}).sort(), `${name}: annotations`).toEqual(['description', 'runbook_url', 'summary']);
        }
        covered = true;
      }
    }
    expect(covered, `${name} needs a test firing at T with a silent expectation at T - evaluation interval`).toBe(true);
  });

  it.each(alerts.map((a) => [a.alert as string] as const))('%s: idle traffic does not fire', (name) => {
    const idle = tests.filter((t) => /idle|quiet|night|trickle|healthy/i.test(t.name ?? ''));
    const silent = idle.some((t) => (t.alert_rule_test ?? []).some((c) => c.alertname === name && (c.exp_alerts ?? []).length === 0));
    expect(silent, `${name} needs an idle/healthy-traffic test expecting no alert`).toBe(true);
  });

  it.each(rules.filter((r) => r.record !== undefined).map((r) => [r.record as string] as const))('%s: checked with expected samples', (record) => {
    const checked = tests.some((t) =>
      (t.promql_expr_test ?? []).some((c) => new RegExp(`(^|[^a-z_:])${record.replace(/[:]/g, '\\:')}([^a-z0-9_:]|$)`).test(c.expr) && (c.exp_samples ?? []).length > 0),
    );
    expect(checked).toBe(true);
  });
});
