import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { LineReader } from './lines.js';

/**
 * Reads a whole file (or standard input for "-") through a LineReader, from the beginning; gzip files
 * (recognised by their magic bytes, not their name) are decompressed on the fly. Plain files are read
 * straight into the reader's buffer. `onProgress` gets the bytes of the file consumed so far (compressed
 * bytes for gzip). The unterminated last line is parsed as a line.
 */
const YIELD_BYTES = 16 << 20;

export async function readWholeFile(path: string, reader: LineReader, onProgress?: (consumed: number) => void): Promise<void> {
  if (path === '-') {
    await readStream(process.stdin, reader, onProgress);
    return;
  }
  const fh = await open(path, 'r');
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead: m } = await fh.read(magic, 0, 2, 0);
    if (m === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
      const raw = fh.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 });
      let consumed = 0;
      raw.on('data', (c) => {
        consumed += (c as Buffer).length;
        onProgress?.(consumed);
      });
      await readStream(raw.pipe(createGunzip({ chunkSize: 1 << 20 })), reader);
      return;
    }
    // Synchronous reads: a whole-file pass has nothing else to wait for, and a read from the page cache
    // is far cheaper than a round trip through the thread pool. The event loop gets a turn every few
    // megabytes (progress display, signals).
    let pos = 0;
    let sinceYield = 0;
    for (;;) {
      const bytesRead = readSync(fh.fd, reader.buf, reader.writeOffset, reader.space, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      reader.commit(bytesRead);
      sinceYield += bytesRead;
      if (sinceYield >= YIELD_BYTES) {
        sinceYield = 0;
        onProgress?.(pos);
        await new Promise((r) => setImmediate(r));
      }
    }
    onProgress?.(pos);
    reader.end();
  } finally {
    await fh.close();
  }
}

async function readStream(stream: NodeJS.ReadableStream, reader: LineReader, onProgress?: (consumed: number) => void): Promise<void> {
  let consumed = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : (chunk as Buffer);
    consumed += b.length;
    reader.push(b);
    onProgress?.(consumed);
  }
  reader.end();
}

