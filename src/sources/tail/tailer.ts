import { createHash } from 'node:crypto';
import { watch, type FSWatcher, type Stats } from 'node:fs';
import { glob, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { ParseResult } from '../../event.js';
import { createLineParser, type LineParserOptions, type ScanStats } from '../../parse/dialects/index.js';
import { CHUNK_SIZE, LineReader } from './lines.js';
import { HEAD_BYTES, loadPositions, savePositions, type Position } from './positions.js';

export type RotationKind = 'rename' | 'truncate' | 'delete';
export const ROTATION_KINDS: readonly RotationKind[] = ['rename', 'truncate', 'delete'];

export interface TailerOptions {
  /** Paths or globs. */
  paths: readonly string[];
  parser: LineParserOptions;
  fromBeginning: boolean;
  maxLineLength: number;
  pollIntervalMs: number;
  rotateWaitMs: number;
  positionFile?: string;
  positionIntervalMs: number;
  /** Every parse result of every file, in file order. */
  onResult: (r: ParseResult) => void;
  /** Called after each batch of reads with the counts since the previous call. */
  onStats?: (s: TailStats) => void;
  onRotation?: (kind: RotationKind, path: string) => void;
  onError?: (what: string, path: string, err: unknown) => void;
  onInfo?: (msg: string, fields: Record<string, unknown>) => void;
}

export interface TailStats extends ScanStats {
  bytes: number;
}

/** A multi-line block still open after this long without new data is completed. */
const IDLE_FLUSH_MS = 1000;

/** Bytes before the read position kept to recognise the same content (truncation, copies). */
const TAIL_BYTES = 32;

/** A file's mtime is trusted to change at its next write only once it is this much older than our stat (the file clock ticks coarsely). */
const MTIME_SETTLED_MS = 50;

/** Read at most this much of one file per round, so one busy file cannot starve the others or the event loop. */
const MAX_BYTES_PER_ROUND = 32 * CHUNK_SIZE;

const isGlob = (p: string): boolean => /[*?[\]{}]/.test(p);

/** One open file. */
class Tailed {
  /** Next byte to read. */
  offset = 0;
  /** When it was rotated away (renamed or deleted); it is drained until rotateWait has passed. */
  rotatedAt = 0;
  /**
   * What was read, taken from the bytes of the reads themselves (see consumed()), never re-read from the
   * file later, when it may already have changed: the last bytes before `offset` (up to TAIL_BYTES, to
   * notice a copytruncate whose new content already outgrew our offset, and to find its copy) ...
   */
  private readonly tailBuf = Buffer.alloc(TAIL_BYTES);
  private tailLen = 0;
  /** ... and the file's first min(offset, HEAD_BYTES) bytes (valid while headLen === min(offset, HEAD_BYTES)). */
  private readonly headBuf = Buffer.alloc(HEAD_BYTES);
  private headLen = 0;
  /** fingerprint() of headBuf, computed when asked for. */
  private headPrint = '';
  /** Date.now() just before the last check that found this file still at its path. */
  confirmedAt = Date.now();
  /** Modification time at the last read, to notice a rewrite that left the size unchanged. */
  mtime = -1;
  /** When data was last read (pending multi-line blocks are completed after IDLE_FLUSH_MS without any). */
  lastDataAt = Date.now();
  constructor(
    readonly path: string,
    readonly fh: FileHandle,
    readonly dev: number,
    readonly ino: number,
    readonly born: number,
    readonly reader: LineReader,
  ) {}

  /** The bytes just before `offset` as they were read. */
  get tail(): Buffer {
    return this.tailBuf.subarray(0, this.tailLen);
  }

  /** The file's first bytes as they were read (fewer than min(offset, HEAD_BYTES) only if unknown). */
  get head(): Buffer {
    return this.headBuf.subarray(0, this.headLen);
  }

  /** "N:sha256" of head, as fingerprint() computes it for a file. */
  fingerprint(): string {
    if (this.headLen !== Math.min(this.offset, HEAD_BYTES)) return ''; // unknown: matches nothing
    if (this.headPrint === '') this.headPrint = `${this.headLen}:${createHash('sha256').update(this.head).digest('hex')}`;
    return this.headPrint;
  }

  /**
   * `n` bytes read at `offset` now sit at src[start..start+n): the offset moves past them, and the tail and
   * head snapshots are updated from these very bytes (no further read), so they always describe what was
   * read, whatever happened to the file since. Cheap: at most TAIL_BYTES (and, near the start of the file,
   * HEAD_BYTES) bytes copied.
   */
  consumed(src: Buffer, start: number, n: number): void {
    if (n <= 0) return;
    if (this.offset < HEAD_BYTES && this.headLen === this.offset) {
      const k = Math.min(n, HEAD_BYTES - this.offset);
      src.copy(this.headBuf, this.headLen, start, start + k);
      this.headLen += k;
      this.headPrint = '';
    }
    if (n >= TAIL_BYTES) {
      src.copy(this.tailBuf, 0, start + n - TAIL_BYTES, start + n);
      this.tailLen = TAIL_BYTES;
    } else {
      const keep = Math.min(this.tailLen, TAIL_BYTES - n);
      this.tailBuf.copyWithin(0, this.tailLen - keep, this.tailLen);
      src.copy(this.tailBuf, keep, start, start + n);
      this.tailLen = keep + n;
    }
    this.offset += n;
  }

  /**
   * Starts at `offset` without having read what is before it (start-up, a resumed file): the snapshot is
   * taken from the file now, once. Bytes that cannot be read (the file shrank meanwhile) are left out, so
   * the snapshot never claims content that was not there.
   */
  async startAt(offset: number): Promise<void> {
    this.offset = offset;
    this.tailLen = this.headLen = 0;
    this.headPrint = '';
    const t = Math.min(offset, TAIL_BYTES);
    const h = Math.min(offset, HEAD_BYTES);
    try {
      if (h > 0) {
        const { bytesRead } = await this.fh.read(this.headBuf, 0, h, 0);
        this.headLen = bytesRead === h ? h : 0;
      }
      if (t > 0) {
        const { bytesRead } = await this.fh.read(this.tailBuf, 0, t, offset - t);
        this.tailLen = bytesRead === t ? t : 0;
      }
    } catch {
      this.tailLen = this.headLen = 0;
    }
  }

  /** Sets the tail from elsewhere (a position file). */
  setTail(b: Buffer): void {
    const n = Math.min(b.length, TAIL_BYTES);
    b.copy(this.tailBuf, 0, b.length - n);
    this.tailLen = n;
  }

  /** The file was truncated: nothing of it has been read. */
  restart(): void {
    this.offset = 0;
    this.tailLen = this.headLen = 0;
    this.headPrint = '';
  }

  /** Offset of the first line not yet parsed. */
  get position(): number {
    return this.offset - this.reader.pending;
  }
}

/**
 * Follows files like `tail -F`, safely:
 * - paths and globs; files that appear later are picked up (and read from their beginning);
 * - files present at start-up are read from their end (or beginning with fromBeginning), starting at the
 *   next complete line;
 * - rename + create rotation: the old file is read to its end, and kept open for rotateWait to catch late
 *   writes, while the new file is read from its beginning; copytruncate: the shrink (or the content
 *   before our offset changing) is detected and reading restarts at 0; delete + re-create likewise;
 * - a partial last line waits until it is complete; lines longer than maxLineLength are counted and
 *   skipped with bounded memory;
 * - optional position file: see docs/log-input.md for exactly what it guarantees.
 */
export class Tailer {
  /** Current file per path. */
  private readonly files = new Map<string, Tailed>();
  /** Rotated-away files still being drained. */
  private draining: Tailed[] = [];
  private readonly stats: TailStats = { lines: 0, tooLong: 0, bytes: 0 };
  private timer: NodeJS.Timeout | undefined;
  private posTimer: NodeJS.Timeout | undefined;
  private readonly watchers: FSWatcher[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private positionsDirty = false;
  private saving: Promise<void> = Promise.resolve();
  /** Paths whose open failed, so the error is reported once until it changes. */
  private readonly failing = new Map<string, string>();
  /**
   * Files we stopped reading after a rotation, by "dev:ino": if a glob matches one later (e.g. kamailio.log
   * rotated to kamailio.1.log with the glob kamailio*.log) it is resumed where we stopped, not re-read.
   */
  private readonly retired = new Map<string, { offset: number; head: string; born: number }>();
  /** Rotated files ("dev:ino") that were already there at start-up: never read as missed rotations. */
  private readonly known = new Set<string>();
  /** Paths recently rotated: their directory is searched for missed rotations until `until`. */
  private readonly rotationScans = new Map<string, { since: number; until: number }>();

  constructor(private readonly opts: TailerOptions) {}

  /** Files currently open (current ones and rotated ones being drained). */
  get openFiles(): number {
    return this.files.size + this.draining.length;
  }

  /** Positions at the last stop(), for a tailer that takes over (a reload restarting the log input). */
  finalPositions: Position[] = [];

  /**
   * Opens what exists now (establishing the start offsets, so everything appended after start() resolves
   * is read), then follows. Rejects if the position file cannot be used. `handoff` (the finalPositions
   * of a tailer this one replaces) takes the place of the position file, so a restart in the same
   * process loses no line even without one.
   */
  async start(handoff?: Position[]): Promise<void> {
    let saved: Position[] = handoff ?? [];
    if (handoff === undefined && this.opts.positionFile !== undefined) {
      try {
        saved = await loadPositions(this.opts.positionFile);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== undefined) throw new Error(`cannot read position file ${this.opts.positionFile}: ${(err as Error).message}`);
        this.opts.onError?.('position file is corrupt; starting without it', this.opts.positionFile, err);
        saved = [];
      }
    }
    const paths = await this.expand();
    await this.rememberExisting(paths);
    for (const path of paths) await this.openAtStart(path, saved);
    if (this.opts.positionFile !== undefined) {
      // Fail now, not at the first save, if the position file cannot be written.
      await this.save();
      this.posTimer = setInterval(() => void this.savePositionsIfDirty(), this.opts.positionIntervalMs);
    }
    this.watchDirs();
    this.timer = setInterval(() => this.kick(), this.opts.pollIntervalMs);
    this.kick();
  }

  /** Stops following: finishes the current round, keeps incomplete last lines unread, saves positions. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.posTimer);
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    while (this.running) await this.running;
    for (const f of [...this.files.values(), ...this.draining]) f.reader.parser.flush();
    this.report();
    await this.save();
    this.finalPositions = await this.positions();
    for (const f of [...this.files.values(), ...this.draining]) await f.fh.close().catch(() => undefined);
    this.files.clear();
    this.draining = [];
  }

  /** Runs a round now (or right after the current one). Resolves when that round is done. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.round();
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** One pass: new files, new data, rotation, draining. */
  private async round(): Promise<void> {
    const paths = await this.expand();
    for (const path of paths) {
      if (this.stopped) return;
      const f = this.files.get(path);
      if (f) await this.follow(f);
      else await this.openNew(path);
    }
    // Paths that no longer match any glob (or vanished) are checked for rotation by follow() above only when
    // listed; a current file whose path vanished is found here.
    for (const [path, f] of this.files) {
      if (!paths.includes(path)) await this.follow(f);
    }
    for (const [path, scan] of this.rotationScans) {
      if (Date.now() > scan.until) this.rotationScans.delete(path);
      else await this.readMissedRotations(path, scan.since);
    }
    const now = Date.now();
    const keep: Tailed[] = [];
    for (const f of this.draining) {
      await this.readAvailable(f);
      if (now - f.rotatedAt >= this.opts.rotateWaitMs) await this.close(f);
      else keep.push(f);
    }
    this.draining = keep;
    this.report();
  }

  private report(): void {
    const s = this.stats;
    if (s.lines === 0 && s.bytes === 0 && s.tooLong === 0) return;
    this.opts.onStats?.({ ...s });
    s.lines = s.tooLong = s.bytes = 0;
  }

  /** Concrete paths right now: plain paths as given (existing or not), globs expanded. */
  private async expand(): Promise<string[]> {
    const out = new Set<string>();
    for (const p of this.opts.paths) {
      if (!isGlob(p)) {
        out.add(resolve(p));
        continue;
      }
      try {
        for await (const m of glob(p)) out.add(resolve(m));
      } catch (err) {
        this.reportError('cannot expand glob', p, err);
      }
    }
    return [...out];
  }

  private newReader(): LineReader {
    const parser = createLineParser(this.opts.parser, this.opts.onResult);
    return new LineReader(parser, this.opts.maxLineLength, this.stats);
  }

  private async tryOpen(path: string): Promise<{ fh: FileHandle; st: Stats } | undefined> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'r');
      const st = await fh.stat();
      if (!st.isFile()) {
        await fh.close();
        if (this.failing.get(path) !== 'ENOTFILE') {
          this.failing.set(path, 'ENOTFILE');
          this.reportError('log path is not a regular file', path, new Error(st.isDirectory() ? 'is a directory' : 'not a regular file'));
        }
        return undefined;
      }
      if (this.isTracked(st.dev, st.ino)) {
        // Another path (symlink, overlapping globs) already reads this file.
        await fh.close();
        return undefined;
      }
      this.failing.delete(path);
      return { fh, st };
    } catch (err) {
      await fh?.close().catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      if (code !== 'ENOENT' && this.failing.get(path) !== code) {
        this.failing.set(path, code);
        this.reportError('cannot open log file', path, err);
      }
      return undefined;
    }
  }

  private isTracked(dev: number, ino: number): boolean {
    for (const f of this.files.values()) if (f.dev === dev && f.ino === ino) return true;
    for (const f of this.draining) if (f.dev === dev && f.ino === ino) return true;
    return false;
  }

  /** Rotated files present at start-up (app.log.1 ...) are old news, never "missed rotations". */
  private async rememberExisting(paths: readonly string[]): Promise<void> {
    const byDir = new Map<string, string[]>();
    for (const p of paths) byDir.set(dirname(p), [...(byDir.get(dirname(p)) ?? []), basename(p)]);
    for (const [dir, bases] of byDir) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        if (!bases.some((b) => name.startsWith(b) && name !== b)) continue;
        const st = await stat(join(dir, name)).catch(() => undefined);
        if (st?.isFile()) this.known.add(`${st.dev}:${st.ino}`);
      }
    }
  }

  /** A file found at start-up: resume from the position file, else start at its end (or beginning). */
  private async openAtStart(path: string, saved: readonly Position[]): Promise<void> {
    // A saved file that was rotated away while we were down: read the rest of it first.
    for (const pos of saved.filter((s) => s.path === path)) {
      const o = await this.tryOpen(path);
      const same = o !== undefined && o.st.dev === pos.dev && o.st.ino === pos.ino;
      if (o) await o.fh.close();
      if (same) continue;
      await this.resumeRotated(pos);
    }
    const o = await this.tryOpen(path);
    if (!o) return;
    const f = new Tailed(path, o.fh, o.st.dev, o.st.ino, o.st.birthtimeMs, this.newReader());
    const pos = saved.find((s) => s.path === path && !s.rotated && s.dev === o.st.dev && s.ino === o.st.ino);
    let start = 0;
    if (pos && pos.offset <= o.st.size && sameBirth(pos.born, o.st.birthtimeMs) && (await headMatches(o.fh, pos.head)) && (await tailMatches(o.fh, pos))) {
      start = pos.offset;
    } else if (pos || saved.some((s) => s.path === path)) {
      if (pos && pos.tail) {
        // Same inode, other content: truncated (copytruncate) while we were down. The lines between our
        // position and the truncation are in the copy, if there is one.
        const old = new Tailed(path, o.fh, o.st.dev, o.st.ino, o.st.birthtimeMs, this.newReader());
        old.offset = pos.offset;
        old.setTail(Buffer.from(pos.tail, 'hex'));
        await this.readRestFromCopy(old, pos.head);
        old.reader.reset();
        old.reader.parser.flush();
        this.opts.onRotation?.('truncate', path);
      }
      // The position was for another file (rotated, re-created or truncated while we were down): all of
      // this file is new.
      start = 0;
    } else if (!this.opts.fromBeginning && o.st.size > 0) {
      start = o.st.size;
      if (!(await endsWithNewline(o.fh, o.st.size))) f.reader.skipPartialLine();
    }
    await f.startAt(start);
    this.files.set(path, f);
    this.opts.onInfo?.('following log file', { path, offset: f.offset });
  }

  /** Finds a file from the position file that was renamed away (same directory, same inode) and drains it. */
  private async resumeRotated(pos: Position): Promise<void> {
    for await (const { path: p, st } of statEntries(dirname(pos.path))) {
      if (st.dev !== pos.dev || st.ino !== pos.ino || !st.isFile() || st.size < pos.offset || !sameBirth(pos.born, st.birthtimeMs)) continue;
      const fh = await open(p, 'r').catch(() => undefined);
      if (!fh) return;
      const f = new Tailed(pos.path, fh, st.dev, st.ino, st.birthtimeMs, this.newReader());
      if (!(await headMatches(fh, pos.head))) {
        await fh.close();
        return;
      }
      await f.startAt(pos.offset);
      f.rotatedAt = Date.now();
      await this.readAvailable(f);
      this.draining.push(f);
      this.opts.onInfo?.('resuming rotated log file from the position file', { path: p, was: pos.path, offset: pos.offset });
      return;
    }
  }

  /** A path without an open file: a file that appeared (or re-appeared) is read from its beginning. */
  private async openNew(path: string): Promise<void> {
    const o = await this.tryOpen(path);
    if (!o) return;
    const f = new Tailed(path, o.fh, o.st.dev, o.st.ino, o.st.birthtimeMs, this.newReader());
    const key = `${o.st.dev}:${o.st.ino}`;
    const old = this.retired.get(key);
    if (old) {
      this.retired.delete(key);
      if (old.offset <= o.st.size && sameBirth(old.born, o.st.birthtimeMs) && (await headMatches(o.fh, old.head))) await f.startAt(old.offset);
    }
    this.files.set(path, f);
    this.positionsDirty = true;
    this.opts.onInfo?.('following new log file', { path });
    await this.follow(f);
  }

  /** Reads new data of the current file at `f.path`, then checks whether the path still names it. */
  private async follow(f: Tailed): Promise<void> {
    await this.readAvailable(f);
    let pst: Stats | undefined;
    const checkedAt = Date.now();
    try {
      pst = await stat(f.path);
    } catch {
      pst = undefined;
    }
    if (pst && pst.dev === f.dev && pst.ino === f.ino) {
      f.confirmedAt = checkedAt;
      return;
    }
    // Rotated: renamed away (maybe replaced by a new file), or deleted. Read what is left now; keep it
    // open for rotateWait in case the writer still appends to it.
    await this.readAvailable(f);
    let nlink = 1;
    try {
      nlink = (await f.fh.stat()).nlink;
    } catch {
      nlink = 0;
    }
    const kind: RotationKind = nlink === 0 ? 'delete' : 'rename';
    this.opts.onRotation?.(kind, f.path);
    this.files.delete(f.path);
    f.rotatedAt = Date.now();
    if (this.opts.rotateWaitMs > 0) this.draining.push(f);
    else await this.close(f);
    this.positionsDirty = true;
    this.watchRotations(f.path, f.confirmedAt);
    if (pst && pst.isFile()) await this.openNew(f.path);
  }

  /**
   * After a rotation, every round for a while looks for files rotated away before they were seen (see
   * readMissedRotations): a burst of rotations, or a writer that re-creates the file only at its next
   * write, can create and rotate away files between two checks.
   */
  private watchRotations(path: string, confirmedAt: number): void {
    const now = Date.now();
    const cur = this.rotationScans.get(path);
    this.rotationScans.set(path, {
      since: Math.min(cur?.since ?? Infinity, confirmedAt - 1000),
      until: now + Math.max(this.opts.rotateWaitMs, 2000),
    });
  }

  /**
   * Rotations faster than our checks: a file created at the path and rotated away again between two checks
   * was never opened. Such a file is in the same directory, named like the path plus a suffix
   * (app.log.1, app.log-20240101), unknown to us, and written after we last saw `f` at the path; it is
   * read completely. Compressed files are skipped.
   */
  private async readMissedRotations(path: string, since: number): Promise<void> {
    const base = basename(path);
    for await (const { path: p, st } of statEntries(dirname(path), (name) => name !== base && name.startsWith(base))) {
      // File times come from a coarse kernel clock that can lag Date.now() by a few milliseconds: `since`
      // has a margin.
      if (!st.isFile() || st.mtimeMs < since || st.size === 0) continue;
      const key = `${st.dev}:${st.ino}`;
      if (this.isTracked(st.dev, st.ino) || this.retired.has(key) || this.known.has(key)) continue;
      const fh = await open(p, 'r').catch(() => undefined);
      if (!fh) continue;
      const missed = new Tailed(path, fh, st.dev, st.ino, st.birthtimeMs, this.newReader());
      if (await isGzip(fh)) {
        await fh.close();
        continue;
      }
      this.opts.onInfo?.('reading a log file that was rotated away before it was seen', { path: p });
      missed.rotatedAt = Date.now();
      await this.readAvailable(missed);
      this.draining.push(missed);
    }
  }

  /** Reads from f.offset to the current end (bounded per round), noticing truncation first. */
  private async readAvailable(f: Tailed): Promise<void> {
    let size: number;
    let mtime: number;
    const statAt = Date.now();
    try {
      const st = await f.fh.stat();
      size = st.size;
      mtime = st.mtimeMs;
    } catch (err) {
      this.reportError('cannot check log file', f.path, err);
      return;
    }
    // Truncated: it shrank, or it grew or was written without growing (same length rewritten) and the
    // bytes we already read are no longer there.
    const written = size > f.offset || (size === f.offset && mtime !== f.mtime);
    if (size < f.offset || (written && !(await this.contentUnchanged(f)))) {
      // copytruncate (or the file was rewritten in place): read it again from the start. What was written
      // before the truncation but not read yet is only in the copy, so read that from the copy first.
      this.opts.onRotation?.('truncate', f.path);
      await this.readRestFromCopy(f, f.fingerprint());
      f.reader.reset();
      f.reader.parser.flush();
      f.restart();
      this.positionsDirty = true;
    }
    // A write in the same tick of the (coarse) file clock as the last one leaves the mtime unchanged: an
    // mtime that recent is not trusted, so a same-length rewrite right after it is still checked for.
    f.mtime = statAt - mtime > MTIME_SETTLED_MS ? mtime : -1;
    if (size === f.offset) {
      // Nothing new for a while: a multi-line block whose end never came is complete as it is.
      if (Date.now() - f.lastDataAt >= IDLE_FLUSH_MS) f.reader.parser.flush();
      return;
    }
    f.lastDataAt = Date.now();
    let budget = MAX_BYTES_PER_ROUND;
    const r = f.reader;
    while (budget > 0 && !this.stopped) {
      const want = Math.min(r.space, budget);
      let n: number;
      try {
        ({ bytesRead: n } = await f.fh.read(r.buf, r.writeOffset, want, f.offset));
      } catch (err) {
        this.reportError('cannot read log file', f.path, err);
        return;
      }
      if (n === 0) break;
      // Before commit(), which parses and moves the buffer's content.
      f.consumed(r.buf, r.writeOffset, n);
      this.stats.bytes += n;
      budget -= n;
      r.commit(n);
      this.positionsDirty = true;
    }
    if (budget <= 0) this.again = true;
  }

  /**
   * After a copytruncate: finds the copy (same directory, another file whose first bytes and the bytes
   * just before our offset are the same as the truncated file had) and reads it from our offset to its end.
   */
  private async readRestFromCopy(f: Tailed, head: string): Promise<void> {
    if (f.tail.length === 0 || head === '') return;
    for await (const { path: p, st } of statEntries(dirname(f.path))) {
      if (!st.isFile() || (st.dev === f.dev && st.ino === f.ino) || st.size < f.offset) continue;
      let fh: FileHandle | undefined;
      try {
        fh = await open(p, 'r');
        if (!(await headMatches(fh, head))) continue;
        const n = f.tail.length;
        const b = Buffer.alloc(n);
        const { bytesRead } = await fh.read(b, 0, n, f.offset - n);
        if (bytesRead !== n || !b.equals(f.tail)) continue;
        const r = f.reader;
        let pos = f.offset;
        for (;;) {
          const { bytesRead: got } = await fh.read(r.buf, r.writeOffset, r.space, pos);
          if (got === 0) break;
          pos += got;
          this.stats.bytes += got;
          r.commit(got);
        }
        // If a glob also matches the copy, it is not read again.
        this.retired.set(`${st.dev}:${st.ino}`, { offset: pos, head, born: st.birthtimeMs });
        this.opts.onInfo?.('read the rest of a truncated log file from its copy', { path: f.path, copy: p, from: f.offset, to: pos });
        return;
      } catch {
        continue;
      } finally {
        await fh?.close().catch(() => undefined);
      }
    }
  }

  /** The bytes before our offset and the first bytes are still what we read there. */
  private async contentUnchanged(f: Tailed): Promise<boolean> {
    // The head covers the tail while the offset is within the first HEAD_BYTES.
    if (f.head.length < f.offset && !(await bytesAt(f.fh, f.tail, f.offset - f.tail.length))) return false;
    return bytesAt(f.fh, f.head, 0);
  }

  /** Done with a rotated file: its unterminated last line counts as a line, then it is closed. */
  private async close(f: Tailed): Promise<void> {
    f.reader.end();
    await f.fh.close().catch(() => undefined);
    this.retired.set(`${f.dev}:${f.ino}`, { offset: f.offset, head: f.fingerprint(), born: f.born });
    if (this.retired.size > 1000) this.retired.delete(this.retired.keys().next().value as string);
    this.positionsDirty = true;
  }

  private async positions(): Promise<Position[]> {
    const out: Position[] = [];
    const entry = async (f: Tailed): Promise<Position> => {
      // Position first: the reads below await, and reads of new data may move the offset meanwhile.
      const offset = f.position;
      const head = f.fingerprint();
      // The tail as read when the position is the read offset (no incomplete line pending); otherwise
      // the bytes before the position are no longer in memory and are read from the file.
      let tail = Buffer.from(f.tail);
      if (offset !== f.offset) {
        const n = Math.min(offset, TAIL_BYTES);
        tail = Buffer.alloc(n);
        const got = n > 0 ? (await f.fh.read(tail, 0, n, offset - n).catch(() => ({ bytesRead: 0 }))).bytesRead : 0;
        tail = tail.subarray(0, got);
      }
      return { path: f.path, dev: f.dev, ino: f.ino, born: f.born, offset, head, tail: tail.toString('hex') };
    };
    for (const f of [...this.files.values()]) out.push(await entry(f));
    for (const f of [...this.draining]) out.push({ ...(await entry(f)), rotated: true });
    return out;
  }

  private savePositionsIfDirty(): Promise<void> {
    if (!this.positionsDirty || this.stopped || this.opts.positionFile === undefined) return this.saving;
    this.positionsDirty = false;
    return this.save().catch((err: unknown) => {
      this.positionsDirty = true;
      this.reportError('cannot write position file', this.opts.positionFile as string, err);
    });
  }

  /** Writes the position file; writes never overlap. */
  private save(): Promise<void> {
    const file = this.opts.positionFile;
    if (file === undefined) return Promise.resolve();
    const next = this.saving.catch(() => undefined).then(async () => savePositions(file, await this.positions()));
    this.saving = next.catch(() => undefined);
    return next;
  }

  /** File-system notifications on the directories involved make new data visible before the next poll. */
  private watchDirs(): void {
    const dirs = new Set<string>();
    for (const p of this.opts.paths) {
      const parts = resolve(p).split('/');
      const i = parts.findIndex((x) => isGlob(x));
      dirs.add(i < 0 ? dirname(resolve(p)) : parts.slice(0, i).join('/') || '/');
    }
    for (const d of dirs) {
      try {
        const w = watch(d, { persistent: false }, () => this.kick());
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        // Missing directory or no inotify: polling still works.
      }
    }
  }

  private reportError(what: string, path: string, err: unknown): void {
    this.opts.onError?.(what, path, err);
  }
}

