import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeHep, formatHepAddress, HEP_DECODE_ERRORS, HepPacket, inflatePayload } from '../../src/parse/hep.js';
import { parseSipBuffer } from '../../src/parse/sip.js';
import { chunk, hep12, hep3, hep3msg, ip4, SPEC_EXAMPLE, sipRequest, sipResponse, standardChunks, u16, u32, u8 } from '../fixtures/hep/encode.js';

const OPTS = { maxMessageSize: 65536 };

function decode(buf: Buffer): { err: string | undefined; p: HepPacket } {
  const p = new HepPacket();
  const err = decodeHep(buf, 0, buf.length, p, OPTS);
  if (err === undefined) {
    const e2 = inflatePayload(p, OPTS);
    return { err: e2, p };
  }
  return { err, p };
}

const payloadText = (p: HepPacket): string => Buffer.from(p.payload.buffer, p.payload.byteOffset, p.payload.byteLength).toString('latin1', p.payloadStart, p.payloadEnd);

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('HEPv3 decoding', () => {
  it('decodes the 113-byte example of the specification', () => {
    expect(SPEC_EXAMPLE.length).toBe(113);
    const { err, p } = decode(SPEC_EXAMPLE);
    expect(err).toBeUndefined();
    expect(p.version).toBe(3);
    expect(p.family).toBe(2);
    expect(p.ipProto).toBe(17);
    expect(formatHepAddress(p, 'src')).toBe('212.202.0.1:12010');
    expect(formatHepAddress(p, 'dst')).toBe('82.116.0.211:5060');
    expect(p.tsSec).toBe(1313440459);
    expect(p.tsUsec).toBe(120000);
    expect(p.timeMs()).toBe(1313440459120);
    expect(p.protoType).toBe(1);
    expect(p.captureId).toBe(228);
    expect(payloadText(p)).toBe('INVITE sip:bob');
  });

  it('accepts the EEP3 magic', () => {
    const b = Buffer.from(SPEC_EXAMPLE);
    b[0] = 0x45;
    expect(decode(b).err).toBeUndefined();
  });

  it('decodes every chunk order the same way', () => {
    const sip = sipResponse({ code: 486, reason: 'Busy Here' });
    // six chunks including payload, auth and correlation: 720 orders
    const base = standardChunks({ payload: sip, authKey: 'secret', correlation: 'call-1@example.com' });
    const pick = [0x03, 0x04, 0x07, 0x0b, 0x0e, 0x0f];
    const fixed = base.filter((c) => !pick.includes(c.type));
    const moving = base.filter((c) => pick.includes(c.type));
    let n = 0;
    for (const order of permutations(moving)) {
      const { err, p } = decode(hep3([...order, ...fixed]));
      expect(err).toBeUndefined();
      expect(formatHepAddress(p, 'src')).toBe('10.0.0.1:5060');
      expect(p.protoType).toBe(1);
      expect(Buffer.from(p.buf).toString('latin1', p.authStart, p.authEnd)).toBe('secret');
      expect(parseSipBuffer(p.payload, p.payloadStart, p.payloadEnd)?.code).toBe(486);
      n++;
    }
    expect(n).toBe(720);
  });

  it('skips unknown and vendor chunks and accepts zero-length chunks', () => {
    const sip = sipResponse();
    const chunks = [
      chunk(0x0e, Buffer.alloc(0)), // empty auth key, as in heplify-server's test vector
      chunk(0x0f, Buffer.from('SIP/2.0 500 vendor payload chunk\r\n\r\n'), 0x0002), // Kamailio vendor space: skipped
      chunk(0x65, Buffer.from('{"extra":"json"}')), // OpenSIPS extra correlation
      chunk(0x1234, Buffer.alloc(0)),
      ...standardChunks({ payload: sip }),
      chunk(0x13, Buffer.from('node1')),
    ];
    const { err, p } = decode(hep3(chunks));
    expect(err).toBeUndefined();
    expect(parseSipBuffer(p.payload, p.payloadStart, p.payloadEnd)?.code).toBe(200);
    expect(p.authStart).toBe(p.authEnd);
  });

  it('decodes IPv6 addresses', () => {
    const { err, p } = decode(hep3msg({ payload: sipResponse(), src: '2001:db8::1', dst: '2001:db8::ff', sport: 5061, dport: 5062 }));
    expect(err).toBeUndefined();
    expect(p.srcIpLen).toBe(16);
    expect(formatHepAddress(p, 'src')).toBe('[2001:db8:0:0:0:0:0:1]:5061');
    expect(formatHepAddress(p, 'dst')).toBe('[2001:db8:0:0:0:0:0:ff]:5062');
  });

  it('inflates a zlib or gzip compressed payload chunk (0x0010)', () => {
    for (const compress of ['zlib', 'gzip'] as const) {
      const { err, p } = decode(hep3msg({ payload: sipResponse({ code: 401, reason: 'Unauthorized' }), compress }));
      expect(err).toBeUndefined();
      expect(p.compressed).toBe(true);
      expect(parseSipBuffer(p.payload, p.payloadStart, p.payloadEnd)?.code).toBe(401);
    }
  });

  it('unwraps a gzip-wrapped packet (heplify payload_zip)', () => {
    const { err, p } = decode(gzipSync(hep3msg({ payload: sipResponse({ code: 503, reason: 'Service Unavailable' }) })));
    expect(err).toBeUndefined();
    expect(parseSipBuffer(p.payload, p.payloadStart, p.payloadEnd)?.code).toBe(503);
  });

  it('rejects a decompression bomb with too_large', () => {
    const big = sipResponse({ pad: 100_000 });
    expect(decode(hep3msg({ payload: big, compress: 'zlib' })).err).toBe('too_large');
    expect(decode(gzipSync(hep3msg({ payload: sipResponse({ pad: 60_000 }) }))).err).toBeUndefined();
    const p = new HepPacket();
    expect(decodeHep(gzipSync(Buffer.concat([hep3msg({ payload: sipResponse() }), Buffer.alloc(70_000)])), 0, Infinity, p, { maxMessageSize: 65536 })).toBe('too_large');
  });

  it('reports bad compressed data', () => {
    expect(decode(hep3([chunk(0x0b, u8(1)), chunk(0x10, Buffer.from('not compressed at all'))])).err).toBe('decompress_failed');
    expect(decode(Buffer.from([0x1f, 0x8b, 1, 2, 3, 4])).err).toBe('decompress_failed');
    expect(decode(gzipSync(Buffer.from('XEP3 not a hep packet'))).err).toBe('bad_magic');
  });

  it('ignores bytes after the declared total length', () => {
    const b = Buffer.concat([hep3msg({ payload: sipResponse() }), Buffer.from('trailing')]);
    expect(decode(b).err).toBeUndefined();
  });

  describe('errors', () => {
    const good = hep3msg({ payload: sipResponse() });
    const cases: [string, Buffer, string][] = [
      ['empty', Buffer.alloc(0), 'too_short'],
      ['only "HEP"', Buffer.from('HEP'), 'too_short'],
      ['header cut', Buffer.from('HEP3\x00'), 'too_short'],
      ['wrong magic', Buffer.from('HEP4\x00\x06'), 'bad_magic'],
      ['text', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'bad_magic'],
      ['total length below 6', hep3(standardChunks({ payload: 'x' }), { lengthField: 5 }), 'bad_length'],
      ['total length beyond datagram (truncated)', good.subarray(0, good.length - 10), 'bad_length'],
      ['total length lies (too big)', hep3(standardChunks({ payload: 'x' }), { lengthField: 65535 }), 'bad_length'],
      ['chunk length below 6', hep3([chunk(0x0b, u8(1), 0, 3)]), 'bad_chunk_length'],
      ['chunk length 0', hep3([chunk(0x0b, Buffer.alloc(0), 0, 0)]), 'bad_chunk_length'],
      ['chunk running past the end', hep3([chunk(0x0f, Buffer.from('abc'), 0, 200)]), 'bad_chunk_length'],
      ['trailing partial chunk header', fixLen(Buffer.concat([hep3([chunk(0x0f, Buffer.from('SIP/2.0 200 OK\r\n\r\n'))]), Buffer.from([0, 0, 0])])), 'bad_chunk_length'],
      ['IPv4 chunk with 3 bytes', hep3([chunk(0x03, Buffer.from([1, 2, 3])), chunk(0x0f, Buffer.from('x'))]), 'bad_chunk_value'],
      ['port chunk with 4 bytes', hep3([chunk(0x07, u32(5060)), chunk(0x0f, Buffer.from('x'))]), 'bad_chunk_value'],
      ['timestamp chunk with 2 bytes', hep3([chunk(0x09, u16(1)), chunk(0x0f, Buffer.from('x'))]), 'bad_chunk_value'],
      ['proto type with 2 bytes', hep3([chunk(0x0b, u16(1)), chunk(0x0f, Buffer.from('x'))]), 'bad_chunk_value'],
      ['no payload chunk', hep3([chunk(0x0b, u8(1)), chunk(0x03, ip4('1.2.3.4'))]), 'no_payload'],
      ['HEPv1 too short', Buffer.from([1, 16, 2, 17, 0, 0]), 'too_short'],
      ['HEPv1 without SIP', Buffer.concat([Buffer.from([1, 16, 2, 17, 0x13, 0xc4, 0x13, 0xc4]), ip4('1.1.1.1'), ip4('2.2.2.2'), Buffer.from('hello')]), 'no_payload'],
    ];
    for (const [name, buf, want] of cases) {
      it(name, () => {
        expect(HEP_DECODE_ERRORS).toContain(want);
        expect(decode(buf).err).toBe(want);
      });
    }
  });
});

