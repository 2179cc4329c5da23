/**
 * `webhook-config --service`: the configuration for `serve` behind a Service, put to the real
 * kube-apiserver's validation by a server-side dry-run create (nothing is stored, so the
 * environment's registered webhook stays as it is). The environment has no cluster DNS and no
 * kube-proxy, so the API server calling a Service is not exercised here: what is checked is that
 * every configuration the flags can make is one the API server accepts, as written.
 *
 * `--url` with every `--scope` and `--config` (none, the environment's rules, the sixty ECR
 * prefixes of the matchCondition tests, and the most rules that still give a condition: the
 * longest expression webhook-config prints) is dry-run created the same way, on each Kubernetes
 * version the suite runs against (README, Supported Kubernetes versions); and a Pod with as many
 * images of the longest length matched as the ECR condition matches, only the last rewritable,
 * is rewritten while one of as many upstream images is not sent: that condition's cost stays
 * within the API server's budget too. The same for image volumes, which cost more each, with the
 * shortest regex (the most images matched).
 *
 * `--scope all`'s not-deployment-replicaset condition, evaluated by the API server: the ReplicaSets
 * a Deployment's controller creates and updates (scaling, a rollout) are not sent, a ReplicaSet
 * no Deployment controls is.
 *
 * `--opt-in`, its namespaceSelector evaluated by the API server: a Pod in a namespace without the
 * label image-rewriter.io/rewrite=true is not sent (stored as it was created), one in a namespace
 * with it is rewritten.
 */
import { describe, expect } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { E2eEnvironment, PROBE_NAMESPACE } from './harness/environment.js';
import { KubectlError, list, pod, replicaSet } from './harness/kubectl.js';
import { scenario } from './harness/scenario.js';
import { done, eventually, notYet } from './harness/wait.js';
import { PROBE_IMAGE, probeUntil, waitUntilRewriting, webhookUrl } from './harness/webhook.js';
import { imageRegex, MATCHED_IMAGE_MAX_LENGTH, matchableImages, matchConditionExpression, NOT_DEPLOYMENT_REPLICASET_EXPRESSION } from '../../src/core/match-conditions.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { ECR_RULES_YAML, registryRulesYaml, rewriterFrom } from '../helpers/rules.js';

const env = E2eEnvironment.connect();
const { kubectl } = env;

interface Configuration {
  readonly metadata: { readonly name: string };
  readonly webhooks: readonly Record<string, unknown>[];
}

/** `kubectl create --dry-run=server -o json`: what the API server would store, or its refusal. */
async function dryRunCreate(config: Configuration): Promise<Configuration> {
  const result = await kubectl.ok(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(config) });
  return JSON.parse(result.stdout) as Configuration;
}

