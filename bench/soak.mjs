// Soak test: runs the built daemon with all three inputs for a while under mixed, known traffic and
// reports memory over time and, at the end, the exact expected vs counted totals per source.
//
//   npm run build
//   node bench/soak.mjs [--duration=60s] [--rate=200] [--sample=5s] [--rotate-every=30s] [--json=FILE]
//
//   --duration      how long traffic flows (s, m, h suffixes; default 60s; e.g. --duration=10m)
//   --rate          messages per second for EACH of the five streams (default 200, so 1000/s in all)
//   --sample        memory sampling interval (default 5s)
//   --rotate-every  rename-rotate the log file this often, logrotate "create" style (default 30s; 0 = never)
//   --json          also write the summary as JSON to FILE (used by test/faults/soak-short.test.ts)
//
// Streams (each message carries a unique Call-ID, so each is exactly one distinct SIP response):
//   HEP over UDP (every 10th packet is sent twice: the copy must count as a retransmission),
//   HEP over one TCP connection, syslog RFC 3164 over UDP, syslog RFC 5424 octet-counted over one TCP
//   connection, and Kamailio acc lines (with noise lines) appended to a tailed log file.
//
// Exit status: 0 when every source's counts match exactly (per method and code), nothing was dropped
// or counted as an error, and the daemon shut down cleanly; 1 otherwise.
//
// Everything runs on 127.0.0.1; the daemon is started and stopped by PID; the temporary directory is
// removed at the end.

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  accLogLine,
  addCounts,
  expectedCounts,
  hepResponse,
  metricSum,
  noiseLine,
  octetFrame,
  parseMetrics,
  responseCounts,
  rssOf,
  syslog3164,
  syslog5424,
} from './soak/traffic.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

// ---- options --------------------------------------------------------------------------------------

const arg = (name, def) => process.argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
function duration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(text));
  if (!m) throw new Error(`bad duration ${text}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'];
}
const DURATION = duration(arg('duration', '60s'));
const RATE = Number(arg('rate', 200));
const SAMPLE = duration(arg('sample', '5s'));
const ROTATE = duration(arg('rotate-every', '30s'));
const JSON_OUT = arg('json', '');
const MiB = 1024 * 1024;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmtMiB = (b) => (b === undefined ? '-' : (b / MiB).toFixed(1));

// ---- the daemon -----------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'sre-soak-'));
const logPath = join(dir, 'kamailio.log');
writeFileSync(logPath, '');

const daemon = spawn(
  process.execPath,
  [
    CLI,
    '--web.listen-address=127.0.0.1:0',
    '--hep.listen-address=127.0.0.1:0',
    '--syslog.listen-address=127.0.0.1:0',
    `--log.path=${logPath}`,
    '--log.rotate-wait=2s',
    '--logging.level=info',
  ],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } },
);
let daemonExit;
const exited = new Promise((resolve) =>
  daemon.on('exit', (code, signal) => {
    daemonExit = code ?? signal;
    resolve(daemonExit);
  }),
);
const daemonLogs = [];
let stderr = '';
let outBuf = '';
daemon.stdout.setEncoding('utf8').on('data', (d) => {
  outBuf += d;
  let nl;
  while ((nl = outBuf.indexOf('\n')) >= 0) {
    const line = outBuf.slice(0, nl);
    outBuf = outBuf.slice(nl + 1);
    try {
      daemonLogs.push(JSON.parse(line));
    } catch {
      daemonLogs.push({ raw: line });
    }
  }
});
daemon.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));

function cleanup() {
  if (daemonExit === undefined) daemon.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

async function waitStarted() {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = daemonLogs.find((l) => l.msg === 'sip-response-exporter started');
    if (s) return s;
    if (daemonExit !== undefined || Date.now() > deadline) throw new Error(`daemon did not start (${daemonExit}): ${stderr}`);
    await sleep(50);
  }
}

const started = await waitStarted();
const web = started.web;
const addr = (a) => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
};
const hepUdp = addr(started.inputs['hep.udp']);
const hepTcp = addr(started.inputs['hep.tcp']);
const sysUdp = addr(started.inputs['syslog.udp']);
const sysTcp = addr(started.inputs['syslog.tcp']);

async function scrape() {
  const t = performance.now();
  const r = await fetch(`http://${web}/metrics`);
  const text = await r.text();
  return { samples: parseMetrics(text), ms: performance.now() - t, bytes: text.length };
}

// ---- traffic --------------------------------------------------------------------------------------

const sent = { hepUdp: 0, hepUdpCopies: 0, hepTcp: 0, sysUdp: 0, sysTcp: 0, log: 0, logNoise: 0, rotations: 0, sendErrors: 0 };

const udp = dgram.createSocket('udp4');
const udpSend = (buf, to) =>
  new Promise((resolve) =>
    udp.send(buf, to.port, to.host, (err) => {
      if (err) sent.sendErrors++;
      resolve();
    }),
  );
