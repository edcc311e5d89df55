import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { formatListenAddress } from '../../src/config/parsers.js';
import { ROOT } from '../helpers/daemon.js';
import { containerConfig, dockerfile, rulesJob, schemaErrors } from './util.js';

/**
 * deploy/kubernetes (no cluster here): every manifest against a JSON schema of the API fields it
 * uses (unknown keys fail), then the wiring between them - selectors, named ports, probes, volumes,
 * the exporter's configuration as the container resolves it, the PodMonitor's job label against the
 * rules - and, where kubectl is installed, the kustomize rendering.
 */
const DIR = join(ROOT, 'deploy/kubernetes');

interface Kustomization {
  resources: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
}
interface Port {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface Container {
  name: string;
  image: string;
  env?: { name: string; value: string }[];
  ports?: Port[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  startupProbe?: { httpGet: { path: string; port: string | number } };
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[]; add?: string[] } };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // shape checked by the schema test; read loosely below
  spec?: any;
  data?: Record<string, string>;
}

const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as Kustomization;
const manifests: { file: string; doc: Manifest }[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => ({ file, doc: d.toJS() as Manifest })),
);
const byKind = (kind: string): Manifest[] => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const deployment = byKind('Deployment')[0]!;
const pod = deployment.spec.template;
const containers = pod.spec.containers as Container[];
const exporter = containers.find((c) => c.image === 'sip-response-exporter')!;
const proxy = containers.find((c) => c !== exporter)!;
const env = (c: Container): Record<string, string> => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
const configMap = byKind('ConfigMap').find((c) => pod.spec.volumes.some((v: { configMap?: { name: string } }) => v.configMap?.name === c.metadata.name))!;
const IMAGE_CONFIG = dockerfile().env.SIP_EXPORTER_CONFIG!;
const cfg = containerConfig(env(exporter), configMap.data![posix.basename(IMAGE_CONFIG)]);
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
const port = (c: Container, nameOrNumber: string | number): Port | undefined => c.ports?.find((p) => p.name === nameOrNumber || p.containerPort === nameOrNumber);

