// UDP flood sender, run as a child process by test/faults/ (and usable by hand):
//
//   node bench/soak/flood.mjs --kind=hep|syslog --to=127.0.0.1:9060 --tag=flood --duration-ms=3000 [--from=0] [--max=N]
//
// Sends distinct messages (message i carries Call-ID `${tag}-${i}@soak`, outcome MIX[i % MIX.length]) as
// fast as the socket takes them, for --duration-ms or until --max messages were sent, keeping a bounded
// number of sends in flight. Prints one JSON line: {"sent": N, "errors": E, "from": F, "to": T, "ms": ...}
// where messages [from, to) were handed to the kernel without error (errors are not part of [from, to)
// only if they happen at the end; any error is reported so the caller can refuse an inexact run).

import dgram from 'node:dgram';
import net from 'node:net';
import { hepResponse, syslog3164 } from './traffic.mjs';

const arg = (name, def) => process.argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const kind = arg('kind', 'hep');
const to = arg('to');
const tag = arg('tag', 'flood');
const durationMs = Number(arg('duration-ms', 3000));
const from = Number(arg('from', 0));
const max = Number(arg('max', Number.MAX_SAFE_INTEGER));
const inFlightMax = Number(arg('in-flight', 64));
if (!to) {
  console.error('usage: node bench/soak/flood.mjs --kind=hep|syslog --to=HOST:PORT [--tag=..] [--duration-ms=..] [--from=..] [--max=..]');
  process.exit(2);
}
const colon = to.lastIndexOf(':');
const host = to.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(to.slice(colon + 1));
const make = kind === 'hep' ? (i) => hepResponse(tag, i) : (i) => Buffer.from(syslog3164(tag, i));

const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
sock.on('error', () => undefined);
// A large send buffer so the sender is limited by the CPU, not by its own socket.
sock.bind(0, () => {
  try {
    sock.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // capped by wmem_max: fine
  }
  run();
});

function run() {
  const t0 = Date.now();
  const deadline = t0 + durationMs;
  let next = from;
  let inFlight = 0;
  let done = 0;
  let errors = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    process.stdout.write(`${JSON.stringify({ sent: done, errors, from, to: next, ms: Date.now() - t0 })}\n`);
    sock.close();
  };
  const pump = () => {
    while (inFlight < inFlightMax && next - from < max) {
      if ((next & 255) === 0 && Date.now() >= deadline) break;
      const i = next++;
      inFlight++;
      sock.send(make(i), port, host, (err) => {
        inFlight--;
        if (err) errors++;
        else done++;
        if (inFlight === 0 && (next - from >= max || Date.now() >= deadline)) finish();
        else if (inFlight < inFlightMax / 2) pump();
      });
    }
    if (inFlight === 0) finish();
  };
  pump();
}
