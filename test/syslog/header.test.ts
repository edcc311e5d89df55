import { describe, expect, it } from 'vitest';
import { appNameFilter, parseSyslogMessage, type SyslogMessage } from '../../src/parse/syslog/header.js';

const ACC =
  'NOTICE: acc [acc.c:317]: acc_log_request(): ACC: request accounted: timestamp=1504783013;method=OPTIONS;from_tag=eUC9UgGrD;to_tag=j90H6yy5pU6Xc;call_id=2xJd0KCt-P;code=200;reason=OK';

type Want = Partial<SyslogMessage>;

describe('RFC 5424 headers', () => {
  const table: [string, string, Want][] = [
    [
      'RFC 5424 6.5 example 1 (BOM before MSG)',
      "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \uFEFF'su root' failed for lonvick on /dev/pts/8",
      { format: 'rfc5424', pri: 34, timestamp: '2003-10-11T22:14:15.003Z', hostname: 'mymachine.example.com', appName: 'su', procId: '', msgId: 'ID47', structuredData: '', msg: "'su root' failed for lonvick on /dev/pts/8" },
    ],
    [
      'example 2 (microseconds, offset, no MSGID)',
      "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
      { pri: 165, hostname: '192.0.2.1', appName: 'myproc', procId: '8710', msgId: '', msg: "%% It's time to make the do-nuts." },
    ],
    [
      'example 3 (structured data, BOM)',
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \uFEFFAn application event log entry...',
      { appName: 'evntslog', structuredData: '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]', msg: 'An application event log entry...' },
    ],
    [
      'example 4 (two SD elements, no MSG)',
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
      { structuredData: '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]', msg: '' },
    ],
    [
      'escaped quote, backslash and bracket inside a PARAM-VALUE',
      '<13>1 - - app - - [id@1 a="x\\"]y" b="c\\\\"] text',
      { structuredData: '[id@1 a="x\\"]y" b="c\\\\"]', msg: 'text' },
    ],
    ['all NILVALUEs', '<0>1 - - - - - -', { pri: 0, timestamp: '', hostname: '', appName: '', procId: '', msgId: '', msg: '' }],
    [
      'rsyslog RSYSLOG_SyslogProtocol23Format carrying a Kamailio acc record',
      `<133>1 2024-05-02T10:11:12.123456+00:00 sip kamailio 796 - - ${ACC}`,
      { pri: 133, appName: 'kamailio', procId: '796', msg: ACC },
    ],
    ['version 2 is still RFC 5424 syntax', '<13>2 - h a - - - m', { format: 'rfc5424', msg: 'm' }],
    ['MSG keeps its spaces and multi-line text', '<13>1 - h a - - -  two\nlines ', { msg: ' two\nlines ' }],
  ];
  it.each(table)('%s', (_name, text, want) => {
    expect(parseSyslogMessage(text)).toMatchObject(want);
  });

  const errors: [string, string, string][] = [
    ['missing fields', '<13>1 2003-10-11T22:14:15Z host', 'bad_header'],
    ['two spaces (empty field)', '<13>1 2003-10-11T22:14:15Z  host app - - - m', 'bad_header'],
    ['control character in a field', '<13>1 - ho\x01st app - - - m', 'bad_header'],
    ['APP-NAME longer than 48', `<13>1 - h ${'a'.repeat(49)} - - - m`, 'bad_header'],
    ['SD not closed', '<13>1 - h a - - [id a="1" m', 'bad_structured_data'],
    ['SD value not quoted', '<13>1 - h a - - [id a=1] m', 'bad_structured_data'],
    ['SD without id', '<13>1 - h a - - [] m', 'bad_structured_data'],
    ['SD neither - nor [', '<13>1 - h a - - x m', 'bad_structured_data'],
    ['no space after SD', '<13>1 - h a - - -m', 'bad_structured_data'],
    ['PRI over 191', '<192>1 - h a - - - m', 'bad_pri'],
    ['PRI not a number', '<ab>Oct 11 00:14:05 host su: x', 'bad_pri'],
    ['PRI not closed', '<13 Oct', 'bad_pri'],
    ['PRI with four digits', '<0013>x', 'bad_pri'],
    ['empty PRI', '<>x', 'bad_pri'],
    ['only <', '<', 'bad_pri'],
  ];
  it.each(errors)('%s -> %s', (_name, text, reason) => {
    expect(parseSyslogMessage(text)).toEqual({ error: reason });
  });
});

