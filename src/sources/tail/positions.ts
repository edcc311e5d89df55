import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The position file: for every file being read, where the next unread line starts. JSON, written
 * atomically (temporary file, fsync, rename), so a crash leaves either the old or the new version.
 */
export interface Position {
  /** Path the file was found under (a rotated file keeps the path it had when it was opened). */
  path: string;
  dev: number;
  ino: number;
  /** Birth time in ms where the file system records it (0 otherwise). */
  born?: number;
  /** Byte offset of the first line not yet parsed. */
  offset: number;
  /** "N:sha256" of the file's first N bytes (N = HEAD_BYTES or the file's size if smaller): tells a re-used inode from the same file. */
  head: string;
  /** Hex of the bytes just before `offset` (up to 32): detects a file truncated and rewritten past our offset, and finds its copy. */
  tail?: string;
  /** The file had been rotated away and was still being drained. */
  rotated?: boolean;
}

export const HEAD_BYTES = 1024;
const VERSION = 1;

interface PositionFile {
  version: number;
  files: Position[];
}

export async function loadPositions(path: string): Promise<Position[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const doc = JSON.parse(text) as PositionFile;
  if (doc === null || typeof doc !== 'object' || doc.version !== VERSION || !Array.isArray(doc.files)) {
    throw new Error(`not a version ${VERSION} position file`);
  }
  return doc.files.filter(
    (f) =>
      typeof f.path === 'string' &&
      Number.isSafeInteger(f.dev) &&
      Number.isSafeInteger(f.ino) &&
      Number.isSafeInteger(f.offset) &&
      f.offset >= 0 &&
      typeof f.head === 'string',
  );
}

export async function savePositions(path: string, files: readonly Position[]): Promise<void> {
  const tmp = `${path}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(JSON.stringify({ version: VERSION, files: [...files] } satisfies PositionFile, null, 1) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
