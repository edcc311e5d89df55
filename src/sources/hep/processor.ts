import type { SipEvent } from '../../event.js';
import { isParseError, type ParseResult } from '../../event.js';
import { latencyMetrics, type LatencyMetrics } from '../../metrics/latency.js';
import { LOG_PARSE_ERRORS, createLineParser, type LineParser } from '../../parse/dialects/index.js';
import { decodeHep, formatHepAddress, HEP_DECODE_ERRORS, HEP_TYPE_LOG, HEP_TYPE_SIP, HEP_TYPE_XLOG, HepPacket, inflatePayload, type HepDecodeError } from '../../parse/hep.js';
import { F_CALLID, F_CSEQ, F_TO, scanSip, SipScan } from '../../parse/sip.js';
import type { Pipeline } from '../../pipeline.js';
import { fpA, fpB, hashBytes, hashInt, hashReset } from './hash.js';
import { hepMetrics, type HepMetrics, type WindowName } from './metrics.js';
import { DedupWindow, PendingTable } from './table.js';

/** SIP-level reasons the HEP input counts in sip_exporter_parse_errors_total{source="hep"}. */
export const HEP_SIP_ERRORS = [
  /** A protocol type 1 payload that does not start with a SIP status or request line. */
  'not_sip',
  /** A status line whose code is not three digits 100-699. */
  'invalid_code',
  /** No Call-ID header: the message cannot be de-duplicated. */
  'missing_call_id',
  /** No CSeq header with a number and a method. */
  'missing_cseq',
] as const;

/** Every parse error reason of the HEP input (closed set). */
export const HEP_PARSE_ERRORS: readonly string[] = [...new Set<string>([...HEP_DECODE_ERRORS, ...HEP_SIP_ERRORS, ...LOG_PARSE_ERRORS])];
/** Reasons the HEP input counts in sip_exporter_dropped_total{source="hep"}. */
export const HEP_DROP_REASONS = ['auth_failed', 'not_allowed', 'internal_error'] as const;

export interface ProcessorOptions {
  /** Required auth key (chunk 0x000e); undefined accepts every packet. */
  authKey?: Buffer | undefined;
  dedupWindowMs: number;
  dedupMaxEntries: number;
  transactionTimeoutMs: number;
  maxPendingTransactions: number;
  maxMessageSize: number;
  logPackets: boolean;
}

/** The headers the HEP input needs (From and Via are not part of any key). */
const HOT_FIELDS = F_CALLID | F_CSEQ | F_TO;
const FLAG_INITIAL_INVITE = 1;
const FLAG_SRD_DONE = 2;
const NO_TAG = 0x7ffffffe;
/** Pages (4 KiB) of each table generation backed per event-loop turn: 4 x 128 pages = 2 MiB a turn. */
const TOUCH_PAGES = 128;

/**
 * The SIP event handed to the pipeline. One instance is reused for every packet; fields that need a
 * string (reason, Call-ID, To-tag, addresses) are decoded only if something reads them, so the hot
 * path allocates nothing. Valid only during the pipeline call.
 */
class HepEvent implements SipEvent {
  code = 0;
  method = '';
  cseq: number | undefined = undefined;
  timestampMs: number | undefined = undefined;
  readonly input = 'hep';
  constructor(private readonly scan: SipScan, private readonly pkt: HepPacket) {}
  private text(a: number, b: number): string | undefined {
    if (a < 0) return undefined;
    const buf = this.scan.buf;
    return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', a, b);
  }
  get reason(): string {
    return this.text(this.scan.reasonStart, this.scan.reasonEnd) ?? '';
  }
  get callId(): string | undefined {
    return this.text(this.scan.callIdStart, this.scan.callIdEnd);
  }
  get toTag(): string | undefined {
    return this.text(this.scan.toTagStart, this.scan.toTagEnd);
  }
  get src(): string | undefined {
    return formatHepAddress(this.pkt, 'src');
  }
  get dst(): string | undefined {
    return formatHepAddress(this.pkt, 'dst');
  }
}

