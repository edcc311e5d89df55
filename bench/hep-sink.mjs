// Calibration receiver for bench/hep-udp.mjs --target=sink|sink-decode: a bare Node UDP socket with the
// same receive buffer as the daemon that only counts datagrams (sink), or also runs the HEP input's
// per-packet work (sink-decode: HepProcessor.handle, without HTTP, config or logging). Comparing the
// three targets on the same machine separates Node's own UDP cost from the exporter's.
//
// Protocol: prints {"port": N} once bound; for every line on stdin prints
// {"packets": n, "cpu": seconds, "rss": bytes, "heap": bytes, "drops": kernel drops}.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const decode = process.argv[2] === 'decode';
const RCVBUF = Number(process.argv[3] ?? 4 * 1024 * 1024);
let handle = () => {};
if (decode) {
  const { Catalogue } = await import('../dist/src/classify/catalogue.js');
  const { Pipeline } = await import('../dist/src/pipeline.js');
  const { HepProcessor } = await import('../dist/src/sources/hep/processor.js');
  const proc = new HepProcessor(new Pipeline(Catalogue.load()), {
    dedupWindowMs: 40_000,
    dedupMaxEntries: 1_000_000,
    transactionTimeoutMs: 180_000,
    maxPendingTransactions: 200_000,
    maxMessageSize: 65536,
    logPackets: false,
  });
  setInterval(() => proc.tick(Date.now()), 1000).unref();
  handle = (msg) => proc.handle(msg, 0, msg.length, 0, Date.now());
}

let packets = 0;
const sock = createSocket('udp4');
sock.on('message', (msg) => {
  packets++;
  handle(msg);
});
sock.bind(0, '127.0.0.1', () => {
  sock.setRecvBufferSize(RCVBUF);
  const port = sock.address().port;
  console.log(JSON.stringify({ port, rcvbuf: sock.getRecvBufferSize() }));
  const hex = ':' + port.toString(16).toUpperCase().padStart(4, '0');
  const drops = () => {
    for (const line of readFileSync('/proc/net/udp', 'latin1').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(hex)) return Number(f[12]);
    }
    return NaN;
  };
  createInterface({ input: process.stdin }).on('line', () => {
    const u = process.cpuUsage();
    const m = process.memoryUsage();
    console.log(JSON.stringify({ packets, cpu: (u.user + u.system) / 1e6, rss: m.rss, heap: m.heapUsed, drops: drops() }));
  });
  process.stdin.on('end', () => process.exit(0));
});
