import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { formatListenAddress, type ListenAddress } from '../../config/parsers.js';
import type { Config } from '../../config/schema.js';
import { RateLimitedLog, type Logger } from '../../logger.js';
import { latencyMetrics } from '../../metrics/latency.js';
import { Allowlist } from '../../net/allowlist.js';
import { sourceRateLimiter, type SourceRateLimiter } from '../../net/ratelimit.js';
import type { Pipeline } from '../../pipeline.js';
import { registerSource, type InputSource, type SourceContext } from '../registry.js';
import { HepStreamFramer } from './framing.js';
import { TCP, UDP, type DisconnectReason, type HepMetrics } from './metrics.js';
import { HEP_DROP_REASONS, HEP_PARSE_ERRORS, HepProcessor, type ProcessorOptions } from './processor.js';
import { warmUpHep } from './warmup.js';
import { UdpSocketWatcher } from '../../net/procnet.js';

type HepConfig = Config['hep'];

/**
 * The HEP input: one UDP socket (HEPv1/v2/v3, one packet per datagram) and one TCP listener (HEPv3,
 * back-to-back packets) on the same address and port. All work on a packet is done synchronously in
 * the socket's callback by HepProcessor (well under a microsecond per packet), so there is no queue to
 * overflow inside the exporter; when the process cannot keep up, the kernel's socket buffer fills and
 * drops, and those drops are exported from /proc/net/udp.
 */
export class HepInput implements InputSource {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly conns = new Map<Socket, { reason: DisconnectReason | undefined }>();
  private processor: HepProcessor | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watcher: UdpSocketWatcher | undefined;
  private readonly allow: Allowlist | undefined;
  /** Per-source packet rate limit (hep.max-rate-per-source), shared by UDP and TCP; undefined when off. */
  private readonly limit: SourceRateLimiter | undefined;
  private readonly warn: RateLimitedLog;
  private bound: { udp?: string; tcp?: string } = {};
  private stopping = false;

  constructor(private readonly cfg: HepConfig, private readonly pipeline: Pipeline, private readonly logger: Logger) {
    this.allow = cfg['allowed-sources'].length > 0 ? new Allowlist(cfg['allowed-sources']) : undefined;
    this.limit = sourceRateLimiter(cfg['max-rate-per-source']);
    this.warn = new RateLimitedLog(logger);
  }

  private get m(): HepMetrics {
    return this.processor!.metrics;
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    const addr = cfg['listen-address'];
    if (!addr) throw new Error('hep.listen-address is empty');
    const opts: ProcessorOptions = {
      authKey: cfg['auth-key'] !== '' ? Buffer.from(cfg['auth-key'], 'utf8') : undefined,
      dedupWindowMs: cfg['dedup-window'],
      dedupMaxEntries: cfg['dedup-max-entries'],
      transactionTimeoutMs: cfg['transaction-timeout'],
      maxPendingTransactions: cfg['max-pending-transactions'],
      maxMessageSize: cfg['max-message-size'],
      logPackets: cfg['log-packets'],
    };
    // before the socket opens: the first packets then already run optimised code
    warmUpHep(this.pipeline.catalogue, opts);
    this.processor = new HepProcessor(this.pipeline, opts);
    latencyMetrics(this.pipeline.registry).showZeroSeries('hep');
    await this.bind(addr);
    const m = this.m;
    const proc = this.processor;
    m.collectors.window = () => proc.windowSizes();
    m.collectors.udp = () => this.watcher?.read();
    this.timer = setInterval(() => proc.tick(Date.now()), 1000);
    this.timer.unref();
  }

