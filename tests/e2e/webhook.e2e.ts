/**
 * The webhook against a real kube-apiserver: every scenario does what a user does with
 * kubectl and reads the result back from the API server. The environment (etcd, kube-apiserver,
 * kube-controller-manager, `image-rewriter serve`, the registered configuration) is started once
 * by globalSetup (harness/environment.ts); scenarios that change the configuration or kill the
 * webhook put it back before they end.
 *
 * The rules served (harness/webhook.ts RULES_YAML): gcr.io -> asia.gcr.io (the original demo),
 * docker.io -> mirror.example.com/hub, registry.local:5000 -> registry.mirror.example.com:5443/internal,
 * docker.io/library/busybox excluded.
 */
import { describe, expect } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { E2eEnvironment, PROBE_NAMESPACE } from './harness/environment.js';
import { type Pod, cronJob, deployment, imagesOf, job, list, objectMeta, parseJson, pod, podSpec, replicaSet, webhookConfiguration } from './harness/kubectl.js';
import { isAlive } from './harness/processes.js';
import { scenario } from './harness/scenario.js';
import { done, eventually, notYet } from './harness/wait.js';
import { closedPort, type LogLine, type ServeInstance, newToken, probeUntil, waitUntilRewriting, webhookUrl } from './harness/webhook.js';

const ORIGINAL_IMAGES = 'image-rewriter.io/original-images';
const SKIP = 'image-rewriter.io/skip';
/** The webhook's name in the configuration (the API server's log lines name it). */
const WEBHOOK_NAME = 'image-rewriter.image-rewriter.io';
const DIGEST = 'sha256:4c1e997385b8fb4ad4d1d3c7e5af7ff3f882e94d07cf5b78de9e889bc60830e6';

const env = E2eEnvironment.connect();
const { kubectl } = env;

interface PodOptions {
  readonly initContainers?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

const containers = (images: Readonly<Record<string, string>>) => Object.entries(images).map(([name, image]) => ({ name, image }));

/** A Pod manifest (JSON, which kubectl reads as YAML) with containers `{ name: image }`. */
function podManifest(name: string, images: Readonly<Record<string, string>>, options: PodOptions = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: options.labels ?? {}, annotations: options.annotations ?? {} },
    spec: {
      ...(options.initContainers === undefined ? {} : { initContainers: containers(options.initContainers) }),
      containers: containers(images),
    },
  });
}

/** `kubectl -n NS create -f -`: the Pod is admitted (whatever the webhook does). */
async function createPod(namespace: string, manifest: string): Promise<void> {
  await kubectl.ok(['-n', namespace, 'create', '-f', '-'], { input: manifest });
}

/** What the API server stored. */
function getPod(namespace: string, name: string): Promise<Pod> {
  return kubectl.json(pod, ['-n', namespace, 'get', 'pod', name]);
}

/** Wait until `count` Pods match the selector (the controllers create them); bounded. */
function waitForPods(namespace: string, selector: string, count = 1): Promise<Pod[]> {
  return eventually(`${count} Pod(s) ${selector} in ${namespace}`, { timeoutMs: 90_000 }, async () => {
    const pods = await kubectl.json(list(pod), ['-n', namespace, 'get', 'pods', '-l', selector]);
    return pods.items.length >= count ? done(pods.items) : notYet(`${pods.items.length} Pod(s)`);
  });
}

const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('Warning: '));

/**
 * The API server's counters of this webhook's calls (`kubectl get --raw /metrics`): each series of
 * `metric` whose labels name WEBHOOK_NAME, by its labels as written (`code="503",name=...`).
 */
async function webhookCounters(metric: string): Promise<Map<string, number>> {
  const text = (await kubectl.ok(['get', '--raw', '/metrics'])).stdout;
  const counters = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] === metric && m[2]?.includes(`name="${WEBHOOK_NAME}"`) === true) counters.set(m[2], Number(m[3]));
  }
  return counters;
}

/** The series of `after` that grew since `before`, and by how much. */
const grown = (before: Map<string, number>, after: Map<string, number>): Record<string, number> =>
  Object.fromEntries([...after].filter(([labels, value]) => value > (before.get(labels) ?? 0)).map(([labels, value]) => [labels, value - (before.get(labels) ?? 0)]));

/** An EMF document of serve (its metrics, on stderr between the log lines): the fields the scenarios read. */
const emfDocument = z.looseObject({
  _aws: z.object({
    CloudWatchMetrics: z.array(z.object({ Namespace: z.string(), Dimensions: z.array(z.array(z.string())), Metrics: z.array(z.object({ Name: z.string(), Unit: z.string() })) })),
  }),
});

/**
 * The "admission reviewed" line of `uid` in serve's log since `mark`, and the EMF document of the
 * same invocation: the handler flushes its metrics once, after the review's line, and a worker
 * writes both in one batch of whole lines, so it is the next document in the log (the document has
 * no `worker` or `uid` to match it by); another review's line between the two would make that
 * ambiguous, and fails. Waits for both: serve writes them after its answer.
 */
function reviewAndMetrics(serve: ServeInstance, mark: number, namespace: string, name: string): Promise<{ line: LogLine; metrics: z.infer<typeof emfDocument> }> {
  return eventually(`the review line of ${namespace}/${name} and its EMF document`, { timeoutMs: 10_000 }, () => {
    const texts = serve.text(mark).split('\n');
    const parsed = texts.map((t): unknown => {
      try {
        return JSON.parse(t);
      } catch {
        return undefined; // a partial last line
      }
    });
    const isReview = (v: unknown): v is LogLine => typeof v === 'object' && v !== null && (v as LogLine).message === 'admission reviewed';
    const at = parsed.findIndex((v) => isReview(v) && v['namespace'] === namespace && v['name'] === name);
    const line = parsed[at];
    if (!isReview(line)) return Promise.resolve(notYet('no review line yet'));
    for (const v of parsed.slice(at + 1)) {
      if (isReview(v)) throw new Error(`another review line (${String(v['namespace'])}/${String(v['name'])}) came before the EMF document of ${namespace}/${name}`);
      const metrics = emfDocument.safeParse(v);
      if (metrics.success) return Promise.resolve(done({ line, metrics: metrics.data }));
    }
    return Promise.resolve(notYet('a review line, no EMF document after it yet'));
  });
}

/**
 * Until a Pod dry run in `ns` comes back with gcr.io/e2e/probe:1 as `target`/e2e/probe:1: the
 * configuration (then the rules file) of a scenario's own serve is in effect.
 */
