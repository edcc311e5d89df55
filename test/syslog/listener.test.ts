/**
 * The syslog listeners of the real daemon (built CLI): UDP and TCP on one port, framings, bad frames,
 * limits, and that slow or hostile clients do not hold up others or the HTTP endpoint.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { poll } from '../helpers/poll.js';
import { acc3164, acc5424, accRecord, connectTcp, counts, diff, endSocket, metric, octet, sendUdp, syslogCounts as syslogCountsOf, write } from './util.js';

describe('syslog listener (UDP + TCP)', () => {
  let d: RunningDaemon;
  beforeAll(async () => {
    d = await startDaemon(['--syslog.listen-address=127.0.0.1:0', '--syslog.max-message-size=8KiB']);
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  /** Runs `send`, then waits until the syslog counts changed by exactly `want`. */
  async function expectCounts(send: () => Promise<void>, want: Record<string, number>): Promise<void> {
    const before = await counts(d);
    await send();
    await poll(async () => JSON.stringify(sortKeys(diff(await counts(d), before))) === JSON.stringify(sortKeys(want)), `counts ${JSON.stringify(want)}`, 10_000);
  }

  it('binds UDP and TCP on the same port and reports both addresses', () => {
    expect(d.addresses['syslog.udp']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(d.addresses['syslog.tcp']).toBe(d.addresses['syslog.udp']);
    expect(d.addresses['syslog.tls']).toBeUndefined();
  });

  it('UDP: one message per datagram, RFC 3164 and RFC 5424, large datagrams', async () => {
    const noise = Array.from({ length: 45 }, (_, i) => `INFO: <core> [main.c:${i}]: filler line ${'x'.repeat(100)}`).join('#012');
    const large = `<29>Sep  7 07:16:53 sip kamailio[1]: ${noise}#012${accRecord('INVITE', 503, 'Service Unavailable', 9)}`;
    expect(Buffer.byteLength(large)).toBeGreaterThan(6000);
    await expectCounts(
      () => sendUdp(d.addresses['syslog.udp']!, [acc3164('INVITE', 200, 'OK', 1), `${acc5424('REGISTER', 401, 'Unauthorized', 2)}\n`, large]),
      { 'code=200,method=INVITE': 1, 'code=401,method=REGISTER': 1, 'code=503,method=INVITE': 1 },
    );
  });

  it('UDP: a datagram over syslog.max-message-size is dropped and counted', async () => {
    const before = await d.metrics();
    await sendUdp(d.addresses['syslog.udp']!, [acc3164('INVITE', 200, 'OK', 1) + ' '.repeat(9000) + 'end']);
    await poll(async () => metric(await d.metrics(), 'sip_exporter_syslog_framing_errors_total', { transport: 'udp', reason: 'message_too_large' }) === metric(before, 'sip_exporter_syslog_framing_errors_total', { transport: 'udp', reason: 'message_too_large' }) + 1, 'udp too large');
    const after = await d.metrics();
    expect(metric(after, 'sip_exporter_dropped_total', { source: 'syslog', reason: 'message_too_large' })).toBe(metric(before, 'sip_exporter_dropped_total', { source: 'syslog', reason: 'message_too_large' }) + 1);
  });

  it('TCP: octet counting, LF, CRLF and NUL framing mixed on one connection, many frames in one write', async () => {
    const frames: string[] = [];
    const want: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const code = [200, 486, 404, 503][i % 4] as number;
      const m = i % 2 === 0 ? acc5424('INVITE', code, 'R', i) : acc3164('INVITE', code, 'R', i);
      frames.push([octet(m), `${m}\n`, `${m}\r\n`, `${m}\0`][i % 4] as string);
      want[`code=${code},method=INVITE`] = (want[`code=${code},method=INVITE`] ?? 0) + 1;
    }
    await expectCounts(async () => {
      const s = await connectTcp(d.addresses['syslog.tcp']!);
      await write(s, frames.join(''));
      await endSocket(s);
    }, want);
  });

  it('TCP: frames split across reads (byte by byte, with pauses) and a multi-line octet-counted message', async () => {
    const multi = `<30>1 2024-05-02T10:11:12Z pbx kamailio 1 - - INFO: first line\n${accRecord('BYE', 481, 'Call/Transaction Does Not Exist', 1)}\nlast line`;
    const stream = octet(multi) + `${acc3164('CANCEL', 200, 'OK', 2)}\n` + octet(acc5424('INVITE', 487, 'Request Terminated', 3));
    await expectCounts(async () => {
      const s = await connectTcp(d.addresses['syslog.tcp']!);
      s.setNoDelay(true);
      const bytes = Buffer.from(stream);
      for (let i = 0; i < bytes.length; i += 13) {
        await write(s, bytes.subarray(i, i + 13));
        if (i % 130 === 0) await new Promise((r) => setTimeout(r, 2));
      }
      await endSocket(s);
    }, { 'code=481,method=BYE': 1, 'code=200,method=CANCEL': 1, 'code=487,method=INVITE': 1 });
  });

  it('TCP: bad frames are counted and the connection recovers', async () => {
    const before = await d.metrics();
    const s = await connectTcp(d.addresses['syslog.tcp']!);
    // A count over the maximum (skipped by its count), a bad count (read as a line), a too long line.
    await write(s, `9000 ${'y'.repeat(9000)}`);
    await write(s, `12x not a count\n`);
    await write(s, `${'z'.repeat(10_000)}\n`);
    await write(s, `${acc3164('OPTIONS', 200, 'OK', 1)}\n`);
    await write(s, octet(acc5424('OPTIONS', 404, 'Not Found', 2)));
    await poll(async () => (diff(await counts(d), {})['code=404,method=OPTIONS'] ?? 0) >= 1, 'message after bad frames');
    expect(s.destroyed).toBe(false);
    await endSocket(s);
    const after = await d.metrics();
    const fe = (reason: string): number =>
      metric(after, 'sip_exporter_syslog_framing_errors_total', { transport: 'tcp', reason }) - metric(before, 'sip_exporter_syslog_framing_errors_total', { transport: 'tcp', reason });
    expect(fe('message_too_large')).toBe(2);
    expect(fe('bad_octet_count')).toBe(1);
  });

  it('TCP: a connection closed inside an octet-counted frame counts truncated_frame', async () => {
    const before = await d.metrics();
    const s = await connectTcp(d.addresses['syslog.tcp']!);
    await write(s, '500 <13>only part of it');
    await endSocket(s);
    await poll(
      async () =>
        metric(await d.metrics(), 'sip_exporter_syslog_framing_errors_total', { transport: 'tcp', reason: 'truncated_frame' }) ===
        metric(before, 'sip_exporter_syslog_framing_errors_total', { transport: 'tcp', reason: 'truncated_frame' }) + 1,
      'truncated_frame',
    );
  });

  it('self-metrics: messages, bytes, connections, header errors', async () => {
    const before = await d.metrics();
    const msgs = [acc3164('INVITE', 200, 'OK', 1), '<200>bad pri', acc5424('INVITE', 200, 'OK', 2)];
    const s = await connectTcp(d.addresses['syslog.tcp']!);
    const data = msgs.map((m) => `${m}\n`).join('');
    await write(s, data);
    await endSocket(s);
    await poll(async () => metric(await d.metrics(), 'sip_exporter_syslog_connections_closed_total', { transport: 'tcp', reason: 'peer' }) > metric(before, 'sip_exporter_syslog_connections_closed_total', { transport: 'tcp', reason: 'peer' }), 'close counted');
    const after = await d.metrics();
    const delta = (name: string, labels: Record<string, string>): number => metric(after, name, labels) - metric(before, name, labels);
    expect(delta('sip_exporter_syslog_messages_total', { transport: 'tcp' })).toBe(3);
    expect(delta('sip_exporter_syslog_received_bytes_total', { transport: 'tcp' })).toBe(Buffer.byteLength(data));
    expect(delta('sip_exporter_syslog_connections_total', { transport: 'tcp' })).toBe(1);
    expect(delta('sip_exporter_syslog_header_errors_total', { transport: 'tcp', reason: 'bad_pri' })).toBe(1);
    expect(metric(after, 'sip_exporter_syslog_open_connections', { transport: 'tcp' })).toBe(0);
  });

  it('series exist at zero from the start (transport and reason sets)', async () => {
    const text = await d.metricsText();
    for (const line of [
      'sip_exporter_syslog_connections_rejected_total{transport="tcp",reason="max_connections"}',
      'sip_exporter_syslog_connections_closed_total{transport="tcp",reason="idle_timeout"}',
      'sip_exporter_syslog_framing_errors_total{transport="tcp",reason="bad_octet_count"}',
      'sip_exporter_syslog_header_errors_total{transport="udp",reason="bad_header"}',
      'sip_exporter_dropped_total{source="syslog",reason="truncated_frame"}',
      'sip_exporter_parse_errors_total{source="syslog",reason="invalid_code"}',
    ]) {
      expect(text).toContain(line);
    }
    expect(text).not.toContain('transport="tls"');
  });

  it('a stalled client and a flooding client do not hold up other clients or /metrics', async () => {
    const addr = d.addresses['syslog.tcp']!;
    // Stalled: half a frame, then nothing.
    const stalled = await connectTcp(addr);
    await write(stalled, '5000 <13>1 - h a - - - partial');
    // Hostile: megabytes of garbage without any trailer, as fast as the socket takes it.
    const flood = await connectTcp(addr);
    let flooding = true;
    const junk = Buffer.alloc(256 * 1024, 'q');
    const pump = (async () => {
      while (flooding) await write(flood, junk).catch(() => (flooding = false));
    })();
    try {
      const t0 = Date.now();
      const res = await fetch(d.url('/metrics'));
      expect(res.status).toBe(200);
      await res.text();
      expect(Date.now() - t0).toBeLessThan(2000);
      await expectCounts(async () => {
        const s = await connectTcp(addr);
        await write(s, `${acc3164('INVITE', 480, 'Temporarily Unavailable', 1)}\n`);
        await endSocket(s);
        await sendUdp(d.addresses['syslog.udp']!, [acc3164('INVITE', 480, 'Temporarily Unavailable', 2)]);
      }, { 'code=480,method=INVITE': 2 });
    } finally {
      flooding = false;
      await pump;
      flood.destroy();
      stalled.destroy();
    }
  });
});

