/** Helpers shared by the syslog listener, TLS and rsyslog tests. */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { RunningDaemon } from '../helpers/daemon.js';
import { nonZero, sum, type Sample } from '../helpers/metrics.js';

/** A Kamailio acc record as Kamailio logs it (input-formats C.1 line 6), with the given outcome. */
export function accRecord(method: string, code: number, reason: string, i: number): string {
  return (
    `NOTICE: acc [acc.c:317]: acc_log_request(): ACC: transaction answered: timestamp=${1504783013 + i};method=${method};` +
    `from_tag=ft${i};to_tag=tt${i};call_id=call-${i}@10.0.0.1;code=${code};reason=${reason};src_ip=10.0.0.1`
  );
}

/** The same record as rsyslog forwards it in the traditional format (input-formats B.6). */
export function acc3164(method: string, code: number, reason: string, i: number): string {
  return `<29>Sep  7 07:16:53 sip /usr/local/sbin/kamailio[29264]: ${accRecord(method, code, reason, i)}`;
}

/** ... and as RFC 5424 (RSYSLOG_SyslogProtocol23Format). */
export function acc5424(method: string, code: number, reason: string, i: number): string {
  return `<29>1 2024-05-02T10:11:12.123456+00:00 sip kamailio 29264 - - ${accRecord(method, code, reason, i)}`;
}

export const octet = (m: string): string => `${Buffer.byteLength(m)} ${m}`;

export async function sendUdp(address: string, messages: (string | Buffer)[]): Promise<void> {
  const { host, port } = split(address);
  const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  try {
    for (const m of messages) {
      await new Promise<void>((resolve, reject) => sock.send(typeof m === 'string' ? Buffer.from(m) : m, port, host, (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    sock.close();
  }
}

export function connectTcp(address: string): Promise<net.Socket> {
  const { host, port } = split(address);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
}

export function write(s: net.Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => s.write(data, (err) => (err ? reject(err) : resolve())));
}

export function endSocket(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    s.once('close', () => resolve());
    s.end();
  });
}

export function split(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** Syslog SIP response counts as "code=..,method=.." -> n. */
export function syslogCounts(samples: Sample[]): Record<string, number> {
  return nonZero(samples, 'sip_responses_total', ['code', 'method'], { source: 'syslog' });
}

export function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return sum(samples, name, labels);
}

/** Difference of two count maps (after - before), without zero entries. */
export function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

export async function counts(d: RunningDaemon): Promise<Record<string, number>> {
  return syslogCounts(await d.metrics());
}

export interface Certs {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate from a CA the server does not trust. */
  otherCert: string;
  otherKey: string;
}

/** Throwaway CA, server (127.0.0.1/localhost) and client certificates made with the openssl CLI. */
export function makeCerts(dir: string): Certs {
  const ossl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const key = (name: string): void => ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`);
  const ca = (name: string): void => {
    key(name);
    ossl('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '2');
  };
  const leaf = (name: string, issuer: string, ext: string): void => {
    key(name);
    ossl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  ca('test-ca');
  ca('other-ca');
  leaf('server', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  leaf('other', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string): string => join(dir, f);
  return {
    ca: p('test-ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    otherCert: p('other.crt'),
    otherKey: p('other.key'),
  };
}
