/**
 * Proves the end-to-end harness (test/e2e/harness/): real Kamailio + sipp produce exactly the ACC
 * records the plan predicts, and the HEP mirror carries every request and response both ways.
 * The ACC lines and HEP packets are parsed with deliberately naive code HERE; the product parsers are
 * tested elsewhere. Fails (never skips) when kamailio or sipp is missing.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { poll } from '../helpers/poll.js';
import { expectedOutcome, requireBinary, runCalls, startKamailio, waitForAccLines, type CallGroup, type Counts, type Kamailio } from './harness/index.js';

const ACC_RE = /ACC: (transaction answered|call missed): timestamp=\d+;method=([A-Z]+);.*;code=(\d{3});reason=([^;]*)/;

function tallyAcc(lines: string[]): { answered: Counts; missed: Counts } {
  const out = { answered: {} as Counts, missed: {} as Counts };
  for (const l of lines) {
    const m = ACC_RE.exec(l);
    if (!m) throw new Error(`unparsable ACC line: ${l}`);
    const t = m[1] === 'call missed' ? out.missed : out.answered;
    const key = `${m[2]} ${m[3]}`;
    t[key] = (t[key] ?? 0) + 1;
  }
  return out;
}

interface HepPacket {
  srcPort: number;
  dstPort: number;
  payload: string;
}

/** Minimal HEPv3 reader: source/destination port chunks (7, 8) and the SIP payload (15). */
function parseHep3(buf: Buffer): HepPacket | undefined {
  if (buf.length < 6 || buf.toString('latin1', 0, 4) !== 'HEP3') return undefined;
  const total = buf.readUInt16BE(4);
  const p: HepPacket = { srcPort: 0, dstPort: 0, payload: '' };
  for (let o = 6; o + 6 <= total; ) {
    const type = buf.readUInt16BE(o + 2);
    const len = buf.readUInt16BE(o + 4);
    if (len < 6) return undefined;
    const body = buf.subarray(o + 6, o + len);
    if (type === 7) p.srcPort = body.readUInt16BE(0);
    else if (type === 8) p.dstPort = body.readUInt16BE(0);
    else if (type === 15) p.payload = body.toString('latin1');
    o += len;
  }
  return p;
}

interface Collector {
  port: number;
  packets: HepPacket[];
  close(): Promise<void>;
}

async function startCollector(transport: 'udp' | 'tcp'): Promise<Collector> {
  const packets: HepPacket[] = [];
  const keep = (b: Buffer): void => {
    const p = parseHep3(b);
    if (p) packets.push(p);
  };
  if (transport === 'udp') {
    const s = dgram.createSocket('udp4');
    s.on('message', keep);
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return { port: s.address().port, packets, close: () => new Promise((r) => s.close(() => r())) };
  }
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 6 && buf.length >= buf.readUInt16BE(4)) {
        const len = buf.readUInt16BE(4);
        keep(buf.subarray(0, len));
        buf = buf.subarray(len);
      }
    });
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    packets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const FINAL_RE = /^SIP\/2\.0 (\d{3}) /;
const CSEQ_RE = /\r\nCSeq:\s*(\d+)\s+([A-Z]+)/i;
const CALLID_RE = /\r\nCall-ID:\s*([^\r]+)/i;

/** Final-response packets per "METHOD CODE", and distinct ones by (Call-ID, CSeq, code). */
function tallyHep(packets: HepPacket[]): { packets: Counts; distinct: Counts; fromPort: Map<number, Counts> } {
  const all: Counts = {};
  const seen = new Set<string>();
  const distinct: Counts = {};
  const fromPort = new Map<number, Counts>();
  for (const p of packets) {
    const code = FINAL_RE.exec(p.payload)?.[1];
    if (!code || Number(code) < 200) continue;
    const cseq = CSEQ_RE.exec(p.payload);
    const key = `${cseq?.[2] ?? '?'} ${code}`;
    all[key] = (all[key] ?? 0) + 1;
    const byPort = fromPort.get(p.srcPort) ?? {};
    byPort[key] = (byPort[key] ?? 0) + 1;
    fromPort.set(p.srcPort, byPort);
    const id = `${CALLID_RE.exec(p.payload)?.[1]}|${cseq?.[1]} ${cseq?.[2]}|${code}`;
    if (!seen.has(id)) {
      seen.add(id);
      distinct[key] = (distinct[key] ?? 0) + 1;
    }
  }
  return { packets: all, distinct, fromPort };
}

