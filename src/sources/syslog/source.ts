import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { formatListenAddress, type ListenAddress } from '../../config/parsers.js';
import type { Config } from '../../config/schema.js';
import type { ParseResult } from '../../event.js';
import { RateLimitedLog, type Logger } from '../../logger.js';
import { Allowlist } from '../../net/allowlist.js';
import { sourceRateLimiter, type SourceRateLimiter } from '../../net/ratelimit.js';
import { createLineParser, type Dialect } from '../../parse/dialects/index.js';
import { datagramMessage, StreamFramer, type FramingError } from '../../parse/syslog/framing.js';
import { appNameFilter, parseSyslogMessage } from '../../parse/syslog/header.js';
import type { Pipeline } from '../../pipeline.js';
import { UdpSocketWatcher } from '../../net/procnet.js';
import type { InputSource, SourceContext } from '../registry.js';
import { SyslogMetrics, TRANSPORT_INDEX, type CloseReason, type Transport } from './metrics.js';
import { SenderStreams } from './streams.js';

/** TLS handshakes that take longer than this are abandoned (and counted as tls_handshake rejections). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** How often quiet senders' open blocks are completed. */
const SWEEP_INTERVAL_MS = 1000;

/** The dialect the syslog input uses: its own setting, or log.dialect for `inherit`. */
export function syslogDialect(config: Config): Dialect {
  const d = config.syslog.dialect;
  return d === 'inherit' ? config.log.dialect : d;
}

interface Connection {
  transport: Transport;
  reason: CloseReason;
}

/**
 * The syslog input: UDP (RFC 5426) and TCP (RFC 6587) on one address, TLS (RFC 5425) on another.
 * Each message's header is parsed (RFC 5424 or RFC 3164), the app-name filter applied, and the message
 * text handed to the log dialects, one parser per sender (see SenderStreams).
 *
 * Work per read is synchronous and bounded (one socket read of data at a time, memory per connection
 * bounded by the maximum message size), so a slow or hostile client cannot hold up other clients or
 * the HTTP server: libuv interleaves the reads of all sockets and HTTP requests.
 *
 * Both stream listeners are plain TCP servers, so the source-address check and the connection limit
 * happen before any TLS work; accepted TLS connections are handed to a tls.Server that never listens
 * itself.
 */
export class SyslogSource implements InputSource {
  private readonly pipeline: Pipeline;
  private readonly logger: Logger;
  private readonly warn: RateLimitedLog;
  private readonly cfg: Config['syslog'];
  private readonly metrics: SyslogMetrics;
  private readonly streams: SenderStreams;
  private readonly filter: ((app: string) => boolean) | undefined;
  private readonly allow: Allowlist | undefined;
  /** Per-source message rate limit (syslog.max-rate-per-source), shared by UDP, TCP and TLS; undefined when off. */
  private readonly limit: SourceRateLimiter | undefined;
  private readonly maxSize: number;
  private readonly dialect: Dialect;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private tlsListener: net.Server | undefined;
  /** Every accepted TCP socket (for TLS: the raw socket, also during the handshake). */
  private readonly sockets = new Set<net.Socket>();
  /** Connections carrying syslog (TCP, or TLS after the handshake). */
  private readonly conns = new Map<net.Socket, Connection>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly bound: Record<string, string> = {};

  constructor(ctx: SourceContext) {
    this.pipeline = ctx.pipeline;
    this.logger = ctx.logger;
    this.warn = new RateLimitedLog(ctx.logger);
    this.cfg = ctx.config.syslog;
    this.maxSize = this.cfg['max-message-size'];
    this.metrics = SyslogMetrics.for(ctx.pipeline.registry);
    this.filter = appNameFilter(this.cfg['app-name']);
    this.allow = this.cfg['allowed-sources'].length > 0 ? new Allowlist(this.cfg['allowed-sources']) : undefined;
    this.limit = sourceRateLimiter(this.cfg['max-rate-per-source']);
    const dialect = (this.dialect = syslogDialect(ctx.config));
    const patterns = ctx.config.log.patterns;
    const emit = (r: ParseResult): void => this.pipeline.accept('syslog', r);
    this.streams = new SenderStreams(() => createLineParser({ dialect, patterns }, emit));
  }

