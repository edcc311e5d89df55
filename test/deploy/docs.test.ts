import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/daemon.js';

/**
 * docs/deployment.md and docs/senders.md against the files they describe: every repository path they
 * name exists, every relative link resolves, and every configuration line shown in docs/senders.md is
 * a line of a shipped file (so the page cannot drift from deploy/senders/).
 */
const DOCS = ['docs/deployment.md', 'docs/senders.md'];
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

/** Fenced code blocks: language and lines. */
function blocks(md: string): { lang: string; lines: string[] }[] {
  const out: { lang: string; lines: string[] }[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(md); m; m = re.exec(md)) out.push({ lang: m[1]!, lines: m[2]!.split('\n') });
  return out;
}

describe('deployment documentation', () => {
  for (const doc of DOCS) {
    it(`${doc}: the repository paths it names exist`, () => {
      const text = read(doc);
      const paths = new Set([...text.matchAll(/`((?:deploy|dashboards|rules|scripts|test\/deploy|docs)\/[\w./-]*)`/g)].map((m) => m[1]!));
      expect(paths.size).toBeGreaterThan(3);
      for (const p of paths) {
        if (p.includes('*')) continue;
        const full = p.startsWith('test/deploy/') || p.startsWith('deploy/') || p.startsWith('dashboards/') || p.startsWith('rules/') || p.startsWith('scripts/') || p.startsWith('docs/') ? join(ROOT, p) : p;
        expect(existsSync(full), `${doc} names ${p}`).toBe(true);
      }
      for (const f of ['Dockerfile']) if (text.includes(`\`${f}\``)) expect(existsSync(join(ROOT, f))).toBe(true);
    });

    it(`${doc}: relative links resolve (files and anchors)`, () => {
      const text = read(doc);
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1]!;
        if (/^[a-z]+:/.test(link)) continue;
        const [file, anchor] = link.split('#') as [string, string?];
        const target = file === '' ? join(ROOT, doc) : join(ROOT, dirname(doc), file);
        expect(existsSync(target), `${doc} links to ${link}`).toBe(true);
        if (anchor && target.endsWith('.md')) {
          const slugs = [...readFileSync(target, 'utf8').matchAll(/^#+ (.+)$/gm)].map((h) =>
            h[1]!.toLowerCase().replace(/[`*]/g, '').replace(/[^\w\s-]/g, '').trim().replace(/\s/g, '-'),
          );
          expect(slugs, `${doc} links to #${anchor} in ${relative(ROOT, target)}`).toContain(anchor);
        }
      }
    });
  }

  it('docs/senders.md shows only lines that are in the shipped snippet files', () => {
    const shipped = new Set(
      files(join(ROOT, 'deploy/senders')).flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          // commented-out routing examples count too, and ini lines without their trailing comment
          .map((l) => l.replace(/^\s*(#|;)\s?/, '').trim())
          .flatMap((l) => [l, l.replace(/\s+;.*$/, '')]),
      ),
    );
    let checked = 0;
    for (const b of blocks(read('docs/senders.md'))) {
      if (b.lang === 'sh') continue;
      for (const raw of b.lines) {
        const line = raw.trim();
        // log-line examples are not configuration
        if (line === '' || line.includes('ACC: transaction answered') || line.startsWith('#') || line.startsWith(';')) continue;
        expect(shipped.has(line), `docs/senders.md shows "${line}", which no file in deploy/senders/ contains`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
  });
});
