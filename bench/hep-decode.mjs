// Micro-benchmark of the HEP hot path without sockets: decode + SIP scan, and the whole per-packet work
// of the HEP input (decode, SIP scan, fingerprint, de-duplication window, pipeline counters).
//
//   npm run build && node bench/hep-decode.mjs [packets=1000000]
//
// Prints CPU and wall-clock nanoseconds per packet. Every packet has its own Call-ID, so the de-duplication window is
// exercised as with real traffic (one insert and, once full, one eviction per packet).
import { Catalogue } from '../dist/src/classify/catalogue.js';
import { decodeHep, HepPacket } from '../dist/src/parse/hep.js';
import { F_CALLID, F_CSEQ, F_TO, scanSip, SipScan } from '../dist/src/parse/sip.js';
import { Pipeline } from '../dist/src/pipeline.js';
import { HepProcessor } from '../dist/src/sources/hep/processor.js';
import { makeTemplates, writeId } from './hep-packets.mjs';

const N = Number(process.argv[2] ?? 1_000_000);
const POOL = 4096;
const templates = makeTemplates(32);
// a pool of distinct packets, re-numbered between rounds so Call-IDs never repeat
const pool = Array.from({ length: POOL }, (_, i) => {
  const t = templates[i % templates.length];
  return { buf: Buffer.from(t.buf), idOffset: t.idOffset };
});
let id = 0;
function renumber() {
  for (const p of pool) writeId(p.buf, p.idOffset, id++);
}

function time(label, fn, n) {
  // warm-up
  renumber();
  for (let i = 0; i < Math.min(n, 200_000); i++) fn(pool[i % POOL].buf);
  let total = 0n;
  let cpu = 0;
  for (let done = 0; done < n; done += POOL) {
    renumber();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < POOL; i++) fn(pool[i].buf);
    total += process.hrtime.bigint() - t0;
    const c = process.cpuUsage(c0);
    cpu += c.user + c.system;
  }
  const ns = Number(total) / n;
  const cpuNs = (cpu * 1000) / n;
  // CPU time is the better figure on a busy machine: wall time also counts time the process waited for a CPU.
  console.log(`${label.padEnd(44)} ${cpuNs.toFixed(0).padStart(5)} ns CPU/packet (${(1e9 / cpuNs / 1000).toFixed(0)}k/s per core), ${ns.toFixed(0).padStart(5)} ns wall`);
  return cpuNs;
}

const pkt = new HepPacket();
const scan = new SipScan();
const opts = { maxMessageSize: 65536 };
let sink = 0;
time('decodeHep only', (b) => {
  decodeHep(b, 0, b.length, pkt, opts);
  sink += pkt.payloadEnd;
}, N);
time('decodeHep + scanSip (all five headers)', (b) => {
  decodeHep(b, 0, b.length, pkt, opts);
  scanSip(pkt.payload, pkt.payloadStart, pkt.payloadEnd, scan);
  sink += scan.code;
}, N);
time('decodeHep + scanSip (Call-ID, CSeq, To)', (b) => {
  decodeHep(b, 0, b.length, pkt, opts);
  scanSip(pkt.payload, pkt.payloadStart, pkt.payloadEnd, scan, F_CALLID | F_CSEQ | F_TO);
  sink += scan.code;
}, N);

const pipeline = new Pipeline(Catalogue.load());
const proc = new HepProcessor(pipeline, {
  dedupWindowMs: 40_000,
  dedupMaxEntries: 1_000_000,
  transactionTimeoutMs: 180_000,
  maxPendingTransactions: 200_000,
  maxMessageSize: 65536,
  logPackets: false,
});
const now = Date.now();
time('HepProcessor.handle (full per-packet work)', (b) => proc.handle(b, 0, b.length, 0, now), N);
console.log(`window: ${proc.responses.size} entries, ${(proc.responses.bytes / 1048576).toFixed(1)} MiB, ${proc.responses.evictions} evictions`);
const responses = pipeline.sip.responses.values.reduce((a, b) => a + b, 0);
console.log(`counted ${responses} distinct responses (sink ${sink > 0})`);
