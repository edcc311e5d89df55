import { Counter, Gauge, type Registry } from 'prom-client';
import { DenseCounter } from '../../metrics/dense.js';
import { FRAMING_ERRORS } from '../../parse/syslog/framing.js';
import { SYSLOG_HEADER_ERRORS } from '../../parse/syslog/header.js';
import type { UdpSocketStats } from '../../net/procnet.js';

export const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export type Transport = (typeof TRANSPORTS)[number];
export const TRANSPORT_INDEX: Record<Transport, number> = { udp: 0, tcp: 1, tls: 2 };

export const REJECT_REASONS = ['max_connections', 'not_allowed', 'tls_handshake'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
export const CLOSE_REASONS = ['peer', 'idle_timeout', 'error', 'shutdown'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/**
 * The syslog input's own metrics (prefix sip_exporter_syslog_). Per-message counters are dense arrays
 * (one increment on the hot path); connection and error counters are ordinary prom-client counters.
 * All label values come from the closed sets above.
 */
export class SyslogMetrics {
  readonly messages: DenseCounter;
  readonly bytes: DenseCounter;
  readonly framingErrors: Counter<'transport' | 'reason'>;
  readonly headerErrors: Counter<'transport' | 'reason'>;
  readonly filtered: Counter<'transport'>;
  readonly connections: Counter<'transport'>;
  readonly rejected: Counter<'transport' | 'reason'>;
  readonly closed: Counter<'transport' | 'reason'>;
  readonly open: Gauge<'transport'>;
  readonly notAllowed: Counter<'transport'>;
  readonly rateLimited: Counter<'transport'>;
  readonly udpReceiveBuffer: Gauge;
  readonly udpKernelDrops: Counter;
  readonly udpQueue: Gauge;
  /** Kernel statistics of the running input's UDP socket, read at scrape time. */
  udpStats: (() => UdpSocketStats | undefined) | undefined;

  private constructor(registry: Registry) {
    const byTransport = (i: number): Record<string, string> => ({ transport: TRANSPORTS[i] as string });
    this.messages = new DenseCounter(
      registry,
      'sip_exporter_syslog_messages_total',
      'Syslog messages received, by transport (udp, tcp, tls), after framing and before header parsing and the app-name filter.',
      ['transport'],
      TRANSPORTS.length,
      byTransport,
    );
    this.bytes = new DenseCounter(
      registry,
      'sip_exporter_syslog_received_bytes_total',
      'Bytes received by the syslog input, by transport, including framing (for TLS: decrypted bytes).',
      ['transport'],
      TRANSPORTS.length,
      byTransport,
    );
    this.framingErrors = new Counter({
      name: 'sip_exporter_syslog_framing_errors_total',
      help: 'Syslog frames that could not be read as sent, by transport and reason: bad_octet_count (digits not followed by a space; the frame is read up to its LF instead), message_too_large (dropped), truncated_frame (the connection ended inside a frame; dropped).',
      labelNames: ['transport', 'reason'],
      registers: [registry],
    });
    this.headerErrors = new Counter({
      name: 'sip_exporter_syslog_header_errors_total',
      help: 'Syslog messages dropped because their header could not be parsed, by transport and reason (bad_pri, bad_header for an RFC 5424 header with missing or invalid fields, bad_structured_data).',
      labelNames: ['transport', 'reason'],
      registers: [registry],
    });
    this.filtered = new Counter({
      name: 'sip_exporter_syslog_filtered_messages_total',
      help: 'Syslog messages skipped because their program is not in syslog.app-name, by transport.',
      labelNames: ['transport'],
      registers: [registry],
    });
    this.connections = new Counter({
      name: 'sip_exporter_syslog_connections_total',
      help: 'TCP and TLS connections accepted by the syslog input (TLS: after a successful handshake), by transport.',
      labelNames: ['transport'],
      registers: [registry],
    });
    this.rejected = new Counter({
      name: 'sip_exporter_syslog_connections_rejected_total',
      help: 'TCP and TLS connections the syslog input refused, by transport and reason: max_connections (syslog.max-connections reached), not_allowed (source outside syslog.allowed-sources) or tls_handshake (failed or timed-out handshake, including a missing or untrusted client certificate).',
      labelNames: ['transport', 'reason'],
      registers: [registry],
    });
    this.closed = new Counter({
      name: 'sip_exporter_syslog_connections_closed_total',
      help: 'Syslog connections that ended, by transport and reason: peer (the sender closed it), idle_timeout (syslog.idle-timeout), error (reset or socket error), shutdown (exporter stopping or reloading).',
      labelNames: ['transport', 'reason'],
      registers: [registry],
    });
    this.open = new Gauge({
      name: 'sip_exporter_syslog_open_connections',
      help: 'TCP and TLS connections currently open to the syslog input, by transport.',
      labelNames: ['transport'],
      registers: [registry],
    });
    this.notAllowed = new Counter({
      name: 'sip_exporter_syslog_not_allowed_total',
      help: 'UDP datagrams and TCP/TLS connections from source addresses outside syslog.allowed-sources, by transport; they are discarded unread.',
      labelNames: ['transport'],
      registers: [registry],
    });
    this.rateLimited = new Counter({
      name: 'sip_exporter_syslog_rate_limited_total',
      help: 'Syslog messages dropped because their source address sent more than syslog.max-rate-per-source messages per second, by transport; they are counted in sip_exporter_syslog_messages_total but not parsed.',
      labelNames: ['transport'],
      registers: [registry],
    });
    this.udpReceiveBuffer = new Gauge({
      name: 'sip_exporter_syslog_udp_receive_buffer_bytes',
      help: 'Receive buffer size (SO_RCVBUF) the kernel granted the syslog UDP socket; below syslog.recv-buffer-size when net.core.rmem_max caps it (Linux reports twice the requested value, its bookkeeping overhead included).',
      registers: [registry],
    });
    const self = this;
    this.udpKernelDrops = new Counter({
      name: 'sip_exporter_syslog_udp_kernel_drops_total',
      help: 'Syslog UDP datagrams the kernel dropped because the socket receive buffer was full (the drops column of /proc/net/udp for this socket; absent where not readable). Non-zero means messages were lost before the exporter saw them: raise syslog.recv-buffer-size and net.core.rmem_max, or forward over TCP.',
      registers: [registry],
      collect() {
        const v = self.udpStats?.();
        if (v === undefined) return;
        this.reset();
        this.inc(v.drops);
      },
    });
    this.udpQueue = new Gauge({
      name: 'sip_exporter_syslog_udp_receive_queue_bytes',
      help: 'Bytes waiting in the syslog UDP socket receive queue at scrape time (the rx_queue column of /proc/net/udp).',
      registers: [registry],
      collect() {
        this.set(self.udpStats?.()?.queue ?? 0);
      },
    });
  }

  private static readonly byRegistry = new WeakMap<Registry, SyslogMetrics>();

  /** One set per registry: a restarted input (config reload) keeps counting into the same series. */
  static for(registry: Registry): SyslogMetrics {
    let m = SyslogMetrics.byRegistry.get(registry);
    if (!m) {
      m = new SyslogMetrics(registry);
      SyslogMetrics.byRegistry.set(registry, m);
    }
    return m;
  }

  /** Creates the series of the enabled transports at zero. */
  show(transports: readonly Transport[]): void {
    for (const transport of transports) {
      this.messages.show(TRANSPORT_INDEX[transport]);
      this.bytes.show(TRANSPORT_INDEX[transport]);
      for (const reason of FRAMING_ERRORS) if (transport !== 'udp' || reason === 'message_too_large') this.framingErrors.inc({ transport, reason }, 0);
      for (const reason of SYSLOG_HEADER_ERRORS) this.headerErrors.inc({ transport, reason }, 0);
      this.filtered.inc({ transport }, 0);
      this.notAllowed.inc({ transport }, 0);
      this.rateLimited.inc({ transport }, 0);
      if (transport === 'udp') continue;
      this.connections.inc({ transport }, 0);
      for (const reason of REJECT_REASONS) if (transport === 'tls' || reason !== 'tls_handshake') this.rejected.inc({ transport, reason }, 0);
      for (const reason of CLOSE_REASONS) this.closed.inc({ transport, reason }, 0);
      this.open.inc({ transport }, 0);
    }
  }
}
