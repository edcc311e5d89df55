import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/daemon.js';

/**
 * The docker compose recipe's containers for real, without a container engine
 * (scripts/container/stack.sh): the exporter image and the demo Kamailio image built from their
 * Dockerfiles with buildah, run as the compose file wires them (its environment, entrypoints and
 * volumes; ports moved to free loopback ones), the demo calls counted exactly from the log and from
 * HEP, Prometheus (installed) scraping with the recipe's prometheus.yml and loading the shipped rules,
 * graceful SIGTERM. Needs root, buildah, debootstrap and prometheus (scripts/install-test-deps.sh);
 * without them the script fails, and so does this test.
 */
describe('docker compose recipe, run with buildah', () => {
  it('builds both images and the stack counts the demo calls, scraped by Prometheus', async () => {
    const out: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const p = spawn('bash', [join(ROOT, 'scripts/container/stack.sh')], {
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
    const summary = text.split('\n').filter((l) => l.startsWith('[timing]') || l.startsWith('{"expected"') || l.includes('Prometheus scraped'));
    if (summary.length > 0) console.log(summary.join('\n'));
    expect(code, text).toBe(0);
    expect(text).toContain('compose stack test passed');
  }, 30 * 60_000);
});
