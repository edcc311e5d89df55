import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { parseBytes, parseDuration, parseListenAddress } from '../../src/config/parsers.js';
import { flags, problems } from '../helpers/config.js';

describe('resolveConfig', () => {
  it('has working defaults', () => {
    const c = resolveConfig({});
    expect(c.web['listen-address']).toEqual({ host: '0.0.0.0', port: 9468 });
    expect(c.hep['listen-address']).toEqual({ host: '127.0.0.1', port: 9060 });
    expect(c.syslog['listen-address']).toEqual({ host: '127.0.0.1', port: 5514 });
    expect(c.log.path).toEqual([]);
    expect(c.log.dialect).toBe('auto');
    expect(c.logging.level).toBe('info');
  });

  it('applies flag > environment > file > default per key', () => {
    const fileText = 'web:\n  listen-address: "127.0.0.1:1111"\n  telemetry-path: /file\nlogging:\n  level: debug\nhep:\n  listen-address: "127.0.0.1:3333"\n';
    const env = { SIP_EXPORTER_WEB_LISTEN_ADDRESS: '127.0.0.1:2222', SIP_EXPORTER_HEP_LISTEN_ADDRESS: '' };
    const c = resolveConfig({ fileText, env, flags: flags({ 'web.listen-address': '127.0.0.1:4444' }) });
    expect(c.web['listen-address']).toEqual({ host: '127.0.0.1', port: 4444 }); // flag wins
    expect(c.hep['listen-address']).toBeNull(); // env "" beats the file and disables HEP
    expect(c.web['telemetry-path']).toBe('/file'); // file beats default
    expect(c.logging.level).toBe('debug');
    expect(c.syslog['listen-address']).toEqual({ host: '127.0.0.1', port: 5514 }); // default
  });

  it('collects repeatable flags and comma-separated env lists', () => {
    expect(resolveConfig({ flags: flags({ 'log.path': ['/a.log', '/b/*.log'] }) }).log.path).toEqual(['/a.log', '/b/*.log']);
    expect(resolveConfig({ env: { SIP_EXPORTER_LOG_PATH: '/a.log, /c.log' } }).log.path).toEqual(['/a.log', '/c.log']);
    expect(resolveConfig({ fileText: 'log:\n  path: [/x.log]\n' }).log.path).toEqual(['/x.log']);
  });

  it('names the key, where it came from and the bad value', () => {
    expect(problems(() => resolveConfig({ flags: flags({ 'web.listen-address': 'nonsense' }) }))).toEqual([
      'web.listen-address (flag --web.listen-address): invalid value "nonsense": expected HOST:PORT, :PORT, [IPv6]:PORT or "" to disable',
    ]);
    expect(problems(() => resolveConfig({ env: { SIP_EXPORTER_HEP_LISTEN_ADDRESS: '127.0.0.1:70000' } }))).toEqual([
      'hep.listen-address (environment SIP_EXPORTER_HEP_LISTEN_ADDRESS): invalid value "127.0.0.1:70000": port 70000 is outside 0-65535',
    ]);
    expect(problems(() => resolveConfig({ fileText: 'log:\n  dialect: cisco\n' }))).toEqual([
      'log.dialect (config file): invalid value "cisco": must be one of auto, kamailio, opensips, asterisk, freeswitch, custom',
    ]);
  });

  it('rejects unknown keys everywhere, with a suggestion for near misses', () => {
    expect(problems(() => resolveConfig({ fileText: 'web:\n  listen_address: ":1"\n' }))).toEqual([
      'unknown key "web.listen_address" in config file (did you mean "web.listen-address"?)',
    ]);
    expect(problems(() => resolveConfig({ fileText: 'hepp:\n  x: 1\n' }))[0]).toMatch(/^unknown section "hepp" in config file \(did you mean "hep"\?\)$/);
    expect(problems(() => resolveConfig({ flags: flags({ 'hep.listen-adress': ':1' }) }))[0]).toBe(
      'unknown flag --hep.listen-adress (did you mean "hep.listen-address"?)',
    );
    expect(problems(() => resolveConfig({ env: { SIP_EXPORTER_WEB_PORT: '1' } }))[0]).toBe('unknown environment variable SIP_EXPORTER_WEB_PORT');
  });

  it('reports every problem at once, and broken YAML with its line', () => {
    expect(problems(() => resolveConfig({ fileText: 'web:\n  listen-address: x\nlogging:\n  level: loud\n' }))).toHaveLength(2);
    expect(problems(() => resolveConfig({ fileText: 'web:\n  listen-address: [\n' }))[0]).toMatch(/^config file is not valid YAML at line \d+/);
    expect(problems(() => resolveConfig({ fileText: '- a\n- b\n' }))[0]).toMatch(/must be a YAML mapping/);
    expect(problems(() => resolveConfig({ file: '/nonexistent/x.yml' }))[0]).toBe('cannot read config file /nonexistent/x.yml: ENOENT');
  });
});

describe('value parsers', () => {
  it.each([
    [':9468', { host: '0.0.0.0', port: 9468 }],
    ['127.0.0.1:9060', { host: '127.0.0.1', port: 9060 }],
    ['[::1]:9060', { host: '::1', port: 9060 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['', null],
  ])('listen address %j', (text, want) => {
    expect(parseListenAddress(text)).toEqual({ ok: true, value: want });
  });
  it.each(['9060', '1.2.3.4', ':99999', '::1:9060', 'a b:1'])('bad listen address %j', (text) => {
    expect(parseListenAddress(text).ok).toBe(false);
  });
  it('parses durations and sizes', () => {
    expect(parseDuration('32s')).toEqual({ ok: true, value: 32_000 });
    expect(parseDuration('1m30s')).toEqual({ ok: true, value: 90_000 });
    expect(parseDuration('250ms')).toEqual({ ok: true, value: 250 });
    expect(parseDuration('5').ok).toBe(false);
    expect(parseDuration('5 s').ok).toBe(false);
    expect(parseBytes('4MiB')).toEqual({ ok: true, value: 4 * 1024 * 1024 });
    expect(parseBytes('64kb')).toEqual({ ok: true, value: 64_000 });
    expect(parseBytes('12xb').ok).toBe(false);
  });
});
