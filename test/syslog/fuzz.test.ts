import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { datagramMessage, FRAMING_ERRORS, StreamFramer } from '../../src/parse/syslog/framing.js';
import { parseSyslogMessage, SYSLOG_HEADER_ERRORS } from '../../src/parse/syslog/header.js';

/** Bytes biased towards the characters that matter to framing and headers. */
const syslogishByte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(...Buffer.from('<>0123456789 \n\r\0-[]"\\=:T.Z+')),
);
const syslogishBytes = fc.array(syslogishByte, { maxLength: 400 }).map((a) => Buffer.from(a));

/** Real messages with random cuts, so fuzzing also reaches deep into valid syntax. */
const SEEDS = [
  '<29>Sep  7 07:16:53 sip /usr/local/sbin/kamailio[29264]: NOTICE: acc [acc.c:317]: ACC: request accounted: method=INVITE;code=200;reason=OK',
  '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] \uFEFFentry',
  '<13>Feb  5 17:32:18 10.0.0.99 myTag Use the BFG!',
  '120 <13>1 - - - - - [a b="\\]"] x\n',
];
const mutated = fc
  .tuple(fc.constantFrom(...SEEDS), fc.nat(), fc.nat(), syslogishBytes)
  .map(([s, a, b, junk]) => {
    const buf = Buffer.from(s);
    const i = a % (buf.length + 1);
    const j = Math.min(buf.length, i + (b % 40));
    return Buffer.concat([buf.subarray(0, i), junk.subarray(0, b % 8), buf.subarray(j)]);
  });

describe('fuzz: header parser', () => {
  it('never throws, returns a message or a known error, for random bytes', () => {
    fc.assert(
      fc.property(fc.oneof(syslogishBytes, mutated, fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))), (buf) => {
        const r = parseSyslogMessage(buf.toString('utf8'));
        if ('error' in r) expect(SYSLOG_HEADER_ERRORS).toContain(r.error);
        else expect(typeof r.msg).toBe('string');
      }),
      { numRuns: 20_000 },
    );
  });

  it('never throws for random strings (any code point)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const r = parseSyslogMessage(s);
        expect(r).toBeDefined();
      }),
      { numRuns: 10_000 },
    );
  });

  it('is linear: a 1 MB hostile message parses quickly', () => {
    const hostile = ['<13>1 - h a - - ' + '[x a="'.repeat(100_000), '<13>' + 'a'.repeat(1_000_000), '<13>Feb  5 17:32:18 ' + 'h'.repeat(1_000_000)];
    for (const h of hostile) {
      const t = performance.now();
      parseSyslogMessage(h);
      expect(performance.now() - t).toBeLessThan(2000);
    }
  });
});

describe('fuzz: stream framer', () => {
  it('never throws, reports only known errors, emits non-empty bounded messages', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(syslogishBytes, mutated), { maxLength: 12 }), fc.integer({ min: 1, max: 300 }), (chunks, max) => {
        const f = new StreamFramer(max, {
          message: (b) => {
            expect(b.length).toBeGreaterThan(0);
            expect(b.length).toBeLessThanOrEqual(max);
          },
          error: (e) => expect(FRAMING_ERRORS).toContain(e),
        });
        for (const c of chunks) {
          f.push(c);
          expect(f.buffered).toBeLessThanOrEqual(max + 1);
        }
        f.end();
      }),
      { numRuns: 10_000 },
    );
  });

  it('the messages do not depend on how the stream is cut into reads', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(syslogishBytes, mutated), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (parts, cuts) => {
        const whole = Buffer.concat(parts);
        const collect = (chunks: Buffer[]): string[] => {
          const out: string[] = [];
          const f = new StreamFramer(200, { message: (b) => out.push('m:' + b.toString('hex')), error: (e) => out.push('e:' + e) });
          for (const c of chunks) f.push(c);
          f.end();
          return out;
        };
        const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(whole.subarray(prev, p));
          prev = p;
        }
        chunks.push(whole.subarray(prev));
        expect(collect(chunks)).toEqual(collect([whole]));
      }),
      { numRuns: 5_000 },
    );
  });

  it('datagrams never throw', () => {
    fc.assert(
      fc.property(syslogishBytes, fc.integer({ min: 1, max: 500 }), (b, max) => {
        const r = datagramMessage(b, max);
        if (r instanceof Buffer) expect(r.length).toBeLessThanOrEqual(max);
      }),
    );
  });
});
