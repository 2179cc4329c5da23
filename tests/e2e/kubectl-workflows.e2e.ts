/**
 * The kubectl workflows of a platform team beyond `kubectl apply`, against the real kube-apiserver,
 * in each `--scope` (README, "Scope: `--scope pods` (default) or `--scope all`"): `kubectl diff`
 * of an unchanged manifest after it was applied (nothing to show, exit 0), server-side apply of
 * the same upstream manifest twice (no conflict, nothing written the second time), `kubectl
 * label`/`annotate` of a Pod (an UPDATE left alone), `kubectl set image` and a PUT of a Pod's
 * image (`kubectl edit`, `kubectl replace`), `kubectl replace --force` of an exported Pod,
 * `kubectl debug` twice, `kubectl scale`, `kubectl create job --from=cronjob/...`, `kubectl
 * rollout restart` and `rollout undo`, `kubectl create -f` of a List with a PodTemplate and a
 * ReplicationController, and `--warnings-as-errors`, which the rewrite's warning fails (README,
 * "Troubleshooting"); and the README's ValidatingAdmissionPolicy beside the webhook, `kubectl debug`
 * included. Each asserts what the user sees: the object stored, kubectl's output and warnings, the
 * webhook's review line.
 *
 * The environment's serve (harness/webhook.ts RULES_YAML: gcr.io -> asia.gcr.io, docker.io ->
 * mirror.example.com/hub, busybox excluded) with the configuration of each scope registered in
 * turn; the start's configuration is registered again at the end.
 */
import { describe, expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import * as z from 'zod';
import { E2eEnvironment } from './harness/environment.js';
import { type KubectlResult, imagesOf, job, list, objectMeta, podSpec, podTemplateSpec, replicaSet } from './harness/kubectl.js';
import { scenario } from './harness/scenario.js';
import { distCli } from './harness/tools.js';
import { done, eventually, notYet } from './harness/wait.js';

const ORIGINAL_IMAGES = 'image-rewriter.io/original-images';

const env = E2eEnvironment.connect();
const { kubectl } = env;

/** The parts of stored objects read here: their images, annotations and resourceVersion. */
const meta = objectMeta.extend({ resourceVersion: z.string() });
const storedPod = z.object({ metadata: meta, spec: podSpec });
const storedDeployment = z.object({ metadata: meta, spec: z.object({ replicas: z.number().optional(), template: podTemplateSpec }) });
const storedTemplate = z.object({ metadata: meta, template: podTemplateSpec });
const storedController = z.object({ metadata: meta, spec: z.object({ template: podTemplateSpec }) });

const warningsOf = (r: KubectlResult): string[] => r.stderr.split('\n').filter((l) => l.startsWith('Warning: '));
/** stderr without the warnings (kubectl's own errors and notes). */
const errorsOf = (r: KubectlResult): string[] => r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('Warning: '));
const rewrote = (where: string, from: string, to: string, rule: string): string => `Warning: image-rewriter: rewrote ${where} ${from} -> ${to} (rule ${rule})`;
const originals = (annotations: Readonly<Record<string, string>> | undefined): unknown => JSON.parse(annotations?.[ORIGINAL_IMAGES] ?? 'null');

const podManifest = (name: string, image: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'main', image }] } });

const deploymentManifest = (name: string, image: string, replicas = 0): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image }] } } },
  });

const cronJobManifest = (name: string, image: string): string =>
  JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name },
    spec: { schedule: '0 3 * * *', suspend: true, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image }] } } } } },
  });

/**
 * Register the configuration of `scope` and wait until it is in effect: a Deployment's dry-run
 * create comes back rewritten (`all`) or as written (`pods`) while a Pod's is rewritten.
 */
