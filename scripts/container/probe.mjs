#!/usr/bin/env node
// Drives a running exporter from the outside, the way its senders would, and checks it counts:
//   - /metrics, /-/healthy and /-/ready answer;
//   - for every input that reports itself up (sip_exporter_input_up == 1):
//       hep     a hand-built HEPv3 packet (HEPSPEC rev 37 chunks) over UDP and another over TCP,
//       log     a Kamailio acc line appended to the followed file,
//       syslog  the same kind of line as an RFC 3164 message over UDP,
//     and sip_responses_total{source,code,method} grows by exactly the responses sent.
// At least one input must be up. Prints a JSON summary; exits 1 on the first failure.
//
//   node probe.mjs --web=127.0.0.1:9468 --hep=127.0.0.1:9060 --syslog=127.0.0.1:5514 --log=/path/file.log
import { createSocket } from 'node:dgram';
import { appendFileSync } from 'node:fs';
import { connect } from 'node:net';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([\w-]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    return [m[1], m[2]];
  }),
);
if (!args.web) throw new Error('--web=HOST:PORT is required');
const base = `http://${args.web}`;
const TIMEOUT_MS = Number(args.timeout ?? 30_000);

function fail(msg) {
  console.error(`probe: FAIL: ${msg}`);
  process.exit(1);
}