describe('webhook-config --service against the API server', () => {
  scenario(env, 'the API server accepts --service configurations as written, and refuses what the flags refuse', async () => {
    const token = (await readFile(env.webhook.files.tokenFile, 'utf8')).trim();
    const variants = [
      { spec: 'image-rewriter/image-rewriter', scope: 'pods' as const, port: 443 },
      { spec: 'webhooks/rewriter:8443', scope: 'all' as const, config: env.webhook.files.rules, port: 8443 },
      { spec: `${'n'.repeat(63)}/${'s'.repeat(63)}:65535`, scope: 'all' as const, port: 65535 },
    ];
    for (const [i, v] of variants.entries()) {
      const yaml = await env.configYaml({ service: { spec: v.spec, token }, name: `image-rewriter-service-${i}`, scope: v.scope, ...(v.config === undefined ? {} : { config: v.config }) });
      const generated = parseYaml(yaml) as Configuration;
      const [namespace, rest = ''] = v.spec.split('/');
      expect(generated.webhooks[0]?.['clientConfig']).toEqual({
        service: { namespace, name: rest.split(':')[0], path: `/mutate/${token}`, port: v.port },
        caBundle: Buffer.from(await readFile(env.webhook.files.caCert, 'utf8')).toString('base64'),
      });
      const names = ((generated.webhooks[0]?.['matchConditions'] ?? []) as { name: string }[]).map((c) => c.name);
      expect(names).toEqual([...(v.config === undefined ? [] : ['image-could-be-rewritten']), ...(v.scope === 'all' ? ['not-deployment-replicaset'] : [])]);
      const stored = await dryRunCreate(generated);
      expect(stored.metadata.name).toBe(`image-rewriter-service-${i}`);
      expect(stored.webhooks).toEqual(generated.webhooks);
    }
    // The dry run does validate: what --service refuses, the API server refuses too.
    const base = parseYaml(await env.configYaml({ service: { spec: 'image-rewriter/image-rewriter', token }, name: 'image-rewriter-service-bad' })) as Configuration;
    const withService = (service: Record<string, unknown>): Configuration => ({
      ...base,
      webhooks: base.webhooks.map((w) => ({ ...w, clientConfig: { ...(w['clientConfig'] as Record<string, unknown>), service } })),
    });
    // An empty namespace or name is "Required value" (kube-apiserver 1.37 names the other of the two fields in it).
    const refusals = [
      { service: { namespace: 'image-rewriter', name: 'image-rewriter', path: `/mutate/${token}`, port: 0 }, says: 'webhooks[0].clientConfig.service.port' },
      { service: { namespace: 'image-rewriter', name: 'image-rewriter', path: `/mutate/${token}`, port: 65536 }, says: 'webhooks[0].clientConfig.service.port' },
      { service: { namespace: '', name: 'image-rewriter', path: `/mutate/${token}`, port: 443 }, says: 'Required value' },
      { service: { namespace: 'image-rewriter', name: '', path: `/mutate/${token}`, port: 443 }, says: 'Required value' },
    ];
    for (const { service, says } of refusals) {
      const refused = await dryRunCreate(withService(service)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(KubectlError);
      expect((refused as KubectlError).result.stderr).toContain('webhooks[0].clientConfig.service.');
      expect((refused as KubectlError).result.stderr).toContain(says);
    }
  });
});

/** The most rules of registryRulesYaml that still give a matchCondition (the longest expression webhook-config prints). */
function mostRulesWithCondition(): number {
  let low = 1;
  let high = 1500;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (matchConditionExpression(rewriterFrom(registryRulesYaml(mid)).rules, 'all') === undefined) high = mid - 1;
    else low = mid;
  }
  return low;
}

