import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderConfigReference } from '../../src/config/doc.js';
import { KEYS } from '../../src/config/schema.js';
import { ROOT } from '../helpers/daemon.js';

describe('documentation matches the code', () => {
  it('docs/configuration.md is generated from the current key declarations (run `npm run docs`)', () => {
    expect(readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8')).toBe(renderConfigReference());
  });

  it('the README names every flag of the core contract', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const flag of ['--config', '--web.listen-address', '--hep.listen-address', '--syslog.listen-address', '--log.path', '--log.dialect']) {
      expect(readme).toContain(flag);
    }
    expect(KEYS.length).toBeGreaterThan(5);
  });
});
