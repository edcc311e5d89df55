// Tailing benchmark of the log input: the real daemon (dist/) follows a file that grows while it reads.
// A writer (`cat`, or paced writes with --rate) appends a generated Kamailio acc log (bench/log-gen.mjs)
// to the followed file; the benchmark polls /metrics until sip_exporter_log_lines_total reaches the file's
// line count and samples the daemon's resident memory (/proc/PID/status) along the way.
//
//   npm run build
//   node bench/log-gen.mjs /tmp/bench-acc.log --lines=2000000
//   node bench/log-tail.mjs /tmp/bench-acc.log [--rate=0]   (--rate: MB/s to write, 0 = as fast as possible)
//
// Reports lines/s and acc lines/s from the first write until every line was counted, and RSS at the
// quarters of the run and at its peak (VmHWM): memory should not grow with the file.

import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const src = args.find((a) => !a.startsWith('--'));
if (!src) {
  console.error('usage: node bench/log-tail.mjs FILE [--rate=MBps]');
  process.exit(2);
}
const opt = (name, def) => args.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const RATE = Number(opt('rate', 0)) * 1e6;
const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

// Count what the file holds.
let total = 0;
let acc = 0;
{
  const fd = openSync(src, 'r');
  const b = Buffer.allocUnsafe(1 << 20);
  let carry = 0;
  for (let n; (n = readSync(fd, b, carry, b.length - carry, null)) > 0; ) {
    const end = b.lastIndexOf(10, carry + n - 1) + 1;
    const v = b.subarray(0, end);
    for (let p = v.indexOf(10); p >= 0; p = v.indexOf(10, p + 1)) total++;
    for (let p = v.indexOf('ACC: '); p >= 0; p = v.indexOf('ACC: ', p + 1)) acc++;
    carry = carry + n - end;
    b.copyWithin(0, end, end + carry);
  }
  closeSync(fd);
}

const dir = mkdtempSync(join(tmpdir(), 'sre-bench-tail-'));
const target = join(dir, 'kamailio.log');
writeFileSync(target, '');
const proc = spawn(process.execPath, [CLI, '--web.listen-address=127.0.0.1:0', '--hep.listen-address=', '--syslog.listen-address=', `--log.path=${target}`], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let web;
let out = '';
proc.stdout.setEncoding('utf8').on('data', (d) => {
  out += d;
});
const rssOf = () => {
  const st = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function metric(name) {
  const text = await (await fetch(`http://${web}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}
try {
  // The start-up log line names the bound web address.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /"web":"([^"]+)"/.exec(out);
    if (m) {
      web = m[1];
      break;
    }
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`daemon did not start: ${out}`);
    await sleep(50);
  }
  const idle = rssOf();

  // The writer: `cat` appending the source (native, faster than the reader) or, with --rate, paced
  // writes from this process.
  const t0 = process.hrtime.bigint();
  const samples = [];
  let counted = 0;
  const fdOut = openSync(target, 'a');
  let writerDone = false;
  let writeSeconds = 0;
  if (RATE > 0) {
    const fdIn = openSync(src, 'r');
    const block = Buffer.allocUnsafe(1 << 20);
    let written = 0;
    (async () => {
      for (let n; (n = readSync(fdIn, block, 0, block.length, null)) > 0; ) {
        writeSync(fdOut, block, 0, n);
        written += n;
        const due = (written / RATE) * 1000 - Number(process.hrtime.bigint() - t0) / 1e6;
        if (due > 0) await sleep(due);
      }
      closeSync(fdIn);
      writeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      writerDone = true;
    })();
  } else {
    const cat = spawn('cat', [src], { stdio: ['ignore', fdOut, 'inherit'] });
    cat.once('exit', () => {
      writeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      writerDone = true;
    });
  }
  while (!writerDone) {
    await sleep(250);
    counted = await metric('sip_exporter_log_lines_total');
    samples.push({ at: Number(process.hrtime.bigint() - t0) / 1e9, counted, heap: (await metric('nodejs_heap_size_used_bytes')) / 1048576, ...rssOf() });
  }
  closeSync(fdOut);
  while (counted < total) {
    await sleep(50);
    counted = await metric('sip_exporter_log_lines_total');
    samples.push({ at: Number(process.hrtime.bigint() - t0) / 1e9, counted, heap: (await metric('nodejs_heap_size_used_bytes')) / 1048576, ...rssOf() });
    if (Number(process.hrtime.bigint() - t0) / 1e9 > 600) throw new Error(`only ${counted} of ${total} lines after 600 s`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const events = await metric('sip_exporter_events_total');
  const quarter = (q) => samples.find((s) => s.counted >= q * total) ?? samples.at(-1);
  const end = rssOf();
  const summary = {
    bench: 'log-tail',
    file: src,
    lines: total,
    accLines: acc,
    eventsCounted: events,
    writeSeconds: Number(writeSeconds.toFixed(3)),
    seconds: Number(seconds.toFixed(3)),
    linesPerSecond: Math.round(total / seconds),
    accLinesPerSecond: Math.round(acc / seconds),
    rssMiB: {
      idle: Math.round(idle.rss),
      at25: Math.round(quarter(0.25).rss),
      at50: Math.round(quarter(0.5).rss),
      at75: Math.round(quarter(0.75).rss),
      end: Math.round(end.rss),
      peak: Math.round(end.hwm),
    },
    heapUsedMiB: { at25: Math.round(quarter(0.25).heap), at50: Math.round(quarter(0.5).heap), at75: Math.round(quarter(0.75).heap), max: Math.round(Math.max(...samples.map((x) => x.heap))) },
    loadAverage: loadavg()[0].toFixed(2),
    node: process.version,
  };
  console.log(JSON.stringify(summary));
  if (events !== acc) {
    console.error(`counted ${events} events, expected ${acc}`);
    process.exitCode = 1;
  }
} finally {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
