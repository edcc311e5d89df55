// Low-overhead HEP load generator for bench/hep-udp.mjs (--sender=c, the default when a C compiler is
// available): the same packets as bench/hep-send.mjs (built by hep-packets.mjs), sent by a small C
// program with sendmmsg(2) in batches, so the sender costs a fraction of a core and the benchmark measures
// the receiver rather than Node's send path. The C source below is compiled once into the OS temp dir.
//
//   node bench/hep-send-fast.mjs HOST:PORT RATE SECONDS [FIRST_ID]   -> one JSON line like hep-send.mjs
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTemplates } from './hep-packets.mjs';

const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define RING 8192

static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: sender host port rate seconds first_id templates_file\n"); return 2; }
  const char *host = argv[1]; int port = atoi(argv[2]); double rate = atof(argv[3]); double secs = atof(argv[4]);
  unsigned long long id = strtoull(argv[5], 0, 10);
  FILE *f = fopen(argv[6], "rb"); if (!f) { perror("templates"); return 2; }
  /* file: u32 count, then per template: u32 len, u32 idOffset, bytes */
  uint32_t n; if (fread(&n, 4, 1, f) != 1) return 2;
  unsigned char **tpl = calloc(n, sizeof *tpl); uint32_t *tlen = calloc(n, 4), *toff = calloc(n, 4);
  for (uint32_t i = 0; i < n; i++) {
    if (fread(&tlen[i], 4, 1, f) != 1 || fread(&toff[i], 4, 1, f) != 1) return 2;
    tpl[i] = malloc(tlen[i]); if (fread(tpl[i], 1, tlen[i], f) != tlen[i]) return 2;
  }
  fclose(f);
  unsigned char **ring = calloc(RING, sizeof *ring); uint32_t *rlen = calloc(RING, 4), *roff = calloc(RING, 4);
  for (int i = 0; i < RING; i++) { int t = i % n; ring[i] = malloc(tlen[t]); memcpy(ring[i], tpl[t], tlen[t]); rlen[i] = tlen[t]; roff[i] = toff[t]; }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int sb = 4 << 20; setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 2; }
  struct mmsghdr msgs[BATCH]; struct iovec iov[BATCH];
  unsigned long long total = (unsigned long long)(rate * secs + 0.5), sent = 0, errors = 0; int r = 0;
  double t0 = now_s();
  while (sent < total) {
    double el = now_s() - t0;
    unsigned long long due = (unsigned long long)(el * rate); if (due > total) due = total;
    while (sent < due) {
      int k = 0;
      while (k < BATCH && sent + k < due) {
        unsigned char *p = ring[r]; unsigned long long v = id++;
        for (int d = 11; d >= 0; d--) { p[roff[r] + d] = '0' + (v % 10); v /= 10; }
        iov[k].iov_base = p; iov[k].iov_len = rlen[r];
        memset(&msgs[k].msg_hdr, 0, sizeof msgs[k].msg_hdr); msgs[k].msg_hdr.msg_iov = &iov[k]; msgs[k].msg_hdr.msg_iovlen = 1;
        r = (r + 1) % RING; k++;
      }
      int done = 0;
      while (done < k) {
        int s = sendmmsg(fd, msgs + done, k - done, 0);
        if (s < 0) {
          if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) { usleep(20); continue; }
          errors++; done++; /* e.g. ECONNREFUSED from an earlier ICMP: skip one message */
          continue;
        }
        done += s;
      }
      sent += k;
    }
    usleep(200);
  }
  double el = now_s() - t0;
  printf("{\"sent\": %llu, \"seconds\": %.6f, \"rate\": %.1f, \"errors\": %llu, \"nextId\": %llu}\n", sent, el, sent / el, errors, id);
  return 0;
}
`;

/** Compiles the sender once (cached by source hash); returns its path, or undefined without a compiler. */
export function fastSender() {
  const dir = join(tmpdir(), 'sip-exporter-bench');
  mkdirSync(dir, { recursive: true });
  const hash = createHash('sha256').update(C_SOURCE).digest('hex').slice(0, 12);
  const bin = join(dir, `hep-sender-${hash}`);
  if (existsSync(bin)) return bin;
  const src = `${bin}.c`;
  writeFileSync(src, C_SOURCE);
  const r = spawnSync('cc', ['-O2', '-o', bin, src], { encoding: 'utf8' });
  return r.status === 0 ? bin : undefined;
}

export function writeTemplates() {
  const t = makeTemplates(32);
  const parts = [u32le(t.length)];
  for (const x of t) parts.push(u32le(x.buf.length), u32le(x.idOffset), x.buf);
  const file = join(tmpdir(), 'sip-exporter-bench', `templates-${process.pid}.bin`);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

function u32le(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [target, rate, seconds, first] = process.argv.slice(2);
  const bin = fastSender();
  if (!bin) {
    console.error('no C compiler (cc): use bench/hep-send.mjs');
    process.exit(2);
  }
  const colon = target.lastIndexOf(':');
  const p = spawn(bin, [target.slice(0, colon), target.slice(colon + 1), rate, seconds, first ?? '0', writeTemplates()], { stdio: 'inherit' });
  p.on('exit', (c) => process.exit(c ?? 1));
}
