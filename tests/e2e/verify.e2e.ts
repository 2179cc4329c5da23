/**
 * Existence checks, scope and matchConditions behind the real kube-apiserver:
 * - a Pod whose target registry (a real Distribution registry, tests/helpers/registry.ts) lacks
 *   the image keeps its original image, and kubectl prints why;
 * - with `--scope pods` a Deployment is stored as applied while its Pods are rewritten (and
 *   logged by their generateName, all the API server sends of a controller's Pod);
 * - with matchConditions (`webhook-config --config`) an object with no image the rules could
 *   rewrite never reaches `serve` (its log has no line for it), and one with as many images of
 *   the longest length matched as the condition matches, only the last rewritable, does: the
 *   condition's cost stays within the API server's limit;
 * - image volumes (`volumes[].image.reference`): the API server accepts the matchCondition that
 *   reads them and sends a Pod whose only rewritable image is one; it and a Deployment's are rewritten
 *   (from 1.35; an older API server drops the volume after admission, and that is what is checked).
 * - verify on UPDATE: a re-applied Deployment and Job (client-side and server-side apply) whose
 *   target the registry no longer has (its tag deleted, the registry down) are not checked again:
 *   accepted unchanged, no rollout to the upstream image, no "field is immutable"; a new tag is
 *   checked (kept on upstream, or denied with `onMissing: deny`).
 * - after an outage put a verified Deployment back on its upstream image and its target left the
 *   registry, `onMissing: deny` keeps it instead of refusing its updates: a label is accepted, and
 *   a foreground deletion ends (the garbage collector's removal of its finalizer is an UPDATE).
 * Each scenario registers its own configuration and puts the environment's back when done.
 */
import { describe, expect } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { E2eEnvironment, PROBE_NAMESPACE } from './harness/environment.js';
import { deployment, imagesOf, job, list, pod } from './harness/kubectl.js';
import { scenario } from './harness/scenario.js';
import { done, eventually, notYet } from './harness/wait.js';
import { closedPort, RULES_YAML, type ServeInstance, waitUntilRewriting, webhookUrl } from './harness/webhook.js';
import { imageRegex, MATCHED_IMAGE_MAX_LENGTH, matchableImages } from '../../src/core/match-conditions.js';
import { rewriterFrom } from '../helpers/rules.js';
import { startRegistry } from '../helpers/registry.js';
import { createTestPki } from '../helpers/tls.js';

const env = E2eEnvironment.connect();
const { kubectl } = env;

const podJson = (name: string, images: Readonly<Record<string, string>>): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: Object.entries(images).map(([n, image]) => ({ name: n, image })) } });

const workloads = (tag: string, suffix = '') => ({
  deployment: JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `web${suffix}` },
    spec: { replicas: 1, selector: { matchLabels: { app: `web${suffix}` } }, template: { metadata: { labels: { app: `web${suffix}` } }, spec: { containers: [{ name: 'web', image: `team/app:${tag}` }] } } },
  }),
  job: JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `migrate${suffix}` },
    spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: `team/app:${tag}` }] } } },
  }),
});

/** Client-side `kubectl apply`, and `--server-side` (its own objects: README, server-side apply). */
const APPLY_MODES = [
  { suffix: '', flags: [] },
  { suffix: '-ssa', flags: ['--server-side'] },
] as const;

/** The Deployment and the Job of tag 1.0 in each apply mode, with the kubectl flags of that mode. */
function* appliedWorkloads(): Generator<{ kind: 'deployment' | 'job'; name: string; manifest: string; flags: readonly string[] }> {
  for (const { suffix, flags } of APPLY_MODES) {
    const v1 = workloads('1.0', suffix);
    yield { kind: 'deployment', name: `web${suffix}`, manifest: v1.deployment, flags };
    yield { kind: 'job', name: `migrate${suffix}`, manifest: v1.job, flags };
  }
}

/**
 * A Deployment and a Job rewritten to a verified target, then re-applied (client-side and
 * server-side) after the target became unavailable: `deleted` deletes the tag from the registry,
 * `down` also stops the registry. serve is restarted first, so no cached verdict stands in for a check.
 */
