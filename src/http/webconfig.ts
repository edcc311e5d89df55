import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/**
 * The HTTP server's TLS and basic-auth settings, in the file format of the Prometheus exporter
 * toolkit (`--web.config.file` of node_exporter and friends), so operators can reuse the file they
 * already have. Only the fields below exist; anything else is rejected by name.
 *
 *   tls_server_config:
 *     cert_file: /etc/ssl/exporter.crt
 *     key_file: /etc/ssl/exporter.key
 *     client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (default), VerifyClientCertIfGiven
 *     client_ca_file: /etc/ssl/clients-ca.crt
 *     min_version: TLS12                              # or TLS13
 *   basic_auth_users:
 *     prometheus: $2y$10$...                          # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
 */
export interface WebConfig {
  tls?: {
    cert: Buffer;
    key: Buffer;
    ca?: Buffer;
    clientAuth: 'NoClientCert' | 'RequireAndVerifyClientCert' | 'VerifyClientCertIfGiven';
    minVersion: 'TLSv1.2' | 'TLSv1.3';
  };
  /** user -> bcrypt hash */
  users: Map<string, string>;
}

export class WebConfigError extends Error {}

const TOP_KEYS = new Set(['tls_server_config', 'basic_auth_users']);
const TLS_KEYS = new Set(['cert_file', 'key_file', 'client_auth_type', 'client_ca_file', 'min_version']);
const CLIENT_AUTH = ['NoClientCert', 'RequireAndVerifyClientCert', 'VerifyClientCertIfGiven'] as const;
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

export function loadWebConfig(path: string): WebConfig {
  const fail = (msg: string): never => {
    throw new WebConfigError(`web config file ${path}: ${msg}`);
  };
  const read = (file: string, key: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      return fail(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  let doc: unknown;
  try {
    doc = parseYaml(read(path, 'file').toString('utf8'));
  } catch (err) {
    if (err instanceof WebConfigError) throw err;
    fail(`not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: WebConfig = { users: new Map() };
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== 'object' || Array.isArray(doc)) fail('expected a mapping with tls_server_config and/or basic_auth_users');
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top)) if (!TOP_KEYS.has(k)) fail(`unknown key "${k}" (supported: ${[...TOP_KEYS].join(', ')})`);

  const tls = top.tls_server_config;
  if (tls !== undefined && tls !== null) {
    if (typeof tls !== 'object' || Array.isArray(tls)) fail('tls_server_config must be a mapping');
    const t = tls as Record<string, unknown>;
    for (const k of Object.keys(t)) if (!TLS_KEYS.has(k)) fail(`unknown key "tls_server_config.${k}"`);
    const str = (k: string): string | undefined => {
      const v = t[k];
      if (v === undefined || v === null || v === '') return undefined;
      if (typeof v !== 'string') return fail(`tls_server_config.${k} must be a string`);
      return v;
    };
    const certFile = str('cert_file') ?? fail('tls_server_config.cert_file is required');
    const keyFile = str('key_file') ?? fail('tls_server_config.key_file is required');
    const clientAuth = (str('client_auth_type') ?? 'NoClientCert') as (typeof CLIENT_AUTH)[number];
    if (!CLIENT_AUTH.includes(clientAuth)) fail(`tls_server_config.client_auth_type: invalid value "${clientAuth}" (one of ${CLIENT_AUTH.join(', ')})`);
    const caFile = str('client_ca_file');
    if (clientAuth !== 'NoClientCert' && !caFile) fail(`tls_server_config.client_ca_file is required with client_auth_type ${clientAuth}`);
    const min = str('min_version') ?? 'TLS12';
    if (min !== 'TLS12' && min !== 'TLS13') fail(`tls_server_config.min_version: invalid value "${min}" (TLS12 or TLS13)`);
    out.tls = {
      cert: read(certFile, 'tls_server_config.cert_file'),
      key: read(keyFile, 'tls_server_config.key_file'),
      clientAuth,
      minVersion: min === 'TLS13' ? 'TLSv1.3' : 'TLSv1.2',
      ...(caFile ? { ca: read(caFile, 'tls_server_config.client_ca_file') } : {}),
    };
  }

  const users = top.basic_auth_users;
  if (users !== undefined && users !== null) {
    if (typeof users !== 'object' || Array.isArray(users)) fail('basic_auth_users must be a mapping of user: bcrypt-hash');
    for (const [user, hash] of Object.entries(users as Record<string, unknown>)) {
      // Never echo the hash itself: it is a secret too.
      if (typeof hash !== 'string' || !BCRYPT.test(hash)) fail(`basic_auth_users.${user}: not a bcrypt hash ($2y$/$2b$/$2a$); plain-text passwords are not accepted`);
      if (user.includes(':')) fail(`basic_auth_users: user name "${user}" must not contain ":"`);
      out.users.set(user, hash as string);
    }
  }
  return out;
}
