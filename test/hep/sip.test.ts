import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStatusCode } from '../../src/classify/status.js';
import { F_CALLID, F_CSEQ, isSipStartLine, parseSipBuffer, parseSipMessage, scanSip, SipScan, type SipMessage } from '../../src/parse/sip.js';

const crlf = (lines: string[]): string => lines.join('\r\n') + '\r\n\r\n';

const RESPONSE_200 = crlf([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-abc;rport=5060, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-second',
  'Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK-third',
  'From: "Alice" <sip:alice@example.com>;tag=from-1',
  'To: <sip:bob@example.com>;tag=to-1',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
  'Content-Length: 0',
]);

interface Row {
  name: string;
  text: string;
  want: Partial<SipMessage> | undefined;
}

const rows: Row[] = [
  {
    name: 'plain 200 OK with CRLF',
    text: RESPONSE_200,
    want: {
      isResponse: true,
      code: 200,
      codeText: '200',
      reason: 'OK',
      method: 'INVITE',
      cseq: 314159,
      callId: 'a84b4c76e66710@pc33.example.com',
      toTag: 'to-1',
      fromTag: 'from-1',
      branch: 'z9hG4bK-abc',
    },
  },
  {
    name: 'LF line ends',
    text: RESPONSE_200.replace(/\r\n/g, '\n'),
    want: { code: 200, method: 'INVITE', cseq: 314159, callId: 'a84b4c76e66710@pc33.example.com', toTag: 'to-1', branch: 'z9hG4bK-abc' },
  },
  {
    name: 'compact header names',
    text: crlf(['SIP/2.0 486 Busy Here', 'v: SIP/2.0/TCP h;branch=z9hG4bKc', 'f: <sip:a@h>;tag=F', 't: <sip:b@h>;tag=T', 'i: cid-1', 'CSeq: 7 INVITE']),
    want: { code: 486, reason: 'Busy Here', callId: 'cid-1', toTag: 'T', fromTag: 'F', branch: 'z9hG4bKc', cseq: 7, method: 'INVITE' },
  },
  {
    name: 'lower-case and mixed-case names, whitespace before the colon',
    text: crlf(['SIP/2.0 180 Ringing', 'call-id : x1', 'cseq:   2   BYE', 'TO:<sip:b@h>;TAG=up', 'VIA: SIP/2.0/UDP h;Branch=z9hG4bKup']),
    want: { code: 180, callId: 'x1', cseq: 2, method: 'BYE', toTag: 'up', branch: 'z9hG4bKup' },
  },
  {
    name: 'folded headers (CRLF + whitespace continues the header)',
    text: crlf(['SIP/2.0 603 Decline', 'To: <sip:bob@example.com>', ' ;tag=folded-tag', 'Call-ID:', '\tfolded-call-id', 'CSeq: 11', '  CANCEL']),
    want: { code: 603, toTag: 'folded-tag', callId: 'folded-call-id', cseq: 11, method: 'CANCEL' },
  },
  {
    name: 'folded headers with LF only',
    text: ['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP h', '  ;branch=z9hG4bK-f', 'CSeq: 1 OPTIONS', '', ''].join('\n'),
    want: { code: 200, branch: 'z9hG4bK-f', cseq: 1, method: 'OPTIONS' },
  },
  {
    name: 'folded header that is not read is skipped without unfolding',
    text: crlf(['SIP/2.0 200 OK', 'Subject: a long', ' subject line', 'Call-ID: after-fold', 'CSeq: 4 INFO']),
    want: { callId: 'after-fold', cseq: 4, method: 'INFO' },
  },
  {
    name: 'body is ignored (a Call-ID inside the body does not count)',
    text: crlf(['SIP/2.0 200 OK', 'CSeq: 3 INVITE', 'Content-Type: message/sipfrag']).concat('Call-ID: in-body\r\n'),
    want: { code: 200, callId: undefined, cseq: 3 },
  },
  {
    name: 'no blank line at the end',
    text: 'SIP/2.0 404 Not Found\r\nCall-ID: nb\r\nCSeq: 5 REGISTER',
    want: { code: 404, callId: 'nb', cseq: 5, method: 'REGISTER' },
  },
  {
    name: 'request line',
    text: crlf(['INVITE sip:bob@biloxi.com SIP/2.0', 'Via: SIP/2.0/UDP pc33;branch=z9hG4bK776asdhds', 'To: Bob <sip:bob@biloxi.com>', 'From: Alice <sip:alice@atlanta.com>;tag=1928301774', 'Call-ID: a84b4c76e66710', 'CSeq: 314159 INVITE']),
    want: { isResponse: false, requestMethod: 'INVITE', method: 'INVITE', code: undefined, toTag: undefined, fromTag: '1928301774', branch: 'z9hG4bK776asdhds', cseq: 314159 },
  },
  {
    name: 'ACK request with CSeq ACK',
    text: crlf(['ACK sip:bob@h SIP/2.0', 'Via: SIP/2.0/UDP a;branch=z9hG4bKack', 'Call-ID: c', 'CSeq: 1 ACK']),
    want: { isResponse: false, requestMethod: 'ACK', method: 'ACK', cseq: 1 },
  },
  {
    name: 'extension method keeps its case',
    text: crlf(['SIP/2.0 200 OK', 'CSeq: 9 invite']),
    want: { method: 'invite', code: 200 },
  },
  {
    name: 'invalid code 099 is reported',
    text: crlf(['SIP/2.0 099 Weird', 'CSeq: 1 INVITE']),
    want: { isResponse: true, code: undefined, codeText: '099', reason: 'Weird' },
  },
  {
    name: 'invalid code 700 is reported',
    text: crlf(['SIP/2.0 700 Too Big', 'CSeq: 1 INVITE']),
    want: { isResponse: true, code: undefined, codeText: '700' },
  },
  {
    name: 'four-digit code is invalid',
    text: crlf(['SIP/2.0 2000 OK']),
    want: { isResponse: true, code: undefined, codeText: '2000' },
  },
  {
    name: 'status line without reason phrase',
    text: 'SIP/2.0 100\r\nCSeq: 1 INVITE\r\n\r\n',
    want: { code: 100, reason: '' },
  },
  {
    name: 'reason phrase with spaces and UTF-8',
    text: crlf(['SIP/2.0 480 Temporär nicht verfügbar']),
    want: { code: 480, reason: 'Temporär nicht verfügbar' },
  },
  {
    name: 'leading blank lines are skipped',
    text: '\r\n\r\nSIP/2.0 200 OK\r\nCSeq: 1 BYE\r\n\r\n',
    want: { code: 200, method: 'BYE' },
  },
  {
    name: 'To tag inside the URI is not the header tag',
    text: crlf(['SIP/2.0 200 OK', 'To: "x;tag=q" <sip:b@h;tag=uri>;tag=real']),
    want: { toTag: 'real' },
  },
  {
    name: 'To without tag',
    text: crlf(['SIP/2.0 100 Trying', 'To: <sip:b@h;tag=uri>']),
    want: { toTag: undefined },
  },
  {
    name: 'To in addr-spec form with tag',
    text: crlf(['SIP/2.0 200 OK', 'To: sip:b@h;tag=abc']),
    want: { toTag: 'abc' },
  },
  {
    name: 'first Call-ID wins',
    text: crlf(['SIP/2.0 200 OK', 'Call-ID: first', 'i: second']),
    want: { callId: 'first' },
  },
  {
    name: 'CSeq without number still gives the method',
    text: crlf(['SIP/2.0 200 OK', 'CSeq: x OPTIONS']),
    want: { cseq: undefined, method: 'OPTIONS' },
  },
  {
    name: 'missing CSeq gives method ""',
    text: crlf(['SIP/2.0 200 OK', 'Call-ID: c']),
    want: { method: '', cseq: undefined },
  },
  {
    name: 'CSeq number beyond 32 bits is invalid',
    text: crlf(['SIP/2.0 200 OK', 'CSeq: 99999999999 INVITE']),
    want: { cseq: undefined, method: 'INVITE' },
  },
  { name: 'not SIP: HTTP', text: 'HTTP/1.1 200 OK\r\n\r\n', want: undefined },
  { name: 'not SIP: empty', text: '', want: undefined },
  { name: 'not SIP: only CRLF keep-alive', text: '\r\n\r\n', want: undefined },
  { name: 'not SIP: status line without code', text: 'SIP/2.0\r\n', want: undefined },
  { name: 'not SIP: text line', text: 'hello world\r\n', want: undefined },
  { name: 'not SIP: request line without version', text: 'INVITE sip:bob@h\r\n', want: undefined },
];

