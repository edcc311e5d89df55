/**
 * Cardinality against the real daemon: random status codes (valid, out of range, not three digits,
 * non-ASCII digits), random methods (standard, wrong case, extension tokens, unicode), random reason
 * phrases, Call-IDs, host names, program names and addresses, over HEP (responses and requests), syslog
 * and a tailed log file. Afterwards:
 * - sip_responses_total stays within the documented bound, 600 codes x 16 methods x 3 sources;
 * - every label value of the SIP metrics comes from its closed set, and the reason label is exactly the
 *   catalogue's phrase for the code (or Unrecognized);
 * - no text from the wire appears in any label value of any metric (every random token carries a marker);
 * - the other metric families gain only a handful of series.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hep3 } from '../../bench/soak/traffic.mjs';
import { Catalogue } from '../../src/classify/catalogue.js';
import { METHOD_LABELS } from '../../src/classify/methods.js';
import { classOf, parseStatusCode } from '../../src/classify/status.js';
import { SOURCES } from '../../src/event.js';
import { killAll, poll, sendUdp, startDaemon, sum, tempDir, type Sample } from '../faults/helpers.js';

afterAll(killAll);

const MARK = 'zq';
const catalogue = Catalogue.load();

/** Deterministic random numbers (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

function generators(seed: number) {
  const r = rng(seed);
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const int = (n: number): number => Math.floor(r() * n);
  const token = (): string => `${MARK}${int(1e9).toString(36)}`;
  const code = (): string =>
    r() < 0.75
      ? String(100 + int(600))
      : pick(['000', '099', '700', '999', '99', '2000', '20', 'abc', '', ' 200', '1e2', '+20', '٢٠٠', '２００', '0x1', '-100', '200.0', `${MARK}7`]);
  const method = (): string =>
    pick([...METHOD_LABELS.slice(0, 14), 'invite', 'Invite', 'INVITE ', `${MARK.toUpperCase()}${int(1e6)}`, `${MARK}é${int(100)}`, 'OTHER', 'unknown', 'X-' + token()]);
  const reason = (): string => pick(['OK', 'Busy Here', '', `${MARK} "quoted" \\ back`, `${token()} ünïcödé ☎`, `${MARK}<b>html</b>`, 'Internal Server Error']);
  const ip = (): string => (r() < 0.5 ? `${int(256)}.${int(256)}.${int(256)}.${int(256)}` : `2001:db8::${int(0xffff).toString(16)}`);
  return { r, pick, int, token, code, method, reason, ip };
}

function sipResponse(code: string, reason: string, method: string, callId: string): string {
  return `SIP/2.0 ${code} ${reason}\r\nVia: SIP/2.0/UDP ${MARK}.example;branch=z9hG4bK${callId}\r\nTo: <sip:${MARK}@x>;tag=${callId}\r\nFrom: <sip:a@x>;tag=f\r\nCall-ID: ${callId}\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
}

function sipRequest(method: string, callId: string): string {
  return `${method} sip:${MARK}@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK${callId}\r\nTo: <sip:b@x>\r\nFrom: <sip:a@x>;tag=f\r\nCall-ID: ${callId}\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
}

function acc(method: string, code: string, reason: string, callId: string): string {
  return `NOTICE: acc [acc.c:317]: acc_log_request(): ACC: transaction answered: timestamp=1;method=${method};from_tag=${MARK}f;to_tag=${MARK}t;call_id=${callId};code=${code};reason=${reason};src_ip=${MARK}`;
}

const CODE_RE = /^[1-6]\d\d$/;

describe('cardinality: random codes, methods, reasons and addresses against the daemon', () => {
  it('keeps sip_responses_total within 600 x 16 x 3 series, labels in their closed sets, and no wire text in any label', async () => {
    const t = tempDir('sre-fuzz-card-');
    const log = join(t.dir, 'app.log');
    writeFileSync(log, '');
    const d = await startDaemon(['--hep.listen-address=127.0.0.1:0', '--hep.tcp=false', '--syslog.listen-address=127.0.0.1:0', `--log.path=${log}`, '--log.poll-interval=100ms']);
    try {
      const before = await d.metrics();
      const g = generators(20240502);
      // HEP: responses and requests from random addresses.
      const hep: Buffer[] = [];
      for (let i = 0; i < 4000; i++) {
        const callId = `${g.token()}-${i}`;
        const payload = i % 5 === 4 ? sipRequest(g.method(), callId) : sipResponse(g.code(), g.reason(), g.method(), callId);
        hep.push(hep3(payload, g.r() < 0.5 ? { src: `${g.int(256)}.${g.int(256)}.${g.int(256)}.${g.int(256)}`, dst: `10.${g.int(256)}.${g.int(256)}.${g.int(256)}`, sport: g.int(65536), dport: g.int(65536) } : {}));
      }
      await sendUdp(d.addresses['hep.udp']!, hep);
      // syslog: random hosts and programs.
      const sys: string[] = [];
      for (let i = 0; i < 2000; i++) {
        sys.push(`<${g.int(192)}>Sep  7 07:16:53 ${g.token()} ${g.pick(['kamailio', `${MARK}prog`, '/usr/sbin/kamailio'])}[${g.int(99999)}]: ${acc(g.method(), g.code(), g.reason(), `${g.token()}-${i}`)}`);
      }
      await sendUdp(d.addresses['syslog.udp']!, sys);
      // log file.
      let text = '';
      for (let i = 0; i < 4000; i++) text += `Sep  7 07:16:53 ${g.token()} kamailio[1]: ${acc(g.method(), g.code(), g.reason(), `${g.token()}-${i}`)}\n`;
      appendFileSync(log, text);

      await poll(async () => {
        const m = await d.metrics();
        return (
          sum(m, 'sip_exporter_hep_packets_total') === hep.length &&
          sum(m, 'sip_exporter_syslog_messages_total') === sys.length &&
          sum(m, 'sip_exporter_log_lines_total') === 4000
        );
      }, 'all traffic read', 30_000);
      const after = await d.metrics();

      // 1. sip_responses_total: bounded, closed sets, reason from the catalogue.
      const resp = after.filter((s) => s.name === 'sip_responses_total');
      expect(resp.length).toBeLessThanOrEqual(600 * 16 * 3);
      const seen = new Set<string>();
      for (const s of resp) {
        const { code, class: cls, reason, method, source } = s.labels as Record<string, string>;
        expect(code).toMatch(CODE_RE);
        const c = parseStatusCode(code!)!;
        expect(cls).toBe(classOf(c));
        expect(reason).toBe(catalogue.reasonLabel(c));
        expect(METHOD_LABELS).toContain(method);
        expect(SOURCES).toContain(source);
        const key = `${code}|${method}|${source}`;
        expect(seen.has(key)).toBe(false); // one series per (code, method, source)
        seen.add(key);
      }
      // Every source counted something, and many distinct codes: the traffic reached the classifier.
      for (const source of SOURCES) expect(sum(after, 'sip_responses_total', { source })).toBeGreaterThan(500);
      expect(new Set(resp.filter((s) => s.value > 0).map((s) => s.labels.code)).size).toBeGreaterThan(500);
      expect(new Set(resp.filter((s) => s.value > 0).map((s) => s.labels.method))).toEqual(new Set(METHOD_LABELS.filter((m) => m !== 'unknown')));
      for (const s of after.filter((x) => x.name === 'sip_requests_total')) expect(METHOD_LABELS).toContain(s.labels.method);

      // 2. No wire text anywhere: no label value of any metric carries the marker.
      const leaked = after.filter((s) => Object.values(s.labels).some((v) => v.toLowerCase().includes(MARK)));
      expect(leaked.map((s) => `${s.name}${JSON.stringify(s.labels)}`)).toEqual([]);

      // 3. Other metric families: only a few new series (new reasons of closed error sets, and the like).
      const others = (m: Sample[]): Set<string> => new Set(m.filter((s) => s.name !== 'sip_responses_total' && s.name !== 'sip_requests_total').map((s) => `${s.name}${JSON.stringify(s.labels)}`));
      const b = others(before);
      const added = [...others(after)].filter((k) => !b.has(k));
      expect(added.length).toBeLessThanOrEqual(40);
      console.log(`cardinality: ${resp.length} sip_responses_total series (bound 28800) from ${hep.length + sys.length + 4000} random messages; ${added.length} new series elsewhere (${[...new Set(added.map((k) => k.split('{')[0]))].join(', ')})`);
    } finally {
      expect(await d.stop()).toBe(0);
      t.cleanup();
    }
  });
});
