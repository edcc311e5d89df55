import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../e2e/harness/proc.js';
import { ROOT, startDaemon } from '../helpers/daemon.js';

/**
 * The image's HEALTHCHECK script (deploy/container/healthcheck.mjs), laid out as in the image (next
 * to dist/ and node_modules/), against real daemons: plain HTTP, an address from the config file,
 * TLS, TLS requiring client certificates, nothing listening, web server disabled. The image itself
 * runs it in container.test.ts.
 */
let dir: string;
const file = (n: string): string => join(dir, n);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sip-exporter-healthcheck-'));
  copyFileSync(join(ROOT, 'deploy/container/healthcheck.mjs'), file('healthcheck.mjs'));
  symlinkSync(join(ROOT, 'dist'), file('dist'));
  symlinkSync(join(ROOT, 'node_modules'), file('node_modules'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-keyout', file('tls.key'), '-out', file('tls.crt')], { stdio: 'ignore' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function healthcheck(env: Record<string, string>): { code: number | null; out: string } {
  // Only what the container would have: no SIP_EXPORTER_* from the test runner's environment.
  const r = spawnSync(process.execPath, [file('healthcheck.mjs')], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('container HEALTHCHECK script', () => {
  it('passes against a running exporter on the address from the environment', async () => {
    const d = await startDaemon(['--web.listen-address=127.0.0.1:0']);
    try {
      const r = healthcheck({ SIP_EXPORTER_WEB_LISTEN_ADDRESS: d.addresses.web! });
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`http://${d.addresses.web}/-/healthy: 200`);
    } finally {
      await d.stop();
    }
  });

  it('finds the address in the config file SIP_EXPORTER_CONFIG names', async () => {
    const port = await freePort('tcp');
    const d = await startDaemon([`--web.listen-address=0.0.0.0:${port}`]);
    try {
      writeFileSync(file('config.yml'), `web:\n  listen-address: "0.0.0.0:${port}"\n`);
      const r = healthcheck({ SIP_EXPORTER_CONFIG: file('config.yml') });
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`http://127.0.0.1:${port}/-/healthy: 200`);
    } finally {
      await d.stop();
    }
  });

  it('speaks TLS when web.config-file enables it', async () => {
    writeFileSync(file('web-tls.yml'), `tls_server_config:\n  cert_file: ${file('tls.crt')}\n  key_file: ${file('tls.key')}\n`);
    const d = await startDaemon(['--web.listen-address=127.0.0.1:0', `--web.config-file=${file('web-tls.yml')}`]);
    try {
      const r = healthcheck({ SIP_EXPORTER_WEB_LISTEN_ADDRESS: d.addresses.web!, SIP_EXPORTER_WEB_CONFIG_FILE: file('web-tls.yml') });
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`https://${d.addresses.web}/-/healthy: 200`);
    } finally {
      await d.stop();
    }
  });

  it('counts a handshake refused for want of a client certificate as alive', async () => {
    writeFileSync(
      file('web-mtls.yml'),
      `tls_server_config:\n  cert_file: ${file('tls.crt')}\n  key_file: ${file('tls.key')}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${file('tls.crt')}\n`,
    );
    const d = await startDaemon(['--web.listen-address=127.0.0.1:0', `--web.config-file=${file('web-mtls.yml')}`]);
    try {
      const r = healthcheck({ SIP_EXPORTER_WEB_LISTEN_ADDRESS: d.addresses.web!, SIP_EXPORTER_WEB_CONFIG_FILE: file('web-mtls.yml') });
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain('server is up');
    } finally {
      await d.stop();
    }
  });

  it('fails when nothing answers', async () => {
    const port = await freePort('tcp');
    const r = healthcheck({ SIP_EXPORTER_WEB_LISTEN_ADDRESS: `127.0.0.1:${port}` });
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('ECONNREFUSED');
  });

  it('passes, saying why, when the web server is disabled', () => {
    const r = healthcheck({ SIP_EXPORTER_WEB_LISTEN_ADDRESS: '' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('web server disabled');
  });
});
