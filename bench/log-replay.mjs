// Replay-path benchmark of the log input: reads a Kamailio acc log (see bench/log-gen.mjs) from the
// beginning through the same LineReader, dialect parser and Pipeline the daemon and `replay` use, and
// reports lines/s, acc lines/s and peak memory.
//
//   npm run build
//   node bench/log-gen.mjs /tmp/bench-acc.log --lines=2000000
//   node bench/log-replay.mjs /tmp/bench-acc.log [--rounds=3] [--dialect=auto]
//
// Each round uses a fresh Pipeline; the file is read once before the first round so every round reads
// from the page cache. Peak RSS is the process's maximum resident set size (getrusage).

import { closeSync, openSync, readSync } from 'node:fs';
import { Catalogue } from '../dist/src/classify/catalogue.js';
import { replayFiles } from '../dist/src/cli/replay.js';
import { Pipeline } from '../dist/src/pipeline.js';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node bench/log-replay.mjs FILE [--rounds=3] [--dialect=auto]');
  process.exit(2);
}
const opt = (name, def) => args.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const rounds = Number(opt('rounds', 3));
const dialect = opt('dialect', 'auto');

// Warm the page cache without keeping the data.
{
  const fd = openSync(file, 'r');
  const b = Buffer.allocUnsafe(1 << 20);
  while (readSync(fd, b, 0, b.length, null) > 0);
  closeSync(fd);
}
// Reference on the same machine at the same moment: a plain chunk reader that only counts newlines.
function baseline() {
  const t0 = process.hrtime.bigint();
  const fd = openSync(file, 'r');
  const b = Buffer.allocUnsafe(1 << 20);
  let lines = 0;
  for (let n; (n = readSync(fd, b, 0, b.length, null)) > 0; ) {
    for (let p = b.indexOf(10); p >= 0 && p < n; p = b.indexOf(10, p + 1)) lines++;
  }
  closeSync(fd);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { lines, seconds: s, linesPerSecond: Math.round(lines / s) };
}
const base = baseline();
console.log(`baseline (newline count only): ${base.linesPerSecond.toLocaleString('en-US')} lines/s`);
const catalogue = Catalogue.load();
const results = [];
for (let r = 0; r < rounds; r++) {
  const pipeline = new Pipeline(catalogue);
  const cpu0 = process.cpuUsage();
  const s = await replayFiles([file], pipeline, { dialect, patterns: [], maxLineLength: 64 * 1024 });
  const cpu = process.cpuUsage(cpu0);
  s.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  let responses = 0;
  pipeline.sip.responses.forEach((l, v) => (responses += v));
  results.push({ seconds: s.seconds, cpuSeconds: s.cpuSeconds, lines: s.lines, responses, mb: s.bytes / 1e6 });
  console.log(
    `round ${r + 1}: ${s.lines.toLocaleString('en-US')} lines, ${responses.toLocaleString('en-US')} responses in ${s.seconds.toFixed(3)} s = ` +
      `${Math.round(s.lines / s.seconds).toLocaleString('en-US')} lines/s, ${Math.round(responses / s.seconds).toLocaleString('en-US')} acc lines/s, ` +
      `${(s.bytes / 1e6 / s.seconds).toFixed(0)} MB/s; CPU ${s.cpuSeconds.toFixed(3)} s (${Math.round(responses / s.cpuSeconds).toLocaleString('en-US')} acc lines per CPU-second)`,
  );
}
const best = results.reduce((a, b) => (b.seconds < a.seconds ? b : a));
const summary = {
  bench: 'log-replay',
  file,
  lines: best.lines,
  responses: best.responses,
  bestSeconds: Number(best.seconds.toFixed(3)),
  linesPerSecond: Math.round(best.lines / best.seconds),
  accLinesPerSecond: Math.round(best.responses / best.seconds),
  cpuSeconds: Number(best.cpuSeconds.toFixed(3)),
  accLinesPerCpuSecond: Math.round(best.responses / best.cpuSeconds),
  baselineNewlineCountLinesPerSecond: base.linesPerSecond,
  loadAverage: (await import('node:os')).loadavg()[0].toFixed(2),
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  node: process.version,
};
console.log(JSON.stringify(summary));
