import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon.js';
import { loadWebConfig, WebConfigError } from '../../src/http/webconfig.js';
import { createLogger } from '../../src/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'websec-'));
const file = (name: string) => join(dir, name);

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

beforeAll(() => {
  // A CA, a server certificate for 127.0.0.1 and a client certificate signed by the CA.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', file('ca.key'), '-out', file('ca.crt')]);
  for (const who of ['server', 'client']) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`)]);
    writeFileSync(file(`${who}.ext`), who === 'server' ? 'subjectAltName=IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
    openssl(['x509', '-req', '-in', file(`${who}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file(`${who}.ext`), '-out', file(`${who}.crt`)]);
  }
});

async function startWith(webConfig: string, extra: [string, string[]][] = []): Promise<Daemon> {
  writeFileSync(file('web.yml'), webConfig);
  const config = resolveConfig({
    flags: new Map([
      ['web.listen-address', ['127.0.0.1:0']],
      ['web.config-file', [file('web.yml')]],
      ['hep.listen-address', ['']],
      ['syslog.listen-address', ['']],
      ...extra,
    ]),
  });
  const d = new Daemon(config, createLogger('silent'));
  await d.start();
  return d;
}

function httpsGet(url: string, opts: { auth?: string; cert?: boolean } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        ca: readFileSync(file('ca.crt')),
        ...(opts.cert ? { cert: readFileSync(file('client.crt')), key: readFileSync(file('client.key')) } : {}),
        ...(opts.auth ? { headers: { authorization: `Basic ${Buffer.from(opts.auth).toString('base64')}` } } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP basic auth (bcrypt)', () => {
  let d: Daemon;
  let base: string;
  beforeAll(async () => {
    const hash = bcrypt.hashSync('s3cret', 4).replace(/^\$2b\$/, '$2y$'); // htpasswd writes $2y$
    d = await startWith(`basic_auth_users:\n  prometheus: "${hash}"\n`);
    base = `http://${d.addresses().web}`;
  });
  afterAll(async () => d.stop());

  const get = (path: string, auth?: string) => fetch(base + path, auth ? { headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } } : {});

  it('refuses requests without or with wrong credentials', async () => {
    const none = await get('/metrics');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await get('/metrics', 'prometheus:wrong')).status).toBe(401);
    expect((await get('/metrics', 'nobody:s3cret')).status).toBe(401);
    expect((await get('/api/v1/codes', 'prometheus')).status).toBe(401);
  });

  it('serves with the right credentials, repeatedly', async () => {
    for (let i = 0; i < 3; i++) expect((await get('/metrics', 'prometheus:s3cret')).status).toBe(200);
  });

  it('leaves health probes open', async () => {
    expect((await get('/-/healthy')).status).toBe(200);
    expect((await get('/-/ready')).status).toBe(200);
  });
});

describe('HTTPS', () => {
  it('serves TLS with the configured certificate', async () => {
    const d = await startWith(`tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('server.key')}\n`);
    try {
      const r = await httpsGet(`https://${d.addresses().web}/-/healthy`);
      expect(r).toEqual({ status: 200, body: 'OK\n' });
      await expect(fetch(`http://${d.addresses().web}/-/healthy`)).rejects.toThrow();
    } finally {
      await d.stop();
    }
  });

  it('requires a client certificate signed by the CA when configured', async () => {
    const d = await startWith(
      `tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('server.key')}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${file('ca.crt')}\n`,
    );
    try {
      expect((await httpsGet(`https://${d.addresses().web}/metrics`, { cert: true })).status).toBe(200);
      await expect(httpsGet(`https://${d.addresses().web}/metrics`)).rejects.toThrow();
    } finally {
      await d.stop();
    }
  });
});

describe('web config validation', () => {
  it.each([
    ['tls_server_config:\n  cert_file: /x\n', /key_file is required/],
    ['basic_auth_users:\n  alice: plaintext\n', /basic_auth_users.alice: not a bcrypt hash/],
    ['tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n', /cert_file: cannot read \/nonexistent.crt: ENOENT/],
    ['colour: blue\n', /unknown key "colour"/],
    [`tls_server_config:\n  cert_file: ${join(tmpdir(), 'x')}\n  key_file: /k\n  client_auth_type: Sometimes\n`, /client_auth_type: invalid value "Sometimes"/],
  ])('rejects %j', (text, err) => {
    writeFileSync(file('bad.yml'), text);
    expect(() => loadWebConfig(file('bad.yml'))).toThrow(WebConfigError);
    expect(() => loadWebConfig(file('bad.yml'))).toThrow(err);
  });

  it('never echoes a password hash in its errors', () => {
    writeFileSync(file('bad.yml'), 'basic_auth_users:\n  alice: "$2y$10$tooShort"\n');
    expect(() => loadWebConfig(file('bad.yml'))).toThrow(/^(?!.*tooShort).*$/s);
  });
});

/** fetch() will not send a body with GET; a raw request does. */
function getWithBody(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('request hygiene and lifecycle', () => {
  it('refuses request bodies and serves POST /-/reload only when enabled', async () => {
    let reloads = 0;
    const d = await startWith('', [['web.enable-lifecycle', ['true']]]);
    d.onReloadRequest = async () => {
      reloads++;
    };
    try {
      const base = `http://${d.addresses().web}`;
      expect(await getWithBody(`${base}/metrics`, 'hello')).toBe(413);
      const r = await fetch(`${base}/-/reload`, { method: 'POST' });
      expect(r.status).toBe(200);
      expect(reloads).toBe(1);
      expect((await fetch(`${base}/-/reload`)).status).toBe(405);
    } finally {
      await d.stop();
    }
    const off = await startWith('');
    try {
      expect((await fetch(`http://${off.addresses().web}/-/reload`, { method: 'POST' })).status).toBe(405);
    } finally {
      await off.stop();
    }
  });
});
