// Syslog input benchmark: messages per second with Kamailio acc records as payload.
//
//   npm run build
//   node bench/syslog-throughput.mjs [--messages=1000000] [--rates=10000,25000,50000,75000,100000] [--seconds=3]
//                                    [--phases=parse,tcp,udp]
//
// 1. parse path, in process: framed bytes -> StreamFramer -> header -> dialect -> Pipeline (what one
//    TCP connection costs per message, without the kernel), comparable to bench/log-replay.mjs.
// 2. TCP, octet counting, against the real daemon (a child process): one connection writes --messages
//    RFC 5424 frames as fast as the socket takes them; the time runs until the daemon has counted all
//    of them. Also LF framing with RFC 3164.
// 3. UDP against the real daemon: paced at each --rates value for --seconds; reports messages sent,
//    received, lost (sent - received) and the kernel's drop count for the socket.
// Every phase also checks that the daemon counted exactly one SIP response per acc record.
//
// The daemon and this load generator share the machine: on 2 cores they get one each.

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg } from 'node:os';
import { Writable } from 'node:stream';
import { Catalogue } from '../dist/src/classify/catalogue.js';
import { resolveConfig } from '../dist/src/config/load.js';
import { createLogger } from '../dist/src/logger.js';
import { StreamFramer } from '../dist/src/parse/syslog/framing.js';
import { Pipeline } from '../dist/src/pipeline.js';
import { SyslogSource } from '../dist/src/sources/syslog/source.js';

const arg = (name, def) => process.argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const MESSAGES = Number(arg('messages', 1_000_000));
const RATES = String(arg('rates', '10000,25000,50000,75000,100000')).split(',').map(Number);
const SECONDS = Number(arg('seconds', 3));
const PHASES = new Set(String(arg('phases', 'parse,tcp,udp')).split(','));
const fmt = (n) => Math.round(n).toLocaleString('en-US');

// ---- payload: Kamailio acc records (input-formats C.1), as rsyslog forwards them -------------------

const MIX = [
  ['INVITE', 200, 'OK'], ['INVITE', 200, 'OK'], ['INVITE', 200, 'OK'], ['BYE', 200, 'OK'], ['BYE', 200, 'OK'],
  ['INVITE', 486, 'Busy Here'], ['INVITE', 487, 'Request Terminated'], ['INVITE', 404, 'Not Found'],
  ['INVITE', 408, 'Request Timeout'], ['INVITE', 480, 'Temporarily Unavailable'], ['INVITE', 503, 'Service Unavailable'],
  ['REGISTER', 200, 'OK'], ['REGISTER', 401, 'Unauthorized'], ['OPTIONS', 200, 'OK'], ['CANCEL', 200, 'OK'], ['INVITE', 603, 'Decline'],
];
function record(i) {
  const [method, code, reason] = MIX[i % MIX.length];
  const h = (i * 2654435761) >>> 0;
  return (
    `NOTICE: acc [acc.c:317]: acc_log_request(): ACC: transaction answered: timestamp=${1714644000 + (i >> 10)};method=${method};` +
    `from_tag=${h.toString(16)};to_tag=${(h ^ 0x5bd1e995).toString(16)};call_id=${h.toString(36)}-${i}@10.0.${i % 250}.1;code=${code};reason=${reason};` +
    `src_user=alice;src_domain=example.com;src_ip=10.1.2.3;dst_ouser=bob;dst_user=bob;dst_domain=example.net`
  );
}
const rfc3164 = (i) => `<29>Sep  7 07:16:53 sip-edge-${i % 3} /usr/sbin/kamailio[${2000 + (i % 37)}]: ${record(i)}`;
const rfc5424 = (i) => `<29>1 2024-05-02T10:11:12.${String(i % 1e6).padStart(6, '0')}+00:00 sip-edge-${i % 3} kamailio ${2000 + (i % 37)} - - ${record(i)}`;
const VARIANTS = 8192;
const octetFrames = [];
const lfFrames = [];
const datagrams = [];
for (let i = 0; i < VARIANTS; i++) {
  const m5 = Buffer.from(rfc5424(i));
  octetFrames.push(Buffer.concat([Buffer.from(`${m5.length} `), m5]));
  lfFrames.push(Buffer.from(`${rfc3164(i)}\n`));
  datagrams.push(Buffer.from(rfc3164(i)));
}
const avgBytes = Math.round(octetFrames.reduce((a, b) => a + b.length, 0) / VARIANTS);