  /** Binds UDP and TCP to the same port; with port 0 retries until both get the same free port. */
  private async bind(addr: ListenAddress): Promise<void> {
    const cfg = this.cfg;
    for (let attempt = 0; ; attempt++) {
      let port = addr.port;
      try {
        if (cfg.udp) {
          this.udp = await this.bindUdp(addr.host, port);
          port = this.udp.address().port;
        }
        if (cfg.tcp) this.tcp = await this.bindTcp(addr.host, port);
        return;
      } catch (err) {
        await this.closeSockets();
        const code = (err as NodeJS.ErrnoException).code;
        if (addr.port === 0 && cfg.udp && code === 'EADDRINUSE' && attempt < 20) continue;
        throw new Error(`cannot listen on ${formatListenAddress({ host: addr.host, port })}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  private bindUdp(host: string, port: number): Promise<UdpSocket> {
    const ipv6 = host.includes(':');
    const sock = createSocket({ type: ipv6 ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: host, port, exclusive: true }, () => {
        sock.off('error', reject);
        const want = this.cfg['recv-buffer-size'];
        if (want > 0) {
          try {
            sock.setRecvBufferSize(want);
          } catch (err) {
            this.logger.warn({ err: (err as Error).message, requested: want }, 'cannot set the HEP UDP receive buffer size');
          }
        }
        const got = safe(() => sock.getRecvBufferSize()) ?? 0;
        this.m.udpReceiveBuffer.set(got);
        // Linux doubles the requested value for its bookkeeping; less than the request means rmem_max capped it.
        if (want > 0 && got > 0 && got < want) {
          this.logger.warn(
            { requested: want, granted: got },
            'HEP UDP receive buffer is smaller than hep.recv-buffer-size: the kernel caps it at net.core.rmem_max (raise it, e.g. sysctl -w net.core.rmem_max=8388608)',
          );
        }
        const a = sock.address();
        this.bound.udp = formatListenAddress({ host: a.address, port: a.port });
        this.watcher = new UdpSocketWatcher(a.port, ipv6);
        sock.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address));
        sock.on('error', (err) => this.logger.error({ err: err.message }, 'HEP UDP socket error'));
        resolve(sock);
      });
    });
  }

  private onDatagram(msg: Buffer, from: string): void {
    const proc = this.processor!;
    if (this.allow !== undefined && !this.allow.allows(from)) {
      this.m.notAllowed.inc({ transport: 'udp' });
      this.pipeline.drop('hep', 'not_allowed');
      return;
    }
    proc.countPacket(UDP);
    proc.countBytes(UDP, msg.length);
    const now = Date.now();
    if (this.limit !== undefined && !this.limit.allow(from, now)) {
      this.rateLimited(UDP);
      return;
    }
    try {
      proc.handle(msg, 0, msg.length, UDP, now);
    } catch (err) {
      this.internalError(err);
    }
  }

  private rateLimited(transport: number): void {
    this.m.rateLimited.inc({ transport: transport === UDP ? 'udp' : 'tcp' });
    this.pipeline.drop('hep', 'rate_limited');
  }

  private internalError(err: unknown): void {
    this.pipeline.drop('hep', 'internal_error');
    this.warn.warn('internal', { err: (err as Error).message, stack: (err as Error).stack }, 'internal error while handling a HEP packet');
  }

  private bindTcp(host: string, port: number): Promise<Server> {
    const server = createServer({ noDelay: true });
    server.maxConnections = this.cfg['max-connections'];
    server.on('drop', () => this.m.tcpRefused.inc({ reason: 'max_connections' }));
    server.on('connection', (c) => this.onConnection(c));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.error({ err: err.message }, 'HEP TCP listener error'));
        const a = server.address();
        if (a && typeof a === 'object') this.bound.tcp = formatListenAddress({ host: a.address, port: a.port });
        resolve(server);
      });
    });
  }

  private onConnection(conn: Socket): void {
    const m = this.m;
    if (this.allow !== undefined && !this.allow.allows(conn.remoteAddress ?? '')) {
      m.tcpRefused.inc({ reason: 'not_allowed' });
      m.notAllowed.inc({ transport: 'tcp' });
      conn.destroy();
      return;
    }
    const proc = this.processor!;
    const state = { reason: undefined as DisconnectReason | undefined };
    this.conns.set(conn, state);
    m.tcpAccepted.inc();
    m.tcpConnections.inc();
    let now = Date.now();
    const limit = this.limit;
    const peer = conn.remoteAddress ?? '';
    const framer = new HepStreamFramer((buf, start, end) => {
      proc.countPacket(TCP);
      if (limit !== undefined && !limit.allow(peer, now)) {
        this.rateLimited(TCP);
        return;
      }
      proc.handle(buf, start, end, TCP, now);
    });
    conn.on('data', (chunk: Buffer) => {
      now = Date.now();
      proc.countBytes(TCP, chunk.length);
      let err;
      try {
        err = framer.push(chunk);
      } catch (e) {
        this.internalError(e);
        return;
      }
      if (err !== undefined) {
        proc.metrics.decodeError(TCP, err);
        this.pipeline.parseError('hep', err);
        this.warn.warn('tcp-garbage', { peer: `${conn.remoteAddress}:${conn.remotePort}`, reason: err }, 'closing a HEP TCP connection that does not send HEPv3');
        state.reason ??= 'garbage';
        conn.destroy();
      }
    });
    const idle = this.cfg['tcp-idle-timeout'];
    if (idle > 0) {
      conn.setTimeout(idle, () => {
        state.reason ??= 'idle_timeout';
        conn.destroy();
      });
    }
    conn.on('error', () => {
      state.reason ??= 'error';
    });
    conn.on('close', () => {
      // A packet cut off by the end of the connection is lost: count it.
      if (framer.buffered > 0 && framer.failed === undefined) {
        proc.metrics.decodeError(TCP, 'truncated');
        this.pipeline.parseError('hep', 'truncated');
      }
      this.conns.delete(conn);
      m.tcpConnections.dec();
      m.tcpDisconnects.inc({ reason: state.reason ?? (this.stopping ? 'shutdown' : 'closed') });
    });
  }

  addresses(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.bound.udp) out.udp = this.bound.udp;
    if (this.bound.tcp) out.tcp = this.bound.tcp;
    return out;
  }

  private async closeSockets(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    this.bound = {};
    if (udp) await new Promise<void>((r) => udp.close(() => r()));
    if (tcp) {
      for (const [c, s] of this.conns) {
        s.reason ??= 'shutdown';
        c.destroy();
      }
      await new Promise<void>((r) => tcp.close(() => r()));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.closeSockets();
    if (this.processor) {
      this.processor.close();
      this.processor.tick(Date.now());
      const m = this.processor.metrics;
      m.collectors = {};
    }
    this.watcher = undefined;
  }
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

registerSource({
  name: 'hep',
  enabled: (c) => c.hep['listen-address'] !== null && (c.hep.udp || c.hep.tcp),
  settings: (c) => c.hep,
  create: (ctx: SourceContext) => new HepInput(ctx.config.hep, ctx.pipeline, ctx.logger),
  parseErrorReasons: HEP_PARSE_ERRORS,
  dropReasons: [...HEP_DROP_REASONS, 'rate_limited'],
  countsRequests: true,
});
