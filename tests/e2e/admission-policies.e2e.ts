/**
 * The webhook beside MutatingAdmissionPolicies (MAP, admissionregistration.k8s.io/v1 from
 * Kubernetes 1.36), against the real kube-apiserver: README, "Beside MutatingAdmissionPolicies".
 * The API server applies every MAP before it calls the webhooks, reinvokes each (MAP or webhook)
 * at most once, and evaluates ValidatingAdmissionPolicies after all of them. Each policy here is
 * bound to its scenario's namespace only. Before 1.36 (the older minor of the suite, 1.32) the API
 * server serves no MAP unless given a feature gate, and the one scenario says so.
 *
 * The rules served (harness/webhook.ts RULES_YAML): gcr.io -> asia.gcr.io, docker.io ->
 * mirror.example.com/hub, docker.io/library/busybox excluded.
 */
import { describe, expect } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { E2eEnvironment, PROBE_NAMESPACE } from './harness/environment.js';
import { type Pod, deployment, imagesOf, parseJson, pod } from './harness/kubectl.js';
import { scenario } from './harness/scenario.js';
import { done, eventually, notYet } from './harness/wait.js';
import { waitUntilRewriting, webhookUrl } from './harness/webhook.js';

const ORIGINAL_IMAGES = 'image-rewriter.io/original-images';
const GROUP = 'admissionregistration.k8s.io/v1';

const env = E2eEnvironment.connect();
const { kubectl } = env;

const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('Warning: '));
const rewrote = (field: string, from: string, to: string, rule: string): string => `Warning: image-rewriter: rewrote ${field} ${from} -> ${to} (rule ${rule})`;
const originals = (annotations: Readonly<Record<string, string>> | undefined): unknown => JSON.parse(annotations?.[ORIGINAL_IMAGES] ?? 'null');

/** A MutatingAdmissionPolicy and its binding to the namespace `ns` only. */
function policy(name: string, ns: string, spec: Record<string, unknown>): string {
  const binding = { apiVersion: GROUP, kind: 'MutatingAdmissionPolicyBinding', metadata: { name }, spec: { policyName: name, matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } } };
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: GROUP, kind: 'MutatingAdmissionPolicy', metadata: { name }, spec }, binding] });
}

const podRules = (operations: readonly string[]) => ({ resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations, resources: ['pods'] }] });

/**
 * Until a server-side dry run of `manifest` in `ns` satisfies `effective`, given the Pod and its
 * JSON text (the API server takes a new policy into effect within a second or so).
 */
function untilEffective(ns: string, manifest: Record<string, unknown>, effective: (created: Pod, json: string) => boolean): Promise<void> {
  return eventually(`the policies of ${ns} in effect`, { timeoutMs: 60_000 }, async () => {
    const { stdout } = await kubectl.ok(['-n', ns, 'create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(manifest) });
    const created = parseJson(pod, stdout, 'kubectl create --dry-run=server');
    return effective(created, stdout) ? done(undefined) : notYet(JSON.stringify(imagesOf(created.spec)));
  });
}

const podManifest = (name: string, containers: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>> = {}): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { containers: Object.entries(containers).map(([n, image]) => ({ name: n, image })) },
});

/** A MAP that adds the container `log` (gcr.io/e2e/log:1) once (its condition), or names it with that image at every call; on CREATE and UPDATE. */
const sidecar = (reinvocationPolicy: string, condition: boolean): Record<string, unknown> => ({
  matchConstraints: podRules(['CREATE', 'UPDATE']),
  ...(condition ? { matchConditions: [{ name: 'no-log', expression: "!object.spec.containers.exists(c, c.name == 'log')" }] } : {}),
  failurePolicy: 'Fail',
  reinvocationPolicy,
  mutations: [{ patchType: 'ApplyConfiguration', applyConfiguration: { expression: 'Object{spec: Object.spec{containers: [Object.spec.containers{name: "log", image: "gcr.io/e2e/log:1"}]}}' } }],
});

async function deletePolicies(...names: string[]): Promise<void> {
  for (const name of names) await kubectl.run(['delete', 'mutatingadmissionpolicybinding,mutatingadmissionpolicy', name, '--ignore-not-found']);
}

