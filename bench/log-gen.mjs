// Generates a Kamailio acc log for the log-input benchmarks: N lines, about 20% of them non-SIP noise
// (core, tm, script and TCP lines as Kamailio writes them), the rest acc records with a realistic mix of
// methods and final codes, syslog-file prefixes (RFC 3164 style, as rsyslog writes /var/log/kamailio.log).
//
//   node bench/log-gen.mjs OUT.log [--lines=2000000] [--noise=0.2] [--seed=1]
//
// Deterministic for a given seed. Prints the expected number of acc lines and of responses per code.

import { createWriteStream } from 'node:fs';

const args = process.argv.slice(2);
const out = args.find((a) => !a.startsWith('--'));
if (!out) {
  console.error('usage: node bench/log-gen.mjs OUT.log [--lines=2000000] [--noise=0.2] [--seed=1]');
  process.exit(2);
}
const opt = (name, def) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
};
const LINES = opt('lines', 2_000_000);
const NOISE = opt('noise', 0.2);
let seed = opt('seed', 1) >>> 0 || 1;
const rnd = () => {
  // xorshift32: fast and reproducible
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 4294967296;
};
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];

// [weight, method, code, reason, event]
const MIX = [
  [30, 'INVITE', 200, 'OK', 'transaction answered'],
  [6, 'INVITE', 486, 'Busy Here', 'call missed'],
  [5, 'INVITE', 487, 'Request Terminated', 'call missed'],
  [3, 'INVITE', 404, 'Not Found', 'call missed'],
  [3, 'INVITE', 408, 'Request Timeout', 'call missed'],
  [3, 'INVITE', 480, 'Temporarily Unavailable', 'call missed'],
  [2, 'INVITE', 503, 'Service Unavailable', 'call missed'],
  [2, 'INVITE', 603, 'Decline', 'call missed'],
  [1, 'INVITE', 500, 'Server Internal Error', 'call missed'],
  [1, 'INVITE', 488, 'Not Acceptable Here', 'call missed'],
  [25, 'BYE', 200, 'OK', 'transaction answered'],
  [8, 'REGISTER', 200, 'OK', 'request accounted'],
  [3, 'REGISTER', 401, 'Unauthorized', 'request accounted'],
  [5, 'OPTIONS', 200, 'OK', 'request accounted'],
  [2, 'CANCEL', 200, 'OK', 'transaction answered'],
  [1, 'MESSAGE', 202, 'Accepted', 'transaction answered'],
];
const TABLE = [];
for (const m of MIX) for (let i = 0; i < m[0]; i++) TABLE.push(m);

const HOSTS = ['sip-edge-1', 'sip-edge-2', 'proxy01'];
const NOISE_LINES = [
  (ts, h, pid) => `${ts} ${h} /usr/sbin/kamailio[${pid}]: INFO: <script>: new request INVITE from sip:alice@example.com to sip:bob@example.net (10.1.2.3:5060)`,
  (ts, h, pid) => `${ts} ${h} /usr/sbin/kamailio[${pid}]: WARNING: <core> [core/tcp_main.c:4787]: handle_tcpconn_ev(): connection has been closed by the peer 10.1.2.${pid % 250}:5061`,
  (ts, h, pid) => `${ts} ${h} /usr/sbin/kamailio[${pid}]: ERROR: tm [t_fwd.c:1736]: t_forward_nonack(): failure to add branches`,
  (ts, h, pid) => `${ts} ${h} /usr/sbin/kamailio[${pid}]: NOTICE: <script>: REGISTER from sip:${pid}@example.com expires=3600 ua=Linphone/5.2`,
  (ts, h, pid) => `${ts} ${h} /usr/sbin/kamailio[${pid}]: INFO: dispatcher [dispatch.c:3361]: ds_ping_reply(): probing gateway sip:10.0.0.${pid % 200}:5060 ok`,
];

const hex = (n) => {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rnd() * 16)];
  return s;
};

const file = createWriteStream(out, { highWaterMark: 4 << 20 });
let acc = 0;
const perCode = new Map();
let t = 1_700_000_000;
let chunk = [];
const flush = async () => {
  if (!file.write(chunk.join(''))) await new Promise((r) => file.once('drain', r));
  chunk = [];
};
for (let i = 0; i < LINES; i++) {
  if (i % 1000 === 0) t++;
  const d = new Date(t * 1000);
  const ts = `${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`;
  const h = HOSTS[i % HOSTS.length];
  const pid = 2000 + (i % 37);
  if (rnd() < NOISE) {
    chunk.push(pick(NOISE_LINES)(ts, h, pid) + '\n');
  } else {
    const [, method, code, reason, event] = pick(TABLE);
    const cid = `${hex(16)}@10.${i % 250}.${(i >> 8) % 250}.1`;
    chunk.push(
      `${ts} ${h} /usr/sbin/kamailio[${pid}]: NOTICE: acc [acc.c:317]: acc_log_request(): ACC: ${event}: timestamp=${t};method=${method};` +
        `from_tag=${hex(10)};to_tag=${code < 300 || code === 487 ? hex(12) : ''};call_id=${cid};code=${code};reason=${reason};` +
        `src_user=alice;src_domain=example.com;src_ip=10.1.2.3;dst_ouser=bob;dst_user=bob;dst_domain=example.net\n`,
    );
    acc++;
    perCode.set(code, (perCode.get(code) ?? 0) + 1);
  }
  if (chunk.length === 5000) await flush();
}
await flush();
await new Promise((r) => file.end(r));
console.log(JSON.stringify({ file: out, lines: LINES, acc, noise: LINES - acc, perCode: Object.fromEntries([...perCode].sort((a, b) => a[0] - b[0])) }));
