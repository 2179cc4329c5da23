/**
 * deploy/serve.yaml against what it runs and what it is used with: the image's command line
 * (Dockerfile), the names README's "Running `serve` in a cluster" creates (the namespace, the
 * ConfigMap, the Secrets) and registers (`webhook-config --service`), the NetworkPolicy's port and
 * selector. The image and the manifest are run in tests/integration/container-image.integration.ts
 * and put to a real API server (PodSecurity `restricted`) in tests/e2e/webhook-config.e2e.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { main } from '../../src/cli/main.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { createTestPki } from '../helpers/tls.js';

interface Meta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
interface Container {
  readonly args: string[];
  readonly ports: { readonly name: string; readonly containerPort: number }[];
  readonly readinessProbe: { readonly httpGet: { readonly path: string; readonly port: string; readonly scheme: string } };
  readonly livenessProbe: { readonly httpGet: { readonly path: string; readonly port: string; readonly scheme: string } };
  readonly volumeMounts: { readonly name: string; readonly mountPath: string; readonly readOnly?: boolean }[];
  readonly resources: { readonly limits?: { readonly memory?: string; readonly cpu?: string } };
}
interface Manifest {
  readonly kind: string;
  readonly metadata: Meta;
  readonly automountServiceAccountToken?: boolean;
  readonly spec: {
    readonly replicas?: number;
    readonly minAvailable?: number;
    readonly unhealthyPodEvictionPolicy?: string;
    readonly selector?: { readonly matchLabels?: Record<string, string> } & Record<string, string>;
    readonly ports?: { readonly port: number; readonly targetPort: string | number }[];
    readonly template?: {
      readonly metadata: { readonly labels: Record<string, string> };
      readonly spec: {
        readonly serviceAccountName: string;
        readonly topologySpreadConstraints?: { readonly topologyKey: string; readonly whenUnsatisfiable: string }[];
        readonly containers: Container[];
        readonly volumes: { readonly name: string; readonly configMap?: { readonly name: string }; readonly secret?: { readonly secretName: string } }[];
      };
    };
  };
}

const serveYaml = readFileSync(join(REPO_ROOT, 'deploy', 'serve.yaml'), 'utf8');
const manifests = parseAllDocuments(serveYaml).map((d) => d.toJS() as Manifest);
const byKind = (kind: string): Manifest => {
  const found = manifests.find((m) => m.kind === kind);
  if (found === undefined) throw new Error(`deploy/serve.yaml has no ${kind}`);
  return found;
};
const deployment = byKind('Deployment');
const template = deployment.spec.template;
const container = template?.spec.containers[0];
const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const section = readme.split('\n### Running `serve` in a cluster: admit only the API server\n')[1]?.split('\n### ')[0] ?? '';
const commands = section.split('```bash\n')[1]?.split('\n```')[0] ?? '';
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

/** `--flag=value` and `--flag value` as one list of [flag, value] pairs. */
function flags(args: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (!a.startsWith('--')) out.push([a]);
    else if (a.includes('=')) out.push([a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]);
    else out.push([a, args[++i] ?? '']);
  }
  return out;
}

