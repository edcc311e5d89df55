/**
 * Conventions every dashboard file in dashboards/ must follow (the checklist): current schema,
 * stable uid, datasource/job/instance variables, $__rate_interval, title + description + unit on every
 * panel, counters only inside rate()/increase(), every query filtered by the variables.
 */
import { describe, expect, it } from 'vitest';
import {
  counterMisuse,
  loadDashboards,
  metricRefs,
  panelQueries,
  rangeSelectors,
  selectorsOf,
  STABLE_UIDS,
  variableQuery,
  type Json,
} from './dashboards.js';

/** Grafana's current classic dashboard schema (schemaversion.LATEST_VERSION in Grafana 12/13). */
const SCHEMA_VERSION = 42;
const DS_REF = { type: 'prometheus', uid: '${datasource}' };
/** Metrics that are not the exporter's own (scrape metadata) still must be filtered by job/instance. */
const dashboards = loadDashboards();

describe('dashboard files', () => {
  it('are exactly the four dashboards with their stable uids', () => {
    expect(Object.fromEntries(dashboards.map((d) => [d.file, d.json.uid]))).toEqual(STABLE_UIDS);
  });

  it('uids are unique, short and URL-safe', () => {
    const uids = dashboards.map((d) => String(d.json.uid));
    expect(new Set(uids).size).toBe(uids.length);
    for (const uid of uids) expect(uid).toMatch(/^[a-z0-9-]{1,40}$/);
  });
});

