import { Counter, Gauge, type Registry } from 'prom-client';
import { DenseCounter } from '../../metrics/dense.js';
import { HEP_DECODE_ERRORS, type HepDecodeError } from '../../parse/hep.js';

export const TRANSPORTS = ['udp', 'tcp'] as const;
export type Transport = (typeof TRANSPORTS)[number];
export const UDP = 0;
export const TCP = 1;

export const PAYLOAD_TYPES = ['sip', 'log', 'other'] as const;
export const AUTH_FAILURES = ['missing', 'wrong'] as const;
export const WINDOWS = ['responses', 'requests', 'transactions'] as const;
export type WindowName = (typeof WINDOWS)[number];
export const MESSAGE_KINDS = ['response', 'request'] as const;
export const DUP_KINDS = ['retransmission', 'relayed'] as const;
export const DISCONNECT_REASONS = ['closed', 'idle_timeout', 'garbage', 'error', 'shutdown'] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];
export const REFUSE_REASONS = ['max_connections', 'not_allowed'] as const;

/**
 * The HEP input's own metrics (prefix sip_exporter_hep_). Hot counters (packets, bytes, payload types,
 * duplicates) are dense arrays; rare ones are plain prom-client counters. All label values are closed
 * sets. The registry may outlive one HEP input (config reload restarts it), so one instance per registry.
 */
export class HepMetrics {
  readonly packets: DenseCounter;
  readonly bytes: DenseCounter;
  readonly payloads: DenseCounter;
  readonly duplicates: DenseCounter;
  readonly decodeErrors: Counter<'transport' | 'reason'>;
  readonly authFailures: Counter<'reason'>;
  readonly notAllowed: Counter<'transport'>;
  readonly rateLimited: Counter<'transport'>;
  readonly windowEntries: Gauge<'window'>;
  readonly windowEvictions: Counter<'window'>;
  readonly transactionTimeouts: Counter;
  readonly latencySkipped: Counter<'reason'>;
  readonly tcpConnections: Gauge;
  readonly tcpAccepted: Counter;
  readonly tcpRefused: Counter<'reason'>;
  readonly tcpDisconnects: Counter<'reason'>;
  readonly udpReceiveBuffer: Gauge;
  readonly udpKernelDrops: Counter;
  readonly udpQueue: Gauge;
  /** Filled by the running input at scrape time. */
  collectors: { window?: () => Record<WindowName, number>; udp?: () => { drops: number; queue: number } | undefined } = {};

