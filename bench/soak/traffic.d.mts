// Types of traffic.mjs, for the TypeScript tests in test/faults/ that share its generators.

export type Outcome = readonly [method: string, code: number, reason: string];
export const MIX: readonly Outcome[];
export function outcome(i: number): Outcome;
export function key(method: string, code: number): string;
export function sipResponse(o: { code: number; reason: string; method: string; callId: string; cseq?: number; toTag?: string }): string;
export interface HepOptions {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  sec?: number;
  authKey?: string;
}
export function hep3(payload: string, opts?: HepOptions): Buffer;
export function hepResponse(tag: string, i: number, opts?: HepOptions): Buffer;
export function accRecord(tag: string, i: number, o?: Outcome): string;
export function accLogLine(tag: string, i: number, o?: Outcome): string;
export function noiseLine(i: number): string;
export function syslog3164(tag: string, i: number, o?: Outcome): string;
export function syslog5424(tag: string, i: number, o?: Outcome): string;
export function octetFrame(m: string): string;
export function expectedCounts(from: number, to: number, into?: Record<string, number>): Record<string, number>;
export function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number>;
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export function parseMetrics(text: string): MetricSample[];
export function metricSum(samples: MetricSample[], name: string, match?: Record<string, string>): number;
export function responseCounts(samples: MetricSample[], source: string): Record<string, number>;
export function rssOf(pid: number): Promise<number | undefined>;
