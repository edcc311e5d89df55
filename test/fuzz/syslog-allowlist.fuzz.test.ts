/**
 * Property tests for the syslog path as a whole and for the source-address allowlist.
 *
 * test/syslog/fuzz.test.ts fuzzes the header parser and the stream framer on their own; here mutated real
 * records (the syslog fixture, wrapped in RFC 3164 / 5424 headers, octet-counted or LF-framed, from many
 * senders, cut into random reads) go through framer -> header -> app-name filter -> per-sender streams ->
 * dialects -> Pipeline, checking that nothing throws and that the exposition holds only closed label values.
 *
 * src/net/allowlist.ts (hep.allowed-sources, syslog.allowed-sources) had only table tests: parseCidr and
 * allows() never throw on any text, and agree with a straightforward reference for IPv4, IPv4-mapped IPv6
 * and IPv6 prefixes.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/classify/catalogue.js';
import { METHOD_LABELS } from '../../src/classify/methods.js';
import { resolveConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { Allowlist, parseCidr } from '../../src/net/allowlist.js';
import { LOG_PARSE_ERRORS } from '../../src/parse/dialects/index.js';
import { FRAMING_ERRORS, StreamFramer } from '../../src/parse/syslog/framing.js';
import { SYSLOG_HEADER_ERRORS } from '../../src/parse/syslog/header.js';
import { Pipeline } from '../../src/pipeline.js';
import { SyslogSource } from '../../src/sources/syslog/source.js';
import { ROOT } from '../helpers/daemon.js';
import { parseExposition } from '../helpers/metrics.js';

const catalogue = Catalogue.load();
const RECORDS = readFileSync(join(ROOT, 'test/fixtures/syslog/kamailio-acc.log'), 'utf8').split('\n').filter((l) => l !== '');

describe('fuzz: syslog messages from framing to counting', () => {
  const msg = fc
    .tuple(
      fc.constantFrom(...RECORDS),
      fc.constantFrom('3164', '5424', 'bare'),
      fc.integer({ min: 0, max: 40 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(0, 10, 13, 32, 35, 48, 49, 59, 60, 61, 62, 91, 93, 34, 92, 45, 200)), { maxLength: 6 }),
    )
    .map(([rec, fmt, host, edits]) => {
      let m =
        fmt === '3164'
          ? `<29>Sep  7 07:16:53 host-${host} /usr/sbin/kamailio[${host}]: ${rec}`
          : fmt === '5424'
            ? `<29>1 2024-05-02T10:11:12.000Z host-${host} kamailio ${host} - - ${rec}`
            : rec;
      const b = [...Buffer.from(m, 'utf8')];
      for (const [at, v] of edits) b[at % b.length] = v;
      m = Buffer.from(b).toString('latin1');
      return m;
    });
  const framed = fc.array(fc.tuple(msg, fc.boolean()), { minLength: 1, maxLength: 20 }).map((ms) =>
    Buffer.concat(ms.map(([m, octet]) => (octet ? Buffer.from(`${Buffer.byteLength(m, 'latin1')} ${m}`, 'latin1') : Buffer.from(`${m}\n`, 'latin1')))),
  );

  it('never throws; only closed label values reach the exposition', async () => {
    const config = resolveConfig({ flags: new Map([['syslog.app-name', ['kamailio']]]), env: {} });
    const p = new Pipeline(catalogue);
    p.enableSource('syslog');
    const src = new SyslogSource({ config, pipeline: p, logger: createLogger('silent') });
    fc.assert(
      fc.property(framed, fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 10 }), fc.nat(), (stream, cuts, peer) => {
        const framer = new StreamFramer(64 * 1024, {
          message: (b) => src.message(b, 'tcp', `192.0.2.${peer % 250}`),
          error: () => undefined,
        });
        let off = 0;
        for (let k = 0; off < stream.length; k++) {
          const n = cuts[k % cuts.length]!;
          framer.push(stream.subarray(off, off + n));
          off += n;
        }
        framer.end();
      }),
      { numRuns: 3000 },
    );
    await src.stop();
    const samples = parseExposition(await p.exposition());
    const reasons = new Set<string>([...LOG_PARSE_ERRORS, ...FRAMING_ERRORS, ...SYSLOG_HEADER_ERRORS, 'not_allowed']);
    let responses = 0;
    for (const s of samples) {
      if (s.labels.source !== undefined) expect(['log', 'hep', 'syslog']).toContain(s.labels.source);
      if (s.name === 'sip_responses_total') {
        expect(s.labels.code).toMatch(/^[1-6]\d\d$/);
        expect(METHOD_LABELS).toContain(s.labels.method);
        responses += s.value;
      }
      if (s.name === 'sip_exporter_parse_errors_total' || s.name === 'sip_exporter_dropped_total') expect(reasons.has(s.labels.reason!)).toBe(true);
    }
    // Most mutated records still parse: the test reached the dialects, not only the header parser.
    expect(responses).toBeGreaterThan(1000);
  });
});

describe('fuzz: source-address allowlist', () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
  const v4s = (a: readonly number[]): string => a.join('.');
  const toInt = (a: readonly number[]): number => (((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0);

  it('parseCidr and allows() never throw on any text', () => {
    const texty = fc.oneof(
      fc.string({ maxLength: 50 }),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef:./%'.split('')), maxLength: 45 }),
      fc.tuple(v4, fc.integer({ min: -5, max: 40 })).map(([a, b]) => `${v4s(a)}/${b}`),
    );
    fc.assert(
      fc.property(texty, texty, (cidr, addr) => {
        const r = parseCidr(cidr);
        if (typeof r === 'string') expect(r).toContain('invalid CIDR');
        else {
          const list = new Allowlist([cidr]);
          expect(typeof list.allows(addr)).toBe('boolean');
        }
        expect(new Allowlist(['10.0.0.0/8', '2001:db8::/32']).allows(addr)).toBeTypeOf('boolean');
      }),
      { numRuns: 20_000 },
    );
  });

  it('IPv4 blocks match exactly the addresses that share the prefix, also as IPv4-mapped IPv6', () => {
    fc.assert(
      fc.property(v4, fc.integer({ min: 0, max: 32 }), v4, (net, bits, addr) => {
        const list = new Allowlist([`${v4s(net)}/${bits}`]);
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        const want = ((toInt(net) & mask) >>> 0) === ((toInt(addr) & mask) >>> 0);
        expect(list.allows(v4s(addr))).toBe(want);
        expect(list.allows(`::ffff:${v4s(addr)}`)).toBe(want);
      }),
      { numRuns: 20_000 },
    );
  });

  it('IPv6 blocks match exactly the addresses that share the prefix', () => {
    const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 });
    const text = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
    const big = (g: number[]): bigint => g.reduce((a, x) => (a << 16n) | BigInt(x), 0n);
    fc.assert(
      fc.property(v6, fc.integer({ min: 0, max: 128 }), v6, fc.nat(128), (net, bits, addr, share) => {
        // Half the time the address shares `share` leading bits with the block.
        const a = [...addr];
        if (share % 2 === 0) {
          const keep = Math.min(share, 128);
          const n = big(net);
          const m = big(addr);
          const mask = keep === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - keep)) - 1n);
          const mixed = (n & mask) | (m & ~mask & ((1n << 128n) - 1n));
          for (let i = 7; i >= 0; i--) a[i] = Number((mixed >> BigInt((7 - i) * 16)) & 0xffffn);
        }
        const list = new Allowlist([`${text(net)}/${bits}`]);
        const mask = bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n);
        const want = (big(net) & mask) === (big(a) & mask);
        expect(list.allows(text(a))).toBe(want);
      }),
      { numRuns: 20_000 },
    );
  });
});