  constructor(registry: Registry) {
    const self = this;
    this.packets = new DenseCounter(registry, 'sip_exporter_hep_packets_total', 'HEP packets received (UDP datagrams, or packets framed from a TCP stream), by transport, before any decoding.', ['transport'], TRANSPORTS.length, (i) => ({ transport: TRANSPORTS[i] as string }));
    this.bytes = new DenseCounter(registry, 'sip_exporter_hep_bytes_total', 'Bytes of HEP packets received, by transport.', ['transport'], TRANSPORTS.length, (i) => ({ transport: TRANSPORTS[i] as string }));
    this.payloads = new DenseCounter(
      registry,
      'sip_exporter_hep_payloads_total',
      'Decoded and authenticated HEP packets by payload type: sip (protocol type 1, counted), log (type 100 or 0x56, parsed only with hep.log-packets) and other (RTCP, QoS reports and other types, ignored).',
      ['type'],
      PAYLOAD_TYPES.length,
      (i) => ({ type: PAYLOAD_TYPES[i] as string }),
    );
    this.duplicates = new DenseCounter(
      registry,
      'sip_exporter_hep_duplicates_total',
      'Copies of an already seen SIP message received over HEP, by message (request or response) and kind: retransmission (a source/destination pair already seen for it) or relayed (another leg). Response copies are also in sip_response_duplicates_total.',
      ['message', 'kind'],
      MESSAGE_KINDS.length * DUP_KINDS.length,
      (i) => ({ message: MESSAGE_KINDS[Math.floor(i / DUP_KINDS.length)] as string, kind: DUP_KINDS[i % DUP_KINDS.length] as string }),
    );
    for (let i = 0; i < TRANSPORTS.length; i++) {
      this.packets.show(i);
      this.bytes.show(i);
    }
    for (let i = 0; i < PAYLOAD_TYPES.length; i++) this.payloads.show(i);
    for (let i = 0; i < MESSAGE_KINDS.length * DUP_KINDS.length; i++) this.duplicates.show(i);

    this.decodeErrors = new Counter({ name: 'sip_exporter_hep_decode_errors_total', help: 'HEP packets that could not be decoded, by transport and reason (the same reasons appear in sip_exporter_parse_errors_total{source="hep"}).', labelNames: ['transport', 'reason'], registers: [registry] });
    for (const t of TRANSPORTS) for (const r of HEP_DECODE_ERRORS) this.decodeErrors.inc({ transport: t, reason: r }, 0);
    this.authFailures = new Counter({ name: 'sip_exporter_hep_auth_failures_total', help: 'HEP packets dropped because hep.auth-key is set and the packet carried no auth key chunk (missing) or another key (wrong).', labelNames: ['reason'], registers: [registry] });
    for (const r of AUTH_FAILURES) this.authFailures.inc({ reason: r }, 0);
    this.notAllowed = new Counter({ name: 'sip_exporter_hep_not_allowed_total', help: 'HEP UDP packets and TCP connections from source addresses outside hep.allowed-sources, by transport; they are discarded unread.', labelNames: ['transport'], registers: [registry] });
    for (const t of TRANSPORTS) this.notAllowed.inc({ transport: t }, 0);
    this.rateLimited = new Counter({ name: 'sip_exporter_hep_rate_limited_total', help: 'HEP packets dropped because their source address sent more than hep.max-rate-per-source packets per second, by transport; they are counted in sip_exporter_hep_packets_total but not decoded.', labelNames: ['transport'], registers: [registry] });
    for (const t of TRANSPORTS) this.rateLimited.inc({ transport: t }, 0);
    this.windowEntries = new Gauge({
      name: 'sip_exporter_hep_window_entries',
      help: 'Entries currently held by the HEP input: responses and requests remembered for de-duplication, and transactions waiting for their final response (latency).',
      labelNames: ['window'],
      registers: [registry],
      collect() {
        const v = self.collectors.window?.();
        for (const w of WINDOWS) this.set({ window: w }, v?.[w] ?? 0);
      },
    });
    this.windowEvictions = new Counter({ name: 'sip_exporter_hep_window_evictions_total', help: 'Entries forgotten early because their table was full (hep.dedup-max-entries, hep.max-pending-transactions): for responses and requests a later copy may then be counted again; for transactions the request is not timed.', labelNames: ['window'], registers: [registry] });
    for (const w of WINDOWS) this.windowEvictions.inc({ window: w }, 0);
    this.transactionTimeouts = new Counter({ name: 'sip_exporter_hep_transaction_timeouts_total', help: 'Requests (other than ACK) for which no final response was seen within hep.transaction-timeout.', registers: [registry] });
    this.latencySkipped = new Counter({ name: 'sip_exporter_hep_latency_skipped_total', help: 'Request/response pairs not put in the latency histograms, by reason: negative_delay (the response was captured before its request: clocks of different capture agents disagree).', labelNames: ['reason'], registers: [registry] });
    this.latencySkipped.inc({ reason: 'negative_delay' }, 0);
    this.tcpConnections = new Gauge({ name: 'sip_exporter_hep_tcp_connections', help: 'HEP TCP connections currently open.', registers: [registry] });
    this.tcpAccepted = new Counter({ name: 'sip_exporter_hep_tcp_connections_total', help: 'HEP TCP connections accepted.', registers: [registry] });
    this.tcpRefused = new Counter({ name: 'sip_exporter_hep_tcp_refused_total', help: 'HEP TCP connections refused, by reason: max_connections (hep.max-connections reached) or not_allowed (source outside hep.allowed-sources).', labelNames: ['reason'], registers: [registry] });
    for (const r of REFUSE_REASONS) this.tcpRefused.inc({ reason: r }, 0);
    this.tcpDisconnects = new Counter({
      name: 'sip_exporter_hep_tcp_disconnects_total',
      help: 'HEP TCP connections ended, by reason: closed (by the sender), idle_timeout (hep.tcp-idle-timeout), garbage (bytes that are not HEPv3 framing: closed by the exporter), error (socket error) or shutdown.',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const r of DISCONNECT_REASONS) this.tcpDisconnects.inc({ reason: r }, 0);
    this.udpReceiveBuffer = new Gauge({ name: 'sip_exporter_hep_udp_receive_buffer_bytes', help: 'Receive buffer size (SO_RCVBUF) the kernel granted the HEP UDP socket; below hep.recv-buffer-size when net.core.rmem_max caps it (Linux reports twice the requested value, its bookkeeping overhead included).', registers: [registry] });
    this.udpKernelDrops = new Counter({
      name: 'sip_exporter_hep_udp_kernel_drops_total',
      help: 'HEP UDP datagrams the kernel dropped because the socket receive buffer was full (the drops column of /proc/net/udp or /proc/net/udp6 for this socket; stays 0 where /proc is not readable). Non-zero means the exporter could not keep up: raise hep.recv-buffer-size and net.core.rmem_max.',
      registers: [registry],
      collect() {
        const v = self.collectors.udp?.();
        if (v === undefined) return;
        this.reset();
        this.inc(v.drops);
      },
    });
    this.udpQueue = new Gauge({
      name: 'sip_exporter_hep_udp_receive_queue_bytes',
      help: 'Bytes waiting in the HEP UDP socket receive queue at scrape time (the rx_queue column of /proc/net/udp).',
      registers: [registry],
      collect() {
        const v = self.collectors.udp?.();
        this.set(v?.queue ?? 0);
      },
    });
  }

  decodeError(transport: number, reason: HepDecodeError): void {
    this.decodeErrors.inc({ transport: TRANSPORTS[transport] as string, reason });
  }
}

const perRegistry = new WeakMap<Registry, HepMetrics>();

export function hepMetrics(registry: Registry): HepMetrics {
  let m = perRegistry.get(registry);
  if (!m) {
    m = new HepMetrics(registry);
    perRegistry.set(registry, m);
  }
  return m;
}
