// Container health check (Dockerfile HEALTHCHECK): GET /-/healthy on the web address the exporter
// resolves from the same environment and config file (SIP_EXPORTER_CONFIG), over HTTPS when
// web.config-file turns TLS on (health endpoints need no basic auth). Flags given to the container
// are not visible here: set web.listen-address / web.config-file by environment or file.
// Exit 0 = healthy, 1 = unhealthy (Docker's convention). No curl in a slim image: Node does it.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolveConfig } from './dist/src/config/load.js';
import { loadWebConfig } from './dist/src/http/webconfig.js';

let host = '127.0.0.1';
let port = 9468;
let tls;
try {
  const env = process.env;
  const file = env.SIP_EXPORTER_CONFIG;
  const config = resolveConfig({ env, ...(file ? { file } : {}) });
  const web = config.web['listen-address'];
  if (web === null) {
    console.log('web server disabled (web.listen-address is empty); nothing to check');
    process.exit(0);
  }
  port = web.port;
  // A wildcard address is reached on loopback; a specific one as given.
  host = web.host === '0.0.0.0' || web.host === '' ? '127.0.0.1' : web.host === '::' ? '::1' : web.host;
  if (config.web['config-file']) tls = loadWebConfig(config.web['config-file']).tls;
} catch (err) {
  console.log(`could not resolve the configuration (${String(err.message).split('\n')[0]}); trying ${host}:${port}`);
}

const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/-/healthy`;
const req = (tls ? httpsRequest : httpRequest)(
  url,
  // Liveness of our own server on loopback: its certificate is not what is being checked here.
  { method: 'GET', timeout: 4000, ...(tls ? { rejectUnauthorized: false } : {}) },
  (res) => {
    res.resume();
    console.log(`${url}: ${res.statusCode}`);
    process.exit(res.statusCode === 200 ? 0 : 1);
  },
);
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
  // With client_auth_type RequireAndVerifyClientCert the server refuses us during the handshake:
  // it is up and answering TLS, which is what a liveness check can know without a client cert.
  if (tls && tls.clientAuth === 'RequireAndVerifyClientCert' && /ALERT|ECONNRESET/.test(`${err.code ?? ''} ${err.message}`)) {
    console.log(`${url}: TLS handshake refused without a client certificate (server is up)`);
    process.exit(0);
  }
  console.log(`${url}: ${err.code ?? err.message}`);
  process.exit(1);
});
req.end();