function connect(to) {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: to.host, port: to.port, noDelay: true }, () => resolve(c));
    c.once('error', reject);
  });
}
const hepConn = await connect(hepTcp);
const sysConn = await connect(sysTcp);
for (const c of [hepConn, sysConn]) c.on('error', () => sent.sendErrors++);
const tcpWrite = (c, data) => new Promise((resolve) => (c.write(data) ? resolve() : c.once('drain', resolve)));

/** One tick of traffic: `n` messages of each stream. */
async function tick(n) {
  const hepBatch = [];
  const sysBatch = [];
  let logText = '';
  for (let k = 0; k < n; k++) {
    const i = sent.hepUdp++;
    const pkt = hepResponse('hu', i);
    await udpSend(pkt, hepUdp);
    if (i % 10 === 9) {
      await udpSend(pkt, hepUdp); // the same packet again: a retransmission
      sent.hepUdpCopies++;
    }
    hepBatch.push(hepResponse('ht', sent.hepTcp++));
    await udpSend(Buffer.from(syslog3164('su', sent.sysUdp++)), sysUdp);
    sysBatch.push(octetFrame(syslog5424('st', sent.sysTcp++)));
    logText += `${accLogLine('lg', sent.log)}\n`;
    if (sent.log % 4 === 3) {
      logText += `${noiseLine(sent.log)}\n`;
      sent.logNoise++;
    }
    sent.log++;
  }
  await tcpWrite(hepConn, Buffer.concat(hepBatch));
  await tcpWrite(sysConn, sysBatch.join(''));
  appendFileSync(logPath, logText);
}

// ---- run ------------------------------------------------------------------------------------------

const samples = [];
async function sample(phase) {
  const { samples: m, ms } = await scrape();
  const s = {
    t: Math.round((Date.now() - t0) / 1000),
    phase,
    rss: (await rssOf(daemon.pid)) ?? metricSum(m, 'process_resident_memory_bytes'),
    heapUsed: metricSum(m, 'nodejs_heap_size_used_bytes'),
    heapTotal: metricSum(m, 'nodejs_heap_size_total_bytes'),
    external: metricSum(m, 'nodejs_external_memory_bytes'),
    lagMs: metricSum(m, 'nodejs_eventloop_lag_seconds') * 1000,
    scrapeMs: ms,
    events: metricSum(m, 'sip_exporter_events_total'),
  };
  samples.push(s);
  console.log(
    `${String(s.t).padStart(6)} s  ${phase.padEnd(7)} RSS ${fmtMiB(s.rss).padStart(7)} MiB  heap ${fmtMiB(s.heapUsed).padStart(6)}/${fmtMiB(s.heapTotal).padStart(6)} MiB  ` +
      `external ${fmtMiB(s.external).padStart(6)} MiB  loop lag ${s.lagMs.toFixed(1).padStart(6)} ms  /metrics ${s.scrapeMs.toFixed(0).padStart(4)} ms  events ${s.events}`,
  );
}

console.log(`soak: ${DURATION / 1000} s, ${RATE}/s per stream (${RATE * 5}/s in all), sampling every ${SAMPLE / 1000} s, daemon pid ${daemon.pid}, web ${web}`);
const t0 = Date.now();
await sample('start');
const TICK_MS = 20;
const perTick = RATE * (TICK_MS / 1000);
let owed = 0;
let nextSample = t0 + SAMPLE;
let nextRotate = ROTATE > 0 ? t0 + ROTATE : Infinity;
let ticks = 0;
while (Date.now() - t0 < DURATION && daemonExit === undefined) {
  const due = t0 + (ticks + 1) * TICK_MS;
  owed += perTick;
  const n = Math.floor(owed);
  owed -= n;
  if (n > 0) await tick(n);
  ticks++;
  if (Date.now() >= nextRotate) {
    // logrotate "create": rename, then a new empty file at once.
    renameSync(logPath, `${logPath}.${++sent.rotations}`);
    writeFileSync(logPath, '');
    nextRotate += ROTATE;
  }
  if (Date.now() >= nextSample) {
    await sample('traffic');
    nextSample += SAMPLE;
  }
  const wait = due - Date.now();
  if (wait > 0) await sleep(wait);
}
const trafficMs = Date.now() - t0;

// Let the daemon read everything, then compare.
const want = {
  hep: addCounts(expectedCounts(0, sent.hepUdp), expectedCounts(0, sent.hepTcp)),
  syslog: addCounts(expectedCounts(0, sent.sysUdp), expectedCounts(0, sent.sysTcp)),
  log: expectedCounts(0, sent.log),
};
const total = (c) => Object.values(c).reduce((a, b) => a + b, 0);
const wantTotal = { hep: total(want.hep), syslog: total(want.syslog), log: total(want.log) };
let final;
const drainDeadline = Date.now() + 30_000;
for (let last = ''; ; ) {
  final = (await scrape()).samples;
  const now = JSON.stringify(['hep', 'syslog', 'log'].map((s) => metricSum(final, 'sip_responses_total', { source: s })));
  const done = ['hep', 'syslog', 'log'].every((s) => metricSum(final, 'sip_responses_total', { source: s }) >= wantTotal[s]);
  if ((done && now === last) || Date.now() > drainDeadline) break;
  last = now;
  await sleep(500);
}
await sample('drained');

