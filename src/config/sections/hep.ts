import { listen } from '../parsers.js';
import { section } from '../types.js';

/** HEP input (HEPv3 over UDP and TCP, HEPv1/v2 over UDP). */
export const hep = section({
  'listen-address': listen('Address for HEP packets on UDP and TCP (same port). Empty disables the HEP input.', '127.0.0.1:9060'),
});