function fixLen(b: Buffer): Buffer {
  b.writeUInt16BE(b.length, 4);
  return b;
}

describe('HEPv1 / HEPv2', () => {
  it("decodes heplify-server's v1 test vector layout", () => {
    const sip = 'SIP/2.0 200 OK\r\nCall-ID: v1\r\nCSeq: 213453007 OPTIONS\r\n\r\n';
    const b = Buffer.concat([Buffer.from([0x01, 0x10, 0x02, 0x11, 0x13, 0xc4, 0x13, 0xc4, 0x0a, 0x00, 0x01, 0x64, 0xc0, 0xa8, 0x00, 0xfe]), Buffer.from(sip)]);
    const { err, p } = decode(b);
    expect(err).toBeUndefined();
    expect(p.version).toBe(1);
    expect(formatHepAddress(p, 'src')).toBe('10.0.1.100:5060');
    expect(formatHepAddress(p, 'dst')).toBe('192.168.0.254:5060');
    expect(p.timeMs()).toBeUndefined();
    expect(parseSipBuffer(p.payload, p.payloadStart, p.payloadEnd)).toMatchObject({ code: 200, method: 'OPTIONS', callId: 'v1' });
  });

  const sip = sipResponse({ code: 180, reason: 'Ringing' });
  const now = Math.floor(Date.now() / 1000) - 5;
  for (const timeHeader of ['kamailio', 'packed10', 'fs'] as const) {
    for (const src of ['10.1.2.3', '2001:db8::5']) {
      it(`v2 with ${timeHeader} time header, ${src.includes(':') ? 'IPv6' : 'IPv4'}`, () => {
        const { err, p } = decode(hep12(2, { payload: sip, src, sec: now, usec: 456_000, timeHeader }));
        expect(err).toBeUndefined();
        expect(p.version).toBe(2);
        expect(p.tsSec).toBe(now);
        expect(p.tsUsec).toBe(456_000);
        expect(p.protoType).toBe(1);
        expect(formatHepAddress(p, 'src')?.startsWith(src.includes(':') ? '[2001:db8:' : '10.1.2.3:')).toBe(true);
        expect(parseSipBuffer(p.payload, p.payloadStart, p.payloadEnd)).toMatchObject({ code: 180, callId: 'call-1@example.com' });
      });
    }
  }

  it('v1 IPv6 and a request payload', () => {
    const { err, p } = decode(hep12(1, { payload: sipRequest({ method: 'OPTIONS' }), src: '::1', dst: '::2' }));
    expect(err).toBeUndefined();
    expect(parseSipBuffer(p.payload, p.payloadStart, p.payloadEnd)).toMatchObject({ isResponse: false, requestMethod: 'OPTIONS' });
  });

  it('v2 with an unknown family falls back to the header length', () => {
    const { err, p } = decode(hep12(2, { payload: sip, src: '2001:db8::5', family: 99 }));
    expect(err).toBeUndefined();
    expect(p.srcIpLen).toBe(16);
  });
});