async function registerScope(ns: string, scope: 'pods' | 'all'): Promise<void> {
  await env.applyWebhookConfig(await env.configYaml({ scope }));
  await eventually(`--scope ${scope} in effect`, { timeoutMs: 60_000 }, async () => {
    const dryRun = async (manifest: string): Promise<string> => {
      const r = await kubectl.ok(['-n', ns, 'create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: manifest });
      return JSON.stringify(JSON.parse(r.stdout));
    };
    const [pod, deployment] = [await dryRun(podManifest('scope-probe', 'gcr.io/e2e/probe:1')), await dryRun(deploymentManifest('scope-probe', 'gcr.io/e2e/probe:1'))];
    const podRewritten = pod.includes('asia.gcr.io/e2e/probe:1');
    const deploymentRewritten = deployment.includes('asia.gcr.io/e2e/probe:1');
    return podRewritten && deploymentRewritten === (scope === 'all') ? done(undefined) : notYet(`Pod rewritten: ${podRewritten}, Deployment rewritten: ${deploymentRewritten}`);
  });
}

const getPod = (ns: string, name: string) => kubectl.json(storedPod, ['-n', ns, 'get', 'pod', name]);
const getDeployment = (ns: string, name: string) => kubectl.json(storedDeployment, ['-n', ns, 'get', 'deployment', name]);

/** `kubectl diff -f -` of `manifest`: exit code, stdout, kubectl's errors, the warnings. */
async function diff(ns: string, manifest: string, args: readonly string[] = []): Promise<{ code: number; stdout: string; errors: string[]; warnings: string[] }> {
  const r = await kubectl.run(['-n', ns, 'diff', ...args, '-f', '-'], { input: manifest });
  return { code: r.code, stdout: r.stdout, errors: errorsOf(r), warnings: warningsOf(r) };
}

describe('kubectl workflows against a real kube-apiserver', () => {
  scenario(env, 'W1. --scope pods: diff after apply and after server-side apply, SSA twice, label/annotate, set image, PUT, replace --force, debug twice, scale, create job --from', async () => {
    const ns = 'workflows-pods';
    await kubectl.createNamespace(ns);
    try {
      await registerScope(ns, 'pods');
      const web = podManifest('web', 'gcr.io/e2e/web:1');
      const deploy = deploymentManifest('app', 'gcr.io/e2e/app:1');

      // kubectl apply, then kubectl diff of the same manifests: nothing to show, exit 0. The Pod's
      // dry run is rewritten as its apply was (the rewrite's warning, on stderr); the Deployment is
      // not sent at all (stored as applied: no warning).
      const applied = await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: web });
      expect(warningsOf(applied)).toEqual([rewrote('containers[main]', 'gcr.io/e2e/web:1', 'asia.gcr.io/e2e/web:1', 'gcr')]);
      expect(warningsOf(await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: deploy }))).toEqual([]);
      expect(await diff(ns, web)).toEqual({ code: 0, stdout: '', errors: [], warnings: [rewrote('containers[main]', 'gcr.io/e2e/web:1', 'asia.gcr.io/e2e/web:1', 'gcr')] });
      expect(await diff(ns, deploy)).toEqual({ code: 0, stdout: '', errors: [], warnings: [] });
      // Applied again: kubectl's three-way patch puts git's upstream image back ("configured"),
      // the webhook rewrites it to the stored one, and nothing is written (same resourceVersion).
      const before = await getPod(ns, 'web');
      const again = await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: web });
      expect({ stdout: again.stdout.trim(), errors: errorsOf(again) }).toEqual({ stdout: 'pod/web configured', errors: [] });
      expect((await getPod(ns, 'web')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);

      // Server-side apply of the upstream manifest, twice by the same manager: no conflict, the
      // second writes nothing; kubectl diff, server-side or not, shows nothing.
      const ssa = podManifest('ssa', 'nginx:1.27');
      for (let i = 0; i < 2; i++) {
        const r = await kubectl.ok(['-n', ns, 'apply', '--server-side', '-f', '-'], { input: ssa });
        expect({ i, stdout: r.stdout.trim(), errors: errorsOf(r) }).toEqual({ i, stdout: 'pod/ssa serverside-applied', errors: [] });
      }
      const ssaStored = await getPod(ns, 'ssa');
      expect(imagesOf(ssaStored.spec)).toEqual({ 'containers/main': 'mirror.example.com/hub/library/nginx:1.27' });
      expect(originals(ssaStored.metadata.annotations)).toEqual({ 'containers/main': 'nginx:1.27' });
      await kubectl.ok(['-n', ns, 'apply', '--server-side', '-f', '-'], { input: ssa });
      expect((await getPod(ns, 'ssa')).metadata.resourceVersion).toBe(ssaStored.metadata.resourceVersion);
      const hub = rewrote('containers[main]', 'nginx:1.27', 'mirror.example.com/hub/library/nginx:1.27', 'hub');
      expect(await diff(ns, ssa, ['--server-side'])).toEqual({ code: 0, stdout: '', errors: [], warnings: [hub] });
      expect(await diff(ns, ssa)).toEqual({ code: 0, stdout: '', errors: [], warnings: [hub] });

      // kubectl label and annotate: UPDATEs that change no image, answered unchanged, no warning.
      const mark = env.serve.mark();
      for (const args of [['label', 'pod/web', 'team=payments'], ['annotate', 'pod/web', 'owner=platform']]) {
        const r = await kubectl.ok(['-n', ns, ...args]);
        expect({ args, warnings: warningsOf(r) }).toEqual({ args, warnings: [] });
      }
      const labelled = await getPod(ns, 'web');
      expect({ images: imagesOf(labelled.spec), originals: originals(labelled.metadata.annotations), team: labelled.metadata.labels?.['team'] }).toEqual({
        images: { 'containers/main': 'asia.gcr.io/e2e/web:1' },
        originals: { 'containers/main': 'gcr.io/e2e/web:1' },
        team: 'payments',
      });
      await env.serve.waitReviewed(ns, 'web', mark, 'UPDATE');
      await eventually('both UPDATE review lines', { timeoutMs: 10_000 }, () => {
        const lines = env.serve.lines(mark).filter((l) => l.message === 'admission reviewed' && l['namespace'] === ns && l['name'] === 'web');
        return Promise.resolve(lines.length >= 2 ? done(lines) : notYet(`${lines.length} line(s)`));
      }).then((lines) => {
        expect(lines.map((l) => [l['operation'], l['outcome'], l['rewrites']])).toEqual([
          ['UPDATE', 'unchanged', 0],
          ['UPDATE', 'unchanged', 0],
        ]);
      });

      // kubectl --warnings-as-errors (README, "Troubleshooting"): the rewrite's warning makes kubectl
      // exit 1 after the object was stored, and kubectl diff's 1 then reads as drift; render's
      // output leaves nothing to rewrite, so nothing to print.
      const strict = await kubectl.run(['-n', ns, 'run', 'strict', '--image=gcr.io/e2e/strict:1', '--warnings-as-errors']);
      expect({ code: strict.code, stdout: strict.stdout.trim(), errors: errorsOf(strict) }).toEqual({ code: 1, stdout: 'pod/strict created', errors: ['error: 1 warning received'] });
      expect(imagesOf((await getPod(ns, 'strict')).spec)).toEqual({ 'containers/strict': 'asia.gcr.io/e2e/strict:1' });
      expect(await diff(ns, web, ['--warnings-as-errors'])).toEqual({ code: 1, stdout: '', errors: ['error: 1 warning received'], warnings: [rewrote('containers[main]', 'gcr.io/e2e/web:1', 'asia.gcr.io/e2e/web:1', 'gcr')] });
      const rendered = spawnSync(process.execPath, [distCli(env.root), 'render', '--config', env.webhook.files.rules, '--namespace', ns], { input: podManifest('rendered', 'gcr.io/e2e/web:1'), encoding: 'utf8' });
      expect({ status: rendered.status, stderr: rendered.stderr }).toEqual({ status: 0, stderr: '' });
      const clean = await kubectl.run(['-n', ns, 'apply', '--warnings-as-errors', '-f', '-'], { input: rendered.stdout });
      expect({ code: clean.code, stdout: clean.stdout.trim(), stderr: clean.stderr }).toEqual({ code: 0, stdout: 'pod/rendered created', stderr: '' });
      expect(await diff(ns, rendered.stdout, ['--warnings-as-errors'])).toEqual({ code: 0, stdout: '', errors: [], warnings: [] });

      // kubectl set image on the Pod (the one mutable part of a container): rewritten, recorded.
      const set = await kubectl.ok(['-n', ns, 'set', 'image', 'pod/web', 'main=gcr.io/e2e/web:2']);
      expect(warningsOf(set)).toEqual([rewrote('containers[main]', 'gcr.io/e2e/web:2', 'asia.gcr.io/e2e/web:2', 'gcr')]);
      // kubectl edit: a PUT of the whole stored Pod with its image changed to another upstream tag.
      const current = JSON.parse((await kubectl.ok(['-n', ns, 'get', 'pod', 'web', '-o', 'json'])).stdout) as { spec: { containers: { image: string }[] } };
      const first = current.spec.containers[0];
      if (first === undefined) throw new Error('the Pod has no container');
      first.image = 'gcr.io/e2e/web:3';
      const put = await kubectl.ok(['-n', ns, 'replace', '-f', '-'], { input: JSON.stringify(current) });
      expect({ stdout: put.stdout.trim(), warnings: warningsOf(put) }).toEqual({ stdout: 'pod/web replaced', warnings: [rewrote('containers[main]', 'gcr.io/e2e/web:3', 'asia.gcr.io/e2e/web:3', 'gcr')] });
      const edited = await getPod(ns, 'web');
      expect({ images: imagesOf(edited.spec), originals: originals(edited.metadata.annotations) }).toEqual({
        images: { 'containers/main': 'asia.gcr.io/e2e/web:3' },
        originals: { 'containers/main': 'gcr.io/e2e/web:3' },
      });

      // kubectl replace --force of the exported Pod: deleted and created again as it was, nothing to rewrite.
      const exported = (await kubectl.ok(['-n', ns, 'get', 'pod', 'web', '-o', 'json'])).stdout;
      const forced = await kubectl.ok(['-n', ns, 'replace', '--force', '-f', '-'], { input: exported });
      expect(warningsOf(forced)).toEqual([]);
      const recreated = await getPod(ns, 'web');
      expect(recreated.metadata.uid).not.toBe(edited.metadata.uid);
      expect({ images: imagesOf(recreated.spec), originals: originals(recreated.metadata.annotations) }).toEqual({
        images: { 'containers/main': 'asia.gcr.io/e2e/web:3' },
        originals: { 'containers/main': 'gcr.io/e2e/web:3' },
      });

      // kubectl debug twice: each ephemeral container rewritten as it is added, the first left as it
      // is; the review line names the subresource (README, "Logs and metrics").
      const debugMark = env.serve.mark();
      const debug1 = await kubectl.ok(['-n', ns, 'debug', 'web', '--image=gcr.io/e2e/tools:1', '-c', 'tools']);
      expect(warningsOf(debug1)).toEqual([rewrote('ephemeralContainers[tools]', 'gcr.io/e2e/tools:1', 'asia.gcr.io/e2e/tools:1', 'gcr')]);
      expect(await env.serve.waitReviewed(ns, 'web', debugMark, 'UPDATE')).toMatchObject({ subResource: 'ephemeralcontainers', outcome: 'patched', rewrites: 1 });
      const debug2 = await kubectl.ok(['-n', ns, 'debug', 'web', '--image=nginx:1.27', '-c', 'shell']);
      expect(warningsOf(debug2)).toEqual([rewrote('ephemeralContainers[shell]', 'nginx:1.27', 'mirror.example.com/hub/library/nginx:1.27', 'hub')]);
      const debugged = await getPod(ns, 'web');
      expect(imagesOf(debugged.spec)).toEqual({
        'containers/main': 'asia.gcr.io/e2e/web:3',
        'ephemeralContainers/tools': 'asia.gcr.io/e2e/tools:1',
        'ephemeralContainers/shell': 'mirror.example.com/hub/library/nginx:1.27',
      });
      expect(originals(debugged.metadata.annotations)).toEqual({ 'containers/main': 'gcr.io/e2e/web:3' });

      // kubectl scale (the scale subresource) and kubectl create job --from=cronjob/...: workloads
      // stored as written, no warning; only their Pods are rewritten.
      const scaled = await kubectl.ok(['-n', ns, 'scale', 'deployment/app', '--replicas=2']);
      expect(warningsOf(scaled)).toEqual([]);
      const pods = await eventually('the 2 Pods of app', { timeoutMs: 90_000 }, async () => {
        const items = (await kubectl.json(list(storedPod), ['-n', ns, 'get', 'pods', '-l', 'app=app'])).items;
        return items.length >= 2 ? done(items) : notYet(`${items.length} Pod(s)`);
      });
      expect(pods.map((p) => imagesOf(p.spec))).toEqual(pods.map(() => ({ 'containers/main': 'asia.gcr.io/e2e/app:1' })));
      const app = await getDeployment(ns, 'app');
      expect({ replicas: app.spec.replicas, images: imagesOf(app.spec.template.spec) }).toEqual({ replicas: 2, images: { 'containers/main': 'gcr.io/e2e/app:1' } });
      expect(warningsOf(await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: cronJobManifest('nightly', 'gcr.io/e2e/batch:1') }))).toEqual([]);
      const fromCron = await kubectl.ok(['-n', ns, 'create', 'job', 'manual-1', '--from=cronjob/nightly']);
      expect({ stdout: fromCron.stdout.trim(), warnings: warningsOf(fromCron) }).toEqual({ stdout: 'job.batch/manual-1 created', warnings: [] });
      expect(imagesOf((await kubectl.json(job, ['-n', ns, 'get', 'job', 'manual-1'])).spec.template.spec)).toEqual({ 'containers/main': 'gcr.io/e2e/batch:1' });
    } finally {
      await env.restoreWebhook();
    }
  });

  scenario(env, 'W2. --scope all: a List with a PodTemplate and a ReplicationController, SSA twice, set image, rollout undo and restart, scale, create job --from, diff after each', async () => {
    const ns = 'workflows-all';
    await kubectl.createNamespace(ns);
    try {
      await registerScope(ns, 'all');

      // kubectl create -f of a List: each item's template rewritten, with its warning and its originals.
      const items = [
        { apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'tpl' }, template: { metadata: { labels: { app: 'tpl' } }, spec: { containers: [{ name: 'main', image: 'gcr.io/e2e/tpl:1' }] } } },
        {
          apiVersion: 'v1',
          kind: 'ReplicationController',
          metadata: { name: 'rc' },
          spec: { replicas: 0, selector: { app: 'rc' }, template: { metadata: { labels: { app: 'rc' } }, spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] } } },
        },
        JSON.parse(cronJobManifest('nightly', 'gcr.io/e2e/batch:1')) as unknown,
      ];
      const listManifest = JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
      const created = await kubectl.ok(['-n', ns, 'create', '-f', '-'], { input: listManifest });
      expect(created.stdout.trim().split('\n')).toEqual(['podtemplate/tpl created', 'replicationcontroller/rc created', 'cronjob.batch/nightly created']);
      expect(warningsOf(created)).toEqual([
        rewrote('containers[main]', 'gcr.io/e2e/tpl:1', 'asia.gcr.io/e2e/tpl:1', 'gcr'),
        rewrote('containers[main]', 'nginx:1.27', 'mirror.example.com/hub/library/nginx:1.27', 'hub'),
        rewrote('containers[main]', 'gcr.io/e2e/batch:1', 'asia.gcr.io/e2e/batch:1', 'gcr'),
      ]);
      const tpl = await kubectl.json(storedTemplate, ['-n', ns, 'get', 'podtemplate', 'tpl']);
      const rc = await kubectl.json(storedController, ['-n', ns, 'get', 'replicationcontroller', 'rc']);
      expect([imagesOf(tpl.template.spec), originals(tpl.metadata.annotations), imagesOf(rc.spec.template.spec), originals(rc.metadata.annotations)]).toEqual([
        { 'containers/main': 'asia.gcr.io/e2e/tpl:1' },
        { 'containers/main': 'gcr.io/e2e/tpl:1' },
        { 'containers/main': 'mirror.example.com/hub/library/nginx:1.27' },
        { 'containers/main': 'nginx:1.27' },
      ]);
      // Applied (kubectl takes the created objects over), then diffed: nothing to show. Applied
      // again and again: kubectl sends the upstream images each time ("configured"), the
      // generation never moves, and within a re-apply or two (the API server may still rewrite
      // the managedFields of the takeover once) nothing is written at all.
      const versions = async () =>
        (await kubectl.json(list(z.object({ metadata: meta })), ['-n', ns, 'get', 'podtemplate/tpl', 'replicationcontroller/rc', 'cronjob/nightly'])).items.map((o) => ({ resourceVersion: o.metadata.resourceVersion, generation: o.metadata.generation }));
      await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: listManifest });
      let before = await versions();
      const generations = before.map((v) => v.generation);
      const configured = ['podtemplate/tpl configured', 'replicationcontroller/rc configured', 'cronjob.batch/nightly configured'];
      let unwritten = false;
      for (let i = 0; i < 3 && !unwritten; i++) {
        const reapplied = await kubectl.ok(['-n', ns, 'apply', '-f', '-'], { input: listManifest });
        expect(reapplied.stdout.trim().split('\n')).toEqual(configured);
        const after = await versions();
        expect(after.map((v) => v.generation)).toEqual(generations);
        unwritten = JSON.stringify(after) === JSON.stringify(before);
        before = after;
      }
      expect(unwritten).toBe(true);
      const listDiff = await diff(ns, listManifest);
      expect({ code: listDiff.code, stdout: listDiff.stdout, errors: listDiff.errors }).toEqual({ code: 0, stdout: '', errors: [] });
      expect(listDiff.warnings).toHaveLength(3);

      // kubectl create job --from=cronjob/...: the Job copies the CronJob's rewritten template; nothing left to rewrite.
      const fromCron = await kubectl.ok(['-n', ns, 'create', 'job', 'manual-1', '--from=cronjob/nightly']);
      expect({ stdout: fromCron.stdout.trim(), warnings: warningsOf(fromCron) }).toEqual({ stdout: 'job.batch/manual-1 created', warnings: [] });
      expect(imagesOf((await kubectl.json(job, ['-n', ns, 'get', 'job', 'manual-1'])).spec.template.spec)).toEqual({ 'containers/main': 'asia.gcr.io/e2e/batch:1' });

      // Server-side apply of a Deployment's upstream manifest twice: no conflict, nothing written
      // the second time; kubectl diff, server-side or not, shows nothing.
      const web = deploymentManifest('web', 'gcr.io/e2e/web:1');
      const toWeb1 = rewrote('containers[main]', 'gcr.io/e2e/web:1', 'asia.gcr.io/e2e/web:1', 'gcr');
      for (let i = 0; i < 2; i++) {
        const r = await kubectl.ok(['-n', ns, 'apply', '--server-side', '-f', '-'], { input: web });
        expect({ i, stdout: r.stdout.trim(), errors: errorsOf(r), warnings: warningsOf(r) }).toEqual({ i, stdout: 'deployment.apps/web serverside-applied', errors: [], warnings: [toWeb1] });
      }
      const first = await getDeployment(ns, 'web');
      expect({ images: imagesOf(first.spec.template.spec), originals: originals(first.metadata.annotations) }).toEqual({
        images: { 'containers/main': 'asia.gcr.io/e2e/web:1' },
        originals: { 'containers/main': 'gcr.io/e2e/web:1' },
      });
      await kubectl.ok(['-n', ns, 'apply', '--server-side', '-f', '-'], { input: web });
      expect((await getDeployment(ns, 'web')).metadata.generation).toBe(first.metadata.generation);
      expect(await diff(ns, web, ['--server-side'])).toEqual({ code: 0, stdout: '', errors: [], warnings: [toWeb1] });
      expect(await diff(ns, web)).toEqual({ code: 0, stdout: '', errors: [], warnings: [toWeb1] });

      // kubectl set image to another upstream image: rewritten, recorded; a second ReplicaSet.
      const replicaSets = (count: number) =>
        eventually(`${count} ReplicaSet(s) of web`, { timeoutMs: 60_000 }, async () => {
          const sets = (await kubectl.json(list(replicaSet), ['-n', ns, 'get', 'replicasets', '-l', 'app=web'])).items;
          return sets.length === count ? done(sets) : notYet(`${sets.length} ReplicaSet(s)`);
        });
      await replicaSets(1);
      const set = await kubectl.ok(['-n', ns, 'set', 'image', 'deployment/web', 'main=gcr.io/e2e/web:2']);
      expect(warningsOf(set)).toEqual([rewrote('containers[main]', 'gcr.io/e2e/web:2', 'asia.gcr.io/e2e/web:2', 'gcr')]);
      const two = await replicaSets(2);
      expect(two.map((r) => imagesOf(r.spec.template.spec)['containers/main']).sort()).toEqual(['asia.gcr.io/e2e/web:1', 'asia.gcr.io/e2e/web:2']);
      await eventually('revision 2 observed', { timeoutMs: 60_000 }, async () => {
        const d = await getDeployment(ns, 'web');
        const revision = d.metadata.annotations?.['deployment.kubernetes.io/revision'];
        return revision === '2' ? done(undefined) : notYet(`revision ${String(revision)}`);
      });

      // kubectl rollout undo: the first ReplicaSet's template (rewritten) and its copy of the
      // originals go back on the Deployment, which adopts that ReplicaSet again (no third one).
      const undone = await kubectl.ok(['-n', ns, 'rollout', 'undo', 'deployment/web']);
      expect({ stdout: undone.stdout.trim(), warnings: warningsOf(undone) }).toEqual({ stdout: 'deployment.apps/web rolled back', warnings: [] });
      const rolledBack = await getDeployment(ns, 'web');
      expect({ images: imagesOf(rolledBack.spec.template.spec), originals: originals(rolledBack.metadata.annotations) }).toEqual({
        images: { 'containers/main': 'asia.gcr.io/e2e/web:1' },
        originals: { 'containers/main': 'gcr.io/e2e/web:1' },
      });
      await eventually('revision 3 observed', { timeoutMs: 60_000 }, async () => {
        const revision = (await getDeployment(ns, 'web')).metadata.annotations?.['deployment.kubernetes.io/revision'];
        return revision === '3' ? done(undefined) : notYet(`revision ${String(revision)}`);
      });
      expect(await replicaSets(2)).toHaveLength(2);
      // The manifest (web:1) matches the rolled-back Deployment again: nothing to show.
      expect(await diff(ns, web)).toEqual({ code: 0, stdout: '', errors: [], warnings: [toWeb1] });

      // kubectl rollout restart and kubectl scale: the image stays, no warning.
      const restarted = await kubectl.ok(['-n', ns, 'rollout', 'restart', 'deployment/web']);
      expect(warningsOf(restarted)).toEqual([]);
      const scaled = await kubectl.ok(['-n', ns, 'scale', 'deployment/web', '--replicas=1']);
      expect(warningsOf(scaled)).toEqual([]);
      const after = await getDeployment(ns, 'web');
      expect({ replicas: after.spec.replicas, images: imagesOf(after.spec.template.spec), originals: originals(after.metadata.annotations) }).toEqual({
        replicas: 1,
        images: { 'containers/main': 'asia.gcr.io/e2e/web:1' },
        originals: { 'containers/main': 'gcr.io/e2e/web:1' },
      });
      const pods = await eventually('a Pod of web', { timeoutMs: 90_000 }, async () => {
        const found = (await kubectl.json(list(storedPod), ['-n', ns, 'get', 'pods', '-l', 'app=web'])).items;
        return found.length > 0 ? done(found) : notYet('no Pod');
      });
      // Made from the rewritten template: nothing left to rewrite, no originals.
      expect(pods.map((p) => [imagesOf(p.spec), p.metadata.annotations?.[ORIGINAL_IMAGES]])).toEqual(pods.map(() => [{ 'containers/main': 'asia.gcr.io/e2e/web:1' }, undefined]));
    } finally {
      await env.restoreWebhook();
    }
  });
  scenario(env, "W3. README's ValidatingAdmissionPolicy beside the webhook: what it rewrites passes, kubectl debug included; the rest is refused; a Pod from before may still be labelled", async () => {
    // README, "Opt-out, and why this is not a policy boundary": mutating webhooks run before
    // validating admission, through the pods/ephemeralcontainers subresource too. The policy as
    // the README gives it, its ECR prefix replaced by the environment's Docker Hub mirror, and its
    // binding limited to this scenario's namespace.
    const ns = 'workflows-policy';
    await kubectl.createNamespace(ns);
    const readme = await readFile(join(env.root, 'README.md'), 'utf8');
    const block = readme.split('\n### Opt-out, and why this is not a policy boundary\n')[1]?.split('```yaml\n')[1]?.split('```')[0] ?? '';
    const [policy, binding] = parseAllDocuments(block.replaceAll('123456789012.dkr.ecr.us-west-2.amazonaws.com/', 'mirror.example.com/')).map((d) => d.toJS() as Record<string, unknown>);
    if (policy === undefined || binding === undefined) throw new Error("README's policy example is not two documents");
    const bindingSpec = binding['spec'] as Record<string, unknown>;
    bindingSpec['matchResources'] = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } };
    try {
      await registerScope(ns, 'pods');
      // A Pod from before the policy, with an image from a registry no rule rewrites.
      await kubectl.ok(['-n', ns, 'run', 'before', '--image=quay.io/e2e/old:1']);
      await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [policy, binding] }) });
      const refusal = `ValidatingAdmissionPolicy 'images-from-approved-registries' with binding 'images-from-approved-registries' denied request: images must come from the approved registries`;
      // The API server takes a new policy into effect within a second or so: until a Pod it must refuse is refused.
      await eventually('the policy in effect', { timeoutMs: 60_000 }, async () => {
        const r = await kubectl.run(['-n', ns, 'run', 'probe', '--image=quay.io/e2e/app:1', '--dry-run=server']);
        return r.code !== 0 && r.stderr.includes(refusal) ? done(undefined) : notYet(`exit ${r.code}: ${r.stderr.trim()}`);
      });

      const rewritten = await kubectl.ok(['-n', ns, 'run', 'web', '--image=gcr.io/e2e/web:1']);
      expect(warningsOf(rewritten)).toEqual([rewrote('containers[web]', 'gcr.io/e2e/web:1', 'asia.gcr.io/e2e/web:1', 'gcr')]);
      const upstream = await kubectl.run(['-n', ns, 'run', 'other', '--image=quay.io/e2e/app:1']);
      expect({ code: upstream.code, refused: upstream.stderr.includes(refusal) }).toEqual({ code: 1, refused: true });
      // kubectl debug: an image the webhook rewrites passes; busybox, excluded from the rules, is refused.
      const debugged = await kubectl.ok(['-n', ns, 'debug', 'web', '--image=nginx:1.27', '-c', 'shell']);
      expect(warningsOf(debugged)).toEqual([rewrote('ephemeralContainers[shell]', 'nginx:1.27', 'mirror.example.com/hub/library/nginx:1.27', 'hub')]);
      const excluded = await kubectl.run(['-n', ns, 'debug', 'web', '--image=busybox:1.36', '-c', 'bb']);
      expect({ code: excluded.code, refused: excluded.stderr.includes(refusal) }).toEqual({ code: 1, refused: true });
      expect(imagesOf((await getPod(ns, 'web')).spec)).toEqual({ 'containers/web': 'asia.gcr.io/e2e/web:1', 'ephemeralContainers/shell': 'mirror.example.com/hub/library/nginx:1.27' });
      // The Pod from before: labelled (an update that changes no image), not debugged with an approved image.
      await kubectl.ok(['-n', ns, 'label', 'pod/before', 'team=payments']);
      const old = await kubectl.run(['-n', ns, 'debug', 'before', '--image=asia.gcr.io/e2e/tools:1', '-c', 'tools']);
      expect({ code: old.code, refused: old.stderr.includes(refusal) }).toEqual({ code: 1, refused: true });
    } finally {
      await kubectl.run(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'images-from-approved-registries', '--ignore-not-found']);
      await env.restoreWebhook();
    }
  });
});
