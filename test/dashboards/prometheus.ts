/**
 * A private Prometheus (Debian package `prometheus`) for tests: own config file, own TSDB directory,
 * own 127.0.0.1 port, fast scrape and rule evaluation; stopped by PID.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, LOOPBACK, requireBinary, startChild, stopChild, type Child } from '../e2e/harness/proc.js';
import { poll } from '../helpers/poll.js';

export interface PrometheusOptions {
  /** Working directory: prometheus.yml and the TSDB go below it. */
  dir: string;
  job: string;
  /** host:port of each scrape target. */
  targets: string[];
  /** Absolute paths of rule files to load. */
  ruleFiles?: string[];
  /** Default 1s. */
  scrapeInterval?: string;
  /** Default 1s. */
  evaluationInterval?: string;
}

export interface ApiResponse<T = unknown> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
}

export interface VectorData {
  resultType: string;
  result: { metric: Record<string, string>; value?: [number, string]; values?: [number, string][] }[];
}

export interface RunningPrometheus {
  readonly url: string;
  readonly child: Child;
  /** Instant query (POST /api/v1/query). Never throws on a PromQL error: look at status. */
  query(expr: string, time?: number): Promise<ApiResponse<VectorData>>;
  /** GET /api/v1/label/<name>/values?match[]=<selector>: what Grafana's label_values() calls. */
  labelValues(label: string, match: string): Promise<ApiResponse<string[]>>;
  get<T>(path: string): Promise<ApiResponse<T>>;
  stop(): Promise<void>;
}

function config(o: PrometheusOptions): string {
  const scrape = o.scrapeInterval ?? '1s';
  return [
    'global:',
    `  scrape_interval: ${scrape}`,
    `  scrape_timeout: ${scrape}`,
    `  evaluation_interval: ${o.evaluationInterval ?? '1s'}`,
    'rule_files:',
    ...(o.ruleFiles ?? []).map((f) => `  - ${JSON.stringify(f)}`),
    ...(o.ruleFiles?.length ? [] : ['  []']),
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(o.job)}`,
    '    static_configs:',
    `      - targets: [${o.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ]
    .join('\n')
    .replace('rule_files:\n  []', 'rule_files: []');
}

export async function startPrometheus(o: PrometheusOptions): Promise<RunningPrometheus> {
  const bin = requireBinary('prometheus');
  mkdirSync(o.dir, { recursive: true });
  const configFile = join(o.dir, 'prometheus.yml');
  writeFileSync(configFile, config(o));
  let lastErr: Error | undefined;
  // the kernel-chosen port may be taken before Prometheus binds it: retry with another
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort('tcp');
    const url = `http://${LOOPBACK}:${port}`;
    const child = startChild(bin, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(o.dir, `tsdb-${attempt}`)}`,
      `--web.listen-address=${LOOPBACK}:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ]);
    try {
      await poll(async () => {
        if (child.exit !== undefined) throw new Error(`prometheus exited (${JSON.stringify(child.exit)}): ${child.stderr()}`);
        const r = await fetch(`${url}/-/ready`).catch(() => undefined);
        return r?.status === 200;
      }, 'prometheus /-/ready', 30_000, 100);
    } catch (err) {
      lastErr = err as Error;
      await stopChild(child);
      if (/address already in use|bind/i.test(lastErr.message)) continue;
      throw lastErr;
    }
    const json = async <T>(r: Response): Promise<ApiResponse<T>> => {
      const body = (await r.json()) as ApiResponse<T>;
      return body;
    };
    return {
      url,
      child,
      query: async (expr, time) => {
        const form = new URLSearchParams({ query: expr });
        if (time !== undefined) form.set('time', String(time));
        return json<VectorData>(await fetch(`${url}/api/v1/query`, { method: 'POST', body: form }));
      },
      labelValues: async (label, match) => json<string[]>(await fetch(`${url}/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': match })}`)),
      get: async <T>(path: string) => json<T>(await fetch(`${url}${path}`)),
      stop: async () => {
        await stopChild(child, 10_000);
      },
    };
  }
  throw lastErr ?? new Error('prometheus did not start');
}
