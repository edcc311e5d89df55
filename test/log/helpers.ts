import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParseResult, SipEvent } from '../../src/event.js';
import type { Dialect } from '../../src/parse/dialects/index.js';
import { Tailer, type RotationKind, type TailStats } from '../../src/sources/tail/tailer.js';

/** A realistic Kamailio acc line (syslog file prefix) with a unique Call-ID per i. */
export function accLine(i: number, code = 200, method = 'INVITE', reason = 'OK'): string {
  return (
    `Sep  7 07:16:53 sip /usr/sbin/kamailio[29264]: NOTICE: acc [acc.c:317]: acc_log_request(): ACC: transaction answered: ` +
    `timestamp=1504783013;method=${method};from_tag=f${i};to_tag=t${i};call_id=call-${i}@10.0.0.1;code=${code};reason=${reason};src_ip=10.0.0.1`
  );
}

export function noiseLine(i: number): string {
  return `Sep  7 07:16:53 sip /usr/sbin/kamailio[29264]: INFO: <script>: routing request ${i} to sip:bob@example.com`;
}

export function tempDir(prefix = 'sre-log-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A writer that keeps its file open like a real logger (O_APPEND) and re-opens on request. */
export class LogWriter {
  private fd: number;
  next = 0;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'a');
  }
  /** Appends `n` acc lines (plus a noise line every 5th) with increasing ids; returns the ids written. */
  write(n: number): void {
    let text = '';
    for (let k = 0; k < n; k++) {
      const i = this.next++;
      text += accLine(i) + '\n';
      if (i % 5 === 0) text += noiseLine(i) + '\n';
    }
    writeSync(this.fd, text);
  }
  raw(text: string): void {
    writeSync(this.fd, text);
  }
  reopen(): void {
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
  }
  close(): void {
    closeSync(this.fd);
  }
}

export interface TestTailer {
  tailer: Tailer;
  events: SipEvent[];
  errors: string[];
  rotations: RotationKind[];
  stats: TailStats;
  results: ParseResult[];
}

export function makeTailer(paths: string[], opts: Partial<{ fromBeginning: boolean; positionFile: string; maxLineLength: number; rotateWaitMs: number; dialect: Dialect; pollIntervalMs: number }> = {}): TestTailer {
  const t: Omit<TestTailer, 'tailer'> = { events: [], errors: [], rotations: [], stats: { lines: 0, tooLong: 0, bytes: 0 }, results: [] };
  const tailer = new Tailer({
    paths,
    parser: { dialect: opts.dialect ?? 'auto' },
    fromBeginning: opts.fromBeginning ?? false,
    maxLineLength: opts.maxLineLength ?? 64 * 1024,
    pollIntervalMs: opts.pollIntervalMs ?? 20,
    rotateWaitMs: opts.rotateWaitMs ?? 300,
    ...(opts.positionFile ? { positionFile: opts.positionFile } : {}),
    positionIntervalMs: 50,
    onResult: (r) => {
      if (r === undefined) return;
      t.results.push(r);
      if (!('error' in r)) t.events.push(r);
    },
    onStats: (s) => {
      t.stats.lines += s.lines;
      t.stats.tooLong += s.tooLong;
      t.stats.bytes += s.bytes;
    },
    onRotation: (k) => t.rotations.push(k),
    onError: (what, path, err) => t.errors.push(`${what} ${path}: ${(err as Error).message}`),
  });
  return { tailer, ...t } as TestTailer;
}

/** Call-ID numbers of the events, and the ones seen more than once. */
export function ids(events: readonly SipEvent[]): { seen: Set<number>; dups: number[] } {
  const seen = new Set<number>();
  const dups: number[] = [];
  for (const e of events) {
    const n = Number(/^call-(\d+)@/.exec(e.callId ?? '')?.[1]);
    if (seen.has(n)) dups.push(n);
    seen.add(n);
  }
  return { seen, dups };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
