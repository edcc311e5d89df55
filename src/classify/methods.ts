/**
 * The `method` label is a closed set: the standard SIP methods, OTHER for any extension method, and
 * unknown when the input carries no method at all (e.g. Asterisk chan_sip "Got SIP response").
 */

export const STANDARD_METHODS = [
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK',
  'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE',
] as const;

export const METHOD_LABELS: readonly string[] = [...STANDARD_METHODS, 'OTHER', 'unknown'];
export const OTHER_INDEX = STANDARD_METHODS.length;
export const UNKNOWN_INDEX = STANDARD_METHODS.length + 1;
export const METHOD_COUNT = METHOD_LABELS.length;

const index = new Map<string, number>(STANDARD_METHODS.map((m, i) => [m, i]));

/**
 * Index into METHOD_LABELS. SIP method names are case-sensitive (RFC 3261 section 7.1), so "invite" is
 * an extension method and counts as OTHER; '' means the input had no method.
 */
export function methodIndex(method: string): number {
  if (method === '') return UNKNOWN_INDEX;
  return index.get(method) ?? OTHER_INDEX;
}

export function methodLabel(method: string): string {
  return METHOD_LABELS[methodIndex(method)] as string;
}
