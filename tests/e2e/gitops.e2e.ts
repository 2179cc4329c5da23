/**
 * What Argo CD and Flux see of the webhook's rewrites (README, "Rewrite before apply (GitOps,
 * Helm)" and "Scope"; docs/gitops.md), with their own code: hack/gitops-oracle runs Argo CD 3.6's
 * diff (util/argo/diff.StateDiffs with the DiffConfig its application controller builds: the
 * default three-way diff, `ignoreDifferences`, Server-Side Diff with and without
 * IncludeMutationWebhook) and its sync's kubectl apply (client-side, or server-side), and Flux's
 * fluxcd/pkg/ssa ResourceManager (Diff: the drift check, a server-side dry-run apply forcing
 * ownership as kustomize-controller; Apply) against the real kube-apiserver, the webhook
 * registered with `--scope all` (and, in G4, `--scope pods`).
 *
 * This file's own serve, with its own rules file (a rules change and an outage are scenarios
 * here); the start's configuration is registered again at the end of each scenario.
 */
import { describe, expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import * as z from 'zod';
import { E2eEnvironment } from './harness/environment.js';
import { scenario } from './harness/scenario.js';
import type { ServeInstance } from './harness/webhook.js';
import { webhookUrl } from './harness/webhook.js';
import { done, eventually, notYet } from './harness/wait.js';

const env = E2eEnvironment.connect();
const { kubectl } = env;
const ORACLE_VARIABLE = 'IMAGE_REWRITER_GITOPS_ORACLE';

/** hack/gitops-oracle/build.sh's binary, which scripts/test-e2e.sh builds and exports. */
function oracleBinary(): string {
  const path = process.env[ORACLE_VARIABLE];
  if (path === undefined || path === '') {
    throw new Error(`${ORACLE_VARIABLE} is not set: run the suite with \`npm run test:e2e\` (scripts/test-e2e.sh builds it), or \`export ${ORACLE_VARIABLE}=$(hack/gitops-oracle/build.sh | tail -n1)\``);
  }
  return path;
}
const ORACLE = oracleBinary();

const RULES = (target: string, pullSecret?: string): string => `rules:
  - name: gcr
    match: gcr.io
    replace: ${target}${pullSecret === undefined ? '' : `\n    imagePullSecrets: [${pullSecret}]`}
  - name: hub
    match: docker.io
    replace: mirror.example.com/hub
`;

const change = z.object({ path: z.string(), live: z.unknown(), predicted: z.unknown() });
const argoDiff = z.object({ modified: z.boolean(), changes: z.array(change) });
const fluxDiff = z.object({ action: z.string(), changes: z.array(change) });
const failure = z.object({ error: z.string() });

type Obj = Record<string, unknown> & { readonly kind: string; readonly metadata: { readonly name: string; readonly namespace: string } };

const dir = join(env.runDir, 'gitops');
mkdirSync(dir, { recursive: true });

function objectFile(obj: Obj): string {
  const file = join(dir, `${obj.kind}-${obj.metadata.namespace}-${obj.metadata.name}.json`);
  writeFileSync(file, JSON.stringify(obj));
  return file;
}

/** One oracle command; its last stdout line, parsed (the oracle prints an `error` line and exits 1 on failure). */
function oracle(command: string, obj: Obj | readonly Obj[], ...flags: string[]): unknown {
  let file: string;
  if (isList(obj)) {
    file = join(dir, `list-${obj.map((o) => o.metadata.name).join('-')}.json`);
    writeFileSync(file, JSON.stringify(obj));
  } else file = objectFile(obj);
  const r = spawnSync(ORACLE, [command, '--kubeconfig', env.kubeconfig, '-f', file, ...flags], { encoding: 'utf8', timeout: 120_000 });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (last === '') throw new Error(`gitops-oracle ${command} printed nothing (exit ${String(r.status)}): ${r.stderr}`);
  return JSON.parse(last) as unknown;
}

function isList(obj: Obj | readonly Obj[]): obj is readonly Obj[] {
  return Array.isArray(obj);
}

/** How many reviews of the object named `name` serve logs while `action` runs. */
async function reviewsDuring(serve: ServeInstance, name: string, action: () => unknown): Promise<number> {
  const mark = serve.log.mark();
  action();
  const count = (): number => serve.log.text(mark).split('\n').filter((l) => l.includes('"message":"admission reviewed"') && l.includes(`"name":"${name}"`)).length;
  await eventually(`a review of ${name} logged`, { timeoutMs: 10_000 }, () => Promise.resolve(count() > 0 ? done(undefined) : notYet('none yet')));
  await new Promise((resolve) => setTimeout(resolve, 500));
  return count();
}

const sync = (obj: Obj, serverSide = false): unknown => oracle('argocd-sync', obj, ...(serverSide ? ['--server-side'] : []));
const diff = (obj: Obj, ...flags: string[]): z.infer<typeof argoDiff> => argoDiff.parse(oracle('argocd-diff', obj, ...flags));
const drift = (obj: Obj): z.infer<typeof fluxDiff> => fluxDiff.parse(oracle('flux-diff', obj));
const fluxApply = (obj: Obj): unknown => oracle('flux-apply', obj);
const paths = (d: { readonly changes: readonly z.infer<typeof change>[] }): string[] => d.changes.map((c) => c.path);
const predicted = (d: { readonly changes: readonly z.infer<typeof change>[] }): Record<string, unknown> => Object.fromEntries(d.changes.filter((c) => !c.path.startsWith('/metadata/')).map((c) => [c.path, c.predicted]));

/** The README's `ignoreDifferences` block, as written there. */
function readmeIgnoreDifferences(): string {
  const readme = readFileSync(join(env.root, 'README.md'), 'utf8');
  const block = /```yaml\nspec:\n {2}ignoreDifferences:\n([\s\S]*?)```/.exec(readme)?.[1];
  if (block === undefined) throw new Error('README.md has no `spec: ignoreDifferences:` block');
  const list = parse(block) as unknown;
  expect(Array.isArray(list) && list.length).toBe(9);
  const file = join(dir, 'ignore-differences.json');
  writeFileSync(file, JSON.stringify(list));
  return file;
}

/** The README's compare options: `ServerSideDiff=true,IncludeMutationWebhook=true`. */
const SSD_IMW = ['--server-side-diff', '--include-mutation-webhook'];

const POD_SPEC = {
  volumes: [{ name: 'cfg', configMap: { name: 'x' } }, { name: 'data', image: { reference: 'gcr.io/e2e/data:1' } }],
  initContainers: [{ name: 'init', image: 'gcr.io/e2e/init:1' }],
  containers: [{ name: 'app', image: 'gcr.io/e2e/app:1', volumeMounts: [{ name: 'data', mountPath: '/data' }] }, { name: 'side', image: 'nginx:1.27' }],
};
const TEMPLATE = { metadata: { labels: { app: 'g' } }, spec: POD_SPEC };
const SELECTOR = { matchLabels: { app: 'g' } };

/** One object of each kind the webhook rewrites with `--scope all`, as git holds it. */
function objects(ns: string, prefix: string): Obj[] {
  const m = (name: string): { name: string; namespace: string } => ({ name: `${prefix}-${name}`, namespace: ns });
  const jobSpec = { template: { spec: { ...POD_SPEC, restartPolicy: 'Never' } } };
  return [
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: m('deploy'), spec: { selector: SELECTOR, template: TEMPLATE } },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: m('sts'), spec: { serviceName: 'g', selector: SELECTOR, template: TEMPLATE } },
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: m('ds'), spec: { selector: SELECTOR, template: TEMPLATE } },
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: m('rs'), spec: { replicas: 0, selector: SELECTOR, template: TEMPLATE } },
    { apiVersion: 'batch/v1', kind: 'Job', metadata: m('job'), spec: { ...jobSpec, suspend: true } },
    { apiVersion: 'batch/v1', kind: 'CronJob', metadata: m('cj'), spec: { schedule: '0 0 1 1 *', suspend: true, jobTemplate: { spec: jobSpec } } },
    { apiVersion: 'v1', kind: 'ReplicationController', metadata: m('rc'), spec: { replicas: 0, selector: { app: 'g' }, template: TEMPLATE } },
    { apiVersion: 'v1', kind: 'PodTemplate', metadata: m('pt'), template: TEMPLATE },
    { apiVersion: 'v1', kind: 'Pod', metadata: m('pod'), spec: POD_SPEC },
  ];
}