// ---- 1. parse path in process ---------------------------------------------------------------------

function parsePath() {
  const config = resolveConfig({ flags: new Map(), env: {} });
  const results = [];
  const block = Buffer.concat(octetFrames);
  for (let round = 0; round < 3; round++) {
    const pipeline = new Pipeline(Catalogue.load());
    const src = new SyslogSource({ config, pipeline, logger: createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() })) });
    const framer = new StreamFramer(65536, { message: (b) => src.message(b, 'tcp', '127.0.0.1'), error: () => undefined });
    const reps = Math.ceil(MESSAGES / VARIANTS);
    const t0 = process.hrtime.bigint();
    // Cut into 64 KiB reads, as a socket delivers them.
    for (let r = 0; r < reps; r++) for (let o = 0; o < block.length; o += 65536) framer.push(block.subarray(o, o + 65536));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    let responses = 0;
    pipeline.sip.responses.forEach((_l, v) => (responses += v));
    if (responses !== reps * VARIANTS) throw new Error(`parse path counted ${responses}, expected ${reps * VARIANTS}`);
    results.push(responses / s);
  }
  return Math.max(...results);
}

// ---- the daemon -----------------------------------------------------------------------------------

async function startDaemon() {
  const proc = spawn(process.execPath, ['dist/src/cli/main.js', '--web.listen-address=127.0.0.1:0', '--hep.listen-address=', '--syslog.listen-address=127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buf = '';
  const started = await new Promise((resolve, reject) => {
    proc.on('exit', (c) => reject(new Error(`daemon exited ${c}`)));
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      for (const line of buf.split('\n')) {
        try {
          const j = JSON.parse(line);
          if (j.msg === 'sip-response-exporter started') resolve(j);
        } catch {
          // partial line
        }
      }
    });
  });
  const inputs = started.inputs;
  const metrics = async () => {
    const text = await (await fetch(`http://${started.web}/metrics`)).text();
    const get = (name, labels = '') => {
      let total = 0;
      for (const line of text.split('\n')) if (line.startsWith(name) && line.includes(labels) && (line[name.length] === '{' || line[name.length] === ' ')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
      return total;
    };
    return {
      udp: get('sip_exporter_syslog_messages_total', 'transport="udp"'),
      tcp: get('sip_exporter_syslog_messages_total', 'transport="tcp"'),
      responses: get('sip_responses_total', 'source="syslog"'),
      kernelDrops: get('sip_exporter_syslog_udp_kernel_drops_total'),
      buffer: get('sip_exporter_syslog_udp_receive_buffer_bytes'),
    };
  };
  const cpu = () => {
    const f = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (100 Hz)
  };
  return { proc, udp: inputs['syslog.udp'], tcp: inputs['syslog.tcp'], metrics, cpu, stop: () => new Promise((r) => (proc.once('exit', r), proc.kill('SIGTERM'))) };
}

const hostPort = (a) => ({ host: a.slice(0, a.lastIndexOf(':')), port: Number(a.slice(a.lastIndexOf(':') + 1)) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(d, pred, timeoutMs = 120_000) {
  const t0 = Date.now();
  for (;;) {
    const m = await d.metrics();
    if (pred(m)) return m;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${JSON.stringify(m)}`);
    await sleep(20);
  }
}

// ---- 2. TCP -----------------------------------------------------------------------------------------

async function tcpRun(d, frames, label) {
  const before = await d.metrics();
  const block = Buffer.concat(frames);
  const reps = Math.ceil(MESSAGES / frames.length);
  const total = reps * frames.length;
  const sock = await new Promise((resolve, reject) => {
    const s = net.connect(hostPort(d.tcp), () => resolve(s));
    s.once('error', reject);
  });
  const cpu0 = d.cpu();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) {
    if (!sock.write(block)) await new Promise((res) => sock.once('drain', res));
  }
  sock.end();
  const m = await waitFor(d, (x) => x.tcp - before.tcp >= total);
  const s = (performance.now() - t0) / 1000;
  const cpu = d.cpu() - cpu0;
  const counted = m.responses - before.responses;
  if (m.tcp - before.tcp !== total || counted !== total) throw new Error(`${label}: ${m.tcp - before.tcp} messages, ${counted} responses, expected ${total}`);
  console.log(`${label}: ${fmt(total)} messages in ${s.toFixed(2)} s = ${fmt(total / s)} msg/s (${((reps * block.length) / 1e6 / s).toFixed(0)} MB/s); daemon CPU ${cpu.toFixed(2)} s = ${fmt(total / cpu)} msg per CPU-second; all ${fmt(counted)} counted`);
  return { messages: total, seconds: Number(s.toFixed(3)), perSecond: Math.round(total / s), perCpuSecond: Math.round(total / cpu) };
}

// ---- 3. UDP -----------------------------------------------------------------------------------------

async function udpRun(d, rate) {
  const before = await d.metrics();
  const sock = dgram.createSocket('udp4');
  const { host, port } = hostPort(d.udp);
  await new Promise((r) => sock.connect(port, host, r));
  const total = Math.round(rate * SECONDS);
  const cpu0 = d.cpu();
  let sent = 0;
  let pending = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      // Keep the send queue short, so the pace is the wire pace.
      while (sent < due && pending < 5000) {
        pending++;
        sock.send(datagrams[sent % VARIANTS], () => pending--);
        sent++;
      }
      // A 1 ms timer, not setImmediate: a spinning sender would take a whole core from the daemon.
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  while (pending > 0) await sleep(1);
  const sendSeconds = (performance.now() - t0) / 1000;
  sock.close();
  // Wait until the daemon stops receiving (all it will ever get has arrived).
  let last = -1;
  let m;
  for (;;) {
    await sleep(250);
    m = await d.metrics();
    if (m.udp === last) break;
    last = m.udp;
  }
  const cpu = d.cpu() - cpu0;
  const received = m.udp - before.udp;
  const counted = m.responses - before.responses;
  if (counted !== received) throw new Error(`UDP ${rate}/s: ${received} received but ${counted} responses counted`);
  const r = { rate, achievedRate: Math.round(sent / sendSeconds), sent, received, lost: sent - received, kernelDrops: m.kernelDrops - before.kernelDrops, daemonCpuSeconds: Number(cpu.toFixed(2)) };
  console.log(
    `UDP at ${fmt(rate)} msg/s (sent at ${fmt(r.achievedRate)}/s for ${sendSeconds.toFixed(2)} s): sent ${fmt(sent)}, received ${fmt(received)}, lost ${fmt(r.lost)} (${((100 * r.lost) / sent).toFixed(3)} %), kernel drops ${fmt(r.kernelDrops)}; daemon CPU ${cpu.toFixed(2)} s (${((cpu / received) * 1e6).toFixed(1)} µs per message received)`,
  );
  return r;
}

// ---- run --------------------------------------------------------------------------------------------

console.log(`payload: Kamailio acc records, ${VARIANTS} variants, about ${avgBytes} bytes per octet-counted frame; node ${process.version}; load average ${loadavg()[0].toFixed(2)} on ${cpus().length} CPUs`);
const inProcess = PHASES.has('parse') ? parsePath() : undefined;
if (inProcess !== undefined) console.log(`parse path (in process, octet-counted RFC 5424, 64 KiB reads): ${fmt(inProcess)} msg/s`);
const d = await startDaemon();
try {
  console.log(`daemon UDP receive buffer: ${fmt((await d.metrics()).buffer)} bytes`);
  const tcpOctet = PHASES.has('tcp') ? await tcpRun(d, octetFrames, 'TCP octet-counted RFC 5424') : undefined;
  const tcpLf = PHASES.has('tcp') ? await tcpRun(d, lfFrames, 'TCP LF-framed RFC 3164') : undefined;
  const udp = [];
  if (PHASES.has('udp')) for (const rate of RATES) udp.push(await udpRun(d, rate));
  const parsePathPerSecond = inProcess === undefined ? undefined : Math.round(inProcess);
  console.log(JSON.stringify({ bench: 'syslog-throughput', node: process.version, loadAverage: loadavg()[0].toFixed(2), parsePathPerSecond, tcpOctet, tcpLf, udp }));
} finally {
  await d.stop();
}
