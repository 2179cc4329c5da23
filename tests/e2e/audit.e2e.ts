/**
 * `image-rewriter audit` (dist/cli.js) against the real kube-apiserver of the environment, with
 * the environment's rules and kubeconfig:
 * - workloads created while the webhook configuration is removed are listed (table and JSON
 *   lines), exit 1;
 * - once the webhook is back, a rollout restart takes the Deployment's Pods off the list (the
 *   Deployment stays: its stored template is unchanged) and re-created objects leave nothing, exit 0;
 * - a user whose RBAC (the ClusterRole of README.md) does not cover a namespace, or a resource in
 *   it, gets one plain error line per list call refused, exit 2, and what could be read is listed;
 *   a RoleBinding cannot grant the webhook configuration: audit falls back quietly, with a note
 *   when the configuration was named (--webhook-config);
 * - the Pods of a namespace labelled image-rewriter.io/skip=true, which the configuration
 *   `webhook-config` printed never sends, are left out and counted (exit 0); without the
 *   configuration, they are listed (a note says why when it was named).
 * - a listing that outlives its snapshot (etcd compacted between two pages, HTTP 410 on the
 *   continue token) goes on with the token the API server offers, every Pod listed once.
 * The scenarios run in order: A2 restarts what A1 created, A3 reads what A1 created.
 */
import { describe, expect } from '@jest/globals';
import { spawn } from 'node:child_process';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Finding } from '../../src/core/manifest.js';
import { openCluster } from '../../src/cli/cluster.js';
import { E2eEnvironment, PROBE_NAMESPACE } from './harness/environment.js';
import { Kubectl, cronJob, deployment, imagesOf, list, pod, statefulSet } from './harness/kubectl.js';
import { scenario } from './harness/scenario.js';
import { distCli } from './harness/tools.js';
import { done, eventually, notYet } from './harness/wait.js';
import { probeUntil } from './harness/webhook.js';

const env = E2eEnvironment.connect();
const { kubectl } = env;
const cli = distCli(env.root);

/** What A1 creates while the webhook is away. */
const NS = 'audit';
/** The namespace where A3's user may list everything but Pods. */
const NO_PODS_NS = 'audit-no-pods';
/** A4's namespace, opted out of the webhook with the label. */
const SKIP_NS = 'audit-skip';
/** A5's namespace (opted out too: its Pods need no review). */
const EXPIRY_NS = 'audit-expiry';


interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `node dist/cli.js audit --config RULES ARGS` with a minimal environment (HOME is the run folder,
 * so no ~/.kube/config of the machine is read); `--kubeconfig` is added unless `viaEnv` (then
 * KUBECONFIG names it, the way a user's shell does).
 */
function audit(args: readonly string[], options: { readonly kubeconfig?: string; readonly viaEnv?: boolean } = {}): Promise<CliResult> {
  const kubeconfig = options.kubeconfig ?? env.kubeconfig;
  const all = [cli, 'audit', '--config', env.webhook.files.rules, ...(options.viaEnv === true ? [] : ['--kubeconfig', kubeconfig]), ...args];
  const childEnv: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: env.runDir, ...(options.viaEnv === true ? { KUBECONFIG: kubeconfig } : {}) };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, all, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** `node dist/cli.js audit --config RULES ARGS` reading `input` on stdin (for -f -). */
function auditInput(args: readonly string[], input: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'audit', '--config', env.webhook.files.rules, ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: env.runDir }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    child.once('close', (code) => {
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(input);
  });
}

const byKey = (a: Finding, b: Finding): number => JSON.stringify(a).localeCompare(JSON.stringify(b));
const sorted = (fs: readonly Finding[]): Finding[] => [...fs].sort(byKey);

/** The JSON lines of `audit -o json`. */
function jsonLines(stdout: string): Finding[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Finding);
}