/** The JSON paths of the images of each kind's pod spec (containers, init containers, image volume). */
function imagePaths(obj: Obj): string[] {
  const base = obj.kind === 'Pod' ? '/spec' : obj.kind === 'PodTemplate' ? '/template/spec' : obj.kind === 'CronJob' ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec';
  return [`${base}/containers/0/image`, `${base}/containers/1/image`, `${base}/initContainers/0/image`, `${base}/volumes/1/image/reference`];
}

function podSpecPath(obj: Obj): string {
  return imagePaths(obj)[0]?.replace('/containers/0/image', '') ?? '';
}

/** Register `serve` as the webhook, with `scope`. */
async function register(serve: ServeInstance, scope: 'all' | 'pods'): Promise<void> {
  await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(serve.port, env.webhook.token), scope }));
}

/**
 * A scenario's set-up and clean-up: the namespace `ns`, a rules file holding `rules`, this file's
 * serve on it registered with `scope`, and a wait until a dry run in `ns` shows that scope's
 * rewrites to asia.gcr.io (with `all`, a Deployment's; with `pods`, a Pod's and not a
 * Deployment's); then `body`. Whatever happens, the start's configuration is registered again
 * and the serve stopped.
 */
async function withWebhook(ns: string, rules: string, scope: 'all' | 'pods', body: (serve: ServeInstance, rulesFile: string) => Promise<void> | void): Promise<void> {
  await kubectl.createNamespace(ns);
  const rulesFile = join(dir, `rules-${ns}.yaml`);
  writeFileSync(rulesFile, rules);
  // A name of its own per scenario: a serve instance's log files are named after it.
  const serve = await env.startExtraServe(`serve-${ns}`, { rules: rulesFile });
  try {
    await register(serve, scope);
    await (scope === 'all' ? rewritesTo(ns, 'asia.gcr.io') : podsOnlyRewritten(ns));
    await body(serve, rulesFile);
  } finally {
    await env.restoreWebhook();
    await env.stopServe(serve);
  }
}

