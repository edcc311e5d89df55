import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/logger.js';

let daemon: Daemon;
let base: string;

beforeAll(async () => {
  const config = resolveConfig({
    flags: new Map([
      ['web.listen-address', ['127.0.0.1:0']],
      ['hep.listen-address', ['']],
      ['syslog.listen-address', ['']],
    ]),
  });
  daemon = new Daemon(config, createLogger('silent'));
  await daemon.start();
  base = `http://${daemon.addresses().web}`;
  daemon.pipeline.accept('log', { code: 486, reason: 'Busy Here', method: 'INVITE' });
});
afterAll(async () => {
  await daemon.stop();
});

describe('HTTP endpoints on a live server', () => {
  it('serves /metrics in the Prometheus text format', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const body = await res.text();
    expect(body).toContain('# HELP sip_responses_total Distinct SIP responses seen');
    expect(body).toContain('sip_responses_total{code="486",class="4xx",reason="Busy Here",method="INVITE",source="log"} 1');
    expect(body).toMatch(/^sip_exporter_build_info\{version="\d+\.\d+\.\d+",nodejs="v\d+/m);
    expect(body).toContain('process_resident_memory_bytes');
  });

  it('passes promtool check metrics', async () => {
    const body = await (await fetch(`${base}/metrics`)).text();
    const dir = mkdtempSync(join(tmpdir(), 'promtool-'));
    writeFileSync(join(dir, 'metrics.txt'), body);
    // promtool reads the exposition on stdin and exits non-zero on any problem (lint included).
    const out = execFileSync('sh', ['-c', `promtool check metrics < ${join(dir, 'metrics.txt')} 2>&1`], { encoding: 'utf8' });
    expect(out.trim()).toBe('');
  });

  it('has a landing page with version, links and the catalogue', async () => {
    const res = await fetch(`${base}/`);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('<h1>SIP Response Exporter</h1>');
    expect(html).toContain('href="metrics"');
    expect(html).toContain('id="code-503"');
    expect(html).toContain('Busy Here');
  });

  it('answers health and readiness', async () => {
    expect((await fetch(`${base}/-/healthy`)).status).toBe(200);
    expect((await fetch(`${base}/-/ready`)).status).toBe(200);
  });

  it('serves the catalogue as JSON', async () => {
    const all = (await (await fetch(`${base}/api/v1/codes`)).json()) as { codes: { code: number }[] };
    expect(all.codes).toHaveLength(77);
    const one = await fetch(`${base}/api/v1/codes/486`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ code: 486, class: '4xx', reason: 'Busy Here', rfc: 'RFC 3261' });
  });

  it('gives clear 404 and 400 bodies for unknown and invalid codes', async () => {
    const unknown = await fetch(`${base}/api/v1/codes/478`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'status code 478 is not in the catalogue', code: 478, class: '4xx', treatedAs: 400 });
    for (const bad of ['700', '099', 'abc', '2000']) {
      const res = await fetch(`${base}/api/v1/codes/${bad}`);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/^invalid status code/);
    }
  });

  it('rejects methods other than GET and HEAD', async () => {
    const res = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