async function reapplyUnchecked(ns: string, onMissing: 'keep' | 'deny', unavailable: 'deleted' | 'down'): Promise<void> {
  await kubectl.createNamespace(ns);
  const pki = await createTestPki();
  const registry = await startRegistry({ pki, auth: 'none', deletes: true });
  const rules = join(env.runDir, `${ns}-rules.yaml`);
  await writeFile(
    rules,
    `rules:\n  - name: probe\n    match: gcr.io/image-rewriter-e2e\n    replace: asia.gcr.io/image-rewriter-e2e\n  - name: team-mirror\n    match: docker.io/team\n    replace: ${registry.host}/team\n    verify: true\n    onMissing: ${onMissing}\n`,
  );
  const target = `${registry.host}/team/app:1.0`;
  let serve: ServeInstance | undefined;
  const register = async (name: string): Promise<ServeInstance> => {
    const started = await env.startExtraServe(name, { rules, env: { NODE_EXTRA_CA_CERTS: pki.caFile } });
    serve = started;
    await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(started.port, env.webhook.token), scope: 'all' }));
    await waitUntilRewriting(kubectl, PROBE_NAMESPACE, started);
    return started;
  };
  let registryUp = true;
  try {
    const pushed = await registry.pushImage('team/app', '1.0');
    serve = await register(`${ns}-1`);

    // (1) Created with the target in the registry: rewritten, after a check.
    const generations = new Map<string, number | undefined>();
    for (const { kind, name, manifest, flags } of appliedWorkloads()) {
      const mark = serve.mark();
      await kubectl.ok(['-n', ns, 'apply', ...flags, '-f', '-'], { input: manifest });
      expect(await serve.waitReviewed(ns, name, mark, 'CREATE')).toMatchObject({ outcome: 'patched', rewrites: 1, verifyChecks: 1, verifyMissing: 0, verifyErrors: 0 });
      const stored = await kubectl.json(kind === 'job' ? job : deployment, ['-n', ns, 'get', kind, name]);
      expect(Object.values(imagesOf(stored.spec.template.spec))).toEqual([target]);
      generations.set(name, stored.metadata.generation);
    }

    // (2) The target becomes unavailable; a new serve has no cached verdict.
    await registry.deleteImage('team/app', pushed.digest);
    if (unavailable === 'down') {
      await registry.stop();
      registryUp = false;
    }
    await env.stopServe(serve);
    serve = undefined;
    serve = await register(`${ns}-2`);

    // (3) The same manifests again: accepted as they are, unchecked; no rollout, the Job unchanged.
    for (const { kind, name, manifest, flags } of appliedWorkloads()) {
      const mark = serve.mark();
      const result = await kubectl.ok(['-n', ns, 'apply', ...flags, '-f', '-'], { input: manifest });
      expect(result.stderr).not.toContain('unchanged (rule team-mirror)');
      const line = await serve.waitReviewed(ns, name, mark, 'UPDATE');
      expect(line).toMatchObject({ outcome: 'patched', rewrites: 1 });
      expect(line['verifyChecks'] ?? 0).toBe(0);
      expect(line['withheld'] ?? 0).toBe(0);
      const stored = await kubectl.json(kind === 'job' ? job : deployment, ['-n', ns, 'get', kind, name]);
      expect(Object.values(imagesOf(stored.spec.template.spec))).toEqual([target]);
      expect(stored.metadata.generation).toBe(generations.get(name));
    }

    // (4) A new tag is a new image: checked, and its target missing (or the registry down) it
    // stays upstream, or is denied.
    const mark = serve.mark();
    const v2 = workloads('2.0');
    const web = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']);
    if (onMissing === 'deny' && unavailable === 'deleted') {
      const refused = await kubectl.run(['-n', ns, 'apply', '-f', '-'], { input: v2.deployment });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('image-rewriter denied the request');
      expect(refused.stderr).toContain('team/app:2.0');
      const after = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']);
      expect(after.metadata.generation).toBe(web.metadata.generation);
      expect(imagesOf(after.spec.template.spec)).toEqual({ 'containers/web': target });
    } else {
      const kept = await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: v2.deployment });
      expect(kept.stderr).toContain('left containers[web] team/app:2.0 unchanged (rule team-mirror)');
      const after = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']);
      expect(imagesOf(after.spec.template.spec)).toEqual({ 'containers/web': 'team/app:2.0' });
    }
    const checked = await serve.waitReviewed(ns, 'web', mark, 'UPDATE');
    expect(checked).toMatchObject({
      outcome: onMissing === 'deny' && unavailable === 'deleted' ? 'denied' : 'patched',
      rewrites: 0,
      withheld: 1,
      verifyChecks: 1,
      ...(unavailable === 'deleted' ? { verifyMissing: 1, verifyErrors: 0 } : { verifyMissing: 0, verifyErrors: 1 }),
    });
  } finally {
    await env.restoreWebhook();
    if (serve !== undefined) await env.stopServe(serve);
    if (registryUp) await registry.stop();
    await pki.remove();
  }
}

