/**
 * From a framed syslog message to counted responses, without sockets: header, app-name filter, rsyslog
 * escapes, per-sender dialect streams, error accounting.
 */
import { describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/classify/catalogue.js';
import { resolveConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { Pipeline } from '../../src/pipeline.js';
import { SyslogSource } from '../../src/sources/syslog/source.js';
import { parseExposition } from '../helpers/metrics.js';
import { acc3164, acc5424, accRecord, metric, syslogCounts } from './util.js';

const catalogue = Catalogue.load();

function setup(flags: Record<string, string[]> = {}): { src: SyslogSource; p: Pipeline; send: (m: string, peer?: string) => void; samples: () => Promise<ReturnType<typeof parseExposition>> } {
  const config = resolveConfig({ flags: new Map(Object.entries(flags)), env: {} });
  const p = new Pipeline(catalogue);
  p.enableSource('syslog');
  const src = new SyslogSource({ config, pipeline: p, logger: createLogger('silent') });
  return {
    src,
    p,
    send: (m, peer = '192.0.2.1') => src.message(Buffer.from(m), 'udp', peer),
    samples: async () => parseExposition(await p.exposition()),
  };
}

/** An Asterisk PJSIP logger record as Asterisk's syslog channel writes it, multi-line. */
function pjsipRecord(code: string, method: string, cseq: number): string {
  return [
    'VERBOSE[14471]: res_pjsip_logger.c:112 in pjsip_log_msg: <--- Received SIP response (412 bytes) from UDP:3.80.16.87:5060 --->',
    `SIP/2.0 ${code}`,
    'Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKPj1',
    'From: <sip:100@10.0.0.5>;tag=a1',
    'To: <sip:200@3.80.16.87>;tag=b2',
    `Call-ID: pj-${cseq}@10.0.0.5`,
    `CSeq: ${cseq} ${method}`,
    'Content-Length:  0',
    '',
    '',
  ].join('\n');
}

describe('syslog messages to counted responses', () => {
  it('counts Kamailio acc records in RFC 3164 and RFC 5424 messages', async () => {
    const { send, samples } = setup();
    send(acc3164('INVITE', 486, 'Busy Here', 1));
    send(acc5424('INVITE', 200, 'OK', 2));
    send(acc5424('BYE', 200, 'OK', 3));
    send('<30>Sep  7 07:16:53 sip kamailio[1]: INFO: <core> [main.c:1]: nothing to count here');
    expect(syslogCounts(await samples())).toEqual({ 'code=486,method=INVITE': 1, 'code=200,method=INVITE': 1, 'code=200,method=BYE': 1 });
  });

  it('un-escapes rsyslog #012 so a multi-line Asterisk PJSIP record still parses', async () => {
    const { send, samples } = setup();
    const escaped = pjsipRecord('503 Service Unavailable', 'OPTIONS', 51929).replace(/\n/g, '#012');
    send(`<30>May  2 10:11:12 pbx asterisk[1234]: ${escaped}`);
    // The same record with real newlines (octet-counted TCP keeps them).
    send(`<30>1 2024-05-02T10:11:12Z pbx asterisk 1234 - - ${pjsipRecord('200 OK', 'REGISTER', 7)}`);
    expect(syslogCounts(await samples())).toEqual({ 'code=503,method=OPTIONS': 1, 'code=200,method=REGISTER': 1 });
  });

  it('assembles a block a sender forwards line by line, per sender, even when senders interleave', async () => {
    const { send, samples } = setup();
    const a = pjsipRecord('486 Busy Here', 'INVITE', 1).split('\n');
    const b = pjsipRecord('404 Not Found', 'INVITE', 2).split('\n');
    for (let i = 0; i < a.length; i++) {
      send(`<30>May  2 10:11:12 pbx-a asterisk[1]: ${a[i]}`);
      send(`<30>May  2 10:11:12 pbx-b asterisk[1]: ${b[i]}`);
    }
    expect(syslogCounts(await samples())).toEqual({ 'code=486,method=INVITE': 1, 'code=404,method=INVITE': 1 });
  });

  it('completes a line-by-line block after the sender goes quiet', async () => {
    const { src, send, samples } = setup();
    const lines = pjsipRecord('480 Temporarily Unavailable', 'INVITE', 9).split('\n').slice(0, 7); // no blank line at the end
    for (const l of lines) send(`<30>May  2 10:11:12 pbx asterisk[1]: ${l}`);
    expect(syslogCounts(await samples())).toEqual({});
    (src as unknown as { streams: { sweep(now: number): void } }).streams.sweep(Date.now() + 5000);
    expect(syslogCounts(await samples())).toEqual({ 'code=480,method=INVITE': 1 });
  });

  it('a message without any header is parsed as text', async () => {
    const { send, samples } = setup();
    send(accRecord('OPTIONS', 200, 'OK', 1));
    expect(syslogCounts(await samples())).toEqual({ 'code=200,method=OPTIONS': 1 });
  });

  it('header errors are counted and dropped; dialect errors are parse errors', async () => {
    const { send, samples } = setup();
    send('<999>Sep  7 07:16:53 sip kamailio[1]: ' + accRecord('INVITE', 200, 'OK', 1));
    send('<29>1 - sip kamailio - - [broken ' + accRecord('INVITE', 200, 'OK', 2));
    send('<29>Sep  7 07:16:53 sip kamailio[1]: ' + accRecord('INVITE', 200, 'OK', 3).replace('code=200', 'code=999'));
    const s = await samples();
    expect(syslogCounts(s)).toEqual({});
    expect(metric(s, 'sip_exporter_syslog_header_errors_total', { reason: 'bad_pri', transport: 'udp' })).toBe(1);
    expect(metric(s, 'sip_exporter_syslog_header_errors_total', { reason: 'bad_structured_data', transport: 'udp' })).toBe(1);
    expect(metric(s, 'sip_exporter_dropped_total', { source: 'syslog', reason: 'bad_pri' })).toBe(1);
    expect(metric(s, 'sip_exporter_dropped_total', { source: 'syslog', reason: 'bad_structured_data' })).toBe(1);
    expect(metric(s, 'sip_exporter_parse_errors_total', { source: 'syslog', reason: 'invalid_code' })).toBe(1);
    expect(metric(s, 'sip_exporter_syslog_messages_total', { transport: 'udp' })).toBe(3);
  });

  it('app-name filter: only the named programs are parsed, the rest counted as filtered', async () => {
    const { send, samples } = setup({ 'syslog.app-name': ['kamailio', 'asterisk'] });
    send(acc3164('INVITE', 486, 'Busy Here', 1)); // tag /usr/local/sbin/kamailio[29264]:
    send(acc5424('INVITE', 200, 'OK', 2)); // APP-NAME kamailio
    send(`<29>Sep  7 07:16:53 sip opensips[9]: ${accRecord('INVITE', 500, 'Server Internal Error', 3)}`);
    send(`<29>1 - sip kamailio-test 1 - - ${accRecord('INVITE', 503, 'Service Unavailable', 4)}`);
    send(accRecord('INVITE', 404, 'Not Found', 5)); // no header, no program
    const s = await samples();
    expect(syslogCounts(s)).toEqual({ 'code=486,method=INVITE': 1, 'code=200,method=INVITE': 1 });
    expect(metric(s, 'sip_exporter_syslog_filtered_messages_total')).toBe(3);
  });

  it('syslog.dialect selects the dialect; inherit follows log.dialect', async () => {
    const pj = `<30>May  2 10:11:12 pbx asterisk[1]: ${pjsipRecord('486 Busy Here', 'INVITE', 1).replace(/\n/g, '#012')}`;
    const acc = acc3164('INVITE', 200, 'OK', 1);
    for (const [flags, want] of [
      [{ 'syslog.dialect': ['kamailio'] }, { 'code=200,method=INVITE': 1 }],
      [{ 'log.dialect': ['asterisk'] }, { 'code=486,method=INVITE': 1 }],
      [{ 'log.dialect': ['asterisk'], 'syslog.dialect': ['auto'] }, { 'code=200,method=INVITE': 1, 'code=486,method=INVITE': 1 }],
    ] as const) {
      const { send, samples } = setup(flags as unknown as Record<string, string[]>);
      send(pj);
      send(acc);
      expect(syslogCounts(await samples()), JSON.stringify(flags)).toEqual(want);
    }
  });

  it('a flood of distinct senders keeps memory bounded', () => {
    const { src, send } = setup();
    for (let i = 0; i < 5000; i++) send(`<29>Sep  7 07:16:53 host-${i} kamailio[1]: x`);
    expect((src as unknown as { streams: { size: number } }).streams.size).toBeLessThanOrEqual(1024);
  });
});