describe('Kubernetes recipe', () => {
  it('every manifest and the kustomization pass the schema', () => {
    expect(schemaErrors('kubernetes.schema.json', kustomization)).toEqual([]);
    expect(manifests.map((m) => m.doc.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodMonitor', 'Service']);
    for (const { file, doc } of manifests) expect(schemaErrors('kubernetes.schema.json', doc), file).toEqual([]);
    // the schema does catch mistakes: an unknown field, a port name over 15 characters
    const bad = structuredClone(deployment);
    bad.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
    expect(schemaErrors('kubernetes.schema.json', bad)).not.toEqual([]);
    const longPort = structuredClone(deployment);
    longPort.spec.template.spec.containers[1].ports[0].name = 'metrics-of-the-exporter';
    expect(schemaErrors('kubernetes.schema.json', longPort)).not.toEqual([]);
  });

  it('selectors match the pod: Deployment, Service, PodMonitor', () => {
    expect(matches(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    for (const svc of byKind('Service')) expect(matches(svc.spec.selector, pod.metadata.labels), svc.metadata.name).toBe(true);
    for (const pm of byKind('PodMonitor')) expect(matches(pm.spec.selector.matchLabels, pod.metadata.labels), pm.metadata.name).toBe(true);
  });

  it('the Service and the PodMonitor point at ports the containers declare', () => {
    for (const svc of byKind('Service')) {
      for (const p of svc.spec.ports as { name: string; targetPort: string | number; protocol?: string }[]) {
        const target = containers.map((c) => port(c, p.targetPort)).find(Boolean);
        expect(target, `service port ${p.name}`).toBeTruthy();
        expect(target!.protocol ?? 'TCP', `service port ${p.name}`).toBe(p.protocol ?? 'TCP');
      }
    }
    for (const pm of byKind('PodMonitor')) {
      for (const ep of pm.spec.podMetricsEndpoints as { port: string; path: string }[]) {
        expect(port(exporter, ep.port), ep.port).toBeTruthy();
        expect(ep.path).toBe(cfg.web['telemetry-path']);
      }
    }
  });

  it('the metrics port, probes and scrape annotations are where the exporter listens', () => {
    const web = cfg.web['listen-address']!;
    const metrics = exporter.ports!.find((p) => p.containerPort === web.port);
    expect(metrics?.name).toBe('metrics');
    expect(dockerfile().expose).toContain(`${web.port}/tcp`);
    expect(exporter.livenessProbe?.httpGet).toEqual({ path: '/-/healthy', port: 'metrics' });
    expect(exporter.readinessProbe?.httpGet).toEqual({ path: '/-/ready', port: 'metrics' });
    expect(exporter.startupProbe?.httpGet.path).toBe('/-/ready');
    const ann = pod.metadata.annotations as Record<string, string>;
    expect(ann['prometheus.io/scrape']).toBe('true');
    expect(Number(ann['prometheus.io/port'])).toBe(web.port);
    expect(ann['prometheus.io/path']).toBe(cfg.web['telemetry-path']);
  });

  it('the PodMonitor gives the series the job label the rules and dashboards select', () => {
    for (const pm of byKind('PodMonitor')) {
      const relabel = (pm.spec.podMetricsEndpoints[0].relabelings ?? []) as { targetLabel?: string; replacement?: string }[];
      expect(relabel.find((r) => r.targetLabel === 'job')?.replacement).toBe(rulesJob());
    }
  });

  it('sidecar wiring: shared log emptyDir (read-only for the exporter), HEP on loopback, config and state mounts', () => {
    const volumes = pod.spec.volumes as { name: string; emptyDir?: object; configMap?: { name: string } }[];
    for (const c of containers) for (const m of c.volumeMounts ?? []) expect(volumes.map((v) => v.name), `${c.name}: ${m.name}`).toContain(m.name);

    // the log file the proxy writes is the one the exporter follows, on a volume both mount
    const logFile = env(proxy).KAMAILIO_LOG_FILE!;
    expect(cfg.log.path).toEqual([logFile]);
    const w = proxy.volumeMounts!.find((m) => logFile.startsWith(`${m.mountPath}/`))!;
    const r = exporter.volumeMounts!.find((m) => logFile.startsWith(`${m.mountPath}/`))!;
    expect(w.name).toBe(r.name);
    expect(volumes.find((v) => v.name === w.name)?.emptyDir).toBeTruthy();
    expect(r.readOnly).toBe(true);
    // rotated below the emptyDir's size limit (current file + one rotated copy)
    const limit = (volumes.find((v) => v.name === w.name)!.emptyDir as { sizeLimit: string }).sizeLimit;
    expect(2 * Number(env(proxy).KAMAILIO_LOG_MAX_BYTES)).toBeLessThan(Number(/^(\d+)Mi$/.exec(limit)![1]) * 1024 * 1024);

    // HEP: loopback only, where the demo proxy sends it by default
    const hep = formatListenAddress(cfg.hep['listen-address']!);
    expect(hep).toMatch(/^127\.0\.0\.1:/);
    const kcfg = readFileSync(join(ROOT, 'deploy/kamailio/kamailio.cfg'), 'utf8');
    expect(/#!define HEP_URI "sip:([\d.]+:\d+)"/.exec(kcfg)?.[1]).toBe(hep);
    expect(cfg.syslog['listen-address']).toBeNull();

    // the ConfigMap is mounted where the image reads its config file
    const cfgMount = exporter.volumeMounts!.find((m) => volumes.find((v) => v.name === m.name)?.configMap)!;
    expect(cfgMount.mountPath).toBe(posix.dirname(IMAGE_CONFIG));
    // read positions on a writable volume (the root filesystem is read-only)
    const pos = cfg.log['position-file'];
    expect(exporter.volumeMounts!.some((m) => !m.readOnly && pos.startsWith(`${m.mountPath}/`))).toBe(true);
  });

  it('the exporter runs unprivileged with a read-only root filesystem', () => {
    const sc = exporter.securityContext!;
    expect(sc.runAsNonRoot).toBe(true);
    expect(sc.runAsUser).toBe(1000); // the image's user "node"
    expect(dockerfile().user).toBe('node');
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities?.drop).toEqual(['ALL']);
    expect(sc.capabilities?.add).toBeUndefined();
  });

  it('kustomize: every resource exists, the images it sets are the containers\' images', () => {
    for (const f of kustomization.resources) expect(existsSync(join(DIR, f)), f).toBe(true);
    const images = containers.map((c) => c.image).sort();
    expect((kustomization.images ?? []).map((i) => i.name).sort()).toEqual(images);
    const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    if (kubectl.error) {
      console.log('kubectl not installed: the kustomize rendering was not checked');
      return;
    }
    const r = spawnSync('kubectl', ['kustomize', DIR], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const rendered = parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest);
    expect(rendered.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodMonitor', 'Service']);
    for (const d of rendered) expect(schemaErrors('kubernetes.schema.json', d), d.kind).toEqual([]);
    const renderedImages = (rendered.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers as Container[]).map((c) => c.image).sort();
    expect(renderedImages).toEqual((kustomization.images ?? []).map((i) => `${i.newName}:${i.newTag}`).sort());
  });
});
