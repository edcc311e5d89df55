import type { Catalogue } from '../../classify/catalogue.js';
import { Pipeline } from '../../pipeline.js';
import { HepProcessor, type ProcessorOptions } from './processor.js';

/**
 * JIT warm-up of the HEP hot path, run once when the input starts.
 *
 * V8 compiles a function to optimised code only after it has run a few thousand times; until then a
 * packet costs 5-20 times more. An exporter restarted while its proxies keep sending 100k packets/s
 * would spend its first ~200 ms in that slow phase, fill the socket buffer and lose packets. Running
 * synthetic traffic through a scratch processor (its own pipeline and registry: no real counter moves)
 * before the socket opens leaves the shared code optimised. About 20k packets, some tens of ms.
 * Returns the scratch pipeline (for tests: the synthetic traffic must parse, or it warms the wrong path).
 */
export function warmUpHep(catalogue: Catalogue, opts: ProcessorOptions, packets = WARMUP_PACKETS): Pipeline {
  const pipeline = new Pipeline(catalogue);
  const scratch = new HepProcessor(pipeline, {
    ...opts,
    authKey: undefined,
    logPackets: false,
    dedupMaxEntries: 4096,
    maxPendingTransactions: 4096,
  });
  const templates = TEMPLATES.map(([sip, v6]) => template(sip, v6));
  const now = Date.now();
  for (let i = 0; i < packets; i++) {
    const t = templates[i % templates.length]!;
    // A new Call-ID every other round: the second copy is a retransmission (the duplicate path).
    writeDigits(t.buf, t.idAt, (i / templates.length / 2) | 0);
    scratch.handle(t.buf, 0, t.buf.length, 0, now + i);
  }
  scratch.close();
  // returned for tests: what the synthetic traffic was counted as
  return pipeline;
}

export const WARMUP_PACKETS = 20_000;
const ID_DIGITS = 10;

/** One call as a proxy mirrors it: requests, provisional and final responses, compact headers, LF only. */
const TEMPLATES: [string, boolean][] = [
  [sip('INVITE sip:+4940987654@example.com SIP/2.0', 'INVITE', ''), false],
  [sip('SIP/2.0 100 Trying', 'INVITE', ''), false],
  [sip('SIP/2.0 180 Ringing', 'INVITE', ';tag=7a2c3f1e9d'), true],
  [sip('SIP/2.0 486 Busy Here', 'INVITE', ';tag=7a2c3f1e9d'), false],
  [sip('ACK sip:+4940987654@example.com SIP/2.0', 'ACK', ';tag=7a2c3f1e9d'), false],
  [sip('SIP/2.0 200 OK', 'INVITE', ';tag=7a2c3f1e9d', true), true],
  [sip('BYE sip:+4940987654@192.0.2.20 SIP/2.0', 'BYE', ';tag=7a2c3f1e9d'), false],
  [sip('SIP/2.0 200 OK', 'BYE', ';tag=7a2c3f1e9d', true), false],
];


function sip(start: string, method: string, toTag: string, compact = false): string {
  const cseq = method === 'BYE' ? 103 : 102;
  const lines = [
    start,
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1-0a1b2c3d;rport=5060',
    'Record-Route: <sip:192.0.2.1;lr>',
    `${compact ? 'f' : 'From'}: "Alice" <sip:+4930123456@example.com>;tag=as5f9e1c2d`,
    `${compact ? 't' : 'To'}: <sip:+4940987654@example.com>${toTag}`,
    `${compact ? 'i' : 'Call-ID'}: ${'0'.repeat(ID_DIGITS)}-warmup@192.0.2.10`,
    `CSeq: ${cseq} ${method}`,
    'Content-Length: 0',
  ];
  return lines.join(compact ? '\n' : '\r\n') + (compact ? '\n\n' : '\r\n\r\n');
}

function chunk(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(6 + value.length, 4);
  return Buffer.concat([h, value]);
}

function uint(n: number, bytes: 1 | 2 | 4): Buffer {
  const b = Buffer.alloc(bytes);
  b.writeUIntBE(n, 0, bytes);
  return b;
}

/** A HEPv3 packet (Kamailio's chunk order) and the offset of the Call-ID digits in it. */
function template(text: string, v6: boolean): { buf: Buffer; idAt: number } {
  const addr = (last: number): Buffer => (v6 ? Buffer.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), last]) : Buffer.from([192, 0, 2, last]));
  const body = Buffer.concat([
    chunk(0x01, uint(v6 ? 10 : 2, 1)),
    chunk(0x02, uint(17, 1)),
    chunk(v6 ? 0x05 : 0x03, addr(10)),
    chunk(v6 ? 0x06 : 0x04, addr(1)),
    chunk(0x07, uint(5060, 2)),
    chunk(0x08, uint(5060, 2)),
    chunk(0x09, uint(Math.floor(Date.now() / 1000), 4)),
    chunk(0x0a, uint(0, 4)),
    chunk(0x0b, uint(1, 1)),
    chunk(0x0c, uint(2001, 4)),
    chunk(0x0f, Buffer.from(text, 'latin1')),
  ]);
  const head = Buffer.from('HEP3\0\0', 'latin1');
  head.writeUInt16BE(6 + body.length, 4);
  const buf = Buffer.concat([head, body]);
  return { buf, idAt: buf.indexOf('0'.repeat(ID_DIGITS) + '-warmup') };
}

function writeDigits(buf: Buffer, at: number, n: number): void {
  for (let i = ID_DIGITS - 1; i >= 0; i--) {
    buf[at + i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
}
