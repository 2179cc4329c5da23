/**
 * The Helm chart deploy/chart/image-rewriter installed with real Helm 3 and Helm 4
 * (hack/helm/build.sh 3|4, IMAGE_REWRITER_HELM3|4, which scripts/test-e2e.sh exports) into a namespace that enforces the
 * restricted Pod Security Standard: the API server takes every object, the ReplicaSet controller's
 * Pods pass PodSecurity (no kubelet runs here, so they stay Pending), `helm upgrade` keeps the
 * token and the certificate it generated (lookup), and the webhook configuration rendered against
 * the cluster carries them and is accepted by a server-side dry run; with a token Secret of one's
 * own holding NEW,OLD (a rotation), the path carries OLD; `helm rollback` past the rotation puts
 * the old path back, and an upgrade with that revision's values the current one (README,
 * "Rollbacks"), with both versions. With both too: webhook.optIn as the API server stores it, and
 * failurePolicy changed by helm upgrade, or by kubectl patch and then helm upgrade, where they differ
 * (Helm 3 merges three ways and puts the chart's value back; Helm 4 applies server-side and reports
 * the conflict: README, Troubleshooting); and tls.mode switched from generate to certManager, with
 * minimal copies of cert-manager's CRDs (tests/fixtures/helm/crds, with their origin): the caBundle
 * stays until the cainjector (a patch by its field manager) replaces it, and the generated Secret
 * stays when annotated keep; back to generate, the Secret cert-manager wrote, adopted by the release,
 * keeps its certificate and CA through the upgrade. With both, tls.mode certManager (empty durations: cert-manager's
 * defaults) and the ServiceMonitor against those CRDs under restricted PodSecurity: created with
 * strict field validation, installed without a warning, nothing left after uninstall. A configuration registered for real is opted in
 * (webhook.optIn) and no namespace here has the label, so it sends nothing: its Service has no
 * endpoints, and every Pod of the other scenarios would wait for it.
 * tests/integration/chart.integration.ts checks the rendering itself (values, schema, drift from
 * webhook-config).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { E2eEnvironment } from './harness/environment.js';
import { scenario } from './harness/scenario.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

const env = E2eEnvironment.connect();
const { kubectl } = env;
const CHART = join(REPO_ROOT, 'deploy', 'chart', 'image-rewriter');
const CRDS = join(REPO_ROOT, 'tests', 'fixtures', 'helm', 'crds');

const HELMS = [3, 4] as const;
type HelmMajor = (typeof HELMS)[number];

function helmBinary(major: HelmMajor): string {
  const variable = `IMAGE_REWRITER_HELM${String(major)}`;
  const helm = process.env[variable] ?? '';
  try {
    accessSync(helm, constants.X_OK);
  } catch {
    throw new Error(`${variable}=${helm} is not an executable: run the suite with npm run test:e2e, or export ${variable}=$(hack/helm/build.sh ${String(major)} | tail -n1)`);
  }
  return helm;
}

interface HelmRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Helm 3 or 4 against the environment's API server, with its own folders. */
async function helm(major: HelmMajor, args: readonly string[]): Promise<HelmRun> {
  const home = join(env.runDir, `helm${String(major)}`);
  const child = spawn(helmBinary(major), [...args, '--kubeconfig', env.kubeconfig], {
    env: { PATH: process.env['PATH'] ?? '', HOME: home, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data') },
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** Helm exited 0 and said nothing on stderr. */
function ok(r: HelmRun): void {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
}

/** The minimal copies of cert-manager's and the Prometheus Operator's CRDs (tests/fixtures/helm/crds), established. */
async function applyCrds(): Promise<void> {
  await kubectl.ok(['apply', '-f', CRDS]);
  for (const crd of ['certificates.cert-manager.io', 'issuers.cert-manager.io', 'servicemonitors.monitoring.coreos.com']) {
    await kubectl.ok(['wait', '--for=condition=Established', `crd/${crd}`, '--timeout=60s']);
  }
}

interface Obj {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly data?: Record<string, string>;
  readonly webhooks?: { clientConfig: { service: { path: string }; caBundle?: string } }[];
}

describe('the Helm chart against the API server', () => {
  scenario(env, 'helm install into a restricted namespace: objects and Pods accepted, upgrade keeps the generated token and certificate', async () => {
    const ns = 'chart-e2e';
    const release = 'chart-e2e';
    await kubectl.createNamespace(ns, { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' });
    const values = ['--set', 'webhook.create=false', '--set', 'networkPolicy.enabled=true', '--set', 'networkPolicy.apiServerCIDRs={10.0.0.0/24}'];
    try {
      const install = await helm(3, ['install', release, CHART, '--namespace', ns, ...values]);
      expect({ code: install.code, stderr: install.stderr }).toEqual({ code: 0, stderr: '' });
      const secret = async (name: string): Promise<Record<string, string>> => (JSON.parse((await kubectl.ok(['-n', ns, 'get', 'secret', name, '-o', 'json'])).stdout) as Obj).data ?? {};
      const token = await secret(`${release}-image-rewriter-token`);
      const tls = await secret(`${release}-image-rewriter-tls`);
      expect(Object.keys(tls).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
      // The ReplicaSet controller creates both Pods: PodSecurity `restricted` enforced on them.
      const selector = `app.kubernetes.io/instance=${release}`;
      const started = performance.now();
      let pods = 0;
      while (pods < 2 && performance.now() - started < 60_000) {
        pods = (await kubectl.ok(['-n', ns, 'get', 'pods', '-l', selector, '-o', 'name'])).stdout.split('\n').filter((l) => l !== '').length;
        if (pods < 2) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const events = (await kubectl.run(['-n', ns, 'get', 'events', '--field-selector', 'reason=FailedCreate', '-o', 'custom-columns=M:.message', '--no-headers'])).stdout;
      expect({ pods, events }).toEqual({ pods: 2, events: '' });

      // An upgrade (and a new render against the cluster) keeps the token and the certificate.
      const upgrade = await helm(3, ['upgrade', release, CHART, '--namespace', ns, ...values]);
      expect({ code: upgrade.code, stderr: upgrade.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await secret(`${release}-image-rewriter-token`)).toEqual(token);
      expect(await secret(`${release}-image-rewriter-tls`)).toEqual(tls);
      const rendered = await helm(3, ['template', release, CHART, '--namespace', ns, '--dry-run=server', '--set', 'webhook.create=true']);
      expect({ code: rendered.code, stderr: rendered.stderr }).toEqual({ code: 0, stderr: '' });
      const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Obj | null).filter((o) => o !== null);
      const config = objects.find((o) => o.kind === 'MutatingWebhookConfiguration');
      const [webhook] = config?.webhooks ?? [];
      expect(webhook?.clientConfig.service.path).toBe(`/mutate/${Buffer.from(token['token'] ?? '', 'base64').toString('utf8')}`);
      expect(webhook?.clientConfig.caBundle).toBe(tls['ca.crt']);
      // The API server takes the configuration as rendered (a dry run: not registered).
      const created = await kubectl.run(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify(config) });
      expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
      // A token Secret of one's own, during a rotation (NEW,OLD): the path keeps OLD, which the Pods
      // running before the upgrade accept as well as those it restarts (the checksum changes).
      const [next, previous] = ['0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210'];
      await kubectl.ok(['-n', ns, 'create', 'secret', 'generic', 'own-token', `--from-literal=token=${next},${previous}`]);
      const rotating = await helm(3, ['template', release, CHART, '--namespace', ns, '--dry-run=server', '--set', 'token.existingSecret=own-token']);
      expect({ code: rotating.code, stderr: rotating.stderr }).toEqual({ code: 0, stderr: '' });
      const owned = parseAllDocuments(rotating.stdout).map((d) => d.toJS() as Obj | null);
      expect(owned.find((o) => o?.kind === 'MutatingWebhookConfiguration')?.webhooks?.[0]?.clientConfig.service.path).toBe(`/mutate/${previous}`);
      expect(owned.some((o) => o?.kind === 'Secret' && o.metadata.name.endsWith('-token'))).toBe(false);
      expect(rotating.stdout).toContain(`checksum/token: ${createHash('sha256').update(`${next},${previous}`).digest('hex')}`);
      // The check can fail: without the container's securityContext, the API server warns of the Deployment.
      const loose = await helm(3, ['template', 'chart-loose', CHART, '--namespace', ns, '--set', 'securityContext=null']);
      const deployment = parseAllDocuments(loose.stdout).map((d) => d.toJS() as Obj | null).find((o) => o?.kind === 'Deployment');
      const warned = await kubectl.run(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify(deployment) });
      expect(warned.stderr).toContain('would violate PodSecurity "restricted');
      const uninstall = await helm(3, ['uninstall', release, '--namespace', ns]);
      expect(uninstall.code).toBe(0);
    } finally {
      await kubectl.run(['delete', 'namespace', ns, '--wait=false']);
    }
  });

  for (const major of HELMS) {
    scenario(env, `Helm ${String(major)}: helm rollback past a token change puts the old path back; an upgrade with that revision's values renders the current one (README, Rollbacks)`, async () => {
      const ns = `chart-rollback-h${String(major)}`;
      const release = ns;
      await kubectl.createNamespace(ns, {});
      const [previous, next] = ['fedcba9876543210fedcba9876543210', '0123456789abcdef0123456789abcdef'];
      const ownToken = async (value: string): Promise<void> => {
        await kubectl.run(['-n', ns, 'delete', 'secret', 'own-token']);
        await kubectl.ok(['-n', ns, 'create', 'secret', 'generic', 'own-token', `--from-literal=token=${value}`]);
      };
      const path = async (): Promise<string> => (await kubectl.ok(['get', 'mutatingwebhookconfiguration', `${release}-image-rewriter`, '-o', 'jsonpath={.webhooks[0].clientConfig.service.path}'])).stdout;
      const values = ['--namespace', ns, '--set', 'token.existingSecret=own-token', '--set', 'webhook.optIn=true'];
      try {
        // The rotation of "Installing serve with Helm": OLD, then NEW,OLD, OLD,NEW and NEW, each with
        // helm upgrade. The path carries the Secret's last token: it moves to NEW only while every
        // Pod accepts both, and NEW alone comes once the path is NEW, so a Pod restarted between
        // editing the Secret and the upgrade accepts the path's token at every step.
        await ownToken(previous);
        ok(await helm(major, ['install', release, CHART, ...values]));
        await ownToken(`${next},${previous}`);
        ok(await helm(major, ['upgrade', release, CHART, ...values]));
        expect(await path()).toBe(`/mutate/${previous}`);
        await ownToken(`${previous},${next}`);
        ok(await helm(major, ['upgrade', release, CHART, ...values]));
        expect(await path()).toBe(`/mutate/${next}`);
        await ownToken(next);
        ok(await helm(major, ['upgrade', release, CHART, ...values]));
        expect(await path()).toBe(`/mutate/${next}`);
        // helm rollback re-applies revision 1 as rendered: the path OLD, which no Pod accepts any more.
        expect((await helm(major, ['rollback', release, '1', '--namespace', ns])).code).toBe(0);
        expect(await path()).toBe(`/mutate/${previous}`);
        // The README's way: revision 1's values, rendered against the Secret as it is.
        const given = await helm(major, ['get', 'values', release, '--revision', '1', '--namespace', ns, '-o', 'yaml']);
        ok(given);
        const file = join(env.runDir, `${release}-values.yaml`);
        await writeFile(file, given.stdout);
        ok(await helm(major, ['upgrade', release, CHART, '--namespace', ns, '-f', file]));
        expect(await path()).toBe(`/mutate/${next}`);
      } finally {
        await helm(major, ['uninstall', release, '--namespace', ns]);
        await kubectl.run(['delete', 'namespace', ns, '--wait=false']);
      }
    });
  }

  for (const major of HELMS) {
    scenario(env, `Helm ${String(major)}: webhook.optIn is stored as the namespaceSelector says; failurePolicy changed with helm upgrade --set, and after a kubectl patch (README, Troubleshooting)`, async () => {
      const ns = `chart-patch-h${String(major)}`;
      const release = ns;
      const name = `${release}-image-rewriter`;
      await kubectl.createNamespace(ns, {});
      const stored = async (): Promise<{ failurePolicy: string; namespaceSelector: unknown }> => {
        const config = JSON.parse((await kubectl.ok(['get', 'mutatingwebhookconfiguration', name, '-o', 'json'])).stdout) as { webhooks: { failurePolicy: string; namespaceSelector: unknown }[] };
        const [webhook] = config.webhooks;
        return { failurePolicy: webhook?.failurePolicy ?? '', namespaceSelector: webhook?.namespaceSelector };
      };
      const policy = async (): Promise<string> => (await stored()).failurePolicy;
      const status = async (): Promise<string> => (JSON.parse((await helm(major, ['status', release, '--namespace', ns, '-o', 'json'])).stdout) as { info: { status: string } }).info.status;
      const upgrade = (...args: string[]): Promise<HelmRun> => helm(major, ['upgrade', release, CHART, '--namespace', ns, '--reuse-values', ...args]);
      const patch = (value: string): Promise<unknown> => kubectl.ok(['patch', 'mutatingwebhookconfiguration', name, '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/webhooks/0/failurePolicy', value }])]);
      const observed: Record<string, unknown> = {};
      try {
        // Opted in: no namespace here is labelled image-rewriter.io/rewrite=true, so the configuration,
        // registered for real, sends nothing to a Service that has no endpoints.
        ok(await helm(major, ['install', release, CHART, '--namespace', ns, '--set', 'webhook.optIn=true', '--set', 'webhook.failurePolicy=Fail']));
        observed['installed'] = await stored();
        // The README's way through an outage: the value, with helm upgrade, and back.
        ok(await upgrade('--set', 'webhook.failurePolicy=Ignore'));
        observed['helm --set Ignore'] = await policy();
        ok(await upgrade('--set', 'webhook.failurePolicy=Fail'));
        observed['helm --set Fail'] = await policy();
        // kubectl patch instead, then the next upgrade.
        await patch('Ignore');
        const after = await upgrade();
        observed['patched, then helm upgrade'] = { code: after.code, conflict: after.stderr.includes('conflict with "kubectl-patch"'), policy: await policy(), status: await status() };
        const forced = await upgrade(...(major === 4 ? ['--force-conflicts'] : []));
        observed['then helm upgrade (Helm 4: --force-conflicts)'] = { code: forced.code, policy: await policy(), status: await status() };
        // Patched, then the README's helm upgrade --set Ignore, and back to Fail.
        await patch('Ignore');
        const ignore = await upgrade('--set', 'webhook.failurePolicy=Ignore');
        observed['patched, then helm --set Ignore'] = { code: ignore.code, policy: await policy() };
        const back = await upgrade('--set', 'webhook.failurePolicy=Fail');
        observed['then helm --set Fail'] = { code: back.code, conflict: back.stderr.includes('conflict with "kubectl-patch"'), policy: await policy() };
        // Helm 3 merges three ways (its last manifest, the chart's, the live object): the chart's value
        // goes back. Helm 4 applies server-side: failurePolicy is kubectl-patch's too, and any value
        // other than the patched one is refused until --force-conflicts, even after an upgrade that
        // set the patched value (both own it then).
        const helm4 = major === 4;
        expect(observed).toEqual({
          installed: {
            failurePolicy: 'Fail',
            namespaceSelector: {
              matchExpressions: [
                { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', ns] },
                { key: 'image-rewriter.io/skip', operator: 'NotIn', values: ['true'] },
                { key: 'image-rewriter.io/rewrite', operator: 'In', values: ['true'] },
              ],
            },
          },
          'helm --set Ignore': 'Ignore',
          'helm --set Fail': 'Fail',
          'patched, then helm upgrade': helm4 ? { code: 1, conflict: true, policy: 'Ignore', status: 'failed' } : { code: 0, conflict: false, policy: 'Fail', status: 'deployed' },
          'then helm upgrade (Helm 4: --force-conflicts)': { code: 0, policy: 'Fail', status: 'deployed' },
          'patched, then helm --set Ignore': { code: 0, policy: 'Ignore' },
          'then helm --set Fail': helm4 ? { code: 1, conflict: true, policy: 'Ignore' } : { code: 0, conflict: false, policy: 'Fail' },
        });
      } finally {
        await helm(major, ['uninstall', release, '--namespace', ns]);
        await kubectl.run(['delete', 'namespace', ns, '--wait=false']);
      }
    });
  }

  for (const major of HELMS) {
    scenario(env, `Helm ${String(major)}: tls.mode generate to certManager (minimal copies of cert-manager's CRDs): the caBundle stays until the cainjector replaces it, later upgrades keep the injected one, the generated Secret stays when annotated keep (README, Installing serve with Helm)`, async () => {
      await applyCrds();
      const ns = `chart-tls-h${String(major)}`;
      await kubectl.createNamespace(ns, {});
      const observed: Record<string, unknown> = {};
      try {
        for (const keep of [false, true]) {
          const release = `tls-${keep ? 'keep' : 'plain'}-h${String(major)}`;
          const fullname = `${release}-image-rewriter`;
          const secret = async (key: string): Promise<string> => (await kubectl.run(['-n', ns, 'get', 'secret', `${fullname}-tls`, '-o', `jsonpath={.data.${key.replace('.', '\\.')}}`])).stdout;
          const caBundle = async (): Promise<string> => (await kubectl.ok(['get', 'mutatingwebhookconfiguration', fullname, '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}'])).stdout;
          const generation = async (): Promise<string> => (await kubectl.ok(['-n', ns, 'get', 'deployment', fullname, '-o', 'jsonpath={.metadata.generation}'])).stdout;
          const upgrade = (...args: string[]): Promise<HelmRun> => helm(major, ['upgrade', release, CHART, '--namespace', ns, '--reuse-values', ...args]);
          ok(await helm(major, ['install', release, CHART, '--namespace', ns, '--set', 'webhook.optIn=true']));
          const [ca, other] = [await secret('ca.crt'), await secret('tls.crt')];
          expect({ ca: ca !== '', caBundle: await caBundle() }).toEqual({ ca: true, caBundle: ca });
          // README: annotated keep, Helm leaves the Secret, which cert-manager then takes over.
          if (keep) await kubectl.ok(['-n', ns, 'annotate', 'secret', `${fullname}-tls`, 'helm.sh/resource-policy=keep']);
          const switched = await upgrade('--set', 'tls.mode=certManager');
          const certificate = await kubectl.run(['-n', ns, 'get', 'certificates.cert-manager.io', `${fullname}-tls`, '-o', 'jsonpath={.spec.secretName}']);
          const afterSwitch = { code: switched.code, stderr: switched.stderr, certificateSecret: certificate.stdout, secretKept: (await secret('ca.crt')) === ca, caBundleKept: (await caBundle()) === ca, deploymentGeneration: await generation() };
          // The cainjector's update (its own field manager), then an upgrade: the injected caBundle stays.
          await kubectl.ok(['patch', 'mutatingwebhookconfiguration', fullname, '--field-manager=cert-manager-cainjector', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: other }])]);
          const next = await upgrade();
          observed[keep ? 'annotated keep' : 'as installed'] = { afterSwitch, afterInjection: { code: next.code, stderr: next.stderr, caBundleInjected: (await caBundle()) === other } };
          await helm(major, ['uninstall', release, '--namespace', ns]);
        }
        // The Secret keeps its name (the Certificate's): the Pods are not restarted, the kubelet
        // updates their files once cert-manager has written it.
        const afterSwitch = { code: 0, stderr: '', caBundleKept: true, deploymentGeneration: '1' };
        expect(observed).toEqual({
          'as installed': { afterSwitch: { ...afterSwitch, certificateSecret: `tls-plain-h${String(major)}-image-rewriter-tls`, secretKept: false }, afterInjection: { code: 0, stderr: '', caBundleInjected: true } },
          'annotated keep': { afterSwitch: { ...afterSwitch, certificateSecret: `tls-keep-h${String(major)}-image-rewriter-tls`, secretKept: true }, afterInjection: { code: 0, stderr: '', caBundleInjected: true } },
        });
      } finally {
        await kubectl.run(['delete', 'namespace', ns, '--wait=false']);
      }
    });
  }

  for (const major of HELMS) {
    scenario(env, `Helm ${String(major)}: tls.mode certManager and the ServiceMonitor against minimal copies of their CRDs, in a restricted namespace: installed without a warning, every field kept, nothing left after uninstall`, async () => {
      await applyCrds();
      const ns = `chart-crds-h${String(major)}`;
      const release = ns;
      await kubectl.createNamespace(ns, { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/audit': 'restricted' });
      // Empty durations are cert-manager's defaults (values.yaml); a null in their place was stored
      // by Helm 3 but refused by Helm 4's server-side apply (the CRD types them as strings).
      const values = ['--namespace', ns, '--set', 'webhook.optIn=true', '--set', 'tls.mode=certManager', '--set', 'tls.certManager.duration=', '--set', 'tls.certManager.renewBefore=', '--set', 'tls.certManager.caDuration=', '--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.serviceMonitor.interval=1m30s'];
      try {
        // The objects as rendered, given to the API server with strict field validation: a field the
        // CRDs do not have would be refused (pruned, otherwise).
        const rendered = await helm(major, ['template', release, CHART, '--dry-run=server', ...values]);
        ok(rendered);
        const strict = await kubectl.run(['create', '--dry-run=server', '--validate=strict', '-n', ns, '-o', 'name', '-f', '-'], { input: rendered.stdout });
        expect({ code: strict.code, stderr: strict.stderr }).toEqual({ code: 0, stderr: '' });
        ok(await helm(major, ['install', release, CHART, ...values]));
        const kinds = (await kubectl.ok(['-n', ns, 'get', 'certificates.cert-manager.io,issuers.cert-manager.io,servicemonitors.monitoring.coreos.com', '-o', 'name'])).stdout.split('\n').filter((l) => l !== '').sort();
        expect(kinds).toEqual([
          `certificate.cert-manager.io/${release}-image-rewriter-ca`,
          `certificate.cert-manager.io/${release}-image-rewriter-tls`,
          `issuer.cert-manager.io/${release}-image-rewriter-ca`,
          `issuer.cert-manager.io/${release}-image-rewriter-selfsigned`,
          `servicemonitor.monitoring.coreos.com/${release}-image-rewriter`,
        ]);
        ok(await helm(major, ['uninstall', release, '--namespace', ns]));
        const left = (await kubectl.ok(['-n', ns, 'get', 'deployments,services,secrets,configmaps,poddisruptionbudgets,serviceaccounts,certificates.cert-manager.io,issuers.cert-manager.io,servicemonitors.monitoring.coreos.com', '-o', 'name'])).stdout.split('\n').filter((l) => l !== '' && l !== 'serviceaccount/default' && l !== 'configmap/kube-root-ca.crt');
        const configuration = await kubectl.run(['get', 'mutatingwebhookconfiguration', `${release}-image-rewriter`, '-o', 'name']);
        expect({ left, configuration: configuration.stdout }).toEqual({ left: [], configuration: '' });
      } finally {
        await helm(major, ['uninstall', release, '--namespace', ns]);
        await kubectl.run(['delete', 'namespace', ns, '--wait=false']);
      }
    });
  }

  for (const major of HELMS) {
    scenario(env, `Helm ${String(major)}: tls.mode certManager back to generate: the Secret cert-manager wrote, adopted by the release, keeps its certificate and CA through the upgrade, which deletes the cert-manager objects (README, Installing serve with Helm)`, async () => {
      await applyCrds();
      const ns = `chart-back-h${String(major)}`;
      const release = ns;
      const fullname = `${release}-image-rewriter`;
      await kubectl.createNamespace(ns, {});
      const caBundle = async (): Promise<string> => (await kubectl.ok(['get', 'mutatingwebhookconfiguration', fullname, '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}'])).stdout;
      const upgrade = (...args: string[]): Promise<HelmRun> => helm(major, ['upgrade', release, CHART, '--namespace', ns, '--reuse-values', ...args]);
      try {
        ok(await helm(major, ['install', release, CHART, '--namespace', ns, '--set', 'webhook.optIn=true']));
        ok(await upgrade('--set', 'tls.mode=certManager'));
        // cert-manager (stood in by its field managers) writes the Secret of the chart's name, and its cainjector the caBundle.
        const pem = async (file: string): Promise<string> => Buffer.from(await readFile(join(env.runDir, 'webhook', file))).toString('base64');
        const data = { 'ca.crt': await pem('ca.crt'), 'tls.crt': await pem('server.crt'), 'tls.key': await pem('server.key') };
        const issued = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: `${fullname}-tls`, namespace: ns, annotations: { 'cert-manager.io/certificate-name': `${fullname}-tls` } }, data };
        await kubectl.ok(['apply', '--server-side', '--field-manager=cert-manager-certificates-issuing', '-f', '-'], { input: JSON.stringify(issued) });
        await kubectl.ok(['patch', 'mutatingwebhookconfiguration', fullname, '--field-manager=cert-manager-cainjector', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: data['ca.crt'] }])]);
        // Not helm rollback, which fails on that Secret, not the release's (README). The release adopts
        // it, and the upgrade reads it (lookup): the same certificate and CA, no renewal gap.
        await kubectl.ok(['-n', ns, 'label', 'secret', `${fullname}-tls`, 'app.kubernetes.io/managed-by=Helm']);
        await kubectl.ok(['-n', ns, 'annotate', 'secret', `${fullname}-tls`, `meta.helm.sh/release-name=${release}`, `meta.helm.sh/release-namespace=${ns}`]);
        ok(await upgrade('--set', 'tls.mode=generate'));
        const secret = (await kubectl.ok(['-n', ns, 'get', 'secret', `${fullname}-tls`, '-o', 'jsonpath={.data.tls\\.crt}'])).stdout;
        const left = (await kubectl.ok(['-n', ns, 'get', 'certificates.cert-manager.io,issuers.cert-manager.io', '-o', 'name'])).stdout;
        const annotation = (await kubectl.ok(['get', 'mutatingwebhookconfiguration', fullname, '-o', 'jsonpath={.metadata.annotations.cert-manager\\.io/inject-ca-from}'])).stdout;
        expect({ caBundleKept: (await caBundle()) === data['ca.crt'], certificateKept: secret === data['tls.crt'], left, annotation }).toEqual({ caBundleKept: true, certificateKept: true, left: '', annotation: '' });
      } finally {
        await helm(major, ['uninstall', release, '--namespace', ns]);
        await kubectl.run(['delete', 'namespace', ns, '--wait=false']);
      }
    });
  }
});