/** The rows of the table (the header checked), up to the blank line before the summary. */
function tableRows(stdout: string): Finding[] {
  const [header, ...rest] = stdout.split('\n\n')[0]?.split('\n') ?? [];
  expect(header?.split(/\s+/)).toEqual(['NAMESPACE', 'KIND', 'NAME', 'CONTAINER', 'IMAGE', 'REWRITTEN', 'RULE']);
  return rest.map((line) => {
    const cells = line.split(/\s+/);
    expect(cells).toHaveLength(7);
    const [namespace = '', kind = '', name = '', container = '', image = '', rewritten = '', rule = ''] = cells;
    return { namespace, kind, name, container, image, rewritten, rule };
  });
}

/** What audit says when a RoleBinding (which cannot grant the cluster-scoped webhook configuration) is all the user has. */
const configurationForbidden = (user: string, server: string): string =>
  `note: cannot get mutatingwebhookconfigurations image-rewriter (${server}): HTTP 403: mutatingwebhookconfigurations.admissionregistration.k8s.io "image-rewriter" is forbidden: User "${user}" cannot get resource "mutatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the cluster scope: audit assumes the webhook is called for everything outside kube-system (what webhook-config always excludes)`;

/** No stack trace, no uncaught error: only `error: ...` lines, after the `note: ...` lines (`notes`). */
function expectPlainErrors(stderr: string, notes: readonly string[] = []): string[] {
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr).not.toMatch(/Uncaught|TypeError|ReferenceError|node:internal/);
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines.slice(0, notes.length)).toEqual(notes);
  for (const l of lines.slice(notes.length)) expect(l).toMatch(/^error: /);
  return lines.slice(notes.length);
}

const containers = (images: Readonly<Record<string, string>>) => Object.entries(images).map(([name, image]) => ({ name, image }));
const template = (app: string, images: Readonly<Record<string, string>>, init: Readonly<Record<string, string>> = {}) => ({
  metadata: { labels: { app } },
  spec: { initContainers: containers(init), containers: containers(images) },
});

const WEB = { web: 'gcr.io/nginx:1.27' };
const WEB_INIT = { setup: 'alpine:3.20' };
const workloads = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      // Recreate: without a kubelet no Pod is ever available, so a rolling update would never remove the old one.
      spec: { replicas: 1, strategy: { type: 'Recreate' }, selector: { matchLabels: { app: 'web' } }, template: template('web', WEB, WEB_INIT) },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db' },
      spec: { serviceName: 'db', replicas: 1, selector: { matchLabels: { app: 'db' } }, template: template('db', { db: 'redis:7.2' }) },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly' },
      spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: containers({ job: 'gcr.io/e2e/batch:2' }) } } } } },
    },
  ],
};
/** A bare Pod: one container the rules rewrite, one they exclude, one no rule matches. */
const barePod = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'bare' },
  spec: { containers: containers({ app: 'nginx:1.27', excluded: 'busybox:1.36', untouched: 'quay.io/e2e/app:1' }) },
});
/** For A3: a Deployment (no replicas) in the namespace where the user may not list Pods. */
const noPodsDeployment = JSON.stringify({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'api' },
  spec: { replicas: 0, selector: { matchLabels: { app: 'api' } }, template: template('api', { api: 'registry.local:5000/team/api:3' }) },
});

const finding = (kind: string, name: string, container: string, image: string, rewritten: string, rule: string, namespace = NS): Finding => ({
  namespace,
  kind,
  name,
  container,
  image,
  rewritten,
  rule,
});
const webFindings = (kind: string, name: string): Finding[] => [
  finding(kind, name, 'setup', 'alpine:3.20', 'mirror.example.com/hub/library/alpine:3.20', 'hub'),
  finding(kind, name, 'web', 'gcr.io/nginx:1.27', 'asia.gcr.io/nginx:1.27', 'gcr'),
];
const BARE = finding('Pod', 'bare', 'app', 'nginx:1.27', 'mirror.example.com/hub/library/nginx:1.27', 'hub');
const DB = finding('StatefulSet', 'db', 'db', 'redis:7.2', 'mirror.example.com/hub/library/redis:7.2', 'hub');
const NIGHTLY = finding('CronJob', 'nightly', 'job', 'gcr.io/e2e/batch:2', 'asia.gcr.io/e2e/batch:2', 'gcr');