describe('beside MutatingAdmissionPolicies', () => {
  if (env.kubernetes.minor < 36) {
    scenario(env, 'P0. before 1.36 the API server serves no MutatingAdmissionPolicy by default', async () => {
      const resources = await kubectl.ok(['api-resources', '--api-group=admissionregistration.k8s.io', '-o', 'name']);
      expect(resources.stdout).toContain('validatingadmissionpolicies');
      expect(resources.stdout).not.toContain('mutatingadmissionpolicies');
    });
    return;
  }

  scenario(env, 'P1. a sidecar a MAP adds is rewritten in the first call; a MAP that puts it back (IfNeeded) gets it rewritten again, and a ValidatingAdmissionPolicy sees the result', async () => {
    const [once, always] = ['policies-once', 'policies-always'];
    await Promise.all([kubectl.createNamespace(once), kubectl.createNamespace(always)]);
    // README's ValidatingAdmissionPolicy, its ECR prefix replaced by the environment's Docker Hub mirror, bound to `always`.
    const readme = await readFile(join(env.root, 'README.md'), 'utf8');
    const block = readme.split('\n### Opt-out, and why this is not a policy boundary\n')[1]?.split('```yaml\n')[1]?.split('```')[0] ?? '';
    const [validating, validatingBinding] = parseAllDocuments(block.replaceAll('123456789012.dkr.ecr.us-west-2.amazonaws.com/', 'mirror.example.com/')).map((d) => d.toJS() as Record<string, unknown>);
    if (validating === undefined || validatingBinding === undefined) throw new Error("README's ValidatingAdmissionPolicy example is not two documents");
    (validatingBinding['spec'] as Record<string, unknown>)['matchResources'] = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': always } } };
    try {
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-sidecar-once', once, sidecar('Never', true)) });
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-sidecar-always', always, sidecar('IfNeeded', false)) });
      for (const ns of [once, always]) await untilEffective(ns, podManifest('probe', { app: 'quay.io/e2e/app:1' }, { 'image-rewriter.io/skip': 'true' }), (p) => p.spec.containers.length === 2);
      await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [validating, validatingBinding] }) });
      await eventually('the validating policy in effect', { timeoutMs: 60_000 }, async () => {
        const r = await kubectl.run(['-n', always, 'run', 'probe', '--image=quay.io/e2e/app:1', '--dry-run=server']);
        return r.code !== 0 ? done(undefined) : notYet('admitted');
      });
      const expected = { 'containers/web': 'mirror.example.com/hub/library/nginx:1.27', 'containers/log': 'asia.gcr.io/e2e/log:1' };
      const expectedOriginals = { 'containers/web': 'nginx:1.27', 'containers/log': 'gcr.io/e2e/log:1' };
      const expectedWarnings = [rewrote('containers[web]', 'nginx:1.27', expected['containers/web'], 'hub'), rewrote('containers[log]', 'gcr.io/e2e/log:1', expected['containers/log'], 'gcr')];

      for (const ns of [once, always]) {
        const mark = env.serve.mark();
        const created = await kubectl.ok(['-n', ns, 'run', 'web', '--image=nginx:1.27']);
        // The MAP ran first: the webhook's first call had the sidecar (the API server keeps one copy of a repeated warning).
        expect(warnings(created.stderr)).toEqual(expectedWarnings);
        const stored = await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'web']);
        expect({ images: imagesOf(stored.spec), originals: originals(stored.metadata.annotations) }).toEqual({ images: expected, originals: expectedOriginals });
        // Two calls either way. Never: the API server runs its own plugins again after the webhook's
        // change, and the ServiceAccount plugin mounts the token into the MAP's container (it ran
        // before the MAP), so the webhook is called again, and changes nothing. IfNeeded: the MAP
        // also put gcr.io/e2e/log:1 back, and the second call rewrote it again.
        const calls = ns === once ? [2, 0] : [2, 1];
        const reviews = await eventually(`${calls.length} review(s) of ${ns}/web`, { timeoutMs: 10_000 }, () => {
          const lines = env.serve.lines(mark).filter((l) => l.message === 'admission reviewed' && l['namespace'] === ns && l['name'] === 'web');
          return Promise.resolve(lines.length >= calls.length ? done(lines) : notYet(`${lines.length} line(s)`));
        });
        expect(reviews.map((l) => l['rewrites'])).toEqual(calls);
      }

      // An UPDATE that changes no image: the IfNeeded MAP names its upstream image again, and the
      // webhook returns it to the stored rewrite (a warning, no change).
      const labelled = await kubectl.ok(['-n', always, 'label', 'pod/web', 'team=payments']);
      expect(warnings(labelled.stderr)).toEqual([expectedWarnings[1]]);
      const after = await kubectl.json(pod, ['-n', always, 'get', 'pod', 'web']);
      expect({ images: imagesOf(after.spec), originals: originals(after.metadata.annotations) }).toEqual({ images: expected, originals: expectedOriginals });

      // Opted out: the webhook is not called, and the validating policy refuses the MAP's upstream sidecar.
      const refused = await kubectl.run(['-n', always, 'run', 'skipped', '--image=mirror.example.com/hub/library/nginx:1.27', '--labels=image-rewriter.io/skip=true']);
      expect({ code: refused.code, refused: refused.stderr.includes('images must come from the approved registries') }).toEqual({ code: 1, refused: true });
    } finally {
      await deletePolicies('e2e-sidecar-once', 'e2e-sidecar-always');
      await kubectl.run(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'images-from-approved-registries', '--ignore-not-found']);
    }
  });

  scenario(env, 'P2. a MAP adding an init container at a Deployment UPDATE (JSONPatch): rewritten, and the next updates change nothing', async () => {
    const ns = 'policies-update';
    await kubectl.createNamespace(ns);
    const spec = {
      matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['deployments'] }] },
      matchConditions: [{ name: 'asked', expression: "has(object.metadata.labels) && 'inject' in object.metadata.labels && !has(object.spec.template.spec.initContainers)" }],
      failurePolicy: 'Fail',
      reinvocationPolicy: 'Never',
      mutations: [{ patchType: 'JSONPatch', jsonPatch: { expression: '[JSONPatch{op: "add", path: "/spec/template/spec/initContainers", value: [Object.spec.template.spec.initContainers{name: "init", image: "gcr.io/e2e/init:1"}]}]' } }],
    };
    try {
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-init', ns, spec) });
      await kubectl.ok(['-n', ns, 'create', 'deployment', 'web', '--image=gcr.io/e2e/web:1']);
      const labelled = await eventually('the MAP in effect', { timeoutMs: 60_000 }, async () => {
        const r = await kubectl.ok(['-n', ns, 'label', '--overwrite', 'deployment/web', `inject=${Date.now()}`]);
        return warnings(r.stderr).length > 0 ? done(r) : notYet('no init container added');
      });
      expect(warnings(labelled.stderr)).toEqual([rewrote('initContainers[init]', 'gcr.io/e2e/init:1', 'asia.gcr.io/e2e/init:1', 'gcr')]);
      const stored = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']);
      expect({ images: imagesOf(stored.spec.template.spec), originals: originals(stored.metadata.annotations) }).toEqual({
        images: { 'initContainers/init': 'asia.gcr.io/e2e/init:1', 'containers/web': 'asia.gcr.io/e2e/web:1' },
        originals: { 'initContainers/init': 'gcr.io/e2e/init:1', 'containers/web': 'gcr.io/e2e/web:1' },
      });
      for (const team of ['a', 'b']) {
        const r = await kubectl.ok(['-n', ns, 'label', '--overwrite', 'deployment/web', `team=${team}`]);
        expect(warnings(r.stderr)).toEqual([]);
      }
      expect((await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web'])).metadata.generation).toBe(stored.metadata.generation);
    } finally {
      await deletePolicies('e2e-init');
    }
  });

  scenario(env, 'P3. a MAP acting on the rewritten image (a pull secret for the mirror) runs again only with IfNeeded and the test in its mutation', async () => {
    const namespaces = { never: 'policies-secret-never', condition: 'policies-secret-condition', mutation: 'policies-secret-mutation' } as const;
    await Promise.all(Object.values(namespaces).map((ns) => kubectl.createNamespace(ns)));
    const onMirror = "object.spec.containers.exists(c, c.image.startsWith('asia.gcr.io/'))";
    const secret = (reinvocationPolicy: string, inCondition: boolean): Record<string, unknown> => ({
      matchConstraints: podRules(['CREATE']),
      ...(inCondition ? { matchConditions: [{ name: 'on-mirror', expression: onMirror }] } : {}),
      failurePolicy: 'Fail',
      reinvocationPolicy,
      mutations: [
        {
          patchType: 'JSONPatch',
          jsonPatch: { expression: `(${inCondition ? 'true' : onMirror}) && !has(object.spec.imagePullSecrets) ? [JSONPatch{op: "add", path: "/spec/imagePullSecrets", value: [Object.spec.imagePullSecrets{name: "mirror-pull"}]}] : []` },
        },
      ],
    });
    try {
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-secret-never', namespaces.never, secret('Never', false)) });
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-secret-condition', namespaces.condition, secret('IfNeeded', true)) });
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-secret-mutation', namespaces.mutation, secret('IfNeeded', false)) });
      // In effect: each adds the secret to a Pod created with the mirror's image.
      for (const ns of Object.values(namespaces)) await untilEffective(ns, podManifest('probe', { app: 'asia.gcr.io/e2e/app:1' }), (_, json) => json.includes('mirror-pull'));
      const secrets: Record<string, unknown> = {};
      for (const [kind, ns] of Object.entries(namespaces)) {
        await kubectl.ok(['-n', ns, 'run', 'web', '--image=gcr.io/e2e/web:1']);
        const { stdout } = await kubectl.ok(['-n', ns, 'get', 'pod', 'web', '-o', 'json']);
        expect(imagesOf(parseJson(pod, stdout, 'kubectl get pod').spec)).toEqual({ 'containers/web': 'asia.gcr.io/e2e/web:1' });
        secrets[kind] = (JSON.parse(stdout) as { spec: { imagePullSecrets?: unknown } }).spec.imagePullSecrets ?? null;
      }
      expect(secrets).toEqual({ never: null, condition: null, mutation: [{ name: 'mirror-pull' }] });
    } finally {
      await deletePolicies('e2e-secret-never', 'e2e-secret-condition', 'e2e-secret-mutation');
    }
  });

  scenario(env, "P4. README's MAP for a fixed prefix map: what it rewrites and what it leaves; beside the webhook, the webhook rewrites and records only the rest", async () => {
    const [alone, beside] = ['policies-map-alone', 'policies-map-beside'];
    await Promise.all([kubectl.createNamespace(alone, { 'image-rewriter.io/skip': 'true' }), kubectl.createNamespace(beside)]);
    const readme = await readFile(join(env.root, 'README.md'), 'utf8');
    const block = readme.split('\n### Beside MutatingAdmissionPolicies\n')[1]?.split('```yaml\n')[1]?.split('```')[0] ?? '';
    const [map, binding] = parseAllDocuments(block).map((d) => d.toJS() as Record<string, unknown>);
    if (map === undefined || binding === undefined) throw new Error("README's MutatingAdmissionPolicy example is not two documents");
    (binding['spec'] as Record<string, unknown>)['matchResources'] = { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [alone, beside] }] } };
    const digest = 'sha256:4c1e997385b8fb4ad4d1d3c7e5af7ff3f882e94d07cf5b78de9e889bc60830e6';
    const manifest = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web' },
      spec: {
        initContainers: [{ name: 'init', image: 'gcr.io/e2e/init:1' }],
        containers: [
          { name: 'full', image: 'docker.io/library/nginx:1.27' },
          { name: 'short', image: 'nginx:1.27' },
          { name: 'pinned', image: `gcr.io/e2e/app@${digest}` },
          { name: 'lookalike', image: 'gcr.io.evil.example/e2e/x:1' },
          { name: 'upper', image: 'GCR.IO/e2e/x:1' },
        ],
      },
    };
    const mapped = { 'initContainers/init': 'asia.gcr.io/e2e/init:1', 'containers/full': 'mirror.example.com/hub/library/nginx:1.27', 'containers/pinned': `asia.gcr.io/e2e/app@${digest}`, 'containers/lookalike': 'gcr.io.evil.example/e2e/x:1' };
    try {
      await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [map, binding] }) });
      await untilEffective(alone, podManifest('probe', { app: 'gcr.io/e2e/app:1' }), (p) => p.spec.containers[0]?.image === 'asia.gcr.io/e2e/app:1');

      // Alone (the namespace opted out of the webhook): prefixes only.
      await kubectl.ok(['-n', alone, 'create', '-f', '-'], { input: JSON.stringify(manifest) });
      const bare = await kubectl.json(pod, ['-n', alone, 'get', 'pod', 'web']);
      expect({ images: imagesOf(bare.spec), originals: originals(bare.metadata.annotations) }).toEqual({ images: { ...mapped, 'containers/short': 'nginx:1.27', 'containers/upper': 'GCR.IO/e2e/x:1' }, originals: null });

      // Beside the webhook: the MAP ran first; the webhook rewrites and records what it left.
      const created = await kubectl.ok(['-n', beside, 'create', '-f', '-'], { input: JSON.stringify(manifest) });
      expect(warnings(created.stderr)).toEqual([rewrote('containers[short]', 'nginx:1.27', 'mirror.example.com/hub/library/nginx:1.27', 'hub'), rewrote('containers[upper]', 'GCR.IO/e2e/x:1', 'asia.gcr.io/e2e/x:1', 'gcr')]);
      const both = await kubectl.json(pod, ['-n', beside, 'get', 'pod', 'web']);
      expect({ images: imagesOf(both.spec), originals: originals(both.metadata.annotations) }).toEqual({
        images: { ...mapped, 'containers/short': 'mirror.example.com/hub/library/nginx:1.27', 'containers/upper': 'asia.gcr.io/e2e/x:1' },
        originals: { 'containers/short': 'nginx:1.27', 'containers/upper': 'GCR.IO/e2e/x:1' },
      });

      // An UPDATE (CREATE only in the MAP): a new upstream image stays, where the webhook rewrites it.
      for (const ns of [alone, beside]) await kubectl.ok(['-n', ns, 'set', 'image', 'pod/web', 'full=docker.io/library/nginx:1.28']);
      const [aloneImage, besideImage] = await Promise.all([alone, beside].map(async (ns) => imagesOf((await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'web'])).spec)['containers/full']));
      expect({ alone: aloneImage, beside: besideImage }).toEqual({ alone: 'docker.io/library/nginx:1.28', beside: 'mirror.example.com/hub/library/nginx:1.28' });
    } finally {
      await deletePolicies('mirror-prefixes');
    }
  });

  scenario(env, 'P5. webhook-config --config: its condition sees the object after the MAPs, so the sidecar a MAP adds to a Pod of other images is sent and rewritten', async () => {
    const [ns, other] = ['policies-condition', 'policies-condition-none'];
    await Promise.all([kubectl.createNamespace(ns), kubectl.createNamespace(other)]);
    // A serve of its own: its log shows what the configuration with the condition sends.
    const serve = await env.startExtraServe('serve-map-condition');
    try {
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-sidecar-condition', ns, sidecar('Never', true)) });
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'pods', config: env.webhook.files.rules }));
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);
      await untilEffective(ns, podManifest('probe', { app: 'quay.io/e2e/app:1' }, { 'image-rewriter.io/skip': 'true' }), (p) => p.spec.containers.length === 2);
      const mark = serve.mark();
      // No MAP there: no image a rule could rewrite, not sent.
      await kubectl.ok(['-n', other, 'run', 'web', '--image=quay.io/e2e/app:1']);
      const created = await kubectl.ok(['-n', ns, 'run', 'web', '--image=quay.io/e2e/app:1']);
      expect(warnings(created.stderr)).toEqual([rewrote('containers[log]', 'gcr.io/e2e/log:1', 'asia.gcr.io/e2e/log:1', 'gcr')]);
      const stored = await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'web']);
      expect({ images: imagesOf(stored.spec), originals: originals(stored.metadata.annotations) }).toEqual({
        images: { 'containers/web': 'quay.io/e2e/app:1', 'containers/log': 'asia.gcr.io/e2e/log:1' },
        originals: { 'containers/log': 'gcr.io/e2e/log:1' },
      });
      expect(await serve.waitReviewed(ns, 'web', mark)).toMatchObject({ outcome: 'patched', rewrites: 1 });
      expect(serve.reviewed(other, 'web', mark)).toBeUndefined();
    } finally {
      await deletePolicies('e2e-sidecar-condition');
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, "P6. a MAP (IfNeeded) that rewrites the webhook's result to an image no rule matches wins; the warning and the annotation say what the webhook did", async () => {
    const ns = 'policies-redirect';
    await kubectl.createNamespace(ns);
    const spec = {
      matchConstraints: podRules(['CREATE', 'UPDATE']),
      failurePolicy: 'Fail',
      reinvocationPolicy: 'IfNeeded',
      mutations: [
        {
          patchType: 'ApplyConfiguration',
          applyConfiguration: { expression: "Object{spec: Object.spec{containers: object.spec.containers.filter(c, c.image.startsWith('asia.gcr.io/')).map(c, Object.spec.containers{name: c.name, image: 'eu.gcr.io/' + c.image.substring(12)})}}" },
        },
      ],
    };
    try {
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-redirect', ns, spec) });
      await untilEffective(ns, podManifest('probe', { app: 'asia.gcr.io/e2e/app:1' }), (p) => p.spec.containers[0]?.image === 'eu.gcr.io/e2e/app:1');
      const mark = env.serve.mark();
      const created = await kubectl.ok(['-n', ns, 'run', 'web', '--image=gcr.io/e2e/web:1']);
      expect(warnings(created.stderr)).toEqual([rewrote('containers[web]', 'gcr.io/e2e/web:1', 'asia.gcr.io/e2e/web:1', 'gcr')]);
      const stored = await kubectl.json(pod, ['-n', ns, 'get', 'pod', 'web']);
      expect({ images: imagesOf(stored.spec), originals: originals(stored.metadata.annotations) }).toEqual({ images: { 'containers/web': 'eu.gcr.io/e2e/web:1' }, originals: { 'containers/web': 'gcr.io/e2e/web:1' } });
      // The MAP ran again after the webhook's change, and the webhook, called again, found nothing to rewrite.
      const reviews = await eventually('2 reviews of web', { timeoutMs: 10_000 }, () => {
        const lines = env.serve.lines(mark).filter((l) => l.message === 'admission reviewed' && l['namespace'] === ns && l['name'] === 'web');
        return Promise.resolve(lines.length >= 2 ? done(lines) : notYet(`${lines.length} line(s)`));
      });
      expect(reviews.map((l) => l['rewrites'])).toEqual([1, 0]);
    } finally {
      await deletePolicies('e2e-redirect');
    }
  });

  scenario(env, 'P7. a MAP (IfNeeded) naming its sidecar and upstream image at every call: each re-apply of the Deployment changes nothing, and the API server refuses the second audit annotation', async () => {
    const ns = 'policies-reapply';
    await kubectl.createNamespace(ns);
    const spec = {
      matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] }] },
      failurePolicy: 'Fail',
      reinvocationPolicy: 'IfNeeded',
      mutations: [
        {
          patchType: 'ApplyConfiguration',
          applyConfiguration: { expression: 'Object{spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{containers: [Object.spec.template.spec.containers{name: "log", image: "gcr.io/e2e/log:1"}]}}}}' },
        },
      ],
    };
    const manifest = JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'gcr.io/e2e/web:1' }] } } },
    });
    try {
      await kubectl.ok(['apply', '-f', '-'], { input: policy('e2e-reapply', ns, spec) });
      await eventually('the MAP in effect', { timeoutMs: 60_000 }, async () => {
        const created = await kubectl.json(deployment, ['-n', ns, 'create', '--dry-run=server', '-f', '-'], { input: manifest });
        return created.spec.template.spec.containers.length === 2 ? done(undefined) : notYet('no sidecar');
      });
      await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: manifest });
      const stored = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']);
      const expected = {
        images: { 'containers/web': 'asia.gcr.io/e2e/web:1', 'containers/log': 'asia.gcr.io/e2e/log:1' },
        originals: { 'containers/web': 'gcr.io/e2e/web:1', 'containers/log': 'gcr.io/e2e/log:1' },
      };
      expect({ images: imagesOf(stored.spec.template.spec), originals: originals(stored.metadata.annotations) }).toEqual(expected);
      // The re-apply: the first call puts both images back to the stored rewrites (the annotation
      // stays as stored), the MAP puts its image back again, and the second call, which cannot tell
      // it is one (docs/design.md, "The admission answer"), writes a shorter `rewrites` list: the
      // API server keeps the first and logs the refusal. Nothing else is lost.
      const mark = env.apiserverLog.mark();
      const applied = await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: manifest });
      expect(warnings(applied.stderr)).toEqual([rewrote('containers[web]', 'gcr.io/e2e/web:1', 'asia.gcr.io/e2e/web:1', 'gcr'), rewrote('containers[log]', 'gcr.io/e2e/log:1', 'asia.gcr.io/e2e/log:1', 'gcr')]);
      const after = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']);
      expect({ images: imagesOf(after.spec.template.spec), originals: originals(after.metadata.annotations), generation: after.metadata.generation }).toEqual({ ...expected, generation: stored.metadata.generation });
      const refused = await eventually('the refusal in the API server log', { timeoutMs: 10_000 }, () => {
        const lines = env.apiserverLog.text(mark).split('\n').filter((l) => l.includes('Failed to set admission audit annotation'));
        return Promise.resolve(lines.length > 0 ? done(lines) : notYet('no line'));
      });
      expect(refused).toHaveLength(1);
      expect(refused[0]).toContain('image-rewriter.image-rewriter.io/rewrites to [{"container":"containers/log"');
    } finally {
      await deletePolicies('e2e-reapply');
    }
  });
});