/**
 * "N:sha256" of the first N bytes (N = HEAD_BYTES, or less for a shorter file): tells the same file from
 * another one that got the same inode number, and finds the copy a copytruncate made.
 */
async function fingerprint(fh: FileHandle, n = HEAD_BYTES): Promise<string> {
  const b = Buffer.alloc(n);
  try {
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return `${bytesRead}:${createHash('sha256').update(b.subarray(0, bytesRead)).digest('hex')}`;
  } catch {
    return '';
  }
}

/** Whether the file starts with the bytes a fingerprint was taken of. */
async function headMatches(fh: FileHandle, saved: string): Promise<boolean> {
  const n = Number(saved.slice(0, saved.indexOf(':')));
  if (!Number.isSafeInteger(n) || n < 0 || n > HEAD_BYTES) return false;
  return (await fingerprint(fh, n)) === saved;
}

/** Birth times, where the file system has them, tell a re-created file from the old one. */
function sameBirth(saved: number | undefined, now: number): boolean {
  return saved === undefined || saved === 0 || now === 0 || saved === now;
}

/** The bytes before a saved position are still there (the file was not truncated and rewritten). */
async function tailMatches(fh: FileHandle, pos: Position): Promise<boolean> {
  if (!pos.tail) return true;
  const want = Buffer.from(pos.tail, 'hex');
  if (want.length === 0 || pos.offset < want.length) return true;
  const b = Buffer.alloc(want.length);
  const { bytesRead } = await fh.read(b, 0, b.length, pos.offset - b.length).catch(() => ({ bytesRead: 0 }));
  return bytesRead === b.length && b.equals(want);
}

