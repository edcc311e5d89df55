/**
 * Fault injection: graceful shutdown while traffic flows. SIGTERM must finish in-flight work, save the
 * log position and exit 0 within general.shutdown-timeout; a restart from the position file then counts
 * every remaining line exactly once (no line counted twice or lost across the restart).
 *
 * What the first run counted up to its very end cannot be scraped (the HTTP server closes last, after the
 * inputs stopped), so its final counts are taken from the final OTLP export the daemon sends on SIGTERM
 * (to a loopback receiver, test/otel/receiver.ts, with an export interval of an hour so only the shutdown
 * flush delivers anything).
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { accLogLine, hepResponse, octetFrame, syslog5424 } from '../../bench/soak/traffic.mjs';
import { OtlpReceiver, type ExportRequest } from '../otel/receiver.js';
import { connectTcp, hostPort, killAll, poll, sleep, startDaemon, sum, tempDir, write } from './helpers.js';
import dgram from 'node:dgram';

afterAll(killAll);
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function otel(req: ExportRequest | undefined, metric: string, attrs: Record<string, string | number>): number {
  if (!req) return NaN;
  return req.points.filter((p) => p.metric === metric && Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)).reduce((a, p) => a + (p.value ?? 0), 0);
}

describe('graceful shutdown under traffic', () => {
  it('SIGTERM while log, HEP and syslog traffic flows: exit 0 in time, position saved, a restart counts every line exactly once', async () => {
    const t = tempDir('sre-faults-shutdown-');
    cleanups.push(t.cleanup);
    const log = join(t.dir, 'app.log');
    const positions = join(t.dir, 'positions.json');
    writeFileSync(log, '');
    const rx = await OtlpReceiver.start();
    cleanups.push(() => rx.stop());
    const args = [
      `--log.path=${log}`,
      `--log.position-file=${positions}`,
      '--log.poll-interval=50ms',
      '--hep.listen-address=127.0.0.1:0',
      '--syslog.listen-address=127.0.0.1:0',
      '--general.shutdown-timeout=5s',
    ];
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.base, OTEL_METRIC_EXPORT_INTERVAL: '3600000' };
    const d1 = await startDaemon(args, { env });

    // Traffic: a log line every 2 ms (and it keeps coming while the daemon is down), HEP datagrams, a
    // syslog TCP stream.
    let written = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        appendFileSync(log, `${accLogLine('sd', written)}\n`);
        written++;
        await sleep(2);
      }
    })();
    let netTraffic = true;
    const { host, port } = hostPort(d1.addresses['hep.udp']!);
    const udp = dgram.createSocket('udp4');
    const hepSender = (async () => {
      for (let i = 0; netTraffic; i++) {
        await new Promise<void>((r) => udp.send(hepResponse('sd', i), port, host, () => r()));
        await sleep(1);
      }
    })();
    const sys = await connectTcp(d1.addresses['syslog.tcp']!);
    const sysSender = (async () => {
      for (let i = 0; netTraffic && !sys.destroyed; i++) {
        await write(sys, octetFrame(syslog5424('sd', i))).catch(() => undefined);
        await sleep(1);
      }
    })();
    await poll(async () => sum(await d1.metrics(), 'sip_exporter_events_total', { source: 'log' }) > 100, 'traffic counted');

    const t0 = Date.now();
    const code = await d1.stop('SIGTERM');
    const took = Date.now() - t0;
    expect(code).toBe(0);
    expect(took).toBeLessThan(5000);
    netTraffic = false;
    await Promise.all([hepSender, sysSender]);
    udp.close();
    sys.destroy();
    expect(d1.logs.some((l) => l.msg === 'stopped')).toBe(true);

    // What run 1 counted, from its final export, against the saved position.
    expect(rx.requests).toHaveLength(1);
    const counted1 = otel(rx.requests[0], 'sip_exporter.events', { 'sip.source': 'log' });
    const saved = JSON.parse(readFileSync(positions, 'utf8')) as { files: { path: string; offset: number }[] };
    expect(saved.files).toHaveLength(1);
    const offset = saved.files[0]!.offset;
    const bytes = readFileSync(log);
    expect(bytes[offset - 1]).toBe(10); // the position is at a line start
    const linesBefore = bytes.subarray(0, offset).toString('latin1').split('\n').length - 1;
    expect(counted1).toBe(linesBefore);
    expect(otel(rx.requests[0], 'sip.responses', { 'sip.source': 'hep' })).toBeGreaterThan(0);
    expect(otel(rx.requests[0], 'sip.responses', { 'sip.source': 'syslog' })).toBeGreaterThan(0);

    // Lines keep coming for a while with the daemon down, then it comes back.
    await sleep(300);
    const d2 = await startDaemon(args, { env: {} });
    try {
      await sleep(300);
      writing = false;
      await writer;
      await poll(async () => sum(await d2.metrics(), 'sip_exporter_events_total', { source: 'log' }) === written - linesBefore, `the ${written - linesBefore} lines after the saved position`, 15_000);
      await sleep(300);
      const counted2 = sum(await d2.metrics(), 'sip_exporter_events_total', { source: 'log' });
      expect(counted1 + counted2).toBe(written);
      console.log(`shutdown: exit 0 after ${took} ms; run 1 counted ${counted1} lines (position at line ${linesBefore}), run 2 ${counted2}, written ${written}`);
    } finally {
      expect(await d2.stop()).toBe(0);
    }
  });

  it('open HEP, syslog and half-sent HTTP connections do not hold up the shutdown beyond its bound', async () => {
    const d = await startDaemon(['--hep.listen-address=127.0.0.1:0', '--syslog.listen-address=127.0.0.1:0', '--general.shutdown-timeout=4s']);
    const conns = [await connectTcp(d.addresses['hep.tcp']!), await connectTcp(d.addresses['syslog.tcp']!)];
    // An HTTP client that sent half a request and waits (slowloris), and an idle keep-alive connection.
    const { host, port } = hostPort(d.addresses.web!);
    const slow = net.connect({ host, port });
    slow.on('error', () => undefined);
    await new Promise<void>((r) => slow.once('connect', () => r()));
    slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    const keep = net.connect({ host, port });
    keep.on('error', () => undefined);
    await new Promise<void>((r) => keep.once('connect', () => r()));
    keep.write('GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((r) => keep.once('data', () => r()));
    await sleep(100);
    const t0 = Date.now();
    expect(await d.stop('SIGTERM')).toBe(0);
    const took = Date.now() - t0;
    expect(took).toBeLessThan(4000);
    for (const c of [...conns, slow, keep]) c.destroy();
    console.log(`shutdown with open connections: ${took} ms`);
  });

  // Open HTTP connections get a grace period of a quarter of general.shutdown-timeout (at most 2 s), so
  // a client holding a half-sent request cannot make a short shutdown time out.
  it('a half-sent HTTP request does not make a 1 s shutdown time out', async () => {
    const d = await startDaemon(['--general.shutdown-timeout=1s']);
    const { host, port } = hostPort(d.addresses.web!);
    const slow = net.connect({ host, port });
    slow.on('error', () => undefined);
    await new Promise<void>((r) => slow.once('connect', () => r()));
    slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    await sleep(100);
    try {
      expect(await d.stop('SIGTERM')).toBe(0);
    } finally {
      slow.destroy();
    }
  });
});
