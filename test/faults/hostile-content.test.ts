/**
 * Fault injection: hostile content (not volume) from a network sender. A few large messages crafted
 * against a parser must not stall the daemon: /-/healthy and /metrics keep answering within a second.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, sendUdp, sleep, startDaemon, timedGet } from './helpers.js';

afterAll(killAll);

describe('hostile syslog content', () => {
  // Regression (fixed in 2226471, see test/fuzz/dialects.fuzz.test.ts "acc records with many method= and
  // call_id= fields"): ten 64 KiB syslog datagrams of `ACC: transaction answered: method=;call_id=;...`
  // sent within one second used to keep /-/healthy from answering for about 8 s.
  it('ten 64 KiB acc records crafted for backtracking do not stall HTTP for more than a second', async () => {
    const d = await startDaemon(['--syslog.listen-address=127.0.0.1:0']);
    try {
      const msg = `<29>Sep  7 07:16:53 sip kamailio[1]: ACC: transaction answered: ${'method=;call_id=;'.repeat(3800)}`;
      expect(Buffer.byteLength(msg)).toBeLessThan(65_507);
      let worst = 0;
      let go = true;
      const probe = (async () => {
        while (go) {
          worst = Math.max(worst, await timedGet(d.url('/-/healthy')));
          await sleep(50);
        }
      })();
      await sendUdp(d.addresses['syslog.udp']!, Array.from({ length: 10 }, () => msg), 100);
      await sleep(3000);
      go = false;
      await probe;
      expect(worst).toBeLessThan(1000);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
