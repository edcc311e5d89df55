import { bool, listen, str } from '../parsers.js';
import { section } from '../types.js';

/** HTTP endpoint: /metrics, landing page, health and the catalogue API. */
export const web = section({
  'listen-address': listen('Address of the HTTP server (metrics, health, catalogue API). Empty disables it.', ':9468'),
  'telemetry-path': str('Path under which metrics are exposed.', '/metrics', {
    parse: (raw) => (typeof raw === 'string' && /^\/[\w\-./]*$/.test(raw) ? { ok: true, value: raw } : { ok: false, error: 'expected a path starting with /' }),
  }),
  'config-file': str(
    'TLS and basic-auth settings for the HTTP server, in the Prometheus exporter-toolkit web config format (tls_server_config, basic_auth_users with bcrypt hashes). Empty serves plain HTTP without authentication.',
    '',
  ),
  'enable-lifecycle': bool('Accept POST /-/reload to reload the configuration (like SIGHUP).', false),
});