// ---- compare --------------------------------------------------------------------------------------

const problems = [];
const rows = [];
for (const source of ['hep', 'syslog', 'log']) {
  const got = responseCounts(final, source);
  const keys = [...new Set([...Object.keys(want[source]), ...Object.keys(got)])].sort();
  let bad = 0;
  for (const k of keys) if ((want[source][k] ?? 0) !== (got[k] ?? 0)) bad++;
  const counted = total(got);
  rows.push({ source, expected: wantTotal[source], counted, mismatchedSeries: bad });
  if (bad > 0 || counted !== wantTotal[source]) problems.push(`${source}: expected ${wantTotal[source]}, counted ${counted} (${bad} method/code series differ)`);
}
const dupExpected = sent.hepUdpCopies;
const dupCounted = metricSum(final, 'sip_response_duplicates_total', { source: 'hep', kind: 'retransmission' });
if (dupCounted !== dupExpected) problems.push(`hep retransmissions: expected ${dupExpected}, counted ${dupCounted}`);
const parseErrors = metricSum(final, 'sip_exporter_parse_errors_total');
const dropped = metricSum(final, 'sip_exporter_dropped_total');
const kernelDrops = metricSum(final, 'sip_exporter_hep_udp_kernel_drops_total') + metricSum(final, 'sip_exporter_syslog_udp_kernel_drops_total');
if (parseErrors !== 0) problems.push(`parse errors: ${parseErrors}`);
if (dropped !== 0) problems.push(`dropped: ${dropped}`);
if (kernelDrops !== 0) problems.push(`UDP datagrams dropped by the kernel: ${kernelDrops} (the daemon fell behind)`);
if (sent.sendErrors !== 0) problems.push(`send errors on the traffic side: ${sent.sendErrors}`);
const logLines = metricSum(final, 'sip_exporter_log_lines_total');
if (logLines !== sent.log + sent.logNoise) problems.push(`log lines: expected ${sent.log + sent.logNoise}, read ${logLines}`);
const rotations = metricSum(final, 'sip_exporter_log_rotations_total', { kind: 'rename' });
if (rotations !== sent.rotations) problems.push(`log rotations: expected ${sent.rotations}, noticed ${rotations}`);
const warnings = daemonLogs.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal');
if (warnings.length > 0) problems.push(`daemon warnings/errors: ${warnings.map((w) => w.msg).join('; ')}`);

// ---- shut down ------------------------------------------------------------------------------------

hepConn.destroy();
sysConn.destroy();
udp.close();
const tStop = Date.now();
daemon.kill('SIGTERM');
const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout')]);
const stopMs = Date.now() - tStop;
if (code !== 0) problems.push(`daemon exit on SIGTERM: ${code}`);

// ---- report ---------------------------------------------------------------------------------------

const traffic = samples.filter((s) => s.phase !== 'start');
const rssValues = samples.map((s) => s.rss);
const half = traffic.slice(Math.floor(traffic.length / 2));
const memory = {
  rssStart: samples[0].rss,
  rssMax: Math.max(...rssValues),
  rssEnd: samples[samples.length - 1].rss,
  heapUsedMax: Math.max(...samples.map((s) => s.heapUsed)),
  /** RSS change over the second half of the run (a leak shows as steady growth here). */
  rssSecondHalfGrowth: half.length >= 2 ? half[half.length - 1].rss - half[0].rss : 0,
  maxLoopLagMs: Math.max(...samples.map((s) => s.lagMs)),
  maxScrapeMs: Math.max(...samples.map((s) => s.scrapeMs)),
};
console.log('');
console.log(`traffic for ${(trafficMs / 1000).toFixed(1)} s; shutdown took ${stopMs} ms (exit ${code})`);
console.log(`memory: RSS ${fmtMiB(memory.rssStart)} MiB at start, max ${fmtMiB(memory.rssMax)} MiB, ${fmtMiB(memory.rssEnd)} MiB at the end; second-half RSS change ${fmtMiB(memory.rssSecondHalfGrowth)} MiB; max heap used ${fmtMiB(memory.heapUsedMax)} MiB`);
console.log('');
console.log('source   expected    counted  differing series');
for (const r of rows) console.log(`${r.source.padEnd(8)} ${String(r.expected).padStart(8)} ${String(r.counted).padStart(10)}  ${r.mismatchedSeries}`);
console.log(`hep retransmissions: expected ${dupExpected}, counted ${dupCounted}; parse errors ${parseErrors}; dropped ${dropped}; kernel UDP drops ${kernelDrops}; log rotations ${rotations}/${sent.rotations}`);
console.log(problems.length === 0 ? '\nOK: every count matches exactly' : `\nFAILED:\n  ${problems.join('\n  ')}`);

if (JSON_OUT) {
  writeFileSync(JSON_OUT, JSON.stringify({ ok: problems.length === 0, problems, sent, rows, retransmissions: { expected: dupExpected, counted: dupCounted }, parseErrors, dropped, kernelDrops, memory, samples, stopMs, exit: code }, null, 1));
}
cleanup();
process.exit(problems.length === 0 ? 0 : 1);
