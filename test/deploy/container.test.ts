import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/daemon.js';

/**
 * Builds the Dockerfile with buildah and runs the image (scripts/container/smoke.sh: base image from
 * debootstrap + Node, build, metadata checks, entrypoint as PID 1 counting a HEP packet / log line /
 * syslog message, HEALTHCHECK, SIGHUP, SIGTERM). Needs root, buildah and debootstrap, which
 * scripts/install-test-deps.sh installs; without them the script fails, and so does this test.
 * Cold (no cache) it takes about three minutes, two of them for the base image; cached about twenty
 * seconds.
 */
describe('container image', () => {
  it('builds from the Dockerfile and the image counts SIP responses', async () => {
    const out: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const p = spawn('bash', [join(ROOT, 'scripts/container/smoke.sh')], {
        cwd: ROOT,
        env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      p.stdout.setEncoding('utf8').on('data', (d: string) => out.push(d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => out.push(d));
      p.on('error', reject);
      p.on('exit', resolve);
    });
    const text = out.join('');
    const timings = text.split('\n').filter((l) => l.startsWith('[timing]') || l.startsWith('{"web"'));
    if (timings.length > 0) console.log(timings.join('\n'));
    expect(code, text).toBe(0);
    expect(text).toContain('container smoke test passed');
  }, 30 * 60_000);
});
