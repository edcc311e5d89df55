/**
 * Property tests for the SIP parser (src/parse/sip.ts) beyond test/hep/sip.test.ts (which checks that
 * random and mutated input never throws and that status codes follow parseStatusCode):
 * - scanSip never reads outside [start, end): a message embedded in a larger buffer between random
 *   bytes scans exactly like the same bytes on their own, and every offset lies inside the window;
 * - the method, when it becomes a label, is one of the 16 closed values;
 * - hostile messages of a few hundred KB parse in time linear in their size.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { METHOD_LABELS, methodLabel } from '../../src/classify/methods.js';
import { isValidCode } from '../../src/classify/status.js';
import { isSipStartLine, parseSipBuffer, parseSipMessage, scanSip, SipScan } from '../../src/parse/sip.js';

const REAL = [
  'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport\r\nFrom: "A" <sip:a@x>;tag=f1\r\nTo: <sip:b@x>;tag=t1\r\nCall-ID: c1@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
  'SIP/2.0 486 Busy Here\nv: SIP/2.0/TCP h;branch=z9\ni: compact@x\nt: <sip:b@x;tag=uri>;tag="quoted"\nf: a <sip:a@x>;tag=f\nCSeq:   42   REGISTER\n\n',
  'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: r1\r\nCSeq: 7 INVITE\r\n\r\nv=0\r\n',
  'SIP/2.0 183 Session Progress\r\nTo: <sip:b@x>\r\n ;tag=folded\r\nCall-ID: folded\r\n\t@host\r\nCSeq: 3\r\n INVITE\r\n\r\n',
  '\r\n\r\nSIP/2.0 603 Decline\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n',
];

const mutatedReal = fc
  .tuple(fc.constantFrom(...REAL), fc.array(fc.tuple(fc.constantFrom('flip', 'insert', 'delete'), fc.nat(), fc.constantFrom(0, 9, 10, 13, 32, 34, 44, 58, 59, 60, 61, 62, 92, 200, 255, 48, 55)), { maxLength: 10 }))
  .map(([s, edits]) => {
    const b = [...Buffer.from(s, 'latin1')];
    for (const [op, at, v] of edits) {
      const i = at % (b.length + 1);
      if (op === 'flip' && i < b.length) b[i] = v;
      else if (op === 'insert') b.splice(i, 0, v);
      else if (op === 'delete' && i < b.length) b.splice(i, 1);
    }
    return Buffer.from(b);
  });

const message = fc.oneof({ weight: 4, arbitrary: mutatedReal }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)) });

/** The ranges of a scan, relative to its start, as a comparable record. */
function ranges(s: SipScan, base: number): Record<string, unknown> {
  const rel = (x: number): number => (x < 0 ? x : x - base);
  return {
    isResponse: s.isResponse,
    code: s.code,
    code_: [rel(s.codeStart), rel(s.codeEnd)],
    reason: [rel(s.reasonStart), rel(s.reasonEnd)],
    cseq: s.cseq,
    method: [rel(s.methodStart), rel(s.methodEnd)],
    methodName: s.methodName,
    callId: [rel(s.callIdStart), rel(s.callIdEnd)],
    toTag: [rel(s.toTagStart), rel(s.toTagEnd)],
    fromTag: [rel(s.fromTagStart), rel(s.fromTagEnd)],
    branch: [rel(s.branchStart), rel(s.branchEnd)],
  };
}

