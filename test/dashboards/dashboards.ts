/** Reading the committed dashboards and their PromQL, shared by the dashboard tests. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/daemon.js';

export type Json = Record<string, unknown>;

export const DASHBOARD_DIR = join(ROOT, 'dashboards');

/** The stable uids: links, provisioning and bookmarks depend on them, so they never change. */
export const STABLE_UIDS: Record<string, string> = {
  'sip-overview.json': 'sip-overview',
  'sip-code-drilldown.json': 'sip-code-drilldown',
  'sip-call-kpis.json': 'sip-call-kpis',
  'sip-exporter-health.json': 'sip-exporter-health',
};

export interface Dashboard {
  file: string;
  json: Json;
  panels: Json[];
  variables: Json[];
}

export function loadDashboards(): Dashboard[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const json = JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) as Json;
      const panels: Json[] = [];
      const walk = (list: unknown): void => {
        for (const p of (list as Json[] | undefined) ?? []) {
          panels.push(p);
          walk(p.panels);
        }
      };
      walk(json.panels);
      const variables = ((json.templating as Json | undefined)?.list as Json[] | undefined) ?? [];
      return { file, json, panels, variables };
    });
}

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
  instant: boolean;
}

export function panelQueries(d: Dashboard): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const p of d.panels) {
    for (const t of (p.targets as Json[] | undefined) ?? []) {
      out.push({ dashboard: d.file, panel: String(p.title), refId: String(t.refId), expr: String(t.expr ?? ''), instant: t.instant === true });
    }
  }
  return out;
}

/** The query text of a variable (string or Grafana's object form). */
export function variableQuery(v: Json): string {
  const q = v.query;
  if (typeof q === 'string') return q;
  if (q && typeof q === 'object') return String((q as Json).query ?? '');
  return '';
}

/** Replaces string literals with spaces of the same length, so positions stay valid. */
export function blankStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, (s) => `"${' '.repeat(s.length - 2)}"`);
}

const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'atan2', 'inf', 'nan',
]);

/** Metric names referenced by a PromQL expression, with their position. */
export function metricRefs(expr: string): { name: string; index: number }[] {
  const text = blankStrings(expr)
    // label lists of grouping modifiers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, (s) => ' '.repeat(s.length))
    // label matchers and range/subquery selectors
    .replace(/\{[^}]*\}/g, (s) => ' '.repeat(s.length))
    .replace(/\[[^\]]*\]/g, (s) => ' '.repeat(s.length))
    .replace(/\boffset\s+-?[0-9a-z]+/g, (s) => ' '.repeat(s.length));
  const out: { name: string; index: number }[] = [];
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const name = m[0];
    const prev = text[m.index - 1];
    if (prev !== undefined && /[0-9.$]/.test(prev)) continue; // 1e6, $job
    if (KEYWORDS.has(name.toLowerCase())) continue;
    if (/^\s*\(/.test(text.slice(m.index + name.length))) continue; // function or aggregation
    out.push({ name, index: m.index });
  }
  return out;
}

export function isCounter(name: string): boolean {
  return /_(total|count|sum|bucket)$/.test(name);
}

/**
 * Problems with counters used outside rate()/increase(): every reference to a counter must be the
 * direct argument of rate( or increase( and carry a range selector.
 */
export function counterMisuse(expr: string): string[] {
  const blank = blankStrings(expr);
  const problems: string[] = [];
  for (const { name, index } of metricRefs(expr)) {
    if (!isCounter(name)) continue;
    const before = blank.slice(0, index);
    const after = blank.slice(index + name.length).replace(/^\s*\{[^}]*\}/, '');
    if (!/\b(rate|increase)\(\s*$/.test(before) || !/^\s*\[/.test(after)) problems.push(name);
  }
  return problems;
}

/** Every range selector's duration text, e.g. "$__rate_interval" or "5m". */
export function rangeSelectors(expr: string): string[] {
  return [...blankStrings(expr).matchAll(/\[([^\]]*)\]/g)].map((m) => (m[1] as string).trim());
}

/** The label matchers written for each metric reference (text between the braces). */
export function selectorsOf(expr: string): { name: string; matchers: string }[] {
  return metricRefs(expr).map(({ name, index }) => {
    const rest = expr.slice(index + name.length);
    const m = /^\s*\{([^}]*)\}/.exec(rest);
    return { name, matchers: m ? (m[1] as string) : '' };
  });
}