/** Whether the file holds `want` at `pos` (true for nothing to compare, and when the file cannot be read: no evidence of a change). */
async function bytesAt(fh: FileHandle, want: Buffer, pos: number): Promise<boolean> {
  if (want.length === 0) return true;
  const b = Buffer.alloc(want.length);
  try {
    const { bytesRead } = await fh.read(b, 0, b.length, pos);
    return bytesRead === b.length && b.equals(want);
  } catch {
    return true;
  }
}

async function isGzip(fh: FileHandle): Promise<boolean> {
  const b = Buffer.alloc(2);
  const { bytesRead } = await fh.read(b, 0, 2, 0).catch(() => ({ bytesRead: 0 }));
  return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
}

async function endsWithNewline(fh: FileHandle, size: number): Promise<boolean> {
  const b = Buffer.alloc(1);
  try {
    await fh.read(b, 0, 1, size - 1);
    return b[0] === 10;
  } catch {
    return true;
  }
}

/**
 * Every entry of a directory with its stat, or only those whose name passes `keep` (only they are
 * stat'ed). Entries that vanish meanwhile are skipped; an unreadable directory yields nothing.
 */
async function* statEntries(dir: string, keep?: (name: string) => boolean): AsyncGenerator<{ path: string; st: Stats }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (keep && !keep(name)) continue;
    const path = join(dir, name);
    try {
      yield { path, st: await stat(path) };
    } catch {
      continue;
    }
  }
}
