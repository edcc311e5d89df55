// HEP load generator (child process of bench/hep-udp.mjs; can also run alone):
//   node bench/hep-send.mjs HOST:PORT RATE SECONDS [FIRST_ID]
// Sends HEPv3 packets (SIP responses of 400-700 bytes, each with its own Call-ID) over UDP at RATE
// packets per second for SECONDS, paced every millisecond, and prints one JSON line:
// {"sent": n, "seconds": s, "rate": r, "errors": e}.
import { createSocket } from 'node:dgram';
import { makeTemplates, writeId } from './hep-packets.mjs';

const [target, rateArg, secondsArg, firstArg] = process.argv.slice(2);
if (!target || !rateArg || !secondsArg) {
  console.error('usage: node bench/hep-send.mjs HOST:PORT RATE SECONDS [FIRST_ID]');
  process.exit(2);
}
const colon = target.lastIndexOf(':');
const host = target.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(target.slice(colon + 1));
const rate = Number(rateArg);
const seconds = Number(secondsArg);
let id = Number(firstArg ?? 0);

// A ring of packet buffers: a buffer is rewritten only after 8192 later sends, long after its own send
// has left the socket.
const RING = 8192;
const templates = makeTemplates(32);
const ring = Array.from({ length: RING }, (_, i) => {
  const t = templates[i % templates.length];
  return { buf: Buffer.from(t.buf), idOffset: t.idOffset };
});

const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
sock.connect(port, host, () => {
  try {
    sock.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    /* keep the default */
  }
  let sent = 0;
  let errors = 0;
  let r = 0;
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  const onSent = (err) => {
    if (err) errors++;
  };
  const tick = () => {
    const elapsed = (performance.now() - t0) / 1000;
    const due = Math.min(total, Math.floor(elapsed * rate));
    while (sent < due) {
      const p = ring[r];
      r = (r + 1) % RING;
      writeId(p.buf, p.idOffset, id++);
      sock.send(p.buf, onSent);
      sent++;
    }
    if (sent >= total) {
      const secs = (performance.now() - t0) / 1000;
      // let queued sends complete
      setTimeout(() => {
        console.log(JSON.stringify({ sent, seconds: secs, rate: sent / secs, errors, nextId: id }));
        sock.close();
      }, 200);
      return;
    }
    setImmediate(tick);
  };
  tick();
});
