// HEP over UDP throughput benchmark against the real daemon.
//
//   npm run build
//   node bench/hep-udp.mjs                      # rate steps, 10 s each
//   node bench/hep-udp.mjs --rates=100000,150000 --seconds=20
//   node bench/hep-udp.mjs --long=600 --rates=100000   # memory over a 10-minute run
//   node bench/hep-udp.mjs --target=sink           # calibration: a bare Node socket that only counts
//   node bench/hep-udp.mjs --target=sink-decode    # bare socket + the HEP input's per-packet work
//   node bench/hep-udp.mjs --sender=node           # Node sender instead of the C one (no compiler)
//
// Starts the daemon (dist/, HEP on 127.0.0.1, UDP only, default settings: 4 MiB receive buffer,
// 1M-entry de-duplication window), then for each rate runs bench/hep-send.mjs in a child process sending
// distinct HEPv3 SIP responses (400-700 bytes, each its own Call-ID) and compares what was sent with what
// the daemon counted (sip_exporter_hep_packets_total, kernel drops from /proc/net/udp). Reports per step:
// achieved send rate, loss, daemon CPU per 100k packets, RSS and heap; and the highest rate with zero
// loss. With --long, samples RSS/heap every 10 s during one long run. Kills only the processes it started.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { fastSender, writeTemplates } from './hep-send-fast.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const RATES = (args.rates ?? '25000,50000,75000,100000,125000,150000,175000,200000').split(',').map(Number);
const SECONDS = Number(args.seconds ?? 10);
const LONG = args.long ? Number(args.long) : 0;
const EXTRA = args.daemonArgs ? args.daemonArgs.split(' ') : [];
const TARGET = args.target ?? 'daemon';
// The C sender (sendmmsg) costs a fraction of what Node's dgram.send does, leaving the CPU to the receiver.
const FAST = args.sender === 'node' ? undefined : fastSender();
const TEMPLATES = FAST ? writeTemplates() : undefined;

function startDaemon() {
  const proc = spawn(process.execPath, [`${ROOT}dist/src/cli/main.js`, '--web.listen-address=127.0.0.1:0', '--hep.listen-address=127.0.0.1:0', '--hep.tcp=false', '--syslog.listen-address=', ...EXTRA], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.on('exit', (c) => reject(new Error(`daemon exited ${c}`)));
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      for (const line of buf.split('\n')) {
        try {
          const j = JSON.parse(line);
          if (j.msg === 'sip-response-exporter started') resolve({ proc, web: j.web, hep: j.inputs['hep.udp'] });
        } catch {
          /* partial line */
        }
      }
    });
  });
}

/** A bench/hep-sink.mjs child with the same scrape() interface as the daemon. */
function startSink(decode) {
  const proc = spawn(process.execPath, [`${ROOT}bench/hep-sink.mjs`, decode ? 'decode' : 'count'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = [];
  let buf = '';
  let port;
  return new Promise((resolve, reject) => {
    proc.on('exit', (c) => reject(new Error(`sink exited ${c}`)));
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const j = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (port === undefined) {
          port = j.port;
          resolve({ proc, hep: `127.0.0.1:${port}`, web: undefined, sink: () => new Promise((r) => { waiting.push(r); proc.stdin.write('stats\n'); }) });
        } else waiting.shift()?.(j);
      }
    });
  });
}

