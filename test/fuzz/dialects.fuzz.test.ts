/**
 * Property tests for the log dialects (src/parse/dialects) beyond test/log/fuzz.test.ts (random lines
 * from fragments and random bytes never throw; results do not depend on read boundaries):
 * - MUTATED REAL LOGS: every fixture of the log and syslog tests, with bytes flipped, inserted and
 *   deleted, lines duplicated, dropped and swapped, and cut at random, through both entry points (the
 *   tailer's scan() over bytes and line() per line): never a throw, only valid codes, closed method labels
 *   and known error reasons; and for ASCII input both entry points give the same results;
 * - custom patterns (log.patterns) on the same mutated lines;
 * - rsyslog unescaping never throws and never grows the text;
 * - hostile lines of up to 64 KiB are parsed in time linear in their length, in every dialect;
 * - the exported line-level parsers (acc, chan_sip, FreeSWITCH, custom patterns, structured data, the
 *   app-name filter) called directly with random text and offsets never throw and return valid results.
 */
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METHOD_LABELS, methodLabel } from '../../src/classify/methods.js';
import { isValidCode } from '../../src/classify/status.js';
import type { ParseResult } from '../../src/event.js';
import { compileCustomPattern, createLineParser, LOG_PARSE_ERRORS, unescapeRsyslog, type CustomPattern, type Dialect } from '../../src/parse/dialects/index.js';
import { parseAcc, parseAccIn } from '../../src/parse/dialects/acc.js';
import { asteriskBlockHeader, isChanSipDumpEnd, parseChanSipGot } from '../../src/parse/dialects/asterisk.js';
import { matchCustom } from '../../src/parse/dialects/custom.js';
import { parseFsState, parseNta, siptraceHeader, stripFsUuid } from '../../src/parse/dialects/freeswitch.js';
import { hasRsyslogEscape } from '../../src/parse/dialects/rsyslog.js';
import { appNameFilter, scanStructuredData } from '../../src/parse/syslog/header.js';
import { LineReader } from '../../src/sources/tail/lines.js';
import { ROOT } from '../helpers/daemon.js';

const FIXTURES = [
  ...readdirSync(join(ROOT, 'test/fixtures/log')).map((f) => join(ROOT, 'test/fixtures/log', f)),
  join(ROOT, 'test/fixtures/syslog/kamailio-acc.log'),
].map((p) => ({ name: p.slice(ROOT.length), lines: readFileSync(p, 'utf8').split('\n') }));

const DIALECTS: Dialect[] = ['auto', 'kamailio', 'opensips', 'asterisk', 'freeswitch'];

function compile(name: string, regex: string, marker?: string): CustomPattern {
  const p = compileCustomPattern(name, regex, '', marker);
  if (typeof p === 'string') throw new Error(p);
  return p;
}
const PATTERNS: CustomPattern[] = [
  compile('status', 'SIP/2\\.0 (?<code>\\S+) (?<reason>[^\\r\\n]*)', 'SIP/2.0 '),
  compile('acc', 'method=(?<method>[^;]*);.*code=(?<code>[^;]*);reason=(?<reason>[^;]*)'),
  compile('got', 'response (?<code>\\d+) "(?<reason>[^"]*)"', 'response '),
];

function check(r: ParseResult): void {
  if (r === undefined) return;
  if ('error' in r) {
    expect(LOG_PARSE_ERRORS).toContain(r.error);
    return;
  }
  expect(isValidCode(r.code)).toBe(true);
  expect(METHOD_LABELS).toContain(methodLabel(r.method));
  expect(typeof r.reason).toBe('string');
}

