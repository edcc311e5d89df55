import { appendFileSync, copyFileSync, mkdirSync, renameSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { poll } from '../helpers/poll.js';
import { accLine, ids, LogWriter, makeTailer, noiseLine, sleep, tempDir, type TestTailer } from './helpers.js';

let dir: string;
let cleanup: () => void;
const running: TestTailer[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(async () => {
  for (const t of running.splice(0)) await t.tailer.stop();
  cleanup();
});

async function start(...args: Parameters<typeof makeTailer>): Promise<TestTailer> {
  const t = makeTailer(...args);
  running.push(t);
  await t.tailer.start();
  return t;
}

async function stop(t: TestTailer): Promise<void> {
  running.splice(running.indexOf(t), 1);
  await t.tailer.stop();
}

/** Waits until `n` events arrived, then a little longer to catch extra (duplicate) ones. */
async function expectExactly(t: TestTailer, n: number, what: string): Promise<void> {
  await poll(() => t.events.length >= n, `${n} events (${what}); have ${t.events.length}`, 20_000).catch((err: unknown) => {
    const { seen } = ids(t.events);
    const missing = [...Array(n).keys()].filter((i) => !seen.has(i));
    throw new Error(`${(err as Error).message}; missing ${JSON.stringify(missing.slice(0, 50))} (${missing.length}); rotations ${t.rotations.join(',')}; errors ${t.errors.join('; ')}`);
  });
  await sleep(400);
  const { seen, dups } = ids(t.events);
  expect(dups, 'duplicates').toEqual([]);
  expect(seen.size).toBe(n);
  expect(t.events.length).toBe(n);
}

describe('tailer: starting and following', () => {
  it('starts at the end, counts appended lines, waits for a partial last line', async () => {
    const path = join(dir, 'a.log');
    writeFileSync(path, `${accLine(900)}\n${accLine(901)}\n`);
    const t = await start([path]);
    appendFileSync(path, `${accLine(0)}\n${noiseLine(1)}\n${accLine(1)}\n`);
    await poll(() => t.events.length === 2, 'two events');
    const line = accLine(2);
    appendFileSync(path, line.slice(0, 100));
    await sleep(200);
    expect(t.events.length).toBe(2);
    appendFileSync(path, line.slice(100) + '\n');
    await poll(() => t.events.length === 3, 'completed line');
    expect(ids(t.events).seen).toEqual(new Set([0, 1, 2]));
  });

  it('joining a file in the middle of a line skips that line uncounted', async () => {
    const path = join(dir, 'a.log');
    const line = accLine(900);
    writeFileSync(path, `${accLine(899)}\n${line.slice(0, 150)}`);
    const t = await start([path]);
    appendFileSync(path, `${line.slice(150)}\n${accLine(0)}\n`);
    await poll(() => t.events.length === 1, 'one event');
    await sleep(100);
    expect(t.events.map((e) => e.callId)).toEqual(['call-0@10.0.0.1']);
    expect(t.stats.tooLong).toBe(0);
  });

  it('reads existing content with fromBeginning', async () => {
    const path = join(dir, 'a.log');
    writeFileSync(path, `${accLine(0)}\n${accLine(1)}\n`);
    const t = await start([path], { fromBeginning: true });
    await expectExactly(t, 2, 'existing');
  });

  it('picks up a file that does not exist yet, and files matching a glob later', async () => {
    const late = join(dir, 'late.log');
    const t = await start([late, join(dir, 'g-*.log')]);
    writeFileSync(join(dir, 'g-1.log'), `${accLine(0)}\n`);
    writeFileSync(late, `${accLine(1)}\n${accLine(2)}\n`);
    await poll(() => t.events.length === 3, 'three events');
    writeFileSync(join(dir, 'g-2.log'), `${accLine(3)}\n`);
    appendFileSync(join(dir, 'g-1.log'), `${accLine(4)}\n`);
    await expectExactly(t, 5, 'late and glob files');
    expect(t.tailer.openFiles).toBe(3);
  });

  it('completes a multi-line block whose end never comes once the file is idle', async () => {
    const path = join(dir, 'a.log');
    writeFileSync(path, '');
    const t = await start([path]);
    appendFileSync(path, '[2024-03-24 02:05:45] VERBOSE[1] res_pjsip_logger.c: <--- Received SIP response (90 bytes) from UDP:10.0.0.1:5060 --->\nSIP/2.0 486 Busy Here\nCSeq: 4 INVITE\n');
    await sleep(300);
    expect(t.events).toEqual([]);
    await poll(() => t.events.length === 1, 'idle flush', 5000);
    expect(t.events[0]).toMatchObject({ code: 486, method: 'INVITE', src: '10.0.0.1:5060' });
  });

  it('counts and skips lines longer than the maximum without buffering them', async () => {
    const path = join(dir, 'a.log');
    writeFileSync(path, '');
    const t = await start([path], { maxLineLength: 1024 });
    appendFileSync(path, `${accLine(0)}\n${'x'.repeat(300_000)}ACC: transaction answered: method=INVITE;code=200\n${accLine(1)}\n`);
    // A long line arriving in pieces, the newline much later.
    appendFileSync(path, 'y'.repeat(5000));
    await sleep(100);
    appendFileSync(path, 'y'.repeat(5000) + `\n${accLine(2)}\n`);
    await expectExactly(t, 3, 'around long lines');
    expect(t.stats.tooLong).toBe(2);
    expect(t.stats.lines).toBe(5);
  });

  it('survives binary data and invalid UTF-8', async () => {
    const path = join(dir, 'a.log');
    writeFileSync(path, '');
    const t = await start([path]);
    appendFileSync(path, Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a, 0xc3, 0x28, 0x41, 0x43, 0x43, 0x3a, 0x20, 0xe2, 0x82, 0x0a]));
    appendFileSync(path, `${accLine(0, 486, 'INVITE', 'Besetzt \u00e4\u00f6')}\n`);
    const [before, after] = accLine(1).split('reason=OK') as [string, string];
    appendFileSync(path, Buffer.concat([Buffer.from(before + 'reason='), Buffer.from([0xc3]), Buffer.from(after + '\n')]));
    await expectExactly(t, 2, 'after binary garbage');
    expect(t.events[0]?.reason).toBe('Besetzt \u00e4\u00f6');
    expect(t.events[1]?.reason).toBe('\ufffd');
  });
});

