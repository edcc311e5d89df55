import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { sum } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';
import { hep12, hep3msg, sipRequest, sipResponse } from '../fixtures/hep/encode.js';

function hostPort(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
}

async function sendUdp(addr: string, packets: Buffer[]): Promise<void> {
  const { host, port } = hostPort(addr);
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  for (const p of packets) await new Promise<void>((r, j) => s.send(p, port, host, (e) => (e ? j(e) : r())));
  s.close();
}

function openTcp(addr: string): Promise<Socket> {
  const { host, port } = hostPort(addr);
  return new Promise((resolve, reject) => {
    const c = connect({ host, port, noDelay: true }, () => resolve(c));
    c.once('error', reject);
  });
}

const write = (c: Socket, b: Buffer) => new Promise<void>((r) => c.write(b, () => r()));
const closed = (c: Socket) => new Promise<void>((r) => (c.destroyed ? r() : c.once('close', () => r())));

describe('HEP input in the daemon', () => {
  let d: RunningDaemon;
  beforeAll(async () => {
    d = await startDaemon(['--hep.listen-address=127.0.0.1:0', '--hep.max-connections=3', '--hep.tcp-idle-timeout=2s']);
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('reports the bound UDP and TCP addresses on the same port', () => {
    expect(d.addresses['hep.udp']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(d.addresses['hep.tcp']).toBe(d.addresses['hep.udp']);
  });

  it('shows the HEP series at zero from the start', async () => {
    const text = await d.metricsText();
    expect(text).toContain('sip_exporter_hep_packets_total{transport="udp"} 0');
    expect(text).toContain('sip_exporter_parse_errors_total{source="hep",reason="bad_chunk_length"} 0');
    expect(text).toContain('sip_requests_total{method="INVITE",source="hep"} 0');
    expect(text).toContain('sip_session_request_delay_seconds_count{class="1xx",source="hep"} 0');
    expect(text).toMatch(/sip_exporter_hep_udp_receive_buffer_bytes [1-9]/);
    expect(text).toContain('sip_exporter_input_up{source="hep"} 1');
  });

  it('counts distinct responses over UDP, with duplicates and errors', async () => {
    const r = sipResponse({ code: 503, reason: 'Service Unavailable', callId: 'udp-1' });
    await sendUdp(d.addresses['hep.udp']!, [
      hep3msg({ payload: r, src: '10.0.0.3', dst: '10.0.0.2' }),
      hep3msg({ payload: r, src: '10.0.0.2', dst: '10.0.0.1' }),
      hep3msg({ payload: r, src: '10.0.0.3', dst: '10.0.0.2' }),
      hep12(2, { payload: sipResponse({ code: 404, reason: 'Not Found', callId: 'udp-2', method: 'REGISTER' }) }),
      hep3msg({ payload: sipRequest({ callId: 'udp-3', method: 'OPTIONS' }) }),
      Buffer.from('not hep'),
    ]);
    const s = await poll(async () => {
      const m = await d.metrics();
      return sum(m, 'sip_exporter_hep_packets_total', { transport: 'udp' }) >= 6 ? m : undefined;
    }, 'udp packets counted');
    expect(sum(s, 'sip_responses_total', { source: 'hep', code: '503', method: 'INVITE' })).toBe(1);
    expect(sum(s, 'sip_responses_total', { source: 'hep', code: '404', method: 'REGISTER' })).toBe(1);
    expect(sum(s, 'sip_requests_total', { source: 'hep', method: 'OPTIONS' })).toBe(1);
    expect(sum(s, 'sip_response_duplicates_total', { source: 'hep', kind: 'relayed' })).toBe(1);
    expect(sum(s, 'sip_response_duplicates_total', { source: 'hep', kind: 'retransmission' })).toBe(1);
    expect(sum(s, 'sip_exporter_hep_decode_errors_total', { transport: 'udp', reason: 'bad_magic' })).toBe(1);
  });

  it('frames back-to-back packets over TCP across split writes', async () => {
    const packets = Array.from({ length: 20 }, (_, i) => hep3msg({ payload: sipResponse({ code: 486, reason: 'Busy Here', callId: `tcp-${i}`, pad: i * 31 }) }));
    const stream = Buffer.concat(packets);
    const c = await openTcp(d.addresses['hep.tcp']!);
    // odd-sized writes so packets straddle reads; a pause lets the reads really split
    for (let off = 0; off < stream.length; off += 333) {
      await write(c, stream.subarray(off, off + 333));
      if (off % 999 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const s = await poll(async () => {
      const m = await d.metrics();
      return sum(m, 'sip_responses_total', { source: 'hep', code: '486' }) >= 20 ? m : undefined;
    }, 'tcp responses counted');
    expect(sum(s, 'sip_responses_total', { source: 'hep', code: '486' })).toBe(20);
    expect(sum(s, 'sip_exporter_hep_packets_total', { transport: 'tcp' })).toBe(20);
    expect(sum(s, 'sip_exporter_hep_tcp_connections')).toBe(1);
    c.destroy();
    await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_disconnects_total', { reason: 'closed' }) === 1, 'disconnect counted');
  });

  it('closes a TCP connection that sends garbage, and counts it', async () => {
    const c = await openTcp(d.addresses['hep.tcp']!);
    c.on('error', () => {});
    await write(c, Buffer.concat([hep3msg({ payload: sipResponse({ code: 603, reason: 'Decline', callId: 'g' }) }), Buffer.from('GET / HTTP/1.1\r\n\r\n')]));
    await closed(c);
    // the daemon counts the disconnect when its side of the socket has closed: poll for it
    const s = await poll(async () => {
      const m = await d.metrics();
      return sum(m, 'sip_exporter_hep_tcp_disconnects_total', { reason: 'garbage' }) >= 1 ? m : undefined;
    }, 'garbage disconnect counted');
    expect(sum(s, 'sip_responses_total', { source: 'hep', code: '603' })).toBe(1);
    expect(sum(s, 'sip_exporter_hep_tcp_disconnects_total', { reason: 'garbage' })).toBe(1);
    expect(sum(s, 'sip_exporter_hep_decode_errors_total', { transport: 'tcp', reason: 'bad_magic' })).toBe(1);
  });

  it('counts a packet cut off by the end of a connection', async () => {
    const c = await openTcp(d.addresses['hep.tcp']!);
    await write(c, hep3msg({ payload: sipResponse({ callId: 'cut' }) }).subarray(0, 40));
    c.end();
    await closed(c);
    await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_decode_errors_total', { transport: 'tcp', reason: 'truncated' }) === 1, 'truncated packet counted');
    expect(sum(await d.metrics(), 'sip_exporter_parse_errors_total', { source: 'hep', reason: 'truncated' })).toBe(1);
  });

  it('refuses connections above hep.max-connections and closes idle ones', async () => {
    const conns = await Promise.all([1, 2, 3].map(() => openTcp(d.addresses['hep.tcp']!)));
    await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_connections') === 3, 'three connections open');
    const extra = await openTcp(d.addresses['hep.tcp']!);
    extra.on('error', () => {});
    await closed(extra);
    await poll(async () => sum(await d.metrics(), 'sip_exporter_hep_tcp_refused_total', { reason: 'max_connections' }) === 1, 'refusal counted');
    // the idle timeout (2s) closes the three
    await Promise.all(conns.map(closed));
    const s = await poll(async () => {
      const m = await d.metrics();
      return sum(m, 'sip_exporter_hep_tcp_disconnects_total', { reason: 'idle_timeout' }) >= 3 ? m : undefined;
    }, 'idle disconnects counted');
    expect(sum(s, 'sip_exporter_hep_tcp_disconnects_total', { reason: 'idle_timeout' })).toBe(3);
    expect(sum(s, 'sip_exporter_hep_tcp_connections')).toBe(0);
  });
});

describe('HEP input with an auth key and an allowlist', () => {
  let d: RunningDaemon;
  beforeAll(async () => {
    d = await startDaemon(['--hep.listen-address=127.0.0.1:0', '--hep.allowed-sources=127.0.0.0/8'], { SIP_EXPORTER_HEP_AUTH_KEY: 'myHep' });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('counts only packets with the right key', async () => {
    await sendUdp(d.addresses['hep.udp']!, [
      hep3msg({ payload: sipResponse({ callId: 'a1' }), authKey: 'myHep' }),
      hep3msg({ payload: sipResponse({ callId: 'a2' }), authKey: 'wrong' }),
      hep3msg({ payload: sipResponse({ callId: 'a3' }) }),
    ]);
    const s = await poll(async () => {
      const m = await d.metrics();
      return sum(m, 'sip_exporter_hep_packets_total', { transport: 'udp' }) >= 3 ? m : undefined;
    }, 'packets counted');
    expect(sum(s, 'sip_responses_total', { source: 'hep' })).toBe(1);
    expect(sum(s, 'sip_exporter_hep_auth_failures_total', { reason: 'wrong' })).toBe(1);
    expect(sum(s, 'sip_exporter_hep_auth_failures_total', { reason: 'missing' })).toBe(1);
    // the key never shows up in logs
    expect(JSON.stringify(d.logs)).not.toContain('myHep');
  });
});

describe('HEP input on IPv6', () => {
  it('listens on [::1] and counts', async () => {
    const d = await startDaemon(['--hep.listen-address=[::1]:0']);
    try {
      expect(d.addresses['hep.udp']).toMatch(/^\[::1\]:\d+$/);
      await sendUdp(d.addresses['hep.udp']!, [hep3msg({ payload: sipResponse({ code: 480, reason: 'Temporarily Unavailable' }), src: '::1', dst: '::1' })]);
      await poll(async () => sum(await d.metrics(), 'sip_responses_total', { source: 'hep', code: '480' }) === 1, 'ipv6 response counted');
      const c = await openTcp(d.addresses['hep.tcp']!);
      await write(c, hep3msg({ payload: sipResponse({ code: 481, reason: 'x' }) }));
      await poll(async () => sum(await d.metrics(), 'sip_responses_total', { source: 'hep', code: '481' }) === 1, 'ipv6 tcp response counted');
      c.destroy();
    } finally {
      await d.stop();
    }
  });
});