/** A fixture with line-level and byte-level mutations. */
const mutatedLog = fc
  .tuple(
    fc.constantFrom(...FIXTURES),
    fc.array(fc.tuple(fc.constantFrom('dup', 'drop', 'swap'), fc.nat(), fc.nat()), { maxLength: 6 }),
    fc.array(fc.tuple(fc.constantFrom('flip', 'insert', 'delete'), fc.nat(), fc.constantFrom(0, 9, 10, 13, 32, 34, 35, 48, 49, 51, 55, 57, 59, 60, 61, 62, 91, 93, 123, 195, 255)), { maxLength: 12 }),
    fc.nat(),
  )
  .map(([fx, lineOps, byteOps, cut]) => {
    const lines = [...fx.lines];
    for (const [op, a, b] of lineOps) {
      if (lines.length === 0) break;
      const i = a % lines.length;
      const j = b % lines.length;
      if (op === 'dup') lines.splice(i, 0, lines[i]!);
      else if (op === 'drop') lines.splice(i, 1);
      else [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    }
    const bytes = [...Buffer.from(lines.join('\n'), 'utf8')];
    for (const [op, at, v] of byteOps) {
      const i = at % (bytes.length + 1);
      if (op === 'flip' && i < bytes.length) bytes[i] = v;
      else if (op === 'insert') bytes.splice(i, 0, v);
      else if (op === 'delete' && i < bytes.length) bytes.splice(i, 1);
    }
    const buf = Buffer.from(bytes);
    return { name: fx.name, bytes: cut % 3 === 0 ? buf.subarray(0, cut % (buf.length + 1)) : buf };
  });

function viaScan(dialect: Dialect, bytes: Buffer, cuts: number[], patterns: CustomPattern[] = []): ParseResult[] {
  const out: ParseResult[] = [];
  const parser = createLineParser({ dialect, patterns }, (r) => {
    check(r);
    if (r !== undefined) out.push(r);
  });
  const reader = new LineReader(parser, 64 * 1024, { lines: 0, tooLong: 0 }, 256);
  let prev = 0;
  for (const c of [...cuts.map((x) => x % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    if (c > prev) reader.push(bytes.subarray(prev, c));
    prev = Math.max(prev, c);
  }
  reader.end();
  return out;
}

function viaLines(dialect: Dialect, bytes: Buffer, patterns: CustomPattern[] = []): ParseResult[] {
  const out: ParseResult[] = [];
  const parser = createLineParser({ dialect, patterns }, (r) => {
    check(r);
    if (r !== undefined) out.push(r);
  });
  for (const l of bytes.toString('utf8').split('\n')) parser.line(l);
  parser.flush();
  return out;
}

describe('fuzz: mutated real logs through the dialects', () => {
  it('never throw and only produce valid results, through scan() and line(), in every dialect', () => {
    fc.assert(
      fc.property(mutatedLog, fc.constantFrom(...DIALECTS), fc.array(fc.nat(), { maxLength: 8 }), (m, dialect, cuts) => {
        viaScan(dialect, m.bytes, cuts);
        viaLines(dialect, m.bytes);
      }),
      { numRuns: 1500 },
    );
  });

  it('scan() over bytes and line() per line agree on ASCII input', () => {
    fc.assert(
      fc.property(mutatedLog, fc.constantFrom(...DIALECTS), (m, dialect) => {
        fc.pre(m.bytes.every((b) => b < 128 && b !== 13));
        expect(viaScan(dialect, m.bytes, [])).toEqual(viaLines(dialect, m.bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('custom patterns, alone and after the built-in dialects, only produce valid results', () => {
    fc.assert(
      fc.property(mutatedLog, fc.constantFrom<Dialect>('custom', 'auto'), fc.array(fc.nat(), { maxLength: 4 }), (m, dialect, cuts) => {
        viaScan(dialect, m.bytes, cuts, PATTERNS);
        viaLines(dialect, m.bytes, PATTERNS);
      }),
      { numRuns: 800 },
    );
  });

  it('rsyslog unescaping never throws and never makes the text longer', () => {
    const escapey = fc.array(fc.oneof(fc.constantFrom('#012', '#015', '#011', '#303', '#251', '#377', '#200', '#', '#0', '#01', '#999', '#177', '#100'), fc.string({ maxLength: 5 })), { maxLength: 30 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(escapey, fc.string({ unit: 'binary', maxLength: 100 })), (s) => {
        const u = unescapeRsyslog(s);
        expect(u.length).toBeLessThanOrEqual(s.length);
        if (!s.includes('#')) expect(u).toBe(s);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('fuzz: hostile long lines', () => {
  /**
   * Hostile lines of about n characters, each aimed at one parser's scanning. The inputs accept lines and
   * messages up to 64 KiB by default (log.max-line-length, syslog.max-message-size, hep.max-message-size),
   * so the sizes compared are 4 KiB and 64 KiB: 16 x the input must cost well under 256 x the time.
   */
  const HOSTILE: [string, (n: number) => string][] = [
    ['acc with a huge reason', (n) => `ACC: transaction answered: method=INVITE;code=200;reason=${'x'.repeat(n)}`],
    ['acc markers repeated', (n) => 'ACC: '.repeat(n / 5)],
    ['acc without a method, many call_id fields', (n) => `ACC: call missed: ${'x=;'.repeat(n / 6)}method=a;${'call_id=;'.repeat(n / 18)}`],
    ['json acc', (n) => `{"message": "ACC: transaction answered: code=200;reason=${'\\"'.repeat(n / 2)}"}`],
    ['asterisk block markers', (n) => '<--- Received SIP response ('.repeat(n / 28)],
    ['asterisk header with a long address', (n) => `<--- Received SIP response (1 bytes) from UDP:${'x'.repeat(n)}`],
    ['chan_sip got with quotes', (n) => `Got SIP response 486 "${'"'.repeat(n)}`],
    ['freeswitch states', (n) => `Channel ${'x'.repeat(n / 2)} entering state [${'['.repeat(n / 2)}`],
    ['freeswitch channel words', (n) => 'Channel a entering state [b]['.repeat(n / 29)],
    ['nta with many "for"', (n) => `nta: received 200 ${' for x'.repeat(n / 6)}`],
    ['siptrace', (n) => `recv ${'1'.repeat(n / 2)} bytes from udp/[${'1'.repeat(n / 2)}`],
    ['rsyslog escapes', (n) => `ACC: ${'#012#303'.repeat(n / 8)}`],
    ['rsyslog half escapes', (n) => '#01'.repeat(n / 3)],
  ];

  /** Milliseconds to parse one line of about n characters through line() and through scan(). */
  function cost(dialect: Dialect, make: (n: number) => string, n: number): number {
    const s = make(n);
    const buf = Buffer.from(`${s}\n`, 'latin1');
    let best = Infinity;
    for (let k = 0; k < 3; k++) {
      const t = performance.now();
      const p = createLineParser({ dialect }, check);
      p.line(s);
      p.flush();
      const r = new LineReader(createLineParser({ dialect }, check), 1024 * 1024, { lines: 0, tooLong: 0 });
      r.push(buf);
      r.end();
      best = Math.min(best, performance.now() - t);
    }
    return best;
  }

  for (const dialect of ['auto', 'kamailio', 'asterisk', 'freeswitch'] as const) {
    it(`${dialect}: time grows linearly with the line length`, () => {
      for (const [what, make] of HOSTILE) {
        cost(dialect, make, 4096); // warm up
        const small = cost(dialect, make, 4096);
        const large = cost(dialect, make, 65_536);
        expect(large, `${dialect}: ${what} (4 KiB: ${small.toFixed(2)} ms, 64 KiB: ${large.toFixed(2)} ms)`).toBeLessThan(Math.max(small * 60, 100));
      }
    });
  }

  // Regression (fixed in 2226471): the fast acc expression used to backtrack quadratically when a record
  // had many method= and call_id= fields and no valid code after them (every method= field was tried with
  // every later call_id= field): a 64 KiB line cost 0.5-0.9 s (4 KiB: 2 ms), blocking the event loop.
  it('acc records with many method= and call_id= fields are parsed in linear time', () => {
    const cases: [string, (n: number) => string][] = [
      ['method/call_id fields', (n) => `ACC: transaction answered: ${'method=;call_id=;'.repeat(n / 17)}`],
      ['all fixed keys, empty values', (n) => `ACC: transaction answered: ${'method=;to_tag=;call_id=;code=;'.repeat(n / 32)}`],
    ];
    for (const [what, make] of cases) {
      cost('auto', make, 4096);
      const small = cost('auto', make, 4096);
      const large = cost('auto', make, 65_536);
      expect(large, `${what} (4 KiB: ${small.toFixed(2)} ms, 64 KiB: ${large.toFixed(2)} ms)`).toBeLessThan(Math.max(small * 60, 100));
    }
  });
});

describe('fuzz: the exported line-level parsers called directly', () => {
  /** Strings made of the markers and field syntax the parsers look for, plus random text. */
  const piece = fc.oneof(
    fc.constantFrom(
      'ACC: ', 'transaction answered: ', 'call missed: ', 'request accounted: ', 'call ended: ', 'method=', 'call_id=', ';code=', 'code=', ';reason=', '200', '486', '9x9', ';',
      '<--- ', 'Received SIP response (12 bytes) from UDP:1.2.3.4:5060 --->', 'SIP read from UDP:1.2.3.4:5060 --->', 'Transmitting (NAT) to 1.2.3.4:5060 --->', '<------------->',
      'Got SIP response ', ' "Busy Here"', ' back from ', 'Channel sofia/x ', 'entering state [', '][', ']', 'nta: ', 'received ', 'sent ', ' for ', 'INVITE', ' (', ')',
      'recv ', ' bytes ', 'from udp/[1.2.3.4]:5060 at 10:00:00.000001:', '9b1c3c4e-8f0a-4c57-9d7e-2a51b1f6a001 ', '#012', '#303#251', '<13>1 ', '[a b="\\]"] ', '-',
    ),
    fc.string({ maxLength: 6 }),
  );
  const text = fc.array(piece, { maxLength: 16 }).map((a) => a.join(''));
  const at = (s: string, n: number): number => n % (s.length + 1);

  it('never throw, and return valid events, known errors or nothing', () => {
    fc.assert(
      fc.property(text, fc.nat(), fc.nat(), (s, a, b) => {
        const i = at(s, a);
        const end = i + (b % (s.length - i + 1));
        check(parseAcc(s, i));
        check(parseAccIn(s, i, end));
        check(parseChanSipGot(s, i));
        check(parseNta(s, i));
        const fs = parseFsState(s);
        if (fs !== undefined && 'error' in fs) expect(LOG_PARSE_ERRORS).toContain(fs.error);
        else if (fs !== undefined) expect(fs.code === 0 || isValidCode(fs.code)).toBe(true);
        asteriskBlockHeader(s, i);
        siptraceHeader(s);
        isChanSipDumpEnd(s);
        expect(stripFsUuid(s).length).toBeLessThanOrEqual(s.length);
        expect(typeof hasRsyslogEscape(s)).toBe('boolean');
        for (const p of PATTERNS) check(matchCustom(p, s));
        const sd = scanStructuredData(s, i);
        expect(sd === -1 || (sd >= i && sd <= s.length)).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('compileCustomPattern returns a pattern or an error text for any source, never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.constantFrom('', 'i', 'm', 's', 'u', 'gy', 'imsu'), (src, flags) => {
        const p = compileCustomPattern('fuzz', src, flags);
        if (typeof p === 'string') expect(p).toMatch(/^pattern "fuzz": /);
        else expect(p.regex).toBeInstanceOf(RegExp);
      }),
      { numRuns: 5000 },
    );
  });

  it('appNameFilter accepts exactly the configured programs and their /path forms', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 4 }), fc.string({ maxLength: 20 }), (names, app) => {
        const f = appNameFilter(names)!;
        for (const n of names) {
          expect(f(n)).toBe(true);
          expect(f(`/usr/sbin/${n}`)).toBe(true);
        }
        const want = names.some((n) => app === n || app.endsWith(`/${n}`));
        expect(f(app)).toBe(want);
      }),
      { numRuns: 5000 },
    );
  });
});