/**
 * Everything the HEP input does with one packet, independent of sockets: decode, authenticate, parse
 * the SIP message, de-duplicate, count, and time request/response pairs.
 *
 * De-duplication rule (docs/hep-input.md):
 * - a response is identified by (Call-ID, CSeq number, CSeq method, status code, To-tag);
 * - a request by (Call-ID, CSeq number, CSeq method): what a stateful proxy keeps on both legs, so the
 *   copy it relays (with a new top Via branch) is the same request. ACK and CANCEL have their own CSeq
 *   method and so are requests of their own;
 * - the first copy within hep.dedup-window is counted; later copies are duplicates: retransmission when
 *   their source and destination pair was already seen for that message, relayed otherwise.
 */
export class HepProcessor {
  readonly responses: DedupWindow;
  readonly requests: DedupWindow;
  readonly pending: PendingTable;
  private readonly pkt = new HepPacket();
  private readonly scan = new SipScan();
  private readonly ev: HepEvent;
  private readonly m: HepMetrics;
  private readonly latency: LatencyMetrics;
  private readonly decodeOpts: { maxMessageSize: number };
  private readonly logParser: LineParser | undefined;
  private readonly eventIndex: number;
  /** Evictions already added to the prom-client counter. */
  private reported: Record<WindowName, number> = { responses: 0, requests: 0, transactions: 0 };
  /** Requests not timed because the pending table was full. */
  private pendingFull = 0;
  /** The first packet has started touchTables; close() stops it. */
  private touching = false;
  private closed = false;

  constructor(private readonly pipeline: Pipeline, private readonly opts: ProcessorOptions) {
    // Full capacity up front: growing a table rehashes every entry in one go, a pause of tens of ms at
    // hundreds of thousands of entries, long enough for the kernel to drop UDP packets at high rates.
    // The arrays are zero pages until touched, so an idle input costs address space, not memory; the
    // first packet starts backing them in slices (touchTables) rather than leaving it to random inserts.
    this.responses = new DedupWindow(opts.dedupMaxEntries, opts.dedupWindowMs, opts.dedupMaxEntries);
    this.requests = new DedupWindow(opts.dedupMaxEntries, opts.dedupWindowMs, opts.dedupMaxEntries);
    this.pending = new PendingTable(opts.maxPendingTransactions, opts.transactionTimeoutMs);
    this.ev = new HepEvent(this.scan, this.pkt);
    this.m = hepMetrics(pipeline.registry);
    this.latency = latencyMetrics(pipeline.registry);
    this.decodeOpts = { maxMessageSize: opts.maxMessageSize };
    this.eventIndex = pipeline.self.eventIndex('hep');
    this.logParser = opts.logPackets ? createLineParser({ dialect: 'auto' }, (r) => this.onLogResult(r)) : undefined;
  }

  get metrics(): HepMetrics {
    return this.m;
  }

  /** Counts a received packet (UDP datagram or TCP-framed packet) before decoding it. */
  countPacket(transport: number): void {
    this.m.packets.values[transport]! += 1;
  }

  /** Counts bytes received (a datagram, or a TCP read including any garbage). */
  countBytes(transport: number, n: number): void {
    this.m.bytes.values[transport]! += n;
  }

  /**
   * Backs the de-duplication tables with memory, TOUCH_PAGES pages per event-loop turn, once traffic
   * has started. Left to the inserts, a fresh table takes a page fault on almost every packet for the
   * first few thousand packets (tens of ms at 100k packets/s, enough to overflow the socket buffer);
   * in slices it costs well under a millisecond per turn and is done within about 30 turns.
   */
  private touchTables(from: number): void {
    if (this.closed) return;
    const to = from + TOUCH_PAGES;
    this.responses.touchPages(from, to);
    const pages = this.requests.touchPages(from, to);
    if (to < pages) setImmediate(() => this.touchTables(to));
  }