  async start(): Promise<void> {
    const plain = this.cfg['listen-address'];
    const secure = this.cfg['tls-listen-address'];
    const transports: Transport[] = [];
    if (plain) transports.push('udp', 'tcp');
    if (secure) transports.push('tls');
    this.metrics.show(transports);
    try {
      // Read and check the TLS files first, so a bad certificate fails start-up before any port is bound.
      const tlsOptions = secure ? this.tlsOptions() : undefined;
      if (plain) await this.bindPlain(plain);
      if (secure && tlsOptions) await this.bindTls(secure, tlsOptions);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.sweepTimer = setInterval(() => this.streams.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    const udpBuffer = this.udpBufferSize();
    if (udpBuffer !== undefined) this.metrics.udpReceiveBuffer.set(udpBuffer);
    this.logger.info({ ...this.bound, dialect: this.dialect, maxMessageSize: this.maxSize, udpReceiveBuffer: udpBuffer }, 'syslog input listening');
  }

  addresses(): Record<string, string> {
    return { ...this.bound };
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const closing: Promise<void>[] = [];
    for (const server of [this.tcp, this.tlsListener]) {
      if (server?.listening) closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
    }
    for (const [socket, conn] of this.conns) {
      conn.reason = 'shutdown';
      socket.destroy();
    }
    for (const socket of this.sockets) socket.destroy();
    if (this.udp) {
      const udp = this.udp;
      closing.push(new Promise<void>((resolve) => udp.close(() => resolve())));
      this.metrics.udpStats = undefined;
    }
    this.tcp = this.tlsListener = this.udp = undefined;
    await Promise.all(closing);
    this.streams.flushAll();
  }

  // ---- messages -------------------------------------------------------------------------------------

  /** One framed message from `peer` (an IP address: the rate limit's key, and the host when the header names none). */
  message(buf: Buffer, transport: Transport, peer: string): void {
    this.metrics.messages.values[TRANSPORT_INDEX[transport]]! += 1;
    const now = Date.now();
    if (this.limit !== undefined && !this.limit.allow(peer, now)) {
      this.metrics.rateLimited.inc({ transport });
      this.pipeline.drop('syslog', 'rate_limited');
      return;
    }
    const h = parseSyslogMessage(buf.toString('utf8'));
    if ('error' in h) {
      this.metrics.headerErrors.inc({ transport, reason: h.error });
      this.pipeline.drop('syslog', h.error);
      return;
    }
    if (this.filter !== undefined && !this.filter(h.appName)) {
      this.metrics.filtered.inc({ transport });
      return;
    }
    // An empty text still goes in: for a sender forwarding a multi-line record line by line, the empty
    // line ends the block.
    this.streams.message(h.hostname === '' ? peer : h.hostname, h.appName, h.procId, h.msg, now);
  }

  private framingError(transport: Transport, reason: FramingError): void {
    this.metrics.framingErrors.inc({ transport, reason });
    // A count that was not one is not a loss: the frame is still read (up to its LF).
    if (reason !== 'bad_octet_count') this.pipeline.drop('syslog', reason);
  }

  // ---- UDP + TCP --------------------------------------------------------------------------------------

  /** TCP and UDP on the same port; with port 0 the port the TCP listener got is used for UDP too. */
  private async bindPlain(addr: ListenAddress): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const tcp = this.streamListener('tcp', (socket) => this.connection(socket, 'tcp'));
      this.tcp = tcp;
      await listen(tcp, addr, addr.port === 0 ? undefined : 'TCP');
      const port = (tcp.address() as AddressInfo).port;
      try {
        this.udp = await this.bindUdp({ host: addr.host, port });
      } catch (err) {
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        this.tcp = undefined;
        if (addr.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 20) continue;
        throw new Error(`cannot listen for syslog on UDP ${formatListenAddress({ host: addr.host, port })}: ${(err as Error).message}`, { cause: err });
      }
      this.bound.tcp = formatListenAddress({ host: addr.host, port });
      this.bound.udp = formatListenAddress({ host: addr.host, port: this.udp.address().port });
      const watcher = new UdpSocketWatcher(this.udp.address().port, this.udp.address().family === 'IPv6');
      if (watcher.found) this.metrics.udpStats = () => watcher.read();
      return;
    }
  }