async function poll(fn, what, timeoutMs = TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function get(path) {
  const res = await fetch(base + path, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, text: await res.text() };
}

/** Prometheus text format -> [{name, labels, value}] (enough for our own exposition). */
function parse(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function metrics() {
  const r = await get('/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parse(r.text);
}

function sum(samples, name, match) {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

// ---- HEPv3 by hand: "HEP3", uint16 total length, then chunks vendor(2) type(2) length(2) value ----
function chunk(type, value) {
  const h = Buffer.alloc(6);
  h.writeUInt16BE(0x0000, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(6 + value.length, 4);
  return Buffer.concat([h, value]);
}
const u8 = (n) => Buffer.from([n]);
const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const ipv4 = (s) => Buffer.from(s.split('.').map(Number));

function sipResponse({ code, reason, method, callId }) {
  return [
    `SIP/2.0 ${code} ${reason}`,
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-' + callId,
    'From: <sip:alice@example.com>;tag=from-' + callId,
    'To: <sip:bob@example.com>;tag=to-' + callId,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function hep3(sip, ipProto) {
  const now = Date.now();
  const chunks = Buffer.concat([
    chunk(0x0001, u8(2)), // IP family: AF_INET
    chunk(0x0002, u8(ipProto)), // IP protocol: 17 UDP / 6 TCP
    chunk(0x0003, ipv4('192.0.2.20')), // source (the UAS answering)
    chunk(0x0004, ipv4('192.0.2.10')), // destination (the proxy)
    chunk(0x0007, u16(5060)),
    chunk(0x0008, u16(5060)),
    chunk(0x0009, u32(Math.floor(now / 1000))),
    chunk(0x000a, u32((now % 1000) * 1000)),
    chunk(0x000b, u8(1)), // protocol type: SIP
    chunk(0x000c, u32(2001)), // capture agent id
    chunk(0x000f, Buffer.from(sip, 'utf8')), // payload
  ]);
  const head = Buffer.alloc(6);
  head.write('HEP3', 0, 'ascii');
  head.writeUInt16BE(6 + chunks.length, 4);
  return Buffer.concat([head, chunks]);
}

function hostPort(s) {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(s);
  if (!m) throw new Error(`bad address ${s}`);
  return { host: m[1], port: Number(m[2]) };
}

function sendUdp(addr, buf) {
  const { host, port } = hostPort(addr);
  return new Promise((resolve, reject) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.send(buf, port, host, (err) => {
      sock.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

function sendTcp(addr, buf) {
  const { host, port } = hostPort(addr);
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port }, () => sock.end(buf));
    sock.on('error', reject);
    sock.on('close', () => resolve());
  });
}

function accLine({ code, reason, method, callId }) {
  return `ACC: transaction answered: timestamp=${Math.floor(Date.now() / 1000)};method=${method};from_tag=from-${callId};to_tag=to-${callId};call_id=${callId};code=${code};reason=${reason}`;
}

// ---------------------------------------------------------------------------------------------------
// --until='name{label="v",...}=N': only wait for that sample to reach N, then exit.
if (args.until) {
  const m = /^(\w+)(?:\{(.*)\})?=(\d+(?:\.\d+)?)$/.exec(args.until);
  if (!m) fail(`bad --until ${args.until}`);
  const match = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
  await poll(async () => sum(await metrics(), m[1], match) === Number(m[3]) || undefined, args.until);
  process.exit(0);
}

// --expect='{"INVITE 486": 2, ...}' --sources=log,hep: wait until every listed source has counted
// exactly these final responses (by CSeq method and code), then exit.
if (args.expect) {
  const want = JSON.parse(args.expect);
  const sources = (args.sources ?? 'log,hep').split(',');
  const finals = (samples, source) => {
    const out = {};
    for (const x of samples) {
      if (x.name !== 'sip_responses_total' || x.labels.source !== source || x.value === 0 || x.labels.class === '1xx') continue;
      const k = `${x.labels.method} ${x.labels.code}`;
      out[k] = (out[k] ?? 0) + x.value;
    }
    return out;
  };
  const norm = (o) => JSON.stringify(Object.fromEntries(Object.entries(o).sort(([p], [q]) => (p < q ? -1 : 1))));
  let got = {};
  const ok = () => sources.every((src) => norm(got[src] ?? {}) === norm(want));
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      const m = await metrics();
      got = Object.fromEntries(sources.map((src) => [src, finals(m, src)]));
      if (ok()) break;
    } catch {
      // not answering yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(JSON.stringify({ expected: want, counted: got }));
  if (!ok()) fail(`the ${sources.join(' and ')} counts did not reach the expected final responses`);
  process.exit(0);
}

const summary = { web: args.web, inputs: {}, counted: {} };

await poll(async () => (await get('/metrics')).status === 200, 'GET /metrics to answer 200');
const healthy = await get('/-/healthy');
if (healthy.status !== 200) fail(`/-/healthy answered ${healthy.status}`);
await poll(async () => (await get('/-/ready')).status === 200, 'GET /-/ready to answer 200');

const before = await metrics();
if (sum(before, 'sip_exporter_build_info', {}) !== 1) fail('sip_exporter_build_info is missing');
for (const s of before.filter((x) => x.name === 'sip_exporter_input_up')) summary.inputs[s.labels.source] = s.value;
const up = Object.entries(summary.inputs).filter(([, v]) => v === 1).map(([k]) => k);
if (up.length === 0) fail(`no input is up (sip_exporter_input_up: ${JSON.stringify(summary.inputs)}); nothing can be counted`);

const run = Date.now().toString(36);
const plan = [];
if (up.includes('hep')) {
  if (!args.hep) fail('the hep input is up but no --hep address was given');
  const udp = { code: 486, reason: 'Busy Here', method: 'INVITE', callId: `smoke-hep-udp-${run}` };
  const tcp = { code: 503, reason: 'Service Unavailable', method: 'OPTIONS', callId: `smoke-hep-tcp-${run}` };
  plan.push({ source: 'hep', resp: udp, send: () => sendUdp(args.hep, hep3(sipResponse(udp), 17)), via: 'HEPv3/UDP' });
  plan.push({ source: 'hep', resp: tcp, send: () => sendTcp(args.hep, hep3(sipResponse(tcp), 6)), via: 'HEPv3/TCP' });
}
if (up.includes('log')) {
  if (!args.log) fail('the log input is up but no --log file was given');
  const r = { code: 403, reason: 'Forbidden', method: 'REGISTER', callId: `smoke-log-${run}` };
  // Kamailio stderr format (log_stderror=yes), as a container's redirected log would hold it.
  plan.push({ source: 'log', resp: r, send: async () => appendFileSync(args.log, ` 5(4242) NOTICE: acc [acc.c:317]: acc_log_request(): ${accLine(r)}\n`), via: 'log file' });
}
if (up.includes('syslog')) {
  if (!args.syslog) fail('the syslog input is up but no --syslog address was given');
  const r = { code: 481, reason: 'Call/Transaction Does Not Exist', method: 'BYE', callId: `smoke-syslog-${run}` };
  const d = new Date();
  const mon = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const ts = `${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`;
  // <133> = local0.notice, Kamailio's acc default level with log_facility=LOG_LOCAL0 (RFC 3164 header).
  const msg = `<133>${ts} proxy /usr/sbin/kamailio[4242]: NOTICE: acc [acc.c:317]: acc_log_request(): ${accLine(r)}`;
  plan.push({ source: 'syslog', resp: r, send: () => sendUdp(args.syslog, Buffer.from(msg)), via: 'syslog/UDP' });
}

for (const p of plan) {
  const match = { source: p.source, code: String(p.resp.code), method: p.resp.method };
  const start = sum(await metrics(), 'sip_responses_total', match);
  await p.send();
  await poll(async () => sum(await metrics(), 'sip_responses_total', match) === start + 1 || undefined, `sip_responses_total${JSON.stringify(match)} to grow by 1 after a ${p.via} ${p.resp.code} ${p.resp.method}`);
  summary.counted[`${p.via} ${p.resp.code} ${p.resp.method}`] = 'counted';
}

console.log(JSON.stringify(summary));