  /** Stops the background table touching (at input stop); counting and tick() still work. */
  close(): void {
    this.closed = true;
  }

  /** Handles one HEP packet in buf[start, end). `now` is the receive time in ms. Never throws on input. */
  handle(buf: Uint8Array, start: number, end: number, transport: number, now: number): void {
    if (!this.touching) {
      this.touching = true;
      setImmediate(() => this.touchTables(0));
    }
    const pkt = this.pkt;
    const err = decodeHep(buf, start, end, pkt, this.decodeOpts);
    if (err !== undefined) return this.decodeError(transport, err);
    if (this.opts.authKey !== undefined && !this.authenticated()) return;
    const type = pkt.protoType;
    if (type === HEP_TYPE_LOG || type === HEP_TYPE_XLOG) {
      this.m.payloads.values[1]! += 1;
      if (this.logParser) this.handleLog(transport);
      return;
    }
    // A packet without a protocol type chunk is taken as SIP if its payload parses as SIP.
    if (type !== HEP_TYPE_SIP && type !== -1) {
      this.m.payloads.values[2]! += 1;
      return;
    }
    this.m.payloads.values[0]! += 1;
    const zerr = inflatePayload(pkt, this.decodeOpts);
    if (zerr !== undefined) return this.decodeError(transport, zerr);
    const s = this.scan;
    if (!scanSip(pkt.payload, pkt.payloadStart, pkt.payloadEnd, s, HOT_FIELDS)) {
      this.pipeline.parseError('hep', 'not_sip');
      return;
    }
    if (s.isResponse && s.code === 0) return this.pipeline.parseError('hep', 'invalid_code');
    if (s.callIdStart < 0) return this.pipeline.parseError('hep', 'missing_call_id');
    if (s.cseq < 0 || s.methodStart < 0) return this.pipeline.parseError('hep', 'missing_cseq');

    const b = s.buf;
    hashReset();
    hashBytes(b, s.callIdStart, s.callIdEnd);
    hashInt(s.cseq);
    hashBytes(b, s.methodStart, s.methodEnd);
    const txA = fpA();
    const txB = fpB();
    const method = s.methodName ?? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1', s.methodStart, s.methodEnd);
    const captured = pkt.timeMs() ?? now;

    if (s.isResponse) {
      hashInt(s.code);
      if (s.toTagStart >= 0) hashBytes(b, s.toTagStart, s.toTagEnd);
      else hashInt(NO_TAG);
      const a = fpA();
      const bb = fpB();
      const seen = this.responses.seen(a, bb, this.pathHash(), now);
      if (seen !== 0) {
        const kind = seen === 1 ? 'retransmission' : 'relayed';
        this.pipeline.duplicate('hep', kind);
        this.m.duplicates.values[seen - 1]! += 1;
        this.pipeline.self.events.values[this.eventIndex]! += 1;
        return;
      }
      const ev = this.ev;
      ev.code = s.code;
      ev.method = method;
      ev.cseq = s.cseq;
      ev.timestampMs = captured;
      this.pipeline.response('hep', ev);
      this.timeResponse(txA, txB, s.code, method, captured);
      return;
    }

    const seen = this.requests.seen(txA, txB, this.pathHash(), now);
    if (seen !== 0) {
      this.m.duplicates.values[2 + seen - 1]! += 1;
      return;
    }
    this.pipeline.request('hep', method);
    if (method === 'ACK') return;
    const p = this.pending.table;
    if (p.find(txA, txB) >= 0) return;
    if (p.full) {
      this.pendingFull++;
      return;
    }
    const slot = p.insert(txA, txB);
    p.t[slot] = captured;
    p.rec[(slot << 2) + 2] = method === 'INVITE' && s.toTagStart < 0 ? FLAG_INITIAL_INVITE : 0;
    p.rec[(slot << 2) + 3] = this.pending.stamp(now);
  }

