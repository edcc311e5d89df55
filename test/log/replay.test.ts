import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { CLI, ROOT } from '../helpers/daemon.js';
import { nonZero, parseExposition, sum } from '../helpers/metrics.js';

const dir = mkdtempSync(join(tmpdir(), 'sre-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const rc = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: {} });
  return { rc, out, err };
}

const fixture = (name: string): string => readFileSync(join(ROOT, 'test/fixtures/log', name), 'utf8');

describe('replay FILE...', () => {
  const plain = join(dir, 'kamailio.log');
  const gz = join(dir, 'asterisk.log.gz');
  writeFileSync(plain, fixture('kamailio-syslog.txt') + fixture('kamailio-stderr.txt'));
  writeFileSync(gz, gzipSync(fixture('asterisk-pjsip.txt')));

  it('prints the Prometheus exposition of plain and gzip files', async () => {
    const r = await cli('replay', plain, gz);
    expect(r.rc).toBe(0);
    const m = parseExposition(r.out);
    expect(nonZero(m, 'sip_responses_total', ['method', 'code'], { source: 'log' })).toEqual({
      'method=INVITE,code=486': 1,
      'method=INVITE,code=200': 2,
      'method=OPTIONS,code=200': 3,
      'method=BYE,code=200': 1,
      'method=INVITE,code=408': 1,
      'method=SUBSCRIBE,code=489': 1,
      'method=OTHER,code=501': 1,
      'method=INVITE,code=180': 1,
      'method=INVITE,code=603': 1,
      'method=CANCEL,code=200': 1,
      'method=REGISTER,code=401': 1,
    });
    expect(nonZero(m, 'sip_exporter_parse_errors_total', ['reason'])).toEqual({ 'reason=invalid_code': 3, 'reason=missing_code': 1, 'reason=incomplete_block': 1 });
    const lines = (fixture('kamailio-syslog.txt') + fixture('kamailio-stderr.txt') + fixture('asterisk-pjsip.txt')).split('\n').length - 1;
    expect(sum(m, 'sip_exporter_log_lines_total')).toBe(lines);
    expect(r.out).toContain('# HELP sip_responses_total');
    expect(r.out).not.toContain('sip_response_code_info');
  });

  it('prints a summary table with --format table', async () => {
    const r = await cli('replay', '--format=table', '--log.dialect=kamailio', plain, gz);
    expect(r.rc).toBe(0);
    const rows = r.out.split('\n');
    expect(rows[0]).toMatch(/^code\s+reason\s+count\s+share\s+meaning$/);
    expect(rows[1]).toMatch(/^200\s+OK\s+4\s+40\.0%\s+\S/);
    expect(r.out).toMatch(/\n486\s+Busy Here\s+1\s+10\.0%\s/);
    expect(r.out).toContain('10 responses in ');
    expect(r.out).toContain('parse errors: invalid_code 2, missing_code 1');
  });

  it('reports missing files and bad options', async () => {
    expect((await cli('replay')).rc).toBe(2);
    expect((await cli('replay', '--format=json', plain)).err).toMatch(/--format must be prometheus or table/);
    const missing = await cli('replay', join(dir, 'nope.log'));
    expect(missing.rc).toBe(1);
    expect(missing.err).toMatch(/nope\.log: ENOENT/);
    expect((await cli('replay', '--log.dialect=foo', plain)).rc).toBe(2);
  });

  it('reads standard input as "-" (the built CLI)', () => {
    const r = spawnSync(process.execPath, [CLI, 'replay', '--log.dialect=asterisk', '-'], { input: fixture('asterisk-pjsip.txt'), encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(nonZero(parseExposition(r.stdout), 'sip_responses_total', ['method', 'code'])).toEqual({
      'method=OPTIONS,code=200': 2,
      'method=REGISTER,code=401': 1,
      'method=INVITE,code=200': 1,
    });
  });

  it('counts over-long lines and reads a last line without a newline', async () => {
    const f = join(dir, 'long.log');
    writeFileSync(f, `${'x'.repeat(5000)}\nACC: transaction answered: method=INVITE;code=486;reason=Busy Here`);
    const m = parseExposition((await cli('replay', '--log.max-line-length=1KiB', f)).out);
    expect(sum(m, 'sip_exporter_dropped_total', { source: 'log', reason: 'line_too_long' })).toBe(1);
    expect(sum(m, 'sip_responses_total', { code: '486' })).toBe(1);
  });
});