describe('deploy/serve.yaml', () => {
  it('puts everything in the namespace README creates, under the names webhook-config --service registers', () => {
    expect(commands).toMatch(/^kubectl create namespace image-rewriter$/m);
    expect(new Set(manifests.map((m) => m.metadata.namespace))).toEqual(new Set(['image-rewriter']));
    expect(manifests.map((m) => m.kind).sort()).toEqual(['Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    const registered = /webhook-config --service (\S+)\/(\S+) /.exec(commands);
    expect(byKind('Service').metadata).toMatchObject({ namespace: registered?.[1], name: registered?.[2] });
    expect(commands).toContain('kubectl apply -f deploy/serve.yaml');
  });

  // The header's command lacked --token, without which webhook-config --service exits 64.
  it('says how to register it with a command webhook-config takes, for its Service', async () => {
    const header = serveYaml.split('\n').filter((l) => l.startsWith('#')).map((l) => l.replace(/^# ?/, '')).join(' ');
    const args = (/`image-rewriter (webhook-config [^`]+)`/.exec(header)?.[1] ?? '').split(/\s+/);
    const pki = await createTestPki();
    try {
      const io = captureIo({});
      const code = await main(args.map((a) => (a === 'TOKEN' ? '0123456789abcdef0123' : a === 'ca.crt' ? pki.caFile : a)), io);
      expect({ code, err: io.err() }).toEqual({ code: 0, err: '' });
      expect(io.out()).toContain(`namespace: ${byKind('Service').metadata.namespace}\n        name: ${byKind('Service').metadata.name}\n`);
    } finally {
      await pki.remove();
    }
  });

  it('runs the image\'s command line, with an explicit worker count, the metrics and the paths its volumes mount', () => {
    const cmd = JSON.parse(/^CMD (.*)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    expect(flags(container?.args ?? [])).toEqual([...flags(cmd), ['--workers', '2'], ['--metrics-listen', ':9090']]);
    const mounts = new Map((container?.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    for (const [flag, value] of flags(cmd).slice(1)) {
      if (flag === '--listen') continue;
      const mount = mounts.get(value?.slice(0, value.lastIndexOf('/')) ?? '');
      expect({ flag, mounted: mount !== undefined, readOnly: mount?.readOnly }).toEqual({ flag, mounted: true, readOnly: true });
    }
    // A memory limit, and no CPU limit: the worker count is what bounds the processes.
    expect(container?.resources.limits?.memory).toBeDefined();
    expect(container?.resources.limits?.cpu).toBeUndefined();
  });

  it('mounts the ConfigMap and Secrets README creates', () => {
    const volumes = template?.spec.volumes ?? [];
    for (const v of volumes) {
      const name = v.configMap?.name ?? v.secret?.secretName ?? '';
      const kind = v.configMap === undefined ? 'secret (tls|generic)' : 'configmap';
      expect({ name, created: new RegExp(`^kubectl -n image-rewriter create ${kind} ${name} `, 'm').test(commands) }).toEqual({ name, created: true });
    }
    expect(volumes).toHaveLength(3);
  });

  it('is selected by its Service, PodDisruptionBudget and README\'s NetworkPolicy, on the port serve listens on', () => {
    const labels = template?.metadata.labels ?? {};
    expect(deployment.spec.selector?.matchLabels).toEqual(labels);
    expect(byKind('PodDisruptionBudget').spec.selector?.matchLabels).toEqual(labels);
    const service = byKind('Service');
    expect(service.spec.selector).toEqual(labels);
    expect(service.spec.ports?.[0]?.port).toBe(443);
    const port = container?.ports.find((p) => p.name === service.spec.ports?.[0]?.targetPort);
    const listen = flags(container?.args ?? []).find(([f]) => f === '--listen')?.[1] ?? '';
    expect(port?.containerPort).toBe(Number(listen.slice(listen.lastIndexOf(':') + 1)));
    const policy = parseAllDocuments(section.split('```yaml\n')[1]?.split('\n```')[0] ?? '').map((d) => d.toJS() as { kind: string; spec: { podSelector: { matchLabels: Record<string, string> }; ingress: { ports: { port: number }[] }[] } });
    expect(policy[0]?.kind).toBe('NetworkPolicy');
    expect(policy[0]?.spec.podSelector.matchLabels).toEqual(labels);
    expect(policy[0]?.spec.ingress[0]?.ports[0]?.port).toBe(port?.containerPort);
  });

  it('names the metrics port serve listens on, which the Service does not send webhook calls to', () => {
    const metrics = flags(container?.args ?? []).find(([f]) => f === '--metrics-listen')?.[1] ?? '';
    const port = container?.ports.find((p) => p.name === 'metrics');
    expect(port?.containerPort).toBe(Number(metrics.slice(metrics.lastIndexOf(':') + 1)));
    expect(byKind('Service').spec.ports?.map((p) => p.targetPort)).toEqual(['https']);
    // README's PodMonitor scrapes that port by its name.
    const metricsSection = readme.split('\n### Metrics for Prometheus: `serve --metrics-listen`\n')[1]?.split('\n### ')[0] ?? '';
    const monitor = parseAllDocuments(metricsSection.split('```yaml\n')[1]?.split('\n```')[0] ?? '').map((d) => d.toJS() as { kind: string; metadata: Meta; spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; podMetricsEndpoints: { port: string; path: string }[] } })[0];
    expect(monitor?.kind).toBe('PodMonitor');
    expect(monitor?.spec.podMetricsEndpoints).toEqual([{ port: 'metrics', path: '/metrics' }]);
    expect(monitor?.spec.selector.matchLabels).toEqual(template?.metadata.labels);
    expect(monitor?.spec.namespaceSelector.matchNames).toEqual([deployment.metadata.namespace]);
  });

  it('probes /healthz over HTTPS on the named port, and needs no service account token', () => {
    for (const probe of [container?.readinessProbe, container?.livenessProbe]) expect(probe?.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect(byKind('ServiceAccount').automountServiceAccountToken).toBe(false);
    expect(template?.spec.serviceAccountName).toBe(byKind('ServiceAccount').metadata.name);
  });

  // The default, IfHealthyBudget, refuses to evict a Pod that is not ready while fewer than
  // minAvailable are: a drain waited on a replica that served nothing (kube-linter's
  // pdb-unhealthy-pod-eviction-policy, enabled by default).
  it('lets a drain evict a replica that is not ready, whatever the budget', () => {
    expect(byKind('PodDisruptionBudget').spec).toMatchObject({ minAvailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
  });

  // checkov (checkov.io/skipN: ID=reason) and kube-linter (ignore-check.kube-linter.io/CHECK: reason)
  // read these; docs/design.md, "What the scanners say", lists each and why.
  it('excuses each scanner finding it keeps with a reason', () => {
    const annotations = deployment.metadata.annotations ?? {};
    expect(Object.keys(annotations).sort()).toEqual([
      'checkov.io/skip1', 'checkov.io/skip2', 'checkov.io/skip3', 'checkov.io/skip4',
      'ignore-check.kube-linter.io/no-anti-affinity', 'ignore-check.kube-linter.io/unset-cpu-requirements',
    ]);
    for (const [key, value] of Object.entries(annotations)) {
      expect({ key, value }).toEqual({ key, value: key.startsWith('checkov.io/') ? expect.stringMatching(/^CKV2?_K8S_\d+=\S.{20,}$/) : expect.stringMatching(/^\S.{20,}$/) });
    }
    const docs = readFileSync(join(REPO_ROOT, 'docs', 'design.md'), 'utf8');
    const ids = Object.entries(annotations).map(([key, value]) => (key.startsWith('checkov.io/') ? value.split('=')[0] : key.split('/')[1]) ?? '');
    for (const id of ids) expect({ id, documented: docs.includes(`\`${id}\``) }).toEqual({ id, documented: true });
  });

  it('spreads its two replicas over nodes as a preference, as README says (a one-node cluster runs both)', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(template?.spec.topologySpreadConstraints?.map((c) => [c.topologyKey, c.whenUnsatisfiable])).toEqual([['kubernetes.io/hostname', 'ScheduleAnyway']]);
    expect(section.replace(/\s+/g, ' ')).toContain('runs two replicas, on different nodes when the scheduler can (a preference, `whenUnsatisfiable: ScheduleAnyway`: a one-node cluster runs both;');
  });
});

