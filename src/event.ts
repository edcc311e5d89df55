/**
 * The one record every input produces. Log lines, HEP packets and syslog messages are all reduced to
 * this shape before classification, so counting rules live in exactly one place (src/pipeline.ts).
 */

/** Which kind of input produced an event; the `source` label of every SIP metric. */
export type Source = 'log' | 'hep' | 'syslog';
export const SOURCES: readonly Source[] = ['log', 'hep', 'syslog'];

export interface SipEvent {
  /** Status code, already validated to be a three-digit number 100-699. */
  code: number;
  /** Reason phrase as seen on the wire or in the log; never used as a label value. */
  reason: string;
  /** CSeq method as seen (case preserved); '' when the input does not carry one. */
  method: string;
  callId?: string;
  cseq?: number;
  toTag?: string;
  /** "ip:port" of the sender / receiver where the input says so. */
  src?: string;
  dst?: string;
  /** Capture or log time in milliseconds since the epoch, when the input carries one. */
  timestampMs?: number;
  /** Name of the input that produced the event (for logs and debugging, never a label). */
  input?: string;
}

/**
 * What a parser returns for one line, message or packet: an event, a counted error with a short
 * snake_case reason (a bounded label value), or `undefined` for input that is simply not a SIP response.
 * Parsers never throw on bad input.
 */
export interface ParseError {
  error: string;
}
export type ParseResult = SipEvent | ParseError | undefined;

export function isParseError(r: ParseResult): r is ParseError {
  return r !== undefined && (r as ParseError).error !== undefined;
}
