import { describe, expect, it } from 'vitest';
import { runScript } from './util.js';

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
    const { code, text } = await runScript('scripts/container/stack.sh');
    const summary = text.split('\n').filter((l) => l.startsWith('[timing]') || l.startsWith('{"expected"') || l.includes('Prometheus scraped'));
    if (summary.length > 0) console.log(summary.join('\n'));
    expect(code, text).toBe(0);
    expect(text).toContain('compose stack test passed');
  }, 30 * 60_000);
});