describe('fuzz: SIP scanner bounds', () => {
  it('a message between random bytes scans exactly like the message alone, with every offset inside its window', () => {
    fc.assert(
      fc.property(message, fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (msg, before, after) => {
        const alone = new SipScan();
        const okAlone = scanSip(msg, 0, msg.length, alone);
        const big = Buffer.concat([before, msg, after]);
        const start = before.length;
        const end = start + msg.length;
        const inside = new SipScan();
        const okInside = scanSip(big, start, end, inside);
        expect(okInside).toBe(okAlone);
        if (!okAlone) return;
        // Unfolded copies are scanned on a buffer of their own; compare the decoded fields instead.
        if (inside.buf !== big || alone.buf !== msg) {
          expect(parseSipBuffer(big, start, end)).toEqual(parseSipBuffer(msg));
          return;
        }
        expect(ranges(inside, start)).toEqual(ranges(alone, 0));
        for (const [a, b] of [
          [inside.codeStart, inside.codeEnd],
          [inside.reasonStart, inside.reasonEnd],
          [inside.methodStart, inside.methodEnd],
          [inside.callIdStart, inside.callIdEnd],
          [inside.toTagStart, inside.toTagEnd],
          [inside.fromTagStart, inside.fromTagEnd],
          [inside.branchStart, inside.branchEnd],
        ] as const) {
          if (a < 0) continue;
          expect(a).toBeGreaterThanOrEqual(start);
          expect(b).toBeLessThanOrEqual(end);
          expect(a).toBeLessThanOrEqual(b);
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('codes are valid or absent, and the method label is one of the 16 closed values', () => {
    fc.assert(
      fc.property(message, (msg) => {
        const m = parseSipBuffer(msg);
        if (!m) return;
        if (m.code !== undefined) expect(isValidCode(m.code)).toBe(true);
        expect(METHOD_LABELS).toContain(methodLabel(m.method));
        if (m.requestMethod !== undefined) expect(METHOD_LABELS).toContain(methodLabel(m.requestMethod));
        // The same text through the string API gives the same answer for ASCII input.
        if (msg.every((b) => b < 128)) expect(parseSipMessage(msg.toString('latin1'))).toEqual(m);
      }),
      { numRuns: 10_000 },
    );
  });

  it('isSipStartLine never looks past end', () => {
    fc.assert(
      fc.property(message, fc.nat(), (msg, cut) => {
        const end = cut % (msg.length + 1);
        const padded = Buffer.concat([msg.subarray(0, end), Buffer.from(' SIP/2.0\r\n')]);
        expect(isSipStartLine(padded, 0, end)).toBe(isSipStartLine(msg.subarray(0, end), 0, end));
      }),
      { numRuns: 5000 },
    );
  });

  it('hostile messages parse in linear time', () => {
    const cases: [string, (n: number) => string][] = [
      ['one long status line', (n) => `SIP/2.0 200 ${'x'.repeat(n)}`],
      ['many folded lines', (n) => `SIP/2.0 200 OK\r\n${'To: <sip:x>\r\n ;tag=1\r\n'.repeat(n / 20)}`],
      ['many parameters', (n) => `SIP/2.0 200 OK\r\nTo: <sip:x>${';tag'.repeat(n / 4)}\r\n`],
      ['unterminated quotes and brackets', (n) => `SIP/2.0 200 OK\r\nFrom: "${'<'.repeat(n / 2)}\r\nTo: <${'"'.repeat(n / 2)}\r\n`],
      ['many wanted-looking header names', (n) => `SIP/2.0 200 OK\r\n${'call-idx: 1\r\ncseqq: 2\r\nvia2: 3\r\n'.repeat(n / 30)}`],
      ['a request line made of tokens', (n) => `${'A'.repeat(n)} sip:x ${'S'.repeat(n)}`],
    ];
    for (const [what, make] of cases) {
      const time = (n: number): number => {
        const b = Buffer.from(make(n), 'latin1');
        const t = performance.now();
        for (let k = 0; k < 5; k++) parseSipBuffer(b);
        return (performance.now() - t) / 5;
      };
      time(10_000); // warm up
      const small = Math.max(time(25_000), 0.05);
      const large = time(400_000);
      // 16 x the input: linear is ~16 x the time, quadratic ~256 x. Allow a generous margin.
      expect(large, what).toBeLessThan(Math.max(small * 60, 200));
    }
  });
});
