import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ListenAddress } from '../../src/config/parsers.js';
import { KEY_BY_NAME } from '../../src/config/schema.js';
import { freePort, isBound, LOOPBACK, requireBinary } from '../e2e/harness/proc.js';
import { ROOT, startDaemon } from '../helpers/daemon.js';
import { nonZero } from '../helpers/metrics.js';
import { poll } from '../helpers/poll.js';

/**
 * The sender snippets of deploy/senders/ (documented in docs/senders.md): aimed at the exporter's
 * default ports, syntax-checked by the real software where it is installed (Kamailio, rsyslog), the
 * Kamailio ones identical to what the demo proxy and the end-to-end harness run, and the rsyslog one
 * forwarding for real.
 */
const S = join(ROOT, 'deploy/senders');
const read = (p: string): string => readFileSync(join(S, p), 'utf8');
const defaultPort = (key: string): number => (KEY_BY_NAME.get(key)!.spec.default as ListenAddress).port;
const HEP_PORT = defaultPort('hep.listen-address');
const SYSLOG_PORT = defaultPort('syslog.listen-address');

const tmp = mkdtempSync(join(tmpdir(), 'sip-exporter-senders-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface ModParam {
  module: string;
  key: string;
  value: string;
}
/** modparam("module", "key", value) lines that are not commented out. */
function modparams(cfg: string): ModParam[] {
  const out: ModParam[] = [];
  for (const line of cfg.split('\n')) {
    const m = /^\s*modparam\("(\w+)",\s*"(\w+)",\s*(.+)\)\s*$/.exec(line);
    if (m) out.push({ module: m[1]!, key: m[2]!, value: m[3]!.trim() });
  }
  return out;
}
const loadmodules = (cfg: string): string[] => [...cfg.matchAll(/^\s*loadmodule "([\w.]+)"/gm)].map((m) => m[1]!);
/** #!define NAME value -> value (the first definition, i.e. the default). */
function defines(cfg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of cfg.matchAll(/^#!define (\w+)(?: (.+))?$/gm)) if (!out.has(m[1]!)) out.set(m[1]!, (m[2] ?? '').trim());
  return out;
}

describe('Kamailio snippets', () => {
  const snippets = { 'siptrace-hep.cfg': read('kamailio/siptrace-hep.cfg'), 'acc-log.cfg': read('kamailio/acc-log.cfg') };

  it('send HEP to the exporter default HEP port', () => {
    expect(modparams(snippets['siptrace-hep.cfg']).find((p) => p.key === 'duplicate_uri')?.value).toBe(`"sip:127.0.0.1:${HEP_PORT}"`);
  });

  // The demo proxy (compose, Kubernetes) and the end-to-end harness must run exactly these settings:
  // same modules, same keys, same values (a preprocessor define stands for the value where an
  // address or id is chosen at run time; the demo's default must then be the snippet's value).
  for (const [name, target] of [
    ['the demo proxy deploy/kamailio/kamailio.cfg', join(ROOT, 'deploy/kamailio/kamailio.cfg')],
    ['the end-to-end harness test/e2e/harness/kamailio.cfg', join(ROOT, 'test/e2e/harness/kamailio.cfg')],
  ] as const) {
    it(`are what ${name} runs`, () => {
      const cfg = readFileSync(target, 'utf8');
      const have = modparams(cfg);
      const defs = defines(cfg);
      for (const [file, text] of Object.entries(snippets)) {
        for (const mod of loadmodules(text)) expect(loadmodules(cfg), `${file}: loadmodule ${mod}`).toContain(mod);
        const snippetDefs = defines(text);
        for (const p of modparams(text)) {
          // (a key may be set in several #!ifdef branches; one of them must match)
          const got = have.filter((h) => h.module === p.module && h.key === p.key);
          expect(got.length, `${file}: modparam ${p.module}.${p.key}`).toBeGreaterThan(0);
          const want = snippetDefs.get(p.value) ?? p.value;
          const matches = (v: string): boolean =>
            /^[A-Z_]+$/.test(v) && !/^[A-Z_]+$/.test(p.value)
              ? // a run-time define; where the file gives it a default, that default is the snippet's value
                !defs.has(v) || defs.get(v) === '' || defs.get(v) === want
              : (defs.get(v) ?? v) === want;
          expect(got.map((g) => g.value).some(matches), `${file}: ${p.module}.${p.key} = ${want}, found ${got.map((g) => g.value).join(' / ')}`).toBe(true);
        }
      }
    });
  }

  it('make a configuration kamailio -c accepts', () => {
    const cfg = [
      '#!KAMAILIO',
      'loadmodule "tm.so"',
      'loadmodule "sl.so"',
      'loadmodule "textops.so"',
      snippets['siptrace-hep.cfg'],
      snippets['acc-log.cfg'],
      'request_route {',
      '  if (!is_method("ACK")) { setflag(FLT_ACC); setflag(FLT_ACCFAILED); }',
      '  t_newtran();',
      '  t_reply("200", "OK");',
      '}',
    ].join('\n');
    const file = join(tmp, 'kamailio-snippets.cfg');
    writeFileSync(file, cfg);
    const r = spawnSync(requireBinary('kamailio'), ['-c', '-f', file], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});

describe('OpenSIPS, Asterisk and FreeSWITCH snippets (not installed here: checked for shape and ports)', () => {
  it('OpenSIPS proto_hep + tracer: HEPv3 to the default HEP port, trace id pointing at the hep id', () => {
    const text = read('opensips/proto_hep-tracer.cfg');
    const hepId = /modparam\("proto_hep", "hep_id", "\[(\w+)\] ([\d.]+):(\d+); transport=(udp|tcp); version=3"\)/.exec(text);
    expect(hepId).not.toBeNull();
    expect(Number(hepId![3])).toBe(HEP_PORT);
    expect(text).toContain(`modparam("tracer", "trace_id", "[${hepId![1]}]uri=hep:${hepId![1]}")`);
    expect(text).toContain(`trace("${hepId![1]}", "t", "sip")`);
    expect(text).toMatch(/^socket = hep_(udp|tcp):/m);
    expect(loadmodules(text)).toEqual(['proto_hep.so', 'tracer.so']);
  });

  it('OpenSIPS acc: log backend with failed transactions', () => {
    const text = read('opensips/acc-log.cfg');
    expect(loadmodules(text)).toEqual(['acc.so']);
    expect(text).toContain('do_accounting("log", "failed")');
  });

  it('Asterisk hep.conf: enabled, HEP to the default port, Call-ID as correlation', () => {
    const ini = iniSection(read('asterisk/hep.conf'), 'general');
    expect(ini.enabled).toBe('yes');
    expect(ini.capture_address).toBe(`127.0.0.1:${HEP_PORT}`);
    expect(ini.uuid_type).toBe('call-id');
  });

  it('Asterisk logger.conf: a file with verbose level 3 (PJSIP logger and chan_sip lines)', () => {
    const files = iniSection(read('asterisk/logger.conf'), 'logfiles');
    const levels = Object.values(files)[0] ?? '';
    expect(levels.split(',')).toContain('verbose(3)');
    expect(read('asterisk/logger.conf')).toMatch(/^; debug = yes/m);
  });

  it('FreeSWITCH sofia: capture-server HEPv3 over UDP to the default port, sip-capture on the profile', () => {
    const text = read('freeswitch/sofia.conf.xml');
    expect(text).toMatch(new RegExp(`<param name="capture-server" value="udp:127\\.0\\.0\\.1:${HEP_PORT};hep=3;capture_id=\\d+"/>`));
    expect(text).toContain('<param name="sip-capture" value="yes"/>');
    // well-formed enough for FreeSWITCH's XML parser: balanced configuration element, comments closed
    expect(text.match(/<!--/g)?.length).toBe(text.match(/-->/g)?.length);
    expect(text.match(/<configuration /g)?.length).toBe(1);
    expect(text.match(/<\/configuration>/g)?.length).toBe(1);
  });
});

describe('syslog forwarding snippets', () => {
  it('syslog-ng: RFC 5424 over TCP to the default syslog port', () => {
    const text = read('syslog-ng/sip-response-exporter.conf');
    expect(text).toMatch(new RegExp(`syslog\\("127\\.0\\.0\\.1" port\\(${SYSLOG_PORT}\\) transport\\("tcp"\\)\\)`));
    expect(text).toMatch(/log \{\s*source\(s_src\);\s*filter\(f_sip_proxies\);\s*destination\(d_sip_response_exporter\);\s*\};/);
    const ng = spawnSync('syslog-ng', ['--version'], { encoding: 'utf8' });
    if (!ng.error) {
      // installed: check the syntax for real (with a stand-in for the distribution's s_src)
      const file = join(tmp, 'syslog-ng.conf');
      writeFileSync(file, `@version: current\nsource s_src { internal(); };\n${text}`);
      const r = spawnSync('syslog-ng', ['--syntax-only', '-f', file], { encoding: 'utf8' });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('rsyslog: passes rsyslogd -N1 and aims at the default syslog port', () => {
    const text = read('rsyslog/60-sip-response-exporter.conf');
    expect(text).toContain(`port="${SYSLOG_PORT}"`);
    const r = spawnSync(rsyslogd(), ['-N1', '-f', join(S, 'rsyslog/60-sip-response-exporter.conf')], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('rsyslog: forwards Kamailio messages (either tag form) and nothing else to the exporter, which counts them', async () => {
    const dir = join(tmp, 'rsyslog');
    mkdirSync(join(dir, 'work'), { recursive: true });
    const [exporterPort, inPort] = [await freePort('both'), await freePort('udp')];
    const d = await startDaemon([`--syslog.listen-address=${LOOPBACK}:${exporterPort}`]);
    // The snippet as shipped, aimed at this test's exporter, behind a private UDP input.
    writeFileSync(join(dir, 'snippet.conf'), read('rsyslog/60-sip-response-exporter.conf').replace(`port="${SYSLOG_PORT}"`, `port="${exporterPort}"`));
    writeFileSync(
      join(dir, 'rsyslog.conf'),
      `global(workDirectory="${join(dir, 'work')}")\nmodule(load="imudp")\ninput(type="imudp" address="${LOOPBACK}" port="${inPort}")\ninclude(file="${join(dir, 'snippet.conf')}")\n`,
    );
    const rs = spawn(rsyslogd(), ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    rs.stdout.on('data', (b: Buffer) => (out += b.toString()));
    rs.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise((r) => rs.once('exit', r));
    try {
      const acc = (code: number, reason: string, id: string): string =>
        `NOTICE: acc [acc.c:317]: acc_log_request(): ACC: transaction answered: timestamp=1700000000;method=INVITE;from_tag=f-${id};to_tag=t-${id};call_id=${id};code=${code};reason=${reason}`;
      const messages = [
        `<29>Nov 22 10:00:00 proxy kamailio[4242]: ${acc(486, 'Busy Here', 'rs-1')}`,
        `<29>Nov 22 10:00:01 proxy /usr/sbin/kamailio[4243]: ${acc(503, 'Service Unavailable', 'rs-2')}`,
        // another program's message, even one that looks like an acc record, stays local
        `<29>Nov 22 10:00:02 proxy sshd[77]: ${acc(404, 'Not Found', 'rs-3')}`,
      ];
      const want = { 'code=486': 1, 'code=503': 1 };
      // Send once rsyslogd has bound its UDP input (its queue then holds messages until the TCP
      // connection to the exporter is up).
      await poll(() => {
        if (rs.exitCode !== null) throw new Error(`rsyslogd exited: ${out}`);
        return isBound(inPort, 'udp');
      }, 'rsyslogd to bind its UDP input', 20_000);
      const sock = createSocket('udp4');
      for (const m of messages) await new Promise<void>((r) => sock.send(m, inPort, LOOPBACK, () => r()));
      sock.close();
      let got: Record<string, number> = {};
      await poll(async () => {
        got = nonZero(await d.metrics(), 'sip_responses_total', ['code'], { source: 'syslog' });
        return Object.values(got).reduce((a, b) => a + b, 0) >= 2;
      }, `rsyslog to forward to the exporter (${out})`, 20_000);
      // nothing more arrives: the sshd line stays local
      await new Promise((r) => setTimeout(r, 500));
      got = nonZero(await d.metrics(), 'sip_responses_total', ['code'], { source: 'syslog' });
      expect(got).toEqual(want);
    } finally {
      rs.kill('SIGTERM');
      await exited;
      await d.stop();
    }
  }, 60_000);
});

function rsyslogd(): string {
  return requireBinary('rsyslogd');
}

function iniSection(text: string, section: string): Record<string, string> {
  const out: Record<string, string> = {};
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/;.*$/, '').trim();
    if (line === '') continue;
    const s = /^\[([^\]]+)\]$/.exec(line);
    if (s) {
      cur = s[1]!;
      continue;
    }
    const kv = /^([\w.-]+)\s*=>?\s*(.*)$/.exec(line);
    if (kv && cur === section) out[kv[1]!] = kv[2]!;
  }
  return out;
}