describe('tailer: rotation while lines are appended (every line exactly once)', () => {
  async function run(rotate: (w: LogWriter, path: string, k: number) => void, rotations: number, gapMs: number): Promise<TestTailer> {
    const path = join(dir, 'app.log');
    const w = new LogWriter(path);
    const t = await start([path]);
    const writing = (async () => {
      for (let k = 0; k < rotations; k++) {
        for (let b = 0; b < 5; b++) {
          w.write(20);
          await sleep(gapMs / 5);
        }
        rotate(w, path, k);
        w.write(7); // lines right after the rotation, before or after the writer re-opened
        await sleep(1);
        w.reopen();
      }
      w.write(13);
    })();
    await writing;
    await expectExactly(t, w.next, 'rotations');
    w.close();
    return t;
  }

  it('rename + create: the old file is read to its end, the new one from its start', async () => {
    const t = await run((_w, path, k) => renameSync(path, `${path}.${k}`), 8, 60);
    expect(t.rotations.filter((r) => r === 'rename').length).toBe(8);
  });

  it('copytruncate: truncation is detected and reading restarts at 0', async () => {
    const t = await run((_w, path, k) => {
      copyFileSync(path, `${path}.${k}`);
      truncateSync(path, 0);
    }, 8, 60);
    expect(t.rotations.filter((r) => r === 'truncate').length).toBeGreaterThanOrEqual(7);
  });

  it('delete and re-create', async () => {
    const t = await run((_w, path) => unlinkSync(path), 8, 60);
    expect(t.rotations.filter((r) => r === 'delete').length).toBe(8);
  });

  it('many rotations in a row', async () => {
    await run((_w, path, k) => renameSync(path, `${path}.${k}`), 40, 25);
  });

  it('back-to-back renames with lazy re-creation (files created and rotated away between two checks)', async () => {
    const path = join(dir, 'app.log');
    writeFileSync(path, '');
    const t = await start([path], { pollIntervalMs: 50, rotateWaitMs: 1000 });
    let n = 0;
    for (let r = 0; r < 150; r++) {
      let text = '';
      for (let k = 0; k < 5; k++) text += `${accLine(n++)}\n`;
      appendFileSync(path, text); // the writer re-creates the path at its next write
      renameSync(path, `${path}.${r}`);
      if (r % 25 === 24) await sleep(5);
    }
    appendFileSync(path, `${accLine(n++)}\n`);
    await expectExactly(t, n, 'rename storm');
  });

  it('a truncated file rewritten to exactly the length already read is noticed', async () => {
    const path = join(dir, 'app.log');
    writeFileSync(path, '');
    const t = await start([path], { pollIntervalMs: 30 });
    const first = `${accLine(10)}\n${accLine(11)}\n${noiseLine(1)}\n`;
    const second = `${accLine(12)}\n${accLine(13)}\n${noiseLine(1)}\n`;
    expect(second.length).toBe(first.length);
    appendFileSync(path, first);
    await poll(() => t.events.length === 2, 'first lines');
    await sleep(20);
    truncateSync(path, 0);
    appendFileSync(path, second);
    await poll(() => t.events.length === 4, 'rewritten lines');
    expect(t.rotations).toEqual(['truncate']);
  });

  it('a path that is a directory is reported once', async () => {
    const path = join(dir, 'app.log');
    mkdirSync(path);
    const t = await start([path], { pollIntervalMs: 20 });
    await sleep(200);
    expect(t.errors).toEqual([`log path is not a regular file ${path}: is a directory`]);
  });

  it('copytruncate while the tailer is behind: the unread rest comes from the copy', async () => {
    const path = join(dir, 'app.log');
    const w = new LogWriter(path);
    const t = await start([path], { pollIntervalMs: 10_000 });
    await t.tailer.kick();
    w.write(50);
    await t.tailer.kick();
    w.write(50); // not read yet when the file is truncated
    copyFileSync(path, `${path}.1`);
    truncateSync(path, 0);
    w.write(30);
    await t.tailer.kick();
    await expectExactly(t, 130, 'copy then truncated file');
    w.close();
  });
});

