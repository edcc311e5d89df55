import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatListenAddress } from '../../src/config/parsers.js';
import { requireBinary } from '../e2e/harness/proc.js';
import { ROOT } from '../helpers/daemon.js';
import { containerConfig, dockerfile, rulesJob, schemaErrors } from './util.js';

/**
 * deploy/compose/compose.yaml without Docker Compose: the file against a schema of the Compose keys
 * it uses, every file and directory it mounts or builds, the exporter's configuration as the
 * container would resolve it, ports against the image's EXPOSE, the Prometheus config with promtool
 * (rules loaded), and the Grafana provisioning against the shipped dashboards. Its services run for
 * real, built with buildah, in stack.test.ts.
 */
const DIR = join(ROOT, 'deploy/compose');
const FILE = join(DIR, 'compose.yaml');

interface Service {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  network_mode?: string;
  depends_on?: string[];
  entrypoint?: string[];
  profiles?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}
const compose = parse(readFileSync(FILE, 'utf8')) as Compose;
const svc = (name: string): Service => {
  const s = compose.services[name];
  if (!s) throw new Error(`no service ${name} in compose.yaml`);
  return s;
};
/** "src:dst[:mode]" -> parts; src is a named volume unless it starts with . or /. */
const mounts = (s: Service) =>
  (s.volumes ?? []).map((v) => {
    const [src, dst, mode] = v.split(':') as [string, string, string?];
    const bind = src.startsWith('.') || src.startsWith('/');
    return { src, dst, ro: mode === 'ro', bind, host: bind ? resolve(DIR, src) : undefined };
  });
const exporterName = Object.entries(compose.services).find(([, s]) => typeof s.build === 'object' && s.build.dockerfile === 'Dockerfile')?.[0] ?? 'exporter';
const exporter = svc(exporterName);
const exporterEnv = exporter.environment ?? {};
const cfg = containerConfig(exporterEnv, readFileSync(join(ROOT, 'deploy/container/config.yml'), 'utf8'));
/** The service whose network namespace the exporter lives in (itself without network_mode). */
const netOwner = /^service:(.+)$/.exec(exporter.network_mode ?? '')?.[1] ?? exporterName;

