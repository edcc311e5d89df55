/**
 * The generated monitoring files are current, consistent with each other and with the catalogue:
 * rules, Grafana-managed alerts, dashboards, runbook and docs come from rules/thresholds.yml and
 * data/catalogue.json through scripts/gen-dashboards.ts, and nothing was edited by hand.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  generate,
  githubAnchor,
  GRAFANA_ALERTING_PATH,
  outOfDate,
  parseThresholds,
  type PromRule,
  RULES_PATH,
  RUNBOOK_PATH,
  THRESHOLDS_PATH,
  toGrafanaTemplate,
} from '../../scripts/gen-dashboards.js';
import { ROOT } from '../helpers/daemon.js';
import type { Json } from './dashboards.js';

const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');

const rulesFile = parseYaml(read(RULES_PATH)) as { groups: { name: string; interval?: string; rules: PromRule[] }[] };
const alerts = rulesFile.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
const records = rulesFile.groups.flatMap((g) => g.rules).filter((r) => r.record !== undefined);
const catalogue = JSON.parse(read('data/catalogue.json')) as { codes: { code: number; reason: string; causes: string[]; actions: string[] }[] };

describe('generated files', () => {
  it('are up to date (run: npx node scripts/gen-dashboards.ts)', () => {
    expect(outOfDate()).toEqual([]);
  });

  it('cover the rules, the Grafana alerting provisioning, four dashboards and both docs', () => {
    expect([...generate().keys()].sort()).toEqual(
      [
        'dashboards/provisioning/alerting/sip-response-exporter.yml',
        'dashboards/sip-call-kpis.json',
        'dashboards/sip-code-drilldown.json',
        'dashboards/sip-exporter-health.json',
        'dashboards/sip-overview.json',
        'docs/dashboards.md',
        'docs/runbook.md',
        'rules/sip-response-exporter.rules.yml',
      ].sort(),
    );
  });
});

describe('thresholds file', () => {
  const text = read(THRESHOLDS_PATH);

  it('parses', () => {
    const t = parseThresholds(text);
    expect(t.windows.rate).toBe('5m');
    expect(t.alerts.SipResponseCodeSurge.codes).toContain(503);
  });

  it('rejects unknown keys, bad durations and out-of-range numbers', () => {
    expect(() => parseThresholds(text.replace('  SipNoTraffic:\n', '  SipNoTraffic:\n    windwo: 1m\n'))).toThrow(/unknown key.*windwo/);
    expect(() => parseThresholds(text.replace('rate: 5m', 'rate: 5 minutes'))).toThrow(/windows\.rate/);
    expect(() => parseThresholds(text.replace('ratio: 0.10', 'ratio: 10'))).toThrow(/ratio must be a number from 0 to 1/);
    expect(() => parseThresholds(text.replace('severity: warning', 'severity: page'))).toThrow(/severity/);
    expect(() => parseThresholds(text.replace(/\n  SipExporterDown:[\s\S]*?for: 5m\n/, '\n'))).toThrow(/missing alerts\.SipExporterDown/);
  });

  it('every window and threshold appears in the generated rules', () => {
    const t = parseThresholds(text);
    const all = alerts.map((a) => `${a.expr} ${a.for}`).join('\n');
    expect(all).toContain(`[${t.windows.rate}]`);
    expect(all).toContain(`[${t.windows.baseline}] offset ${t.windows.rate}`);
    expect(all).toContain(`> ${t.alerts.SipServerFailureRatioHigh.ratio}`);
    expect(all).toContain(`> ${t.alerts.SipServerFailureRatioHigh.minFinalPerSecond}`);
    expect(all).toContain(`> ${t.alerts.SipResponseCodeSurge.factor} * (`);
    expect(all).toContain(`[${t.alerts.SipNoTraffic.window}]`);
    for (const g of rulesFile.groups) expect(g.interval).toBe(t.evaluationInterval);
  });
});

describe('Prometheus rules', () => {
  it('alerts follow the monitoring-mixin style', () => {
    expect(alerts.length).toBe(9);
    for (const a of alerts) {
      const name = a.alert as string;
      expect(name).toMatch(/^Sip[A-Z][A-Za-z0-9]*$/);
      expect(['critical', 'warning', 'info']).toContain(a.labels?.severity);
      expect(a.for).toMatch(/^[0-9]+[smh]$/);
      const ann = a.annotations ?? {};
      expect(Object.keys(ann).sort()).toEqual(['description', 'runbook_url', 'summary']);
      expect(ann.summary, `${name}: static summary`).not.toMatch(/\{\{/);
      expect(ann.summary).toMatch(/^[A-Z].*\.$/);
      expect(ann.description, `${name}: templated description`).toMatch(/\{\{ \$labels\.instance \}\}/);
      expect(ann.runbook_url).toMatch(new RegExp(`/docs/runbook\\.md#${name.toLowerCase()}$`));
    }
  });

  it('the issue\'s alerts are all there', () => {
    expect(alerts.map((a) => a.alert)).toEqual([
      'SipServerFailureRatioHigh',
      'SipGlobalFailureRatioHigh',
      'SipResponseCodeSurge',
      'SipSessionEstablishmentRatioDrop',
      'SipNoTraffic',
      'SipExporterDown',
      'SipExporterInputDown',
      'SipExporterParseErrorsHigh',
      'SipExporterDroppingInput',
    ]);
  });

  it('recording rules are named level:metric:operations and keep job, instance and source', () => {
    expect(records.length).toBeGreaterThanOrEqual(20);
    const names = records.map((r) => r.record as string);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^instance_source(_[a-z]+)*:sip_[a-z_]+:(rate|ratio_rate)[0-9]+[smh]$/);
    for (const kpi of ['sip_session_establishment', 'sip_session_establishment_effectiveness', 'sip_ineffective_session_attempts', 'sip_answer_seizure', 'sip_network_effectiveness', 'sip_register_failures']) {
      expect(names).toContain(`instance_source:${kpi}:ratio_rate5m`);
    }
  });

  it('ratio denominators use final responses only, and KPIs leave out 401/407 challenges', () => {
    const byName = new Map(records.map((r) => [r.record, r.expr]));
    expect(byName.get('instance_source_method:sip_final_responses:rate5m')).toContain('class!="1xx"');
    for (const n of ['sip_session_attempts', 'sip_session_attempts_excluding_redirects', 'sip_register_attempts', 'sip_register_failures']) {
      expect(byName.get(`instance_source:${n}:rate5m`), n).toContain('code!~"401|407"');
    }
    expect(byName.get('instance_source:sip_session_attempts_excluding_redirects:rate5m')).toContain('class=~"2xx|4xx|5xx|6xx"');
    // every ratio divides by a filtered (> 0) denominator, so no NaN or Inf is ever recorded
    for (const r of records.filter((x) => x.record?.includes(':ratio_'))) expect(r.expr, r.record).toMatch(/> 0\)$/);
  });
});

describe('Grafana-managed alert rules', () => {
  const doc = parseYaml(read(GRAFANA_ALERTING_PATH)) as { apiVersion: number; groups: { orgId: number; name: string; folder: string; interval: string; rules: Json[] }[] };
  const datasources = parseYaml(read('dashboards/provisioning/datasources/prometheus.yml')) as { apiVersion: number; datasources: Json[] };
  const group = doc.groups[0] as (typeof doc.groups)[number];
  const t = parseThresholds(read(THRESHOLDS_PATH));

  it('is one provisioning group evaluated like the Prometheus rules', () => {
    expect(doc.apiVersion).toBe(1);
    expect(doc.groups.length).toBe(1);
    expect(group.orgId).toBe(1);
    expect(group.folder).toBe('SIP');
    expect(group.interval).toBe(t.evaluationInterval);
  });

  it('has one rule per Prometheus alert with the same expression, for, labels and annotations', () => {
    expect(group.rules.map((r) => r.title)).toEqual(alerts.map((a) => a.alert));
    const uids = group.rules.map((r) => String(r.uid));
    expect(new Set(uids).size).toBe(uids.length);
    for (const uid of uids) expect(uid).toMatch(/^[a-z0-9-]{1,40}$/);
    const dsUid = (datasources.datasources[0] as Json).uid;
    for (const [i, a] of alerts.entries()) {
      const r = group.rules[i] as Json;
      const data = r.data as Json[];
      const query = data.find((d) => d.refId === 'query') as Json;
      const model = query.model as Json;
      expect(query.datasourceUid, a.alert).toBe(dsUid);
      expect(model.expr, a.alert).toBe(a.expr);
      expect(model.instant).toBe(true);
      expect(r.for).toBe(a.for);
      expect(r.labels).toEqual(a.labels);
      const ann = a.annotations as Record<string, string>;
      expect(r.annotations).toEqual({ summary: ann.summary, description: toGrafanaTemplate(ann.description as string), runbook_url: ann.runbook_url });
      // Prometheus semantics: every returned series alerts, whatever its value (also 0, e.g. up == 0)
      const math = data.find((d) => d.refId === 'prometheus_math') as Json;
      const threshold = data.find((d) => d.refId === 'threshold') as Json;
      expect(r.condition).toBe('threshold');
      expect((math.model as Json).expression).toBe('is_number($query) || is_nan($query) || is_inf($query)');
      expect(math.datasourceUid).toBe('__expr__');
      expect((threshold.model as Json).expression).toBe('prometheus_math');
      expect((threshold.model as Json).conditions).toEqual([{ evaluator: { type: 'gt', params: [0] } }]);
      // no series = nothing wrong, as in Prometheus; a failing query is an error, not silence
      expect(r.noDataState).toBe('OK');
      expect(r.execErrState).toBe('Error');
      expect(r.isPaused).toBe(false);
    }
  });

  it('contains nothing Grafana\'s file provisioning would expand as an environment variable', () => {
    // Grafana expands $VAR in labels, titles and the other plain fields, ${VAR} also in annotations;
    // query models are taken raw (so $query in the math expression is safe).
    for (const r of group.rules) {
      const { data: _data, annotations, ...plain } = r;
      expect(JSON.stringify(plain), String(r.title)).not.toContain('$');
      expect(JSON.stringify(annotations), String(r.title)).not.toContain('${');
    }
    expect(JSON.stringify({ ...group, rules: [] })).not.toContain('$');
  });

  it('rewrites $value for Grafana, where $values holds each query result', () => {
    expect(toGrafanaTemplate('{{ $value | humanizePercentage }} {{ printf "%.2f" $value }} {{ $labels.x }}')).toBe(
      '{{ $values.query.Value | humanizePercentage }} {{ printf "%.2f" $values.query.Value }} {{ $labels.x }}',
    );
  });
});

describe('provisioning files', () => {
  it('datasource: one Prometheus with the uid the alert rules use and a scrape-interval hint', () => {
    const d = parseYaml(read('dashboards/provisioning/datasources/prometheus.yml')) as { apiVersion: number; datasources: Json[] };
    expect(d.apiVersion).toBe(1);
    expect(d.datasources).toHaveLength(1);
    const ds = d.datasources[0] as Json;
    expect(ds).toMatchObject({ uid: 'prometheus', type: 'prometheus', access: 'proxy' });
    expect((ds.jsonData as Json).timeInterval).toMatch(/^[0-9]+s$/);
  });

  it('dashboards: a file provider', () => {
    const d = parseYaml(read('dashboards/provisioning/dashboards/sip-response-exporter.yml')) as { apiVersion: number; providers: Json[] };
    expect(d.apiVersion).toBe(1);
    expect(d.providers).toHaveLength(1);
    expect(d.providers[0]).toMatchObject({ type: 'file', folder: 'SIP', options: { path: expect.any(String) } });
  });
});

describe('runbook', () => {
  const runbook = read(RUNBOOK_PATH);
  const headings = [...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1] as string);
  const anchors = new Set([...headings.map(githubAnchor), ...[...runbook.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1] as string)]);

  it('has a section for every alert, where its runbook_url points', () => {
    for (const a of alerts) {
      const fragment = (a.annotations?.runbook_url as string).split('#')[1] as string;
      expect(anchors.has(fragment), `${a.alert} -> #${fragment}`).toBe(true);
      expect(headings).toContain(a.alert);
    }
  });

  it('every internal link resolves', () => {
    for (const m of runbook.matchAll(/\]\(#([^)]+)\)/g)) expect(anchors.has(m[1] as string), `#${m[1]}`).toBe(true);
  });

  it('lists the catalogue causes and actions of every code the code-driven alerts watch', () => {
    const t = parseThresholds(read(THRESHOLDS_PATH));
    const watched = new Set([...t.alerts.SipResponseCodeSurge.codes, ...catalogue.codes.filter((c) => c.code >= 500).map((c) => c.code)]);
    for (const c of catalogue.codes.filter((x) => watched.has(x.code))) {
      const start = runbook.indexOf(`<a id="code-${c.code}"></a>${c.code} ${c.reason}`);
      expect(start, `code ${c.code}`).toBeGreaterThan(0);
      const end = runbook.indexOf('\n### ', start + 1);
      const section = runbook.slice(start, end < 0 ? undefined : end);
      for (const line of [...c.causes, ...c.actions]) expect(section, `code ${c.code}`).toContain(`- ${line}`);
    }
  });
});