describe('tailer: position file', () => {
  it('resumes exactly where it stopped, across rotation while stopped', async () => {
    const path = join(dir, 'app.log');
    const positionFile = join(dir, 'state', 'positions.json');
    const w = new LogWriter(path);
    w.write(10); // before the first start: not counted (start at end)
    const first = 10;
    const a = await start([path], { positionFile });
    w.write(40);
    w.raw(accLine(9999).slice(0, 80)); // partial line at stop
    await poll(() => a.events.length === 40, 'first run');
    await stop(a);
    w.raw(accLine(9999).slice(80) + '\n');
    w.next = 50;
    w.write(25); // written while stopped
    renameSync(path, `${path}.1`); // rotated while stopped
    w.write(5); // still into the renamed file
    w.reopen();
    w.write(20); // the new file
    const b = await start([path], { positionFile });
    w.write(10);
    const all = [...a.events, ...(await (async () => {
      await poll(() => b.events.length === 61, `second run 61 events, have ${b.events.length}`);
      await sleep(300);
      return b.events;
    })())];
    const { seen, dups } = ids(all);
    expect(dups).toEqual([]);
    expect(seen.size).toBe(w.next - first + 1);
    expect(seen.has(9999)).toBe(true);
    w.close();
  });

  it('copytruncate while stopped: the rest comes from the copy, the truncated file from its start', async () => {
    const path = join(dir, 'app.log');
    const positionFile = join(dir, 'positions.json');
    const w = new LogWriter(path);
    const a = await start([path], { positionFile });
    w.write(30);
    await poll(() => a.events.length === 30, 'first run');
    await stop(a);
    w.write(20); // only in the copy after the truncation
    copyFileSync(path, `${path}.1`);
    truncateSync(path, 0);
    w.write(400); // the truncated file grows past the old offset: only the content tells
    const b = await start([path], { positionFile });
    w.write(10);
    await poll(() => b.events.length === 430, `second run, have ${b.events.length}`);
    await sleep(300);
    const { seen, dups } = ids([...a.events, ...b.events]);
    expect(dups).toEqual([]);
    expect(seen.size).toBe(460);
    w.close();
  });

  it('a file re-created under the same path while stopped is read from its start', async () => {
    const path = join(dir, 'app.log');
    const positionFile = join(dir, 'positions.json');
    writeFileSync(path, `${accLine(0)}\n`);
    const a = await start([path], { positionFile, fromBeginning: true });
    await poll(() => a.events.length === 1, 'first');
    await stop(a);
    unlinkSync(path);
    writeFileSync(path, `${accLine(1)}\n`);
    const b = await start([path], { positionFile });
    await expectExactly(b, 1, 're-created');
    expect(b.events[0]?.callId).toBe('call-1@10.0.0.1');
  });

  it('a truncated file is read from its start after a restart', async () => {
    const path = join(dir, 'app.log');
    const positionFile = join(dir, 'positions.json');
    writeFileSync(path, `${accLine(0)}\n${accLine(1)}\n${accLine(2)}\n`);
    const a = await start([path], { positionFile, fromBeginning: true });
    await poll(() => a.events.length === 3, 'first');
    await stop(a);
    writeFileSync(path, `${accLine(3)}\n`);
    const b = await start([path], { positionFile });
    await expectExactly(b, 1, 'truncated while stopped');
  });
});