/** The name of the one Pod of the Deployment web, once there is exactly one and `accept` says yes of its images. */
function webPods(what: string, accept: (images: Record<string, string>) => boolean): Promise<string[]> {
  return eventually(what, { timeoutMs: 90_000 }, async () => {
    const pods = await kubectl.json(list(pod), ['-n', NS, 'get', 'pods', '-l', 'app=web']);
    const images = pods.items.map((p) => imagesOf(p.spec));
    return pods.items.length === 1 && images.every(accept) ? done(pods.items.map((p) => p.metadata.name)) : notYet(JSON.stringify(images));
  });
}

/**
 * Run `fn` with the webhook configuration deleted (once the API server no longer calls it), then
 * register it again, whatever happened.
 */
async function withoutWebhook<T>(fn: () => Promise<T>): Promise<T> {
  await kubectl.ok(['delete', 'mutatingwebhookconfiguration', 'image-rewriter']);
  try {
    await probeUntil(kubectl, PROBE_NAMESPACE, 'the API server to stop calling the webhook', (p) => (p.rewritten ? 'still rewritten' : undefined));
    return await fn();
  } finally {
    await env.restoreWebhook();
  }
}

describe('image-rewriter audit against a real kube-apiserver', () => {
  scenario(env, 'A1. audit lists the workloads created while the webhook was not registered (table, JSON lines, exit 1)', async () => {
    await kubectl.createNamespace(NS);
    await kubectl.createNamespace(NO_PODS_NS);
    const podName = await withoutWebhook(async () => {
      await kubectl.ok(['-n', NS, 'create', '-f', '-'], { input: JSON.stringify(workloads) });
      await kubectl.ok(['-n', NS, 'create', '-f', '-'], { input: barePod });
      await kubectl.ok(['-n', NO_PODS_NS, 'create', '-f', '-'], { input: noPodsDeployment });
      const [name = ''] = await webPods('the Pod of the Deployment web', () => true);
      // The premise: everything was stored as applied.
      expect(imagesOf((await kubectl.json(pod, ['-n', NS, 'get', 'pod', name])).spec)).toEqual({ 'initContainers/setup': 'alpine:3.20', 'containers/web': 'gcr.io/nginx:1.27' });
      expect(imagesOf((await kubectl.json(deployment, ['-n', NS, 'get', 'deployment', 'web'])).spec.template.spec)['containers/web']).toBe('gcr.io/nginx:1.27');
      expect(imagesOf((await kubectl.json(statefulSet, ['-n', NS, 'get', 'statefulset', 'db'])).spec.template.spec)).toEqual({ 'containers/db': 'redis:7.2' });
      expect(imagesOf((await kubectl.json(cronJob, ['-n', NS, 'get', 'cronjob', 'nightly'])).spec.jobTemplate.spec.template.spec)).toEqual({ 'containers/job': 'gcr.io/e2e/batch:2' });
      return name;
    });

    // The ReplicaSet of web is controlled by the Deployment: left out. Pods first, then workloads.
    const expected = sorted([BARE, ...webFindings('Pod', podName), ...webFindings('Deployment', 'web'), DB, NIGHTLY]);

    const table = await audit(['-n', NS]);
    expect({ code: table.code, stderr: table.stderr }).toEqual({ code: 1, stderr: '' });
    const rows = tableRows(table.stdout);
    expect(sorted(rows)).toEqual(expected);
    expect(rows.map((r) => r.kind)).toEqual(['Pod', 'Pod', 'Pod', 'Deployment', 'Deployment', 'StatefulSet', 'CronJob']);
    expect(table.stdout.split('\n\n')[1]).toBe(
      ['audit: 7 image(s) in 5 object(s) would be rewritten', 'per namespace:', `  ${NS}: 7`, 'per rule:', '  gcr: 3', '  hub: 4', ''].join('\n'),
    );

    // JSON lines on stdout, the summary on stderr; KUBECONFIG as a user's shell sets it.
    const json = await audit(['-n', NS, '-o', 'json'], { viaEnv: true });
    expect(json.code).toBe(1);
    expect(sorted(jsonLines(json.stdout))).toEqual(expected);
    expect(json.stderr).toMatch(/^audit: 7 image\(s\) in 5 object\(s\) would be rewritten\n/);

    // All namespaces, one object per page: this namespace's rows are all there (so every `continue`
    // was followed), among those other scenarios leave, and A3's Deployment in its own namespace.
    const everywhere = await audit(['-o', 'json', '--page-size', '1']);
    expect(everywhere.code).toBe(1);
    const all = jsonLines(everywhere.stdout);
    expect(sorted(all.filter((f) => f.namespace === NS))).toEqual(expected);
    expect(all).toContainEqual(finding('Deployment', 'api', 'api', 'registry.local:5000/team/api:3', 'registry.mirror.example.com:5443/internal/team/api:3', 'internal', NO_PODS_NS));
  });

  scenario(env, 'A2. with the webhook back: a rollout restart clears the Pods, re-created workloads clear the rest, exit 0', async () => {
    const [before = ''] = await webPods('the Pod of the Deployment web', () => true);
    await kubectl.ok(['-n', NS, 'rollout', 'restart', 'deployment/web']);
    const [after = ''] = await webPods('a rewritten Pod of web to replace the old one', (images) => images['containers/web'] === 'asia.gcr.io/nginx:1.27');
    expect(after).not.toBe(before);

    // The Pods of web are rewritten (their new ReplicaSet was, when it was created), so they are no
    // longer listed. The Deployment itself still is: on UPDATE the webhook leaves the images the
    // update does not change (src/core/decide.ts, storedImages), and a restart changes only an
    // annotation of the template. Its stored template keeps the upstream image until re-created.
    const partial = await audit(['-n', NS, '-o', 'json']);
    expect(partial.code).toBe(1);
    expect(sorted(jsonLines(partial.stdout))).toEqual(sorted([BARE, ...webFindings('Deployment', 'web'), DB, NIGHTLY]));

    await kubectl.ok(['-n', NS, 'delete', 'deployment/web', 'statefulset/db', 'cronjob/nightly', 'pod/bare']);
    await kubectl.ok(['-n', NS, 'create', '-f', '-'], { input: JSON.stringify(workloads) });
    await kubectl.ok(['-n', NS, 'create', '-f', '-'], { input: barePod });
    await webPods('the rewritten Pod of the re-created web', (images) => images['containers/web'] === 'asia.gcr.io/nginx:1.27');

    const json = await audit(['-n', NS, '-o', 'json']);
    expect(json).toEqual({ code: 0, stdout: '', stderr: 'audit: no image would be rewritten\n' });
  });

  scenario(env, 'A3. a user who may not list something gets a plain error naming it, exit 2, and what was readable', async () => {
    // The ClusterRole README.md documents, bound in NS; in NO_PODS_NS a Role without pods.
    const readme = await readFile(join(env.root, 'README.md'), 'utf8');
    const roleYaml = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').find((y) => y.includes('name: image-rewriter-audit'));
    expect(roleYaml).toBeDefined();
    await kubectl.ok(['apply', '-f', '-'], { input: roleYaml ?? '' });
    const role = parseYaml(roleYaml ?? '') as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const noPods = role.rules.map((r) => ({ ...r, resources: r.resources.filter((x) => x !== 'pods') }));
    await kubectl.ok(['-n', NO_PODS_NS, 'apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'audit-no-pods' }, rules: noPods }),
    });
    await kubectl.ok(['-n', NS, 'create', 'serviceaccount', 'auditor']);
    const user = `system:serviceaccount:${NS}:auditor`;
    await kubectl.ok(['-n', NS, 'create', 'rolebinding', 'auditor', '--clusterrole=image-rewriter-audit', `--serviceaccount=${NS}:auditor`]);
    await kubectl.ok(['-n', NO_PODS_NS, 'create', 'rolebinding', 'auditor', '--role=audit-no-pods', `--serviceaccount=${NS}:auditor`]);

    // A kubeconfig of the same cluster with the ServiceAccount's token instead of the admin's.
    const token = (await kubectl.ok(['-n', NS, 'create', 'token', 'auditor'])).stdout.trim();
    const kubeconfig = join(env.runDir, 'auditor.kubeconfig');
    await copyFile(env.kubeconfig, kubeconfig);
    const auditorKubectl = new Kubectl(kubectl.binary, kubeconfig);
    await auditorKubectl.ok(['config', 'set-credentials', 'e2e-admin', `--token=${token}`]);
    expect((await auditorKubectl.ok(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).stdout).toBe(user);

    // Where the documented ClusterRole is bound, it is enough to list; a RoleBinding does not
    // grant the cluster-scoped webhook configuration: audit falls back, as quietly as before it
    // read configurations, and says so when the configuration was named; never an error.
    const server = (await kubectl.ok(['config', 'view', '-o', 'jsonpath={.clusters[0].cluster.server}'])).stdout;
    const forbidden = configurationForbidden(user, server);
    expect(await audit(['-n', NS], { kubeconfig })).toEqual({ code: 0, stdout: 'audit: no image would be rewritten\n', stderr: '' });
    expect(await audit(['-n', NS, '--webhook-config', 'image-rewriter'], { kubeconfig })).toEqual({ code: 0, stdout: 'audit: no image would be rewritten\n', stderr: `${forbidden}\n` });

    // Pods refused in one namespace: that call is named, the Deployment there is still listed.
    const noPodsRun = await audit(['-n', NO_PODS_NS], { kubeconfig });
    expect(noPodsRun.code).toBe(2);
    expect(expectPlainErrors(noPodsRun.stderr)).toEqual([
      `error: cannot list pods in namespace ${NO_PODS_NS} (${server}): HTTP 403: pods is forbidden: User "${user}" cannot list resource "pods" in API group "" in the namespace "${NO_PODS_NS}"`,
    ]);
    expect(tableRows(noPodsRun.stdout)).toEqual([
      finding('Deployment', 'api', 'api', 'registry.local:5000/team/api:3', 'registry.mirror.example.com:5443/internal/team/api:3', 'internal', NO_PODS_NS),
    ]);

    // All namespaces: nothing is bound cluster-wide, so every list call is refused, each said once.
    const everywhere = await audit(['-o', 'json'], { kubeconfig });
    expect(everywhere.code).toBe(2);
    expect(everywhere.stdout).toBe('');
    const errors = expectPlainErrors(everywhere.stderr);
    const resources = ['pods', 'deployments', 'statefulsets', 'daemonsets', 'cronjobs', 'jobs', 'replicasets', 'replicationcontrollers', 'podtemplates'];
    expect(errors).toHaveLength(resources.length);
    for (const [i, resource] of resources.entries()) {
      expect(errors[i]).toMatch(new RegExp(`^error: cannot list ${resource} in all namespaces \\(${server.replaceAll('.', '\\.')}\\): HTTP 403: ${resource}(\\.\\w+)? is forbidden: User "${user}" cannot list resource "${resource}" in API group "[a-z]*" at the cluster scope$`));
    }

    // A token the API server does not know: one plain error per call too.
    await auditorKubectl.ok(['config', 'set-credentials', 'e2e-admin', '--token=not-a-valid-token']);
    const stranger = await audit(['-n', NS, '--scope', 'pods'], { kubeconfig });
    expect(stranger.code).toBe(2);
    expect(expectPlainErrors(stranger.stderr)).toEqual([`error: cannot list pods in namespace ${NS} (${server}): HTTP 401: Unauthorized`]);
  });

  scenario(env, 'A4. a namespace labelled image-rewriter.io/skip=true: left out and counted while the configuration is installed (exit 0), listed without it', async () => {
    await kubectl.createNamespace(SKIP_NS, { 'image-rewriter.io/skip': 'true' });
    // The installed configuration (webhook-config's) does not send this namespace: stored as applied.
    await kubectl.ok(['-n', SKIP_NS, 'create', '-f', '-'], { input: barePod });
    expect(imagesOf((await kubectl.json(pod, ['-n', SKIP_NS, 'get', 'pod', 'bare'])).spec)['containers/app']).toBe('nginx:1.27');

    const installed = await audit(['-n', SKIP_NS, '-o', 'json']);
    expect(installed).toEqual({ code: 0, stdout: '', stderr: 'audit: no image would be rewritten\nleft out: 1 object(s) the webhook configuration image-rewriter does not select\n' });
    // All namespaces: none of its rows, the others' as before.
    const everywhere = await audit(['-o', 'json']);
    expect(jsonLines(everywhere.stdout).filter((f) => f.namespace === SKIP_NS)).toEqual([]);
    expect(everywhere.stderr).toMatch(/\nleft out: .*\d+ object\(s\) the webhook configuration image-rewriter does not select/);

    // -f with the Namespaces and the configuration in the input: the same decision.
    const listed = await kubectl.ok(['get', 'namespaces,mutatingwebhookconfigurations,pods', '-A', '-o', 'json']);
    const fromFile = await auditInput(['-n', SKIP_NS, '-f', '-'], listed.stdout);
    expect(fromFile).toEqual({ code: 0, stdout: 'audit: no image would be rewritten\nleft out: 1 object(s) the webhook configuration image-rewriter does not select\n', stderr: '' });

    // Before the webhook is installed (a valid use): listed as before, as quietly as before; a note
    // says why when the configuration was named.
    const without = await withoutWebhook(() => audit(['-n', SKIP_NS, '-o', 'json']));
    expect(without.code).toBe(1);
    expect(jsonLines(without.stdout)).toEqual([finding('Pod', 'bare', 'app', 'nginx:1.27', 'mirror.example.com/hub/library/nginx:1.27', 'hub', SKIP_NS)]);
    expect(without.stderr).not.toContain('note:');
    const named = await withoutWebhook(() => audit(['-n', SKIP_NS, '-o', 'json', '--webhook-config', 'image-rewriter']));
    expect(named.stdout).toBe(without.stdout);
    expect(named.stderr.split('\n')[0]).toBe(
      'note: no MutatingWebhookConfiguration image-rewriter in the cluster (not installed yet, or under another name: --webhook-config NAME): audit assumes the webhook is called for everything outside kube-system (what webhook-config always excludes)',
    );
  });
  scenario(env, 'A5. a listing that outlives its snapshot (etcd compacted between two pages): it goes on with the token the API server offers and says so', async () => {
    await kubectl.createNamespace(EXPIRY_NS, { 'image-rewriter.io/skip': 'true' });
    const names = ['p0', 'p1', 'p2', 'p3', 'p4'];
    for (const name of names) {
      await kubectl.ok(['-n', EXPIRY_NS, 'create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } }) });
    }
    /** etcd's JSON gateway (the API server's own compactor calls the same Compact every 5 minutes). */
    const etcd = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const r = await fetch(`${env.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
      expect(r.status).toBe(200);
      return (await r.json()) as Record<string, unknown>;
    };
    const expired: string[] = [];
    const cluster = await openCluster({ kubeconfig: env.kubeconfig, env: { HOME: env.runDir }, namespace: EXPIRY_NS, pageSize: 2, onExpired: (what) => expired.push(what) });
    const seen: string[] = [];
    let pages = 0;
    for await (const page of cluster.pages('Pod')) {
      pages++;
      seen.push(...page.items.map((item) => String((item as { metadata?: { name?: unknown } }).metadata?.name)));
      if (pages !== 1) continue;
      // A write after the first page, then etcd compacted up to it: the first page's revision is gone.
      await kubectl.ok(['-n', EXPIRY_NS, 'create', 'configmap', 'moved-on']);
      const header = (await etcd('/v3/kv/range', { key: Buffer.from('/registry/').toString('base64') }))['header'] as { revision?: string };
      expect(Number(header.revision)).toBeGreaterThan(0);
      await etcd('/v3/kv/compaction', { revision: header.revision, physical: true });
    }
    // Every Pod, once, either way.
    expect(seen.sort()).toEqual(names);
    // Before 1.34 the continuation is read from etcd at the first page's revision, which the
    // compaction removed: HTTP 410 with a token to go on (the 1.32 run of this scenario sees it).
    // From 1.34 (ListFromCacheSnapshot) the API server's watch cache may serve it from its own
    // snapshot, which a compaction made behind the API server's back does not reach.
    if (env.kubernetes.minor < 34) expect(expired).toEqual([`pods in namespace ${EXPIRY_NS}`]);
    else expect([[], [`pods in namespace ${EXPIRY_NS}`]]).toContainEqual(expired);
  });
});