  private bindUdp(addr: ListenAddress): Promise<dgram.Socket> {
    const size = this.cfg['recv-buffer-size'];
    const sock = dgram.createSocket({ type: net.isIPv6(addr.host) ? 'udp6' : 'udp4', ...(size > 0 ? { recvBufferSize: size } : {}) });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        sock.close();
        reject(err);
      };
      sock.once('error', onError);
      sock.bind(addr.port, addr.host, () => {
        sock.off('error', onError);
        sock.on('error', (err) => this.warn.warn('udp-error', { err: err.message }, 'syslog UDP socket error'));
        sock.on('message', (msg, rinfo) => this.datagram(msg, rinfo.address));
        resolve(sock);
      });
    });
  }

  private datagram(buf: Buffer, peer: string): void {
    if (this.allow !== undefined && !this.allow.allows(peer)) {
      this.metrics.notAllowed.inc({ transport: 'udp' });
      this.pipeline.drop('syslog', 'not_allowed');
      return;
    }
    this.metrics.bytes.values[0]! += buf.length;
    const m = datagramMessage(buf, this.maxSize);
    if (m === undefined) return;
    if (m === 'message_too_large') {
      this.framingError('udp', m);
      return;
    }
    this.message(m, 'udp', peer);
  }

  private udpBufferSize(): number | undefined {
    try {
      return this.udp?.getRecvBufferSize();
    } catch {
      return undefined;
    }
  }

  // ---- TLS ------------------------------------------------------------------------------------------

  private tlsOptions(): tls.TlsOptions {
    const certFile = this.cfg['tls-cert-file'];
    const keyFile = this.cfg['tls-key-file'];
    const caFile = this.cfg['tls-client-ca-file'];
    if (certFile === '' || keyFile === '') throw new Error('syslog.tls-listen-address needs syslog.tls-cert-file and syslog.tls-key-file');
    const read = (key: string, file: string): Buffer => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new Error(`cannot read syslog.${key} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
    };
    const opts: tls.TlsOptions = {
      cert: read('tls-cert-file', certFile),
      key: read('tls-key-file', keyFile),
      minVersion: 'TLSv1.2',
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    };
    if (caFile !== '') {
      opts.ca = read('tls-client-ca-file', caFile);
      opts.requestCert = true;
      opts.rejectUnauthorized = true;
    }
    try {
      tls.createSecureContext(opts);
    } catch (err) {
      throw new Error(`syslog TLS certificate, key or CA is not usable: ${(err as Error).message}`, { cause: err });
    }
    return opts;
  }

  private async bindTls(addr: ListenAddress, opts: tls.TlsOptions): Promise<void> {
    const server = tls.createServer(opts, (socket) => this.connection(socket, 'tls'));
    server.on('tlsClientError', (err, socket) => {
      this.metrics.rejected.inc({ transport: 'tls', reason: 'tls_handshake' });
      this.warn.warn('tls-handshake', { err: err.message, peer: socket.remoteAddress }, 'syslog TLS handshake failed');
      socket.destroy();
    });
    const listener = this.streamListener('tls', (raw) => server.emit('connection', raw));
    this.tlsListener = listener;
    await listen(listener, addr, 'TLS');
    this.bound.tls = formatListenAddress({ host: addr.host, port: (listener.address() as AddressInfo).port });
  }

  // ---- connections (TCP and TLS) ---------------------------------------------------------------------

  /** A TCP listener with the connection limit and the source check; `accept` gets the allowed sockets. */
  private streamListener(transport: Transport, accept: (socket: net.Socket) => void): net.Server {
    const server = net.createServer((socket) => {
      if (this.allow !== undefined && !this.allow.allows(socket.remoteAddress ?? '')) {
        this.metrics.notAllowed.inc({ transport });
        this.metrics.rejected.inc({ transport, reason: 'not_allowed' });
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      accept(socket);
    });
    server.maxConnections = this.cfg['max-connections'];
    server.on('drop', () => {
      this.metrics.rejected.inc({ transport, reason: 'max_connections' });
      this.warn.warn(`max-connections-${transport}`, { transport, max: this.cfg['max-connections'] }, 'syslog connection refused: syslog.max-connections reached');
    });
    server.on('listening', () =>
      server.on('error', (err) => this.warn.warn(`server-error-${transport}`, { err: err.message, transport }, 'syslog listener error')),
    );
    return server;
  }

  /** A connection that carries syslog frames: a TCP socket, or a TLS socket after its handshake. */
  private connection(socket: net.Socket, transport: Transport): void {
    const m = this.metrics;
    const ti = TRANSPORT_INDEX[transport];
    const peer = socket.remoteAddress ?? '';
    const framer = new StreamFramer(this.maxSize, {
      message: (b) => this.message(b, transport, peer),
      error: (reason) => this.framingError(transport, reason),
    });
    const conn: Connection = { transport, reason: 'peer' };
    this.conns.set(socket, conn);
    m.connections.inc({ transport });
    m.open.inc({ transport });
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      m.bytes.values[ti]! += chunk.length;
      framer.push(chunk);
    });
    socket.on('end', () => {
      ended = true;
      framer.end();
    });
    const idle = this.cfg['idle-timeout'];
    if (idle > 0) {
      socket.setTimeout(idle, () => {
        conn.reason = 'idle_timeout';
        socket.destroy();
      });
    }
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (conn.reason === 'peer') conn.reason = 'error';
      this.logger.debug({ err: err.code ?? err.message, peer, transport }, 'syslog connection error');
    });
    socket.on('close', () => {
      if (!ended) framer.abort();
      this.conns.delete(socket);
      m.open.dec({ transport });
      m.closed.inc({ transport, reason: conn.reason });
    });
  }
}

function listen(server: net.Server, addr: ListenAddress, what?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new Error(`cannot listen for syslog on ${what === undefined ? '' : what + ' '}${formatListenAddress(addr)}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen({ port: addr.port, host: addr.host }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
