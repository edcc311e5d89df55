import { stat } from 'node:fs/promises';
import { Catalogue } from '../classify/catalogue.js';
import { resolveConfig } from '../config/load.js';
import { createLineParser, type CustomPattern, type Dialect, type ScanStats } from '../parse/dialects/index.js';
import { Pipeline } from '../pipeline.js';
import { LogMetrics } from '../sources/tail/index.js';
import { LineReader } from '../sources/tail/lines.js';
import { readWholeFile } from '../sources/tail/read-file.js';
import { UsageError, type ParsedArgs } from './args.js';
import type { Command, Io } from './main.js';

export interface ReplayOptions {
  dialect: Dialect;
  patterns: readonly CustomPattern[];
  maxLineLength: number;
}

export interface ReplayStats {
  files: number;
  lines: number;
  bytes: number;
  tooLong: number;
  seconds: number;
}

export interface ReplayProgress {
  file: string;
  /** Size of the file on disk (compressed size for gzip), undefined for standard input. */
  size: number | undefined;
  consumed: number;
  lines: number;
}

/**
 * Reads files from their beginning (gzip too, "-" for standard input) through the log dialects into the
 * pipeline, exactly as the tailer would (source="log"), and returns what was read.
 */
export async function replayFiles(files: readonly string[], pipeline: Pipeline, opts: ReplayOptions, onProgress?: (p: ReplayProgress) => void): Promise<ReplayStats> {
  const started = process.hrtime.bigint();
  const stats: ScanStats & { bytes: number } = { lines: 0, tooLong: 0, bytes: 0 };
  const metrics = LogMetrics.for(pipeline.registry);
  for (const file of files) {
    const size = file === '-' ? undefined : (await stat(file)).size;
    const parser = createLineParser({ dialect: opts.dialect, patterns: opts.patterns }, (r) => pipeline.accept('log', r));
    const reader = new LineReader(parser, opts.maxLineLength, stats);
    let consumed = 0;
    await readWholeFile(file, reader, (c) => {
      consumed = c;
      onProgress?.({ file, size, consumed: c, lines: stats.lines });
    });
    stats.bytes += consumed;
  }
  metrics.lines.inc(stats.lines);
  metrics.bytes.inc(stats.bytes);
  if (stats.tooLong > 0) pipeline.drop('log', 'line_too_long', stats.tooLong);
  return { files: files.length, lines: stats.lines, bytes: stats.bytes, tooLong: stats.tooLong, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** The metrics a replay prints in Prometheus format: the SIP counts and the log input's own counters. */
export const REPLAY_METRICS = [
  'sip_responses_total',
  'sip_exporter_events_total',
  'sip_exporter_parse_errors_total',
  'sip_exporter_dropped_total',
  'sip_exporter_log_lines_total',
  'sip_exporter_log_bytes_total',
];

export async function replayExposition(pipeline: Pipeline): Promise<string> {
  const parts: string[] = [];
  for (const name of REPLAY_METRICS) parts.push(await pipeline.registry.getSingleMetricAsString(name));
  return parts.join('\n') + '\n';
}

const num = (n: number): string => n.toLocaleString('en-US');

function shorten(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1).trimEnd() + '\u2026';
}

/** The human summary: one row per status code (all methods), largest first, with the catalogue's meaning. */
export function replayTable(pipeline: Pipeline, stats: ReplayStats, width = 120): string {
  const byCode = new Map<number, number>();
  let total = 0;
  pipeline.sip.responses.forEach((labels, value) => {
    if (labels.source !== 'log' || value === 0) return;
    const code = Number(labels.code);
    byCode.set(code, (byCode.get(code) ?? 0) + value);
    total += value;
  });
  const rows = [...byCode].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const cat = pipeline.catalogue;
  const cells = rows.map(([code, count]) => {
    const d = cat.describe(code);
    const meaning = d?.entry?.meaning ?? (d?.treatedAs ? `Not in the catalogue; treated as ${d.treatedAs.code}: ${d.treatedAs.meaning}` : '');
    return [String(code), d?.reasonLabel ?? '', num(count), `${((100 * count) / total).toFixed(1)}%`, meaning.split('\n')[0] as string];
  });
  const head = ['code', 'reason', 'count', 'share', 'meaning'];
  const w = [0, 1, 2, 3].map((i) => Math.max(head[i]!.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]): string => {
    const left = `${c[0]!.padEnd(w[0]!)}  ${c[1]!.padEnd(w[1]!)}  ${c[2]!.padStart(w[2]!)}  ${c[3]!.padStart(w[3]!)}  `;
    return left + shorten(c[4]!, Math.max(20, width - left.length));
  };
  const out = [fmt(head), ...cells.map(fmt)];
  if (rows.length === 0) out.push('(no SIP responses found)');
  out.push('');
  const rate = stats.seconds > 0 ? ` (${num(Math.round(stats.lines / stats.seconds))} lines/s)` : '';
  out.push(`${num(total)} responses in ${num(stats.lines)} lines (${(stats.bytes / 1e6).toFixed(1)} MB) from ${stats.files} file${stats.files === 1 ? '' : 's'} in ${stats.seconds.toFixed(2)} s${rate}`);
  return out.join('\n') + '\n';
}

async function problems(pipeline: Pipeline, stats: ReplayStats): Promise<string> {
  const lines: string[] = [];
  const errs = (await pipeline.self.parseErrors.get()).values.filter((v) => v.labels.source === 'log' && v.value > 0);
  if (errs.length > 0) lines.push(`parse errors: ${errs.map((v) => `${v.labels.reason} ${num(v.value)}`).join(', ')}`);
  if (stats.tooLong > 0) lines.push(`lines too long (skipped): ${num(stats.tooLong)}`);
  return lines.length > 0 ? lines.join('\n') + '\n' : '';
}

function progressPrinter(): { update: (p: ReplayProgress) => void; done: () => void } {
  let last: ReplayProgress | undefined;
  const t0 = Date.now();
  const draw = (): void => {
    if (!last) return;
    const secs = (Date.now() - t0) / 1000;
    const pct = last.size ? ` ${((100 * last.consumed) / last.size).toFixed(0).padStart(3)}%` : '';
    const rate = secs > 0 ? `  ${num(Math.round(last.lines / secs))} lines/s` : '';
    process.stderr.write(`\r\x1b[K${shorten(last.file, 50)}${pct}  ${num(last.lines)} lines${rate}`);
  };
  const timer = setInterval(draw, 200);
  return {
    update: (p) => {
      last = p;
    },
    done: () => {
      clearInterval(timer);
      if (last) process.stderr.write('\r\x1b[K');
    },
  };
}

export const replayCommand: Command = {
  summary: '  sip-response-exporter replay FILE...     count SIP responses in log files (gzip too, - for stdin) and print\n' +
    '                                           them: --format prometheus (default) | table; --log.dialect etc. apply',
  options: ['format'],
  booleans: ['progress'],
  async run(args: ParsedArgs, io: Io): Promise<number> {
    const files = args.positional.slice(1);
    if (files.length === 0) throw new UsageError('replay needs at least one file, e.g. replay /var/log/kamailio.log');
    const format = args.extra.get('format')?.at(-1) ?? 'prometheus';
    if (format !== 'prometheus' && format !== 'table') throw new UsageError(`--format must be prometheus or table, not ${JSON.stringify(format)}`);
    const progressFlag = args.extra.get('progress')?.at(-1);
    const showProgress = progressFlag === undefined ? process.stderr.isTTY === true : progressFlag === 'true';

    const file = args.config ?? io.env.SIP_EXPORTER_CONFIG;
    const config = resolveConfig({ flags: args.flags, env: io.env, ...(file !== undefined ? { file } : {}) });
    const pipeline = new Pipeline(Catalogue.load());
    const progress = showProgress ? progressPrinter() : undefined;
    let stats: ReplayStats;
    try {
      stats = await replayFiles(files, pipeline, {
        dialect: config.log.dialect,
        patterns: config.log.patterns,
        maxLineLength: config.log['max-line-length'],
      }, progress?.update);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      io.err(`replay: ${e.path ?? ''}${e.path ? ': ' : ''}${e.code ?? e.message}\n`);
      return 1;
    } finally {
      progress?.done();
    }
    if (format === 'table') {
      const width = process.stdout.isTTY ? process.stdout.columns : 160;
      io.out(replayTable(pipeline, stats, width) + (await problems(pipeline, stats)));
    } else {
      io.out(await replayExposition(pipeline));
    }
    return 0;
  },
};
