import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseExposition, type Sample } from './metrics.js';
import { poll } from './poll.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The built CLI (npm test builds first, see package.json "pretest"). */
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface RunningDaemon {
  proc: ChildProcess;
  /** Bound addresses from the start-up log line: web, hep.udp, hep.tcp, syslog.udp ... */
  addresses: Record<string, string>;
  logs: Record<string, unknown>[];
  stderr: string;
  url(path: string): string;
  metrics(): Promise<Sample[]>;
  metricsText(): Promise<string>;
  /** Sends SIGTERM and waits for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the real daemon as a child process (port 0 everywhere unless args say otherwise) and waits
 * for its "started" log line.
 */
export async function startDaemon(args: string[], env: NodeJS.ProcessEnv = {}, opts: { productDefaults?: boolean } = {}): Promise<RunningDaemon> {
  // Unless a test asks for the product's own defaults, every listener not named in args is off or on port 0.
  const defaults = opts.productDefaults ? [] : ['--web.listen-address=127.0.0.1:0', '--hep.listen-address=', '--syslog.listen-address='];
  const given = new Set(args.map((a) => a.split('=')[0]));
  const all = [...defaults.filter((d) => !given.has(d.split('=')[0])), ...args];
  const proc = spawn(process.execPath, [CLI, ...all], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    exited = code;
    resolve(code);
  }));
  // A daemon that exits during start-up fails the test at once, with its output.
  const died = exit.then((code) => {
    throw new Error(`daemon exited with ${code} during start-up: ${stderr}\n${JSON.stringify(logs)}`);
  });
  died.catch(() => undefined);
  const started = await Promise.race([poll(() => logs.find((l) => l.msg === 'sip-response-exporter started'), 'daemon start-up', 30_000), died]);
  const addresses: Record<string, string> = { ...(started.inputs as Record<string, string>) };
  if (typeof started.web === 'string') addresses.web = started.web;
  const d: RunningDaemon = {
    proc,
    addresses,
    logs,
    get stderr() {
      return stderr;
    },
    url: (path) => `http://${addresses.web}${path}`,
    metricsText: async () => (await fetch(d.url('/metrics'))).text(),
    metrics: async () => parseExposition(await d.metricsText()),
    stop: async (signal = 'SIGTERM') => {
      if (exited === undefined) proc.kill(signal);
      return exit;
    },
  };
  return d;
}