describe.each(dashboards.map((d) => [d.file, d] as const))('%s', (_file, d) => {
  const j = d.json;

  it('uses the current schema and is importable as a provisioned file', () => {
    expect(j.schemaVersion).toBe(SCHEMA_VERSION);
    expect(j.id).toBeNull();
    expect(typeof j.title).toBe('string');
    expect(String(j.title)).toMatch(/^SIP responses \/ /);
    expect(String(j.description ?? '').length).toBeGreaterThan(20);
    expect(j.tags).toContain('sip-response-exporter');
    expect(j.editable).toBe(true);
    expect(typeof j.refresh).toBe('string'); // schema 40+: refresh is always a string
    expect(j.timepicker).not.toHaveProperty('time_options'); // removed in schema 41
  });

  it('has datasource, job and instance variables, chained', () => {
    const byName = new Map(d.variables.map((v) => [String(v.name), v]));
    const ds = byName.get('datasource');
    expect(ds?.type).toBe('datasource');
    expect(ds?.query).toBe('prometheus');
    const job = byName.get('job');
    const instance = byName.get('instance');
    expect(job?.type).toBe('query');
    expect(instance?.type).toBe('query');
    expect(variableQuery(instance as Json)).toContain('job=~"$job"');
    for (const v of d.variables) {
      expect(String(v.description ?? '').length, `variable ${String(v.name)} description`).toBeGreaterThan(10);
      if (v.type !== 'query') continue;
      expect(v.datasource, `variable ${String(v.name)} datasource`).toEqual(DS_REF);
      const q = variableQuery(v);
      expect(q, `variable ${String(v.name)}`).toMatch(/^(label_values|query_result)\(/);
      if (v.name !== 'job') expect(q, `variable ${String(v.name)} filters by job`).toContain('job=~"$job"');
      if (v.includeAll) expect(v.allValue).toBe('.+');
    }
  });

  it('every panel has a title, a description, a unit and the datasource variable', () => {
    for (const p of d.panels) {
      const title = String(p.title ?? '');
      expect(title, `panel ${String(p.id)}`).not.toBe('');
      expect(String(p.description ?? '').length, `${title}: description`).toBeGreaterThan(20);
      const unit = ((p.fieldConfig as Json | undefined)?.defaults as Json | undefined)?.unit;
      expect(typeof unit === 'string' && unit !== '', `${title}: unit`).toBe(true);
      expect(p.datasource, `${title}: panel datasource`).toEqual(DS_REF);
      const targets = (p.targets as Json[] | undefined) ?? [];
      expect(targets.length, `${title}: targets`).toBeGreaterThan(0);
      for (const t of targets) {
        expect(t.datasource, `${title}: target datasource`).toEqual(DS_REF);
        expect(String(t.expr ?? ''), `${title}: expr`).not.toBe('');
      }
      expect(['timeseries', 'stat', 'table']).toContain(p.type);
    }
  });

  it('panel ids are unique and the grid is 24 columns without overlaps', () => {
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of d.panels) {
      const g = p.gridPos as { x: number; y: number; w: number; h: number };
      expect(g.x + g.w, String(p.title)).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const k = `${x},${y}`;
          expect(cells.has(k), `${String(p.title)} overlaps at ${k}`).toBe(false);
          cells.add(k);
        }
      }
    }
  });

  it('rates use $__rate_interval; totals over the range use $__range; nothing is hard-coded', () => {
    for (const q of panelQueries(d)) {
      const windows = rangeSelectors(q.expr);
      for (const w of windows) expect(['$__rate_interval', '$__range'], `${q.panel}/${q.refId}: [${w}]`).toContain(w);
      for (const m of q.expr.matchAll(/\b(rate|irate)\([^[]*\[([^\]]*)\]/g)) {
        expect(m[2], `${q.panel}/${q.refId}: rate window`).toBe('$__rate_interval');
      }
      if (q.instant) continue;
      // range panels that compute rates must adapt to the zoom level
      if (/\b(rate|increase)\(/.test(q.expr)) expect(q.expr, `${q.panel}/${q.refId}`).toContain('$__rate_interval');
    }
  });

  it('counters appear only inside rate() or increase()', () => {
    for (const q of panelQueries(d)) expect(counterMisuse(q.expr), `${q.panel}/${q.refId}: ${q.expr}`).toEqual([]);
  });

  it('every metric selector is filtered by the job and instance variables', () => {
    for (const q of panelQueries(d)) {
      expect(metricRefs(q.expr).length, `${q.panel}/${q.refId} references a metric`).toBeGreaterThan(0);
      for (const s of selectorsOf(q.expr)) {
        expect(s.matchers, `${q.panel}/${q.refId}: ${s.name}`).toContain('job=~"$job"');
        expect(s.matchers, `${q.panel}/${q.refId}: ${s.name}`).toContain('instance=~"$instance"');
      }
    }
  });

  it('every variable used in a query is defined', () => {
    const defined = new Set(d.variables.map((v) => String(v.name)));
    const builtin = new Set(['__rate_interval', '__range', '__interval']);
    const texts = [...panelQueries(d).map((q) => q.expr), ...d.variables.map(variableQuery), ...d.panels.map((p) => String(p.title))];
    for (const t of texts) {
      for (const m of t.matchAll(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)/g)) {
        const name = m[1] as string;
        expect(defined.has(name) || builtin.has(name), `$${name} in ${t}`).toBe(true);
      }
    }
  });

  it('links to other dashboards point at existing uids', () => {
    const uids = new Set(Object.values(STABLE_UIDS));
    const text = JSON.stringify(j);
    for (const m of text.matchAll(/\/d\/([a-z0-9-]+)\//g)) expect(uids.has(m[1] as string), m[0]).toBe(true);
  });
});

describe('PromQL helpers used by these checks', () => {
  it('find counters outside rate/increase', () => {
    expect(counterMisuse('sum(rate(sip_responses_total{job=~"$job"}[$__rate_interval]))')).toEqual([]);
    expect(counterMisuse('sum(increase(a_total[$__range] offset 1w)) / b_total')).toEqual(['b_total']);
    expect(counterMisuse('sum(sip_responses_total{code="200"})')).toEqual(['sip_responses_total']);
    expect(counterMisuse('histogram_quantile(0.9, sum by (le) (rate(x_seconds_bucket{a="b"}[$__rate_interval])))')).toEqual([]);
    expect(counterMisuse('max by (code) (sip_response_code_info{code=~"x_total"})')).toEqual([]);
  });

  it('list metric references, skipping labels, functions, numbers and keywords', () => {
    expect(metricRefs('sum by (job, le) (rate(a_total{x="y_total"}[5m] offset 1w)) * on (code) group_left (meaning) b or vector(0) > 1e6').map((r) => r.name)).toEqual([
      'a_total',
      'b',
    ]);
  });
});