describe('parseSipMessage', () => {
  for (const row of rows) {
    it(row.name, () => {
      const got = parseSipMessage(row.text);
      if (row.want === undefined) {
        expect(got).toBeUndefined();
        return;
      }
      expect(got).toBeDefined();
      for (const [k, v] of Object.entries(row.want)) expect(got![k as keyof SipMessage], k).toEqual(v);
    });
  }

  it('parseSipBuffer reads a sub-range of a Buffer', () => {
    const payload = Buffer.from(RESPONSE_200, 'latin1');
    const buf = Buffer.concat([Buffer.from('garbage-before'), payload, Buffer.from('garbage-after')]);
    const m = parseSipBuffer(buf, 14, 14 + payload.length);
    expect(m?.code).toBe(200);
    expect(m?.callId).toBe('a84b4c76e66710@pc33.example.com');
  });

  it('scanSip reports offsets without allocating strings', () => {
    const buf = Buffer.from(RESPONSE_200, 'latin1');
    const s = new SipScan();
    expect(scanSip(buf, 0, buf.length, s)).toBe(true);
    expect(s.code).toBe(200);
    expect(s.methodName).toBe('INVITE');
    expect(buf.toString('latin1', s.callIdStart, s.callIdEnd)).toBe('a84b4c76e66710@pc33.example.com');
    expect(buf.toString('latin1', s.branchStart, s.branchEnd)).toBe('z9hG4bK-abc');
    expect(s.headerEnd).toBe(-1); // stopped once Via, From, To, Call-ID and CSeq were read
  });

  it('scanSip reads only the selected headers', () => {
    const buf = Buffer.from(RESPONSE_200, 'latin1');
    const s = new SipScan();
    expect(scanSip(buf, 0, buf.length, s, F_CALLID | F_CSEQ)).toBe(true);
    expect(s.callIdStart).toBeGreaterThan(0);
    expect(s.cseq).toBe(314159);
    expect(s.toTagStart).toBe(-1);
    expect(s.branchStart).toBe(-1);
  });

  it('isSipStartLine finds start lines', () => {
    const t = (s: string) => isSipStartLine(Buffer.from(s), 0, s.length);
    expect(t('SIP/2.0 200 OK\r\n')).toBe(true);
    expect(t('OPTIONS sip:x SIP/2.0\r\n')).toBe(true);
    expect(t('\x00\x00SIP/2.0 200')).toBe(false);
    expect(t('random bytes')).toBe(false);
  });

  it('status code validation matches parseStatusCode for every 1-4 character token', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 4, unit: fc.constantFrom(...'0123456789a7 '.split('')) }), (tok) => {
        fc.pre(!tok.includes(' '));
        const m = parseSipMessage(`SIP/2.0 ${tok} R\r\n\r\n`);
        expect(m?.code).toBe(parseStatusCode(tok));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on random or mutated input', () => {
    const base = Buffer.from(RESPONSE_200 + 'body', 'latin1');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        parseSipBuffer(bytes);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 20 }), fc.nat(base.length), (muts, cut) => {
        const b = Buffer.from(base);
        for (const [i, v] of muts) b[i] = v;
        const m = parseSipBuffer(b, 0, cut);
        if (m?.code !== undefined) expect(m.code).toBeGreaterThanOrEqual(100);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom('SIP/2.0 200 OK', 'Call-ID: x', ' cont', '\t', '', 'CSeq: 1 INVITE', 'To: <a;tag=b>;tag=c', '"', '<', ';tag=', ';branch='), { maxLength: 30 }), fc.constantFrom('\r\n', '\n', '\r'), (lines, eol) => {
        parseSipMessage(lines.join(eol));
      }),
      { numRuns: 3000 },
    );
  });
});
