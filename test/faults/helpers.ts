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
import { ROOT, rssOf, startDaemon as startSharedDaemon, type DaemonOptions, type RunningDaemon } from '../helpers/daemon.js';
import { sum, type Sample } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';

export { poll, sum, type Sample };

/** The shared daemon handle (test/helpers/daemon.ts), with stderr read through a function. */
export interface Daemon extends Omit<RunningDaemon, 'stderr'> {
  stderr(): string;
}

export interface StartOptions extends DaemonOptions {
  env?: NodeJS.ProcessEnv;
}

const running = new Set<ChildProcess>();

/** Kills every daemon this module started that is still running (by PID). For afterAll hooks. */
export function killAll(): void {
  for (const p of running) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  running.clear();
}

/** Starts the built daemon (test/helpers/daemon.ts) and remembers it for killAll(). */
export async function startDaemon(args: string[], opts: StartOptions = {}): Promise<Daemon> {
  const d = await startSharedDaemon(args, opts.env ?? {}, opts);
  running.add(d.proc);
  void d.exited.then(() => running.delete(d.proc));
  return {
    proc: d.proc,
    pid: d.pid,
    addresses: d.addresses,
    logs: d.logs,
    stderr: () => d.stderr,
    url: d.url,
    metrics: d.metrics,
    metricsText: d.metricsText,
    rss: d.rss,
    stop: d.stop,
    exited: d.exited,
    running: d.running,
  };
}

export { rssOf };

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