const tmp = mkdtempSync(join(tmpdir(), 'sip-exporter-compose-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('docker compose recipe', () => {
  it('uses only known Compose keys, correctly typed', () => {
    expect(schemaErrors('compose.schema.json', compose)).toEqual([]);
    // the schema does catch mistakes: a misspelt key, a port without a container side
    const typo = { ...compose, services: { ...compose.services, x: { image: 'x', enviroment: {} } } };
    expect(schemaErrors('compose.schema.json', typo).join()).toContain('additionalProperty');
    expect(schemaErrors('compose.schema.json', { ...compose, services: { x: { image: 'x', ports: ['9468'] } } })).not.toEqual([]);
  });

  it('builds from existing Dockerfiles and mounts files and directories that exist', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.build !== undefined) {
        const ctx = resolve(DIR, typeof s.build === 'string' ? s.build : s.build.context);
        const df = join(ctx, typeof s.build === 'string' ? 'Dockerfile' : (s.build.dockerfile ?? 'Dockerfile'));
        expect(existsSync(df), `${name}: ${df}`).toBe(true);
      }
      for (const m of mounts(s)) {
        if (m.bind) expect(existsSync(m.host!), `${name}: ${m.src}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: named volume ${m.src}`).toContain(m.src);
      }
      for (const dep of s.depends_on ?? []) expect(Object.keys(compose.services), `${name} depends on ${dep}`).toContain(dep);
      const owner = /^service:(.+)$/.exec(s.network_mode ?? '')?.[1];
      if (owner) {
        expect(Object.keys(compose.services), `${name}: network_mode`).toContain(owner);
        expect(s.ports ?? [], `${name} shares ${owner}'s network: its ports are published there`).toEqual([]);
      }
    }
  });

  it('configures the exporter with valid keys, from the image defaults and the compose environment', () => {
    for (const k of Object.keys(exporterEnv)) expect(k).toMatch(/^SIP_EXPORTER_/);
    // the values the recipe depends on, as the daemon would resolve them in the container
    expect(cfg.hep['listen-address'] && formatListenAddress(cfg.hep['listen-address'])).toBe('127.0.0.1:9060');
    expect(cfg.log.path).toEqual(['/var/log/kamailio/kamailio.log']);
  });

  it('the exporter follows the log file the proxy writes, on the volume they share', () => {
    const proxy = svc(netOwner);
    const logFile = proxy.environment?.KAMAILIO_LOG_FILE ?? '/var/log/kamailio/kamailio.log';
    expect(cfg.log.path).toContain(logFile);
    const writer = mounts(proxy).find((m) => logFile.startsWith(`${m.dst}/`));
    const reader = mounts(exporter).find((m) => logFile.startsWith(`${m.dst}/`));
    expect(writer && reader && writer.src === reader.src && !writer.bind).toBe(true);
    expect(reader!.ro).toBe(true);
    // read positions go to a volume the exporter (uid 1000) can write: the image's state directory
    const pos = cfg.log['position-file'];
    expect(mounts(exporter).some((m) => !m.ro && pos.startsWith(`${m.dst}/`) && m.dst === '/var/lib/sip-response-exporter')).toBe(true);
  });

  it('HEP goes from the proxy to the exporter over loopback in their shared network namespace', () => {
    expect(exporter.network_mode).toBe(`service:${netOwner}`);
    const kcfg = readFileSync(join(ROOT, 'deploy/kamailio/kamailio.cfg'), 'utf8');
    const hepUri = /#!define HEP_URI "sip:([\d.]+:\d+)"/.exec(kcfg)?.[1];
    expect(hepUri).toBe(formatListenAddress(cfg.hep['listen-address']!));
  });

  it('publishes the exporter HTTP port the image exposes, on the service that owns its network', () => {
    const web = cfg.web['listen-address']!;
    expect(dockerfile().expose).toContain(`${web.port}/tcp`);
    const published = (svc(netOwner).ports ?? []).map((p) => p.split(':').pop()!);
    expect(published).toContain(`${web.port}/tcp`);
  });

  it('Prometheus: promtool accepts the config with the shipped rules, and it scrapes the exporter as the rules expect', () => {
    const prom = svc('prometheus');
    const cfgMount = mounts(prom).find((m) => m.dst === '/etc/prometheus/prometheus.yml')!;
    const rulesMount = mounts(prom).find((m) => m.host === join(ROOT, 'rules'))!;
    expect(cfgMount && rulesMount).toBeTruthy();
    // Rebuild the container's layout (config + rules next to it) and let promtool check both.
    const etc = join(tmp, 'etc-prometheus');
    mkdirSync(etc, { recursive: true });
    cpSync(cfgMount.host!, join(etc, 'prometheus.yml'));
    cpSync(rulesMount.host!, join(etc, posix.relative('/etc/prometheus', rulesMount.dst)), { recursive: true });
    const r = spawnSync(requireBinary('promtool'), ['check', 'config', join(etc, 'prometheus.yml')], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS: [1-9]\d* rules found/);

    const pcfg = parse(readFileSync(cfgMount.host!, 'utf8')) as { global: { scrape_interval: string }; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    const job = pcfg.scrape_configs.find((j) => j.job_name === rulesJob());
    expect(job, `a scrape job named ${rulesJob()} (the rules' selector)`).toBeTruthy();
    expect(job!.static_configs.flatMap((s) => s.targets)).toEqual([`${netOwner}:${cfg.web['listen-address']!.port}`]);
  });

  it('Grafana: provisions the shipped dashboards and a datasource the dashboards and alerts agree with', () => {
    const g = svc('grafana');
    const m = mounts(g);
    // the shipped dashboard provider, and the dashboards where it looks for them
    const providerMount = m.find((x) => x.dst === '/etc/grafana/provisioning/dashboards')!;
    expect(providerMount.host).toBe(join(ROOT, 'dashboards/provisioning/dashboards'));
    const providers = readdirSync(providerMount.host!).flatMap((f) => (parse(readFileSync(join(providerMount.host!, f), 'utf8')) as { providers: { options: { path: string } }[] }).providers);
    for (const p of providers) {
      const dash = m.find((x) => x.dst === p.options.path);
      expect(dash, `a mount at the provider's path ${p.options.path}`).toBeTruthy();
      const jsons = readdirSync(dash!.host!).filter((f) => f.endsWith('.json'));
      expect(jsons.length).toBeGreaterThanOrEqual(1);
    }
    const home = g.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    if (home) {
      const dash = m.find((x) => home.startsWith(`${x.dst}/`))!;
      expect(existsSync(join(dash.host!, posix.relative(dash.dst, home))), home).toBe(true);
    }

    const dsMount = m.find((x) => x.dst.startsWith('/etc/grafana/provisioning/datasources/'))!;
    const ds = (parse(readFileSync(dsMount.host!, 'utf8')) as { datasources: { uid: string; type: string; url: string; jsonData: { timeInterval: string } }[] }).datasources[0]!;
    const shipped = (parse(readFileSync(join(ROOT, 'dashboards/provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources: { uid: string; type: string }[] }).datasources[0]!;
    expect(ds.uid).toBe(shipped.uid);
    expect(ds.type).toBe('prometheus');
    expect(ds.url).toBe('http://prometheus:9090');
    expect(Object.keys(compose.services)).toContain('prometheus');
    const pcfg = parse(readFileSync(join(DIR, 'prometheus/prometheus.yml'), 'utf8')) as { global: { scrape_interval: string } };
    expect(ds.jsonData.timeInterval).toBe(pcfg.global.scrape_interval);
  });

  it('demo traffic runs the scenarios the demo proxy image ships', () => {
    const proxyImage = svc(netOwner).image;
    const kdf = readFileSync(join(ROOT, 'deploy/kamailio/Dockerfile'), 'utf8');
    const shipped = /COPY ([^\n]+) \/usr\/local\/share\/sip-demo\//.exec(kdf)![1]!.split(/\s+/);
    for (const name of ['callee', 'caller']) {
      const s = svc(name);
      expect(s.profiles).toEqual(['demo']);
      expect(s.image).toBe(proxyImage);
      expect(s.network_mode).toBe(`service:${netOwner}`);
      const files = (s.entrypoint ?? []).join(' ').match(/\/usr\/local\/share\/sip-demo\/[\w.-]+/g) ?? [];
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        expect(shipped).toContain(posix.basename(f));
        expect(statSync(join(ROOT, 'deploy/kamailio', posix.basename(f))).isFile()).toBe(true);
      }
    }
    // the callee listens where the demo proxy relays "answer" (UAS_URI's default)
    const uas = /#!define UAS_URI "sip:([\d.]+):(\d+)"/.exec(readFileSync(join(ROOT, 'deploy/kamailio/kamailio.cfg'), 'utf8'))!;
    expect(svc('callee').entrypoint!.join(' ')).toContain(`-i ${uas[1]} -p ${uas[2]}`);
    expect(dirname(FILE)).toBe(DIR);
  });
});
