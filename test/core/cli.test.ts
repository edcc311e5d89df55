import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, startDaemon } from '../helpers/daemon.js';
import { sum } from '../helpers/metrics.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('command line', () => {
  it('--help lists commands and every flag with its default', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--config', '--web.listen-address', '--hep.listen-address', '--syslog.listen-address', '--log.path', '--log.dialect']) {
      expect(r.out).toContain(flag);
    }
    expect(r.out).toContain('explain CODE');
    expect(r.out).toContain('check-config FILE');
    expect(r.out).toContain('(default: 0.0.0.0:9468)');
  });

  it('--version prints the package version', () => {
    const r = cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^sip-response-exporter \d+\.\d+\.\d+ \(node v\d+/);
  });

  it('explain 486 gives class, reason, meaning, causes, actions and RFC', () => {
    const r = cli(['explain', '486']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^486 Busy Here\n/);
    expect(r.out).toContain('class:    4xx Client Failure');
    expect(r.out).toContain('RFC 3261');
    expect(r.out).toContain('Meaning: ');
    expect(r.out).toContain('Likely causes:\n  - ');
    expect(r.out).toContain('What to check or do:\n  - ');
  });

  it('explain of an uncatalogued valid code says what its class means', () => {
    const r = cli(['explain', '478']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('478 (not in the catalogue)');
    expect(r.out).toContain('handled as 400 Bad Request');
  });

  it.each(['700', '099', 'abc', '2000'])('explain %s is an error', (bad) => {
    const r = cli(['explain', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('is not a SIP status code');
  });

  it('check-config accepts a good file and names the key and value in a bad one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const good = join(dir, 'good.yml');
    writeFileSync(good, 'web:\n  listen-address: "127.0.0.1:9999"\nlog:\n  path: [/var/log/kamailio.log]\n');
    expect(cli(['check-config', good])).toMatchObject({ code: 0, out: `${good}: configuration is valid\n` });
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, 'hep:\n  listen-address: "nowhere"\nweb:\n  colour: blue\n');
    const r = cli(['check-config', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('hep.listen-address (config file): invalid value "nowhere"');
    expect(r.err).toContain('unknown key "web.colour" in config file');
  });

  it('refuses to start with a bad flag, naming it', () => {
    const r = cli(['--web.listen-adress=:1']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown flag --web.listen-adress (did you mean "web.listen-address"?)');
  });
});

describe('daemon', () => {
  it('starts with the defaults, serves /metrics and shuts down gracefully on SIGTERM', async () => {
    // No flags at all: the documented defaults (HTTP :9468, HEP 127.0.0.1:9060, syslog 127.0.0.1:5514).
    const d = await startDaemon([], {}, { productDefaults: true });
    try {
      expect(d.addresses.web).toBe('0.0.0.0:9468');
      const res = await fetch('http://127.0.0.1:9468/metrics');
      expect(res.status).toBe(200);
      const samples = await d.metrics();
      expect(sum(samples, 'sip_exporter_build_info')).toBe(1);
      expect(sum(samples, 'sip_response_code_info')).toBe(77);
    } finally {
      expect(await d.stop('SIGTERM')).toBe(0);
    }
    expect(d.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });
});