describe('decoder robustness (property tests)', () => {
  const seeds = [
    hep3msg({ payload: sipResponse() }),
    hep3msg({ payload: sipResponse(), compress: 'zlib' }),
    hep3msg({ payload: sipResponse(), src: '2001:db8::1', dst: '2001:db8::2', authKey: 'k' }),
    hep12(2, { payload: sipResponse() }),
    hep12(1, { payload: sipRequest() }),
    SPEC_EXAMPLE,
  ];

  const check = (b: Uint8Array, start = 0, end = b.length) => {
    const p = new HepPacket();
    const err = decodeHep(b, start, end, p, OPTS);
    if (err !== undefined) {
      expect(HEP_DECODE_ERRORS).toContain(err);
      return;
    }
    const e2 = inflatePayload(p, OPTS);
    if (e2 !== undefined) expect(HEP_DECODE_ERRORS).toContain(e2);
    else if (p.payloadStart >= 0) {
      expect(p.payloadStart).toBeGreaterThanOrEqual(0);
      expect(p.payloadEnd).toBeLessThanOrEqual(p.payload.length);
      parseSipBuffer(p.payload, p.payloadStart, p.payloadEnd);
    }
    for (const [at, len] of [
      [p.srcIp, p.srcIpLen],
      [p.dstIp, p.dstIpLen],
    ] as const) {
      if (at >= 0) expect(at + len).toBeLessThanOrEqual(p.buf.length);
    }
  };

  it('random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => check(b)), { numRuns: 5000 });
    // random bytes behind a valid magic get further into the decoder
    fc.assert(
      fc.property(fc.constantFrom('HEP3', 'EEP3', '\x01', '\x02', '\x1f\x8b'), fc.uint8Array({ maxLength: 300 }), (magic, b) => check(Buffer.concat([Buffer.from(magic, 'latin1'), b]))),
      { numRuns: 5000 },
    );
  });

  it('mutated and truncated real packets never throw', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(), fc.nat(), (seed, muts, a, z) => {
        const b = Buffer.from(seed);
        for (const [i, v] of muts) b[i % b.length] = v;
        const start = a % (b.length + 1);
        const end = start + (z % (b.length - start + 1));
        check(b, start, end);
      }),
      { numRuns: 10000 },
    );
  });

  it('random chunk lists never throw', () => {
    const arbChunk = fc.record({
      type: fc.integer({ min: 0, max: 0x30 }),
      vendor: fc.constantFrom(0, 0, 0, 2),
      value: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
      lengthField: fc.option(fc.integer({ min: 0, max: 70 }), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(arbChunk, { maxLength: 12 }), (chunks) => check(hep3(chunks))), { numRuns: 5000 });
  });
});
