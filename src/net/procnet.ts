import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Kernel statistics of one UDP socket from /proc/net/udp and /proc/net/udp6 (Linux): the receive queue
 * fill (rx_queue) and the count of datagrams dropped because the receive buffer was full (drops).
 *
 * Node does not expose a socket's inode, so the socket is found by its local port among the sockets
 * this process owns (/proc/self/fd links "socket:[inode]"). Everything here is best effort: where /proc
 * is not readable the functions return undefined and the metrics stay absent or zero.
 */

export interface UdpSocketStats {
  drops: number;
  /** Bytes queued for reading. */
  queue: number;
}

interface Row {
  port: number;
  inode: string;
  queue: number;
  drops: number;
}

function readRows(file: string): Row[] {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return [];
  }
  const rows: Row[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 13) continue;
    const local = f[1]!;
    const colon = local.lastIndexOf(':');
    const port = parseInt(local.slice(colon + 1), 16);
    const queues = f[4]!.split(':');
    rows.push({ port, inode: f[9]!, queue: parseInt(queues[1] ?? '0', 16) || 0, drops: Number(f[12]) || 0 });
  }
  return rows;
}

function ownSocketInodes(): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const l = readlinkSync(`/proc/self/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(l);
      if (m) out.add(m[1]!);
    } catch {
      // fd closed meanwhile
    }
  }
  return out;
}

const REUSE_MS = 100;

/** Finds the /proc/net row of this process's UDP socket bound to `port`; call once after bind. */
export class UdpSocketWatcher {
  private inode: string | undefined;
  private readonly file: string;

  constructor(private readonly port: number, ipv6: boolean) {
    this.file = ipv6 ? '/proc/net/udp6' : '/proc/net/udp';
    const rows = readRows(this.file).filter((r) => r.port === port);
    if (rows.length === 0) return;
    const own = ownSocketInodes();
    this.inode = rows.find((r) => own.has(r.inode))?.inode;
  }

  get found(): boolean {
    return this.inode !== undefined;
  }

  /**
   * Current stats. One scrape asks twice (drops, then queue), so a read is reused for 100 ms: long enough
   * to cover one scrape, short enough that the next scrape never sees a stale drop count.
   */
  read(): UdpSocketStats | undefined {
    if (this.inode === undefined) return undefined;
    const now = Date.now();
    if (this.cached && now - this.cached.at < REUSE_MS) return this.cached.stats;
    const row = readRows(this.file).find((r) => r.inode === this.inode && r.port === this.port);
    const stats = row ? { drops: row.drops, queue: row.queue } : undefined;
    this.cached = { at: now, stats };
    return stats;
  }

  private cached: { at: number; stats: UdpSocketStats | undefined } | undefined;
}
