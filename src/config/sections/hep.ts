import { bool, bytes, cidrList, duration, int, listen, str } from '../parsers.js';
import { section } from '../types.js';

/** HEP input (HEPv3 over UDP and TCP, HEPv1/v2 over UDP). See docs/hep-input.md. */
export const hep = section({
  'listen-address': listen('Address for HEP packets on UDP and TCP (same port). Empty disables the HEP input.', '127.0.0.1:9060'),
  udp: bool('Receive HEP (v1, v2, v3) over UDP on hep.listen-address.', true),
  tcp: bool('Receive HEPv3 over TCP on hep.listen-address.', true),
  'auth-key': str('When set, only HEPv3 packets whose auth key chunk (0x000e) equals this value are counted; packets with a missing or wrong key are dropped and counted in sip_exporter_hep_auth_failures_total. HEPv1/v2 packets carry no key and are dropped too.', '', { secret: true }),
  'allowed-sources': cidrList('Source addresses (CIDR blocks, repeatable) allowed to send HEP; others are dropped (UDP) or refused (TCP) and counted. Empty allows everyone.'),
  'max-rate-per-source': int('Most HEP packets per second accepted from one source address (UDP datagrams and TCP packets together), with a burst of one second worth; packets over it are dropped and counted in sip_exporter_hep_rate_limited_total and sip_exporter_dropped_total{reason="rate_limited"}. The last 4096 sources are remembered. 0 is unlimited.', 0, 0, 100_000_000),
  'dedup-window': duration('How long a response or request is remembered for de-duplication after its first copy. Keep it at least 32s (64 x T1, the longest a SIP retransmission can follow the first copy).', '40s', 1000, 3_600_000),
  'dedup-max-entries': int('Most responses (and, separately, requests) remembered for de-duplication; 16-32 bytes each. When full, the oldest entries are forgotten early and counted in sip_exporter_hep_window_evictions_total. Size it as messages per second x dedup-window.', 1_000_000, 1000, 100_000_000),
  'transaction-timeout': duration('How long a request waits for its final response for the latency histograms before it is forgotten (INVITEs can ring for minutes).', '3m', 1000, 3_600_000),
  'max-pending-transactions': int('Most requests waiting for their response for the latency histograms; when full, new requests are not timed and this is counted.', 200_000, 100, 100_000_000),
  'recv-buffer-size': bytes('Socket receive buffer requested for UDP (SO_RCVBUF). The kernel caps it at net.core.rmem_max; raise that sysctl for high packet rates. The size obtained is exported as sip_exporter_hep_udp_receive_buffer_bytes. 0 keeps the kernel default.', '4MiB', 0, 1024 * 1024 * 1024),
  'max-connections': int('Most simultaneous HEP TCP connections; further connections are refused and counted.', 256, 1, 100_000),
  'tcp-idle-timeout': duration('A HEP TCP connection that sends nothing for this long is closed (0 never closes idle connections).', '5m', 0, 86_400_000),
  'max-message-size': bytes('Largest payload accepted after decompression (compressed payload chunks and gzip-wrapped packets); larger ones are counted as decode error too_large.', '64KiB', 1024, 16 * 1024 * 1024),
  'log-packets': bool('Also parse HEP log packets (protocol type 100, e.g. Kamailio hlog(); and OpenSIPS xlog type 0x56) with the log dialects. Off by default: a proxy that sends both the SIP messages and log lines about them would be counted twice.', false),
});
