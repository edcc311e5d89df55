/**
 * Starts and stops a real Kamailio 5.6 proxy for end-to-end tests (config: ./kamailio.cfg). See
 * ./index.ts for the overview.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { poll } from '../../helpers/poll.js';
import { isBound, freePort, LOOPBACK, requireBinary, startChild, stopGroup, type Child, type Exit } from './proc.js';

/** The proxy's config template, driven by -A defines (see its header). */
export const KAMAILIO_CFG = fileURLToPath(new URL('./kamailio.cfg', import.meta.url));

/** Printed once by event_route[core:worker-one-init] when the first SIP worker is running. */
const READY_MARKER = 'e2e-harness: kamailio ready';

export interface HepTarget {
  /** "host:port" of the HEP collector, e.g. the exporter's HEP listener "127.0.0.1:9060". */
  address: string;
  /** Default 'udp'. With 'tcp' Kamailio connects to the collector when it sends the first packet. */
  transport?: 'udp' | 'tcp';
  /** HEPv3 capture agent id; default 2001. */
  captureId?: number;
}

export interface KamailioOptions {
  /** Working directory (created if missing): log file, PID file, runtime dir, rendered sipp files. */
  dir: string;
  /** Mirror every SIP packet Kamailio receives or sends as HEPv3 (siptrace trace_mode=1). */
  hep?: HepTarget;
  /** Also write "ACC: call missed:" for failed INVITEs (acc log_missed_flag). Default false. */
  accMissed?: boolean;
  /** Also account CANCEL transactions (acc report_cancels=1). Default false. */
  accCancel?: boolean;
  /** tm fr_timer in ms: when an unanswered UAS turns into a local 408. Default 1500. */
  frTimerMs?: number;
  /** tm fr_inv_timer in ms (no final reply after a provisional). Default 4000. */
  frInvTimerMs?: number;
  /** SIP port for UDP and TCP on 127.0.0.1; default a free port. */
  port?: number;
  /** Where Kamailio's stderr (and stdout) go, opened O_APPEND; default <dir>/kamailio.log. */
  logFile?: string;
  /** Default 20 s. */
  startTimeoutMs?: number;
}

export interface Kamailio {
  readonly host: string;
  readonly sipPort: number;
  /** "127.0.0.1:<sipPort>" */
  readonly address: string;
  readonly logFile: string;
  readonly pid: number;
  readonly dir: string;
  /** What changes the ACC lines and timings; runCalls() reads these. */
  readonly settings: { accMissed: boolean; accCancel: boolean; frTimerMs: number; frInvTimerMs: number; hep: HepTarget | undefined };
  /** All ACC lines in the log so far ("ACC: transaction answered:" and "ACC: call missed:"). */
  accLines(): string[];
  /** SIGTERM to the main PID, waits until every Kamailio process of the group has exited. Idempotent. */
  stop(): Promise<Exit>;
}

/** Lines of a Kamailio log that are acc records (either kind). */
export function readAccLines(logFile: string): string[] {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.includes(' ACC: '));
}

/**
 * Waits (polling, no fixed sleeps) until Kamailio's log holds at least `n` ACC lines in total and
 * returns them all. Kamailio writes the acc record right after it sends the final response, so a
 * caller that has just received its last response may still be a few milliseconds ahead of the log.
 * `n` counts the whole file: add up `expected.accLines` of every runCalls() on this instance.
 */
