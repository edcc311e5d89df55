// Container health check (Dockerfile HEALTHCHECK): GET /-/healthy on the web address the exporter
// resolves from the same environment and config file (SIP_EXPORTER_CONFIG). Flags given to the
// container are not visible here: set web.listen-address by environment or file if you move it.
// Exit 0 = healthy, 1 = unhealthy (Docker's convention).
import { resolveConfig } from './dist/src/config/load.js';

let host = '127.0.0.1';
let port = 9468;
try {
  const env = process.env;
  const file = env.SIP_EXPORTER_CONFIG;
  const web = resolveConfig({ env, ...(file ? { file } : {}) }).web['listen-address'];
  if (web === null) {
    console.log('web server disabled (web.listen-address is empty); nothing to check');
    process.exit(0);
  }
  port = web.port;
  // A wildcard address is reached on loopback; a specific one as given.
  host = web.host === '0.0.0.0' || web.host === '' ? '127.0.0.1' : web.host === '::' ? '::1' : web.host;
} catch (err) {
  console.log(`could not resolve the configuration (${err.message.split('\n')[0]}); trying ${host}:${port}`);
}

const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/-/healthy`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  console.log(`${url}: ${res.status}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.log(`${url}: ${err.cause?.code ?? err.message}`);
  process.exit(1);
}