async function scrape(web) {
  if (sinkStats) {
    const j = await sinkStats();
    return { packets: j.packets, kernelDrops: j.drops, responses: NaN, cpu: j.cpu, rss: j.rss, heap: j.heap, evictions: NaN, entries: NaN };
  }
  const text = await (await fetch(`http://${web}/metrics`)).text();
  const get = (name, labels = '') => {
    const re = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} (\\S+)$`, 'm');
    const m = re.exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return {
    packets: get('sip_exporter_hep_packets_total', 'transport="udp"'),
    kernelDrops: get('sip_exporter_hep_udp_kernel_drops_total'),
    responses: sumOf(text, 'sip_responses_total', 'source="hep"'),
    cpu: get('process_cpu_seconds_total'),
    rss: get('process_resident_memory_bytes'),
    heap: get('nodejs_heap_size_used_bytes'),
    heapTotal: get('nodejs_heap_size_total_bytes'),
    external: get('nodejs_external_memory_bytes'),
    evictions: get('sip_exporter_hep_window_evictions_total', 'window="responses"'),
    entries: get('sip_exporter_hep_window_entries', 'window="responses"'),
  };
}

function sumOf(text, name, match) {
  let t = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + '{') && line.includes(match)) t += Number(line.slice(line.lastIndexOf(' ') + 1));
  return t;
}

function send(target, rate, seconds, firstId) {
  return new Promise((resolve, reject) => {
    const colon = target.lastIndexOf(':');
    const p = FAST
      ? spawn(FAST, [target.slice(0, colon), target.slice(colon + 1), String(rate), String(seconds), String(firstId), TEMPLATES], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(process.execPath, [`${ROOT}bench/hep-send.mjs`, target, String(rate), String(seconds), String(firstId)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`sender exited ${code}`))));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mb = (b) => (b / 1048576).toFixed(0);

async function settle(web, before) {
  // wait until the daemon has drained its socket (packet count stops moving)
  let last = -1;
  let s;
  for (let i = 0; i < 50; i++) {
    await sleep(200);
    s = await scrape(web);
    if (s.packets === last) break;
    last = s.packets;
  }
  return s ?? before;
}

let sinkStats;
const d = TARGET === 'daemon' ? await startDaemon() : await startSink(TARGET === 'sink-decode');
sinkStats = d.sink;
let pressure = '';
try {
  pressure = ' cpu pressure: ' + readFileSync('/proc/pressure/cpu', 'latin1').split('\n')[0];
} catch {
  /* not Linux >= 4.20 */
}
console.log(`sender: ${FAST ? 'C (sendmmsg)' : 'Node dgram'}`);
console.log(`${TARGET} pid ${d.proc.pid}, HEP ${d.hep}${d.web ? `, web ${d.web}` : ''}; node ${process.version}; ${cpus().length} CPUs; load ${loadavg().map((x) => x.toFixed(2)).join(' ')};${pressure}`);
let nextId = 0;
try {
  if (LONG > 0) {
    const rate = RATES[0];
    const before = await scrape(d.web);
    console.log(`long run: ${rate} packets/s for ${LONG} s`);
    const sender = send(d.hep, rate, LONG, nextId);
    const t0 = Date.now();
    let done = false;
    sender.then(() => (done = true), () => (done = true));
    while (!done) {
      await sleep(10_000);
      const s = await scrape(d.web);
      console.log(
        `t=${String(Math.round((Date.now() - t0) / 1000)).padStart(4)}s rss=${mb(s.rss)}MiB heap=${mb(s.heap)}/${mb(s.heapTotal)}MiB external=${mb(s.external)}MiB received=${s.packets - before.packets} window=${s.entries} evictions=${s.evictions} kernelDrops=${s.kernelDrops - before.kernelDrops}`,
      );
    }
    const r = await sender;
    const after = await settle(d.web, before);
    const got = after.packets - before.packets;
    console.log(`sent ${r.sent} at ${r.rate.toFixed(0)}/s, received ${got}, lost ${r.sent - got}, cpu ${(((after.cpu - before.cpu) / got) * 1e5).toFixed(2)} s per 100k packets`);
  } else {
    console.log('rate/s  achieved/s      sent  received  lost  kernelDrops  cpu s/100k  cpu%   rss MiB  heap MiB');
    let best = 0;
    for (const rate of RATES) {
      const before = await scrape(d.web);
      const r = await send(d.hep, rate, SECONDS, nextId);
      nextId = r.nextId;
      const after = await settle(d.web, before);
      const got = after.packets - before.packets;
      const lost = r.sent - got;
      const cpu = after.cpu - before.cpu;
      console.log(
        [
          String(rate).padStart(6),
          r.rate.toFixed(0).padStart(10),
          String(r.sent).padStart(9),
          String(got).padStart(9),
          String(lost).padStart(5),
          String(after.kernelDrops - before.kernelDrops).padStart(12),
          ((cpu / got) * 1e5).toFixed(2).padStart(11),
          ((cpu / r.seconds) * 100).toFixed(0).padStart(5),
          mb(after.rss).padStart(8),
          mb(after.heap).padStart(9),
        ].join(' '),
      );
      if (lost === 0 && r.rate >= rate * 0.97) best = Math.max(best, rate);
      await sleep(1000);
    }
    console.log(`highest zero-loss rate: ${best} packets/s`);
    try {
      console.log('cpu pressure at the end: ' + readFileSync('/proc/pressure/cpu', 'latin1').split('\n')[0]);
    } catch {
      /* not available */
    }
  }
} finally {
  d.proc.kill('SIGTERM');
}
