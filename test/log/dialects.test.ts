import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ParseResult } from '../../src/event.js';
import { compileCustomPattern, createLineParser, type CustomPattern, type Dialect, unescapeRsyslog } from '../../src/parse/dialects/index.js';
import { ROOT } from '../helpers/daemon.js';

const FIXTURES = join(ROOT, 'test/fixtures/log');

/** Compact form for table comparison: "486 INVITE Busy Here" or "error invalid_code". */
function show(r: ParseResult): string | undefined {
  if (r === undefined) return undefined;
  if ('error' in r) return `error ${r.error}`;
  return `${r.code} ${r.method || '-'} ${r.reason}`.trimEnd();
}

/** Feeds text line by line through line(), then flush(). */
function viaLines(text: string, dialect: Dialect = 'auto', patterns: CustomPattern[] = []): ParseResult[] {
  const out: ParseResult[] = [];
  const p = createLineParser({ dialect, patterns }, (r) => r !== undefined && out.push(r));
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const l of lines) p.line(l);
  p.flush();
  return out;
}

/** Feeds the bytes through scan() (the tailer's path) in chunks cut at arbitrary line boundaries. */
function viaScan(text: string, dialect: Dialect = 'auto', patterns: CustomPattern[] = []): ParseResult[] {
  const out: ParseResult[] = [];
  const p = createLineParser({ dialect, patterns }, (r) => r !== undefined && out.push(r));
  const buf = Buffer.from(text, 'utf8');
  const stats = { lines: 0, tooLong: 0 };
  let start = 0;
  let k = 0;
  while (start < buf.length) {
    // Cut after the 1st, 3rd, 6th ... newline so chunks differ in size.
    let end = start;
    for (let n = 0; n <= k % 4 && end < buf.length; n++) {
      const nl = buf.indexOf(10, end);
      end = nl < 0 ? buf.length : nl + 1;
    }
    p.scan(buf, start, end, 64 * 1024, stats);
    start = end;
    k++;
  }
  p.flush();
  return out;
}

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

const TABLE: { file: string; dialect?: Dialect; expect: string[] }[] = [
  {
    file: 'kamailio-syslog.txt',
    expect: [
      '486 INVITE Busy Here',
      '200 INVITE OK',
      '200 OPTIONS OK',
      '200 BYE OK',
      '408 INVITE Request Timeout',
      'error invalid_code',
      'error invalid_code',
      '489 SUBSCRIBE Bad Event',
      '501 PING Not Implemented',
      'error missing_code',
    ],
  },
  { file: 'kamailio-stderr.txt', expect: ['180 INVITE Ringing', '603 INVITE Decline', '200 CANCEL canceling'] },
  { file: 'kamailio-journald.txt', expect: ['200 INVITE OK', '480 INVITE Temporarily Unavailable', '401 REGISTER Unauthorized', '404 INVITE Not Found'] },
  { file: 'opensips.txt', expect: ['400 BYE Reason', '200 INVITE OK', '408 INVITE Request Timeout', '200 INVITE OK', '486 INVITE Busy Here'] },
  {
    file: 'asterisk-pjsip.txt',
    expect: ['200 OPTIONS OK', '401 REGISTER Unauthorized', '200 INVITE OK', '200 OPTIONS ok', 'error invalid_code', 'error incomplete_block'],
  },
  {
    file: 'asterisk-chansip.txt',
    expect: ['486 - Busy Here', '480 - Temporarily Unavailable', '603 - Decline', '503 - Service Unavailable', 'error invalid_code'],
  },
  { file: 'asterisk-chansip-debug.txt', expect: ['200 REGISTER OK', '486 INVITE Busy Here', '200 OPTIONS OK'] },
  { file: 'freeswitch-states.txt', expect: ['100 INVITE', '180 INVITE', '183 INVITE', '200 INVITE', '603 INVITE', 'error invalid_code'] },
  {
    file: 'freeswitch-nta.txt',
    expect: ['100 INVITE Trying', '480 INVITE Temporarily Unavailable', '503 INVITE Service Unavailable', '200 BYE OK', 'error invalid_code'],
  },
  { file: 'freeswitch-siptrace.txt', expect: ['200 INVITE OK', '486 INVITE Busy Here'] },
  { file: 'rsyslog-escaped.txt', expect: ['404 INVITE Not Found', '407 INVITE Proxy Authentication Required', '183 INVITE Session Progress'] },
];

