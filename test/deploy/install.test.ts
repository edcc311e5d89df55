import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/daemon.js';
import { poll } from '../helpers/poll.js';

/**
 * The package as users get it: `npm pack` (what `npm publish` would upload), installed with
 * `npm install -g` into a temporary prefix and run with `npx`; the systemd unit pointed at that
 * install and checked by systemd-analyze (verify and the offline security rating) where systemd is
 * present, structurally everywhere.
 */
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
const env = { ...process.env, PATH, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
let tmp: string;
let tarball: string;
let bin: string;
let packedFiles: string[] = [];

function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, env, encoding: 'utf8', timeout: opts.timeout ?? 120_000 });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', all: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sip-exporter-install-'));
  // Runs `prepack` (the TypeScript build), exactly as publishing would.
  const pack = run('npm', ['pack', '--json', '--pack-destination', tmp]);
  expect(pack.code, pack.all).toBe(0);
  const info = JSON.parse(pack.out.slice(pack.out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(tmp, info[0]!.filename);
  packedFiles = info[0]!.files.map((f) => f.path);
  const inst = run('npm', ['install', '-g', '--prefix', join(tmp, 'prefix'), '--prefer-offline', tarball], { timeout: 300_000 });
  expect(inst.code, inst.all).toBe(0);
  bin = join(tmp, 'prefix/bin/sip-response-exporter');
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('npm package', () => {
  it('ships the compiled CLI, the catalogue and the dashboards, not the sources or tests', () => {
    const files = packedFiles;
    for (const f of ['package.json', 'bin/sip-response-exporter.js', 'dist/src/cli/main.js', 'data/catalogue.json', 'data/catalogue.schema.json']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('node_modules/'))).toEqual([]);
  });

  it('npm install -g gives a working sip-response-exporter command', () => {
    expect(existsSync(bin)).toBe(true);
    const v = run(bin, ['--version']);
    expect(v.code, v.all).toBe(0);
    expect(v.out).toMatch(new RegExp(`^sip-response-exporter ${PKG.version.replace(/\./g, '\\.')} \\(node v`));
    const e = run(bin, ['explain', '486']);
    expect(e.code, e.all).toBe(0);
    expect(e.out).toMatch(/^486 Busy Here\n/);
  });

  it('the installed daemon starts and answers /-/healthy', async () => {
    const p = spawn(bin, ['--web.listen-address=127.0.0.1:0', '--hep.listen-address=', '--syslog.listen-address='], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      const web = await poll(() => /"msg":"sip-response-exporter started"/.test(out) && (/"web":"([^"]+)"/.exec(out)?.[1] ?? false), 'installed daemon start-up');
      const res = await fetch(`http://${web}/-/healthy`);
      expect(res.status).toBe(200);
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.on('exit', r));
    }
  });

  it('npx runs it straight from the package', () => {
    // A cache of its own, so nothing is left in the user's npx cache.
    const r = run('npm', ['exec', '--yes', '--cache', join(tmp, 'npx-cache'), `--package=${tarball}`, '--', 'sip-response-exporter', 'explain', '503'], { timeout: 300_000 });
    expect(r.code, r.all).toBe(0);
    expect(r.out).toMatch(/^503 Service Unavailable\n/);
  });

  it('the systemd example config is valid for the installed version', () => {
    const r = run(bin, ['check-config', join(ROOT, 'deploy/systemd/config.yml')]);
    expect(r.code, r.all).toBe(0);
  });
});

describe('systemd unit', () => {
  const UNIT = join(ROOT, 'deploy/systemd/sip-response-exporter.service');
  const text = readFileSync(UNIT, 'utf8');
  const directives = (name: string): string[] =>
    text.split('\n').filter((l) => l.startsWith(`${name}=`)).map((l) => l.slice(name.length + 1));

  it('runs the npm-installed command with the config file, reloads on SIGHUP, stops on SIGTERM', () => {
    expect(directives('ExecStart')).toEqual(['/usr/local/bin/sip-response-exporter --config=/etc/sip-response-exporter/config.yml']);
    expect(directives('ExecStartPre')).toEqual(['/usr/local/bin/sip-response-exporter check-config /etc/sip-response-exporter/config.yml']);
    expect(directives('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(directives('KillSignal')).toEqual(['SIGTERM']);
    // longer than the exporter's own general.shutdown-timeout default (10s)
    expect(Number(/^(\d+)s$/.exec(directives('TimeoutStopSec')[0] ?? '')?.[1])).toBeGreaterThan(10);
  });

  it('is hardened, without breaking Node', () => {
    for (const [k, v] of Object.entries({
      DynamicUser: 'yes',
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      RestrictNamespaces: 'yes',
      SystemCallArchitectures: 'native',
      StateDirectory: 'sip-response-exporter',
    })) {
      expect(directives(k), k).toContain(v);
    }
    // V8's JIT needs W+X memory: MemoryDenyWriteExecute=yes would kill node at start-up.
    expect(directives('MemoryDenyWriteExecute').filter((v) => v === 'yes')).toEqual([]);
    // a syscall filter that returns EPERM rather than killing the process
    expect(directives('SystemCallErrorNumber')).toEqual(['EPERM']);
  });

  it('passes systemd-analyze verify and rates OK in systemd-analyze security', () => {
    // scripts/install-test-deps.sh installs systemd; a missing tool fails the test instead of skipping it.
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    expect(probe.error, 'systemd-analyze is missing (Debian package systemd)').toBeUndefined();
    // The unit, pointed at the package installed above (verify insists the commands exist).
    const dir = mkdtempSync(join(tmp, 'unit-'));
    const unit = join(dir, 'sip-response-exporter.service');
    writeFileSync(unit, text.replaceAll('/usr/local/bin/sip-response-exporter', bin));
    const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', cwd: dir });
    expect(verify.status, `${verify.stdout}${verify.stderr}`).toBe(0);
    expect(`${verify.stdout}${verify.stderr}`.trim()).toBe('');
    // Exposure 0.0 (best) to 10.0; --threshold is in tenths. Ours rates 1.6 ("OK").
    const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '--no-pager', unit], { encoding: 'utf8', cwd: dir });
    expect(sec.status, `${sec.stdout}${sec.stderr}`).toBe(0);
    const level = /Overall exposure level for \S+: (\d+\.\d+)/.exec(sec.stdout)?.[1];
    expect(Number(level)).toBeLessThanOrEqual(2.0);
  });
});
