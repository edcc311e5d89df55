/**
 * Helpers for the fault-injection suite: the real daemon as a child process (like
 * test/helpers/daemon.ts, plus a user id to run as, RSS sampling and log-line accounting), loopback
 * senders for HEP and syslog, and metric deltas.
 *
 * Every process started here is stopped by its PID (stop(), or kill() in cleanups); all traffic goes
 * to 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT } from '../helpers/daemon.js';
import { parseExposition, sum, type Sample } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';

export { poll, sum, type Sample };

export interface Daemon {
  proc: ChildProcess;
  pid: number;
  addresses: Record<string, string>;
  /** Every JSON log line of the daemon's stdout, in order. */
  logs: Record<string, unknown>[];
  stderr(): string;
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

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** Run the daemon as this user and group (the test runs as root; used for permission tests). */
  uid?: number;
  gid?: number;
  /** Do not wait for the start-up log line (for daemons expected to fail). */
  noWait?: boolean;
  /**
   * Add --hep.listen-address= and --syslog.listen-address= unless the args name them (default true);
   * false leaves them to a config file (flags would override the file, also on reload).
   */
  listenersOff?: boolean;
}

const running = new Set<ChildProcess>();

/** Kills every daemon this module started that is still running (by PID). For afterAll hooks. */
export function killAll(): void {
  for (const p of running) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  running.clear();
}

/**
 * Starts the built daemon (dist/src/cli/main.js) with HTTP on 127.0.0.1:0 and HEP/syslog off unless
 * the args say otherwise, and waits for its "started" line.
 */
export async function startDaemon(args: string[], opts: StartOptions = {}): Promise<Daemon> {
  const defaults = opts.listenersOff === false ? ['--web.listen-address=127.0.0.1:0'] : ['--web.listen-address=127.0.0.1:0', '--hep.listen-address=', '--syslog.listen-address='];
  const given = new Set(args.map((a) => a.split('=')[0]));
  const all = [...defaults.filter((d) => !given.has(d.split('=')[0])), ...args];
  const proc = spawn(process.execPath, [CLI, ...all], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  running.add(proc);
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
      running.delete(proc);
      resolve(c);
    }),
  );
  const addresses: Record<string, string> = {};
  if (!opts.noWait) {
    const started = await poll(() => {
      if (code !== undefined) throw new Error(`daemon exited with ${code}: ${stderr}\n${JSON.stringify(logs)}`);
      return logs.find((l) => l.msg === 'sip-response-exporter started');
    }, 'daemon start-up', 30_000);
    Object.assign(addresses, started.inputs as Record<string, string>);
    if (typeof started.web === 'string') addresses.web = started.web;
  }
  const d: Daemon = {
    proc,
    pid: proc.pid!,
    addresses,
    logs,
    stderr: () => stderr,
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

/** VmRSS of a process in bytes. */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** A temporary directory (mode 755, so a daemon running as another user can enter it) and its removal. */
export function tempDir(prefix = 'sre-faults-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function hostPort(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
}

/** Sends datagrams one after the other (each send completes before the next: a sane, paced rate). */
export async function sendUdp(address: string, messages: (string | Buffer)[], gapMs = 0): Promise<void> {
  const { host, port } = hostPort(address);
  const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  try {
    for (const m of messages) {
      await new Promise<void>((resolve, reject) => s.send(typeof m === 'string' ? Buffer.from(m) : m, port, host, (e) => (e ? reject(e) : resolve())));
      if (gapMs > 0) await sleep(gapMs);
    }
  } finally {
    s.close();
  }
}

export function connectTcp(address: string): Promise<net.Socket> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port, noDelay: true }, () => {
      c.off('error', reject);
      c.on('error', () => undefined);
      resolve(c);
    });
    c.once('error', reject);
  });
}

export const write = (c: net.Socket, b: string | Buffer): Promise<void> => new Promise((resolve, reject) => c.write(b, (e) => (e ? reject(e) : resolve())));
export const closed = (c: net.Socket): Promise<void> => new Promise((r) => (c.destroyed ? r() : c.once('close', () => r())));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Milliseconds one GET takes (status must be 200). */
export async function timedGet(url: string): Promise<number> {
  const t = performance.now();
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await r.text();
  if (r.status !== 200) throw new Error(`${url} answered ${r.status}`);
  return performance.now() - t;
}

/** sip_responses_total of one source as "METHOD CODE" -> count, non-zero only. */
export function responses(samples: Sample[], source: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== 'sip_responses_total' || s.labels.source !== source || s.value === 0) continue;
    const k = `${s.labels.method} ${s.labels.code}`;
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** after - before for count maps, without zero entries. */
export function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(after), ...Object.keys(before)])) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Sorted copy of a count map, for toEqual comparisons with readable diffs. */
export function sorted(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Drops counted by the kernel's per-CPU input backlog (/proc/net/softnet_stat column 2), all CPUs. */
export function softnetDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .trim()
    .split('\n')
    .reduce((a, l) => a + parseInt(l.trim().split(/\s+/)[1] ?? '0', 16), 0);
}

/** Log lines of the daemon with this message. */
export function logsWith(d: Daemon, msg: string | RegExp): Record<string, unknown>[] {
  return d.logs.filter((l) => (typeof msg === 'string' ? l.msg === msg : typeof l.msg === 'string' && msg.test(l.msg)));
}

/** A port that is free on 127.0.0.1 for both UDP and TCP right now (for config files that need a fixed port). */
export async function freePort(): Promise<number> {
  for (;;) {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    try {
      udp.close();
    } catch {
      // never bound
    }
    await new Promise<void>((r) => srv.close(() => r()));
    if (ok) return port;
  }
}

/** Runs a node script as a child process and resolves with its stdout (rejects on a non-zero exit). */
export function runNode(script: string, args: string[], timeoutMs = 60_000): { child: ChildProcess; done: Promise<string> } {
  const child = spawn(process.execPath, [join(ROOT, script), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<string>((resolve, reject) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited with ${code ?? signal}: ${err}`));
    }),
  );
  return { child, done };
}

export interface FloodResult {
  sent: number;
  errors: number;
  from: number;
  to: number;
  ms: number;
}

/** Floods a UDP address from a child process (bench/soak/flood.mjs) for `ms`; message i carries `${tag}-${i}`. */
export async function flood(kind: 'hep' | 'syslog', to: string, tag: string, ms: number): Promise<FloodResult> {
  const { done } = runNode('bench/soak/flood.mjs', [`--kind=${kind}`, `--to=${to}`, `--tag=${tag}`, `--duration-ms=${ms}`], ms + 30_000);
  return JSON.parse((await done).trim()) as FloodResult;
}
