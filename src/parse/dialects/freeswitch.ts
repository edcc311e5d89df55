import { parseStatusCode } from '../../classify/status.js';
import type { ParseResult, SipEvent } from '../../event.js';
import type { BlockHeader } from './asterisk.js';

/**
 * FreeSWITCH log formats (format notes C.4):
 * - `Channel sofia/internal/2003@198.27.217.12:61342 entering state [terminated][603]`: sofia call state
 *   and the last SIP status of the INVITE dialog; 0 means no status yet.
 * - sofia-sip stack debug: `nta: received 480 Temporarily Unavailable for INVITE (1)` / `nta: sent ...`.
 * - `sofia global siptrace on`: `recv 603 bytes from udp/[10.0.0.1]:5060 at 16:49:33.907405:`, a line of
 *   72 dashes, then the SIP message (sofia-sip tport_logging.c tport_stamp / tport_log_msg).
 */

export const FS_STATE_MARKER = 'entering state [';
export const NTA_MARKER = 'nta: ';
export const SIPTRACE_MARKER = ' bytes ';

export interface FsState {
  channel: string;
  state: string;
  /** 0 when FreeSWITCH has no SIP status yet. */
  code: number;
}

const STATE = /Channel (\S+) entering state \[(\w*)\]\[([^\]]*)\]/;

/** Parses an `entering state` line: the state, or a parse error, or undefined when it is not one. */
export function parseFsState(line: string): FsState | { error: string } | undefined {
  const m = STATE.exec(line);
  if (!m) return undefined;
  const text = m[3] as string;
  if (text === '' || /^0+$/.test(text)) return { channel: m[1] as string, state: m[2] as string, code: 0 };
  const code = parseStatusCode(text);
  if (code === undefined) return { error: 'invalid_code' };
  return { channel: m[1] as string, state: m[2] as string, code };
}

const NTA = /nta: (received|sent) (\S+) (.*?) for (\S+) \((\d+)\)/y;

/** `nta: received|sent <code> <phrase> for <METHOD> (<cseq>)`, marker at `at`. */
export function parseNta(line: string, at: number): ParseResult {
  NTA.lastIndex = at;
  const m = NTA.exec(line);
  if (!m) return undefined;
  const code = parseStatusCode(m[2] as string);
  if (code === undefined) {
    // "nta: received 100 Trying for ..." always has a 3-digit code; anything else in that place is broken.
    return /^\d/.test(m[2] as string) ? { error: 'invalid_code' } : undefined;
  }
  const ev: SipEvent = { code, reason: m[3] as string, method: m[4] as string };
  const cseq = Number(m[5]);
  if (Number.isSafeInteger(cseq)) ev.cseq = cseq;
  return ev;
}

const SIPTRACE = /(?:^|\s)(recv|send) \d+ bytes (?:from|to) \w+\/\[([^\]]*)\]:(\d+)\S* at \d\d:\d\d:\d\d\.\d+:\s*$/;

/** A siptrace header line (`recv N bytes from udp/[ip]:port at hh:mm:ss.uuuuuu:`). */
export function siptraceHeader(line: string): BlockHeader | undefined {
  const m = SIPTRACE.exec(line);
  if (!m) return undefined;
  const addr = (m[2] as string).includes(':') ? `[${m[2]}]:${m[3]}` : `${m[2]}:${m[3]}`;
  return m[1] === 'recv' ? { kind: 'siptrace', response: undefined, src: addr } : { kind: 'siptrace', response: undefined, dst: addr };
}

const UUID_PREFIX = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} /;

/** Continuation lines of mod_logfile with uuid=true start with the channel UUID; drop it. */
export function stripFsUuid(line: string): string {
  return line.length > 37 && line.charCodeAt(8) === 45 && UUID_PREFIX.test(line) ? line.slice(37) : line;
}
