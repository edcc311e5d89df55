/**
 * RFC 3261 status-code rules. The grammar allows exactly three digits; SIP/2.0 defines the classes
 * 1xx-6xx, so the valid range is 100-699. Anything else is invalid input, never a label value.
 */

export const MIN_CODE = 100;
export const MAX_CODE = 699;

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | '6xx';
export const CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'];

/** Parses a status code from text; returns undefined unless it is exactly three digits in 100-699. */
export function parseStatusCode(text: string): number | undefined {
  if (text.length !== 3) return undefined;
  const a = text.charCodeAt(0) - 48;
  const b = text.charCodeAt(1) - 48;
  const c = text.charCodeAt(2) - 48;
  if (a < 1 || a > 6 || b < 0 || b > 9 || c < 0 || c > 9) return undefined;
  return a * 100 + b * 10 + c;
}

/** True for an integer in 100-699. */
export function isValidCode(code: number): boolean {
  return Number.isInteger(code) && code >= MIN_CODE && code <= MAX_CODE;
}

export function classOf(code: number): StatusClass {
  return CLASSES[Math.floor(code / 100) - 1] as StatusClass;
}

/** Final responses are 2xx-6xx; 1xx are provisional. */
export function isFinal(code: number): boolean {
  return code >= 200;
}