describe('RFC 3164 headers as real senders write them', () => {
  const table: [string, string, Want][] = [
    [
      'RFC 3164 example',
      "<34>Oct 11 00:14:05 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
      { format: 'rfc3164', pri: 34, timestamp: 'Oct 11 00:14:05', hostname: 'mymachine', appName: 'su', procId: '', msg: "'su root' failed for lonvick on /dev/pts/8" },
    ],
    [
      'space-padded day, IP host, tag without colon',
      '<13>Feb  5 17:32:18 10.0.0.99 myTag Use the BFG!',
      { timestamp: 'Feb  5 17:32:18', hostname: '10.0.0.99', appName: 'myTag', msg: 'Use the BFG!' },
    ],
    [
      'Kamailio acc via rsyslog (input-formats B.6): path tag with pid',
      `<29>Sep  7 07:16:53 sip /usr/local/sbin/kamailio[29264]: ${ACC}`,
      { pri: 29, hostname: 'sip', appName: '/usr/local/sbin/kamailio', procId: '29264', msg: ACC },
    ],
    [
      'missing hostname, tag with pid',
      '<30>Jan 12 12:52:20 /usr/sbin/kamailio[796]: DEBUG: tm [t_reply.c:1232]: x',
      { hostname: '', appName: '/usr/sbin/kamailio', procId: '796', msg: 'DEBUG: tm [t_reply.c:1232]: x' },
    ],
    ['missing hostname, tag with colon only', '<30>Jan 12 12:52:20 kamailio: NOTICE: x', { hostname: '', appName: 'kamailio', msg: 'NOTICE: x' }],
    [
      'journald-style stderr line behind the tag',
      '<30>Aug 11 00:06:11 c4-proxy-1 kamailio: 20(1926) DEBUG: <core> [core/receive.c:246]: receive_msg(): x',
      { hostname: 'c4-proxy-1', appName: 'kamailio', msg: '20(1926) DEBUG: <core> [core/receive.c:246]: receive_msg(): x' },
    ],
    ['unpadded single-digit day', '<13>Feb 5 17:32:18 host prog: m', { timestamp: 'Feb 5 17:32:18', hostname: 'host', appName: 'prog', msg: 'm' }],
    ['fraction and year (Cisco style)', '<189>Mar  1 2024 18:46:11.123: host prog: m', { timestamp: 'Mar  1 2024 18:46:11.123', hostname: 'host', appName: 'prog', msg: 'm' }],
    [
      'RFC 3339 timestamp in a traditional header (rsyslog high-precision templates)',
      '<29>2024-05-02T10:11:12.123456+02:00 sip kamailio[7]: NOTICE: x',
      { timestamp: '2024-05-02T10:11:12.123456+02:00', hostname: 'sip', appName: 'kamailio', procId: '7', msg: 'NOTICE: x' },
    ],
    ['IPv6 host', '<13>Feb  5 17:32:18 2001:db8::1 prog[1]: m', { hostname: '2001:db8::1', appName: 'prog', procId: '1', msg: 'm' }],
    ['tag directly followed by text', '<13>Feb  5 17:32:18 host prog:m', { appName: 'prog', msg: 'm' }],
    ['no tag at all (text starts with a space)', '<13>Feb  5 17:32:18 host  7(5837) NOTICE: x', { hostname: 'host', appName: '', msg: ' 7(5837) NOTICE: x' }],
    ['no timestamp, program[pid]: tag', '<29>kamailio[12]: NOTICE: x', { timestamp: '', hostname: '', appName: 'kamailio', procId: '12', msg: 'NOTICE: x' }],
    ['no timestamp, no tag: all text (a level is not a tag)', '<29>NOTICE: acc x', { appName: '', msg: 'NOTICE: acc x' }],
    ['PRI only', '<13>', { format: 'rfc3164', pri: 13, msg: '' }],
    ['tag longer than 128 characters is not a tag', `<13>Feb  5 17:32:18 host ${'t'.repeat(200)}: m`, { appName: '', msg: `${'t'.repeat(200)}: m` }],
    ['unclosed [pid]', '<13>Feb  5 17:32:18 host prog[12 m', { appName: '', msg: 'prog[12 m' }],
    ['digit not followed by space is not a VERSION', '<13>1x host', { format: 'rfc3164', msg: '1x host' }],
  ];
  it.each(table)('%s', (_name, text, want) => {
    expect(parseSyslogMessage(text)).toMatchObject(want);
  });

  it('text without PRI is bare text', () => {
    expect(parseSyslogMessage(`Sep  7 07:16:53 sip kamailio[1]: ${ACC}`)).toMatchObject({ format: 'none', pri: -1, msg: `Sep  7 07:16:53 sip kamailio[1]: ${ACC}` });
    expect(parseSyslogMessage('')).toMatchObject({ format: 'none', msg: '' });
  });
});

describe('app-name filter', () => {
  it('passes everything without names', () => {
    expect(appNameFilter([])).toBeUndefined();
  });
  it('matches the program or its last path element', () => {
    const f = appNameFilter(['kamailio', 'asterisk'])!;
    expect(f('kamailio')).toBe(true);
    expect(f('/usr/sbin/kamailio')).toBe(true);
    expect(f('asterisk')).toBe(true);
    expect(f('kamailio2')).toBe(false);
    expect(f('/usr/sbin/opensips')).toBe(false);
    expect(f('')).toBe(false);
  });
  it('can match a full path exactly', () => {
    const f = appNameFilter(['/usr/local/sbin/kamailio'])!;
    expect(f('/usr/local/sbin/kamailio')).toBe(true);
    expect(f('kamailio')).toBe(false);
  });
});
