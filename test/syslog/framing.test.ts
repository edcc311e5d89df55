import { describe, expect, it } from 'vitest';
import { datagramMessage, StreamFramer, type FramingError } from '../../src/parse/syslog/framing.js';

function run(chunks: (string | Buffer)[], max = 1000, end = true): { msgs: string[]; errors: FramingError[]; framer: StreamFramer } {
  const msgs: string[] = [];
  const errors: FramingError[] = [];
  const framer = new StreamFramer(max, { message: (b) => msgs.push(b.toString('latin1')), error: (e) => errors.push(e) });
  for (const c of chunks) framer.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  if (end) framer.end();
  return { msgs, errors, framer };
}

/** Every way of cutting `s` into two reads, and into single bytes. */
function splits(s: string): string[][] {
  const out: string[][] = [[s], [...s]];
  for (let i = 1; i < s.length; i++) out.push([s.slice(0, i), s.slice(i)]);
  return out;
}

const A = '<29>Sep  7 07:16:53 sip kamailio[1]: NOTICE: ACC: request accounted: method=INVITE;code=486;reason=Busy Here';
const B = '<29>1 - sip kamailio 1 - - NOTICE: ACC: x\nsecond line';
const oc = (m: string): string => `${Buffer.byteLength(m, 'latin1')} ${m}`;

describe('TCP framing', () => {
  const table: [string, string, string[], FramingError[]][] = [
    ['LF', `${A}\n${A}\n`, [A, A], []],
    ['CRLF', `${A}\r\n${A}\r\n`, [A, A], []],
    ['NUL trailer', `${A}\0${A}\0`, [A, A], []],
    ['octet counting keeps embedded LF', oc(B) + oc(A), [B, A], []],
    ['octet counting with LF after each frame', `${oc(B)}\n${oc(A)}\n`, [B, A], []],
    ['octet-counted message ending in LF (template newline) loses it', oc(`${A}\n`), [A], []],
    ['mixed per frame on one stream', `${oc(B)}${A}\n${oc(A)}${A}\r\n`, [B, A, A, A], []],
    ['empty lines are skipped', `\n\n${A}\n\r\n\0\n`, [A], []],
    ['last line without trailer at end of stream', `${A}\n${A}`, [A, A], []],
    ['digits without space: bad count, read as a line', `12x hello\n${A}\n`, ['12x hello', A], ['bad_octet_count']],
    ['eleven digits: bad count, read as a line', `12345678901 x\n`, ['12345678901 x'], ['bad_octet_count']],
    ['line starting with 0 is a line', `0 zero\n`, ['0 zero'], []],
    ['truncated octet frame at end of stream', `${oc(A)}50 <13>abc`, [A], ['truncated_frame']],
    ['count only at end of stream', `${oc(A)}123`, [A], ['truncated_frame']],
    ['single-byte octet frame', `1 x1 y`, ['x', 'y'], []],
  ];
  it.each(table)('%s', (_n, input, msgs, errors) => {
    // The same result however the stream is cut into reads.
    for (const chunks of splits(input)) {
      const r = run(chunks);
      expect({ msgs: r.msgs, errors: r.errors }, JSON.stringify(chunks)).toEqual({ msgs, errors });
    }
  });

  it('many frames in one read', () => {
    const n = 10_000;
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(i % 2 === 0 ? oc(`${A} ${i}`) : `${A} ${i}\n`);
    const r = run([parts.join('')]);
    expect(r.msgs.length).toBe(n);
    expect(r.msgs[9999]).toBe(`${A} 9999`);
    expect(r.errors).toEqual([]);
  });

  it('a frame split over many reads, with others before and after', () => {
    const big = 'x'.repeat(5000);
    const s = `${A}\n${oc(big)}${A}\n`;
    const chunks: string[] = [];
    for (let i = 0; i < s.length; i += 7) chunks.push(s.slice(i, i + 7));
    expect(run(chunks, 10_000).msgs).toEqual([A, big, A]);
  });

  it('UTF-8 split across reads survives (bytes are joined before decoding)', () => {
    const m = '<13>1 - h a - - - \uFEFFé€😀';
    const buf = Buffer.from(oc2(m));
    const msgs: string[] = [];
    const f = new StreamFramer(1000, { message: (b) => msgs.push(b.toString('utf8')), error: () => undefined });
    for (const byte of buf) f.push(Buffer.from([byte]));
    expect(msgs).toEqual([m]);
  });

  describe('maximum message size', () => {
    it('octet-counted frame over the limit is skipped by its count and the stream recovers', () => {
      const big = 'y'.repeat(200);
      for (const chunks of [[`${oc(big)}${A}\n`], [...`${oc(big)}${A}\n`]]) {
        const r = run(chunks, 150);
        expect(r.msgs).toEqual([A]);
        expect(r.errors).toEqual(['message_too_large']);
        expect(r.framer.buffered).toBe(0);
      }
    });
    it('line over the limit is skipped up to its LF without buffering it', () => {
      const big = 'z'.repeat(5000);
      const chunks: string[] = [];
      const s = `${A}\n${big}\n${A}\n`;
      for (let i = 0; i < s.length; i += 100) chunks.push(s.slice(i, i + 100));
      const msgs: string[] = [];
      const errors: string[] = [];
      const f = new StreamFramer(200, { message: (b) => msgs.push(b.toString()), error: (e) => errors.push(e) });
      let maxBuffered = 0;
      for (const c of chunks) {
        f.push(Buffer.from(c));
        maxBuffered = Math.max(maxBuffered, f.buffered);
      }
      expect(msgs).toEqual([A, A]);
      expect(errors).toEqual(['message_too_large']);
      expect(maxBuffered).toBeLessThanOrEqual(201);
    });
    it('exactly the limit passes, one more does not (LF, CRLF and octet counting)', () => {
      const m = 'm'.repeat(100);
      expect(run([`${m}\n${m}\r\n${oc(m)}`], 100)).toMatchObject({ msgs: [m, m, m], errors: [] });
      expect(run([`${m}x\n${m}x\r\n${oc(m + 'x')}`], 100)).toMatchObject({ msgs: [], errors: ['message_too_large', 'message_too_large', 'message_too_large'] });
    });
    it('huge announced count does not allocate it', () => {
      const r = run(['9999999999 abc'], 1000, false);
      expect(r.errors).toEqual(['message_too_large']);
      expect(r.framer.buffered).toBe(0);
    });
  });
});

function oc2(m: string): string {
  return `${Buffer.byteLength(m)} ${m}`;
}

describe('UDP datagrams', () => {
  it('one message per datagram, trailers removed, embedded LF kept', () => {
    expect(datagramMessage(Buffer.from(`${B}\n`), 1000)?.toString()).toBe(B);
    expect(datagramMessage(Buffer.from(`${A}\r\n\0`), 1000)?.toString()).toBe(A);
    expect(datagramMessage(Buffer.from('\n\n'), 1000)).toBeUndefined();
    expect(datagramMessage(Buffer.alloc(0), 1000)).toBeUndefined();
  });
  it('size limit', () => {
    expect(datagramMessage(Buffer.from('x'.repeat(100) + '\n'), 100)?.length).toBe(100);
    expect(datagramMessage(Buffer.from('x'.repeat(101)), 100)).toBe('message_too_large');
  });
});
