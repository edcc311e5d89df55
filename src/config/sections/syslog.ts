import { bytes, cidrList, duration, int, listen, oneOf, str, strList } from '../parsers.js';
import { section } from '../types.js';
import { LOG_DIALECTS } from './log.js';

/** `inherit` uses log.dialect, so one setting covers files and syslog alike. */
export const SYSLOG_DIALECTS = ['inherit', ...LOG_DIALECTS] as const;

/** Syslog input (RFC 5424 / RFC 3164 over UDP, TCP and TLS). */
export const syslog = section({
  'listen-address': listen('Address for syslog messages on UDP and TCP (same port). Empty disables the syslog input.', '127.0.0.1:5514'),
  'tls-listen-address': listen('Address for syslog over TLS (RFC 5425, octet-counted or LF framing). Needs tls-cert-file and tls-key-file. Empty disables it.', ''),
  'tls-cert-file': str('PEM certificate (chain) the TLS listener presents.', ''),
  'tls-key-file': str('PEM private key of tls-cert-file.', ''),
  'tls-client-ca-file': str('PEM CA bundle; when set, TLS clients must present a certificate signed by it.', ''),
  'app-name': strList(
    'Only parse messages whose program (RFC 5424 APP-NAME, RFC 3164 tag without [pid]) is this name or ends in /name (repeatable). None parses every message.',
    [],
    (n) => (n === '' || /\s/.test(n) ? 'expected a program name without spaces' : undefined),
  ),
  dialect: oneOf('Log format of the message text; inherit uses log.dialect.', 'inherit', SYSLOG_DIALECTS),
  'max-message-size': bytes('Largest syslog message accepted (without framing); longer ones are dropped and counted.', '64KiB', 480, 16 * 1024 * 1024),
  'max-connections': int('Most simultaneous connections on each of the TCP and TLS listeners; more are refused and counted.', 512, 1, 1_000_000),
  'idle-timeout': duration('Closes a TCP or TLS connection that sent nothing for this long (0s never closes it).', '1h'),
  'allowed-sources': cidrList('Source addresses (CIDR blocks, repeatable) allowed to send syslog; other UDP datagrams are dropped and other TCP/TLS connections refused, both counted. Empty allows everyone.'),
  'max-rate-per-source': int('Most syslog messages per second accepted from one source address (UDP, TCP and TLS together), with a burst of one second worth; messages over it are dropped and counted in sip_exporter_syslog_rate_limited_total and sip_exporter_dropped_total{reason="rate_limited"}. The last 4096 sources are remembered. 0 is unlimited.', 0, 0, 100_000_000),
  'recv-buffer-size': bytes('Socket receive buffer requested for UDP (SO_RCVBUF). The kernel caps it at net.core.rmem_max; raise that sysctl for high message rates. 0 keeps the system default.', '4MiB', 0, 1024 ** 3),
});
