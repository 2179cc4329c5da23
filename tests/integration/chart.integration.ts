/**
 * The Helm chart deploy/chart/image-rewriter, with real Helm 3 and Helm 4 (hack/helm/build.sh):
 * `helm lint --strict` of the defaults and of varied values; `helm template` by default renders
 * deploy/serve.yaml's objects (labels aside); the values change what they say and nothing else; the
 * schema refuses bad values; and the drift test: for each set of inputs, the chart's
 * MutatingWebhookConfiguration is the one the built CLI's `webhook-config --service NS/NAME[:PORT]
 * --token T [--ca-bundle F] [--timeout-seconds N] [--failure-policy X] [--scope S] [--config F] [--opt-in]`
 * prints, its `webhooks` field for field and its name (the chart adds labels and, with
 * cert-manager, the inject-ca-from annotation). The rendered objects are put to a real API server
 * (restricted Pod Security Standard) in tests/e2e/chart.e2e.ts.
 */
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { distHandler, helmBinary } from './helpers/tools.js';

const CHART = join(REPO_ROOT, 'deploy', 'chart', 'image-rewriter');
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'image-rewriter-chart-'));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}
type Webhook = Record<string, unknown> & { clientConfig: { service: { namespace: string; name: string; path: string; port: number }; caBundle?: string }; matchConditions?: unknown[] };

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function helm(major: 3 | 4, args: readonly string[]): Run {
  const home = join(work, `helm${major}`);
  const r = spawnSync(helmBinary(major), args, {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', HOME: home, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** helm(), without blocking: for a server in this process that helm talks to. */
function helmAsync(major: 3 | 4, args: readonly string[], env: Record<string, string>): Promise<Run> {
  const home = join(work, `helm${major}`);
  return new Promise((resolve) => {
    execFile(helmBinary(major), args, { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: home, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data'), ...env } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

/** A values file in the work folder. */
let files = 0;
function valuesFile(values: Record<string, unknown>): string {
  const file = join(work, `values-${++files}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

/** `helm template RELEASE CHART -n NAMESPACE -f VALUES`: the objects, or throws with helm's stderr. */
function template(major: 3 | 4, values: Record<string, unknown> = {}, release = 'image-rewriter', namespace = 'image-rewriter'): K8sObject[] {
  const r = helm(major, ['template', release, CHART, '--namespace', namespace, '-f', valuesFile(values)]);
  if (r.code !== 0) throw new Error(`helm ${major} template failed (${String(r.code)}): ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject | null).filter((o) => o !== null);
}

function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found === undefined) throw new Error(`no ${kind}${name === undefined ? '' : ` ${name}`} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** The value at `path` in `obj`, undefined where the path leaves it. */
function at(obj: unknown, ...path: readonly (string | number)[]): unknown {
  let v: unknown = obj;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[key] : undefined;
  return v;
}

/** The string at `path` in `obj`, base64-decoded. */
function decoded(obj: unknown, ...path: readonly (string | number)[]): string {
  const v = at(obj, ...path);
  if (typeof v !== 'string') throw new Error(`no string at ${path.join('.')}`);
  return Buffer.from(v, 'base64').toString('utf8');
}

/** The token the chart put in its Secret. */
const tokenOf = (objects: readonly K8sObject[], name = 'image-rewriter-token'): string => decoded(find(objects, 'Secret', name), 'data', 'token');

const HELMS = [3, 4] as const;

/** deploy/serve.yaml's objects, by kind. */
const serveYaml = new Map(parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'serve.yaml'), 'utf8')).map((d) => [(d.toJS() as K8sObject).kind, d.toJS() as K8sObject]));

/** `obj` without the fields the chart sets differently from deploy/serve.yaml on purpose: labels, selectors, annotations. */
function withoutLabels(obj: unknown): unknown {
  if (Array.isArray(obj)) return obj.map(withoutLabels);
  if (obj === null || typeof obj !== 'object') return obj;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'labels' || k === 'matchLabels' || k === 'annotations') continue;
    if (k === 'selector' && v !== null && typeof v === 'object' && !('matchLabels' in v)) continue; // a Service's selector is the labels
    out[k] = withoutLabels(v);
  }
  return out;
}

/** The built CLI's `webhook-config` output, parsed; throws with its stderr when it fails. */
function webhookConfig(args: readonly string[]): K8sObject & { webhooks: Webhook[] } {
  const r = spawnSync(process.execPath, [CLI, 'webhook-config', ...args], { encoding: 'utf8', env: {} });
  if (r.status !== 0) throw new Error(`webhook-config ${args.join(' ')} failed (${String(r.status)}): ${r.stderr}`);
  return parse(r.stdout) as K8sObject & { webhooks: Webhook[] };
}

/** A CA and a certificate for `host` it signed, made by openssl, in the work folder. */
function ownCertificate(host: string): { caFile: string; caPem: string } {
  const dir = mkdtempSync(join(work, 'tls-'));
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.crt']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${host}`, '-keyout', 'tls.key', '-out', 'tls.csr']);
  writeFileSync(join(dir, 'ext'), `subjectAltName=DNS:${host}\n`);
  run(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'tls.crt', '-extfile', 'ext']);
  return { caFile: join(dir, 'ca.crt'), caPem: readFileSync(join(dir, 'ca.crt'), 'utf8') };
}

describe('deploy/chart/image-rewriter', () => {
  distHandler(); // dist/ is built by the wrapper script (the drift test runs dist/cli.js)

  it.each(HELMS)('Helm %i: helm lint --strict passes with the defaults and with every option turned on', (major) => {
    const lint = (values: Record<string, unknown>): Run => helm(major, ['lint', '--strict', CHART, '--namespace', 'image-rewriter', '-f', valuesFile(values)]);
    const varied = [
      {},
      { tls: { mode: 'certManager' }, metrics: { enabled: true, serviceMonitor: { enabled: true } }, networkPolicy: { enabled: true, apiServerCIDRs: ['10.0.0.0/24'] } },
      { tls: { mode: 'secret', existingSecret: 'own-tls', caBundle: ownCertificate('x.y.svc').caPem }, rules: { existingConfigMap: 'own-rules' }, webhook: { scope: 'all', failurePolicy: 'Fail', optIn: true } },
    ];
    for (const values of varied) {
      const r = lint(values);
      expect({ values, code: r.code, out: r.stdout.includes('0 chart(s) failed') ? '' : r.stdout + r.stderr }).toEqual({ values, code: 0, out: '' });
    }
  });

  // Chart.yaml's kubeVersion: before, the chart had none (the Helm 3 hack/helm/build.sh built
  // assumed v1.20.0), and a cluster older than 1.30 learned it from the API server halfway through.
  it.each(HELMS)('Helm %i: kubeVersion: helm template refuses Kubernetes 1.29 with Helm\'s message, and renders for 1.30, an EKS 1.32 and its own default', (major) => {
    const render = (kube?: string): Run => helm(major, ['template', 'image-rewriter', CHART, '--namespace', 'image-rewriter', ...(kube === undefined ? [] : ['--kube-version', kube])]);
    for (const kube of ['1.29.15', 'v1.29.99-eks-1234567', '1.20.0']) {
      const r = render(kube);
      expect({ kube, code: r.code, stderr: r.stderr }).toEqual({ kube, code: 1, stderr: expect.stringMatching(new RegExp(`^Error: chart requires kubeVersion: >=1\\.30\\.0-0 which is incompatible with Kubernetes v${kube.replace(/^v/, '').split('-')[0]?.replace(/\./g, '\\.') ?? ''}`, 'm')) });
    }
    for (const kube of [undefined, '1.30.0', 'v1.30.0-rc.1', 'v1.32.13-eks-1234567', '1.37.2']) {
      const r = render(kube);
      expect({ kube, code: r.code, stderr: r.stderr }).toEqual({ kube, code: 0, stderr: '' });
      expect(r.stdout).toContain('kind: MutatingWebhookConfiguration');
    }
  });

  // A cluster's own version, as its /version says, is not normalized as --kube-version is: an EKS
  // cluster's v1.32.13-eks-1234567 is a pre-release to semver, which ">=1.30.0" without "-0" refuses.
  it.each(HELMS)('Helm %i: kubeVersion against a cluster\'s /version (a stand-in API server): an EKS 1.32 passes the check, an EKS 1.29 is refused', async (major) => {
    for (const [gitVersion, passes] of [['v1.32.13-eks-1234567', true], ['v1.30.0', true], ['v1.29.15-eks-1234567', false]] as const) {
      const seen: string[] = [];
      const server = createServer((req, res) => {
        const url = req.url ?? '';
        seen.push(url.split('?')[0] ?? '');
        const [, maj, min] = /^v(\d+)\.(\d+)/.exec(gitVersion) ?? [];
        const body = url.startsWith('/version') ? { major: maj, minor: min, gitVersion }
          : url.startsWith('/api/v1') ? { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'v1', resources: [] }
          : url.startsWith('/apis') ? { kind: 'APIGroupList', apiVersion: 'v1', groups: [] }
          : url.startsWith('/api') ? { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] }
          : undefined;
        res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
        res.end(body === undefined ? '' : JSON.stringify(body));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const kubeconfig = join(work, `kubeconfig-${String(port)}`);
      writeFileSync(kubeconfig, stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${String(port)}` } }], users: [{ name: 'u', user: {} }], contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }], 'current-context': 'c' }));
      // --validate (Helm 4: --dry-run=server) reads the cluster's version; the stand-in serves no OpenAPI, so a chart that passes fails after, at validation.
      const r = await helmAsync(major, ['template', 'image-rewriter', CHART, '--namespace', 'image-rewriter', major === 3 ? '--validate' : '--dry-run=server'], { KUBECONFIG: kubeconfig });
      server.close();
      const refused = `Error: chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes ${gitVersion}`;
      expect({ gitVersion, code: r.code, refused: r.stderr.includes(refused), validated: seen.some((u) => u.startsWith('/openapi/')) }).toEqual({ gitVersion, code: 1, refused: !passes, validated: passes });
    }
  });

  it.each(HELMS)('Helm %i: renders by default the objects of deploy/serve.yaml, labels aside, plus the rules, token and TLS and the webhook configuration', (major) => {
    const objects = template(major);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ConfigMap/image-rewriter-rules',
        'Deployment/image-rewriter',
        'MutatingWebhookConfiguration/image-rewriter',
        'PodDisruptionBudget/image-rewriter',
        'Secret/image-rewriter-tls',
        'Secret/image-rewriter-token',
        'Service/image-rewriter',
        'ServiceAccount/image-rewriter',
      ].sort(),
    );
    for (const o of objects) if (o.kind !== 'MutatingWebhookConfiguration') expect({ kind: o.kind, namespace: o.metadata.namespace }).toEqual({ kind: o.kind, namespace: 'image-rewriter' });
    for (const kind of ['ServiceAccount', 'Deployment', 'PodDisruptionBudget', 'Service']) {
      expect({ kind, chart: withoutLabels(find(objects, kind)) }).toEqual({ kind, chart: withoutLabels(serveYaml.get(kind)) });
    }
    // The labels: app.kubernetes.io/*, the selectors select the Pods and only this release's.
    const deployment = find(objects, 'Deployment');
    const podLabels = at(deployment, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
    expect(podLabels).toEqual({ 'app.kubernetes.io/name': 'image-rewriter', 'app.kubernetes.io/instance': 'image-rewriter' });
    expect(at(deployment, 'spec', 'selector', 'matchLabels')).toEqual(podLabels);
    expect(at(find(objects, 'PodDisruptionBudget'), 'spec', 'selector', 'matchLabels')).toEqual(podLabels);
    expect(at(find(objects, 'Service'), 'spec', 'selector')).toEqual(podLabels);
    expect(at(deployment, 'spec', 'template', 'spec', 'topologySpreadConstraints', 0, 'labelSelector', 'matchLabels')).toEqual(podLabels);
    expect(at(deployment, 'metadata', 'labels')).toMatchObject({ ...podLabels, 'app.kubernetes.io/managed-by': 'Helm', 'helm.sh/chart': 'image-rewriter-0.1.0' });
    // The scanners' suppressions are deploy/serve.yaml's (docs/design.md, "What the scanners say").
    expect(Object.keys(at(deployment, 'metadata', 'annotations') as Record<string, string>).sort()).toEqual(Object.keys(serveYaml.get('Deployment')?.metadata.annotations ?? {}).sort());
    // The rules ConfigMap holds a valid document (no rules); the token is one serve and the API server take.
    expect(parse(at(find(objects, 'ConfigMap'), 'data', 'rules.yaml') as string)).toEqual({ rules: [] });
    const token = tokenOf(objects);
    expect(token).toMatch(/^[a-z0-9]{48}$/);
    expect(at(deployment, 'spec', 'template', 'metadata', 'annotations')).toEqual({ 'checksum/token': createHash('sha256').update(token).digest('hex') });
    // The generated certificate: for the Service's name, signed by the CA the webhook trusts.
    const tls = find(objects, 'Secret', 'image-rewriter-tls');
    expect(at(tls, 'type')).toBe('kubernetes.io/tls');
    const ca = new X509Certificate(decoded(tls, 'data', 'ca.crt'));
    const cert = new X509Certificate(decoded(tls, 'data', 'tls.crt'));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost('image-rewriter.image-rewriter.svc')).toBe('image-rewriter.image-rewriter.svc');
    expect(ca.ca).toBe(true);
    const webhook = (find(objects, 'MutatingWebhookConfiguration')['webhooks'] as Webhook[])[0];
    expect(webhook?.clientConfig.caBundle).toBe(at(tls, 'data', 'ca.crt'));
    expect(webhook?.clientConfig.service.path).toBe(`/mutate/${token}`);
    // No cluster, no lookup: every helm template makes a new token (README says so).
    expect(tokenOf(template(major))).not.toBe(token);
  });

  it.each(HELMS)('Helm %i: the values change what they name', (major) => {
    const objects = template(
      major,
      {
        image: { repository: 'registry.example.com/image-rewriter', digest: `sha256:${'a'.repeat(64)}`, pullPolicy: 'Always' },
        imagePullSecrets: [{ name: 'pull' }],
        replicas: 3,
        workers: 4,
        resources: { requests: { cpu: '500m', memory: '600Mi' }, limits: { memory: '1Gi' } },
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'system', effect: 'NoSchedule' }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'role', operator: 'In', values: ['system'] }] }] } } },
        podAnnotations: { 'example.com/a': 'b' },
        podLabels: { team: 'platform' },
        priorityClassName: 'system-cluster-critical',
        extraEnv: [{ name: 'ACCOUNT', value: '123456789012' }],
        extraArgs: ['--max-body-bytes=4194304'],
        service: { port: 8443 },
        podDisruptionBudget: { enabled: false },
        rules: { text: '# ours\nrules:\n  - { name: gcr, match: gcr.io, replace: "${env:ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/gcr" }\n' },
        token: { existingSecret: 'own-token' },
        webhook: { create: false },
        tls: { mode: 'secret', existingSecret: 'own-tls', caBundle: ownCertificate('r-image-rewriter.ns.svc').caPem },
        metrics: { enabled: true, port: 9464 },
        networkPolicy: { enabled: true, apiServerCIDRs: ['10.0.0.0/24', '10.0.1.0/24'], metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
      },
      'r',
      'ns',
    );
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['ConfigMap/r-image-rewriter-rules', 'Deployment/r-image-rewriter', 'NetworkPolicy/r-image-rewriter-from-api-server-only', 'Service/r-image-rewriter', 'ServiceAccount/r-image-rewriter']);
    const d = find(objects, 'Deployment');
    const pod = at(d, 'spec', 'template');
    const c = at(pod, 'spec', 'containers', 0);
    expect(at(d, 'spec', 'replicas')).toBe(3);
    // What a digest, Always and a NetworkPolicy settle is no longer excused (no CPU limit still is).
    expect(Object.keys(at(d, 'metadata', 'annotations') as Record<string, string>).sort()).toEqual(['checkov.io/skip1', 'ignore-check.kube-linter.io/no-anti-affinity', 'ignore-check.kube-linter.io/unset-cpu-requirements']);
    expect(at(d, 'metadata', 'annotations', 'checkov.io/skip1')).toMatch(/^CKV_K8S_11=/);
    const limited = at(find(template(major, { resources: { limits: { cpu: '1', memory: '512Mi' } } }), 'Deployment'), 'metadata', 'annotations') as Record<string, string>;
    expect(Object.keys(limited).filter((k) => k === 'checkov.io/skip1' || k.endsWith('/unset-cpu-requirements'))).toEqual([]);
    expect(at(c, 'image')).toBe(`registry.example.com/image-rewriter@sha256:${'a'.repeat(64)}`);
    expect(at(c, 'imagePullPolicy')).toBe('Always');
    expect(at(c, 'args')).toEqual(['serve', '--config=/rules/rules.yaml', '--listen=:8443', '--tls-cert-file=/tls/tls.crt', '--tls-private-key-file=/tls/tls.key', '--token-file=/token/token', '--workers=4', '--metrics-listen=:9464', '--max-body-bytes=4194304']);
    expect(at(c, 'env')).toEqual([{ name: 'ACCOUNT', value: '123456789012' }]);
    expect(at(c, 'ports')).toEqual([{ name: 'https', containerPort: 8443 }, { name: 'metrics', containerPort: 9464 }]);
    expect(at(c, 'resources')).toEqual({ requests: { cpu: '500m', memory: '600Mi' }, limits: { memory: '1Gi' } });
    expect(at(pod, 'spec')).toMatchObject({ nodeSelector: { 'kubernetes.io/os': 'linux' }, priorityClassName: 'system-cluster-critical', imagePullSecrets: [{ name: 'pull' }] });
    expect(at(pod, 'spec', 'tolerations')).toHaveLength(1);
    expect(at(pod, 'spec', 'affinity', 'nodeAffinity')).toBeDefined();
    expect(at(pod, 'metadata', 'labels')).toEqual({ 'app.kubernetes.io/name': 'image-rewriter', 'app.kubernetes.io/instance': 'r', team: 'platform' });
    // An existing token Secret without a cluster to read it from: no checksum (nothing to hash).
    expect(at(pod, 'metadata', 'annotations')).toEqual({ 'example.com/a': 'b' });
    expect(at(pod, 'spec', 'volumes')).toEqual([
      { name: 'rules', configMap: { name: 'r-image-rewriter-rules' } },
      { name: 'tls', secret: { secretName: 'own-tls' } },
      { name: 'token', secret: { secretName: 'own-token' } },
    ]);
    expect(at(find(objects, 'ConfigMap'), 'data', 'rules.yaml')).toBe('# ours\nrules:\n  - { name: gcr, match: gcr.io, replace: "${env:ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/gcr" }\n');
    // The metrics port is on the Service only for the ServiceMonitor (below).
    expect(at(find(objects, 'Service'), 'spec', 'ports')).toEqual([{ name: 'https', port: 8443, targetPort: 'https' }]);
    const policy = at(find(objects, 'NetworkPolicy'), 'spec');
    expect(at(policy, 'podSelector', 'matchLabels')).toEqual({ 'app.kubernetes.io/name': 'image-rewriter', 'app.kubernetes.io/instance': 'r' });
    expect(at(policy, 'ingress')).toEqual([
      { from: [{ ipBlock: { cidr: '10.0.0.0/24' } }, { ipBlock: { cidr: '10.0.1.0/24' } }], ports: [{ protocol: 'TCP', port: 8443 }] },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ protocol: 'TCP', port: 9464 }] },
    ]);

    // cert-manager: the CA chain and serve's Certificate for the Service's names, the ServiceMonitor.
    const cm = template(major, { tls: { mode: 'certManager' }, metrics: { enabled: true, serviceMonitor: { enabled: true } } }, 'r', 'ns');
    const certificate = at(find(cm, 'Certificate', 'r-image-rewriter-tls'), 'spec');
    expect(certificate).toMatchObject({ secretName: 'r-image-rewriter-tls', dnsNames: ['r-image-rewriter.ns.svc', 'r-image-rewriter.ns.svc.cluster.local'], issuerRef: { name: 'r-image-rewriter-ca', kind: 'Issuer' } });
    expect(at(find(cm, 'Certificate', 'r-image-rewriter-ca'), 'spec')).toMatchObject({ isCA: true, secretName: 'r-image-rewriter-ca', issuerRef: { name: 'r-image-rewriter-selfsigned' } });
    expect(at(find(cm, 'Issuer', 'r-image-rewriter-ca'), 'spec')).toEqual({ ca: { secretName: 'r-image-rewriter-ca' } });
    expect(at(find(cm, 'Issuer', 'r-image-rewriter-selfsigned'), 'spec')).toEqual({ selfSigned: {} });
    expect(cm.some((o) => o.kind === 'Secret' && o.metadata.name === 'r-image-rewriter-tls')).toBe(false);
    expect(at(find(cm, 'MutatingWebhookConfiguration'), 'metadata', 'annotations')).toEqual({ 'cert-manager.io/inject-ca-from': 'ns/r-image-rewriter-tls' });
    expect(at(find(cm, 'ServiceMonitor'), 'spec')).toMatchObject({ endpoints: [{ port: 'metrics', path: '/metrics' }], namespaceSelector: { matchNames: ['ns'] } });
    expect(at(find(cm, 'Service'), 'spec', 'ports')).toEqual([{ name: 'https', port: 443, targetPort: 'https' }, { name: 'metrics', port: 9090, targetPort: 'metrics' }]);
    // An issuer of one's own: no chart CA.
    const own = template(major, { tls: { mode: 'certManager', certManager: { issuerRef: { name: 'corp', kind: 'ClusterIssuer', group: 'cert-manager.io' } } } });
    expect(own.filter((o) => o.kind === 'Issuer' || o.kind === 'Certificate').map((o) => o.metadata.name)).toEqual(['image-rewriter-tls']);
    expect(at(find(own, 'Certificate'), 'spec', 'issuerRef')).toEqual({ name: 'corp', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });

  it.each(HELMS)('Helm %i: rules.text is written as it is, whatever the indentation of its first line (an indented comment, a line of spaces)', (major) => {
    // The block scalar guessed its indentation from the first line: a first line indented more than
    // the next made a manifest Helm refused ("did not find expected key"), for documents check-config takes.
    for (const text of ['  # mirrors for the team\nrules:\n  - { name: gcr, match: gcr.io, replace: asia.gcr.io }\n', '   \nrules: []\n', '    {"rules":\n  []}\n']) {
      expect(at(find(template(major, { rules: { text } }), 'ConfigMap'), 'data', 'rules.yaml')).toBe(text);
    }
  });

  it.each(HELMS)('Helm %i: a release name of the longest Helm takes, in a long namespace: every name and label is one the API server and cert-manager take', (major) => {
    const release = 'a-release-name-of-fifty-three-characters-helm-s-limit';
    expect(release).toHaveLength(53);
    const namespace = `ns-${'x'.repeat(60)}`;
    const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
    for (const values of [
      { networkPolicy: { enabled: true, apiServerCIDRs: ['10.0.0.0/24'] } },
      { tls: { mode: 'certManager' }, metrics: { enabled: true, serviceMonitor: { enabled: true } } },
    ]) {
      const objects = template(major, values, release, namespace);
      for (const o of objects) {
        const { name, labels = {} } = o.metadata;
        const limit = o.kind === 'Service' ? 63 : 253;
        expect({ kind: o.kind, name, valid: dnsSubdomain.test(name) && name.length <= limit }).toEqual({ kind: o.kind, name, valid: true });
        for (const [key, value] of Object.entries(labels)) expect({ kind: o.kind, key, length: Math.min(value.length, 64) }).toEqual({ kind: o.kind, key, length: Math.min(value.length, 63) });
        // cert-manager's webhook refuses a commonName over 64 bytes (X.509's upper bound).
        const commonName = o.kind === 'Certificate' ? (at(o, 'spec', 'commonName') as string | undefined) : undefined;
        if (commonName !== undefined) expect({ name, commonName, length: Math.min(commonName.length, 65) }).toEqual({ name, commonName, length: Math.min(commonName.length, 64) });
      }
    }
    const ca = find(template(major, { tls: { mode: 'certManager' } }, release, namespace), 'Certificate', 'a-release-name-of-fifty-three-characters-helm-s-limit-image-rew-ca');
    expect(at(ca, 'spec', 'commonName')).toBe('a-release-name-of-fifty-three-characters-helm-s-limit-image-r-ca');
  });

  it.each(HELMS)('Helm %i: refuses bad values with the schema, and what the schema cannot say with the message of fail', (major) => {
    const refused = (values: Record<string, unknown>): string => {
      const r = helm(major, ['template', 'image-rewriter', CHART, '-f', valuesFile(values)]);
      expect({ values, code: r.code }).toEqual({ values, code: 1 });
      return r.stderr;
    };
    expect(refused({ replicas: 'two' })).toMatch(/replicas.*(integer|number)/s);
    expect(refused({ replicas: 0 })).toContain('replicas');
    // The Deployment selects its Pods by these labels: another value would not match the selector.
    expect(refused({ podLabels: { 'app.kubernetes.io/name': 'x' } })).toContain('podLabels sets app.kubernetes.io/name to x');
    expect(refused({ podLabels: { 'app.kubernetes.io/instance': 'other' } })).toContain('podLabels sets app.kubernetes.io/instance to other');
    // An unquoted tag in a values file is a number to Helm: a whole one is written whole (not
    // 2.0241201e+07), any other refused (1.10 was written 1.1, another image).
    const image = (tag: unknown): unknown => at(find(template(major, { image: { tag } }), 'Deployment'), 'spec', 'template', 'spec', 'containers', 0, 'image');
    expect([image(20241201), image(2), image('1.10')].map((i) => String(i).split(':').pop())).toEqual(['20241201', '2', '1.10']);
    expect(refused({ image: { tag: 1.1 } })).toContain('image.tag 1.1 is a number');
    // The tag 0 is a tag, not the appVersion (default took it for empty); a negative one is no tag.
    expect(image(0)).toMatch(/:0$/);
    expect(refused({ image: { tag: -1 } })).toContain('tag');
    // From 2^53 up a float64 may hold the number rounded: 9007199254740993 was written ...992.
    for (const tag of ['9007199254740993', '9007199254740992']) {
      const file = join(work, `values-tag-${tag}.yaml`);
      writeFileSync(file, `image:\n  tag: ${tag}\n`);
      const r = helm(major, ['template', 'image-rewriter', CHART, '-f', file]);
      expect({ tag, code: r.code, refused: r.stderr.includes('is a number, not the tag as you wrote it') }).toEqual({ tag, code: 1, refused: true });
    }
    expect(image(9007199254740991)).toMatch(/:9007199254740991$/);
    // A percentage up to 100% is what the API server takes.
    expect(at(find(template(major, { replicas: 2, podDisruptionBudget: { minAvailable: '100%' } }), 'PodDisruptionBudget'), 'spec', 'minAvailable')).toBe('100%');
    // A selector label repeated with its own value is taken, and written once.
    const selectorAgain = { podLabels: { 'app.kubernetes.io/name': 'image-rewriter', 'app.kubernetes.io/instance': 'image-rewriter', team: 'a' } };
    // (A key twice in a mapping: Helm's own reader refuses the manifest at install.)
    const rendered = helm(major, ['template', 'image-rewriter', CHART, '-f', valuesFile(selectorAgain)]);
    expect(parseAllDocuments(rendered.stdout).flatMap((d) => d.errors.map((e) => e.message))).toEqual([]);
    const labelled = template(major, selectorAgain);
    expect(at(find(labelled, 'Deployment'), 'spec', 'template', 'metadata', 'labels')).toEqual({ 'app.kubernetes.io/name': 'image-rewriter', 'app.kubernetes.io/instance': 'image-rewriter', team: 'a' });
    // A PodDisruptionBudget of more than 100% is refused by the API server mid-install.
    expect(refused({ podDisruptionBudget: { minAvailable: '150%' } })).toContain('minAvailable');
    expect(refused({ workers: 257 })).toContain('workers');
    expect(refused({ webhook: { timeoutSeconds: 31 } })).toContain('timeoutSeconds');
    expect(refused({ webhook: { failurePolicy: 'ignore' } })).toContain('failurePolicy');
    expect(refused({ webhook: { scope: 'deployments' } })).toContain('scope');
    expect(refused({ webhook: { optIn: 'always' } })).toContain('optIn');
    expect(refused({ webhook: { admissionReviewVersions: ['v2'] } })).toContain('admissionReviewVersions');
    expect(refused({ tls: { mode: 'letsencrypt' } })).toContain('mode');
    // Helm's genCA counts the validity in a Go duration, which wraps around past 292 years: a
    // certificate that expired before it was made (days 1000000: notAfter in 1842).
    expect(refused({ tls: { generate: { days: 106752 } } })).toContain('days');
    // cert-manager reads its durations with Go's time.ParseDuration, which has no days: its webhook
    // refused the Certificate mid-install.
    expect(refused({ tls: { mode: 'certManager', certManager: { duration: '90d' } } })).toContain('duration');
    expect(refused({ tls: { mode: 'certManager', certManager: { renewBefore: '-720h' } } })).toContain('renewBefore');
    // What the earlier chart (no pattern) took and cert-manager reads: an empty value is left out
    // (cert-manager's default; a null, which Helm 3's create prunes, fails Helm 4's server-side apply
    // against cert-manager's CRD: tests/e2e/chart.e2e.ts), and Go's durations may have a plus sign.
    const durationsOf = (durations: Record<string, string>): unknown[] =>
      template(major, { tls: { mode: 'certManager', certManager: durations } })
        .filter((o) => o.kind === 'Certificate')
        .map((c) => [Object.keys(at(c, 'spec') ?? {}).includes('duration') ? at(c, 'spec', 'duration') : 'absent', Object.keys(at(c, 'spec') ?? {}).includes('renewBefore') ? at(c, 'spec', 'renewBefore') : 'absent']);
    expect(durationsOf({ duration: '+2160h0m0s', renewBefore: '', caDuration: '' })).toEqual([['absent', 'absent'], ['+2160h0m0s', 'absent']]);
    expect(durationsOf({ duration: '', renewBefore: '1h', caDuration: '2h' })).toEqual([['2h', 'absent'], ['absent', '1h']]);
    expect(refused({ tls: { mode: 'secret', existingSecret: 'own' } })).toContain('caBundle');
    expect(refused({ image: { digest: 'sha256:abc' } })).toContain('digest');
    expect(refused({ replica: 2 })).toMatch(/replica/);
    expect(refused({ networkPolicy: { enabled: true } })).toContain('networkPolicy.enabled needs networkPolicy.apiServerCIDRs');
    expect(refused({ metrics: { enabled: false, serviceMonitor: { enabled: true } } })).toContain('metrics.serviceMonitor.enabled needs metrics.enabled');
    // serve's webhook port, said in words (the schema's not said only "'not' failed").
    expect(refused({ metrics: { port: 8443 } })).toContain("metrics.port 8443 is serve's webhook port");
    // With the ServiceMonitor the Service has the metrics port too: the same number twice is refused by the API server.
    expect(refused({ service: { port: 9090 }, metrics: { serviceMonitor: { enabled: true } } })).toContain('metrics.port and service.port are both 9090');
    // The ServiceMonitor's interval: what its CRD takes (a Prometheus duration, 1m30s too), nothing else.
    // rules.document: the rules document's schema (generated from src/config/schema.ts), every
    // problem with its path; a document with every field passes.
    const document = refused({ rules: { document: { rules: [{ name: 'gcr', match: 'gcr.io', replacement: 'asia.gcr.io', onMissing: 'drop' }], exlude: [] } } });
    expect(document).toContain("at '/rules/document': additional properties 'exlude' not allowed");
    expect(document).toContain("at '/rules/document/rules/0': missing property 'replace'");
    expect(document).toContain("at '/rules/document/rules/0': additional properties 'replacement' not allowed");
    expect(document).toContain("at '/rules/document/rules/0/onMissing'");
    expect(refused({ rules: { document: { rules: { name: 'gcr' } } } })).toContain("at '/rules/document/rules'");
    expect(refused({ rules: { document: { rules: [{ name: 'has space', match: 'gcr.io', replace: 'x', verify: 1 }] } } })).toMatch(/rules\/0\/name[\s\S]*rules\/0\/verify|rules\/0\/verify[\s\S]*rules\/0\/name/);
    const everyField = {
      allowOptOut: false,
      exclude: ['docker.io/library/busybox'],
      rules: [
        { name: 'hub', match: 'docker.io', replace: '${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.${env:AWS_URL_SUFFIX}/docker-hub', namespaces: ['team-*'], excludeNamespaces: ['team-x'], imagePullSecrets: ['ecr'], verify: true, onMissing: 'deny', onUnreachable: 'rewrite', platforms: ['linux/amd64', 'linux/arm64/v8'] },
        { name: 'gcr', regex: 'gcr\\.io/(.*)', replace: 'mirror.example.com/gcr/$1' },
      ],
    };
    expect(parse(String(at(find(template(major, { rules: { document: everyField } }), 'ConfigMap'), 'data', 'rules.yaml')))).toEqual(everyField);
    // The rules condition of webhook-config's default --scope pods looks at a Pod's spec only: with
    // scope all it would keep the API server from sending any workload. Printed for all, it is taken.
    const conditionRules = join(work, 'condition-rules.yaml');
    writeFileSync(conditionRules, 'rules:\n  - { name: gcr, match: gcr.io, replace: asia.gcr.io }\n');
    const printed = (scope: string): unknown[] => webhookConfig(['--service', 'a/b', '--token', 'x'.repeat(16), '--scope', scope, '--config', conditionRules]).webhooks[0]?.matchConditions ?? [];
    expect(refused({ webhook: { scope: 'all', matchConditions: printed('pods') } })).toContain('webhook-config --scope all --config rules.yaml');
    expect(template(major, { webhook: { scope: 'all', matchConditions: printed('all') } }).some((o) => o.kind === 'MutatingWebhookConfiguration')).toBe(true);
    expect(refused({ metrics: { serviceMonitor: { interval: '30 s' } } })).toContain('interval');
    expect(at(find(template(major, { metrics: { serviceMonitor: { enabled: true, interval: '1m30s' } } }), 'ServiceMonitor'), 'spec', 'endpoints', 0, 'interval')).toBe('1m30s');
    // The token of an existing Secret is read from the cluster, which helm template has not.
    expect(refused({ token: { existingSecret: 'own-token' } })).toContain('token.existingSecret own-token: no such Secret');
    // A preStop sleep longer than the grace period is refused by the API server; one of 0 too
    // before Kubernetes 1.33 (PodLifecycleSleepActionAllowZero): no hook then.
    expect(refused({ preStopSleepSeconds: 45 })).toContain('preStopSleepSeconds 45 is longer than terminationGracePeriodSeconds 30');
    const container = (values: Record<string, unknown>): unknown => at(find(template(major, values), 'Deployment'), 'spec', 'template', 'spec', 'containers', 0);
    expect(at(container({ preStopSleepSeconds: 0 }), 'lifecycle')).toBeUndefined();
    expect(at(container({ preStopSleepSeconds: 45, terminationGracePeriodSeconds: 55 }), 'lifecycle')).toEqual({ preStop: { sleep: { seconds: 45 } } });
  });

  it('Helm 4: NOTES.txt says what was installed and what is left to do (helm install --dry-run=client needs no cluster)', () => {
    const notes = (values: Record<string, unknown>, release = 'image-rewriter', namespace = 'image-rewriter'): string => {
      const r = helm(4, ['install', release, CHART, '--namespace', namespace, '--dry-run=client', '-f', valuesFile(values)]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      return r.stdout.split('\nNOTES:\n')[1] ?? '';
    };
    const byDefault = notes({});
    expect(byDefault).toContain('WARNING: image.repository is the placeholder');
    expect(byDefault).toContain('kubectl -n image-rewriter rollout status deployment/image-rewriter');
    expect(byDefault).toContain('The MutatingWebhookConfiguration image-rewriter sends it Pods (failurePolicy Ignore).');
    // The matchConditions to copy are printed for the chart's scope (those of --scope pods send no workload).
    expect(byDefault).toContain('`image-rewriter webhook-config --service ... --config rules.yaml`');
    expect(notes({ webhook: { scope: 'all' } })).toContain('`image-rewriter webhook-config --service ... --scope all --config rules.yaml`');
    expect(byDefault).not.toContain('PodDisruptionBudget');
    const own = notes({ image: { repository: 'registry.example.com/image-rewriter' }, replicas: 1, service: { port: 8443 }, webhook: { create: false } }, 'r', 'ns');
    expect(own).not.toContain('placeholder');
    expect(own).toContain('WARNING: replicas 1 with a PodDisruptionBudget of minAvailable 1');
    expect(own).toContain("kubectl -n ns get secret r-image-rewriter-tls -o jsonpath='{.data.ca\\.crt}' | base64 -d > ca.crt");
    expect(own).toContain('image-rewriter webhook-config --service ns/r-image-rewriter:8443 --token "$(kubectl -n ns get secret r-image-rewriter-token');
    // During a rotation the Secret holds NEW,OLD, which webhook-config --token refuses: the first is the one to register (QA-41).
    expect(own).toContain("-o jsonpath='{.data.token}' | base64 -d | cut -d, -f1)\" --ca-bundle ca.crt");
    expect(notes({ tls: { mode: 'certManager' }, webhook: { failurePolicy: 'Fail' } })).toMatch(/failurePolicy Fail: until a replica is ready[\s\S]*cert-manager's cainjector/);
    expect(byDefault).not.toContain('scrape');
    const policy = { enabled: true, apiServerCIDRs: ['10.0.0.0/24'] };
    // With Fail, a failed call's error quotes the webhook's path, token included, to the requester
    // (docs/security.md, "The webhook token"): said unless the NetworkPolicy keeps Pods from using it.
    expect(notes({ webhook: { failurePolicy: 'Fail' } })).toContain('WARNING: failurePolicy Fail without networkPolicy.enabled: the API server refuses a request whose webhook call failed');
    expect(notes({ webhook: { failurePolicy: 'Fail' }, networkPolicy: policy })).not.toContain('without networkPolicy.enabled');
    expect(byDefault).not.toContain('without networkPolicy.enabled');
    expect(notes({ networkPolicy: policy })).toContain('WARNING: the NetworkPolicy admits the API server alone: nothing can scrape the metrics port 9090.');
    expect(notes({ networkPolicy: { ...policy, metricsFrom: [{ podSelector: {} }] } })).not.toContain('scrape');
    // Without webhook.create, the command registers the configuration the webhook values describe,
    // under the name the chart would give it: the default "image-rewriter" replaced the configuration
    // of another release of that name (or a second release's with webhook.create=false).
    expect(own).toContain("--ca-bundle ca.crt --name r-image-rewriter | kubectl apply -f -\n");
    expect(notes({ webhook: { create: false } })).toContain('--ca-bundle ca.crt | kubectl apply -f -\n');
    const set = notes({ webhook: { create: false, failurePolicy: 'Fail', timeoutSeconds: 10, scope: 'all', name: 'rewriter', admissionReviewVersions: ['v1'] } });
    expect(set).toContain("--ca-bundle ca.crt --failure-policy Fail --timeout-seconds 10 --scope all --name rewriter --admission-review-versions v1 | kubectl apply -f -\n");
    // A configuration registered by hand outlives the release: deleted before helm uninstall, or the API server calls a Service that is gone.
    expect(own).toContain('helm uninstall leaves it calling a Service that is gone. Delete it first:\n  kubectl delete mutatingwebhookconfiguration r-image-rewriter\n');
    expect(set).toContain('kubectl delete mutatingwebhookconfiguration rewriter\n');
    expect(byDefault).not.toContain('helm uninstall');
    // As webhook-config warns: the release's namespace is never sent, so default's workloads would go unrewritten.
    expect(notes({}, 'image-rewriter', 'default')).toContain('WARNING: installed in the namespace default, which is never sent to the webhook');
    expect(byDefault).not.toContain('namespace default');
    // webhook.optIn: how to opt a namespace in; without the configuration, the flag that writes its selector.
    expect(byDefault).not.toContain('image-rewriter.io/rewrite');
    expect(notes({ webhook: { optIn: true } })).toContain(
      'Opt in (webhook.optIn): only namespaces labelled image-rewriter.io/rewrite=true are sent. Opt a namespace in with:\n  kubectl label namespace NAMESPACE image-rewriter.io/rewrite=true\n',
    );
    expect(notes({ webhook: { create: false, optIn: true, scope: 'all' } })).toContain('--ca-bundle ca.crt --scope all --opt-in | kubectl apply -f -\n');
  });

  describe('README, Installing `serve` with Helm', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.split('\n### Installing `serve` with Helm\n')[1]?.split('\n### ')[0] ?? '';
    const defaults = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;

    it('names only values the chart has, in its table and its text', () => {
      const named = [...section.matchAll(/`((?:image|rules|token|tls|webhook|networkPolicy|metrics|service|podDisruptionBudget|replicas|workers|resources|priorityClassName|nodeSelector|tolerations|affinity|topologySpreadConstraints|podAnnotations|podLabels|extraEnv|extraArgs|extraVolumes|extraVolumeMounts|imagePullSecrets|podSecurityContext|securityContext|preStopSleepSeconds|terminationGracePeriodSeconds|serviceAccount)(?:\.[A-Za-z]+)*)`/g)].map((m) => m[1] ?? '');
      expect(named.length).toBeGreaterThan(30);
      // (`rules.yaml` is the ConfigMap's key, not a value.)
      expect(named.filter((v) => v !== 'rules.yaml' && at(defaults, ...v.split('.')) === undefined)).toEqual([]);
      // The defaults the table gives.
      expect([at(defaults, 'replicas'), at(defaults, 'workers'), at(defaults, 'tls', 'mode'), at(defaults, 'webhook', 'failurePolicy'), at(defaults, 'webhook', 'timeoutSeconds'), at(defaults, 'webhook', 'scope'), at(defaults, 'metrics', 'port')]).toEqual([2, 2, 'generate', 'Ignore', 5, 'pods', 9090]);
      expect(section).toContain('| `replicas`, `workers`, `resources` | `2`, `2`, requests 250m CPU and 320Mi, limit 512Mi memory |');
      expect(section).toContain('| `webhook.failurePolicy`, `webhook.timeoutSeconds`, `webhook.scope` | `Ignore`, `5`, `pods` |');
      // The pause and the grace period deploy/serve.yaml also has, with the defaults the text gives.
      expect([at(defaults, 'preStopSleepSeconds'), at(defaults, 'terminationGracePeriodSeconds')]).toEqual([5, 30]);
      expect(section.replace(/\s+/g, ' ')).toContain('`preStopSleepSeconds` (5: the pause before `serve` gets SIGTERM) and `terminationGracePeriodSeconds` (30)');
    });

    it.each(HELMS)('Helm %i: its helm install command renders (as helm template, with a rules.yaml)', (major) => {
      const install = /^helm install .*?(?<!\\)$/ms.exec(section.split('```bash\n')[1] ?? '')?.[0] ?? '';
      const args = install.replace(/\\\n/g, ' ').split(/\s+/).filter((a) => a !== '' && a !== '--create-namespace');
      expect(args.slice(0, 4)).toEqual(['helm', 'install', 'image-rewriter', 'deploy/chart/image-rewriter']);
      const dir = mkdtempSync(join(work, 'readme-'));
      writeFileSync(join(dir, 'rules.yaml'), 'rules:\n  - { name: gcr, match: gcr.io, replace: asia.gcr.io }\n');
      const r = spawnSync(helmBinary(major), ['template', ...args.slice(2).map((a) => (a === 'deploy/chart/image-rewriter' ? CHART : a))], { cwd: dir, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: dir } });
      expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toContain('rules.yaml: |2\n    rules:\n      - { name: gcr, match: gcr.io, replace: asia.gcr.io }');
      expect(r.stdout).toContain('namespace: image-rewriter');
    });
  });

  describe('the webhook configuration is the one webhook-config prints (drift test)', () => {
    const rulesFile = join(work, 'rules.yaml');
    const rulesText = 'rules:\n  - { name: gcr, match: gcr.io, replace: asia.gcr.io }\n  - { name: hub, match: docker.io/library, replace: mirror.example.com/hub }\n';
    writeFileSync(rulesFile, rulesText);
    const strictFile = join(work, 'strict-rules.yaml');
    const strictText = `allowOptOut: false\n${rulesText}`;
    writeFileSync(strictFile, strictText);
    const secretTls = ownCertificate('webhooks-image-rewriter.image-rewriter.svc');

    /** Inputs: the chart's values and release, and webhook-config's flags for the same. */
    interface Variant {
      readonly title: string;
      readonly release: string;
      readonly namespace: string;
      readonly values: Record<string, unknown>;
      /** The flags besides --service and --token (and --ca-bundle, from the rendered ca.crt with tls.mode generate). */
      readonly flags: string[];
      readonly service: string;
    }
    const variants: Variant[] = [
      { title: 'defaults', release: 'image-rewriter', namespace: 'image-rewriter', values: {}, flags: [], service: 'image-rewriter/image-rewriter' },
      {
        title: 'another release and namespace, Service port, timeout, failurePolicy Fail, scope all, v1 only',
        release: 'mirror',
        namespace: 'platform',
        values: { service: { port: 8443 }, webhook: { timeoutSeconds: 10, failurePolicy: 'Fail', scope: 'all', admissionReviewVersions: ['v1'] } },
        flags: ['--timeout-seconds', '10', '--failure-policy', 'Fail', '--scope', 'all', '--admission-review-versions', 'v1', '--name', 'mirror-image-rewriter'],
        service: 'platform/mirror-image-rewriter:8443',
      },
      {
        title: 'webhook.name, a TLS Secret of ones own and its caBundle',
        release: 'webhooks',
        namespace: 'image-rewriter',
        values: { webhook: { name: 'zz-image-rewriter' }, tls: { mode: 'secret', existingSecret: 'own-tls', caBundle: secretTls.caPem } },
        flags: ['--name', 'zz-image-rewriter', '--ca-bundle', secretTls.caFile],
        service: 'image-rewriter/webhooks-image-rewriter',
      },
      {
        title: 'cert-manager: no caBundle (the cainjector fills it)',
        release: 'image-rewriter',
        namespace: 'image-rewriter',
        values: { tls: { mode: 'certManager' } },
        flags: [],
        service: 'image-rewriter/image-rewriter',
      },
      {
        title: 'webhook.optIn (webhook-config --opt-in)',
        release: 'image-rewriter',
        namespace: 'image-rewriter',
        values: { webhook: { optIn: true } },
        flags: ['--opt-in'],
        service: 'image-rewriter/image-rewriter',
      },
      {
        title: 'webhook.optIn, another namespace, scope all',
        release: 'mirror',
        namespace: 'platform',
        values: { webhook: { optIn: true, scope: 'all' } },
        flags: ['--opt-in', '--scope', 'all', '--name', 'mirror-image-rewriter'],
        service: 'platform/mirror-image-rewriter',
      },
      {
        title: 'in kube-system (excluded once)',
        release: 'image-rewriter',
        namespace: 'kube-system',
        values: { webhook: { scope: 'all' } },
        flags: ['--scope', 'all'],
        service: 'kube-system/image-rewriter',
      },
    ];
    // With --config: the matchConditions webhook-config prints, copied into webhook.matchConditions
    // (what README tells), and allowOptOut from the chart's rules document (text or map) or webhook.allowOptOut.
    const conditions = (file: string, scope: string): unknown[] =>
      webhookConfig(['--service', 'a/b', '--token', 'x'.repeat(16), '--scope', scope, '--config', file]).webhooks[0]?.matchConditions ?? [];
    variants.push(
      {
        title: '--config: matchConditions copied, rules as text',
        release: 'image-rewriter',
        namespace: 'image-rewriter',
        values: { rules: { text: rulesText }, webhook: { matchConditions: conditions(rulesFile, 'pods') } },
        flags: ['--config', rulesFile],
        service: 'image-rewriter/image-rewriter',
      },
      {
        title: '--config with allowOptOut: false, scope all, rules as a map',
        release: 'image-rewriter',
        namespace: 'image-rewriter',
        values: { rules: { document: parse(strictText) as unknown }, webhook: { scope: 'all', matchConditions: conditions(strictFile, 'all') } },
        flags: ['--config', strictFile, '--scope', 'all'],
        service: 'image-rewriter/image-rewriter',
      },
      {
        // The chart writes not-deployment-replicaset itself with scope all (copied from a --scope
        // all output above, it is not written twice): left out of the copy, it is still there;
        // copied into a chart of scope pods, it is dropped, as webhook-config --scope pods has none.
        title: 'scope all, the rules condition copied without not-deployment-replicaset',
        release: 'image-rewriter',
        namespace: 'image-rewriter',
        values: { rules: { text: rulesText }, webhook: { scope: 'all', matchConditions: conditions(rulesFile, 'all').filter((c) => at(c, 'name') !== 'not-deployment-replicaset') } },
        flags: ['--config', rulesFile, '--scope', 'all'],
        service: 'image-rewriter/image-rewriter',
      },
      {
        title: 'scope pods, not-deployment-replicaset copied too',
        release: 'image-rewriter',
        namespace: 'image-rewriter',
        values: { rules: { text: rulesText }, webhook: { matchConditions: [...conditions(rulesFile, 'pods'), ...conditions(rulesFile, 'all').filter((c) => at(c, 'name') === 'not-deployment-replicaset')] } },
        flags: ['--config', rulesFile],
        service: 'image-rewriter/image-rewriter',
      },
      {
        title: '--config with allowOptOut: false, the rules in a ConfigMap of ones own (webhook.allowOptOut false)',
        release: 'image-rewriter',
        namespace: 'image-rewriter',
        values: { rules: { existingConfigMap: 'own-rules' }, webhook: { allowOptOut: false, matchConditions: conditions(strictFile, 'pods') } },
        flags: ['--config', strictFile],
        service: 'image-rewriter/image-rewriter',
      },
      {
        title: 'webhook.optIn with allowOptOut: false in the rules: the opt-in label without the opt-out one',
        release: 'image-rewriter',
        namespace: 'image-rewriter',
        values: { rules: { text: strictText }, webhook: { optIn: true, matchConditions: conditions(strictFile, 'pods') } },
        flags: ['--config', strictFile, '--opt-in'],
        service: 'image-rewriter/image-rewriter',
      },
    );

    it.each(HELMS.flatMap((major) => variants.map((v) => [major, v.title, v] as const)))('Helm %i: %s', (major, _title, v) => {
      const objects = template(major, v.values, v.release, v.namespace);
      const chart = find(objects, 'MutatingWebhookConfiguration') as K8sObject & { webhooks: Webhook[] };
      const token = tokenOf(objects, `${v.service.split('/')[1]?.split(':')[0] ?? ''}-token`);
      const flags = ['--service', v.service, '--token', token, ...v.flags];
      const tls = objects.find((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-tls'));
      if (tls !== undefined) {
        const caFile = join(work, `ca-${++files}.crt`);
        writeFileSync(caFile, decoded(tls, 'data', 'ca.crt'));
        flags.push('--ca-bundle', caFile);
      }
      const generated = webhookConfig(flags);
      expect(chart.apiVersion).toBe(generated.apiVersion);
      expect(chart.metadata.name).toBe(generated.metadata.name);
      expect(chart.metadata.labels).toMatchObject(generated.metadata.labels ?? {});
      expect(chart.webhooks).toEqual(generated.webhooks);
      // The whole object, apart from the chart's labels and annotations.
      expect({ ...chart, metadata: { name: chart.metadata.name } }).toEqual({ ...generated, metadata: { name: generated.metadata.name } });
    });

    it('compares something: a chart whose selectors or path differed would fail it', () => {
      const objects = template(3, { tls: { mode: 'certManager' } });
      const chart = find(objects, 'MutatingWebhookConfiguration') as K8sObject & { webhooks: Webhook[] };
      const generated = webhookConfig(['--service', 'image-rewriter/image-rewriter', '--token', 'x'.repeat(16)]);
      expect(chart.webhooks).not.toEqual(generated.webhooks);
      expect(chart.webhooks[0]?.clientConfig.service.path).not.toBe(generated.webhooks[0]?.clientConfig.service.path);
      const withToken = webhookConfig(['--service', 'image-rewriter/image-rewriter', '--token', tokenOf(objects), '--scope', 'all']);
      expect(chart.webhooks).not.toEqual(withToken.webhooks);
      // webhook.optIn changes the namespaceSelector: a chart that left it out would fail the variants above.
      const optIn = find(template(3, { tls: { mode: 'certManager' }, webhook: { optIn: true } }), 'MutatingWebhookConfiguration') as K8sObject & { webhooks: Webhook[] };
      const same = webhookConfig(['--service', 'image-rewriter/image-rewriter', '--token', tokenOf(objects)]);
      expect(chart.webhooks).toEqual(same.webhooks);
      expect(optIn.webhooks).not.toEqual(same.webhooks);
      expect(at(optIn.webhooks, 0, 'namespaceSelector', 'matchExpressions', 2)).toEqual({ key: 'image-rewriter.io/rewrite', operator: 'In', values: ['true'] });
    });
  });
});