describe('syslog limits', () => {
  let d: RunningDaemon;
  beforeAll(async () => {
    d = await startDaemon(['--syslog.listen-address=127.0.0.1:0', '--syslog.max-connections=2', '--syslog.idle-timeout=400ms']);
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  it('UDP: datagrams up to the default 64 KiB maximum are accepted whole', async () => {
    const noise = Array.from({ length: 440 }, (_, i) => `INFO: <core> [main.c:${i}]: filler ${'x'.repeat(100)}`).join('#012');
    const m = `<29>1 - sip kamailio 1 - - ${noise}#012${accRecord('INVITE', 183, 'Session Progress', 1)}`;
    expect(Buffer.byteLength(m)).toBeGreaterThan(55_000);
    await sendUdp(d.addresses['syslog.udp']!, [m]);
    await poll(async () => (await counts(d))['code=183,method=INVITE'] === 1, 'large datagram');
  });

  it('max-connections refuses and counts the extra connection; the others keep working', async () => {
    const addr = d.addresses['syslog.tcp']!;
    const a = await connectTcp(addr);
    const b = await connectTcp(addr);
    await poll(async () => metric(await d.metrics(), 'sip_exporter_syslog_open_connections', { transport: 'tcp' }) === 2, 'two open');
    const c = await connectTcp(addr);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.on('error', () => undefined);
    await closed;
    await poll(async () => metric(await d.metrics(), 'sip_exporter_syslog_connections_rejected_total', { transport: 'tcp', reason: 'max_connections' }) === 1, 'rejection counted');
    await write(a, `${acc3164('INVITE', 200, 'OK', 1)}\n`);
    await poll(async () => (await counts(d))['code=200,method=INVITE'] === 1, 'message on an accepted connection');
    a.destroy();
    b.destroy();
  });

  it('idle-timeout closes a silent connection and counts it; traffic keeps a connection open', async () => {
    const before = metric(await d.metrics(), 'sip_exporter_syslog_connections_closed_total', { transport: 'tcp', reason: 'idle_timeout' });
    const silent = await connectTcp(d.addresses['syslog.tcp']!);
    const busy = await connectTcp(d.addresses['syslog.tcp']!);
    const silentClosed = new Promise<number>((resolve) => silent.once('close', () => resolve(Date.now())));
    const t0 = Date.now();
    let busyClosed = false;
    busy.once('close', () => (busyClosed = true));
    for (let i = 0; i < 8; i++) {
      await write(busy, `${acc3164('OPTIONS', 200, 'OK', i)}\n`);
      await new Promise((r) => setTimeout(r, 150));
    }
    expect((await silentClosed) - t0).toBeGreaterThanOrEqual(350);
    expect(busyClosed).toBe(false);
    await poll(async () => metric(await d.metrics(), 'sip_exporter_syslog_connections_closed_total', { transport: 'tcp', reason: 'idle_timeout' }) === before + 1, 'idle close counted');
    busy.destroy();
  });
});

describe('syslog allowed-sources', () => {
  let d: RunningDaemon;
  beforeAll(async () => {
    d = await startDaemon(['--syslog.listen-address=127.0.0.1:0', '--syslog.allowed-sources=192.0.2.0/24', '--syslog.allowed-sources=2001:db8::/32']);
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  it('drops UDP and refuses TCP from other addresses, and counts both', async () => {
    await sendUdp(d.addresses['syslog.udp']!, [acc3164('INVITE', 200, 'OK', 1), acc3164('INVITE', 200, 'OK', 2)]);
    const s = await connectTcp(d.addresses['syslog.tcp']!);
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    await poll(async () => {
      const m = await d.metrics();
      return (
        metric(m, 'sip_exporter_syslog_not_allowed_total', { transport: 'udp' }) === 2 &&
        metric(m, 'sip_exporter_syslog_connections_rejected_total', { transport: 'tcp', reason: 'not_allowed' }) === 1 &&
        metric(m, 'sip_exporter_dropped_total', { source: 'syslog', reason: 'not_allowed' }) === 2
      );
    }, 'not_allowed counted');
    const m = await d.metrics();
    expect(syslogCountsOf(m)).toEqual({});
    expect(metric(m, 'sip_exporter_syslog_messages_total')).toBe(0);
    expect(metric(m, 'sip_exporter_syslog_connections_total')).toBe(0);
  });

  it('exports the UDP receive buffer and kernel drop counters', async () => {
    const m = await d.metrics();
    expect(metric(m, 'sip_exporter_syslog_udp_receive_buffer_bytes')).toBeGreaterThan(0);
    expect(m.some((s) => s.name === 'sip_exporter_syslog_udp_kernel_drops_total')).toBe(true);
    expect(m.some((s) => s.name === 'sip_exporter_syslog_udp_receive_queue_bytes')).toBe(true);
  });
});

describe('syslog over IPv6', () => {
  it('listens on [::1] for UDP and TCP', async () => {
    const d = await startDaemon(['--syslog.listen-address=[::1]:0']);
    try {
      expect(d.addresses['syslog.udp']).toMatch(/^\[::1\]:\d+$/);
      await sendUdp(d.addresses['syslog.udp']!, [acc3164('INVITE', 200, 'OK', 1)]);
      const s = await connectTcp(d.addresses['syslog.tcp']!);
      await write(s, octet(acc5424('INVITE', 200, 'OK', 2)));
      await endSocket(s);
      await poll(async () => (await counts(d))['code=200,method=INVITE'] === 2, 'IPv6 messages');
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('syslog input and config reload (SIGHUP)', () => {
  it('restarts with new settings, keeps its metrics, and keeps counting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syslog-reload-'));
    const file = join(dir, 'config.yml');
    writeFileSync(file, 'syslog:\n  listen-address: 127.0.0.1:0\n  app-name: [opensips]\n');
    const d = await startDaemon([`--config=${file}`, '--syslog.listen-address=127.0.0.1:0']);
    try {
      await sendUdp(d.addresses['syslog.udp']!, [acc3164('INVITE', 200, 'OK', 1)]);
      await poll(async () => metric(await d.metrics(), 'sip_exporter_syslog_filtered_messages_total') === 1, 'filtered before reload');
      // The flag keeps the address fixed to port 0, so after the reload the input listens on a new port.
      writeFileSync(file, 'syslog:\n  listen-address: 127.0.0.1:0\n  app-name: [kamailio]\n');
      d.proc.kill('SIGHUP');
      const started = await poll(() => d.logs.filter((l) => l.msg === 'syslog input listening')[1], 'input restarted');
      await poll(async () => metric(await d.metrics(), 'sip_exporter_config_reloads_total', { result: 'success' }) === 1, 'reload counted');
      await sendUdp(started.udp as string, [acc3164('INVITE', 200, 'OK', 2)]);
      await poll(async () => (await counts(d))['code=200,method=INVITE'] === 1, 'counted after reload');
      const m = await d.metrics();
      expect(metric(m, 'sip_exporter_syslog_filtered_messages_total')).toBe(1);
      expect(metric(m, 'sip_exporter_syslog_messages_total', { transport: 'udp' })).toBe(2);
      expect(metric(m, 'sip_exporter_input_up', { source: 'syslog' })).toBe(1);
    } finally {
      expect(await d.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}
