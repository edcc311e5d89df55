import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseExposition, type Sample } from './metrics.js';
import { poll } from './poll.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The built CLI (npm test builds first, see package.json "pretest"). */
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface RunningDaemon {
  proc: ChildProcess;
  pid: number;
  /** Bound addresses from the start-up log line: web, hep.udp, hep.tcp, syslog.udp ... */
  addresses: Record<string, string>;
  /** Every JSON log line of the daemon's stdout, in order. */
  logs: Record<string, unknown>[];
  /** Everything written to stderr so far. */
  readonly stderr: string;
  url(path: string): string;
  metrics(): Promise<Sample[]>;
  metricsText(): Promise<string>;
  /** Resident set size in bytes (from /proc/<pid>/status). */
  rss(): number;
  /** Sends the signal (SIGTERM by default) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code once the process exited (without signalling it). */
  exited: Promise<number | null>;
  running(): boolean;
}

export interface DaemonOptions {
  /** No listener defaults at all: the product's own defaults apply (HTTP :9468, HEP and syslog on loopback). */
  productDefaults?: boolean;
  /**
   * Add --hep.listen-address= and --syslog.listen-address= unless the args name them (default true);
   * false leaves them to a config file (flags would override the file, also on reload).
   */
  listenersOff?: boolean;
  /** Run the daemon as this user and group (permission tests; the suite runs as root). */
  uid?: number;
  gid?: number;
  /** Do not wait for the start-up log line (for daemons expected to fail or to be signalled early). */
  noWait?: boolean;
}

/** VmRSS of a process in bytes. */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Starts the real daemon as a child process (HTTP on 127.0.0.1:0, HEP and syslog off, unless args say
 * otherwise) and waits for its "started" log line. A daemon that exits during start-up fails at once.
 */
export async function startDaemon(args: string[], env: NodeJS.ProcessEnv = {}, opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const defaults = opts.productDefaults
    ? []
    : opts.listenersOff === false
      ? ['--web.listen-address=127.0.0.1:0']
      : ['--web.listen-address=127.0.0.1:0', '--hep.listen-address=', '--syslog.listen-address='];
  const given = new Set(args.map((a) => a.split('=')[0]));
  const all = [...defaults.filter((d) => !given.has(d.split('=')[0])), ...args];
  const proc = spawn(process.execPath, [CLI, ...all], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (c) => {
      code = c;
      resolve(c);
    }),
  );
  const addresses: Record<string, string> = {};
  if (!opts.noWait) {
    const died = exited.then((c) => {
      throw new Error(`daemon exited with ${c} during start-up: ${stderr}\n${JSON.stringify(logs)}`);
    });
    died.catch(() => undefined);
    const started = await Promise.race([poll(() => logs.find((l) => l.msg === 'sip-response-exporter started'), 'daemon start-up', 30_000), died]);
    Object.assign(addresses, started.inputs as Record<string, string>);
    if (typeof started.web === 'string') addresses.web = started.web;
  }
  const d: RunningDaemon = {
    proc,
    pid: proc.pid!,
    addresses,
    logs,
    get stderr() {
      return stderr;
    },
    url: (path) => `http://${addresses.web}${path}`,
    metricsText: async () => {
      const r = await fetch(d.url('/metrics'));
      if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
      return r.text();
    },
    metrics: async () => parseExposition(await d.metricsText()),
    rss: () => rssOf(proc.pid!),
    stop: async (signal = 'SIGTERM') => {
      if (code === undefined) proc.kill(signal);
      return exited;
    },
    exited,
    running: () => code === undefined,
  };
  return d;
}
