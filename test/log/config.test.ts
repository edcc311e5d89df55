import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/config/load.js';
import { logSettings } from '../../src/sources/tail/index.js';

const yaml = (patterns: string): string => `log:\n  path: [/var/log/kamailio.log]\n  patterns:\n${patterns}`;

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('log config keys', () => {
  it('has safe defaults', () => {
    const c = resolveConfig({}).log;
    expect(c).toMatchObject({
      path: [],
      dialect: 'auto',
      'from-beginning': false,
      'position-file': '',
      'position-interval': 1000,
      'max-line-length': 65536,
      'poll-interval': 250,
      'rotate-wait': 5000,
      patterns: [],
    });
  });

  it('reads flags and environment variables', () => {
    const c = resolveConfig({
      flags: new Map([
        ['log.path', ['/a.log', '/logs/*.log']],
        ['log.from-beginning', ['true']],
        ['log.max-line-length', ['1MiB']],
      ]),
      env: { SIP_EXPORTER_LOG_POSITION_FILE: '/var/lib/sre/pos.json', SIP_EXPORTER_LOG_DIALECT: 'asterisk', SIP_EXPORTER_LOG_POLL_INTERVAL: '1s' },
    }).log;
    expect(c.path).toEqual(['/a.log', '/logs/*.log']);
    expect(c['from-beginning']).toBe(true);
    expect(c['max-line-length']).toBe(1024 * 1024);
    expect(c['position-file']).toBe('/var/lib/sre/pos.json');
    expect(c.dialect).toBe('asterisk');
    expect(c['poll-interval']).toBe(1000);
  });

  it('compiles custom patterns from the config file once', () => {
    const c = resolveConfig({
      fileText: yaml(`    - name: xlog-reply\n      regex: 'S=(?<code>\\d+) M=(?<method>\\S+)'\n      marker: 'S='\n    - name: ci\n      regex: 'status (?<code>\\d+) (?<reason>.*)'\n      flags: i\n`),
    }).log;
    expect(c.patterns.map((p) => [p.name, p.regex.source, p.regex.flags, p.marker])).toEqual([
      ['xlog-reply', 'S=(?<code>\\d+) M=(?<method>\\S+)', '', 'S='],
      ['ci', 'status (?<code>\\d+) (?<reason>.*)', 'i', undefined],
    ]);
  });

  it.each([
    [`    - name: broken\n      regex: '(?<code>\\d+'\n`, /log\.patterns \(config file\): invalid value .*: pattern "broken": invalid regular expression/],
    [`    - name: nocode\n      regex: 'S=(?<status>\\d+)'\n`, /pattern "nocode": needs a named group \(\?<code>/],
    [`    - name: typo\n      regex: '(?<code>\\d+) (?<callID>\\S+)'\n`, /pattern "typo": unknown named group "callID"/],
    [`    - regex: '(?<code>\\d+)'\n`, /item 0: name must be a non-empty string/],
    [`    - name: a\n      regex: '(?<code>\\d+)'\n    - name: a\n      regex: '(?<code>\\d+)'\n`, /pattern "a": duplicate name/],
    [`    - name: f\n      regex: '(?<code>\\d+)'\n      flags: g\n`, /pattern "f": flags may only contain i, m, s, u/],
    [`    - name: k\n      regex: '(?<code>\\d+)'\n      regexp: x\n`, /pattern "k": unknown key "regexp"/],
  ])('a bad pattern is a config error naming it (%#)', (patterns, message) => {
    expect(problems(() => resolveConfig({ fileText: yaml(patterns) }))).toMatch(message);
  });

  it('patterns are file-only; bad values are reported with the key', () => {
    expect(problems(() => resolveConfig({ flags: new Map([['log.patterns', ['x']]]) }))).toMatch(/unknown flag --log\.patterns/);
    expect(problems(() => resolveConfig({ flags: new Map([['log.dialect', ['syslog-ng']]]) }))).toMatch(/log\.dialect \(flag --log\.dialect\): invalid value "syslog-ng": must be one of auto, kamailio, opensips, asterisk, freeswitch, custom/);
    expect(problems(() => resolveConfig({ flags: new Map([['log.max-line-length', ['10']]]) }))).toMatch(/log\.max-line-length/);
  });

  it('settings for reload compare patterns by their text', () => {
    const one = resolveConfig({ fileText: yaml(`    - name: a\n      regex: 'x(?<code>\\d+)'\n`) });
    const same = resolveConfig({ fileText: yaml(`    - name: a\n      regex: 'x(?<code>\\d+)'\n`) });
    const other = resolveConfig({ fileText: yaml(`    - name: a\n      regex: 'y(?<code>\\d+)'\n`) });
    expect(JSON.stringify(logSettings(one))).toBe(JSON.stringify(logSettings(same)));
    expect(JSON.stringify(logSettings(one))).not.toBe(JSON.stringify(logSettings(other)));
  });
});
