/**
 * Real end-to-end test of the log input: Kamailio from Debian's packages, acc in log mode, proxies calls
 * between sipp callers and callees with a known mix of outcomes (test/e2e/harness). The exporter tails
 * Kamailio's log file while the calls run, and sip_responses_total{source="log"} must equal the outcomes
 * the plan predicts, exactly, per (method, code, class, reason). Along the way: a stop and restart with
 * a position file while calls continue, and a copytruncate rotation of the log while the exporter is
 * down. Then `replay` over the same log files (one of them gzipped) must report the same totals.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/classify/catalogue.js';
import { classOf } from '../../src/classify/status.js';
import { mergeExpected, runCalls, startKamailio, sum as sumCounts, waitForAccLines, type CallGroup, type Counts, type Kamailio } from '../e2e/harness/index.js';
import { CLI, startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { nonZero, parseExposition, sum, type Sample } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';

const run = promisify(execFile);
const catalogue = Catalogue.load();

const PLAN_1: CallGroup[] = [
  { code: 200, count: 4 },
  { code: 486, count: 3 },
  { outcome: 'cancel', count: 2 },
  { outcome: 'timeout', count: 1 },
  { outcome: 'unknown-user', count: 2 },
  { code: 480, count: 2 },
  { code: 500, count: 1 },
  { code: 503, count: 2 },
  { code: 603, count: 2, transport: 'tcp' },
  { method: 'OPTIONS', code: 200, count: 3 },
  { method: 'REGISTER', code: 401, count: 2 },
];
/** Placed while the exporter is stopped. */
const PLAN_2: CallGroup[] = [
  { code: 486, count: 2 },
  { code: 200, count: 1 },
  { method: 'MESSAGE', code: 202, count: 2 },
];
/** Placed after the restart, on the truncated log. */
const PLAN_3: CallGroup[] = [
  { code: 404, count: 2 },
  { code: 200, count: 2 },
  { outcome: 'cancel', count: 1 },
  { code: 488, count: 1, retransmit: true },
];

/** "METHOD CODE" counts -> the label sets sip_responses_total must show. */
function labelled(counts: Counts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(counts)) {
    if (n === 0) continue;
    const [method, codeText] = key.split(' ') as [string, string];
    const code = Number(codeText);
    const k = `method=${method},code=${code},class=${classOf(code)},reason=${catalogue.reasonLabel(code)}`;
    out[k] = (out[k] ?? 0) + n;
  }
  return out;
}

const KEYS = ['method', 'code', 'class', 'reason'];

async function counted(d: RunningDaemon, total: number): Promise<Sample[]> {
  let m: Sample[] = [];
  await poll(async () => {
    m = await d.metrics();
    return sum(m, 'sip_responses_total', { source: 'log' }) >= total;
  }, `exporter counting ${total} responses from the log`, 20_000).catch(() => undefined);
  // a little longer: anything counted twice would show up now
  await new Promise((r) => setTimeout(r, 600));
  return d.metrics();
}