  private timeResponse(a: number, b: number, code: number, method: string, captured: number): void {
    if (code === 100) return;
    const p = this.pending.table;
    const slot = p.find(a, b);
    if (slot < 0) return;
    const delay = (captured - p.t[slot]!) / 1000;
    if (delay < 0) {
      this.m.latencySkipped.inc({ reason: 'negative_delay' });
      if (code >= 200) p.removeSlot(slot);
      return;
    }
    const flags = p.rec[(slot << 2) + 2]!;
    if ((flags & FLAG_INITIAL_INVITE) !== 0 && (flags & FLAG_SRD_DONE) === 0) {
      this.latency.observeSrd('hep', code, delay);
      p.rec[(slot << 2) + 2] = flags | FLAG_SRD_DONE;
    }
    if (code >= 200) {
      this.latency.observeFinal('hep', method, code, delay);
      p.removeSlot(slot);
    }
  }

  /** 32-bit hash of (source address, source port, destination address, destination port); never 0. */
  private pathHash(): number {
    const pkt = this.pkt;
    hashReset();
    if (pkt.srcIp >= 0) hashBytes(pkt.buf, pkt.srcIp, pkt.srcIp + pkt.srcIpLen);
    hashInt(pkt.srcPort);
    if (pkt.dstIp >= 0) hashBytes(pkt.buf, pkt.dstIp, pkt.dstIp + pkt.dstIpLen);
    hashInt(pkt.dstPort);
    return fpA() >>> 0 || 1;
  }

  private authenticated(): boolean {
    const key = this.opts.authKey!;
    const pkt = this.pkt;
    if (pkt.authStart < 0) {
      this.m.authFailures.inc({ reason: 'missing' });
      this.pipeline.drop('hep', 'auth_failed');
      return false;
    }
    // Compare every byte whatever the first difference (no timing hint about the key).
    const len = pkt.authEnd - pkt.authStart;
    const b = pkt.buf;
    let diff = len ^ key.length;
    for (let i = 0; i < key.length; i++) diff |= (i < len ? b[pkt.authStart + i]! : 0) ^ key[i]!;
    const ok = diff === 0;
    if (!ok) {
      this.m.authFailures.inc({ reason: 'wrong' });
      this.pipeline.drop('hep', 'auth_failed');
    }
    return ok;
  }

  private decodeError(transport: number, reason: HepDecodeError): void {
    this.m.decodeError(transport, reason);
    this.pipeline.parseError('hep', reason);
  }

  private handleLog(transport: number): void {
    const pkt = this.pkt;
    const zerr = inflatePayload(pkt, this.decodeOpts);
    if (zerr !== undefined) return this.decodeError(transport, zerr);
    const p = pkt.payload;
    let end = pkt.payloadEnd;
    while (end > pkt.payloadStart && (p[end - 1] === 10 || p[end - 1] === 13 || p[end - 1] === 0)) end--;
    const text = Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8', pkt.payloadStart, end);
    this.logParser!.line(text);
    this.logParser!.flush();
  }

  private onLogResult(r: ParseResult): void {
    if (r === undefined) return;
    if (isParseError(r)) this.pipeline.parseError('hep', r.error);
    else this.pipeline.response('hep', r);
  }

  /** Periodic work (about once a second): expire windows, time out transactions, publish counts. */
  tick(now: number): void {
    this.responses.expire(now);
    this.requests.expire(now);
    // (the windows rotate generations; nothing to remove key by key)
    const timedOut = this.pending.sweep(now);
    if (timedOut > 0) this.m.transactionTimeouts.inc(timedOut);
    const ev = { responses: this.responses.evictions, requests: this.requests.evictions, transactions: this.pendingFull };
    for (const w of ['responses', 'requests', 'transactions'] as const) {
      const d = ev[w] - this.reported[w];
      if (d > 0) this.m.windowEvictions.inc({ window: w }, d);
      this.reported[w] = ev[w];
    }
  }

  windowSizes(): Record<WindowName, number> {
    return { responses: this.responses.size, requests: this.requests.size, transactions: this.pending.size };
  }
}