async function rewritesTo(ns: string, expected: string): Promise<void> {
  await eventually(`a Deployment rewritten to ${expected}`, { timeoutMs: 60_000 }, async () => {
    const r = await kubectl.run(['-n', ns, 'create', 'deployment', 'probe', '--image=gcr.io/e2e/probe:1', '--dry-run=server', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);
    return r.stdout === `${expected}/e2e/probe:1` ? done(undefined) : notYet(r.stdout + r.stderr);
  });
}

async function podsOnlyRewritten(ns: string): Promise<void> {
  await eventually('a Pod rewritten, a Deployment not', { timeoutMs: 60_000 }, async () => {
    const pod = await kubectl.run(['-n', ns, 'run', 'probe', '--image=gcr.io/e2e/probe:1', '--dry-run=server', '-o', 'jsonpath={.spec.containers[0].image}']);
    const deployment = await kubectl.run(['-n', ns, 'create', 'deployment', 'probe', '--image=gcr.io/e2e/probe:1', '--dry-run=server', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);
    return pod.stdout === 'asia.gcr.io/e2e/probe:1' && deployment.stdout === 'gcr.io/e2e/probe:1' ? done(undefined) : notYet(`${pod.stdout}${pod.stderr} ${deployment.stdout}${deployment.stderr}`);
  });
}

/** An outage: the configuration's URL names a port nothing listens on (failurePolicy Ignore: fail open). */
async function outage(ns: string): Promise<void> {
  await env.applyWebhookConfig(await env.configYaml({ url: webhookUrl(1, env.webhook.token), scope: 'all' }));
  await eventually('the webhook out of reach', { timeoutMs: 60_000 }, async () => {
    const r = await kubectl.run(['-n', ns, 'create', 'deployment', 'probe', '--image=gcr.io/e2e/probe:1', '--dry-run=server', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);
    return r.stdout === 'gcr.io/e2e/probe:1' ? done(undefined) : notYet(r.stdout + r.stderr);
  });
}

describe('Argo CD and Flux, with their own code, against the webhook', () => {
  scenario(env, 'G1. every kind: Argo CD default diff OutOfSync on the image fields only; README ignoreDifferences, Server-Side Diff (both compare options, and the ServerSideApply sync option) and Flux drift check in sync; a tag change in git', async () => {
    const ns = 'e2e-gitops-1';
    // with imagePullSecrets: a field the webhook adds, which git does not set
    await withWebhook(ns, RULES('asia.gcr.io', 'asia-pull'), 'all', async (serve) => {
      const ignore = readmeIgnoreDifferences();
      for (const obj of objects(ns, 'a')) {
        expect(sync(obj)).toEqual({ message: expect.stringMatching(/ created$/) });
        const live = await kubectl.ok(['-n', ns, 'get', obj.kind.toLowerCase(), obj.metadata.name, '-o', `jsonpath={${podSpecPath(obj).replaceAll('/', '.')}.imagePullSecrets[*].name}`]);
        expect({ kind: obj.kind, imagePullSecrets: live.stdout }).toEqual({ kind: obj.kind, imagePullSecrets: 'asia-pull' });
        const d = diff(obj);
        // git's images against the rewritten ones, and nothing else (the annotation and fields the webhook adds are left alone)
        expect({ kind: obj.kind, modified: d.modified, paths: paths(d) }).toEqual({ kind: obj.kind, modified: true, paths: imagePaths(obj) });
        for (const flags of [['--ignore-differences', ignore], SSD_IMW, ['--server-side-diff'], ['--sync-option-server-side-apply']]) {
          expect({ kind: obj.kind, flags, ...diff(obj, ...flags) }).toEqual({ kind: obj.kind, flags, modified: false, changes: [] });
        }
      }
      for (const obj of objects(ns, 'f')) {
        expect(fluxApply(obj)).toEqual({ action: 'created' });
        expect({ kind: obj.kind, ...drift(obj) }).toEqual({ kind: obj.kind, action: 'unchanged', changes: [] });
      }
      // A new tag in git: ignoreDifferences hides it (both ways); Server-Side Diff and Flux show its rewritten image.
      const [deploy] = objects(ns, 'a');
      const [fdeploy] = objects(ns, 'f');
      if (deploy === undefined || fdeploy === undefined) throw new Error('no Deployment');
      const retag = (o: Obj): Obj => JSON.parse(JSON.stringify(o).replace('gcr.io/e2e/app:1', 'gcr.io/e2e/app:2')) as Obj;
      expect(diff(retag(deploy), '--ignore-differences', ignore)).toEqual({ modified: false, changes: [] });
      for (const flags of [SSD_IMW, ['--server-side-diff']]) {
        expect(predicted(diff(retag(deploy), ...flags))).toEqual({ '/spec/template/spec/containers/0/image': 'asia.gcr.io/e2e/app:2' });
      }
      const tagDrift = drift(retag(fdeploy));
      expect({ action: tagDrift.action, images: predicted(tagDrift) }).toEqual({ action: 'configured', images: { '/spec/template/spec/containers/0/image': 'asia.gcr.io/e2e/app:2' } });
      // Each Server-Side Diff and drift check is a dry-run review: three for an object last applied
      // client-side (kubectl's server-side apply migrates its field manager and applies again), then one.
      expect(await reviewsDuring(serve, 'a-deploy', () => diff(deploy, ...SSD_IMW))).toBe(3);
      expect(await reviewsDuring(serve, 'f-deploy', () => drift(fdeploy))).toBe(1);
      expect(sync(deploy, true)).toEqual({ message: expect.stringMatching(/ serverside-applied$/) });
      expect(await reviewsDuring(serve, 'a-deploy', () => diff(deploy, ...SSD_IMW))).toBe(1);
    });
  });

  scenario(env, 'G2. a rules change: Server-Side Diff and Flux drift show the new target of mutable templates and Pod containers, not of a Job nor an image volume, and the imagePullSecrets of the rule with IncludeMutationWebhook only; ignoreDifferences shows nothing; one Flux apply and no drift after', async () => {
    const ns = 'e2e-gitops-2';
    await withWebhook(ns, RULES('asia.gcr.io'), 'all', async (_serve, rulesFile) => {
      const ignore = readmeIgnoreDifferences();
      const argo = objects(ns, 'a');
      const flux = objects(ns, 'f');
      for (const obj of argo) sync(obj);
      for (const obj of flux) fluxApply(obj);
      writeFileSync(rulesFile, RULES('eu.gcr.io', 'eu-pull'));
      await rewritesTo(ns, 'eu.gcr.io');
      // The new target's images; with every field the webhook sets (IncludeMutationWebhook, Flux), the
      // rule's imagePullSecrets too, added to templates (not to a Pod's list, which cannot change).
      const moved = (obj: Obj, withAdded: boolean): Record<string, unknown> => {
        const spec = podSpecPath(obj);
        if (obj.kind === 'Job') return {};
        const containers = { [`${spec}/containers/0/image`]: 'eu.gcr.io/e2e/app:1', [`${spec}/initContainers/0/image`]: 'eu.gcr.io/e2e/init:1' };
        if (obj.kind === 'Pod') return containers;
        return { ...containers, [`${spec}/volumes/1/image/reference`]: 'eu.gcr.io/e2e/data:1', ...(withAdded ? { [`${spec}/imagePullSecrets`]: [{ name: 'eu-pull' }] } : {}) };
      };
      for (const obj of argo) {
        expect({ kind: obj.kind, ...diff(obj, '--ignore-differences', ignore) }).toEqual({ kind: obj.kind, modified: false, changes: [] });
        for (const flags of [SSD_IMW, ['--server-side-diff']]) {
          const d = diff(obj, ...flags);
          expect({ kind: obj.kind, flags, modified: d.modified, images: predicted(d) }).toEqual({ kind: obj.kind, flags, modified: obj.kind !== 'Job', images: moved(obj, flags === SSD_IMW) });
        }
      }
      for (const obj of flux) {
        const d = drift(obj);
        expect({ kind: obj.kind, action: d.action, images: predicted(d) }).toEqual({ kind: obj.kind, action: obj.kind === 'Job' ? 'unchanged' : 'configured', images: moved(obj, true) });
        fluxApply(obj);
        expect({ kind: obj.kind, ...drift(obj) }).toEqual({ kind: obj.kind, action: 'unchanged', changes: [] });
      }
    });
  });

  scenario(env, 'G3. an outage: Flux applies the upstream images, then rewrites them back; Argo CD client-side sync keeps them, Server-Side Diff OutOfSync until a server-side sync; a Job fails the dry runs', async () => {
    const ns = 'e2e-gitops-3';
    await withWebhook(ns, RULES('asia.gcr.io'), 'all', async (serve) => {
      const [deploy, , , , job] = objects(ns, 'a');
      const [fdeploy, , , , fjob] = objects(ns, 'f');
      if (deploy === undefined || job === undefined || fdeploy === undefined || fjob === undefined) throw new Error('no Deployment or Job');
      const stored = async (name: string): Promise<string> => (await kubectl.ok(['-n', ns, 'get', 'deployment', name, '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).stdout;
      for (const obj of [deploy, job]) sync(obj);
      for (const obj of [fdeploy, fjob]) fluxApply(obj);

      await outage(ns);
      const upstream = drift(fdeploy);
      expect({ action: upstream.action, app: predicted(upstream)['/spec/template/spec/containers/0/image'] }).toEqual({ action: 'configured', app: 'gcr.io/e2e/app:1' });
      expect(fluxApply(fdeploy)).toEqual({ action: 'configured' });
      expect(await stored('f-deploy')).toBe('gcr.io/e2e/app:1');
      // A Job's template is immutable: the dry runs fail (Flux's whole apply; Argo CD's Server-Side Diff of the whole Application).
      expect(failure.parse(oracle('flux-diff', fjob)).error).toMatch(/dry-run failed.*field is immutable/s);
      expect(failure.parse(oracle('argocd-diff', job, '--server-side-diff')).error).toMatch(/error running server side apply in dryrun mode.*field is immutable/s);
      expect(failure.parse(oracle('argocd-diff', [deploy, job], '--server-side-diff')).error).toMatch(/Job\/a-job.*field is immutable/s);
      expect(diff(deploy, '--server-side-diff').modified).toBe(true);
      expect(sync(deploy)).toEqual({ message: expect.stringMatching(/ configured$/) });
      expect(await stored('a-deploy')).toBe('gcr.io/e2e/app:1');

      await register(serve, 'all');
      await rewritesTo(ns, 'asia.gcr.io');
      // Flux: its dry run is rewritten, shows the target as drift, and the apply moves the object back.
      const back = drift(fdeploy);
      expect({ action: back.action, app: predicted(back)['/spec/template/spec/containers/0/image'] }).toEqual({ action: 'configured', app: 'asia.gcr.io/e2e/app:1' });
      expect(fluxApply(fdeploy)).toEqual({ action: 'configured' });
      expect(await stored('f-deploy')).toBe('asia.gcr.io/e2e/app:1');
      expect(drift(fdeploy)).toEqual({ action: 'unchanged', changes: [] });
      // Argo CD: the default diff says Synced, its client-side sync sends nothing, Server-Side Diff stays OutOfSync.
      expect(diff(deploy)).toEqual({ modified: false, changes: [] });
      expect(sync(deploy)).toEqual({ message: expect.stringMatching(/ unchanged$/) });
      expect(await stored('a-deploy')).toBe('gcr.io/e2e/app:1');
      expect(predicted(diff(deploy, '--server-side-diff'))['/spec/template/spec/containers/0/image']).toBe('asia.gcr.io/e2e/app:1');
      // One server-side sync moves it back.
      expect(sync(deploy, true)).toEqual({ message: expect.stringMatching(/ serverside-applied$/) });
      expect(await stored('a-deploy')).toBe('asia.gcr.io/e2e/app:1');
      expect(diff(deploy, '--server-side-diff')).toEqual({ modified: false, changes: [] });
    });
  });

  scenario(env, 'G4. --scope pods: workloads stored as applied, in sync for every diff; a bare Pod is rewritten and behaves as with --scope all', async () => {
    const ns = 'e2e-gitops-4';
    await withWebhook(ns, RULES('asia.gcr.io'), 'pods', () => {
      const [deploy, , , , , , , , pod] = objects(ns, 'a');
      const [fdeploy, , , , , , , , fpod] = objects(ns, 'f');
      if (deploy === undefined || pod === undefined || fdeploy === undefined || fpod === undefined) throw new Error('no Deployment or Pod');
      for (const obj of [deploy, pod]) sync(obj);
      for (const obj of [fdeploy, fpod]) fluxApply(obj);
      expect(diff(deploy)).toEqual({ modified: false, changes: [] });
      expect(paths(diff(pod))).toEqual(imagePaths(pod));
      for (const obj of [deploy, pod]) expect({ kind: obj.kind, ...diff(obj, ...SSD_IMW) }).toEqual({ kind: obj.kind, modified: false, changes: [] });
      for (const obj of [fdeploy, fpod]) expect({ kind: obj.kind, ...drift(obj) }).toEqual({ kind: obj.kind, action: 'unchanged', changes: [] });
    });
  });
});