describe('Kamailio acc log -> log input', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    cleanup.length = 0;
  });

  it('counts exactly the calls\' outcomes while tailing, across a restart and a copytruncate, and replay agrees', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-e2e-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const k: Kamailio = await startKamailio({ dir });
    cleanup.push(() => k.stop());
    const positionFile = join(dir, 'positions.json');
    const args = [`--log.path=${k.logFile}`, `--log.position-file=${positionFile}`, '--log.poll-interval=100ms', '--log.position-interval=200ms'];

    // 1. Tail while calls run.
    const a = await startDaemon(args);
    cleanup.push(() => a.stop());
    const r1 = await runCalls(k, PLAN_1);
    await waitForAccLines(k, r1.expected.accLines);
    const m1 = await counted(a, sumCounts(r1.expected.accAnswered));
    expect(nonZero(m1, 'sip_responses_total', KEYS, { source: 'log' })).toEqual(labelled(r1.expected.accAnswered));
    expect(sum(m1, 'sip_exporter_parse_errors_total', { source: 'log' })).toBe(0);
    expect(sum(m1, 'sip_exporter_dropped_total', { source: 'log' })).toBe(0);
    expect(sum(m1, 'sip_exporter_log_lines_total')).toBeGreaterThanOrEqual(r1.expected.accLines);
    expect(sum(m1, 'sip_exporter_log_files_watched')).toBe(1);
    expect(sum(m1, 'sip_exporter_input_up', { source: 'log' })).toBe(1);
    // What the plan expects is what the callers got, too (acc has no line for the proxy's own CANCEL 200).
    const final = { ...r1.expected.final };
    delete final['CANCEL 200'];
    expect(r1.expected.accAnswered).toEqual(final);

    // 2. Stop; calls continue; the log is copytruncated while the exporter is down.
    expect(await a.stop()).toBe(0);
    const r2 = await runCalls(k, PLAN_2);
    await waitForAccLines(k, r1.expected.accLines + r2.expected.accLines);
    copyFileSync(k.logFile, `${k.logFile}.1`);
    truncateSync(k.logFile, 0);

    // 3. Restart with the position file: the rest of the old content comes from the copy, then the new calls.
    const b = await startDaemon(args);
    cleanup.push(() => b.stop());
    const r3 = await runCalls(k, PLAN_3);
    await poll(() => readFileSync(k.logFile, 'utf8').split('\n').filter((l) => l.includes(' ACC: ')).length >= r3.expected.accLines, 'ACC lines of the third plan');
    const after = mergeExpected(r2.expected, r3.expected);
    const m3 = await counted(b, sumCounts(after.accAnswered));
    expect(nonZero(m3, 'sip_responses_total', KEYS, { source: 'log' })).toEqual(labelled(after.accAnswered));
    expect(sum(m3, 'sip_exporter_log_rotations_total', { kind: 'truncate' })).toBe(1);
    expect(sum(m3, 'sip_exporter_parse_errors_total', { source: 'log' })).toBe(0);
    expect(await b.stop()).toBe(0);

    // 4. Replay the two files (the copy gzipped): the whole history, in Prometheus format and as a table.
    const all = mergeExpected(r1.expected, r2.expected, r3.expected);
    writeFileSync(`${k.logFile}.1.gz`, gzipSync(readFileSync(`${k.logFile}.1`)));
    const prom = await run(process.execPath, [CLI, 'replay', `${k.logFile}.1.gz`, k.logFile], { maxBuffer: 1 << 24 });
    const replayed = parseExposition(prom.stdout);
    expect(nonZero(replayed, 'sip_responses_total', KEYS, { source: 'log' })).toEqual(labelled(all.accAnswered));
    expect(sum(replayed, 'sip_exporter_parse_errors_total')).toBe(0);

    const table = await run(process.execPath, [CLI, 'replay', '--format', 'table', `${k.logFile}.1.gz`, k.logFile]);
    const total = sumCounts(all.accAnswered);
    const rows = table.stdout.split('\n');
    expect(rows[0]).toMatch(/^code\s+reason\s+count\s+share\s+meaning$/);
    const byCode: Record<string, number> = {};
    for (const [key, n] of Object.entries(all.accAnswered)) byCode[key.split(' ')[1]!] = (byCode[key.split(' ')[1]!] ?? 0) + n;
    for (const [code, n] of Object.entries(byCode)) {
      const row = rows.find((r) => r.startsWith(`${code} `));
      expect(row, `table row for ${code}`).toBeDefined();
      expect(row).toContain(` ${catalogue.reasonLabel(Number(code))} `);
      expect(row).toMatch(new RegExp(`\\s${n}\\s+${((100 * n) / total).toFixed(1)}%\\s`));
    }
    expect(table.stdout).toContain(`${total} responses in `);
  });

  it('with "call missed" and CANCEL accounting on, a failed call is still one response per code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-e2e-missed-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const k: Kamailio = await startKamailio({ dir, accMissed: true, accCancel: true });
    cleanup.push(() => k.stop());
    const d = await startDaemon([`--log.path=${k.logFile}`, '--log.dialect=kamailio']);
    cleanup.push(() => d.stop());
    const r = await runCalls(k, [
      { code: 200, count: 2 },
      { code: 486, count: 2 },
      { code: 503, count: 2 },
      { outcome: 'cancel', count: 2 },
      { outcome: 'timeout', count: 1 },
      { outcome: 'unknown-user', count: 1 },
      { method: 'OPTIONS', code: 404, count: 1 },
    ]);
    await waitForAccLines(k, r.expected.accLines);
    // Kamailio wrote two lines per failed INVITE; the distinct responses are what was on the wire
    // (the callee's 503 and the 500 the proxy sent instead are two), the CANCEL's 200 included.
    expect(r.expected.accLines).toBeGreaterThan(sumCounts(r.expected.wire));
    const m = await counted(d, sumCounts(r.expected.wire));
    expect(nonZero(m, 'sip_responses_total', KEYS, { source: 'log' })).toEqual(labelled(r.expected.wire));
  });
});
