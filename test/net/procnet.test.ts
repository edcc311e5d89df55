import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpSocketWatcher } from '../../src/net/procnet.js';
import { poll } from '../helpers/poll.js';

// A child process sends while this process's event loop is blocked in spawnSync, so nothing reads the
// socket and the kernel drops what does not fit in its small receive buffer.
const SENDER = `
const s = require('node:dgram').createSocket('udp4');
const buf = Buffer.alloc(1000, 120);
let left = Number(process.argv[1]);
(function next() {
  if (left === 0) return s.close();
  let n = Math.min(left, 100);
  left -= n;
  let pending = n;
  while (n-- > 0) s.send(buf, Number(process.argv[2]), '127.0.0.1', () => { if (--pending === 0) next(); });
})();
`;

function blast(port: number, count: number): void {
  const r = spawnSync(process.execPath, ['-e', SENDER, String(count), String(port)], { timeout: 20_000 });
  expect(r.status).toBe(0);
}

let sock: Socket | undefined;
afterEach(() => {
  sock?.close();
  sock = undefined;
});

async function bound(): Promise<Socket> {
  const s = createSocket({ type: 'udp4', recvBufferSize: 32 * 1024 });
  s.on('message', () => undefined);
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  sock = s;
  return s;
}

describe.runIf(process.platform === 'linux')('UdpSocketWatcher (/proc/net/udp)', () => {
  it('finds its own socket and reports the queue and the drops of a flood it could not read', async () => {
    const s = await bound();
    const w = new UdpSocketWatcher(s.address().port, false);
    expect(w.found).toBe(true);
    expect(w.read()).toEqual({ drops: 0, queue: 0 });
    blast(s.address().port, 2000);
    // Nothing was read while the sender ran: the buffer is full and the rest was dropped.
    await new Promise((r) => setTimeout(r, 150));
    // By now the socket has been drained; the drops stay.
    await poll(() => w.read()?.queue === 0, 'the queue to drain', 5000, 150);
    const after = w.read()!;
    expect(after.drops).toBeGreaterThan(1000);
    expect(after.drops).toBeLessThan(2000);
  });

  it('never serves a drop count older than one scrape', async () => {
    const s = await bound();
    const w = new UdpSocketWatcher(s.address().port, false);
    expect(w.read()?.drops).toBe(0);
    blast(s.address().port, 2000);
    // Two reads within one scrape share one /proc read; the next scrape (Prometheus: seconds later,
    // here 200 ms) sees the new drops.
    await new Promise((r) => setTimeout(r, 200));
    expect(w.read()!.drops).toBeGreaterThan(1000);
  });

  it('is not found for a port this process does not own', () => {
    expect(new UdpSocketWatcher(1, false).found).toBe(false);
  });
});