// What a platform team's review of the image reads: who made it, under which licence, which
// version, and the licences of what it bundles (dist/THIRD-PARTY-NOTICES, docs/design.md, "What we ship").
describe('Dockerfile: what the image says about itself', () => {
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const labels = Object.fromEntries([...(/^LABEL (.*)$/m.exec(runtime)?.[1] ?? '').matchAll(/(\S+?)=(\S+)/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; license: string };
  const template = readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8');

  it("carries the OCI labels of its source, licence and version, as package.json and template.yaml's SourceCodeUrl give them", () => {
    expect(labels).toEqual({
      'org.opencontainers.image.title': pkg.name,
      'org.opencontainers.image.source': /^ {4}SourceCodeUrl: (\S+)$/m.exec(template)?.[1],
      'org.opencontainers.image.licenses': pkg.license,
      'org.opencontainers.image.version': pkg.version,
    });
  });

  it('copies dist/ (with THIRD-PARTY-NOTICES) and LICENSE, which .dockerignore lets into the build context, and nothing else', () => {
    expect([...runtime.matchAll(/^COPY (.*)$/gm)].map((m) => m[1])).toEqual(['--from=build /src/dist /app', 'LICENSE /app/LICENSE']);
    expect(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n')).toEqual(expect.arrayContaining(['*', '!LICENSE']));
  });

  it('runs as a numeric non-root user', () => {
    expect(/^USER (\d+):(\d+)$/m.exec(runtime)?.slice(1)).toEqual(['65532', '65532']);
  });
});
