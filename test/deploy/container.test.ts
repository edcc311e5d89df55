import { describe, expect, it } from 'vitest';
import { runScript } from './util.js';

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
    const { code, text } = await runScript('scripts/container/smoke.sh');
    const timings = text.split('\n').filter((l) => l.startsWith('[timing]') || l.startsWith('{"web"'));
    if (timings.length > 0) console.log(timings.join('\n'));
    expect(code, text).toBe(0);
    expect(text).toContain('container smoke test passed');
  }, 30 * 60_000);
});