describe('webhook-config --url, every --scope and --config, against the API server', () => {
  scenario(env, 'every configuration is accepted as written; the largest rules document\'s condition stays within the cost budget', async () => {
    const ecr = join(env.runDir, 'ecr-rules.yaml');
    await writeFile(ecr, ECR_RULES_YAML);
    const most = mostRulesWithCondition();
    const largest = join(env.runDir, 'largest-rules.yaml');
    await writeFile(largest, registryRulesYaml(most));
    const configs = [undefined, env.webhook.files.rules, ecr, largest];
    let i = 0;
    for (const scope of ['pods', 'all'] as const) {
      for (const config of configs) {
        const name = `image-rewriter-url-${i++}`;
        const generated = parseYaml(await env.configYaml({ name, scope, ...(config === undefined ? {} : { config }) })) as Configuration;
        // --scope all adds not-deployment-replicaset to the rules' condition.
        const count = (config === undefined ? 0 : 1) + (scope === 'all' ? 1 : 0);
        expect({ name, conditions: (generated.webhooks[0]?.['matchConditions'] as unknown[] | undefined)?.length }).toEqual({ name, conditions: count === 0 ? undefined : count });
        const stored = await dryRunCreate(generated);
        expect({ scope, config, webhooks: stored.webhooks }).toEqual({ scope, config, webhooks: generated.webhooks });
      }
    }

    // The ECR condition's cost, as V3 checks the environment's: as many images as it matches, each
    // as long as it matches, the rewritable one last. Past the budget the API server would skip
    // the webhook (failurePolicy Ignore) and the last image would stay as it is.
    const ns = 'ecr-condition';
    await kubectl.createNamespace(ns);
    const serve = await env.startExtraServe('serve-ecr', { rules: ecr });
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'pods', config: ecr }));
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);
      const count = matchableImages(imageRegex(rewriterFrom(ECR_RULES_YAML).rules) ?? '');
      const upstream = 'quay.io';
      const target = '100000000059.dkr.ecr.eu-west-3.amazonaws.com/team-59';
      const long = (prefix: string, n: number): string => `${prefix}/${'x'.repeat(MATCHED_IMAGE_MAX_LENGTH - prefix.length - 7)}:${String(n).padStart(5, '0')}`;
      const images = Array.from({ length: count }, (_, n) => long(n === count - 1 ? target : upstream, n));
      expect(images.every((image) => image.length === MATCHED_IMAGE_MAX_LENGTH)).toBe(true);
      const manifest = (name: string, all: readonly string[]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: all.map((image, n) => ({ name: `c${n}`, image })) } });
      // As many images, none rewritable: not sent, so the condition matched them all.
      const mark = serve.mark();
      await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(manifest('upstream-images', images.map((_, n) => long(upstream, n)))) });
      await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(manifest('most-images', images)) });
      const stored = await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'most-images']);
      expect(stored.spec.containers.at(-1)?.image).toBe(long(target, count - 1).replace('eu-west-3', 'us-east-1'));
      expect(await serve.waitReviewed(ns, 'most-images')).toMatchObject({ outcome: 'patched', rewrites: 1 });
      expect(serve.lines(mark).some((l) => l['name'] === 'upstream-images')).toBe(false);
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, 'image volumes: as many as the condition of the shortest regex matches stay within the cost budget', async () => {
    // Image volumes cost more than containers (each is turned into {'image': reference}), and the
    // shortest regex lets the condition match the most images: 2,192 of 256 characters for "a:1".
    // The rewritable one last: the webhook must be called. Before 1.35 the API server then drops
    // the volumes (README, Supported Kubernetes versions), so what is checked is serve's review line.
    const ns = 'volume-condition';
    await kubectl.createNamespace(ns);
    const yaml = 'rules:\n  - {name: probe, match: gcr.io/image-rewriter-e2e, replace: asia.gcr.io/image-rewriter-e2e}\n  - {name: a, match: "a:1", replace: mirror.example.com/a}\n';
    const rules = join(env.runDir, 'volume-rules.yaml');
    await writeFile(rules, yaml);
    const serve = await env.startExtraServe('serve-volumes-cost', { rules });
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'pods', config: rules }));
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);
      const count = matchableImages(imageRegex(rewriterFrom(yaml).rules) ?? '');
      const upstream = (n: number): string => `quay.io/${'x'.repeat(MATCHED_IMAGE_MAX_LENGTH - 14)}:${String(n).padStart(5, '0')}`;
      expect(upstream(0).length).toBe(MATCHED_IMAGE_MAX_LENGTH);
      // The container counts among the images matched: count - 1 volumes, and the condition matches them all.
      const manifest = (name: string, last: string) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: { containers: [{ name: 'app', image: upstream(count) }], volumes: Array.from({ length: count - 1 }, (_, n) => ({ name: `v${n}`, image: { reference: n === count - 2 ? last : upstream(n) } })) },
      });
      // Nothing to rewrite: not sent, so the condition did match every image (more would be sent unmatched).
      const mark = serve.mark();
      await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(manifest('upstream-volumes', upstream(count + 1))) });
      // kubectl create -f - of a 700 KB Pod: the API server's limit is 3 MiB.
      const created = await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(manifest('most-volumes', 'a:1/model:1')) });
      expect(created.stderr).toContain(`Warning: image-rewriter: rewrote volumes[v${count - 2}] a:1/model:1 -> mirror.example.com/a/model:1 (rule a)`);
      expect(await serve.waitReviewed(ns, 'most-volumes')).toMatchObject({ outcome: 'patched', rewrites: 1 });
      expect(serve.lines(mark).some((l) => l['name'] === 'upstream-volumes')).toBe(false);
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });
});