const dirs: string[] = [];
let running: Kamailio | undefined;
let collector: Collector | undefined;

let keepDirs = false;

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') keepDirs = true; // leave logs and sipp files for a look
  await running?.stop();
  running = undefined;
  await collector?.close();
  collector = undefined;
});
afterAll(() => {
  if (keepDirs) return;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sre-harness-'));
  dirs.push(d);
  return d;
}

describe('e2e harness: Kamailio + sipp', () => {
  it('finds the real software', () => {
    expect(requireBinary('kamailio')).toMatch(/kamailio$/);
    expect(requireBinary('sipp')).toMatch(/sipp$/);
  });

  it('derives the expected table from the plan', () => {
    const plan: CallGroup[] = [
      { code: 486, count: 3 },
      { code: 200, count: 5 },
      { outcome: 'cancel', count: 2 },
      { outcome: 'timeout', count: 1 },
      { code: 486, count: 2, retransmit: true },
    ];
    const e = expectedOutcome(plan);
    expect(e.final).toEqual({ 'INVITE 486': 5, 'INVITE 200': 5, 'BYE 200': 5, 'INVITE 487': 2, 'CANCEL 200': 2, 'INVITE 408': 1 });
    expect(e.accAnswered).toEqual({ 'INVITE 486': 5, 'INVITE 200': 5, 'BYE 200': 5, 'INVITE 487': 2, 'INVITE 408': 1 });
    expect(e.accMissed).toEqual({});
    expect(e.accLines).toBe(18);
    const m = expectedOutcome(plan, { accMissed: true, accCancel: true });
    expect(m.accMissed).toEqual({ 'INVITE 486': 5, 'INVITE 487': 2, 'INVITE 408': 1 });
    expect(m.accAnswered['CANCEL 200']).toBe(2);
    expect(m.accLines).toBe(18 + 8 + 2);
    // A UAS 503 reaches the caller as 500 (tm follows RFC 3261 16.7); the missed-call record keeps 503.
    const u = expectedOutcome([{ code: 503, count: 2 }], { accMissed: true });
    expect(u.final).toEqual({ 'INVITE 500': 2 });
    expect(u.wire).toEqual({ 'INVITE 500': 2, 'INVITE 503': 2 });
    expect(u.accMissed).toEqual({ 'INVITE 503': 2 });
    expect(() => expectedOutcome([{ method: 'OPTIONS', code: 486, count: 1, retransmit: true }])).toThrow(/retransmit/);
    expect(() => expectedOutcome([{ code: 180, count: 1 }])).toThrow(/INVITE code/);
  });

  it('UDP callers, HEP over UDP: exact ACC records, responses mirrored on both legs', async () => {
    collector = await startCollector('udp');
    const k = (running = await startKamailio({ dir: tempDir(), hep: { address: `127.0.0.1:${collector.port}`, transport: 'udp' } }));
    const plan: CallGroup[] = [
      { code: 486, count: 3 },
      { code: 200, count: 3 },
      { outcome: 'cancel', count: 2 },
      { outcome: 'timeout', count: 1 },
      { code: 486, count: 2, retransmit: true },
      { method: 'OPTIONS', code: 200, count: 2 },
      { method: 'REGISTER', code: 403, count: 1 },
      { outcome: 'unknown-user', count: 1 },
    ];
    const { expected, groups } = await runCalls(k, plan);
    const lines = await waitForAccLines(k, expected.accLines);
    expect(lines).toHaveLength(expected.accLines);
    expect(tallyAcc(lines)).toEqual({ answered: expected.accAnswered, missed: {} });
    expect(expected.accAnswered).toEqual({
      'INVITE 486': 5, 'INVITE 200': 3, 'BYE 200': 3, 'INVITE 487': 2, 'INVITE 408': 1, 'OPTIONS 200': 2, 'REGISTER 403': 1, 'INVITE 404': 1,
    });

    // HEP: every final response at least as often as the plan says, distinct ones exactly as planned.
    const hep = await poll(() => {
      const t = tallyHep(collector!.packets);
      return Object.entries(expected.finalPacketsMin).every(([key, min]) => (t.packets[key] ?? 0) >= min) ? t : undefined;
    }, 'HEP copies of every final response', 10_000);
    expect(hep.distinct).toEqual(expected.wire);
    expect(expected.wire).toEqual(expected.final);
    // The retransmitting UAS sent more than one copy per call; the proxy absorbed them.
    const rt = groups.find((g) => g.group.kind === 'reject-retransmit')!;
    expect(hep.fromPort.get(rt.uasPort!)?.['INVITE 486'] ?? 0).toBeGreaterThan(2);
    expect(hep.fromPort.get(k.sipPort)?.['INVITE 486']).toBe(5);
    // Requests both ways: caller -> proxy and proxy -> UAS.
    const invites = collector.packets.filter((p) => p.payload.startsWith('INVITE '));
    expect(invites.some((p) => p.dstPort === k.sipPort)).toBe(true);
    expect(invites.some((p) => p.srcPort === k.sipPort)).toBe(true);
  });

  it('TCP callers, accMissed + accCancel, HEP over TCP', async () => {
    collector = await startCollector('tcp');
    const k = (running = await startKamailio({
      dir: tempDir(),
      accMissed: true,
      accCancel: true,
      hep: { address: `127.0.0.1:${collector.port}`, transport: 'tcp' },
    }));
    const plan: CallGroup[] = [
      { code: 503, count: 2, transport: 'tcp' },
      { code: 200, count: 2, transport: 'tcp' },
      { outcome: 'cancel', count: 1, transport: 'tcp' },
      { outcome: 'timeout', count: 1, transport: 'tcp' },
      { code: 603, reason: 'Decline', count: 1 },
    ];
    const { expected } = await runCalls(k, plan);
    const lines = await waitForAccLines(k, expected.accLines);
    expect(lines).toHaveLength(expected.accLines);
    expect(tallyAcc(lines)).toEqual({ answered: expected.accAnswered, missed: expected.accMissed });
    // A UAS 503 reaches the caller as 500; the missed-call record keeps the 503.
    expect(expected.accAnswered).toEqual({ 'INVITE 500': 2, 'INVITE 200': 2, 'BYE 200': 2, 'INVITE 487': 1, 'CANCEL 200': 1, 'INVITE 408': 1, 'INVITE 603': 1 });
    expect(expected.accMissed).toEqual({ 'INVITE 503': 2, 'INVITE 487': 1, 'INVITE 408': 1, 'INVITE 603': 1 });
    const hep = await poll(() => {
      const t = tallyHep(collector!.packets);
      return Object.entries(expected.finalPacketsMin).every(([key, min]) => (t.packets[key] ?? 0) >= min) ? t : undefined;
    }, 'HEP copies of every final response', 10_000);
    expect(hep.distinct).toEqual(expected.wire);
    expect(hep.distinct['INVITE 503']).toBe(2);
  });

  it('fails fast, with the log, when the SIP port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const t0 = Date.now();
      await expect(startKamailio({ dir: tempDir(), port })).rejects.toThrow(/exited[\s\S]*(bind|in use)/i);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('stops every Kamailio process and leaves the log behind', async () => {
    const k = await startKamailio({ dir: tempDir() });
    const pid = k.pid;
    await k.stop();
    expect(() => process.kill(-pid, 0)).toThrow();
    expect(k.accLines()).toEqual([]);
    await k.stop(); // idempotent
  });
});
