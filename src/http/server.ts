import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Catalogue, CodeEntry } from '../classify/catalogue.js';
import { parseStatusCode } from '../classify/status.js';
import type { ListenAddress } from '../config/parsers.js';
import type { Logger } from '../logger.js';
import type { Pipeline } from '../pipeline.js';
import { basicAuth } from './auth.js';
import { renderLanding } from './landing.js';
import type { WebConfig } from './webconfig.js';

export interface HttpOptions {
  address: ListenAddress;
  metricsPath: string;
  pipeline: Pipeline;
  catalogue: Catalogue;
  logger: Logger;
  /** Names of enabled inputs, for the landing page. */
  inputs: () => readonly string[];
  /** True once every enabled input has started. */
  ready: () => boolean;
  /** TLS and basic auth (web.config-file). */
  web?: WebConfig;
  /** When set (web.enable-lifecycle), POST /-/reload calls it. */
  reload?: () => Promise<void>;
}

/** Health endpoints answer without credentials: probes rarely carry them and they reveal nothing. */
const AUTH_EXEMPT = new Set(['/-/healthy', '/-/ready']);

/** Catalogue entry as served by the API (field names are part of the API). */
function entryJson(e: CodeEntry): Record<string, unknown> {
  return { ...e };
}

export function createApp(opts: HttpOptions): express.Express {
  const { pipeline, catalogue } = opts;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  if (opts.web?.tls?.clientAuth === 'VerifyClientCertIfGiven') {
    // The TLS layer lets unverified certificates through in this mode; refuse them here.
    app.use((req, res, next) => {
      const sock = req.socket as TLSSocket;
      const cert = sock.getPeerCertificate();
      if (cert && Object.keys(cert).length > 0 && !sock.authorized) {
        res.status(403).type('text/plain').send('client certificate not trusted\n');
        return;
      }
      next();
    });
  }
  if (opts.web && opts.web.users.size > 0) app.use(basicAuth(opts.web.users, AUTH_EXEMPT));

  if (opts.reload) {
    const reload = opts.reload;
    app.post('/-/reload', (_req, res) => {
      reload().then(
        () => res.type('text/plain').send('Reloaded\n'),
        (err: unknown) => res.status(500).type('text/plain').send(`Reload failed: ${(err as Error).message}\n`),
      );
    });
    app.all('/-/reload', (_req, res) => {
      res.set('Allow', 'POST').status(405).type('text/plain').send('use POST to reload\n');
    });
  }

  /**
   * Only GET and HEAD exist on this server (besides POST /-/reload); everything else is 405 with an
   * Allow header. Nothing here reads a request body, so one is refused outright instead of buffered.
   */
  const getOnly = (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD').status(405).type('text/plain').send(`method ${req.method} not allowed\n`);
      return;
    }
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > 0 || req.headers['transfer-encoding'] !== undefined) {
      res.status(413).set('Connection', 'close').type('text/plain').send('request bodies are not accepted\n');
      return;
    }
    next();
  };
  app.use(getOnly);

  app.get(opts.metricsPath, async (_req, res) => {
    try {
      const body = await pipeline.exposition();
      res.set('Content-Type', pipeline.registry.contentType).send(body);
    } catch (err) {
      opts.logger.error({ err }, 'metrics collection failed');
      res.status(500).type('text/plain').send('metrics collection failed\n');
    }
  });

  let landing: string | undefined;
  app.get('/', (_req, res) => {
    landing ??= renderLanding(catalogue, opts.metricsPath, opts.inputs());
    res.type('html').send(landing);
  });
  app.get('/-/healthy', (_req, res) => {
    res.type('text/plain').send('OK\n');
  });
  app.get('/-/ready', (_req, res) => {
    if (opts.ready()) res.type('text/plain').send('Ready\n');
    else res.status(503).type('text/plain').send('Not ready: inputs are still starting or one failed\n');
  });
  app.get('/api/v1/codes', (_req, res) => {
    res.json({ codes: catalogue.entries().map(entryJson) });
  });
  app.get('/api/v1/codes/:code', (req, res) => {
    const text = String(req.params.code);
    const code = parseStatusCode(text);
    if (code === undefined) {
      res.status(400).json({ error: `invalid status code ${JSON.stringify(text.slice(0, 20))}: SIP status codes are three digits from 100 to 699` });
      return;
    }
    const d = catalogue.describe(code);
    if (d?.entry) {
      res.json(entryJson(d.entry));
      return;
    }
    res.status(404).json({
      error: `status code ${code} is not in the catalogue`,
      code,
      class: d?.class,
      classMeaning: d?.classInfo.meaning,
      treatedAs: d?.treatedAs?.code,
    });
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found; see / for the available endpoints\n');
  });
  return app;
}

export interface HttpServer {
  server: Server;
  address(): string;
  /** Stops accepting connections; open ones get `graceMs` to finish before they are cut. */
  close(graceMs?: number): Promise<void>;
}

export async function startHttp(opts: HttpOptions): Promise<HttpServer> {
  const app = createApp(opts);
  const tls = opts.web?.tls;
  const server: Server = tls
    ? createTlsServer(
        {
          maxHeaderSize: 16 * 1024,
          cert: tls.cert,
          key: tls.key,
          minVersion: tls.minVersion,
          ...(tls.ca ? { ca: tls.ca } : {}),
          requestCert: tls.clientAuth !== 'NoClientCert',
          rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
        },
        app,
      )
    : createServer({ maxHeaderSize: 16 * 1024 }, app);
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.address.port, opts.address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    address() {
      const a = server.address() as AddressInfo;
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    },
    close: (graceMs = 1000) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), graceMs).unref();
      }),
  };
}
