/**
 * The short CI version of the soak script (bench/soak.mjs): 15 s of mixed HEP (UDP+TCP), syslog (UDP+TCP)
 * and log traffic (with log rotations), then exact expected vs counted totals per source and a generous
 * memory bound. The long version is run by hand: node bench/soak.mjs --duration=10m.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNode, tempDir } from './helpers.js';

const MiB = 1024 * 1024;
const t = tempDir('sre-soak-short-');
afterAll(t.cleanup);

interface Summary {
  ok: boolean;
  problems: string[];
  rows: { source: string; expected: number; counted: number; mismatchedSeries: number }[];
  retransmissions: { expected: number; counted: number };
  parseErrors: number;
  dropped: number;
  kernelDrops: number;
  memory: { rssStart: number; rssMax: number; rssEnd: number; rssSecondHalfGrowth: number; heapUsedMax: number; maxLoopLagMs: number };
  exit: number | string;
  stopMs: number;
}

describe('soak (short)', () => {
  it('15 s of mixed traffic: exact counts per source, bounded memory, clean shutdown', async () => {
    const out = join(t.dir, 'soak.json');
    const { done } = runNode('bench/soak.mjs', ['--duration=15s', '--rate=200', '--sample=3s', '--rotate-every=5s', `--json=${out}`], 50_000);
    const stdout = await done.catch((err: Error) => {
      throw new Error(`soak failed: ${err.message}`);
    });
    const s = JSON.parse(readFileSync(out, 'utf8')) as Summary;
    expect(s.problems, stdout).toEqual([]);
    expect(s.ok).toBe(true);
    for (const r of s.rows) {
      expect(r.expected, r.source).toBeGreaterThan(2000);
      expect(r.counted, r.source).toBe(r.expected);
      expect(r.mismatchedSeries, r.source).toBe(0);
    }
    expect(s.retransmissions.counted).toBe(s.retransmissions.expected);
    expect([s.parseErrors, s.dropped, s.kernelDrops]).toEqual([0, 0, 0]);
    expect(s.exit).toBe(0);
    // Generous: the process may grow while V8 sizes its heap, but not by much, and not steadily.
    expect(s.memory.rssMax - s.memory.rssStart).toBeLessThan(128 * MiB);
    expect(s.memory.rssSecondHalfGrowth).toBeLessThan(32 * MiB);
    expect(s.memory.heapUsedMax).toBeLessThan(128 * MiB);
    console.log(stdout.split('\n').slice(-12).join('\n'));
  });
});
