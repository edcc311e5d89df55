import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HepStreamFramer } from '../../src/sources/hep/framing.js';
import { hep3msg, sipResponse } from '../fixtures/hep/encode.js';

function collect() {
  const got: string[] = [];
  const f = new HepStreamFramer((buf, s, e) => got.push(Buffer.from(buf.subarray(s, e)).toString('hex')));
  return { f, got };
}

const packets = [0, 1, 2, 3, 4].map((i) => hep3msg({ payload: sipResponse({ callId: `c${i}`, pad: i * 97 }) }));
const stream = Buffer.concat(packets);
const want = packets.map((p) => p.toString('hex'));

describe('HEP TCP framing', () => {
  it('cuts many packets out of one read', () => {
    const { f, got } = collect();
    expect(f.push(stream)).toBeUndefined();
    expect(got).toEqual(want);
    expect(f.buffered).toBe(0);
  });

  it('assembles packets split at every possible position', () => {
    for (let cut = 1; cut < packets[0]!.length + 10; cut++) {
      const { f, got } = collect();
      expect(f.push(stream.subarray(0, cut))).toBeUndefined();
      expect(f.push(stream.subarray(cut))).toBeUndefined();
      expect(got).toEqual(want);
    }
  });

  it('handles one byte per read', () => {
    const { f, got } = collect();
    for (let i = 0; i < stream.length; i++) expect(f.push(stream.subarray(i, i + 1))).toBeUndefined();
    expect(got).toEqual(want);
  });

  it('handles random read boundaries', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 50 }), (sizes) => {
        const { f, got } = collect();
        let off = 0;
        let i = 0;
        while (off < stream.length) {
          const n = sizes[i++ % sizes.length]!;
          expect(f.push(stream.subarray(off, off + n))).toBeUndefined();
          off += n;
        }
        expect(got).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('reports garbage at the start, after a packet, and inside a split header', () => {
    expect(collect().f.push(Buffer.from('GET / HTTP/1.1\r\n'))).toBe('bad_magic');
    const a = collect();
    expect(a.f.push(Buffer.concat([packets[0]!, Buffer.from('XXXXXXXX')]))).toBe('bad_magic');
    expect(a.got).toHaveLength(1);
    const b = collect();
    expect(b.f.push(Buffer.from('HE'))).toBeUndefined();
    expect(b.f.push(Buffer.from('X3'))).toBe('bad_magic');
    const c = collect();
    expect(c.f.push(Buffer.from('HEP3\x00\x03rest'))).toBe('bad_length');
    const d = collect();
    expect(d.f.push(Buffer.from('HEP3\x00'))).toBeUndefined();
    expect(d.f.push(Buffer.from('\x02'))).toBe('bad_length');
    // a failed framer stays failed
    expect(d.f.push(packets[0]!)).toBe('bad_length');
    // a HEPv1 or gzip-wrapped packet cannot be framed on a stream
    expect(collect().f.push(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('bad_magic');
    expect(collect().f.push(Buffer.from([2, 16, 2, 17]))).toBe('bad_magic');
  });

  it('never buffers more than one HEP packet (65535 bytes)', () => {
    const { f } = collect();
    const big = Buffer.alloc(65535);
    big.write('HEP3', 0, 'latin1');
    big.writeUInt16BE(65535, 4);
    expect(f.push(big.subarray(0, 65000))).toBeUndefined();
    expect(f.buffered).toBe(65000);
    expect(f.push(big.subarray(65000))).toBeUndefined();
    expect(f.buffered).toBe(0);
  });

  it('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 10 }), (reads) => {
        const { f } = collect();
        for (const r of reads) f.push(r);
      }),
      { numRuns: 2000 },
    );
  });
});