describe('dialect table tests (fixtures written from the format notes)', () => {
  for (const t of TABLE) {
    it(`${t.file}: line() and scan() give the expected results`, () => {
      const text = fixture(t.file);
      expect(viaLines(text, t.dialect).map(show)).toEqual(t.expect);
      expect(viaScan(text, t.dialect).map(show)).toEqual(t.expect);
    });
  }

  it('carries Call-ID, To-tag, CSeq and peer where the format has them (acc: Call-ID only)', () => {
    const syslog = viaLines(fixture('kamailio-syslog.txt'));
    expect(syslog[0]).toEqual({ code: 486, reason: 'Busy Here', method: 'INVITE', callId: '1-4242@192.0.2.10' });
    expect(syslog[4]).toMatchObject({ code: 408, callId: 'lost-1@192.0.2.77' });
    const pj = viaLines(fixture('asterisk-pjsip.txt'));
    expect(pj[0]).toEqual({ code: 200, reason: 'OK', method: 'OPTIONS', cseq: 51929, callId: '0c7b1d-opt@198.51.100.2', toTag: 'as1f2e', src: '203.0.113.16:5060' });
    expect(pj[1]).toMatchObject({ code: 401, method: 'REGISTER', dst: '192.0.2.95:5060' });
    expect(pj[2]).toMatchObject({ code: 200, method: 'INVITE', callId: 'inv-99@198.51.100.2', toTag: 'callee-7' });
    expect(viaLines(fixture('asterisk-chansip.txt'))[0]).toEqual({ code: 486, reason: 'Busy Here', method: '', src: '192.0.2.1:5060' });
    expect(viaLines(fixture('freeswitch-nta.txt'))[1]).toEqual({ code: 480, reason: 'Temporarily Unavailable', method: 'INVITE', cseq: 101 });
    const st = viaLines(fixture('freeswitch-siptrace.txt'));
    expect(st[0]).toMatchObject({ callId: '8f1e5a2c-fs-1', src: '203.0.113.50:5060', cseq: 21435, toTag: 'gw77' });
    expect(st[1]).toMatchObject({ dst: '[2001:db8::5]:5080' });
    expect(viaLines(fixture('rsyslog-escaped.txt'))[2]).toMatchObject({ callId: 'rs-3\tx' });
  });

  it('Kamailio "call missed" + "transaction answered" of one failed INVITE count once; different codes count twice', () => {
    const rec = (kind: string, cid: string, code: number, reason: string): string =>
      ` 3(101) NOTICE: acc [acc.c:287]: acc_log_request(): ACC: ${kind}: timestamp=1;method=INVITE;from_tag=a;to_tag=;call_id=${cid};code=${code};reason=${reason}`;
    const text = [
      rec('call missed', 'A', 486, 'Busy Here'),
      rec('transaction answered', 'A', 486, 'Busy Here'),
      rec('call missed', 'B', 503, 'Service Unavailable'),
      rec('transaction answered', 'B', 500, 'Server Internal Error'),
      rec('transaction answered', 'C', 407, 'Proxy Authentication Required'),
      rec('transaction answered', 'C', 407, 'Proxy Authentication Required'),
      rec('transaction answered', 'D', 480, 'Temporarily Unavailable'),
      rec('call missed', 'D', 480, 'Temporarily Unavailable'),
      rec('call missed', 'E', 408, 'Request Timeout'),
      rec('call missed', 'E', 486, 'Busy Here'),
      rec('transaction answered', 'E', 486, 'Busy Here'),
    ].join('\n');
    const want = ['486 INVITE Busy Here', '503 INVITE Service Unavailable', '500 INVITE Server Internal Error', '407 INVITE Proxy Authentication Required', '407 INVITE Proxy Authentication Required', '480 INVITE Temporarily Unavailable', '408 INVITE Request Timeout', '486 INVITE Busy Here'];
    expect(viaLines(text).map(show)).toEqual(want);
    expect(viaScan(text).map(show)).toEqual(want);
  });

  it('a forced dialect only looks at its own formats', () => {
    const all = Object.fromEntries(TABLE.map((t) => [t.file, fixture(t.file)]));
    expect(viaLines(all['asterisk-pjsip.txt'] as string, 'kamailio')).toEqual([]);
    expect(viaLines(all['kamailio-syslog.txt'] as string, 'asterisk')).toEqual([]);
    expect(viaLines(all['kamailio-syslog.txt'] as string, 'freeswitch')).toEqual([]);
    expect(viaLines(all['opensips.txt'] as string, 'opensips').map(show)).toEqual(TABLE[3]?.expect);
    expect(viaLines(all['freeswitch-nta.txt'] as string, 'freeswitch').length).toBe(5);
    expect(viaLines(all['asterisk-chansip.txt'] as string, 'asterisk').length).toBe(5);
    expect(viaLines(all['kamailio-syslog.txt'] as string, 'custom')).toEqual([]);
  });

  it('a chan_sip Got line is counted again once SIP read dumps stop (precedence window)', () => {
    const dump = fixture('asterisk-chansip-debug.txt');
    const noise = Array.from({ length: 2100 }, (_, i) => `[Mar 23 19:30:00] VERBOSE[4067] pbx.c: -- noise ${i}`).join('\n');
    const got = '    -- Got SIP response 480 "Temporarily Unavailable" back from 192.0.2.8:8172';
    expect(viaLines(`${dump}${got}\n`).map(show)).toEqual(['200 REGISTER OK', '486 INVITE Busy Here', '200 OPTIONS OK']);
    expect(viaLines(`${dump}${noise}\n${got}\n`).map(show)).toEqual(['200 REGISTER OK', '486 INVITE Busy Here', '200 OPTIONS OK', '480 - Temporarily Unavailable']);
  });

  it('chan_sip dumps end at their end marker even with a body; an unfinished block is completed by flush()', () => {
    const text = ['<--- SIP read from UDP:10.0.0.1:5060 --->', 'SIP/2.0 183 Session Progress', 'CSeq: 1 INVITE', 'Content-Length: 3', '', 'v=0', 'ACC: junk', '<------------->'].join('\n');
    expect(viaLines(text).map(show)).toEqual(['183 INVITE Session Progress']);
    const open = createLineParser({ dialect: 'auto' }, (r) => r !== undefined && got.push(r));
    const got: ParseResult[] = [];
    open.line('<--- Received SIP response (100 bytes) from UDP:10.0.0.1:5060 --->');
    open.line('SIP/2.0 503 Service Unavailable');
    open.line('CSeq: 9 REGISTER');
    expect(got).toEqual([]);
    open.flush();
    expect(got.map(show)).toEqual(['503 REGISTER Service Unavailable']);
  });

  it('a multi-line record given to line() in one piece is parsed and completed (syslog message with newlines)', () => {
    const rec = '<--- Received SIP response (80 bytes) from UDP:10.0.0.1:5060 --->\r\nSIP/2.0 480 Temporarily Unavailable\r\nCSeq: 2 INVITE\r\n';
    const got: ParseResult[] = [];
    const p = createLineParser({ dialect: 'auto' }, (r) => r !== undefined && got.push(r));
    p.line(rec);
    expect(got.map(show)).toEqual(['480 INVITE Temporarily Unavailable']);
  });

  it('a block that never ends is cut at the line limit and parsed as far as it got', () => {
    const lines = ['<--- Received SIP response (100 bytes) from UDP:10.0.0.1:5060 --->', 'SIP/2.0 200 OK', 'CSeq: 1 OPTIONS'];
    for (let i = 0; i < 500; i++) lines.push(`X-Filler-${i}: y`);
    lines.push('ACC: transaction answered: method=BYE;code=200;reason=OK');
    expect(viaLines(lines.join('\n')).map(show)).toEqual(['200 OPTIONS OK', '200 BYE OK']);
  });
});

