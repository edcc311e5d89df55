import { listen } from '../parsers.js';
import { section } from '../types.js';

/** Syslog input (RFC 5424 / RFC 3164 over UDP and TCP). */
export const syslog = section({
  'listen-address': listen('Address for syslog messages on UDP and TCP (same port). Empty disables the syslog input.', '127.0.0.1:5514'),
});