function untilRewritesTo(ns: string, target: string): Promise<void> {
  return eventually(`rewrites to ${target}`, { timeoutMs: 60_000 }, async () => {
    const created = await kubectl.json(pod, ['-n', ns, 'create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: podManifest(`wait-${Date.now()}`, { c: 'gcr.io/e2e/probe:1' }) });
    const image = created.spec.containers[0]?.image ?? '';
    return image === `${target}/e2e/probe:1` ? done(undefined) : notYet(image);
  });
}

describe('image-rewriter behind a real kube-apiserver', () => {
  scenario(env, '1. demo: kubectl apply -f nginx-gcr.yaml, its Pod runs asia.gcr.io/nginx', async () => {
    const ns = 'demo';
    await kubectl.createNamespace(ns);
    const manifestFile = join(env.root, 'nginx-gcr.yaml');
    const manifest = deployment.parse(parseYaml(await readFile(manifestFile, 'utf8')));
    expect(imagesOf(manifest.spec.template.spec)).toEqual({ 'containers/nginx': 'gcr.io/nginx' });

    const applied = await kubectl.ok(['-n', ns, 'apply', '-f', manifestFile]);
    expect(applied.stdout.trim()).toBe('deployment.apps/nginx-gcr-deployment created');

    const [created] = await waitForPods(ns, 'app=nginx-gcr');
    expect(created?.spec.containers.map((c) => c.image)).toEqual(['asia.gcr.io/nginx']);
    // The command of the original demo's README (and of nginx-gcr.yaml's header).
    const shown = await kubectl.ok(['-n', ns, 'get', 'pods', '-l', 'app=nginx-gcr', '-o', 'jsonpath={.items[0].spec.containers[0].image}']);
    expect(shown.stdout).toBe('asia.gcr.io/nginx');
  });

  scenario(env, '2. one Pod: Docker Hub short names, initContainers, digests, an exclusion, a port', async () => {
    const ns = 'images';
    await kubectl.createNamespace(ns);
    await createPod(
      ns,
      podManifest(
        'many-images',
        {
          short: 'nginx',
          tagged: 'redis:7.2',
          org: 'bitnami/kubectl:1.30',
          digest: `gcr.io/distroless/static@${DIGEST}`,
          'tag-and-digest': `nginx:1.27@${DIGEST}`,
          port: 'registry.local:5000/team/app:2.1',
          excluded: 'docker.io/library/busybox:1.36',
          untouched: 'quay.io/prometheus/node-exporter:v1.8.2',
        },
        { initContainers: { 'init-excluded': 'busybox:1.36', 'init-gcr': 'gcr.io/google-containers/pause:3.9' } },
      ),
    );
    const stored = await getPod(ns, 'many-images');
    expect(imagesOf(stored.spec)).toEqual({
      'initContainers/init-excluded': 'busybox:1.36',
      'initContainers/init-gcr': 'asia.gcr.io/google-containers/pause:3.9',
      'containers/short': 'mirror.example.com/hub/library/nginx',
      'containers/tagged': 'mirror.example.com/hub/library/redis:7.2',
      'containers/org': 'mirror.example.com/hub/bitnami/kubectl:1.30',
      'containers/digest': `asia.gcr.io/distroless/static@${DIGEST}`,
      'containers/tag-and-digest': `mirror.example.com/hub/library/nginx:1.27@${DIGEST}`,
      'containers/port': 'registry.mirror.example.com:5443/internal/team/app:2.1',
      'containers/excluded': 'docker.io/library/busybox:1.36',
      'containers/untouched': 'quay.io/prometheus/node-exporter:v1.8.2',
    });
    // The originals of exactly the rewritten images, on the object.
    expect(JSON.parse(stored.metadata.annotations?.[ORIGINAL_IMAGES] ?? '{}')).toEqual({
      'initContainers/init-gcr': 'gcr.io/google-containers/pause:3.9',
      'containers/short': 'nginx',
      'containers/tagged': 'redis:7.2',
      'containers/org': 'bitnami/kubectl:1.30',
      'containers/digest': `gcr.io/distroless/static@${DIGEST}`,
      'containers/tag-and-digest': `nginx:1.27@${DIGEST}`,
      'containers/port': 'registry.local:5000/team/app:2.1',
    });
  });

  scenario(env, '3. a configuration offering only v1beta1 AdmissionReview', async () => {
    const ns = 'v1beta1';
    await kubectl.createNamespace(ns);
    // A second server, so that "the new configuration is in effect" is observable: only it logs the probes.
    const beta = await env.startExtraServe('serve-v1beta1');
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(beta.port, env.webhook.token), admissionReviewVersions: ['v1beta1'] }));
      const registered = await kubectl.json(webhookConfiguration, ['get', 'mutatingwebhookconfiguration', 'image-rewriter']);
      expect(registered.webhooks.map((w) => [w.name, w.admissionReviewVersions])).toEqual([[WEBHOOK_NAME, ['v1beta1']]]);
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, beta);

      const [mainMark, betaMark] = [env.serve.mark(), beta.mark()];
      await createPod(ns, podManifest('beta', { web: 'gcr.io/nginx:1.27' }));
      expect(imagesOf((await getPod(ns, 'beta')).spec)).toEqual({ 'containers/web': 'asia.gcr.io/nginx:1.27' });
      // A v1 answer to a v1beta1 request would be an error, and the Pod admitted unchanged (fail open).
      expect(await beta.waitReviewed(ns, 'beta', betaMark)).toMatchObject({ operation: 'CREATE', outcome: 'patched', rewrites: 1 });
      expect(env.serve.reviewed(ns, 'beta', mainMark)).toBeUndefined();
    } finally {
      await env.restoreWebhook();
      await env.stopServe(beta);
    }
  });

  scenario(env, '4. kubectl debug: an ephemeral container added through the subresource is rewritten', async () => {
    const ns = 'debug';
    await kubectl.createNamespace(ns);
    await createPod(ns, podManifest('target', { app: 'quay.io/e2e/app:1' }));
    const mark = env.serve.mark();

    const debugged = await kubectl.ok(['-n', ns, 'debug', 'target', '--image=gcr.io/e2e/debug-tools:1.0', '-c', 'debugger']);
    expect(warnings(debugged.stderr)).toEqual(['Warning: image-rewriter: rewrote ephemeralContainers[debugger] gcr.io/e2e/debug-tools:1.0 -> asia.gcr.io/e2e/debug-tools:1.0 (rule gcr)']);

    const stored = await getPod(ns, 'target');
    expect(imagesOf(stored.spec)).toEqual({ 'containers/app': 'quay.io/e2e/app:1', 'ephemeralContainers/debugger': 'asia.gcr.io/e2e/debug-tools:1.0' });
    const update = await eventually('the UPDATE review line', { timeoutMs: 10_000 }, () => {
      const line = env.serve.reviewed(ns, 'target', mark, 'UPDATE');
      return Promise.resolve(line === undefined ? notYet('no line yet') : done(line));
    });
    expect(update).toMatchObject({ operation: 'UPDATE', outcome: 'patched', rewrites: 1 });
    // The subresource cannot change metadata: no annotation is attempted.
    expect(stored.metadata.annotations?.[ORIGINAL_IMAGES]).toBeUndefined();
  });

  scenario(env, "5. each rewrite is an admission warning on kubectl's stderr", async () => {
    const ns = 'warnings';
    await kubectl.createNamespace(ns);
    const applied = await kubectl.ok(['-n', ns, 'apply', '-f', '-'], {
      input: podManifest('warned', { web: 'gcr.io/nginx:1.27', sidecar: 'nginx:1.27', untouched: 'quay.io/e2e/app:1' }),
    });
    expect(applied.stdout.trim()).toBe('pod/warned created');
    expect(warnings(applied.stderr)).toEqual([
      'Warning: image-rewriter: rewrote containers[web] gcr.io/nginx:1.27 -> asia.gcr.io/nginx:1.27 (rule gcr)',
      'Warning: image-rewriter: rewrote containers[sidecar] nginx:1.27 -> mirror.example.com/hub/library/nginx:1.27 (rule hub)',
    ]);
  });

  scenario(env, '5b. many long rewrites: kubectl shows the warning that counts the ones left out', async () => {
    // The API server keeps 4096 characters of warnings per response and drops the rest: 30
    // warnings of about 170 characters lost the last one, which says how many were not shown.
    const ns = 'many-warnings';
    await kubectl.createNamespace(ns);
    const images = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`c${i}`, `gcr.io/some-long-project-name-here/team/service-${i}:v1.2.3-build.12345`]));
    const created = await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: podManifest('many', images) });
    const shown = warnings(created.stderr);
    const rewrites = shown.filter((w) => w.startsWith('Warning: image-rewriter: rewrote containers['));
    expect(rewrites.length).toBeGreaterThan(10);
    expect(shown).toEqual([...rewrites, `Warning: image-rewriter: ${40 - rewrites.length} more warnings not shown (see the ${ORIGINAL_IMAGES} annotation)`]);
    expect(Object.keys(JSON.parse((await getPod(ns, 'many')).metadata.annotations?.[ORIGINAL_IMAGES] ?? '{}') as object)).toHaveLength(40);
  });

  scenario(env, '6. server-side dry-run returns the rewritten object and persists nothing', async () => {
    const ns = 'dry-run';
    await kubectl.createNamespace(ns);
    const mark = env.serve.mark();
    const result = await kubectl.ok(['-n', ns, 'create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: podManifest('dry', { web: 'gcr.io/nginx' }) });
    const returned = parseJson(pod, result.stdout, 'kubectl create --dry-run=server');
    expect(imagesOf(returned.spec)).toEqual({ 'containers/web': 'asia.gcr.io/nginx' });
    expect(returned.metadata.annotations?.[ORIGINAL_IMAGES]).toBe('{"containers/web":"gcr.io/nginx"}');
    expect(warnings(result.stderr)).toEqual(['Warning: image-rewriter: rewrote containers[web] gcr.io/nginx -> asia.gcr.io/nginx (rule gcr)']);
    expect(await env.serve.waitReviewed(ns, 'dry', mark)).toMatchObject({ outcome: 'patched' });

    const get = await kubectl.run(['-n', ns, 'get', 'pod', 'dry']);
    expect(get.code).toBe(1);
    expect(get.stderr).toContain('NotFound');
    expect((await kubectl.json(list(pod), ['-n', ns, 'get', 'pods'])).items).toEqual([]);
  });

  scenario(env, '6b. kubectl apply --dry-run=server: rewritten, nothing stored, logged with dryRun and counted as dryrun; the real apply is not', async () => {
    const ns = 'apply-dry-run';
    await kubectl.createNamespace(ns);
    // The API server sends a dry run only to webhooks declaring no side effects (None or NoneOnDryRun);
    // others make it refuse the request.
    const sideEffects = await kubectl.ok(['get', 'mutatingwebhookconfiguration', 'image-rewriter', '-o', 'jsonpath={.webhooks[*].sideEffects}']);
    expect(sideEffects.stdout).toBe('None');
    const manifest = podManifest('applied', { web: 'gcr.io/nginx:1.27' });
    const warned = ['Warning: image-rewriter: rewrote containers[web] gcr.io/nginx:1.27 -> asia.gcr.io/nginx:1.27 (rule gcr)'];

    const dryMark = env.serve.mark();
    const dry = await kubectl.ok(['-n', ns, 'apply', '--dry-run=server', '-o', 'yaml', '-f', '-'], { input: manifest });
    const returned = pod.parse(parseYaml(dry.stdout));
    expect(imagesOf(returned.spec)).toEqual({ 'containers/web': 'asia.gcr.io/nginx:1.27' });
    expect(returned.metadata.annotations?.[ORIGINAL_IMAGES]).toBe('{"containers/web":"gcr.io/nginx:1.27"}');
    expect(warnings(dry.stderr)).toEqual(warned);
    const get = await kubectl.run(['-n', ns, 'get', 'pod', 'applied']);
    expect({ code: get.code, notFound: get.stderr.includes('NotFound') }).toEqual({ code: 1, notFound: true });
    expect((await kubectl.json(list(pod), ['-n', ns, 'get', 'pods'])).items).toEqual([]);

    // The answer's outcome on the line, with dryRun; no rule slots; counted under dryrun without Rewrites.
    const dryReview = await reviewAndMetrics(env.serve, dryMark, ns, 'applied');
    expect(dryReview.line).toMatchObject({ operation: 'CREATE', outcome: 'patched', dryRun: true, rewrites: 1, rewritten: [{ container: 'web', from: 'gcr.io/nginx:1.27', to: 'asia.gcr.io/nginx:1.27', rule: 'gcr' }] });
    expect(dryReview.line['rule1']).toBeUndefined();
    expect(dryReview.metrics).toMatchObject({ service: 'image-rewriter', Outcome: 'dryrun', Reviews: 1 });
    expect(dryReview.metrics['Rewrites']).toBeUndefined();
    expect(dryReview.metrics._aws.CloudWatchMetrics).toEqual([{ Namespace: 'ImageRewriter', Dimensions: [['service', 'Outcome']], Metrics: [{ Name: 'Reviews', Unit: 'Count' }] }]);

    // The same apply for real: stored rewritten, a line without dryRun, counted as patched with its Rewrites.
    const mark = env.serve.mark();
    const applied = await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: manifest });
    expect(applied.stdout.trim()).toBe('pod/applied created');
    expect(warnings(applied.stderr)).toEqual(warned);
    const stored = await getPod(ns, 'applied');
    expect(imagesOf(stored.spec)).toEqual({ 'containers/web': 'asia.gcr.io/nginx:1.27' });
    const review = await reviewAndMetrics(env.serve, mark, ns, 'applied');
    expect(review.line).toMatchObject({ operation: 'CREATE', outcome: 'patched', rewrites: 1, rule1: 'gcr', rule1Rewrites: 1 });
    expect(review.line).not.toHaveProperty('dryRun');
    expect(review.metrics).toMatchObject({ service: 'image-rewriter', Outcome: 'patched', Reviews: 1, Rewrites: 1 });
  });

  scenario(env, '7. opt-out: a labelled object, kube-system and a labelled namespace are left untouched', async () => {
    const ns = 'opt-out';
    const skippedNs = 'opted-out';
    await kubectl.createNamespace(ns);
    await kubectl.createNamespace(skippedNs, { [SKIP]: 'true' });
    await kubectl.waitForServiceAccount('kube-system');
    const image = { web: 'gcr.io/nginx' };
    const mark = env.serve.mark();

    await createPod(ns, podManifest('labelled', image, { labels: { [SKIP]: 'true' } }));
    await createPod(ns, podManifest('annotated', image, { annotations: { [SKIP]: 'true' } }));
    await createPod(skippedNs, podManifest('in-skipped-namespace', image));
    await createPod('kube-system', podManifest('e2e-in-kube-system', image));
    await createPod(ns, podManifest('control', image));
    try {
      for (const [namespace, name] of [[ns, 'labelled'], [ns, 'annotated'], [skippedNs, 'in-skipped-namespace'], ['kube-system', 'e2e-in-kube-system']] as const) {
        const stored = await getPod(namespace, name);
        expect({ name, images: imagesOf(stored.spec), original: stored.metadata.annotations?.[ORIGINAL_IMAGES] }).toEqual({ name, images: { 'containers/web': 'gcr.io/nginx' }, original: undefined });
      }
      // The selectors keep these from the webhook altogether; the annotation is honoured by the handler.
      expect(env.serve.reviewed(ns, 'labelled', mark)).toBeUndefined();
      expect(env.serve.reviewed(skippedNs, 'in-skipped-namespace', mark)).toBeUndefined();
      expect(env.serve.reviewed('kube-system', 'e2e-in-kube-system', mark)).toBeUndefined();
      expect(await env.serve.waitReviewed(ns, 'annotated', mark)).toMatchObject({ outcome: 'skipped', skipped: 'opt-out' });
      // The same Pod without an opt-out, in the same namespace, is rewritten.
      expect(imagesOf((await getPod(ns, 'control')).spec)).toEqual({ 'containers/web': 'asia.gcr.io/nginx' });
    } finally {
      await kubectl.ok(['-n', 'kube-system', 'delete', 'pod', 'e2e-in-kube-system', '--wait=false']);
    }
  });

  scenario(env, '8. webhook killed: Pods admitted unchanged (fail open); restarted: rewriting resumes', async () => {
    const ns = 'fail-open';
    await kubectl.createNamespace(ns);
    const apiserverPid = env.apiserverPid;
    const killed = env.serve;
    const apiMark = env.apiserverLog.mark();
    await env.stopServe(killed, 'SIGKILL');
    try {
      expect(killed.running()).toBe(false);

      const [requestsBefore, failOpenBefore] = [await webhookCounters('apiserver_admission_webhook_request_total'), await webhookCounters('apiserver_admission_webhook_fail_open_count')];
      await createPod(ns, podManifest('while-down', { web: 'gcr.io/nginx' }));
      const down = await getPod(ns, 'while-down');
      expect(imagesOf(down.spec)).toEqual({ 'containers/web': 'gcr.io/nginx' });
      expect(down.metadata.annotations?.[ORIGINAL_IMAGES]).toBeUndefined();
      const failedOpen = env.apiserverLog.text(apiMark).split('\n').filter((l) => l.includes(`failing open ${WEBHOOK_NAME}`));
      expect(failedOpen.length).toBeGreaterThan(0);
      expect(failedOpen.join('\n')).toContain('connection refused');
      // README, Troubleshooting: the API server counts a call that got no answer with code 503 from
      // 1.34, 400 (its BadRequest, as for a webhook's own 400) before; fail_open_count either way.
      const requests = grown(requestsBefore, await webhookCounters('apiserver_admission_webhook_request_total'));
      const code = env.kubernetes.minor >= 34 ? '503' : '400';
      expect(Object.keys(requests)).not.toEqual([]);
      expect(Object.keys(requests).filter((labels) => !labels.includes(`code="${code}"`) || !labels.includes('rejected="false"'))).toEqual([]);
      expect(Object.keys(grown(failOpenBefore, await webhookCounters('apiserver_admission_webhook_fail_open_count')))).toEqual([`name="${WEBHOOK_NAME}",type="admit"`]);

      const restarted = await env.restartServe();
      expect(restarted.port).toBe(killed.port);
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, restarted);
      const mark = restarted.mark();
      await createPod(ns, podManifest('after-restart', { web: 'gcr.io/nginx' }));
      expect(imagesOf((await getPod(ns, 'after-restart')).spec)).toEqual({ 'containers/web': 'asia.gcr.io/nginx' });
      expect(await restarted.waitReviewed(ns, 'after-restart', mark)).toMatchObject({ outcome: 'patched' });
      // The same API server process all along.
      expect(env.apiserverPid).toBe(apiserverPid);
      expect(isAlive(apiserverPid)).toBe(true);
    } finally {
      // Whatever failed above, the next scenarios get a running webhook.
      if (!env.serve.running()) {
        await env.restartServe();
        await waitUntilRewriting(kubectl, PROBE_NAMESPACE, env.serve);
      }
    }
  });

  scenario(env, "9. workload templates: the Deployment's own template is rewritten and the rollout does not loop", async () => {
    const ns = 'workloads';
    await kubectl.createNamespace(ns);
    const labels = { app: 'web' };
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', labels },
          spec: {
            replicas: 2,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: { initContainers: containers({ setup: 'alpine:3.20' }), containers: containers({ web: 'gcr.io/nginx:1.27' }) },
            },
          },
        },
        {
          apiVersion: 'batch/v1',
          kind: 'CronJob',
          metadata: { name: 'nightly' },
          spec: {
            schedule: '0 3 * * *',
            jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: containers({ job: 'gcr.io/e2e/batch:2' }) } } } },
          },
        },
      ],
    });
    const expected = { 'initContainers/setup': 'mirror.example.com/hub/library/alpine:3.20', 'containers/web': 'asia.gcr.io/nginx:1.27' };
    const applied = await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: manifest });
    expect(applied.stdout.trim().split('\n')).toEqual(['deployment.apps/web created', 'cronjob.batch/nightly created']);

    const stored = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']);
    expect(imagesOf(stored.spec.template.spec)).toEqual(expected);
    expect(JSON.parse(stored.metadata.annotations?.[ORIGINAL_IMAGES] ?? '{}')).toEqual({ 'initContainers/setup': 'alpine:3.20', 'containers/web': 'gcr.io/nginx:1.27' });
    // Nothing in the template records the rewrite (a template change would be a new rollout).
    expect(stored.spec.template.metadata?.annotations?.[ORIGINAL_IMAGES]).toBeUndefined();
    const cron = await kubectl.json(cronJob, ['-n', ns, 'get', 'cronjob', 'nightly']);
    expect(imagesOf(cron.spec.jobTemplate.spec.template.spec)).toEqual({ 'containers/job': 'asia.gcr.io/e2e/batch:2' });

    const pods = await waitForPods(ns, 'app=web', 2);
    for (const p of pods) {
      expect(imagesOf(p.spec)).toEqual(expected);
      expect(p.metadata.annotations?.[ORIGINAL_IMAGES]).toBeUndefined();
    }
    await eventually('the Deployment status to observe generation 1', { timeoutMs: 60_000 }, async () => {
      const d = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']);
      return d.status?.observedGeneration === d.metadata.generation ? done(undefined) : notYet(`observedGeneration ${d.status?.observedGeneration ?? 'unset'}`);
    });
    // Applying the same manifest again sends the original images; they are rewritten again to what is stored.
    await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: manifest });

    // Watch for a bounded while: one ReplicaSet, generation 1, observed, nothing moving.
    const samples: string[] = [];
    const windowMs = 5000;
    const windowStart = performance.now();
    while (performance.now() - windowStart < windowMs) {
      const [d, rs] = await Promise.all([
        kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web']),
        kubectl.json(list(replicaSet), ['-n', ns, 'get', 'replicasets', '-l', 'app=web']),
      ]);
      samples.push(`generation=${d.metadata.generation ?? '?'} observed=${d.status?.observedGeneration ?? '?'} replicasets=${rs.items.map((r) => r.metadata.name).join(',')}`);
      for (const r of rs.items) expect(imagesOf(r.spec.template.spec)).toEqual(expected);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const [first] = await kubectl.json(list(replicaSet), ['-n', ns, 'get', 'replicasets', '-l', 'app=web']).then((rs) => rs.items.map((r) => r.metadata.name));
    expect(new Set(samples)).toEqual(new Set([`generation=1 observed=1 replicasets=${first ?? '?'}`]));
  });

  scenario(env, '10. a wrong token in the webhook URL: refused with 401 and logged, the Pod admitted unchanged', async () => {
    const ns = 'wrong-token';
    await kubectl.createNamespace(ns);
    const serve = env.serve;
    const wrong = newToken();
    const configMark = serve.mark();
    await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, wrong) }));
    try {
      await probeUntil(kubectl, PROBE_NAMESPACE, 'the API server to call the webhook with the wrong token', (p) => {
        if (p.rewritten) return 'rewritten: the previous configuration is still in effect';
        return serve.lines(configMark).some((l) => l.message === 'request rejected' && l['status'] === 401) ? undefined : 'not rewritten, but no 401 logged yet';
      });

      const [mark, apiMark] = [serve.mark(), env.apiserverLog.mark()];
      await createPod(ns, podManifest('refused', { web: 'gcr.io/nginx' }));
      const stored = await getPod(ns, 'refused');
      expect(imagesOf(stored.spec)).toEqual({ 'containers/web': 'gcr.io/nginx' });
      expect(stored.metadata.annotations?.[ORIGINAL_IMAGES]).toBeUndefined();

      const lines = serve.lines(mark);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'WARN', message: 'request rejected', status: 401, reason: 'wrong or missing webhook token', sourceIp: '127.0.0.1' }));
      expect(lines).toContainEqual(expect.objectContaining({ message: 'request', method: 'POST', resource: '/mutate/{token}', status: 401 }));
      expect(lines.filter((l) => l.message === 'admission reviewed')).toEqual([]);
      // Neither token is ever logged.
      expect(serve.text(configMark)).not.toContain(wrong);
      expect(serve.text(configMark)).not.toContain(env.webhook.token);
      // The API server failed open, and says why.
      const failedOpen = env.apiserverLog.text(apiMark).split('\n').filter((l) => l.includes(`failing open ${WEBHOOK_NAME}`));
      expect(failedOpen.length).toBeGreaterThan(0);
      expect(failedOpen.join('\n')).toContain('the server has asked for the client to provide credentials');
    } finally {
      await env.restoreWebhook();
    }
  });

  scenario(env, '10b. a token rotation without a gap: serve holds NEW,OLD; Pods are rewritten with the old URL and then the new one', async () => {
    const ns = 'token-rotation';
    await kubectl.createNamespace(ns);
    const old = env.webhook.token;
    const next = newToken();
    const pair = join(env.runDir, 'webhook', 'token-rotation');
    await writeFile(pair, `${next},${old}\n`);
    const serve = await env.startExtraServe('serve-token-rotation', { tokenFile: pair });
    try {
      for (const [token, previousToken] of [[old, true], [next, undefined]] as const) {
        await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, token) }));
        await waitUntilRewriting(kubectl, PROBE_NAMESPACE, serve);
        const mark = serve.mark();
        const name = previousToken === true ? 'with-old-url' : 'with-new-url';
        await createPod(ns, podManifest(name, { web: 'gcr.io/nginx' }));
        expect(imagesOf((await getPod(ns, name)).spec)).toEqual({ 'containers/web': 'asia.gcr.io/nginx' });
        expect((await serve.waitReviewed(ns, name, mark))['previousToken']).toBe(previousToken);
      }
      // No call was refused while the configuration moved from the old URL to the new one.
      expect(serve.lines(0).filter((l) => l.message === 'request rejected')).toEqual([]);
      expect(serve.lines(0).find((l) => l.message === 'configuration')).toMatchObject({ token: '--token-file', tokens: 2 });
      expect(serve.text(0)).not.toContain(old);
      expect(serve.text(0)).not.toContain(next);
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, '11. a Deployment left unrewritten (opted out on the object only) gets one ReplicaSet, not a ReplicaSet loop', async () => {
    // The Deployment controller finds its ReplicaSet by comparing templates: a rewritten copy of
    // an unrewritten template never matched, and it created ReplicaSet after ReplicaSet.
    const ns = 'replicaset-loop';
    await kubectl.createNamespace(ns);
    const labels = { app: 'kept' };
    const manifest = JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'kept', labels: { ...labels, [SKIP]: 'true' } },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: containers({ web: 'gcr.io/nginx:1.27' }) } } },
    });
    await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: manifest });
    const [created] = await waitForPods(ns, 'app=kept');
    // The Pod is rewritten as a Pod; the Deployment and its ReplicaSet keep the template as applied.
    expect(imagesOf(created?.spec ?? { containers: [] })).toEqual({ 'containers/web': 'asia.gcr.io/nginx:1.27' });
    const restarted = await kubectl.ok(['-n', ns, 'rollout', 'restart', 'deployment/kept']);
    expect(restarted.stdout.trim()).toBe('deployment.apps/kept restarted');
    // The controller has made the restart's ReplicaSet once it observes the new generation (on a
    // loaded machine that can take longer than the watch below).
    await eventually('the Deployment status to observe the restart', { timeoutMs: 60_000 }, async () => {
      const d = await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'kept']);
      return d.metadata.generation === 2 && d.status?.observedGeneration === 2 ? done(undefined) : notYet(`generation ${String(d.metadata.generation)}, observedGeneration ${d.status?.observedGeneration ?? 'unset'}`);
    });
    // A bounded watch: the initial ReplicaSet and the restart's, no more.
    const windowStart = performance.now();
    while (performance.now() - windowStart < 5000) {
      const rs = await kubectl.json(list(replicaSet), ['-n', ns, 'get', 'replicasets', '-l', 'app=kept']);
      expect(rs.items.length).toBeLessThanOrEqual(2);
      for (const r of rs.items) expect(imagesOf(r.spec.template.spec)).toEqual({ 'containers/web': 'gcr.io/nginx:1.27' });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const rs = await kubectl.json(list(replicaSet), ['-n', ns, 'get', 'replicasets', '-l', 'app=kept']);
    expect(rs.items).toHaveLength(2);
  });

  scenario(env, '12. kubectl set image: a new upstream image is recorded, an image no rule rewrites leaves no stale original', async () => {
    const ns = 'set-image';
    await kubectl.createNamespace(ns);
    const labels = { app: 'set-image' };
    const manifest = JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: containers({ web: 'gcr.io/nginx:1.27', side: 'redis:7' }) } } },
    });
    await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: manifest });
    const originals = async (kind: string, name: string): Promise<unknown> => {
      const stored = await kubectl.json(pod.or(deployment), ['-n', ns, 'get', kind, name]);
      return JSON.parse(stored.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null');
    };

    const bumped = await kubectl.ok(['-n', ns, 'set', 'image', 'deployment/web', 'web=gcr.io/nginx:1.28']);
    expect(warnings(bumped.stderr)).toEqual(['Warning: image-rewriter: rewrote containers[web] gcr.io/nginx:1.28 -> asia.gcr.io/nginx:1.28 (rule gcr)']);
    expect(imagesOf((await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec)).toEqual({
      'containers/web': 'asia.gcr.io/nginx:1.28',
      'containers/side': 'mirror.example.com/hub/library/redis:7',
    });
    expect(await originals('deployment', 'web')).toEqual({ 'containers/web': 'gcr.io/nginx:1.28', 'containers/side': 'redis:7' });

    // side no longer runs a rewrite of redis:7: its entry goes, web's stays.
    await kubectl.ok(['-n', ns, 'set', 'image', 'deployment/web', 'side=quay.io/e2e/side:1']);
    expect(imagesOf((await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec)).toEqual({
      'containers/web': 'asia.gcr.io/nginx:1.28',
      'containers/side': 'quay.io/e2e/side:1',
    });
    expect(await originals('deployment', 'web')).toEqual({ 'containers/web': 'gcr.io/nginx:1.28' });

    // A Pod's image is mutable too.
    await createPod(ns, podManifest('single', { app: 'gcr.io/e2e/app:1' }));
    await kubectl.ok(['-n', ns, 'set', 'image', 'pod/single', 'app=gcr.io/e2e/app:2']);
    expect(imagesOf((await getPod(ns, 'single')).spec)).toEqual({ 'containers/app': 'asia.gcr.io/e2e/app:2' });
    expect(await originals('pod', 'single')).toEqual({ 'containers/app': 'gcr.io/e2e/app:2' });
    await kubectl.ok(['-n', ns, 'set', 'image', 'pod/single', 'app=quay.io/e2e/app:3']);
    expect(imagesOf((await getPod(ns, 'single')).spec)).toEqual({ 'containers/app': 'quay.io/e2e/app:3' });
    expect(await originals('pod', 'single')).toEqual({});
  });

  scenario(env, "12b. rules changed, then the rule removed: re-applying a Job's unchanged manifest keeps its stored image (its template is immutable)", async () => {
    const ns = 'rules-change';
    await kubectl.createNamespace(ns);
    // A serve of its own, whose rules file the scenario changes (the environment's stays as it is).
    const rules = join(env.runDir, 'webhook', 'changing-rules.yaml');
    const rulesTo = (target: string): string => `rules:\n  - name: e2e\n    match: gcr.io/e2e\n    replace: ${target}/e2e\n`;
    await writeFile(rules, rulesTo('old.mirror.example.com'));
    const serve = await env.startExtraServe('serve-rules-change', { rules });
    const manifest = (name: string): string =>
      JSON.stringify({
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name },
        spec: { suspend: true, template: { spec: { restartPolicy: 'Never', containers: containers({ main: 'gcr.io/e2e/migrate:1' }) } } },
      });
    // kubectl apply, and server-side apply (Flux), each re-applying its own manifest.
    const appliers = [
      { name: 'migrate', args: ['apply'] },
      { name: 'migrate-ssa', args: ['apply', '--server-side'] },
    ];
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token) }));
      await untilRewritesTo(ns, 'old.mirror.example.com');
      for (const a of appliers) await kubectl.ok(['-n', ns, ...a.args, '-f', '-'], { input: manifest(a.name) });
      for (const a of appliers) {
        const stored = await kubectl.json(job, ['-n', ns, 'get', 'job', a.name]);
        expect(imagesOf(stored.spec.template.spec)).toEqual({ 'containers/main': 'old.mirror.example.com/e2e/migrate:1' });
      }

      await writeFile(rules, rulesTo('new.mirror.example.com'));
      await untilRewritesTo(ns, 'new.mirror.example.com');
      // Both patches set the manifest's image again: new.mirror... would be refused ("field is
      // immutable"), so the stored rewrite of the same original is kept.
      for (const a of appliers) {
        const again = await kubectl.run(['-n', ns, ...a.args, '-f', '-'], { input: manifest(a.name) });
        expect({ job: a.name, code: again.code, stderr: again.stderr.split('\n').filter((l) => !l.startsWith('Warning: ')).join('\n') }).toEqual({ job: a.name, code: 0, stderr: '' });
        const after = await kubectl.json(job, ['-n', ns, 'get', 'job', a.name]);
        expect(imagesOf(after.spec.template.spec)).toEqual({ 'containers/main': 'old.mirror.example.com/e2e/migrate:1' });
        expect(JSON.parse(after.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null')).toEqual({ 'containers/main': 'gcr.io/e2e/migrate:1' });
      }

      // The rule removed: gcr.io/e2e is no longer rewritten at all, and the re-apply still keeps
      // the stored image (with a warning) instead of being refused.
      await writeFile(rules, 'rules:\n  - name: other\n    match: gcr.io/other\n    replace: new.mirror.example.com/other\n');
      await untilRewritesTo(ns, 'gcr.io');
      for (const a of appliers) {
        const again = await kubectl.run(['-n', ns, ...a.args, '-f', '-'], { input: manifest(a.name) });
        expect({ job: a.name, code: again.code, stderr: again.stderr.split('\n').filter((l) => !l.startsWith('Warning: ')).join('\n') }).toEqual({ job: a.name, code: 0, stderr: '' });
        expect(warnings(again.stderr)).toEqual([
          "Warning: image-rewriter: kept containers[main] gcr.io/e2e/migrate:1 as the stored old.mirror.example.com/e2e/migrate:1: no rule rewrites it now, and a Job's pod template cannot change",
        ]);
        const after = await kubectl.json(job, ['-n', ns, 'get', 'job', a.name]);
        expect(imagesOf(after.spec.template.spec)).toEqual({ 'containers/main': 'old.mirror.example.com/e2e/migrate:1' });
      }
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, '12c. server-side apply (Flux, Argo CD) and kubectl apply re-apply a Job, a Pod and a Deployment whose rule adds imagePullSecrets', async () => {
    // The webhook adds fields the manifest lacks (imagePullSecrets, the original-images
    // annotation). The API server records managedFields before it calls mutating webhooks, so
    // the applier does not own them and a re-apply of the same manifest leaves them alone: a Pod's
    // imagePullSecrets and a Job's template stay as stored and the re-apply is accepted.
    const ns = 'server-side-apply';
    await kubectl.createNamespace(ns);
    const rules = join(env.runDir, 'webhook', 'pull-secret-rules.yaml');
    await writeFile(rules, 'rules:\n  - name: e2e\n    match: gcr.io/e2e\n    replace: mirror.example.com/e2e\n    imagePullSecrets: [mirror-pull]\n');
    const serve = await env.startExtraServe('serve-pull-secrets', { rules });
    const withSecrets = podSpec.extend({ imagePullSecrets: z.array(z.object({ name: z.string() })).optional() });
    const managedFields = z.array(z.object({ manager: z.string(), operation: z.string(), fieldsV1: z.unknown() })).optional();
    const stored = z.object({
      metadata: objectMeta.extend({ managedFields }),
      spec: z.union([z.object({ template: z.object({ spec: withSecrets }) }), withSecrets]),
    });
    const container = containers({ main: 'gcr.io/e2e/app:1' });
    const manifests = (prefix: string): { kind: string; name: string; manifest: string }[] => [
      {
        kind: 'job',
        name: `${prefix}-job`,
        manifest: JSON.stringify({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: `${prefix}-job` }, spec: { suspend: true, template: { spec: { restartPolicy: 'Never', containers: container } } } }),
      },
      {
        // A Pod's image volumes are immutable too.
        kind: 'pod',
        name: `${prefix}-pod`,
        manifest: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `${prefix}-pod` },
          spec: { containers: [{ ...container[0], volumeMounts: [{ name: 'model', mountPath: '/model' }] }], volumes: [{ name: 'model', image: { reference: 'gcr.io/e2e/model:1' } }] },
        }),
      },
      {
        kind: 'deployment',
        name: `${prefix}-deployment`,
        manifest: JSON.stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: `${prefix}-deployment` },
          spec: { replicas: 0, selector: { matchLabels: { app: prefix } }, template: { metadata: { labels: { app: prefix } }, spec: { containers: container } } },
        }),
      },
    ];
    // Server-side apply as Flux sends it (PATCH application/apply-patch+yaml, its own field
    // manager, force), and kubectl apply's strategic merge patch.
    const appliers = [
      { name: 'ssa', args: ['apply', '--server-side', '--field-manager=flux', '--force-conflicts'] },
      { name: 'csa', args: ['apply'] },
    ];
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token) }));
      await untilRewritesTo(ns, 'mirror.example.com');
      // Created, then the same manifests applied twice more (every GitOps sync).
      for (const round of [1, 2, 3]) {
        for (const a of appliers) {
          for (const m of manifests(a.name)) {
            const r = await kubectl.run(['-n', ns, ...a.args, '-f', '-'], { input: m.manifest });
            const errors = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('Warning: '));
            expect({ round, applier: a.name, kind: m.kind, code: r.code, errors }).toEqual({ round, applier: a.name, kind: m.kind, code: 0, errors: [] });
            const o = await kubectl.json(stored, ['-n', ns, 'get', m.kind, m.name, '--show-managed-fields']);
            const spec = 'template' in o.spec ? o.spec.template.spec : o.spec;
            const expectedImages: Record<string, string> = { 'containers/main': 'mirror.example.com/e2e/app:1' };
            const expectedOriginals: Record<string, string> = { 'containers/main': 'gcr.io/e2e/app:1' };
            if (m.kind === 'pod') {
              // Before 1.35 the API server drops the image volume (and its mount) after admission,
              // so the Pod has none, though the webhook rewrote it and recorded its original
              // (README, Supported Kubernetes versions).
              if (env.imageVolumes) expectedImages['volumes/model'] = 'mirror.example.com/e2e/model:1';
              expectedOriginals['volumes/model'] = 'gcr.io/e2e/model:1';
            }
            expect({ round, name: m.name, images: imagesOf(spec), secrets: spec.imagePullSecrets }).toEqual({ round, name: m.name, images: expectedImages, secrets: [{ name: 'mirror-pull' }] });
            expect(JSON.parse(o.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null')).toEqual(expectedOriginals);
            // Not a new rollout, nor a changed Job.
            if (m.kind !== 'pod') expect({ name: m.name, generation: o.metadata.generation }).toEqual({ name: m.name, generation: 1 });
            // No manager owns what the webhook added; the applier owns the image it applied.
            const owned = JSON.stringify(o.metadata.managedFields ?? []);
            expect(owned).not.toContain('f:imagePullSecrets');
            expect(owned).not.toContain(`f:${ORIGINAL_IMAGES}`);
            if (a.name === 'ssa') {
              const flux = (o.metadata.managedFields ?? []).filter((f) => f.manager === 'flux').map((f) => f.operation);
              expect(flux).toEqual(['Apply']);
            }
          }
        }
      }
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, "12d. --scope all: kubectl diff and a server-side dry-run apply of unchanged manifests show no drift; after a rules change, the Deployment's new target and the Job's stored image", async () => {
    // README (Scope table, GitOps row; "Rewrite before apply"): Flux's drift check is a
    // server-side dry-run apply, which the webhook rewrites as it rewrote the object, so the
    // unchanged manifest of a rewritten workload shows no drift; neither does kubectl diff.
    const ns = 'gitops-drift';
    await kubectl.createNamespace(ns);
    const rules = join(env.runDir, 'webhook', 'drift-rules.yaml');
    const rulesTo = (target: string): string => `rules:\n  - name: e2e\n    match: gcr.io/e2e\n    replace: ${target}/e2e\n    imagePullSecrets: [mirror-pull]\n`;
    await writeFile(rules, rulesTo('old.mirror.example.com'));
    const serve = await env.startExtraServe('serve-drift', { rules });
    // A Deployment, a Job and a CronJob, as git holds them; one set applied server-side, one with kubectl apply.
    const manifest = (set: string): string => {
      const spec = { containers: containers({ main: 'gcr.io/e2e/app:1' }) };
      return JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `${set}-deployment` }, spec: { replicas: 0, selector: { matchLabels: { app: set } }, template: { metadata: { labels: { app: set } }, spec } } },
          { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: `${set}-job` }, spec: { suspend: true, template: { spec: { restartPolicy: 'Never', ...spec } } } },
          { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: `${set}-cronjob` }, spec: { schedule: '0 3 * * *', suspend: true, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', ...spec } } } } } },
        ],
      });
    };
    const workload = z.object({ kind: z.string(), metadata: objectMeta, spec: z.record(z.string(), z.unknown()) });
    const withSecrets = podSpec.extend({ imagePullSecrets: z.array(z.object({ name: z.string() })).optional() });
    const template = z.union([z.object({ template: z.object({ spec: withSecrets }) }), z.object({ jobTemplate: z.object({ spec: z.object({ template: z.object({ spec: withSecrets }) }) }) })]);
    /** What a drift check compares, by `Kind/name`: the spec, the annotations, the generation. */
    const byName = (items: z.infer<typeof workload>[]) =>
      Object.fromEntries(items.map((o) => [`${o.kind}/${o.metadata.name}`, { generation: o.metadata.generation, annotations: o.metadata.annotations, spec: o.spec }]));
    /** The images and pull secrets of each object's pod template, by `Kind/name`. */
    const templates = (items: z.infer<typeof workload>[]) =>
      Object.fromEntries(
        items.map((o) => {
          const t = template.parse(o.spec);
          const spec = 'template' in t ? t.template.spec : t.jobTemplate.spec.template.spec;
          return [`${o.kind}/${o.metadata.name}`, { images: imagesOf(spec), secrets: spec.imagePullSecrets }];
        }),
      );
    const live = async (set: string) =>
      (await kubectl.json(list(workload), ['-n', ns, 'get', `deployment/${set}-deployment`, `job/${set}-job`, `cronjob/${set}-cronjob`])).items;
    const dryRun = async (set: string, args: readonly string[]) => {
      const r = await kubectl.ok(['-n', ns, 'apply', ...args, '--dry-run=server', '-o', 'json', '-f', '-'], { input: manifest(set) });
      return parseJson(list(workload), r.stdout, `kubectl apply ${args.join(' ')} --dry-run=server`).items;
    };
    /** `kubectl diff`: its exit code, the lines it changes by object (`+ text`, `- text`), and stderr without warnings. */
    const diff = async (set: string, args: readonly string[] = []) => {
      const r = await kubectl.run(['-n', ns, 'diff', ...args, '-f', '-'], { input: manifest(set) });
      const changed: Record<string, string[]> = {};
      let current: string[] = [];
      for (const line of r.stdout.split('\n')) {
        const header = /^diff -u -N \S+\/(\S+) /.exec(line);
        if (header !== null) changed[header[1] ?? ''] = current = [];
        else if (/^[-+]/.test(line) && !/^(---|\+\+\+) /.test(line)) current.push(`${line[0] ?? ''} ${line.slice(1).trim()}`);
      }
      return { code: r.code, changed, errors: r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('Warning: ')), warnings: warnings(r.stderr) };
    };
    const rewroteTo = (target: string) => `Warning: image-rewriter: rewrote containers[main] gcr.io/e2e/app:1 -> ${target}/e2e/app:1 (rule e2e)`;
    const fluxArgs = ['--server-side', '--field-manager=kustomize-controller', '--force-conflicts'];
    const stored = (target: string) => ({ images: { 'containers/main': `${target}/e2e/app:1` }, secrets: [{ name: 'mirror-pull' }] });
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'all' }));
      await untilRewritesTo(ns, 'old.mirror.example.com');
      await kubectl.ok(['-n', ns, 'apply', '--server-side', '-f', '-'], { input: manifest('ssa') });
      await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: manifest('csa') });
      for (const set of ['ssa', 'csa']) {
        const objects = await live(set);
        const kinds = [`Deployment/${set}-deployment`, `Job/${set}-job`, `CronJob/${set}-cronjob`];
        expect(templates(objects)).toEqual(Object.fromEntries(kinds.map((k) => [k, stored('old.mirror.example.com')])));
        for (const o of objects) expect(JSON.parse(o.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null')).toEqual({ 'containers/main': 'gcr.io/e2e/app:1' });
      }

      // (1) kubectl diff --server-side of the manifest applied server-side: no drift (kubectl prints the rewrite's warning, on stderr).
      expect(await diff('ssa', ['--server-side'])).toEqual({ code: 0, changed: {}, errors: [], warnings: [rewroteTo('old.mirror.example.com')] });
      // Of the set applied with client-side kubectl apply: its manager owns the image, which now
      // differs from the manifest's, so the dry-run apply stops on the conflict (README's
      // server-side apply row); with --force-conflicts only kubectl's own rewrite of its
      // last-applied-configuration annotation shows (and a Deployment's generation with it), no image.
      const conflicted = await diff('csa', ['--server-side']);
      expect(conflicted.code).toBeGreaterThan(1);
      expect(conflicted.errors.filter((l) => l.startsWith('Error from server (Conflict)'))).toEqual([
        'Error from server (Conflict): Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.template.spec.containers[name="main"].image',
        'Error from server (Conflict): Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using batch/v1: .spec.template.spec.containers[name="main"].image',
        'Error from server (Conflict): Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using batch/v1: .spec.jobTemplate.spec.template.spec.containers[name="main"].image',
      ]);
      const forced = await diff('csa', ['--server-side', '--force-conflicts']);
      const withoutLastApplied = Object.fromEntries(Object.entries(forced.changed).map(([k, lines]) => [k, lines.filter((l) => !l.slice(2).startsWith('{"apiVersion"'))]));
      expect({ code: forced.code, errors: forced.errors, changed: withoutLastApplied }).toEqual({
        code: 1,
        errors: [],
        changed: { [`apps.v1.Deployment.${ns}.csa-deployment`]: ['- generation: 1', '+ generation: 2'], [`batch.v1.Job.${ns}.csa-job`]: [], [`batch.v1.CronJob.${ns}.csa-cronjob`]: [] },
      });

      // (3) client-side kubectl diff: no drift either, whichever way the objects were applied.
      for (const set of ['ssa', 'csa']) expect({ set, ...(await diff(set)) }).toEqual({ set, code: 0, changed: {}, errors: [], warnings: [rewroteTo('old.mirror.example.com')] });

      // (2) Server-side dry-run applies (kubectl's manager; Flux's, forcing) return the live objects: same spec, annotations, generation.
      const ssaLive = byName(await live('ssa'));
      expect(byName(await dryRun('ssa', ['--server-side']))).toEqual(ssaLive);
      expect(byName(await dryRun('ssa', fluxArgs))).toEqual(ssaLive);
      const csaLive = byName(await live('csa'));
      expect(byName(await dryRun('csa', fluxArgs))).toEqual(csaLive);
      expect(byName(await dryRun('csa', []))).toEqual(csaLive);

      // (4) The rules change: the unchanged manifests now show the Deployment's and the CronJob's
      // new target (a real change: the next sync rolls it out), and no change of the Job, whose
      // immutable template keeps the image stored for the same original.
      await writeFile(rules, rulesTo('new.mirror.example.com'));
      await untilRewritesTo(ns, 'new.mirror.example.com');
      const moved = (set: string) => ({
        [`apps.v1.Deployment.${ns}.${set}-deployment`]: ['- generation: 1', '+ generation: 2', '- - image: old.mirror.example.com/e2e/app:1', '+ - image: new.mirror.example.com/e2e/app:1'],
        [`batch.v1.CronJob.${ns}.${set}-cronjob`]: ['- generation: 1', '+ generation: 2', '- - image: old.mirror.example.com/e2e/app:1', '+ - image: new.mirror.example.com/e2e/app:1'],
      });
      for (const [set, args] of [['ssa', ['--server-side']], ['ssa', []], ['csa', []]] as const) {
        const d = await diff(set, args);
        expect({ set, args, code: d.code, changed: d.changed, errors: d.errors }).toEqual({ set, args, code: 1, changed: moved(set), errors: [] });
        // The Job keeps its stored image and says so (it said "rewrote ... -> old.mirror.example.com/e2e/app:1
        // (rule e2e)", a target the rule no longer has).
        expect(d.warnings).toEqual([
          rewroteTo('new.mirror.example.com'),
          "Warning: image-rewriter: kept containers[main] gcr.io/e2e/app:1 as the stored old.mirror.example.com/e2e/app:1: rule e2e now gives new.mirror.example.com/e2e/app:1, and a Job's pod template cannot change",
        ]);
      }
      const after = (set: string) => ({
        [`Deployment/${set}-deployment`]: stored('new.mirror.example.com'),
        [`Job/${set}-job`]: stored('old.mirror.example.com'),
        [`CronJob/${set}-cronjob`]: stored('new.mirror.example.com'),
      });
      for (const [set, args] of [['ssa', ['--server-side']], ['ssa', fluxArgs], ['csa', fluxArgs], ['csa', []]] as const) {
        const objects = await dryRun(set, args);
        expect({ set, args, templates: templates(objects) }).toEqual({ set, args, templates: after(set) });
        for (const o of objects) expect(JSON.parse(o.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null')).toEqual({ 'containers/main': 'gcr.io/e2e/app:1' });
        // The Job's dry run is the live Job.
        const jobName = `Job/${set}-job`;
        expect(byName(objects)[jobName]).toEqual(byName(await live(set))[jobName]);
      }
      // Dry runs all: nothing stored moved.
      expect(byName(await live('ssa'))).toEqual(ssaLive);
      expect(byName(await live('csa'))).toEqual(csaLive);
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, "12e. --scope pods, a bare Pod in git: Flux's dry run shows no drift; after a rules change, its container's new target (applied in place) and its image volume's stored image", async () => {
    // README (Scope table, GitOps row): Pods kept in git are rewritten in either scope. Flux's
    // drift check (a server-side dry-run apply as kustomize-controller, forcing) shows no drift;
    // after a rules change it shows the container's new target, which the next sync applies to
    // the running Pod, while the image volume, immutable, keeps its stored image.
    const ns = 'gitops-pods';
    await kubectl.createNamespace(ns);
    const rules = join(env.runDir, 'webhook', 'pods-drift-rules.yaml');
    const rulesTo = (target: string): string => `rules:\n  - name: e2e\n    match: gcr.io/e2e\n    replace: ${target}/e2e\n`;
    await writeFile(rules, rulesTo('old.mirror.example.com'));
    const serve = await env.startExtraServe('serve-pods-drift', { rules });
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web' },
      spec: { containers: [{ name: 'main', image: 'gcr.io/e2e/app:1', volumeMounts: [{ name: 'model', mountPath: '/model' }] }], volumes: [{ name: 'model', image: { reference: 'gcr.io/e2e/model:1' } }] },
    });
    const flux = ['apply', '--server-side', '--field-manager=kustomize-controller', '--force-conflicts'];
    const compared = (p: Pod) => ({ generation: p.metadata.generation, annotations: p.metadata.annotations, spec: p.spec });
    const dryRun = async () => compared(await kubectl.json(pod, ['-n', ns, ...flux, '--dry-run=server', '-o', 'json', '-f', '-'], { input: manifest }));
    const live = async () => compared(await getPod(ns, 'web'));
    const originals = { 'containers/main': 'gcr.io/e2e/app:1', 'volumes/model': 'gcr.io/e2e/model:1' };
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope: 'pods' }));
      await untilRewritesTo(ns, 'old.mirror.example.com');
      await kubectl.ok(['-n', ns, ...flux, '-f', '-'], { input: manifest });
      const before = await live();
      // Before 1.35 the API server drops the image volume after the webhook answered (README,
      // Supported Kubernetes versions): the container alone is stored; the originals name both.
      const volume = (image: string): Record<string, string> => (env.imageVolumes ? { 'volumes/model': image } : {});
      expect(imagesOf(before.spec)).toEqual({ 'containers/main': 'old.mirror.example.com/e2e/app:1', ...volume('old.mirror.example.com/e2e/model:1') });
      expect(await dryRun()).toEqual(before);

      await writeFile(rules, rulesTo('new.mirror.example.com'));
      await untilRewritesTo(ns, 'new.mirror.example.com');
      const moved = await dryRun();
      expect({ generation: moved.generation, images: imagesOf(moved.spec), originals: JSON.parse(moved.annotations?.[ORIGINAL_IMAGES] ?? 'null') as unknown }).toEqual({
        // Pods have a generation from 1.34 (KEP-5067); none before.
        generation: before.generation === undefined ? undefined : before.generation + 1,
        images: { 'containers/main': 'new.mirror.example.com/e2e/app:1', ...volume('old.mirror.example.com/e2e/model:1') },
        originals,
      });
      expect(await live()).toEqual(before);
      // The next sync applies it to the running Pod; then the dry run is the live Pod again.
      await kubectl.ok(['-n', ns, ...flux, '-f', '-'], { input: manifest });
      const after = await live();
      expect(imagesOf(after.spec)).toEqual(imagesOf(moved.spec));
      expect(await dryRun()).toEqual(after);
    } finally {
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });

  scenario(env, "12f. an outage under failurePolicy Ignore: a GitOps re-apply writes the upstream images; once the webhook is back, the next re-apply rewrites them again (not an orphaned ReplicaSet's, whose annotation is its Deployment's)", async () => {
    // docs/design.md, semantics 7: a stored image that the object's original-images annotation
    // records as the original of its own rewrite was put back by an update the webhook never saw,
    // and is decided again where the field may change (a Deployment's template, a Pod's container).
    const ns = 'outage-revert';
    await kubectl.createNamespace(ns);
    const manifests = [
      {
        kind: 'deployment',
        manifest: JSON.stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web' },
          spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: containers({ main: 'gcr.io/outage/app:1' }) } } },
        }),
      },
      { kind: 'pod', manifest: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: containers({ main: 'gcr.io/outage/app:1' }) } }) },
    ];
    const flux = ['apply', '--server-side', '--field-manager=kustomize-controller', '--force-conflicts'];
    const stored = z.object({ metadata: objectMeta, spec: z.union([z.object({ template: z.object({ spec: podSpec }) }), podSpec]) });
    const state = async (kind: string) => {
      const o = await kubectl.json(stored, ['-n', ns, 'get', kind, 'web']);
      const spec = 'template' in o.spec ? o.spec.template.spec : o.spec;
      return { kind, image: spec.containers[0]?.image, originals: JSON.parse(o.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null') as unknown };
    };
    const applyAll = async (): Promise<void> => {
      for (const m of manifests) await kubectl.ok(['-n', ns, ...flux, '-f', '-'], { input: m.manifest });
    };
    const expected = (image: string) => manifests.map((m) => ({ kind: m.kind, image, originals: { 'containers/main': 'gcr.io/outage/app:1' } }));
    // A port nothing listens on: every call is refused, and the API server fails open.
    const closed = await closedPort();
    try {
      await applyAll();
      expect(await Promise.all(manifests.map((m) => state(m.kind)))).toEqual(expected('asia.gcr.io/outage/app:1'));

      const apiMark = env.apiserverLog.mark();
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(closed, env.webhook.token) }));
      await eventually('the API server fails open', { timeoutMs: 60_000 }, async () => {
        await applyAll();
        const now = await Promise.all(manifests.map((m) => state(m.kind)));
        return now.every((o) => o.image === 'gcr.io/outage/app:1') ? done(now) : notYet(JSON.stringify(now));
      });
      // The upstream images were written; the annotation (no manager owns it) stayed.
      expect(await Promise.all(manifests.map((m) => state(m.kind)))).toEqual(expected('gcr.io/outage/app:1'));
      expect(env.apiserverLog.text(apiMark)).toContain(`failing open ${WEBHOOK_NAME}`);

      await env.restoreWebhook();
      // Flux's drift check (a dry run) shows the way back, and the sync takes it.
      const dry = await kubectl.json(stored, ['-n', ns, ...flux, '--dry-run=server', '-o', 'json', '-f', '-'], { input: manifests[0]?.manifest ?? '' });
      expect('template' in dry.spec ? dry.spec.template.spec.containers[0]?.image : undefined).toBe('asia.gcr.io/outage/app:1');
      await applyAll();
      expect(await Promise.all(manifests.map((m) => state(m.kind)))).toEqual(expected('asia.gcr.io/outage/app:1'));
      // And then it stays: the next re-apply changes nothing.
      const generation = (await kubectl.json(stored, ['-n', ns, 'get', 'deployment', 'web'])).metadata.generation;
      await applyAll();
      expect((await kubectl.json(stored, ['-n', ns, 'get', 'deployment', 'web'])).metadata.generation).toBe(generation);
      // The ReplicaSet made during the outage has the upstream template and a copy of the
      // Deployment's annotation. Orphaned, it is reviewed (no Deployment controls it) and keeps its
      // template: its record is not its own.
      const replicaSets = async () => (await kubectl.json(list(replicaSet), ['-n', ns, 'get', 'replicasets'])).items;
      expect((await replicaSets()).map((rs) => [rs.spec.template.spec.containers[0]?.image, rs.metadata.annotations?.[ORIGINAL_IMAGES]]).sort()).toEqual([
        ['asia.gcr.io/outage/app:1', '{"containers/main":"gcr.io/outage/app:1"}'],
        ['gcr.io/outage/app:1', '{"containers/main":"gcr.io/outage/app:1"}'],
      ]);
      await kubectl.ok(['-n', ns, 'delete', 'deployment', 'web', '--cascade=orphan']);
      const orphans = await eventually('the ReplicaSets orphaned', { timeoutMs: 60_000 }, async () => {
        const items = await replicaSets();
        return items.every((rs) => (rs.metadata.ownerReferences ?? []).length === 0) ? done(items) : notYet('an ownerReference left');
      });
      expect(orphans.map((rs) => rs.spec.template.spec.containers[0]?.image).sort()).toEqual(['asia.gcr.io/outage/app:1', 'gcr.io/outage/app:1']);
    } finally {
      await env.restoreWebhook();
    }
  });

  scenario(env, '13. reinvocation: another mutating webhook after ours changes the image; ours runs again and records its original', async () => {
    const ns = 'reinvocation';
    await kubectl.createNamespace(ns);
    // A second webhook, ordered after ours by its configuration's name: quay.io/e2e/reinvoke -> gcr.io/reinvoked.
    const rules = join(env.runDir, 'webhook', 'second-rules.yaml');
    await writeFile(rules, 'rules:\n  - name: other\n    match: quay.io/e2e/reinvoke\n    replace: gcr.io/reinvoked\n');
    const second = await env.startExtraServe('serve-second', { rules });
    const config = (await env.configYaml({ url: webhookUrl(second.port, env.webhook.token), scope: 'pods' }))
      .replace(/^( {2}name: )image-rewriter$/m, '$1zz-second-webhook')
      .replace(WEBHOOK_NAME, 'second.image-rewriter.io');
    try {
      await env.applyWebhookConfig(config);
      await eventually('the second webhook to be called', { timeoutMs: 60_000 }, async () => {
        const name = `wait-${Date.now()}`;
        const created = await kubectl.json(pod, ['-n', ns, 'create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: podManifest(name, { c: 'quay.io/e2e/reinvoke:0' }) });
        const image = created.spec.containers[0]?.image ?? '';
        return image === 'asia.gcr.io/reinvoked:0' ? done(undefined) : notYet(image);
      });

      const created = await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: podManifest('r', { c: 'quay.io/e2e/reinvoke:1' }) });
      expect(warnings(created.stderr)).toEqual([
        'Warning: image-rewriter: rewrote containers[c] quay.io/e2e/reinvoke:1 -> gcr.io/reinvoked:1 (rule other)',
        'Warning: image-rewriter: rewrote containers[c] gcr.io/reinvoked:1 -> asia.gcr.io/reinvoked:1 (rule gcr)',
      ]);
      const stored = await getPod(ns, 'r');
      expect(imagesOf(stored.spec)).toEqual({ 'containers/c': 'asia.gcr.io/reinvoked:1' });
      expect(JSON.parse(stored.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null')).toEqual({ 'containers/c': 'gcr.io/reinvoked:1' });

      // An UPDATE through both: ours first finds an image no rule rewrites (the entry of :1 goes),
      // the second webhook rewrites it, and ours, called again, records the second's result.
      await kubectl.ok(['-n', ns, 'set', 'image', 'pod/r', 'c=quay.io/e2e/reinvoke:2']);
      const updated = await getPod(ns, 'r');
      expect(imagesOf(updated.spec)).toEqual({ 'containers/c': 'asia.gcr.io/reinvoked:2' });
      expect(JSON.parse(updated.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null')).toEqual({ 'containers/c': 'gcr.io/reinvoked:2' });
    } finally {
      await kubectl.ok(['delete', 'mutatingwebhookconfiguration', 'zz-second-webhook', '--ignore-not-found']);
      await env.stopServe(second);
    }
  });

  scenario(env, "14. a sidecar injector after ours: the reinvoked call rewrites the sidecar and its audit annotation is not refused", async () => {
    const ns = 'sidecar';
    await kubectl.createNamespace(ns);
    // A minimal injector (like Istio's, whose configuration sorts after ours): adds a `proxy` container once,
    // and, as Istio does for a gateway's `image: auto`, fills in the image of a `proxy` container
    // whose image is `auto` (any other image there it keeps).
    const [cert, key] = await Promise.all([readFile(env.webhook.files.serverCert), readFile(env.webhook.files.serverKey)]);
    const injector = createServer({ cert, key }, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const review = JSON.parse(body) as { apiVersion: string; request: { uid: string; object: { spec: { containers: { name: string; image?: string }[] } } } };
        const { uid, object } = review.request;
        const response: Record<string, unknown> = { uid, allowed: true };
        const proxy = 'docker.io/istio/proxyv2:1.24';
        const at = object.spec.containers.findIndex((c) => c.name === 'proxy');
        const ops = at < 0 ? [{ op: 'add', path: '/spec/containers/-', value: { name: 'proxy', image: proxy } }] : object.spec.containers[at]?.image === 'auto' ? [{ op: 'replace', path: `/spec/containers/${at}/image`, value: proxy }] : [];
        if (ops.length > 0) {
          response['patchType'] = 'JSONPatch';
          response['patch'] = Buffer.from(JSON.stringify(ops)).toString('base64');
        }
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ apiVersion: review.apiVersion, kind: 'AdmissionReview', response }));
      });
    });
    await new Promise<void>((resolve) => injector.listen(0, '127.0.0.1', resolve));
    const port = (injector.address() as AddressInfo).port;
    const config = (await env.configYaml({ url: `https://127.0.0.1:${port}/inject`, scope: 'pods' }))
      .replace(/^( {2}name: )image-rewriter$/m, '$1zz-sidecar-injector')
      .replace(WEBHOOK_NAME, 'injector.image-rewriter.io');
    try {
      await env.applyWebhookConfig(config);
      await eventually('the injector to be called', { timeoutMs: 60_000 }, async () => {
        const created = await kubectl.json(pod, ['-n', ns, 'create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: podManifest(`wait-${Date.now()}`, { app: 'quay.io/e2e/app:1' }) });
        return created.spec.containers.length === 2 ? done(undefined) : notYet(`${created.spec.containers.length} container(s)`);
      });

      const apiMark = env.apiserverLog.mark();
      const created = await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: podManifest('meshed', { app: 'gcr.io/nginx:1.27' }) });
      expect(warnings(created.stderr)).toEqual([
        'Warning: image-rewriter: rewrote containers[app] gcr.io/nginx:1.27 -> asia.gcr.io/nginx:1.27 (rule gcr)',
        'Warning: image-rewriter: rewrote containers[proxy] docker.io/istio/proxyv2:1.24 -> mirror.example.com/hub/istio/proxyv2:1.24 (rule hub)',
      ]);
      const stored = await getPod(ns, 'meshed');
      expect(imagesOf(stored.spec)).toEqual({ 'containers/app': 'asia.gcr.io/nginx:1.27', 'containers/proxy': 'mirror.example.com/hub/istio/proxyv2:1.24' });
      expect(JSON.parse(stored.metadata.annotations?.[ORIGINAL_IMAGES] ?? 'null')).toEqual({ 'containers/app': 'gcr.io/nginx:1.27', 'containers/proxy': 'docker.io/istio/proxyv2:1.24' });
      // The second call's audit annotation went in under its own key: the API server refused none.
      expect(env.apiserverLog.text(apiMark).split('\n').filter((l) => l.includes('Failed to set admission audit annotation'))).toEqual([]);

      // A gateway's `image: auto` is left for the injector, and the image it fills in is rewritten.
      // It was rewritten to mirror.example.com/hub/library/auto, which the injector kept.
      const gateway = await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: podManifest('gateway', { proxy: 'auto' }) });
      expect(warnings(gateway.stderr)).toEqual(['Warning: image-rewriter: rewrote containers[proxy] docker.io/istio/proxyv2:1.24 -> mirror.example.com/hub/istio/proxyv2:1.24 (rule hub)']);
      expect(imagesOf((await getPod(ns, 'gateway')).spec)).toEqual({ 'containers/proxy': 'mirror.example.com/hub/istio/proxyv2:1.24' });
    } finally {
      await kubectl.ok(['delete', 'mutatingwebhookconfiguration', 'zz-sidecar-injector', '--ignore-not-found']);
      await new Promise((resolve) => injector.close(resolve));
    }
  });

  scenario(env, '15. the default --scope pods, v1beta1 offered first: kubectl run, a Deployment rollout (create, set image) and kubectl debug --copy-to', async () => {
    // What a cluster registers by default (README "Wiring it to EKS"): Pods only. The API server
    // sends the first version it knows of the list, so this one is answered in v1beta1.
    const ns = 'default-scope';
    await kubectl.createNamespace(ns);
    const beta = await env.startExtraServe('serve-default-scope');
    try {
      await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(beta.port, env.webhook.token), scope: 'pods', admissionReviewVersions: ['v1beta1', 'v1'] }));
      const registered = await kubectl.json(webhookConfiguration, ['get', 'mutatingwebhookconfiguration', 'image-rewriter']);
      expect(registered.webhooks.map((w) => [w.name, w.admissionReviewVersions])).toEqual([[WEBHOOK_NAME, ['v1beta1', 'v1']]]);
      await waitUntilRewriting(kubectl, PROBE_NAMESPACE, beta);
      const [mainMark, mark] = [env.serve.mark(), beta.mark()];

      const run = await kubectl.ok(['-n', ns, 'run', 'hello', '--image=gcr.io/e2e/hello:1.0']);
      expect(warnings(run.stderr)).toEqual(['Warning: image-rewriter: rewrote containers[hello] gcr.io/e2e/hello:1.0 -> asia.gcr.io/e2e/hello:1.0 (rule gcr)']);
      const hello = await getPod(ns, 'hello');
      expect(imagesOf(hello.spec)).toEqual({ 'containers/hello': 'asia.gcr.io/e2e/hello:1.0' });
      expect(hello.metadata.annotations?.[ORIGINAL_IMAGES]).toBe('{"containers/hello":"gcr.io/e2e/hello:1.0"}');
      expect(await beta.waitReviewed(ns, 'hello', mark)).toMatchObject({ operation: 'CREATE', outcome: 'patched', rewrites: 1 });

      // The Deployment is stored as applied (no warning at apply); the Pods its ReplicaSet creates are rewritten.
      const created = await kubectl.ok(['-n', ns, 'create', 'deployment', 'web', '--image=gcr.io/e2e/web:1', '--replicas=2']);
      expect(warnings(created.stderr)).toEqual([]);
      const first = await waitForPods(ns, 'app=web', 2);
      expect(first.map((p) => imagesOf(p.spec))).toEqual([{ 'containers/web': 'asia.gcr.io/e2e/web:1' }, { 'containers/web': 'asia.gcr.io/e2e/web:1' }]);
      expect(imagesOf((await kubectl.json(deployment, ['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec)).toEqual({ 'containers/web': 'gcr.io/e2e/web:1' });

      // A rollout: a new ReplicaSet for the new template (upstream, as the user wrote it), whose Pod is rewritten.
      await kubectl.ok(['-n', ns, 'set', 'image', 'deployment/web', 'web=gcr.io/e2e/web:2']);
      const rolled = await eventually('a Pod of the new ReplicaSet', { timeoutMs: 90_000 }, async () => {
        const pods = await kubectl.json(list(pod), ['-n', ns, 'get', 'pods', '-l', 'app=web']);
        const fresh = pods.items.filter((p) => (p.spec.containers[0]?.image ?? '').endsWith(':2'));
        return fresh.length > 0 ? done(fresh) : notYet(`${pods.items.length} Pod(s), none of :2`);
      });
      expect(rolled.map((p) => imagesOf(p.spec))).toEqual(rolled.map(() => ({ 'containers/web': 'asia.gcr.io/e2e/web:2' })));
      const sets = await kubectl.json(list(replicaSet), ['-n', ns, 'get', 'replicasets', '-l', 'app=web']);
      expect(sets.items.map((r) => imagesOf(r.spec.template.spec)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([{ 'containers/web': 'gcr.io/e2e/web:1' }, { 'containers/web': 'gcr.io/e2e/web:2' }]);

      // kubectl debug --copy-to: a new Pod, a copy of hello (already rewritten) with one more container.
      const copied = await kubectl.ok(['-n', ns, 'debug', 'hello', '--copy-to=hello-debug', '--image=docker.io/e2e/tools:1', '-c', 'tools']);
      expect(warnings(copied.stderr)).toEqual(['Warning: image-rewriter: rewrote containers[tools] docker.io/e2e/tools:1 -> mirror.example.com/hub/e2e/tools:1 (rule hub)']);
      expect(imagesOf((await getPod(ns, 'hello-debug')).spec)).toEqual({ 'containers/hello': 'asia.gcr.io/e2e/hello:1.0', 'containers/tools': 'mirror.example.com/hub/e2e/tools:1' });
      expect(env.serve.reviewed(ns, 'hello', mainMark)).toBeUndefined();
    } finally {
      await env.restoreWebhook();
      await env.stopServe(beta);
    }
  });
});
