import { parseStatusCode } from '../../classify/status.js';
import type { ParseResult, SipEvent } from '../../event.js';

/**
 * Asterisk log formats (format notes C.3):
 * - PJSIP logger: `<--- Received SIP response (412 bytes) from UDP:3.80.16.87:5060 --->` or
 *   `<--- Transmitting SIP response (477 bytes) to UDP:1.2.3.4:5060 --->`, then the raw SIP message on the
 *   following lines, ending at a blank line. Only the header line carries the logger prefix.
 * - chan_sip: `Got SIP response 486 "Busy Here" back from 10.0.0.1:5060` (no method, no Call-ID), and the
 *   dumps `<--- SIP read from UDP:1.2.3.4:5060 --->` / `<--- Transmitting (NAT) to 1.2.3.4:5060 --->`
 *   followed by the message and a `<------------->` line.
 */

export const ASTERISK_BLOCK_MARKER = '<--- ';
export const CHAN_SIP_GOT_MARKER = 'Got SIP response ';

export type AsteriskBlockKind = 'pjsip' | 'chansip';

export interface BlockHeader {
  kind: AsteriskBlockKind | 'siptrace';
  /** The header promises a response (pjsip says so); undefined when the message decides. */
  response: boolean | undefined;
  src?: string;
  dst?: string;
}

const PJSIP_HDR = /<--- (Received|Transmitting) SIP (request|response) \(\d+ bytes\) (?:from|to) [A-Za-z]+:(\S+) --->/y;
const CHANSIP_READ = /<--- SIP read from (?:[A-Za-z]+:)?(\S+) --->/y;
const CHANSIP_SENT = /<--- (?:Reliably )?Transmitting \([^)]*\) to (?:[A-Za-z]+:)?(\S+) --->/y;

/** Recognises a block header whose `<--- ` marker is at `at`; requests of the PJSIP logger are not opened. */
export function asteriskBlockHeader(line: string, at: number): BlockHeader | undefined {
  PJSIP_HDR.lastIndex = at;
  let m = PJSIP_HDR.exec(line);
  if (m) {
    if (m[2] !== 'response') return undefined;
    return m[1] === 'Received' ? { kind: 'pjsip', response: true, src: m[3] as string } : { kind: 'pjsip', response: true, dst: m[3] as string };
  }
  CHANSIP_READ.lastIndex = at;
  m = CHANSIP_READ.exec(line);
  if (m) return { kind: 'chansip', response: undefined, src: m[1] as string };
  CHANSIP_SENT.lastIndex = at;
  m = CHANSIP_SENT.exec(line);
  if (m) return { kind: 'chansip', response: undefined, dst: m[1] as string };
  return undefined;
}

/** The line that ends a chan_sip dump: `<------------->` (13 dashes) or `<------------>` (12). */
export function isChanSipDumpEnd(line: string): boolean {
  const t = line.trim();
  return t.length >= 7 && t.startsWith('<---') && t.endsWith('->') && /^<-+>$/.test(t);
}

const GOT = /Got SIP response (\S+)(?: "(.*)")?(?: back from (\S+))?/y;

/** chan_sip `Got SIP response 486 "Busy Here" back from 10.0.0.1:5060`; the marker is at `at`. */
export function parseChanSipGot(line: string, at: number): ParseResult {
  GOT.lastIndex = at;
  const m = GOT.exec(line);
  if (!m) return undefined;
  const code = parseStatusCode(m[1] as string);
  if (code === undefined) return { error: 'invalid_code' };
  const ev: SipEvent = { code, reason: m[2] ?? '', method: '' };
  if (m[3] !== undefined) ev.src = m[3];
  return ev;
}