describe('custom patterns', () => {
  const xlog = compileCustomPattern('xlog-reply', String.raw`Reply from \S+ - S=(?<code>\d+) - (?<reason>.*?) M=(?<method>\S+) .*ID=(?<callid>\S+)`, '', 'Reply from') as CustomPattern;
  const any = compileCustomPattern('status', String.raw`status=(?<code>\S+)`) as CustomPattern;

  it('extracts code, reason, method and Call-ID from named groups', () => {
    const line = 'INFO: <script>: Reply from Inbound - S=407 - Proxy Authentication Required M=INVITE IP=udp:127.0.0.1:5062 ID=abc@host';
    expect(viaLines(line, 'custom', [xlog])).toEqual([{ code: 407, reason: 'Proxy Authentication Required', method: 'INVITE', callId: 'abc@host' }]);
    expect(viaScan(line + '\n', 'custom', [xlog])).toEqual([{ code: 407, reason: 'Proxy Authentication Required', method: 'INVITE', callId: 'abc@host' }]);
  });

  it('reports invalid codes and tries patterns after the built-in dialects with auto', () => {
    expect(viaLines('x status=9x9\ny status=503\nz nothing', 'custom', [any]).map(show)).toEqual(['error invalid_code', '503 -']);
    const mixed = `${fixture('kamailio-stderr.txt')}foo status=202\n`;
    expect(viaScan(mixed, 'auto', [any]).map(show)).toEqual(['180 INVITE Ringing', '603 INVITE Decline', '200 CANCEL canceling', '202 -']);
    expect(viaScan(mixed, 'auto', [xlog]).map(show)).toEqual(['180 INVITE Ringing', '603 INVITE Decline', '200 CANCEL canceling']);
  });

  it('a bad pattern is an error naming it', () => {
    expect(compileCustomPattern('broken', '(?<code>\\d+')).toMatch(/^pattern "broken": invalid regular expression/);
    expect(compileCustomPattern('nocode', 'S=(?<status>\\d+)')).toMatch(/^pattern "nocode": needs a named group \(\?<code>/);
    expect(compileCustomPattern('typo', 'S=(?<code>\\d+) ID=(?<callID>\\S+)')).toMatch(/^pattern "typo": unknown named group "callID"/);
  });
});

describe('unescapeRsyslog', () => {
  it.each([
    ['a#012b', 'a\nb'],
    ['a#015#012b', 'a\r\nb'],
    ['tab#011x', 'tab\tx'],
    ['SIPInterface #2 TO(#138)', 'SIPInterface #2 TO(#138)'],
    ['literal #100 stays', 'literal #100 stays'],
    ['#303#251t#303#251', '\u00e9t\u00e9'],
    ['bad #303 utf8', 'bad \ufffd utf8'],
    ['printable escapes stay #050', 'printable escapes stay #050'],
    ['end#01', 'end#01'],
    ['', ''],
  ])('%j -> %j', (input, out) => {
    expect(unescapeRsyslog(input)).toBe(out);
  });
});
