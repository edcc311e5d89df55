/**
 * tshark capture of a test run's SIP traffic on loopback, and the distinct responses in it counted by
 * the exporter's rule (Call-ID, CSeq number, CSeq method, status code, To-tag), with Wireshark's own
 * SIP dissector doing the parsing (Debian's tshark has no HEP dissector, so the SIP ports are captured).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { poll } from '../helpers/poll.js';

export interface Capture {
  file: string;
  pid: number;
  /** Stops tshark (SIGINT, by PID) and waits for it to write the file. */
  stop(): Promise<void>;
}

/** Starts tshark on lo with a capture filter; resolves once it is capturing. */
export async function startCapture(file: string, filter: string): Promise<Capture> {
  const proc: ChildProcess = spawn('tshark', ['-i', 'lo', '-f', filter, '-w', file, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let exited = false;
  const exit = new Promise<void>((r) =>
    proc.on('exit', () => {
      exited = true;
      r();
    }),
  );
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await poll(() => {
    if (exited) throw new Error(`tshark exited: ${stderr}`);
    return stderr.includes('Capturing on') && existsSync(file);
  }, 'tshark capturing', 20_000);
  return {
    file,
    pid: proc.pid!,
    stop: async () => {
      if (!exited) proc.kill('SIGINT');
      await exit;
      if (!existsSync(file) || statSync(file).size === 0) throw new Error(`tshark wrote no capture: ${stderr}`);
    },
  };
}

export interface SipFromCapture {
  callId: string;
  cseq: string;
  method: string;
  code: string;
  toTag: string;
}

/** Every SIP response in the capture, decoded by tshark (ports given are decoded as SIP). */
export function responsesInCapture(file: string, sipPorts: number[]): SipFromCapture[] {
  const decode = sipPorts.flatMap((p) => ['-d', `udp.port==${p},sip`, '-d', `tcp.port==${p},sip`]);
  const r = spawnSync('tshark', ['-r', file, ...decode, '-Y', 'sip.Status-Code', '-T', 'json', '-J', 'sip'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tshark -r failed: ${r.stderr}`);
  const frames = JSON.parse(r.stdout) as { _source: { layers: { sip?: unknown } } }[];
  const out: SipFromCapture[] = [];
  for (const f of frames) {
    const sip = f._source.layers.sip;
    const pdus = Array.isArray(sip) ? sip : sip ? [sip] : [];
    for (const pdu of pdus) {
      const flat = new Map<string, string[]>();
      flatten(pdu, flat);
      const code = flat.get('sip.Status-Code')?.[0];
      if (code === undefined) continue;
      out.push({
        callId: flat.get('sip.Call-ID')?.[0] ?? '',
        cseq: flat.get('sip.CSeq.seq')?.[0] ?? '',
        method: flat.get('sip.CSeq.method')?.[0] ?? '',
        code,
        toTag: flat.get('sip.to.tag')?.[0] ?? '',
      });
    }
  }
  return out;
}

function flatten(v: unknown, out: Map<string, string[]>): void {
  if (v === null || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === 'string') {
      const l = out.get(k) ?? [];
      l.push(x);
      out.set(k, l);
    } else flatten(x, out);
  }
}

/** Distinct responses per "METHOD CODE", and the number of copies beyond the first. */
export function distinctByMethodCode(rs: SipFromCapture[]): { distinct: Record<string, number>; copies: number } {
  const seen = new Set<string>();
  const distinct: Record<string, number> = {};
  let copies = 0;
  for (const r of rs) {
    const key = [r.callId, r.cseq, r.method, r.code, r.toTag].join('\x00');
    if (seen.has(key)) {
      copies++;
      continue;
    }
    seen.add(key);
    const k = `${r.method} ${r.code}`;
    distinct[k] = (distinct[k] ?? 0) + 1;
  }
  return { distinct, copies };
}