describe('existence checks, scope and matchConditions', () => {
  scenario(env, 'V1. verify: a Pod whose target lacks the image keeps it, and kubectl prints why', async () => {
    const ns = 'verify';
    await kubectl.createNamespace(ns);
    const pki = await createTestPki();
    const registry = await startRegistry({ pki, auth: 'none' });
    const rules = join(env.runDir, 'verify-rules.yaml');
    await writeFile(
      rules,
      `rules:\n  - name: probe\n    match: gcr.io/image-rewriter-e2e\n    replace: asia.gcr.io/image-rewriter-e2e\n  - name: team-mirror\n    match: docker.io/team\n    replace: ${registry.host}/team\n    verify: true\n`,
    );
    const serve = await env.startExtraServe('serve-verify', { rules, env: { NODE_EXTRA_CA_CERTS: pki.caFile } });
    try {
      await registry.pushImage('team/present', '1.0');
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'pods' }));
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);

      const result = await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: podJson('mixed', { present: 'team/present:1.0', absent: 'team/absent:1.0' }) });
      const stored = await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'mixed']);
      expect(imagesOf(stored.spec)).toEqual({ 'containers/present': `${registry.host}/team/present:1.0`, 'containers/absent': 'team/absent:1.0' });
      expect(result.stderr).toMatch(new RegExp(`Warning: image-rewriter: left containers\\[absent\\] team/absent:1\\.0 unchanged \\(rule team-mirror\\): not found in 127\\.0\\.0\\.1:${registry.port}`));
      expect(await serve.waitReviewed(ns, 'mixed')).toMatchObject({ outcome: 'patched', rewrites: 1, withheld: 1, verifyChecks: 2, verifyMissing: 1, verifyErrors: 0 });
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
      await registry.stop();
      await pki.remove();
    }
  });

  scenario(env, 'V2. --scope pods: a Deployment is stored as applied, its Pods are rewritten', async () => {
    const ns = 'scope-pods';
    await kubectl.createNamespace(ns);
    try {
      await env.applyWebhookConfig(await env.configYaml({ scope: 'pods' }));
      const manifest = (name: string): string =>
        JSON.stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name },
          spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'gcr.io/nginx:1.27' }] } } },
        });
      // The API server picks up the new configuration within moments: try until a Deployment is stored as applied.
      const name = await eventually('a Deployment stored as applied (scope pods in effect)', { timeoutMs: 60_000 }, async () => {
        const candidate = `web-${Date.now().toString(36)}`;
        await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: manifest(candidate) });
        const stored = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', candidate]);
        if (imagesOf(stored.spec.template.spec)['containers/web'] === 'gcr.io/nginx:1.27') return done(candidate);
        await kubectl.ok(['-n', ns, 'delete', 'deployment', candidate, '--wait=false']);
        return notYet('the template was rewritten (scope all still in effect)');
      });
      const pods = await eventually(`the Pod of ${name}`, { timeoutMs: 90_000 }, async () => {
        const found = await kubectl.json(list(pod), ['-n', ns, 'get', 'pods', '-l', `app=${name}`]);
        return found.items.length > 0 ? done(found.items) : notYet('no Pod yet');
      });
      expect(imagesOf(pods[0]?.spec ?? { containers: [] })).toEqual({ 'containers/web': 'asia.gcr.io/nginx:1.27' });
      // The API server sends the ReplicaSet's Pod with a generateName only (it names the Pod after
      // admission): its review line names it by that prefix, the one clue to its workload.
      const generateName = pods[0]?.metadata.generateName ?? '';
      expect(generateName).toMatch(new RegExp(`^${name}-[a-z0-9]+-$`));
      expect(await env.serve.waitReviewed(ns, generateName)).toMatchObject({ operation: 'CREATE', outcome: 'patched', rewrites: 1 });
      const stored = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', name]);
      expect(imagesOf(stored.spec.template.spec)).toEqual({ 'containers/web': 'gcr.io/nginx:1.27' });
    } finally {
      await env.restoreWebhook();
    }
  });

  scenario(env, 'V3. matchConditions: an object with no image the rules could rewrite never reaches serve; one with as many long images as the condition matches does', async () => {
    const ns = 'match-conditions';
    await kubectl.createNamespace(ns);
    const serve = await env.startExtraServe('serve-match');
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'pods', config: env.webhook.files.rules }));
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);
      const mark = serve.mark();
      await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: podJson('quay-only', { app: 'quay.io/prometheus/node-exporter:v1.8.0' }) });
      await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: podJson('from-gcr', { app: 'gcr.io/nginx:1.27' }) });
      await eventually('serve to review from-gcr', { timeoutMs: 30_000 }, () => Promise.resolve(serve.reviewed(ns, 'from-gcr', mark) === undefined ? notYet('no line yet') : done(true)));
      expect(serve.reviewed(ns, 'quay-only', mark)).toBeUndefined();
      expect(serve.lines(mark).some((l) => l['name'] === 'quay-only')).toBe(false);
      const stored = await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'quay-only']);
      expect(imagesOf(stored.spec)).toEqual({ 'containers/app': 'quay.io/prometheus/node-exporter:v1.8.0' });
      // The condition's cost: as many images as it matches, each as long as it matches (256), the
      // rewritable one last, so every one is matched. Past the API server's cost limit the
      // condition would fail and the API server skip the webhook (failurePolicy Ignore) silently;
      // this holds the cost model of src/core/match-conditions.ts to the real cel-go.
      const most = matchableImages(imageRegex(rewriterFrom(RULES_YAML).rules) ?? '');
      const long = (host: string, i: number): string => `${host}/${'x'.repeat(MATCHED_IMAGE_MAX_LENGTH - host.length - 7)}:${String(i).padStart(5, '0')}`;
      const images = Object.fromEntries(Array.from({ length: most }, (_, i) => [`c${i}`, long(i === most - 1 ? 'gcr.io' : 'quay.io', i)]));
      expect(Object.values(images).every((i) => i.length === MATCHED_IMAGE_MAX_LENGTH)).toBe(true);
      await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: podJson('most-images', images) });
      const costly = await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'most-images']);
      expect(costly.spec.containers.at(-1)?.image).toBe(`asia.${long('gcr.io', most - 1)}`);
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, 'V4. image volumes: rewritten in a Pod (sent by the matchCondition for its image volume alone) and in a Deployment', async () => {
    const ns = 'image-volumes';
    await kubectl.createNamespace(ns);
    const serve = await env.startExtraServe('serve-volumes');
    const spec = (volume: string) => ({
      containers: [{ name: 'app', image: 'quay.io/prometheus/node-exporter:v1.8.0', volumeMounts: [{ name: 'model', mountPath: '/models' }] }],
      volumes: [{ name: 'scratch', emptyDir: {} }, { name: 'model', image: { reference: volume, pullPolicy: 'IfNotPresent' } }],
    });
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'all', config: env.webhook.files.rules }));
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);
      const created = await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'inference' }, spec: spec('gcr.io/models/llm:1') }) });
      expect(created.stderr).toContain('Warning: image-rewriter: rewrote volumes[model] gcr.io/models/llm:1 -> asia.gcr.io/models/llm:1 (rule gcr)');
      const stored = await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'inference']);
      if (!env.imageVolumes) {
        // Before 1.35 (ImageVolume off by default) the API server drops the image volume and its
        // mount after admission: the Pod is stored without them (README, Supported Kubernetes versions).
        const names = await kubectl.ok(['-n', ns, 'get', 'pod', 'inference', '-o', 'jsonpath={.spec.volumes[*].name} / {.spec.containers[0].volumeMounts[*].name}']);
        expect({ images: imagesOf(stored.spec), model: names.stdout.includes('model') }).toEqual({ images: { 'containers/app': 'quay.io/prometheus/node-exporter:v1.8.0' }, model: false });
        expect(names.stdout).toMatch(/^scratch /);
        return;
      }
      expect(imagesOf(stored.spec)).toEqual({ 'containers/app': 'quay.io/prometheus/node-exporter:v1.8.0', 'volumes/model': 'asia.gcr.io/models/llm:1' });
      expect(stored.metadata.annotations?.['image-rewriter.io/original-images']).toBe('{"volumes/model":"gcr.io/models/llm:1"}');
      expect(await serve.waitReviewed(ns, 'inference')).toMatchObject({ outcome: 'patched', rewrites: 1, rewritten: [{ volume: 'model', from: 'gcr.io/models/llm:1', to: 'asia.gcr.io/models/llm:1', rule: 'gcr' }] });

      const manifest = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'inference' },
        spec: { replicas: 1, selector: { matchLabels: { app: 'inference' } }, template: { metadata: { labels: { app: 'inference' } }, spec: spec('nginx:1.27') } },
      };
      await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(manifest) });
      const workload = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'inference']);
      expect(imagesOf(workload.spec.template.spec)['volumes/model']).toBe('mirror.example.com/hub/library/nginx:1.27');
      expect(workload.metadata.annotations?.['image-rewriter.io/original-images']).toBe('{"volumes/model":"nginx:1.27"}');
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, 'V5. verify on UPDATE: a re-applied Deployment and Job whose tag was deleted from the registry stay on it, unchecked', () =>
    reapplyUnchecked('verify-reapply', 'keep', 'deleted'));

  scenario(env, 'V6. verify on UPDATE, onMissing deny: re-applied with the registry down and with the tag deleted, accepted unchecked; a new tag denied (kept upstream while the registry is down)', async () => {
    await reapplyUnchecked('verify-reapply-down', 'deny', 'down');
    await reapplyUnchecked('verify-reapply-deny', 'deny', 'deleted');
  });

  scenario(env, 'V7. verify after an outage, onMissing deny: a Deployment a sync put back upstream whose target has left the registry is kept on updates, not denied; its foreground deletion ends', async () => {
    const ns = 'verify-outage-deny';
    await kubectl.createNamespace(ns);
    const pki = await createTestPki();
    const registry = await startRegistry({ pki, auth: 'none', deletes: true });
    const rules = join(env.runDir, `${ns}-rules.yaml`);
    await writeFile(rules, `rules:\n  - name: probe\n    match: gcr.io/image-rewriter-e2e\n    replace: asia.gcr.io/image-rewriter-e2e\n  - name: team-mirror\n    match: docker.io/team\n    replace: ${registry.host}/team\n    verify: true\n    onMissing: deny\n`);
    const manifest = workloads('1.0').deployment;
    const flux = ['apply', '--server-side', '--field-manager=kustomize-controller', '--force-conflicts', '-f', '-'];
    const image = async (): Promise<string | undefined> => (await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec.containers[0]?.image;
    let serve: ServeInstance | undefined;
    const register = async (name: string): Promise<void> => {
      serve = await env.startExtraServe(name, { rules, env: { NODE_EXTRA_CA_CERTS: pki.caFile } });
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'all' }));
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);
    };
    try {
      const pushed = await registry.pushImage('team/app', '1.0');
      await register(`${ns}-1`);
      await kubectl.ok(['-n', ns, ...flux], { input: manifest });
      expect(await image()).toBe(`${registry.host}/team/app:1.0`);
      // The outage: a sync writes git's image; the annotation stays.
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(await closedPort(), env.webhook.token), scope: 'all' }));
      await eventually('the API server fails open', { timeoutMs: 60_000 }, async () => {
        await kubectl.ok(['-n', ns, ...flux], { input: manifest });
        const now = await image();
        return now === 'team/app:1.0' ? done(now) : notYet(String(now));
      });
      // The tag leaves the mirror; the webhook is back (a new serve: no cached verdict).
      await registry.deleteImage('team/app', pushed.digest);
      if (serve !== undefined) await env.stopServe(serve);
      serve = undefined;
      await register(`${ns}-2`);
      const labelled = await kubectl.run(['-n', ns, 'label', 'deployment', 'web', 'team=a']);
      expect([labelled.code, labelled.stderr]).toEqual([0, expect.stringContaining('left containers[web] team/app:1.0 unchanged (rule team-mirror)')]);
      expect(await image()).toBe('team/app:1.0');
      await kubectl.ok(['-n', ns, 'delete', 'deployment', 'web', '--cascade=foreground', '--timeout=60s']);
      const gone = await kubectl.run(['-n', ns, 'get', 'deployment', 'web']);
      expect(gone.stderr).toContain('NotFound');
    } finally {
      await env.restoreWebhook();
      if (serve !== undefined) await env.stopServe(serve);
      await registry.stop();
      await pki.remove();
    }
  });
});
