import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidCode } from '../../src/classify/status.js';
import type { ParseResult } from '../../src/event.js';
import { createLineParser, LOG_PARSE_ERRORS, type Dialect } from '../../src/parse/dialects/index.js';
import { LineReader } from '../../src/sources/tail/lines.js';

const DIALECTS: Dialect[] = ['auto', 'kamailio', 'opensips', 'asterisk', 'freeswitch'];

/** Pieces that steer random lines into every parser's interesting paths. */
const FRAGMENTS = [
  'ACC: ', 'transaction answered: ', 'call missed: ', 'request accounted: ', 'call ended: ', 'request acknowledged: ',
  'method=', ';code=', 'code=', ';reason=', ';call_id=', 'to_tag=', 'timestamp=', ';', '=',
  '<--- Received SIP response (12 bytes) from UDP:1.2.3.4:5060 --->', '<--- Transmitting SIP response (1 bytes) to TCP:[::1]:5061 --->',
  '<--- SIP read from UDP:1.2.3.4:5060 --->', '<--- Transmitting (NAT) to 1.2.3.4:5060 --->', '<------------->',
  'Got SIP response ', ' "Busy Here" back from ', 'entering state [', '][', ']', 'Channel sofia/x ',
  'nta: received ', 'nta: sent ', ' for INVITE (', ')', 'recv 12 bytes from udp/[1.2.3.4]:5060 at 10:00:00.000001:',
  'SIP/2.0 ', 'CSeq: 1 INVITE', 'Call-ID: x', 'i: y', 't: <sip:a>;tag=z', '-'.repeat(72),
  '#012', '#015', '#011', '#303#251', '#', '{', '"message": "', '"}',
  '200', '486', '9x9', '700', '0', '099', '1000', ' ', '\t', '\r', 'é', '\u0000', '\uffff',
];

const line = fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 8 })), { maxLength: 14 }).map((p) => p.join(''));

function check(r: ParseResult): void {
  if (r === undefined) return;
  if ('error' in r) {
    expect(LOG_PARSE_ERRORS).toContain(r.error);
    return;
  }
  expect(isValidCode(r.code)).toBe(true);
  expect(typeof r.reason).toBe('string');
  expect(typeof r.method).toBe('string');
}

function runBytes(dialect: Dialect, bytes: Uint8Array, cuts: number[], max = 256): ParseResult[] {
  const out: ParseResult[] = [];
  const parser = createLineParser({ dialect }, (r) => {
    check(r);
    if (r !== undefined) out.push(r);
  });
  const reader = new LineReader(parser, max, { lines: 0, tooLong: 0 }, 64);
  let prev = 0;
  for (const c of [...cuts.map((x) => x % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    reader.push(bytes.subarray(prev, Math.max(prev, c)));
    prev = Math.max(prev, c);
  }
  reader.end();
  return out;
}

describe('fuzz: the log parsers never throw and only produce valid results', () => {
  it('random lines through line()', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DIALECTS), fc.array(line, { maxLength: 30 }), (dialect, lines) => {
        const p = createLineParser({ dialect }, check);
        for (const l of lines) p.line(l);
        p.flush();
      }),
      { numRuns: 3000 },
    );
  });

  it('random bytes through LineReader + scan(), in random chunks', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DIALECTS), fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 10 }), (dialect, bytes, cuts) => {
        runBytes(dialect, bytes, cuts);
      }),
      { numRuns: 2000 },
    );
  });

  it('results do not depend on how the bytes are cut into chunks', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 25 }), fc.array(fc.nat(), { maxLength: 12 }), (lines, cuts) => {
        const bytes = Buffer.from(lines.join('\n'), 'utf8');
        expect(runBytes('auto', bytes, cuts, 300)).toEqual(runBytes('auto', bytes, [], 300));
      }),
      { numRuns: 1500 },
    );
  });

  it('hostile acc records (repeated keys, no valid code) are parsed in linear time', () => {
    const time = (n: number): number => {
      const line = `ACC: transaction answered: ${'method=;call_id=;'.repeat(n / 17)}${'method=;to_tag=;call_id=;code=;'.repeat(n / 32)}`;
      let best = Infinity;
      for (let k = 0; k < 3; k++) {
        const t = performance.now();
        const p = createLineParser({ dialect: 'auto' }, check);
        p.line(line);
        best = Math.min(best, performance.now() - t);
      }
      return best;
    };
    time(4096);
    const small = time(4096);
    const large = time(65_536);
    expect(large).toBeLessThan(Math.max(small * 60, 50));
  });
});
