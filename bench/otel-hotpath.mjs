// Hot-path cost of the OTLP export: events/s through Pipeline.accept with OpenTelemetry off and on,
// plus the cost of one export (collect + encode + POST) by number of live series.
//
//   npm run build && node bench/otel-hotpath.mjs [--seconds=3] [--rounds=5] [--interval=1000]
//
// "on" runs a real OtelExport (MeterProvider, PeriodicExportingMetricReader, OTLP/HTTP protobuf
// exporter) posting to an OTLP sink on loopback in this process, every --interval ms (1 s by default,
// 60x more often than the default), so export work competes with event processing on the one thread
// exactly as in the daemon. Events are processed in batches of 10k with a yield in between (as I/O
// callbacks would), so timers, collections and exports do run during the measurement.

import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import { Catalogue } from '../dist/src/classify/catalogue.js';
import { resolveConfig } from '../dist/src/config/load.js';
import { createLogger } from '../dist/src/logger.js';
import { OtelExport } from '../dist/src/metrics/otel/export.js';
import { Pipeline } from '../dist/src/pipeline.js';

const arg = (name, def) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
};
const SECONDS = arg('seconds', 3);
const ROUNDS = arg('rounds', 5);
const INTERVAL = arg('interval', 1000);
const BATCH = 10_000;

const catalogue = Catalogue.load();
const silent = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));

// A realistic mix: mostly INVITE/REGISTER/OPTIONS traffic, ~40 distinct series per source.
const CODES = [100, 180, 183, 200, 200, 200, 401, 407, 486, 487, 404, 408, 480, 503, 603];
const METHODS = ['INVITE', 'INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'CANCEL'];
const EVENTS = [];
for (let i = 0; i < 4096; i++) {
  EVENTS.push({ code: CODES[(i * 7) % CODES.length], reason: '', method: METHODS[(i * 5) % METHODS.length] });
}

// OTLP sink: consumes the request and answers 200 with an empty ExportMetricsServiceResponse.
let exportsReceived = 0;
let bytesReceived = 0;
const sink = createServer((req, res) => {
  req.on('data', (c) => (bytesReceived += c.length));
  req.on('end', () => {
    exportsReceived++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${sink.address().port}`;

function otelFor(pipeline, interval) {
  const cfg = resolveConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_METRIC_EXPORT_INTERVAL: String(interval) } }).otel;
  return new OtelExport(cfg, pipeline, silent);
}

const yieldNow = () => new Promise((r) => setImmediate(r));

async function run(withOtel) {
  const p = new Pipeline(catalogue);
  p.enableSource('log');
  p.enableSource('hep', { requests: true });
  const otel = withOtel ? otelFor(p, INTERVAL) : undefined;
  const before = exportsReceived;
  let n = 0;
  let busyNs = 0n;
  const deadline = Date.now() + SECONDS * 1000;
  const wall0 = process.hrtime.bigint();
  while (Date.now() < deadline) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) p.accept(i & 1 ? 'log' : 'hep', EVENTS[(n + i) & 4095]);
    busyNs += process.hrtime.bigint() - t0;
    n += BATCH;
    await yieldNow();
  }
  const wallNs = process.hrtime.bigint() - wall0;
  if (otel) await otel.shutdown(5000);
  return { hot: n / (Number(busyNs) / 1e9), wall: n / (Number(wallNs) / 1e9), exports: exportsReceived - before };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => `${(x / 1e6).toFixed(1)}M`;

// Warm-up (JIT) for both variants.
await run(false);
await run(true);

const off = [];
const on = [];
for (let r = 0; r < ROUNDS; r++) {
  // Alternate the order so warm-up, GC and CPU frequency drift do not favour one variant.
  if (r % 2 === 0) {
    off.push(await run(false));
    on.push(await run(true));
  } else {
    on.push(await run(true));
    off.push(await run(false));
  }
}

console.log(`# otel-hotpath: ${ROUNDS} rounds x ${SECONDS}s, batches of ${BATCH}, export every ${INTERVAL} ms (node ${process.version})`);
console.log('variant      hot-path events/s (min-max)      wall events/s   exports/round');
for (const [name, xs] of [['otel off', off], ['otel on', on]]) {
  const hot = xs.map((x) => x.hot);
  const range = `(${fmt(Math.min(...hot))}-${fmt(Math.max(...hot))})`;
  console.log(`${name.padEnd(12)} ${fmt(median(hot)).padStart(8)} ${range.padEnd(18)}   ${fmt(median(xs.map((x) => x.wall))).padStart(13)}   ${String(median(xs.map((x) => x.exports))).padStart(13)}`);
}
const hotRatio = median(on.map((x) => x.hot)) / median(off.map((x) => x.hot));
const wallRatio = median(on.map((x) => x.wall)) / median(off.map((x) => x.wall));
console.log(`on/off: hot path ${(hotRatio * 100).toFixed(1)}%, wall clock (includes the exports themselves) ${(wallRatio * 100).toFixed(1)}%`);

// Cost of one export by number of live series (collect + protobuf encode + POST to loopback).
console.log('\n# cost of one export (forceFlush: collect, encode, POST, answer)');
console.log('live sip.responses series   ms/export (median of 20)   bytes/export');
for (const series of [100, 1000, 10_000, 28_800]) {
  const p = new Pipeline(catalogue);
  const values = p.sip.responses.values;
  for (let i = 0; i < series; i++) values[Math.floor((i * values.length) / series)] = 1 + i;
  const otel = otelFor(p, 3_600_000);
  const times = [];
  for (let i = 0; i < 21; i++) {
    const b0 = bytesReceived;
    const t0 = process.hrtime.bigint();
    await otel.forceFlush();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (i === 20) console.log(`${String(series).padStart(25)}   ${median(times.slice(1)).toFixed(2).padStart(24)}   ${String(bytesReceived - b0).padStart(12)}`);
  }
  await otel.shutdown(5000);
}

sink.close();
sink.closeAllConnections();
