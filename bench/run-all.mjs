// Runs every benchmark once, one after the other, and prints their reports (numbers, never pass/fail:
// these machines are shared and noisy, so speed is measured here and not asserted in tests).
//
//   npm run bench                 # builds first, then everything (about 10 minutes)
//   node bench/run-all.mjs log    # only the benchmarks whose name starts with "log"
//
// Each benchmark can also be run alone; see the comment at the top of each file for its options.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'sre-bench-'));
const log = join(dir, 'acc.log');
const only = process.argv[2];

const steps = [
  ['log-gen', ['bench/log-gen.mjs', log, '--lines=2000000']],
  ['log-replay', ['bench/log-replay.mjs', log, '--rounds=3']],
  ['log-tail', ['bench/log-tail.mjs', log]],
  ['hep-decode', ['bench/hep-decode.mjs']],
  ['hep-udp', ['bench/hep-udp.mjs', '--rates=50000,100000,150000', '--seconds=10']],
  ['syslog-throughput', ['bench/syslog-throughput.mjs']],
  ['otel-hotpath', ['bench/otel-hotpath.mjs']],
  ['soak', ['bench/soak.mjs', '--duration=60s']],
];

let failed = 0;
try {
  for (const [name, args] of steps) {
    // log-replay and log-tail need the generated file.
    if (only && !name.startsWith(only) && !(name === 'log-gen' && only.startsWith('log'))) continue;
    console.log(`\n===== ${name}: node ${args.join(' ')}`);
    const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
    if (r.status !== 0) {
      failed++;
      console.log(`===== ${name} exited with ${r.status ?? r.signal}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed > 0 ? 1 : 0;
