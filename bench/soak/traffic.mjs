// Traffic with known content for the soak script (bench/soak.mjs) and the fault-injection tests
// (test/faults/): HEPv3 packets carrying SIP responses, syslog messages and log lines carrying Kamailio
// acc records, each with a unique Call-ID so that every message is exactly one distinct SIP response.
//
// Plain JavaScript without dependencies, so it runs in a child process (the flood sender) as well as
// in the soak script. Written from the formats (HEP3 spec rev 37, RFC 3261, RFC 5424/3164, Kamailio acc),
// independent of the exporter's decoders.

/** The mix of outcomes: [method, code, reason]. Every entry is a valid, catalogued code. */
export const MIX = [
  ['INVITE', 200, 'OK'],
  ['INVITE', 200, 'OK'],
  ['INVITE', 180, 'Ringing'],
  ['INVITE', 486, 'Busy Here'],
  ['INVITE', 487, 'Request Terminated'],
  ['INVITE', 404, 'Not Found'],
  ['INVITE', 408, 'Request Timeout'],
  ['INVITE', 503, 'Service Unavailable'],
  ['BYE', 200, 'OK'],
  ['REGISTER', 200, 'OK'],
  ['REGISTER', 401, 'Unauthorized'],
  ['OPTIONS', 200, 'OK'],
  ['CANCEL', 200, 'OK'],
  ['INVITE', 603, 'Decline'],
];

/** The outcome of message number i. */
export const outcome = (i) => MIX[i % MIX.length];

/** "METHOD CODE" key, as the tests and the soak report count. */
export const key = (method, code) => `${method} ${code}`;

// ---- SIP ------------------------------------------------------------------------------------------

/** A SIP response as a proxy mirrors it over HEP. */
export function sipResponse({ code, reason, method, callId, cseq = 1, toTag = 'tt1' }) {
  return (
    [
      `SIP/2.0 ${code} ${reason}`,
      'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-soak;rport=5060',
      'From: "Alice" <sip:alice@example.com>;tag=ft1',
      `To: <sip:bob@example.com>;tag=${toTag}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      'Server: soak',
      'Content-Length: 0',
    ].join('\r\n') + '\r\n\r\n'
  );
}

// ---- HEPv3 ----------------------------------------------------------------------------------------

function chunk(type, value) {
  const h = Buffer.alloc(6);
  h.writeUInt16BE(0, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(6 + value.length, 4);
  return Buffer.concat([h, value]);
}
const u8 = (n) => Buffer.from([n & 0xff]);
const u16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
};
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const ip4 = (s) => Buffer.from(s.split('.').map(Number));

/**
 * One HEPv3 packet (UDP/IPv4 capture, protocol type SIP) carrying `payload`. `authKey` adds chunk 0x000e;
 * `src`/`dst` are the captured addresses (they only matter for retransmission/relay classification).
 */
export function hep3(payload, { src = '10.0.0.1', dst = '10.0.0.2', sport = 5060, dport = 5060, sec = 1_700_000_000, authKey } = {}) {
  const chunks = [
    chunk(0x01, u8(2)),
    chunk(0x02, u8(17)),
    chunk(0x03, ip4(src)),
    chunk(0x04, ip4(dst)),
    chunk(0x07, u16(sport)),
    chunk(0x08, u16(dport)),
    chunk(0x09, u32(sec)),
    chunk(0x0a, u32(0)),
    chunk(0x0b, u8(1)),
    chunk(0x0c, u32(2001)),
  ];
  if (authKey !== undefined) chunks.push(chunk(0x0e, Buffer.from(authKey, 'latin1')));
  chunks.push(chunk(0x0f, Buffer.from(payload, 'latin1')));
  const body = Buffer.concat(chunks);
  const h = Buffer.alloc(6);
  h.write('HEP3', 0, 'latin1');
  h.writeUInt16BE(6 + body.length, 4);
  return Buffer.concat([h, body]);
}

/** HEP packet number i of a run named `tag`: one distinct response with outcome(i). */
export function hepResponse(tag, i, opts = {}) {
  const [method, code, reason] = outcome(i);
  return hep3(sipResponse({ code, reason, method, callId: `${tag}-${i}@soak` }), opts);
}

// ---- Kamailio acc records (log lines and syslog) ---------------------------------------------------

/** A Kamailio acc record (the text after the syslog or log-file prefix). */
export function accRecord(tag, i, [method, code, reason] = outcome(i)) {
  return (
    `NOTICE: acc [acc.c:317]: acc_log_request(): ACC: transaction answered: timestamp=${1_700_000_000 + (i % 100000)};method=${method};` +
    `from_tag=f${i};to_tag=t${i};call_id=${tag}-${i}@soak;code=${code};reason=${reason};src_ip=10.0.0.1`
  );
}

/** The record as a syslog-written log file line (no newline). */
export const accLogLine = (tag, i, o) => `Sep  7 07:16:53 sip /usr/sbin/kamailio[29264]: ${accRecord(tag, i, o)}`;

/** A noise line (no SIP evidence) as Kamailio logs plenty of them. */
export const noiseLine = (i) => `Sep  7 07:16:53 sip /usr/sbin/kamailio[29264]: INFO: <script>: routing request ${i} to sip:bob@example.com`;

/** RFC 3164 (rsyslog's traditional forwarding format). */
export const syslog3164 = (tag, i, o) => `<29>Sep  7 07:16:53 sip /usr/sbin/kamailio[29264]: ${accRecord(tag, i, o)}`;

/** RFC 5424 (RSYSLOG_SyslogProtocol23Format). */
export const syslog5424 = (tag, i, o) => `<29>1 2024-05-02T10:11:12.123456+00:00 sip kamailio 29264 - - ${accRecord(tag, i, o)}`;

/** RFC 6587 octet-counted frame of a message. */
export const octetFrame = (m) => `${Buffer.byteLength(m)} ${m}`;

// ---- counting ------------------------------------------------------------------------------------

/** Expected "METHOD CODE" -> count for messages [from, to) of a run. */
export function expectedCounts(from, to, into = {}) {
  for (let i = from; i < to; i++) {
    const [method, code] = outcome(i);
    const k = key(method, code);
    into[k] = (into[k] ?? 0) + 1;
  }
  return into;
}

/** Adds two count maps. */
export function addCounts(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

// ---- Prometheus text ------------------------------------------------------------------------------

/** Parses the Prometheus text format into [{name, labels, value}]. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = re.exec(m[2] ?? ''); l; l = re.exec(m[2] ?? '')) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `match`. */
export function metricSum(samples, name, match = {}) {
  let t = 0;
  for (const s of samples) if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) t += s.value;
  return t;
}

/** sip_responses_total of one source as "METHOD CODE" -> count (non-zero only). */
export function responseCounts(samples, source) {
  const out = {};
  for (const s of samples) {
    if (s.name !== 'sip_responses_total' || s.labels.source !== source || s.value === 0) continue;
    const k = key(s.labels.method, Number(s.labels.code));
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** VmRSS of a process in bytes (Linux), or undefined. */
export async function rssOf(pid) {
  const { readFile } = await import('node:fs/promises');
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