describe('webhook-config --scope all: the ReplicaSets a Deployment controls are not sent', () => {
  scenario(env, "a Deployment's ReplicaSets, created, scaled and rolled out by its controller, are not sent; a ReplicaSet no Deployment controls is", async () => {
    // Each was a call answered unchanged (the handler leaves them as their controller made them):
    // 13 of the 22 calls of a rolling update of 8 replicas, before the condition.
    const ns = 'replicaset-condition';
    await kubectl.createNamespace(ns);
    const serve = await env.startExtraServe('serve-replicasets');
    try {
      const yaml = await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'all' });
      expect((parseYaml(yaml) as Configuration).webhooks[0]?.['matchConditions']).toEqual([{ name: 'not-deployment-replicaset', expression: NOT_DEPLOYMENT_REPLICASET_EXPRESSION }]);
      await env.applyWebhookConfig(yaml);
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);
      const mark = serve.mark();
      const workload = (kind: string, name: string, replicas: number) => ({
        apiVersion: 'apps/v1',
        kind,
        metadata: { name },
        spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'gcr.io/nginx:1.27' }] } } },
      });
      const podCount = (n: number) =>
        eventually(`${n} Pods in ${ns}`, { timeoutMs: 90_000 }, async () => {
          const items = (await kubectl.json(list(pod), ['-n', ns, 'get', 'pods', '-l', 'app=web'])).items;
          return items.length >= n ? done(items) : notYet(`${items.length} Pods`);
        });
      await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: JSON.stringify(workload('Deployment', 'web', 1)) });
      await podCount(1);
      await kubectl.ok(['-n', ns, 'scale', 'deployment/web', '--replicas=3']);
      await podCount(3);
      // No kubelet: the new ReplicaSet gets its surge Pod and the rollout waits there.
      await kubectl.ok(['-n', ns, 'rollout', 'restart', 'deployment/web']);
      const pods = await podCount(4);
      // Made from the rewritten template: nothing left to rewrite.
      expect(pods.map((p) => p.spec.containers[0]?.image)).toEqual(pods.map(() => 'asia.gcr.io/nginx:1.27'));
      await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(workload('ReplicaSet', 'bare', 0)) });
      expect(await serve.waitReviewed(ns, 'bare', mark)).toMatchObject({ kind: 'apps/v1/ReplicaSet', outcome: 'patched', rewrites: 1 });
      const reviewed = serve.lines(mark).filter((l) => l.message === 'admission reviewed' && l['namespace'] === ns);
      expect(reviewed.filter((l) => l['kind'] === 'apps/v1/ReplicaSet').map((l) => l['name'])).toEqual(['bare']);
      expect(reviewed.filter((l) => l['kind'] === 'apps/v1/Deployment').length).toBeGreaterThanOrEqual(2);
      const replicaSets = await kubectl.json(list(replicaSet), ['-n', ns, 'get', 'replicasets', '-l', 'app=web']);
      expect(replicaSets.items).toHaveLength(2);
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });
});

