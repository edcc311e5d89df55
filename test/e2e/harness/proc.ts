/**
 * Process and port plumbing for the end-to-end harness: free ports, "is it bound yet" checks, finding
 * the real binaries, and starting/stopping child processes by PID / process group. Linux only
 * (reads /proc/net).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import dgram from 'node:dgram';
import { accessSync, constants, readFileSync } from 'node:fs';
import net from 'node:net';
import { delimiter, join } from 'node:path';

export const LOOPBACK = '127.0.0.1';

/**
 * Absolute path of an installed program, searched in PATH and the sbin directories (kamailio lives in
 * /usr/sbin, which is not always on a non-root PATH). Throws, never returns undefined: tests that
 * drive real software must fail, not skip, when it is missing.
 */
export function requireBinary(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} is not installed (looked in PATH and sbin dirs); run scripts/install-test-deps.sh`);
}

function bindUdp(port: number): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(undefined);
    });
    s.bind(port, LOOPBACK, () => resolve(s));
  });
}

function listenTcp(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen({ port, host: LOOPBACK, exclusive: true }, () => resolve(s));
  });
}

/**
 * A port that is currently free on 127.0.0.1 for the given protocol(s), picked by the kernel (bind to
 * port 0), so test files running in parallel never collide. 'both' returns a port free for UDP and TCP
 * at once (a SIP listener). The port is released before returning: bind it soon.
 */
export async function freePort(proto: 'udp' | 'tcp' | 'both' = 'both'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (proto === 'udp') {
      const u = await bindUdp(0);
      if (!u) continue;
      const port = u.address().port;
      await new Promise<void>((r) => u.close(() => r()));
      return port;
    }
    const t = await listenTcp(0);
    if (!t) continue;
    const port = (t.address() as net.AddressInfo).port;
    const u = proto === 'both' ? await bindUdp(port) : undefined;
    await new Promise<void>((r) => t.close(() => r()));
    if (proto === 'tcp') return port;
    if (u) {
      await new Promise<void>((r) => u.close(() => r()));
      return port;
    }
  }
  throw new Error(`no free ${proto} port found on ${LOOPBACK}`);
}

/** Whether some process has `port` bound on 127.0.0.1 or 0.0.0.0 (UDP) / listening on it (TCP). */
export function isBound(port: number, proto: 'udp' | 'tcp'): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let table: string;
  try {
    table = readFileSync(`/proc/net/${proto}`, 'utf8');
  } catch {
    return false;
  }
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    if (!local || !local.endsWith(`:${hexPort}`)) continue;
    const ip = local.slice(0, local.indexOf(':'));
    if (ip !== '0100007F' && ip !== '00000000') continue;
    if (proto === 'tcp' && f[3] !== '0A') continue; // LISTEN
    return true;
  }
  return false;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A started child process: its PID, a promise of its exit, and the tail of what it printed. */
export interface Child {
  readonly pid: number;
  readonly proc: ChildProcess;
  readonly exited: Promise<Exit>;
  /** undefined while running. */
  readonly exit: Exit | undefined;
  /** Last ~16 KiB of stdout when piped (empty when redirected to a file). */
  stdout(): string;
  /** First ~8 KiB of stderr when piped: where sipp and most tools print the first error. */
  stderr(): string;
}

export interface StartOptions {
  cwd?: string;
  /** Own process group (pgid = pid), so the whole group can be signalled without touching ours. */
  detached?: boolean;
  /** stdio for [stdout, stderr]: 'pipe' (kept in output()), 'ignore', or a file descriptor. */
  out?: 'pipe' | 'ignore' | number;
  env?: NodeJS.ProcessEnv;
}

const OUTPUT_KEEP = 16 * 1024;

export function startChild(cmd: string, args: readonly string[], opts: StartOptions = {}): Child {
  const out = opts.out ?? 'pipe';
  const stdio: StdioOptions = ['ignore', out, out];
  const proc = spawn(cmd, args, { cwd: opts.cwd, detached: opts.detached ?? false, stdio, env: opts.env ?? process.env });
  let out_ = '';
  let err_ = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out_ += d.toString('utf8');
    if (out_.length > 2 * OUTPUT_KEEP) out_ = out_.slice(-OUTPUT_KEEP);
  });
  proc.stderr?.on('data', (d: Buffer) => {
    if (err_.length < OUTPUT_KEEP / 2) err_ += d.toString('utf8');
  });
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    proc.once('error', (err) => {
      err_ += `\nspawn error: ${String(err)}`;
      exit = { code: -1, signal: null };
      resolve(exit);
    });
    proc.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  return {
    get pid() {
      return proc.pid ?? -1;
    },
    proc,
    exited,
    get exit() {
      return exit;
    },
    stdout: () => out_.slice(-OUTPUT_KEEP),
    stderr: () => err_.slice(0, OUTPUT_KEEP / 2),
  };
}

/** Whether any process is left in process group `pgid`. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stops a child started with `detached: true`: SIGTERM to its PID, then waits until the process and
 * every process left in its group are gone; SIGKILL to the group after `graceMs`. Only ever signals
 * the group the child leads, i.e. processes this harness started.
 */
export async function stopGroup(child: Child, graceMs = 5000): Promise<Exit> {
  const pid = child.pid;
  if (pid <= 0) return child.exited;
  if (child.exit === undefined) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + graceMs;
  while ((child.exit === undefined || groupAlive(pid)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
  }
  if (child.exit === undefined || groupAlive(pid)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    while (groupAlive(pid)) await new Promise((r) => setTimeout(r, 25));
  }
  return child.exited;
}

/** Stops a non-detached child (sipp) by PID: SIGTERM, SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 2000): Promise<Exit> {
  if (child.exit === undefined && child.pid > 0) {
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, graceMs);
    await child.exited;
    clearTimeout(timer);
  }
  return child.exited;
}
