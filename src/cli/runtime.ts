import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for the daemon, applied before any input starts.
 *
 * Node gives every UDP datagram its own ArrayBuffer (a malloc'd backing store). By default V8 frees the
 * dead ones on a helper thread after each young-generation GC, and at 100k datagrams/s that thread and
 * the receive loop (allocating the next buffers) fight over glibc's malloc lock for a good part of every
 * GC cycle: the loop slows down by a third in bursts and the socket buffer overflows. Freeing them on the
 * main thread instead costs a few ms per GC, once, without contention (bench/hep-udp.mjs: ~0.1 s less
 * CPU per 100k packets and no drop bursts). The flag is read at every GC, so setting it here works.
 */
export function tuneRuntime(): void {
  setFlagsFromString('--no-concurrent-array-buffer-sweeping');
}
