/**
 * Syslog over TLS (RFC 5425) against the real daemon, with throwaway certificates made by openssl.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { poll } from '../helpers/poll.js';
import { acc3164, acc5424, counts, makeCerts, metric, octet, split, type Certs } from './util.js';

let dir: string;
let certs: Certs;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'syslog-tls-'));
  certs = makeCerts(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ClientOpts {
  cert?: string;
  key?: string;
}

/**
 * Connects, sends, closes. Whether the server accepted the client is checked on the server's metrics:
 * with TLS 1.3 a client whose certificate is refused finishes its own handshake first and may not see
 * the alert before it closes.
 */
function tlsSend(address: string, data: string, opts: ClientOpts = {}): Promise<void> {
  const { host, port } = split(address);
  return new Promise((resolve) => {
    const s = tls.connect({
      host,
      port,
      ca: readFileSync(certs.ca),
      servername: 'localhost',
      ...(opts.cert ? { cert: readFileSync(opts.cert), key: readFileSync(opts.key!) } : {}),
    });
    s.on('secureConnect', () => s.write(data, () => s.end()));
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

/** A daemon with only the syslog TLS listener, on a free loopback port, with the test server certificate. */
function startTlsDaemon(...extra: string[]): Promise<RunningDaemon> {
  return startDaemon([
    '--syslog.listen-address=',
    '--syslog.tls-listen-address=127.0.0.1:0',
    `--syslog.tls-cert-file=${certs.serverCert}`,
    `--syslog.tls-key-file=${certs.serverKey}`,
    ...extra,
  ]);
}

describe('syslog over TLS', () => {
  let d: RunningDaemon;
  beforeAll(async () => {
    d = await startTlsDaemon();
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  it('listens on TLS only and counts octet-counted and LF-framed messages', async () => {
    expect(Object.keys(d.addresses).filter((k) => k.startsWith('syslog.'))).toEqual(['syslog.tls']);
    const data = octet(acc5424('INVITE', 486, 'Busy Here', 1)) + `${acc3164('INVITE', 200, 'OK', 2)}\n` + octet(acc5424('BYE', 200, 'OK', 3));
    await tlsSend(d.addresses['syslog.tls']!, data);
    await poll(async () => JSON.stringify(await counts(d)) === JSON.stringify({ 'code=200,method=INVITE': 1, 'code=486,method=INVITE': 1, 'code=200,method=BYE': 1 }) || (await counts(d)), 'tls counts');
    const s = await d.metrics();
    expect(metric(s, 'sip_exporter_syslog_messages_total', { transport: 'tls' })).toBe(3);
    expect(metric(s, 'sip_exporter_syslog_connections_total', { transport: 'tls' })).toBe(1);
    expect(metric(s, 'sip_exporter_syslog_received_bytes_total', { transport: 'tls' })).toBe(Buffer.byteLength(data));
  });

  it('the OpenSSL command-line client can send too (interoperability beyond Node)', async () => {
    const before = (await counts(d))['code=404,method=OPTIONS'] ?? 0;
    const r = spawnSync('openssl', ['s_client', '-connect', d.addresses['syslog.tls']!, '-CAfile', certs.ca, '-servername', 'localhost', '-verify_return_error', '-quiet', '-no_ign_eof'], {
      input: octet(acc5424('OPTIONS', 404, 'Not Found', 7)) + `${acc3164('OPTIONS', 404, 'Not Found', 8)}\n`,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(0);
    await poll(async () => (await counts(d))['code=404,method=OPTIONS'] === before + 2, 'openssl s_client messages');
  });

  it('a plain-text client fails the handshake and is counted', async () => {
    const { host, port } = split(d.addresses['syslog.tls']!);
    const net = await import('node:net');
    await new Promise<void>((resolve) => {
      const s = net.connect({ host, port }, () => s.write(`${acc3164('INVITE', 200, 'OK', 9)}\n`));
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    await poll(async () => metric(await d.metrics(), 'sip_exporter_syslog_connections_rejected_total', { transport: 'tls', reason: 'tls_handshake' }) === 1, 'handshake failure counted');
    expect((await counts(d))['code=200,method=INVITE']).toBe(1);
  });
});

describe('syslog over TLS with client certificates', () => {
  let d: RunningDaemon;
  beforeAll(async () => {
    d = await startTlsDaemon(`--syslog.tls-client-ca-file=${certs.ca}`);
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  it('accepts a client certificate signed by the CA', async () => {
    await tlsSend(d.addresses['syslog.tls']!, octet(acc5424('REGISTER', 200, 'OK', 1)), { cert: certs.clientCert, key: certs.clientKey });
    await poll(async () => (await counts(d))['code=200,method=REGISTER'] === 1, 'message from a trusted client');
  });

  it('refuses clients without a certificate or with one from another CA, and counts them', async () => {
    const addr = d.addresses['syslog.tls']!;
    await tlsSend(addr, octet(acc5424('REGISTER', 403, 'Forbidden', 2)));
    await tlsSend(addr, octet(acc5424('REGISTER', 403, 'Forbidden', 3)), { cert: certs.otherCert, key: certs.otherKey });
    await poll(async () => metric(await d.metrics(), 'sip_exporter_syslog_connections_rejected_total', { transport: 'tls', reason: 'tls_handshake' }) === 2, 'two rejections');
    expect((await counts(d))['code=403,method=REGISTER']).toBeUndefined();
  });
});

describe('TLS configuration errors stop start-up with a clear message', () => {
  const run = (...args: string[]): { status: number | null; out: string } => {
    const r = spawnSync(process.execPath, [CLI, '--web.listen-address=127.0.0.1:0', '--hep.listen-address=', '--syslog.listen-address=', ...args], { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  it('missing key file', () => {
    const r = run('--syslog.tls-listen-address=127.0.0.1:0', `--syslog.tls-cert-file=${certs.serverCert}`);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/syslog.tls-listen-address needs syslog.tls-cert-file and syslog.tls-key-file/);
  });
  it('unreadable certificate', () => {
    const r = run('--syslog.tls-listen-address=127.0.0.1:0', `--syslog.tls-cert-file=${join(dir, 'missing.crt')}`, `--syslog.tls-key-file=${certs.serverKey}`);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/cannot read syslog.tls-cert-file .*missing.crt: ENOENT/);
  });
  it('key that does not belong to the certificate', () => {
    const r = run('--syslog.tls-listen-address=127.0.0.1:0', `--syslog.tls-cert-file=${certs.serverCert}`, `--syslog.tls-key-file=${certs.clientKey}`);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/syslog TLS certificate, key or CA is not usable/);
  });
});