describe('webhook-config --opt-in: only namespaces labelled image-rewriter.io/rewrite=true are sent', () => {
  scenario(env, 'a Pod in an unlabelled namespace is stored as created, not sent; one in a namespace labelled image-rewriter.io/rewrite=true is rewritten', async () => {
    const [labelled, unlabelled] = ['opt-in-labelled', 'opt-in-unlabelled'];
    await kubectl.createNamespace(labelled, { 'image-rewriter.io/rewrite': 'true' });
    await kubectl.createNamespace(unlabelled);
    try {
      const yaml = await env.configYaml({ optIn: true });
      expect(yaml).toContain('# Opt in: only namespaces labelled image-rewriter.io/rewrite=true are sent');
      await env.applyWebhookConfig(yaml);
      // The API server has taken the new configuration once a probe in an unlabelled namespace is no longer rewritten.
      await probeUntil(kubectl, unlabelled, 'the API server to stop sending an unlabelled namespace', (p) => (p.image === PROBE_IMAGE ? undefined : `stored image ${p.image}`));
      const mark = env.serve.mark();
      const web = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'web', image: 'gcr.io/nginx:1.27' }] } };
      for (const ns of [unlabelled, labelled]) await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(web) });
      const stored = async (ns: string): Promise<string | undefined> => (await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'web'])).spec.containers[0]?.image;
      expect({ labelled: await stored(labelled), unlabelled: await stored(unlabelled) }).toEqual({ labelled: 'asia.gcr.io/nginx:1.27', unlabelled: 'gcr.io/nginx:1.27' });
      expect(await env.serve.waitReviewed(labelled, 'web', mark)).toMatchObject({ outcome: 'patched', rewrites: 1 });
      // Not sent at all (the namespaceSelector), not answered unchanged.
      expect(env.serve.lines(mark).filter((l) => l['namespace'] === unlabelled)).toEqual([]);
    } finally {
      await env.restoreWebhook();
      await kubectl.run(['delete', 'namespace', labelled, unlabelled, '--wait=false']);
    }
  });
});

/** deploy/serve.yaml's objects, moved to `namespace`. */
async function serveManifests(namespace: string): Promise<{ kind: string; metadata: { name: string; namespace: string }; spec: Record<string, unknown> }[]> {
  const text = await readFile(join(REPO_ROOT, 'deploy', 'serve.yaml'), 'utf8');
  return parseAllDocuments(text).map((d) => {
    const m = d.toJS() as { kind: string; metadata: { name: string; namespace: string }; spec: Record<string, unknown> };
    return { ...m, metadata: { ...m.metadata, namespace } };
  });
}

describe('deploy/serve.yaml against the API server', () => {
  // The API server's PodSecurity admission: `warn` on the workload (the Deployment's template),
  // `enforce` on a Pod made from that template. No kubelet runs here, so the Pods are never started
  // (tests/integration/container-image.integration.ts runs the image's command line).
  scenario(env, 'is accepted as written, and its Pods pass the restricted Pod Security Standard', async () => {
    const ns = 'serve-manifest';
    await kubectl.createNamespace(ns, { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' });
    try {
      const objects = await serveManifests(ns);
      expect(objects.map((o) => o.kind)).toEqual(['ServiceAccount', 'Deployment', 'PodDisruptionBudget', 'Service']);
      for (const o of objects) {
        const created = await kubectl.run(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify(o) });
        expect({ kind: o.kind, code: created.code, stderr: created.stderr }).toEqual({ kind: o.kind, code: 0, stderr: '' });
      }
      const template = objects.find((o) => o.kind === 'Deployment')?.spec['template'] as { metadata: { labels: Record<string, string> }; spec: { containers: Record<string, unknown>[] } & Record<string, unknown> };
      const asPod = (spec: Record<string, unknown>): string => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'serve', namespace: ns, labels: template.metadata.labels }, spec });
      // The template's ServiceAccount must exist for a Pod (not for a dry-run Deployment).
      await kubectl.ok(['create', '-f', '-'], { input: JSON.stringify(objects[0]) });
      const pod = await kubectl.run(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: asPod(template.spec) });
      expect({ code: pod.code, stderr: pod.stderr }).toEqual({ code: 0, stderr: '' });
      // The check can fail: the same Pod with the container's securityContext left out is refused.
      const loose = await kubectl.run(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: asPod({ ...template.spec, containers: template.spec.containers.map((c) => ({ ...c, securityContext: undefined })) }) });
      expect(loose.code).not.toBe(0);
      expect(loose.stderr).toContain('violates PodSecurity "restricted');
    } finally {
      await kubectl.run(['delete', 'namespace', ns, '--wait=false']);
    }
  });
});