export async function waitForAccLines(k: Pick<Kamailio, 'logFile'>, n: number, timeoutMs = 10_000): Promise<string[]> {
  let last: string[] = [];
  try {
    return await poll(() => {
      last = readAccLines(k.logFile);
      return last.length >= n ? last : undefined;
    }, `${n} ACC lines in ${k.logFile}`, timeoutMs, 25);
  } catch (err) {
    throw new Error(`${(err as Error).message} (have ${last.length})`);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function readFrom(path: string, offset: number): string {
  try {
    return readFileSync(path).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

function hepUri(h: HepTarget): string {
  const t = h.transport ?? 'udp';
  if (t !== 'udp' && t !== 'tcp') throw new Error(`hep.transport must be udp or tcp, not ${String(t)}`);
  if (!/^[^\s;"]+:\d+$/.test(h.address)) throw new Error(`hep.address must be host:port, not ${h.address}`);
  return t === 'tcp' ? `sip:${h.address};transport=tcp` : `sip:${h.address}`;
}

/**
 * Starts Kamailio in the foreground (-DD -E) in its own process group, stderr appended to the log
 * file, with its own PID file, runtime dir, 64 MB shared / 8 MB private memory, listening on UDP and
 * TCP 127.0.0.1:<port>. Resolves once the SIP sockets are bound and the first worker is running.
 */
export async function startKamailio(opts: KamailioOptions): Promise<Kamailio> {
  const bin = requireBinary('kamailio');
  mkdirSync(opts.dir, { recursive: true });
  const runDir = join(opts.dir, 'kamailio-run');
  mkdirSync(runDir, { recursive: true });
  const logFile = opts.logFile ?? join(opts.dir, 'kamailio.log');
  const settings = {
    accMissed: opts.accMissed ?? false,
    accCancel: opts.accCancel ?? false,
    frTimerMs: opts.frTimerMs ?? 1500,
    frInvTimerMs: opts.frInvTimerMs ?? 4000,
    hep: opts.hep,
  };
  const defines = [`FR_TIMER=${Math.round(settings.frTimerMs)}`, `FR_INV_TIMER=${Math.round(settings.frInvTimerMs)}`];
  if (settings.accMissed) defines.push('WITH_ACC_MISSED');
  if (settings.accCancel) defines.push('WITH_ACC_CANCEL');
  if (opts.hep) {
    defines.push('WITH_HEP', `HEP_URI="${hepUri(opts.hep)}"`, `HEP_CAPTURE_ID=${opts.hep.captureId ?? 2001}`);
  }

  // A kernel-chosen port can be taken by someone else before Kamailio binds it: retry with another.
  const attempts = opts.port === undefined ? 3 : 1;
  let lastErr: Error | undefined;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = opts.port ?? (await freePort('both'));
    try {
      return await startOnce(bin, port, logFile, runDir, defines, settings, opts);
    } catch (err) {
      lastErr = err as Error;
      if (!/bind|address already in use/i.test(lastErr.message)) throw lastErr;
    }
  }
  throw lastErr ?? new Error('kamailio did not start');
}

async function startOnce(
  bin: string,
  port: number,
  logFile: string,
  runDir: string,
  defines: string[],
  settings: Kamailio['settings'],
  opts: KamailioOptions,
): Promise<Kamailio> {
  const pidFile = join(runDir, `kamailio-${port}.pid`);
  const args = [
    '-f', KAMAILIO_CFG,
    '-DD', '-E',
    '-m', '64', '-M', '8',
    '-P', pidFile,
    '-Y', runDir,
    '-w', opts.dir,
    '-l', `udp:${LOOPBACK}:${port}`,
    '-l', `tcp:${LOOPBACK}:${port}`,
    ...defines.flatMap((d) => ['-A', d]),
  ];
  const startOffset = fileSize(logFile);
  const fd = openSync(logFile, 'a');
  let child: Child;
  try {
    child = startChild(bin, args, { cwd: opts.dir, detached: true, out: fd });
  } finally {
    closeSync(fd);
  }
  // If the test process dies without stop(), do not leave a proxy behind.
  const killOnExit = (): void => {
    try {
      if (child.pid > 0) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', killOnExit);
  let stopping: Promise<Exit> | undefined;
  const stop = (): Promise<Exit> => {
    stopping ??= stopGroup(child).finally(() => process.removeListener('exit', killOnExit));
    return stopping;
  };

  // Not poll(): an early exit (bad config, port taken) must fail at once, not at the timeout.
  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  for (;;) {
    if (child.exit !== undefined) {
      await stop();
      throw new Error(`kamailio exited (${JSON.stringify(child.exit)}) during start-up:\n${readFrom(logFile, startOffset).slice(-4000)}`);
    }
    if (isBound(port, 'udp') && isBound(port, 'tcp') && readFrom(logFile, startOffset).includes(READY_MARKER)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`kamailio on ${LOOPBACK}:${port} not ready after ${opts.startTimeoutMs ?? 20_000} ms:\n${readFrom(logFile, startOffset).slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  return {
    host: LOOPBACK,
    sipPort: port,
    address: `${LOOPBACK}:${port}`,
    logFile,
    pid: child.pid,
    dir: opts.dir,
    settings,
    accLines: () => readAccLines(logFile),
    stop,
  };
}
