/**
 * `audit` through `main`: against a fake API server (HTTPS on 127.0.0.1 speaking the list API with
 * `limit` and `continue`, and discovery) and from `kubectl get -o json` files. Checks the JSON lines
 * contract, the table and summary, exit codes, pagination (every call bounded by --page-size), a
 * namespace the user may not list (a clear error, exit 2), controlled objects left out only with
 * their controller, what the webhook is never called for (kube-system, mirror Pods, what the
 * webhook configuration does not select, read from the cluster or the input, and the note when it
 * cannot be), empty input
 * (kubectl failed), unreadable items (named, the rest still listed), and a throttling API server
 * (429 or 503 with Retry-After: tried again, at most LIST_TRIES times).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { PAGE_SIZE } from '../../src/cli/audit.js';
import { LIST_TRIES, MAX_RESUMES, MAX_RETRY_WAIT_MS, openCluster, REQUEST_TIMEOUT_MS } from '../../src/cli/cluster.js';
import { main } from '../../src/cli/main.js';
import { webhookConfiguration } from '../../src/cli/webhook-config.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

const RULES = join(FIXTURES, 'render', 'rules.yaml');
const TOKEN = 'audit-test-token';
const PODS = 1234;

/** Pod i: in namespace ns-(i % 3); every second one still pulls from gcr.io. */
function pod(i: number): unknown {
  return {
    metadata: { name: `pod-${i}`, namespace: `ns-${i % 3}` },
    spec: { containers: [{ name: 'app', image: i % 2 === 0 ? `gcr.io/app:${i}` : `asia.gcr.io/app:${i}` }] },
  };
}

const DEPLOYMENT = { metadata: { name: 'web', namespace: 'ns-0' }, spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } } };
/** Controlled by the Deployment: left out (the Deployment's template is what needs the fix). */
const REPLICASET = {
  metadata: { name: 'web-1', namespace: 'ns-0', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u', controller: true }] },
  spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
};

const DISCOVERY: Record<string, unknown> = {
  '/api/v1': [['pods', 'Pod'], ['replicationcontrollers', 'ReplicationController'], ['podtemplates', 'PodTemplate'], ['namespaces', 'Namespace', false]],
  '/apis/apps/v1': [['deployments', 'Deployment'], ['replicasets', 'ReplicaSet'], ['statefulsets', 'StatefulSet'], ['daemonsets', 'DaemonSet']],
  '/apis/batch/v1': [['jobs', 'Job'], ['cronjobs', 'CronJob']],
  '/apis/admissionregistration.k8s.io/v1': [['mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false]],
};

/** The configuration webhook-config prints for --scope all: what the cluster has installed, unless a test says otherwise. */
const INSTALLED = webhookConfiguration({ url: 'https://abc.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123', scope: 'all' });
const CONFIGURATION_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/';
/** What GET of a webhook configuration answers: the object by name, or a status (404: not installed, 403: forbidden). */
let configurations: Record<string, unknown> = { 'image-rewriter': INSTALLED };
let configurationStatus: number | undefined;
/** Namespaces of the fake cluster (ns-0..ns-2, done and secret have no label of their own); 403 for them all when set. */
let namespaceStatus: number | undefined;
const NAMESPACE_LABELS: Record<string, Record<string, string>> = { 'ns-0': {}, 'ns-1': {}, 'ns-2': {}, done: {}, secret: {}, quiet: { 'image-rewriter.io/skip': 'true' }, 'kube-system': {} };
/** Namespace quiet (opted out with the label) and kube-system: listed with -n only. */
const podsIn = (namespace: string): unknown[] => [0, 2].map((i) => ({ metadata: { name: `${namespace}-${i}`, namespace }, spec: { containers: [{ name: 'app', image: `gcr.io/app:${i}` }] } }));
const namespaceObject = (name: string): unknown => ({ metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...NAMESPACE_LABELS[name] } } });
/** GETs of single objects (webhook configurations, namespaces), apart from the list calls. */
const gets: string[] = [];

interface Call {
  readonly path: string;
  readonly limit: number | undefined;
}
const calls: Call[] = [];
/** What the server answers the next list calls of `path` before serving it: a throttling API server. */
let throttle: { path: string; answers: { status: number; retryAfter?: string }[] } | undefined;
/** What the server answers the next list calls of `path` that carry a `continue` token: an expired token (HTTP 410), with or without the API server's token to go on. */
let expire: { path: string; answers: ('offer' | 'none')[] } | undefined;
let pki: TestPki;
let server: Server;
let kubeconfig: string;

/** Namespace `done`: a completed Job's Pod, an evicted Pod, and a running one. */
const DONE_PODS = [
  { metadata: { name: 'migrate-x1', namespace: 'done' }, spec: { containers: [{ name: 'app', image: 'gcr.io/migrate:1' }] }, status: { phase: 'Succeeded' } },
  { metadata: { name: 'web-ev', namespace: 'done' }, spec: { containers: [{ name: 'app', image: 'gcr.io/web:1' }, { name: 'side', image: 'nginx:1.27' }] }, status: { phase: 'Failed', reason: 'Evicted' } },
  { metadata: { name: 'web-ok', namespace: 'done' }, spec: { containers: [{ name: 'app', image: 'gcr.io/web:1' }] }, status: { phase: 'Running' } },
];

function items(path: string): unknown[] | 'forbidden' | undefined {
  if (path === '/api/v1/namespaces/secret/pods') return 'forbidden';
  if (path === '/api/v1/namespaces/done/pods') return DONE_PODS;
  if (path === '/api/v1/namespaces/quiet/pods' || path === '/api/v1/namespaces/kube-system/pods') return podsIn(path.split('/')[4] ?? '');
  if (path === '/api/v1/namespaces') return Object.keys(NAMESPACE_LABELS).map(namespaceObject);
  const pods = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/pods$/.exec(path);
  if (pods !== null) {
    const all = Array.from({ length: PODS }, (_, i) => pod(i));
    return pods[1] === undefined ? all : all.filter((_, i) => `ns-${i % 3}` === pods[1]);
  }
  if (/^\/apis\/apps\/v1(\/namespaces\/[^/]+)?\/deployments$/.test(path)) return [DEPLOYMENT];
  if (/^\/apis\/apps\/v1(\/namespaces\/[^/]+)?\/replicasets$/.test(path)) return [REPLICASET];
  return /^\/apis?\//.test(path) ? [] : undefined;
}

// The first audit loads @kubernetes/client-node and reads 13 pages over TLS: about 1 s alone, and
// over jest's 5 s default on a loaded 2-core machine under coverage (a CI run failed there).
jest.setTimeout(30_000);

beforeAll(async () => {
  pki = await createTestPki('image-rewriter-audit-');
  server = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) { send(401, { kind: 'Status', message: 'Unauthorized' }); return; }
    const discovery = DISCOVERY[url.pathname] as [string, string, boolean?][] | undefined;
    if (discovery !== undefined) {
      send(200, { kind: 'APIResourceList', groupVersion: url.pathname.replace(/^\/apis?\//, ''), resources: discovery.map(([name, kind, namespaced = true]) => ({ name, kind, namespaced, verbs: ['list', 'get'] })) }); return;
    }
    const forbidden = (resource: string): void => {
      send(403, { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: `${resource} is forbidden: User "auditor" cannot get resource "${resource}"` });
    };
    if (url.pathname.startsWith(CONFIGURATION_PATH)) {
      gets.push(url.pathname);
      const config = configurations[url.pathname.slice(CONFIGURATION_PATH.length)];
      if (configurationStatus === 429) send(429, { kind: 'Status', status: 'Failure', reason: 'TooManyRequests', code: 429, message: 'TooManyRequests: try again later' }, { 'retry-after': '0' });
      else if (configurationStatus === 403) forbidden('mutatingwebhookconfigurations.admissionregistration.k8s.io');
      else if (config === undefined) send(404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' });
      else send(200, config);
      return;
    }
    const oneNamespace = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname);
    if (oneNamespace !== null) {
      gets.push(url.pathname);
      if (namespaceStatus === 403) forbidden('namespaces');
      else send(200, { apiVersion: 'v1', kind: 'Namespace', ...(namespaceObject(oneNamespace[1] ?? '') as object) });
      return;
    }
    if (url.pathname === '/api/v1/namespaces' && namespaceStatus === 403) { forbidden('namespaces'); return; }
    const limit = url.searchParams.has('limit') ? Number(url.searchParams.get('limit')) : undefined;
    calls.push({ path: url.pathname, limit });
    const refusal = url.pathname === throttle?.path ? throttle.answers.shift() : undefined;
    if (refusal !== undefined) {
      const reason = refusal.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable';
      send(refusal.status, { kind: 'Status', status: 'Failure', reason, code: refusal.status, message: `${reason}: try again later` }, refusal.retryAfter === undefined ? {} : { 'retry-after': refusal.retryAfter }); return;
    }
    const expiry = url.searchParams.has('continue') && url.pathname === expire?.path ? expire.answers.shift() : undefined;
    if (expiry !== undefined) {
      // As the API server answers when etcd compacted past the token (storage/etcd3's handleCompactedErrorForPaging): here the offered token goes on where the expired one would have.
      const offered = expiry === 'offer' ? { continue: url.searchParams.get('continue') ?? '' } : {};
      send(410, { kind: 'Status', apiVersion: 'v1', metadata: offered, status: 'Failure', reason: 'Expired', code: 410, message: 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.' });
      return;
    }
    const all = items(url.pathname);
    if (all === undefined) { send(404, { kind: 'Status', message: 'not found' }); return; }
    if (all === 'forbidden') {
      send(403, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'pods is forbidden: User "auditor" cannot list resource "pods" in API group "" in the namespace "secret"' }); return;
    }
    const from = Number(url.searchParams.get('continue') ?? '0');
    const page = all.slice(from, limit === undefined ? undefined : from + limit);
    const next = from + page.length < all.length ? String(from + page.length) : undefined;
    // As the API server answers: a typed list (PodList) in the group's version, items without kind.
    const resource = url.pathname.split('/').at(-1);
    const groupVersion = /^\/apis?\/([^/]+(?:\/v1)?)/.exec(url.pathname)?.[1] ?? 'v1';
    const kind = Object.values(DISCOVERY).flatMap((r) => r as [string, string][]).find(([name]) => name === resource)?.[1] ?? 'Unknown';
    send(200, { kind: `${kind}List`, apiVersion: groupVersion, metadata: next === undefined ? {} : { continue: next }, items: page });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  kubeconfig = join(pki.dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority: ${pki.caFile}\nusers:\n- name: auditor\n  user:\n    token: ${TOKEN}\ncontexts:\n- name: fake\n  context: {cluster: fake, user: auditor}\ncurrent-context: fake\n`,
  );
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await pki.remove();
});

async function audit(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo({}, stdin);
  const code = await main(['audit', '--config', RULES, ...args], io);
  return { code, out: io.out(), err: io.err() };
}

describe('audit of a live cluster (fake API server)', () => {
  it('lists every container the rules would rewrite as JSON lines, page by page; exit 1', async () => {
    calls.length = 0;
    const r = await audit(['--kubeconfig', kubeconfig, '-o', 'json', '--page-size', '100']);
    expect(r.code).toBe(1);
    const lines = r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(lines).toHaveLength(PODS / 2 + 1);
    expect(lines[0]).toEqual({ namespace: 'ns-0', kind: 'Pod', name: 'pod-0', container: 'app', image: 'gcr.io/app:0', rewritten: 'asia.gcr.io/app:0', rule: 'gcr-asia' });
    expect(lines.at(-1)).toEqual({
      namespace: 'ns-0', kind: 'Deployment', name: 'web', container: 'web', image: 'nginx:1.27',
      rewritten: '123456789012.dkr.ecr.us-west-2.amazonaws.com/dockerhub/nginx:1.27', rule: 'dockerhub-ecr',
    });
    // Pagination: 13 calls of at most 100 Pods each, never one unbounded call.
    const podCalls = calls.filter((c) => c.path === '/api/v1/pods');
    expect(podCalls).toHaveLength(Math.ceil(PODS / 100));
    expect(calls.every((c) => c.limit === 100)).toBe(true);
    expect(r.err).toContain(`audit: ${PODS / 2 + 1} image(s) in ${PODS / 2 + 1} object(s) would be rewritten`);
    expect(r.err).toMatch(/per rule:\n {2}dockerhub-ecr: 1\n {2}gcr-asia: 617\n$/);
  });

  it('prints a table and the summary for people', async () => {
    const r = await audit(['--kubeconfig', kubeconfig, '-n', 'ns-1', '--scope', 'pods']);
    expect(r.code).toBe(1);
    const [header, first] = r.out.split('\n');
    expect(header).toMatch(/^NAMESPACE +KIND +NAME +CONTAINER +IMAGE +REWRITTEN +RULE$/);
    expect(first).toMatch(/^ns-1 +Pod +pod-4 +app +gcr\.io\/app:4 +asia\.gcr\.io\/app:4 +gcr-asia$/);
    expect(r.out).toContain('per namespace:\n  ns-1: 205\nper rule:\n  gcr-asia: 205\n');
    expect(calls.at(-1)?.path).toBe('/api/v1/namespaces/ns-1/pods');
  });

  it('finished Pods (Succeeded, Failed) pull nothing: not listed, no exit 1 for them, counted in the summary; --include-finished lists them', async () => {
    const r = await audit(['--kubeconfig', kubeconfig, '-n', 'done', '--scope', 'pods', '-o', 'json']);
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/web-ok']);
    expect(r.err).toMatch(/\nleft out: 2 finished Pod\(s\) with 3 image\(s\) the rules would rewrite \(phase Succeeded or Failed: they pull nothing; --include-finished lists them\)\n$/);
    const all = await audit(['--kubeconfig', kubeconfig, '-n', 'done', '--scope', 'pods', '-o', 'json', '--include-finished']);
    expect(all.code).toBe(1);
    expect(kinds(all.out)).toEqual(['Pod/migrate-x1', 'Pod/web-ev', 'Pod/web-ev', 'Pod/web-ok']);
    expect(all.err).not.toContain('left out');
  });

  it('a namespace the user cannot list: a clear error, exit 2, no crash', async () => {
    const r = await audit(['--kubeconfig', kubeconfig, '-n', 'secret', '--scope', 'pods']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('error: cannot list pods in namespace secret');
    expect(r.err).toContain('HTTP 403: pods is forbidden: User "auditor" cannot list resource "pods"');
  });

  it('-n must be a namespace name: the client lower-cases the path and the URL resolves "..", so NS1 audited ns1 and ".." every namespace', async () => {
    for (const namespace of ['..', '.', 'NS-1', 'ns-1/pods', 'ns-1 ', 'ns-1-', 'x'.repeat(64)]) {
      calls.length = 0;
      gets.length = 0;
      const r = await audit(['--kubeconfig', kubeconfig, '-n', namespace, '-o', 'json']);
      expect(r.code).toBe(64);
      expect(r.out).toBe('');
      // A trailing space is said as well: the value alone does not show it.
      const space = namespace.endsWith(' ') ? `: a space at character ${namespace.length}` : '';
      expect(r.err.split('\n')[0]).toBe(`error: -n/--namespace must be a namespace name (a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters): ${namespace}${space}`);
      expect([...calls, ...gets]).toEqual([]);
    }
    // The same for -f: no object of a cluster is in such a namespace.
    expect((await audit(['-f', '-', '-n', 'NS-1'], '{"kind": "List", "items": []}')).code).toBe(64);
  });

  it('a kubeconfig that cannot be read: exit 2', async () => {
    const r = await audit(['--kubeconfig', join(pki.dir, 'missing')]);
    expect(r.code).toBe(2);
    // Said in words with its code, as every other file error (docs/design.md, src/config/system-error.ts), not Node's "ENOENT: ..., open '...'".
    expect(r.err).toBe(`error: cannot load the kubeconfig ${join(pki.dir, 'missing')}: no such file or directory (ENOENT)\n`);
  });

  // Before, the whole of js-yaml's message was printed: the reason, then the lines around it (a token, a client key).
  it('a kubeconfig that is not YAML: the reason and where, never its lines (they hold credentials)', async () => {
    const broken = join(pki.dir, 'broken-kubeconfig');
    writeFileSync(broken, 'apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: SECRET-TOKEN-0123\n    bad: "unterminated\ncontexts: []\n');
    const expected = /^error: cannot load the kubeconfig .*broken-kubeconfig( \(from KUBECONFIG\))?: unexpected end of the stream within a double quoted scalar \(\d+:\d+\)\n$/;
    const r = await audit(['--kubeconfig', broken]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(expected);
    const io = captureIo({ KUBECONFIG: broken }, '');
    expect(await main(['audit', '--config', RULES], io)).toBe(2);
    expect(io.err()).toMatch(expected);
    expect(io.err()).not.toContain('SECRET');
  });

  /** audit of ns-2 through the kubeconfig these variables name: its Pods listed (exit 1), no error. */
  async function expectListsNs2(env: Record<string, string>): Promise<void> {
    const io = captureIo(env, '');
    expect(await main(['audit', '--config', RULES, '-n', 'ns-2', '--scope', 'pods', '-o', 'json'], io)).toBe(1);
    expect(io.err()).not.toMatch(/^error/m);
    expect(io.out().split('\n')[0]).toContain('"namespace":"ns-2"');
  }

  it('uses KUBECONFIG when there is no --kubeconfig', async () => {
    await expectListsNs2({ KUBECONFIG: kubeconfig });
  });

  it('merges the files KUBECONFIG lists as kubectl does: missing ones skipped, the first to set something wins', async () => {
    const text = readFileSync(kubeconfig, 'utf8');
    const users = text.indexOf('users:');
    const contexts = text.indexOf('contexts:');
    // The cluster and the context in one file, the user in the next (whose current-context comes second).
    const clusterFile = join(pki.dir, 'kubeconfig-cluster');
    const userFile = join(pki.dir, 'kubeconfig-user');
    writeFileSync(clusterFile, text.slice(0, users) + text.slice(contexts));
    writeFileSync(userFile, `apiVersion: v1\nkind: Config\n${text.slice(users, contexts)}current-context: elsewhere\n`);
    const list = [join(pki.dir, 'missing'), '', clusterFile, userFile].join(delimiter);
    await expectListsNs2({ KUBECONFIG: list });
  });

  it('merges as kubectl does: a user and a cluster named in two files are the first file\'s', async () => {
    const text = readFileSync(kubeconfig, 'utf8');
    const later = join(pki.dir, 'kubeconfig-later');
    // The same names, another token and a server that is not there: never used.
    writeFileSync(later, text.replace(`token: ${TOKEN}`, 'token: a-later-files-token-0123').replace(/server: .*/, 'server: https://127.0.0.1:1'));
    await expectListsNs2({ KUBECONFIG: [kubeconfig, later].join(delimiter) });
  });

  it('merges as kubectl does: an empty current-context sets nothing either', async () => {
    const text = readFileSync(kubeconfig, 'utf8');
    const emptyCurrent = join(pki.dir, 'kubeconfig-empty-current');
    writeFileSync(emptyCurrent, text.replace(/current-context: .*\n/, 'current-context: ""\n'));
    await expectListsNs2({ KUBECONFIG: [emptyCurrent, kubeconfig].join(delimiter) });
  });

  it.each([[''], [delimiter]])('a KUBECONFIG of %j names no file: ~/.kube/config is read, as when it is unset', async (value) => {
    const home = join(pki.dir, `home-${value === '' ? 'blank' : 'delimiter'}`);
    mkdirSync(join(home, '.kube'), { recursive: true });
    writeFileSync(join(home, '.kube', 'config'), readFileSync(kubeconfig, 'utf8'));
    await expectListsNs2({ KUBECONFIG: value, HOME: home });
  });

  it('merges as kubectl does: a file without current-context does not hide the next file\'s', async () => {
    const text = readFileSync(kubeconfig, 'utf8');
    const noCurrent = join(pki.dir, 'kubeconfig-no-current');
    const currentOnly = join(pki.dir, 'kubeconfig-current-only');
    writeFileSync(noCurrent, text.replace(/current-context: .*\n/, ''));
    writeFileSync(currentOnly, 'apiVersion: v1\nkind: Config\ncurrent-context: fake\n');
    await expectListsNs2({ KUBECONFIG: [noCurrent, currentOnly].join(delimiter) });
  });

  it('reads an empty kubeconfig file as kubectl does, as an empty configuration', async () => {
    const empty = join(pki.dir, 'kubeconfig-empty');
    const comments = join(pki.dir, 'kubeconfig-comments');
    writeFileSync(empty, '');
    writeFileSync(comments, '# nothing yet\n');
    await expectListsNs2({ KUBECONFIG: [empty, comments, kubeconfig].join(delimiter) });
    const alone = await audit(['--kubeconfig', empty]);
    expect(alone).toEqual({ code: 2, out: '', err: `error: the kubeconfig ${empty} has no current cluster\n` });
  });

  // client-node reads only token (and a token-file kubectl ignores): audit called anonymously (HTTP 403 for system:anonymous) where kubectl sent the file's token.
  it('reads a user\'s tokenFile as kubectl does: relative to the kubeconfig\'s folder, trimmed, in one file or in KUBECONFIG\'s', async () => {
    const folder = join(pki.dir, 'token-file');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'token'), `${TOKEN}\n`);
    const withFile = join(folder, 'kubeconfig');
    writeFileSync(withFile, readFileSync(kubeconfig, 'utf8').replace(`token: ${TOKEN}`, 'tokenFile: token'));
    await expectListsNs2({ KUBECONFIG: withFile });
    const io = captureIo({}, '');
    expect(await main(['audit', '--config', RULES, '--kubeconfig', withFile, '-n', 'ns-2', '--scope', 'pods', '-o', 'json'], io)).toBe(1);
    expect(io.err()).not.toMatch(/^error/m);
    // The file's token wins over a token beside it (client-go's cached file token source).
    writeFileSync(withFile, readFileSync(kubeconfig, 'utf8').replace(`token: ${TOKEN}`, 'token: stale-token-0000\n    tokenFile: token'));
    await expectListsNs2({ KUBECONFIG: withFile });
  });

  // client-node ran it from the working directory: "spawn ./get-token.sh ENOENT" on every call.
  it('runs an exec plugin written as a relative path from the kubeconfig\'s folder, as kubectl does', async () => {
    const folder = join(pki.dir, 'exec-plugin');
    mkdirSync(folder, { recursive: true });
    const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: TOKEN } });
    writeFileSync(join(folder, 'get-token.sh'), `#!/bin/sh\necho '${credential}'\n`, { mode: 0o755 });
    const withExec = join(folder, 'kubeconfig');
    const exec = 'exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./get-token.sh, interactiveMode: Never}';
    writeFileSync(withExec, readFileSync(kubeconfig, 'utf8').replace(`token: ${TOKEN}`, exec));
    expect(process.cwd()).not.toBe(folder);
    await expectListsNs2({ KUBECONFIG: withExec });
  });

  /** An exec plugin whose command is a bare name (`sh`, found in PATH), its script given by its absolute path. */
  const execSh = (): string => {
    const script = join(pki.dir, 'get-token.sh');
    writeFileSync(script, `echo '${JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: TOKEN } })}'\n`);
    return `exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: sh, args: [${script}], interactiveMode: Never}`;
  };

  // client-go: a tokenFile it cannot read or that holds no token leaves the token beside it in use; an
  // empty tokenFile names no file; the tokenFile of a user other than the current one is not read.
  it.each([
    ['an unreadable tokenFile beside the token', (f: string) => f.replace(`token: ${TOKEN}`, `token: ${TOKEN}\n    tokenFile: absent`)],
    ['an empty tokenFile beside the token', (f: string) => f.replace(`token: ${TOKEN}`, `token: ${TOKEN}\n    tokenFile: empty`)],
    ['a tokenFile: "" beside an exec plugin', (f: string) => f.replace(`token: ${TOKEN}`, `${execSh()}\n    tokenFile: ""`)],
    ['a CRLF tokenFile', (f: string) => f.replace(`token: ${TOKEN}`, 'tokenFile: crlf')],
    ['an unreadable tokenFile of a user that is not the current one', (f: string) => f.replace(`token: ${TOKEN}`, execSh()).replace('contexts:', '- name: other\n  user:\n    tokenFile: absent\ncontexts:')],
  ])('uses the token kubectl sends with %s', async (_, edit) => {
    const folder = join(pki.dir, 'token-file-beside');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'empty'), ' \n');
    writeFileSync(join(folder, 'crlf'), `${TOKEN}\r\n`);
    const withFile = join(folder, 'kubeconfig');
    writeFileSync(withFile, edit(readFileSync(kubeconfig, 'utf8')));
    await expectListsNs2({ KUBECONFIG: withFile });
  });

  // kubectl's YAML reader and client-node's apply merge keys (`<<: *base`): the tokenFile was missed, and audit called anonymously.
  it('reads a tokenFile a user takes from another entry through a merge key', async () => {
    const folder = join(pki.dir, 'token-file-merge');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'token'), `${TOKEN}\n`);
    const withMerge = join(folder, 'kubeconfig');
    writeFileSync(withMerge, readFileSync(kubeconfig, 'utf8').replace(`users:\n- name: auditor\n  user:\n    token: ${TOKEN}`, 'users:\n- name: base\n  user: &base\n    tokenFile: token\n- name: auditor\n  user:\n    <<: *base'));
    expect(readFileSync(withMerge, 'utf8')).toContain('<<: *base');
    await expectListsNs2({ KUBECONFIG: withMerge });
  });

  it('of two KUBECONFIG files naming the user, reads only the tokenFile of the first file\'s entry', async () => {
    const later = join(pki.dir, 'kubeconfig-later');
    writeFileSync(later, readFileSync(kubeconfig, 'utf8').replace(`token: ${TOKEN}`, 'tokenFile: absent'));
    await expectListsNs2({ KUBECONFIG: [kubeconfig, later].join(delimiter) });
  });

  it('looks a bare exec command up in PATH, not in the kubeconfig\'s folder', async () => {
    const folder = join(pki.dir, 'exec-bare');
    mkdirSync(folder, { recursive: true });
    const withExec = join(folder, 'kubeconfig');
    writeFileSync(withExec, readFileSync(kubeconfig, 'utf8').replace(`token: ${TOKEN}`, execSh()));
    await expectListsNs2({ KUBECONFIG: withExec });
  });

  it('a tokenFile that cannot be read, and no token: exit 2, saying which file', async () => {
    const folder = join(pki.dir, 'token-file-missing');
    mkdirSync(folder, { recursive: true });
    const withFile = join(folder, 'kubeconfig');
    writeFileSync(withFile, readFileSync(kubeconfig, 'utf8').replace(`token: ${TOKEN}`, 'tokenFile: absent'));
    const r = await audit(['--kubeconfig', withFile, '-n', 'ns-2']);
    expect(r).toEqual({ code: 2, out: '', err: `error: cannot read the tokenFile ${join(folder, 'absent')} of user auditor: no such file or directory (ENOENT)\n` });
  });

  it('a server that is not a Kubernetes API server (HTML 404, a proxy\'s 502): one short line per call, never the page nor the response headers; exit 2', async () => {
    const page = `<html>\n<head><title>Not Found</title></head>\n<body>\n${'<p>nothing here</p>\n'.repeat(200)}</body>\n</html>\n`;
    for (const status of [404, 502]) {
      const other = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
        // Discovery answers, so that the 502 comes from the list call itself (a proxy in front of the API server).
        const discovery = status === 502 ? (DISCOVERY[new URL(req.url ?? '/', 'https://127.0.0.1').pathname] as [string, string, boolean?][] | undefined) : undefined;
        if (discovery !== undefined) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ kind: 'APIResourceList', resources: discovery.map(([name, kind, namespaced = true]) => ({ name, kind, namespaced, verbs: ['list', 'get'] })) }));
          return;
        }
        res.writeHead(status, { 'content-type': 'text/html', 'set-cookie': 'session=s3cr3t' });
        res.end(page);
      });
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      const { port } = other.address() as AddressInfo;
      const file = join(pki.dir, `kubeconfig-html-${status}`);
      writeFileSync(file, readFileSync(kubeconfig, 'utf8').replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`));
      try {
        const r = await audit(['--kubeconfig', file, '--scope', 'pods']);
        expect(r.code).toBe(2);
        expect(r.err).not.toContain('s3cr3t');
        expect(r.err).not.toContain('Headers');
        // The 502 is also the answer to the configuration's get: a note, as for any server error (README).
        const lines = r.err.trimEnd().split('\n').filter((l) => !(status === 502 && l.startsWith('note: cannot get mutatingwebhookconfigurations image-rewriter')));
        expect(lines).toHaveLength(1);
        for (const l of r.err.trimEnd().split('\n')) expect(l.length).toBeLessThan(500);
        const what = status === 404 ? 'Failed to fetch resource metadata for v1/Pod: ' : '';
        expect(lines[0]).toMatch(new RegExp(`^error: cannot list pods in all namespaces \\(https://127\\.0\\.0\\.1:${port}\\): HTTP ${status}: ${what}not a Kubernetes API answer: <html> <head><title>Not Found</title></head> <body> <p>nothing here</p> .*\\.\\.\\.$`));
        expect(lines[0]?.length).toBeLessThan(400);
      } finally {
        await new Promise((resolve) => other.close(resolve));
      }
    }
  });

  /** audit --scope pods of a fake API server that answers every list of Pods with `list`; the answer and the count of those lists. */
  async function auditOfPodsListedAs(list: unknown): Promise<{ r: Awaited<ReturnType<typeof audit>> | undefined; port: number; lists: number }> {
    let lists = 0;
    const other = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
      const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
      const discovery = DISCOVERY[path] as [string, string, boolean?][] | undefined;
      res.writeHead(path.endsWith('/mutatingwebhookconfigurations/image-rewriter') ? 404 : 200, { 'content-type': 'application/json' });
      if (discovery !== undefined) res.end(JSON.stringify({ kind: 'APIResourceList', resources: discovery.map(([name, kind, namespaced = true]) => ({ name, kind, namespaced, verbs: ['list', 'get'] })) }));
      else if (path === '/api/v1/pods') {
        lists++;
        res.end(JSON.stringify(list));
      } else res.end(JSON.stringify({ kind: 'List', metadata: {}, items: [] }));
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const { port } = other.address() as AddressInfo;
    const file = join(pki.dir, `kubeconfig-pages-${String(port)}`);
    writeFileSync(file, readFileSync(kubeconfig, 'utf8').replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`));
    try {
      const r = await Promise.race([audit(['--kubeconfig', file, '--scope', 'pods']), sleep(15_000).then(() => undefined)]);
      return { r, port, lists };
    } finally {
      other.closeAllConnections();
      await new Promise((resolve) => other.close(resolve));
    }
  }

  const onePod = [{ metadata: { name: 'p', namespace: 'a' }, spec: { containers: [{ name: 'c', image: 'gcr.io/x:1' }] } }];

  // A proxy on the way that answers every page alike (a cache that leaves out the query string) gave
  // the same continue token forever: audit asked for the next page in a loop (12,650 requests in 40 s)
  // and never ended. And a list whose items are no array failed with the bundle's TypeError. The
  // page that gave the token again was listed too: its Pod twice ("2 image(s) in 1 object(s)").
  it.each<[string, unknown, RegExp, number]>([
    ['the same continue token at every page', { kind: 'PodList', metadata: { continue: 'same' }, items: onePod }, /: the API server gave the same continue token twice \(a proxy on the way answering every page alike\?\): the listing would never end$/, 1],
    ['a list whose items are a number', { kind: 'PodList', metadata: {}, items: 42 }, /: the answer is not a list \(its items are not an array\)$/, 0],
  ])('a list answered with %s: an error for that kind, a bounded number of requests, no page listed twice; exit 2', async (_, list, error, rows) => {
    const { r, port, lists } = await auditOfPodsListedAs(list);
    expect(r?.code).toBe(2);
    expect(r?.err).toMatch(new RegExp(`^error: cannot list pods in all namespaces \\(https://127\\.0\\.0\\.1:${String(port)}\\)${error.source}`, 'm'));
    expect(lists).toBeLessThanOrEqual(2);
    expect(r?.out.split('\n').filter((l) => l.includes('gcr.io/x:1'))).toHaveLength(rows);
  });

  it('a last page whose continue token is empty (as the API server may send it) ends the listing: one request, exit 1', async () => {
    const { r, lists } = await auditOfPodsListedAs({ kind: 'PodList', metadata: { continue: '' }, items: onePod });
    expect({ code: r?.code, err: r?.err }).toEqual({ code: 1, err: '' });
    expect(r?.out).toMatch(/gcr\.io\/x:1 +asia\.gcr\.io\/x:1/);
    expect(lists).toBe(1);
  });

  it('a server that cannot be reached, or refuses the credentials: one error line, not one per kind; exit 2', async () => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port: closedPort } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const text = readFileSync(kubeconfig, 'utf8');
    const down = join(pki.dir, 'kubeconfig-down');
    writeFileSync(down, text.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${closedPort}`));
    const badToken = join(pki.dir, 'kubeconfig-bad-token');
    writeFileSync(badToken, text.replace(TOKEN, 'not-the-token'));
    for (const [file, reason] of [[down, /ECONNREFUSED/], [badToken, /HTTP 401: Unauthorized/]] as const) {
      const r = await audit(['--kubeconfig', file]);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      const lines = r.err.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: cannot list pods in all namespaces \(https:\/\/127\.0\.0\.1:\d+\): /);
      expect(lines[0]).toMatch(reason);
    }
  });

  it('a server that takes the connection and never answers: an error after REQUEST_TIMEOUT_MS, not a wait for good', async () => {
    // A hung API server (or a proxy holding the connection): audit waited for good, saying nothing.
    expect(REQUEST_TIMEOUT_MS).toBe(60_000);
    const silent = createServer({ cert: pki.server.cert, key: pki.server.key }, () => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const hung = join(pki.dir, 'kubeconfig-hung');
      writeFileSync(hung, readFileSync(kubeconfig, 'utf8').replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`));
      const cluster = await openCluster({ kubeconfig: hung, env: {}, namespace: undefined, pageSize: 10, requestTimeoutMs: 300 });
      const started = performance.now();
      const first = cluster.pages('Pod').next();
      await expect(first).rejects.toThrow(new RegExp(`^cannot list pods in all namespaces \\(https://127\\.0\\.0\\.1:${port}\\): no answer within 0\\.3 s$`));
      expect(performance.now() - started).toBeLessThan(5000);
      // The next calls are not made: each would wait as long, to say the same.
      const again = performance.now();
      await expect(cluster.pages('Deployment').next()).rejects.toThrow(/^cannot list deployments in all namespaces \(.*\): no answer within 0\.3 s$/);
      expect(performance.now() - again).toBeLessThan(250);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a server that answers slowly (1.5 s) but within REQUEST_TIMEOUT_MS: its answer is read', async () => {
    const resources = { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['list'] }] };
    const slow = createServer({ cert: pki.server.cert, key: pki.server.key }, (q, s) => {
      const body = q.url === '/api/v1' ? resources : { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] };
      setTimeout(() => s.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)), 1500);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = slow.address() as AddressInfo;
      const file = join(pki.dir, 'kubeconfig-slow');
      writeFileSync(file, readFileSync(kubeconfig, 'utf8').replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`));
      const cluster = await openCluster({ kubeconfig: file, env: {}, namespace: undefined, pageSize: 10 });
      const page = await cluster.pages('Pod').next();
      expect(page.done).toBe(false);
    } finally {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });

  describe('a throttling API server (429, or 503 with Retry-After): tried again, as kubectl does, at most LIST_TRIES times', () => {
    const PATH = '/api/v1/namespaces/ns-1/pods';
    const throttled = async (answers: { status: number; retryAfter?: string }[]): Promise<{ code: number; out: string; err: string; tries: number; ms: number }> => {
      throttle = { path: PATH, answers };
      const before = calls.length;
      const started = Date.now();
      try {
        const r = await audit(['--kubeconfig', kubeconfig, '-n', 'ns-1', '-o', 'json', '--page-size', '10000']);
        return { ...r, tries: calls.slice(before).filter((c) => c.path === PATH).length, ms: Date.now() - started };
      } finally {
        throttle = undefined;
      }
    };
    let expected: string;
    beforeAll(async () => {
      expected = (await throttled([])).out;
    });

    it('waits the Retry-After a 429 asks for, then lists', async () => {
      const r = await throttled([{ status: 429, retryAfter: '1' }]);
      expect(r).toMatchObject({ code: 1, tries: 2 });
      expect(r.ms).toBeGreaterThanOrEqual(950);
      expect(r.out).toBe(expected);
      expect(r.err).toMatch(/^audit: \d+ image\(s\)/);
    });

    it(`a Retry-After of an hour (seconds, or an HTTP date) is waited at most ${MAX_RETRY_WAIT_MS} ms: audit is run by a person`, async () => {
      const r = await throttled([{ status: 429, retryAfter: new Date(Date.now() + 3_600_000).toUTCString() }]);
      expect(r).toMatchObject({ code: 1, tries: 2 });
      expect(r.ms).toBeGreaterThanOrEqual(MAX_RETRY_WAIT_MS - 50);
      expect(r.out).toBe(expected);
    }, 30_000);

    it('a 429 without Retry-After (a short backoff) and a 503 with one: tried again', async () => {
      const r = await throttled([{ status: 429 }, { status: 503, retryAfter: '0' }]);
      expect(r).toMatchObject({ code: 1, tries: 3 });
      expect(r.out).toBe(expected);
    });

    it('still throttled after the last try: one clear error, exit 2', async () => {
      const r = await throttled(Array.from({ length: 10 }, () => ({ status: 429, retryAfter: '0' })));
      expect(r).toMatchObject({ code: 2, out: '', tries: LIST_TRIES });
      expect(r.err).toMatch(/^error: cannot list pods in namespace ns-1 \(https:\/\/127\.0\.0\.1:\d+\): HTTP 429: TooManyRequests: try again later \(the API server is throttling: 5 tries\)\n$/);
    });

    it('a 503 without Retry-After is an error at once (client-go does not retry it either)', async () => {
      const r = await throttled([{ status: 503 }]);
      expect(r).toMatchObject({ code: 2, tries: 1 });
      expect(r.err.split('\n')[0]).toMatch(/^error: cannot list pods in namespace ns-1 \(https:\/\/127\.0\.0\.1:\d+\): HTTP 503: ServiceUnavailable: try again later$/);
    });
  });

  describe('a listing that outlives its snapshot (HTTP 410 on a continue token: etcd compacted past it)', () => {
    const PATH = '/api/v1/pods';
    const expiring = async (answers: ('offer' | 'none')[]): Promise<{ code: number; out: string; err: string; tries: number }> => {
      expire = { path: PATH, answers };
      const before = calls.length;
      try {
        const r = await audit(['--kubeconfig', kubeconfig, '-o', 'json', '--page-size', '100', '--scope', 'pods']);
        return { ...r, tries: calls.slice(before).filter((c) => c.path === PATH).length };
      } finally {
        expire = undefined;
      }
    };
    let expected: string;
    beforeAll(async () => {
      expected = (await expiring([])).out;
    });

    it('goes on with the token the API server offers, lists every object and says the list may be inconsistent', async () => {
      const r = await expiring(['offer']);
      expect(r.code).toBe(1);
      expect(r.out).toBe(expected);
      expect(r.tries).toBe(Math.ceil(PODS / 100) + 1);
      const notes = r.err.split('\n').filter((l) => l.startsWith('note: '));
      expect(notes).toEqual([
        "note: listing pods in all namespaces outlived the API server's snapshot (HTTP 410 on its continue token); it went on from a newer one, so objects created, changed or deleted meanwhile may be missing or listed twice",
      ]);
    });

    it('the note is said once per listing, however often it goes on', async () => {
      const r = await expiring(['offer', 'offer', 'offer']);
      expect(r.code).toBe(1);
      expect(r.out).toBe(expected);
      expect(r.tries).toBe(Math.ceil(PODS / 100) + 3);
      expect(r.err.match(/^note: listing pods/gm)).toHaveLength(1);
    });

    it('no token offered: one clear error, exit 2, what to do', async () => {
      const r = await expiring(['none']);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^error: cannot list pods in all namespaces \(https:\/\/127\.0\.0\.1:\d+\): HTTP 410: The provided continue parameter is too old .* \(the listing outlived its snapshot, and the API server offered no token to go on: run audit again, with a larger --page-size or a namespace at a time\)$/m);
    });

    it(`expiring again and again: it gives up after ${MAX_RESUMES} newer snapshots (exit 2), not an endless listing`, async () => {
      const r = await expiring(Array.from({ length: MAX_RESUMES + 5 }, () => 'offer' as const));
      expect(r.code).toBe(2);
      expect(r.tries).toBe(1 + MAX_RESUMES + 1);
      expect(r.err).toContain(`(the listing outlived its snapshot, ${MAX_RESUMES} times: run audit again`);
    });
  });

  it('no kubeconfig anywhere and not in a Pod: one plain error, exit 2, no call to http://localhost:8080', async () => {
    const home = join(pki.dir, 'empty-home');
    mkdirSync(home, { recursive: true });
    for (const env of [{ HOME: home }, { HOME: home, KUBECONFIG: join(pki.dir, 'missing') }]) {
      const io = captureIo(env, '');
      expect(await main(['audit', '--config', RULES], io)).toBe(2);
      expect(io.out()).toBe('');
      expect(io.err()).toMatch(/^error: (no kubeconfig: give --kubeconfig FILE, set KUBECONFIG or write ~\/\.kube\/config|cannot load the kubeconfig: none of the files KUBECONFIG names exists)[^\n]*\n$/);
    }
  });
});

describe('audit of a live cluster: what the webhook configuration does not select is left out', () => {
  const run = async (args: string[], setup: () => void = () => undefined): Promise<{ code: number; out: string; err: string }> => {
    setup();
    try {
      return await audit(['--kubeconfig', kubeconfig, ...args]);
    } finally {
      configurations = { 'image-rewriter': INSTALLED };
      configurationStatus = undefined;
      namespaceStatus = undefined;
    }
  };
  const FALLBACK = 'audit assumes the webhook is called for everything outside kube-system (what webhook-config always excludes)';

  it('a namespace labelled image-rewriter.io/skip=true: its Pods are not listed, they are counted; exit 0', async () => {
    gets.length = 0;
    const r = await run(['-n', 'quiet', '--scope', 'pods', '-o', 'json']);
    expect(r).toEqual({ code: 0, out: '', err: 'audit: no image would be rewritten\nleft out: 2 object(s) the webhook configuration image-rewriter does not select\n' });
    // Read with get: one configuration, and with -n only that namespace (a RoleBinding can grant it).
    expect(gets).toEqual([`${CONFIGURATION_PATH}image-rewriter`, '/api/v1/namespaces/quiet']);
  });

  it('without -n the Namespaces are listed page by page', async () => {
    calls.length = 0;
    const r = await run(['--scope', 'pods', '-o', 'json', '--page-size', '3']);
    expect(r.code).toBe(1);
    expect(calls.filter((c) => c.path === '/api/v1/namespaces')).toHaveLength(Math.ceil(Object.keys(NAMESPACE_LABELS).length / 3));
    expect(calls.every((c) => c.limit === 3)).toBe(true);
  });

  it('the configuration not installed (audit before the webhook): today\'s behaviour, its output as before; a note when it was named', async () => {
    const r = await run(['-n', 'quiet', '--scope', 'pods', '-o', 'json'], () => {
      configurations = {};
    });
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/quiet-0', 'Pod/quiet-2']);
    expect(r.err.split('\n')[0]).toBe('audit: 2 image(s) in 2 object(s) would be rewritten');
    expect(r.err).not.toContain('note:');
    const named = await run(['-n', 'quiet', '--scope', 'pods', '-o', 'json', '--webhook-config', 'image-rewriter'], () => {
      configurations = {};
    });
    expect(named.out).toBe(r.out);
    expect(named.err.split('\n')[0]).toBe(`note: no MutatingWebhookConfiguration image-rewriter in the cluster (not installed yet, or under another name: --webhook-config NAME): ${FALLBACK}`);
    expect(named.err.split('\n')[1]).toBe('audit: 2 image(s) in 2 object(s) would be rewritten');
    // kube-system is left out as before.
    const system = await run(['-n', 'kube-system', '--scope', 'pods'], () => {
      configurations = {};
    });
    expect(system.code).toBe(0);
    expect(system.out).toBe('audit: no image would be rewritten\nleft out: 2 object(s) in kube-system (the webhook is not called there)\n');
  });

  it('the configuration forbidden (RBAC): today\'s behaviour, not an error; a note saying why when it was named', async () => {
    const forbidden = (): void => {
      configurationStatus = 403;
    };
    const quiet = await run(['-n', 'quiet', '--scope', 'pods', '-o', 'json'], forbidden);
    expect(quiet.code).toBe(1);
    expect(quiet.err).not.toContain('note:');
    const r = await run(['-n', 'quiet', '--scope', 'pods', '-o', 'json', '--webhook-config', 'image-rewriter'], forbidden);
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/quiet-0', 'Pod/quiet-2']);
    expect(r.err.split('\n')[0]).toMatch(/^note: cannot get mutatingwebhookconfigurations image-rewriter \(https:\/\/127\.0\.0\.1:\d+\): HTTP 403: mutatingwebhookconfigurations\.admissionregistration\.k8s\.io is forbidden: User "auditor" cannot get resource "mutatingwebhookconfigurations\.admissionregistration\.k8s\.io": audit assumes the webhook is called for everything outside kube-system \(what webhook-config always excludes\)$/);
    expect(r.err).not.toMatch(/^error/m);
  });

  it('the configuration still throttled after the last try, the lists then answered: the fallback is not silent', async () => {
    const r = await run(['-n', 'quiet', '--scope', 'pods', '-o', 'json'], () => {
      configurationStatus = 429;
    });
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/quiet-0', 'Pod/quiet-2']);
    expect(r.err.split('\n')[0]).toMatch(/^note: cannot get mutatingwebhookconfigurations image-rewriter \(https:\/\/127\.0\.0\.1:\d+\): HTTP 429: TooManyRequests: try again later \(the API server is throttling: 5 tries\): audit assumes /);
  });

  it('the Namespaces forbidden: their labels are not known, so only names rule namespaces out (kube-system); a note says so', async () => {
    const forbidden = (): void => {
      namespaceStatus = 403;
    };
    const quiet = await run(['-n', 'quiet', '--scope', 'pods', '-o', 'json'], forbidden);
    expect(quiet.code).toBe(1);
    expect(kinds(quiet.out)).toEqual(['Pod/quiet-0', 'Pod/quiet-2']);
    expect(quiet.err.split('\n')[0]).toMatch(/^note: cannot get namespace quiet \(https:\/\/127\.0\.0\.1:\d+\): HTTP 403: namespaces is forbidden: .*: namespace labels are not known, so the namespaceSelector of image-rewriter leaves out only what namespace names decide$/);
    const system = await run(['-n', 'kube-system', '--scope', 'pods'], forbidden);
    expect(system.code).toBe(0);
    expect(system.out).toBe('audit: no image would be rewritten\nleft out: 2 object(s) in kube-system (the webhook is not called there)\n');
  });

  it('--webhook-config NAME: that configuration decides, whatever it calls; one for Pods only still lists the templates whose Pods it is sent', async () => {
    const podsOnly = webhookConfiguration({ url: 'https://other.example.com/hook', name: 'pods-only' });
    const r = await run(['-n', 'ns-0', '-o', 'json', '--webhook-config', 'pods-only'], () => {
      configurations = { 'pods-only': podsOnly };
    });
    expect(r.code).toBe(1);
    // As without a configuration: the Deployment's Pods are sent, so its template is listed (audit's
    // --scope pods lists only the Pods); its ReplicaSet is left out as controlled, not as unselected.
    expect(new Set(kinds(r.out).map((k) => k.split('/')[0]))).toEqual(new Set(['Pod', 'Deployment']));
    expect(r.err).not.toMatch(/does not select/);
    // A configuration that sends neither the Deployment nor its Pods (an objectSelector its
    // template's labels fail): left out.
    const labelled = webhookConfiguration({ url: 'https://other.example.com/hook', name: 'labelled', scope: 'all' });
    for (const w of labelled.webhooks) Object.assign(w, { objectSelector: { matchLabels: { 'team.example.com/mirrored': 'yes' } } });
    const none = await run(['-n', 'ns-0', '-o', 'json', '--webhook-config', 'labelled'], () => {
      configurations = { labelled };
    });
    expect(none.code).toBe(0);
    expect(none.err).toMatch(/\nleft out: \d+ object\(s\) the webhook configuration labelled does not select\n$/);
  });

  it('--webhook-config NAME of webhook-config --opt-in: the Pods of a namespace without image-rewriter.io/rewrite=true are left out, those of one with it listed', async () => {
    const optIn = webhookConfiguration({ url: 'https://other.example.com/hook', name: 'opt-in', optIn: true });
    const before = NAMESPACE_LABELS['ns-1'];
    try {
      NAMESPACE_LABELS['ns-1'] = { 'image-rewriter.io/rewrite': 'true' };
      const setup = (): void => {
        configurations = { 'opt-in': optIn };
      };
      const unlabelled = await run(['-n', 'ns-0', '--scope', 'pods', '-o', 'json', '--webhook-config', 'opt-in'], setup);
      expect(unlabelled.code).toBe(0);
      expect(unlabelled.out).toBe('');
      expect(unlabelled.err).toMatch(/^audit: no image would be rewritten\nleft out: \d+ object\(s\) the webhook configuration opt-in does not select\n$/);
      const labelled = await run(['-n', 'ns-1', '--scope', 'pods', '-o', 'json', '--webhook-config', 'opt-in'], setup);
      expect(labelled.code).toBe(1);
      expect(new Set(kinds(labelled.out).map((k) => k.split('/')[0]))).toEqual(new Set(['Pod']));
      expect(labelled.err).not.toMatch(/does not select/);
    } finally {
      NAMESPACE_LABELS['ns-1'] = before ?? {};
    }
  });

  it('a configuration that calls the webhook in kube-system: kube-system is audited like any namespace', async () => {
    const everything = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'image-rewriter' }, webhooks: [{ name: 'all.example.com', rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'], scope: '*' }] }] };
    const r = await run(['-n', 'kube-system', '--scope', 'pods', '-o', 'json'], () => {
      configurations = { 'image-rewriter': everything };
    });
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/kube-system-0', 'Pod/kube-system-2']);
    expect(r.err).not.toContain('left out');
  });

  it('--webhook-config must be an object name', async () => {
    expect((await audit(['--kubeconfig', kubeconfig, '--webhook-config', 'Not A Name'])).code).toBe(64);
    expect((await audit(['--kubeconfig', kubeconfig, '--webhook-config', ''])).code).toBe(64);
  });
});

describe('audit of kubectl get -o json', () => {
  const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', ...(pod(0) as object) }, { apiVersion: 'apps/v1', kind: 'Deployment', ...DEPLOYMENT }, { apiVersion: 'apps/v1', kind: 'ReplicaSet', ...REPLICASET }] });

  it('reads stdin (-f -), leaves controlled objects out', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], list);
    expect(r.code).toBe(1);
    expect(r.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { kind: string }).kind)).toEqual(['Pod', 'Deployment']);
  });

  it('reads a typed list as the API server returns it, and YAML', async () => {
    const typed = JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: [pod(2), pod(3)] });
    expect((await audit(['-f', '-', '-o', 'json'], typed)).out.trimEnd().split('\n')).toHaveLength(1);
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata: {name: "y", namespace: a}\nspec:\n  containers: [{name: c, image: gcr.io/y}]\n';
    expect((await audit(['-f', '-', '-o', 'json'], yaml)).out).toContain('"rewritten":"asia.gcr.io/y"');
  });

  it('lists an image volume the rules would rewrite as volumes/<name>', async () => {
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata: {name: "y", namespace: a}\nspec:\n  containers: [{name: c, image: asia.gcr.io/c}]\n  volumes: [{name: model, image: {reference: gcr.io/models/llm:1}}]\n';
    const r = await audit(['-f', '-', '-o', 'json'], yaml);
    expect(r.code).toBe(1);
    expect(r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { namespace: 'a', kind: 'Pod', name: 'y', container: 'volumes/model', image: 'gcr.io/models/llm:1', rewritten: 'asia.gcr.io/models/llm:1', rule: 'gcr-asia' },
    ]);
  });

  // Before, the counts were sorted with localeCompare, whose order follows LANG: under lt_LT "ya" came before "ja".
  it('sorts the summary in the same order whatever the locale', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-locale-'));
    try {
      const cli = await bundleCli(join(dir, 'cli.mjs'));
      const input = listOf(podIn('ya', 'y'), podIn('ja', 'j'), podIn('ia', 'i'));
      const summaries = await Promise.all(['C.UTF-8', 'lt_LT.UTF-8', 'da_DK.UTF-8'].map(async (locale) => {
        const child = spawn(process.execPath, [cli, 'audit', '--config', RULES, '-f', '-', '-o', 'json'], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, LANG: locale, LC_ALL: locale } });
        let err = '';
        child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
        child.stdin.end(input);
        await new Promise((resolve) => child.once('exit', resolve));
        return err;
      }));
      expect(summaries[0]).toContain('per namespace:\n  ia: 1\n  ja: 1\n  ya: 1\n');
      expect(summaries).toEqual([summaries[0], summaries[0], summaries[0]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('counts a Pod and a workload of the same name and namespace as two objects', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], listOf(podIn('ns-0', 'web'), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'ns-0' }, spec: { template: { spec: { containers: [{ name: 'app', image: 'gcr.io/web' }] } } } }));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/web', 'Deployment/web']);
    expect(r.err).toContain('audit: 2 image(s) in 2 object(s) would be rewritten\n');
  });

  it('counts an image volume in the summary as an image, beside the containers (the summary said "container(s)")', async () => {
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata: {name: "y", namespace: a}\nspec:\n  containers: [{name: c, image: gcr.io/c}]\n  volumes: [{name: model, image: {reference: gcr.io/models/llm:1}}]\n';
    const r = await audit(['-f', '-'], yaml);
    expect(r.code).toBe(1);
    expect(r.out).toContain('\naudit: 2 image(s) in 1 object(s) would be rewritten\nper namespace:\n  a: 2\n');
    // -o json: the same lines as before, the summary on stderr.
    const json = await audit(['-f', '-', '-o', 'json'], yaml);
    expect(json.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { container: string }).container)).toEqual(['c', 'volumes/model']);
    expect(json.err).toMatch(/^audit: 2 image\(s\) in 1 object\(s\) would be rewritten\n/);
  });

  it('nothing to rewrite: exit 0', async () => {
    const r = await audit(['-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', ...(pod(1) as object) }] }));
    expect(r).toEqual({ code: 0, out: 'audit: no image would be rewritten\n', err: '' });
  });

  it('warns of an image left unchanged because it, or its rule\'s result, is not a valid reference, as render and the webhook do (audit said nothing); not counted in the exit status', async () => {
    // A path of 255 characters (library/xxx...): valid; its rewrite's (dockerhub/xxx...) is 257, too long.
    const long = 'x'.repeat(247);
    const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, spec: { containers: [{ name: 'c', image: 'NGINX' }, { name: 'd', image: long }] } };
    const r = await audit(['-f', '-', '-o', 'json'], listOf(object));
    const why = [
      'invalid reference format: repository name (library/NGINX) must be lowercase',
      `rule "dockerhub-ecr" produced "123456789012.dkr.ecr.us-west-2.amazonaws.com/dockerhub/${long}", which is not a valid image reference: repository name must not be more than 255 characters`,
    ];
    expect(r).toEqual({
      code: 0,
      out: '',
      err: `warning: stdin: Pod a/p: /items/0/spec/containers/0/image: left unchanged: ${why[0] ?? ''}\nwarning: stdin: Pod a/p: /items/0/spec/containers/1/image: left unchanged: ${why[1] ?? ''}\naudit: no image would be rewritten\n`,
    });
    // The same words as render's warnings for the same object.
    const io = captureIo({}, JSON.stringify(object));
    expect(await main(['render', '--config', RULES, '-f', '-'], io)).toBe(0);
    expect(io.err()).toBe(`warning: document 1: Pod a/p: /spec/containers/0/image: left unchanged: ${why[0] ?? ''}\nwarning: document 1: Pod a/p: /spec/containers/1/image: left unchanged: ${why[1] ?? ''}\n`);
  });

  it.each([
    ['binary data', '\u0000\u0001garbage', /binary data/],
    ['not JSON nor YAML', '{"items": [', /neither JSON nor YAML/],
    ['not objects', '[1, 2]', /document 1: the document is a list, not a Kubernetes object/],
    ['YAML nested 100,000 levels deep', `items: ${'['.repeat(100_000)}${']'.repeat(100_000)}`, /^error: stdin: neither JSON nor YAML: nested too deeply to be read \(lists or maps inside one another, hundreds of levels deep\) at line 1, column 263\n$/],
  ])('%s: a clear error, exit 2', async (_name, input, message) => {
    const r = await audit(['-f', '-'], input);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('YAML refused because of a no-break or ideographic space (copied out of a web page or a chat): names it, where it is', async () => {
    const nbsp = await audit(['-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image:\u00a0gcr.io/nginx\n');
    expect(nbsp.code).toBe(2);
    expect(nbsp.err).toBe('error: stdin: neither JSON nor YAML: Implicit map keys need to be followed by map values at line 8, column 5; at line 8, column 11: a no-break space (U+00A0, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space\n');
    const ideographic = await audit(['-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n\u3000 - name: a\n    image: gcr.io/nginx\n');
    expect(ideographic.err).toContain('; at line 7, column 1: an ideographic space (U+3000, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space\n');
  });

  it('two -o yaml outputs one after another: says the "---" they need, and reads them with it (README, "-f")', async () => {
    const yaml = 'apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: "y", namespace: a}\n  spec:\n    containers: [{name: c, image: gcr.io/y}]\nkind: List\n';
    const glued = await audit(['-f', '-'], `${yaml}${yaml}`);
    expect(glued.code).toBe(2);
    expect(glued.err).toBe('error: stdin: neither JSON nor YAML: Map keys must be unique at line 9, column 1 (several `kubectl get -o yaml` outputs need a line "---" between them)\n');
    const separated = await audit(['-f', '-', '-o', 'json'], `${yaml}---\n${yaml}`);
    expect(separated.code).toBe(1);
    expect(separated.out.trimEnd().split('\n')).toHaveLength(2);
    // A key repeated inside one object is not mistaken for it.
    expect((await audit(['-f', '-'], 'kind: List\nitems:\n  - a: 1\n    a: 2\n')).err).not.toContain('---');
  });

  it('a YAML error ends with its line and column, not with the colon of the excerpt it leaves out', async () => {
    const r = await audit(['-f', '-'], 'a: b\n  c: d\n');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: stdin: neither JSON nor YAML: .+ at line 1, column \d+\n$/);
  });

  it(`without --page-size each list call asks for ${PAGE_SIZE.default} objects`, async () => {
    calls.length = 0;
    const r = await audit(['--kubeconfig', kubeconfig, '-o', 'json']);
    expect(r.code).toBe(1);
    expect(calls.filter((c) => c.path === '/api/v1/pods')).toHaveLength(Math.ceil(PODS / PAGE_SIZE.default));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.limit === PAGE_SIZE.default)).toBe(true);
  });

  it.each([['1', 3], ['10000', 1]])('--page-size %s (an end of its range) is taken: each list call asks for that many', async (size, pages) => {
    calls.length = 0;
    const r = await audit(['--kubeconfig', kubeconfig, '-n', 'done', '--scope', 'pods', '-o', 'json', '--page-size', size]);
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/web-ok']);
    const podCalls = calls.filter((c) => c.path === '/api/v1/namespaces/done/pods');
    expect(podCalls).toHaveLength(pages);
    expect(podCalls.every((c) => c.limit === Number(size))).toBe(true);
  });

  it('usage errors', async () => {
    expect((await audit(['-f', '-', '--kubeconfig', 'x'])).code).toBe(64);
    expect((await audit(['-o', 'yaml'])).code).toBe(64);
    expect((await audit(['--page-size', '0', '--kubeconfig', kubeconfig])).code).toBe(64);
  });

  it.each([
    ['not a number', 'abc'],
    ['zero', '0'],
    ['negative', '-1'],
    ['not whole', '1.5'],
    ['an exponent', '1e3'],
    ['too large', '10001'],
    ['empty', ''],
  ])('--page-size %s: a usage error naming the flag and its range, with -f too', async (_name, size) => {
    for (const source of [['-f', '-'], ['--kubeconfig', kubeconfig]]) {
      const r = await audit([...source, `--page-size=${size}`], list);
      expect(r.code).toBe(64);
      expect(r.err).toContain(`error: --page-size must be a whole number from 1 to 10000: ${size}\n`);
      expect(r.out).toBe('');
    }
  });

  // `-n "$NS"` with NS unset: with -f it kept no object and said "no image would be rewritten",
  // exit 0, about a file full of them; against a cluster it listed every namespace.
  it.each([[['-n', '']], [['--namespace=']]])('an empty namespace (%j): a usage error, with -f too', async (flag) => {
    for (const source of [['-f', '-'], ['--kubeconfig', kubeconfig]]) {
      const r = await audit([...source, ...flag], list);
      expect(r).toEqual({ code: 64, out: '', err: expect.stringContaining('error: -n/--namespace is empty: name a namespace, or leave the flag out') });
    }
  });
});

/** `kubectl get pods -A -o yaml` of `n` small Pods: a YAML List in kubectl's layout (items at column 0). */
const kubectlYamlList = (n: number): string =>
  `apiVersion: v1\nitems:\n${Array.from({ length: n }, (_, i) => `- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p${i}\n    namespace: ns${i % 50}\n  spec:\n    containers:\n    - image: gcr.io/app${i % 7}:1\n      name: a\n`).join('')}kind: List\nmetadata:\n  resourceVersion: ""\n`;

// A YAML List was parsed whole (its syntax tree some 50 times its text): `kubectl get pods -A -o
// yaml` of a large cluster filled node's heap and audit died (exit 134). It is read item by item,
// as render reads it; anything else, or any problem, is still parsed whole (its errors unchanged).
describe('audit of kubectl get -o yaml: a List read item by item', () => {
  /** The same text parsed whole: a directive first (a text with directives is never cut into items). */
  const whole = (text: string): string => `%YAML 1.2\n---\n${text.replace(/^---\n/, '')}`;

  it('the same findings and summary as the whole-document parse, alone and joined to other documents by ---', async () => {
    const list = kubectlYamlList(40).replace('    name: p3\n', '    name: &n p3\n    labels: {same: *n}\n');
    const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: solo, namespace: x}\nspec:\n  containers: [{name: c, image: nginx:1}]\n';
    for (const text of [list, `${list}---\n${pod}---\n${list.replace(/ns(\d)/g, 'other$1')}`, `---\n${pod}---\n# a comment\n${list}...\n`]) {
      const r = await audit(['-f', '-', '-o', 'json'], text);
      expect(r.code).toBe(1);
      expect(r).toEqual(await audit(['-f', '-', '-o', 'json'], whole(text)));
    }
  });

  it.each([
    ['an alias to an anchor in another item', (l: string) => l.replace('gcr.io/app1:1', '&img gcr.io/app1:1').replace('gcr.io/app2:1', '*img')],
    ['a duplicate key in an item', (l: string) => l.replace('    name: p5\n', '    name: p5\n    name: p6\n')],
    ['a broken item', (l: string) => l.replace('    name: p5\n', '    name: "p5\n')],
    ['an item that expands its aliases without bound', (l: string) => l.replace('    name: p5\n', `    name: p5\n    labels: {a: &a x, b: [${'*a, '.repeat(200)}*a]}\n`)],
    ['such a document beside the List', (l: string) => `${l}---\na: &a x\nb: [${'*a, '.repeat(200)}*a]\n`],
  ])('%s: as the whole-document parse says', async (_name, edit) => {
    const text = edit(kubectlYamlList(10));
    const r = await audit(['-f', '-', '-o', 'json'], text);
    expect(r).toEqual(await audit(['-f', '-', '-o', 'json'], whole(text)).then((w) => ({ ...w, err: w.err.replace(/line (\d+)/g, (_m, n: string) => `line ${Number(n) - 2}`) })));
  });

  it('8,000 Pods in 64 MB of heap (parsed whole, they did not fit: exit 134)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-yaml-list-'));
    try {
      const cli = await bundleCli(join(dir, 'cli.mjs'));
      writeFileSync(join(dir, 'pods.yaml'), kubectlYamlList(8000));
      const child = spawn(process.execPath, ['--max-old-space-size=64', cli, 'audit', '--config', RULES, '-f', join(dir, 'pods.yaml'), '-o', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect({ code, err: err.split('\n')[0] }).toEqual({ code: 1, err: 'audit: 8000 image(s) in 8000 object(s) would be rewritten' });
      expect(out.trimEnd().split('\n')).toHaveLength(8000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/** A Pod of `namespace` that pulls gcr.io/NAME (a finding), with more metadata. */
const podIn = (namespace: string, name: string, metadata: object = {}): unknown => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, ...metadata }, spec: { containers: [{ name: 'app', image: `gcr.io/${name}` }] },
});
const listOf = (...items: unknown[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const kinds = (out: string): string[] => out.trimEnd().split('\n').filter((l) => l !== '').map((l) => { const f = JSON.parse(l) as { kind: string; name: string }; return `${f.kind}/${f.name}`; });

describe('audit -f: empty input is an error, an empty List is not', () => {
  it.each([
    ['no input at all (kubectl failed in a pipeline)', '', 'empty'],
    ['only whitespace', ' \n\t\n', 'empty'],
    ['JSON null', 'null', 'null'],
    ['YAML null', '---\n~\n', 'null'],
    ['YAML comments only', '# nothing\n', 'null'],
  ])('%s: says what was expected (%s input), exit 2', async (_name, input, what) => {
    const r = await audit(['-f', '-'], input);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(`error: stdin: ${what} input: expected the JSON or YAML of \`kubectl get ... -o json\` (a List, even when nothing matches); did kubectl fail?\n`);
  });

  it.each([
    ['as kubectl prints it', '{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":""},"items":[]}'],
    ['without apiVersion', '{"kind":"List","items":[]}'],
    ['that is a typed list (PodList)', '{"apiVersion":"v1","kind":"PodList","items":[]}'],
  ])('an empty List %s: nothing would be rewritten, exit 0', async (_name, input) => {
    expect(await audit(['-f', '-'], input)).toEqual({ code: 0, out: 'audit: no image would be rewritten\n', err: '' });
  });
});

// Before, -n dropped every object without metadata.namespace: `audit -f deploy.yaml -n shop` of
// manifests that `kubectl apply -n shop` creates in shop passed (exit 0, "no image would be rewritten").
describe('audit -f -n NS: an object without a namespace is in NS, as kubectl apply -n and render --namespace read it', () => {
  const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: gcr.io/web:1}]\n';

  it('listed in NS, and decided there', async () => {
    const r = await audit(['-f', '-', '-n', 'shop', '-o', 'json'], pod);
    expect(r.code).toBe(1);
    expect(r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { namespace: 'shop', kind: 'Pod', name: 'web', container: 'c', image: 'gcr.io/web:1', rewritten: 'asia.gcr.io/web:1', rule: 'gcr-asia' },
    ]);
  });

  it('an object of another namespace is still left out, and kube-system given with -n still is', async () => {
    expect((await audit(['-f', '-', '-n', 'shop'], pod.replace('{name: web}', '{name: web, namespace: other}'))).code).toBe(0);
    const r = await audit(['-f', '-', '-n', 'kube-system'], pod);
    expect(r.code).toBe(0);
    expect(r.out).toContain('left out: 1 object(s) in kube-system');
  });
});

describe('audit -f of objects the webhook does not rewrite (QA-39)', () => {
  const rollout = (name: string): unknown => ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace: 'shop' },
    spec: { template: { spec: { containers: [{ name: 'app', image: 'gcr.io/app:1' }] } } },
  });

  it('says that nothing was audited when the input holds none of the kinds it reads (kubectl get rollouts -o json)', async () => {
    const r = await audit(['-f', '-'], listOf(rollout('a'), rollout('b'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }));
    expect(r).toEqual({ code: 0, out: 'audit: no image would be rewritten\nleft out: 3 object(s) of kinds the webhook does not rewrite (Rollout, ConfigMap)\n', err: '' });
  });

  // An old manifest's extensions/v1beta1 DaemonSet (flannel's, before 1.16) was counted as "kinds
  // the webhook does not rewrite (..., DaemonSet)", which the webhook does rewrite; and behind
  // "1 more" when five other kinds came first.
  it('names a workload kind of another group with its apiVersion, before the other kinds', async () => {
    const other = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'PodSecurityPolicy', 'ConfigMap'].map((kind) => ({ apiVersion: 'v1', kind, metadata: { name: 'x' } }));
    const daemonSet = { apiVersion: 'extensions/v1beta1', kind: 'DaemonSet', metadata: { name: 'flannel', namespace: 'kube-system' }, spec: { template: { spec: { containers: [{ name: 'f', image: 'gcr.io/f:1' }] } } } };
    const r = await audit(['-f', '-'], listOf(...other, daemonSet));
    expect(r).toEqual({
      code: 0,
      out: 'audit: no image would be rewritten\nleft out: 6 object(s) of kinds the webhook does not rewrite (DaemonSet of extensions/v1beta1, ServiceAccount, ClusterRole, ClusterRoleBinding, PodSecurityPolicy, 1 more)\n',
      err: '',
    });
  });

  it('names a workload kind given the core group with its apiVersion alone (v1, not /v1)', async () => {
    const deployment = { apiVersion: 'v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { template: { spec: { containers: [{ name: 'w', image: 'gcr.io/w:1' }] } } } };
    const r = await audit(['-f', '-'], listOf(deployment));
    expect(r).toEqual({ code: 0, out: 'audit: no image would be rewritten\nleft out: 1 object(s) of kinds the webhook does not rewrite (Deployment of v1)\n', err: '' });
  });

  it('says nothing of them beside Pods or workloads (kubectl get all lists Services)', async () => {
    const r = await audit(['-f', '-'], listOf(rollout('a'), podIn('shop', 'web')));
    expect(r.code).toBe(1);
    expect(r.out).not.toContain('kinds the webhook does not rewrite');
  });
});

describe('audit -f: what the webhook is never called for is left out', () => {
  // A kubelet's mirror Pod: the annotation and an owner reference to its Node (NodeRestriction requires it).
  const mirror = { annotations: { 'kubernetes.io/config.mirror': '3f1c' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'b7e1', controller: true }] };
  const input = listOf(
    podIn('kube-system', 'coredns'),
    { apiVersion: 'apps/v1', kind: 'Deployment', ...DEPLOYMENT, metadata: { name: 'web', namespace: 'kube-system' } },
    podIn('ns-0', 'etcd', mirror),
    podIn('ns-0', 'app'),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'kube-system' } },
  );

  it('kube-system (the namespaceSelector of webhook-config) and mirror Pods: no rows, counted in the summary', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], input);
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/app']);
    expect(r.err).toMatch(/\nleft out: 2 object\(s\) in kube-system \(the webhook is not called there\), 1 mirror Pod\(s\) \(the kubelet's, never rewritten\)\n$/);
  });

  it('only a Pod is a mirror Pod: a workload carrying the annotation is listed, as the webhook rewrites it', async () => {
    const annotated = { apiVersion: 'apps/v1', kind: 'Deployment', ...DEPLOYMENT, metadata: { ...DEPLOYMENT.metadata, ...mirror } };
    const r = await audit(['-f', '-', '-o', 'json'], listOf(annotated, podIn('ns-0', 'etcd', mirror)));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Deployment/web']);
    expect(r.err).toMatch(/\nleft out: 1 mirror Pod\(s\) \(the kubelet's, never rewritten\)\n$/);
  });

  it("a Pod with the mirror annotation but no Node owner is listed: anyone may annotate a Pod so, and the webhook rewrites it", async () => {
    const annotatedOnly = { annotations: mirror.annotations };
    const ownedByOther = { ...mirror, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'c1' }] };
    // A core owner that is no Node, and a "Node" of another API: neither is a kubelet's.
    const ownedByCore = { ...mirror, ownerReferences: [{ apiVersion: 'v1', kind: 'ReplicationController', name: 'rc', uid: 'c2' }] };
    const ownedByOtherNode = { ...mirror, ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Node', name: 'node-1', uid: 'c3' }] };
    const r = await audit(['-f', '-', '-o', 'json'], listOf(podIn('ns-0', 'fake', annotatedOnly), podIn('ns-0', 'other', ownedByOther), podIn('ns-0', 'core', ownedByCore), podIn('ns-0', 'crd-node', ownedByOtherNode), podIn('ns-0', 'etcd', mirror)));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/fake', 'Pod/other', 'Pod/core', 'Pod/crd-node']);
    expect(r.err).toMatch(/\nleft out: 1 mirror Pod\(s\) \(the kubelet's, never rewritten\)\n$/);
  });

  it('--scope pods: a workload is not looked at, so not counted as left out either', async () => {
    const r = await audit(['-f', '-', '--scope', 'pods'], listOf({ apiVersion: 'apps/v1', kind: 'Deployment', ...DEPLOYMENT, metadata: { name: 'web', namespace: 'kube-system' } }, podIn('kube-system', 'coredns')));
    expect(r).toEqual({ code: 0, out: 'audit: no image would be rewritten\nleft out: 1 object(s) in kube-system (the webhook is not called there)\n', err: '' });
  });

  it('nothing else: exit 0, and the note still says what was not looked at', async () => {
    const r = await audit(['-f', '-', '--scope', 'pods'], listOf(podIn('kube-system', 'coredns'), podIn('ns-0', 'etcd', mirror)));
    expect(r).toEqual({
      code: 0,
      out: "audit: no image would be rewritten\nleft out: 1 object(s) in kube-system (the webhook is not called there), 1 mirror Pod(s) (the kubelet's, never rewritten)\n",
      err: '',
    });
  });
});

describe('audit -f: Namespaces and the webhook configuration in the input say what the webhook is called for', () => {
  const ns = (name: string, labels: Record<string, string> = {}): unknown => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } });
  const NAMESPACES = [ns('shop'), ns('quiet', { 'image-rewriter.io/skip': 'true' }), ns('kube-system')];
  const PODS = [podIn('shop', 'web'), podIn('quiet', 'batch'), podIn('kube-system', 'coredns'), podIn('shop', 'opted-out', { labels: { 'image-rewriter.io/skip': 'true' } })];
  const FALLBACK = 'audit assumes the webhook is called for everything outside kube-system (what webhook-config always excludes)';

  it('kubectl get namespaces,mutatingwebhookconfigurations,pods -A -o json: only what the configuration selects is listed; the extra kinds are neither listed nor unreadable', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...NAMESPACES, INSTALLED, ...PODS));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/web']);
    expect(r.err).toBe(
      'audit: 1 image(s) in 1 object(s) would be rewritten\nper namespace:\n  shop: 1\nper rule:\n  gcr-asia: 1\n' +
        'left out: 1 object(s) in kube-system (the webhook is not called there), 2 object(s) the webhook configuration image-rewriter does not select\n',
    );
  });

  it('all of them selected out: exit 0 (a migrated cluster passes the gate)', async () => {
    const r = await audit(['-f', '-'], listOf(...NAMESPACES, INSTALLED, podIn('quiet', 'batch')));
    expect(r).toEqual({ code: 0, out: 'audit: no image would be rewritten\nleft out: 1 object(s) the webhook configuration image-rewriter does not select\n', err: '' });
  });

  it('several kubectl outputs, one after another, and -n: the same', async () => {
    const text = `${listOf(...NAMESPACES)}\n${JSON.stringify({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfigurationList', items: [INSTALLED] })}\n${listOf(...PODS)}`;
    const r = await audit(['-f', '-', '-o', 'json', '-n', 'quiet'], text);
    expect(r).toEqual({ code: 0, out: '', err: 'audit: no image would be rewritten\nleft out: 1 object(s) the webhook configuration image-rewriter does not select\n' });
  });

  it('a configuration for Pods only (webhook-config\'s default): a Deployment is listed (its Pods are sent), a PodTemplate is not (it makes no Pods)', async () => {
    const podsOnly = webhookConfiguration({ url: 'https://abc.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123' });
    const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'gcr.io/web' }] } };
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { template } };
    const podTemplate = { apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'web-template', namespace: 'shop' }, template };
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...NAMESPACES, podsOnly, deployment, podTemplate));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Deployment/web']);
    expect(r.err).toMatch(/\nleft out: 1 object\(s\) the webhook configuration image-rewriter does not select\n$/);
    // Alone, it leaves nothing the webhook could ever act on: exit 0.
    expect(await audit(['-f', '-'], listOf(...NAMESPACES, podsOnly, podTemplate))).toEqual({ code: 0, out: 'audit: no image would be rewritten\nleft out: 1 object(s) the webhook configuration image-rewriter does not select\n', err: '' });
  });

  it('a configuration for Pods only decides a workload by its template\'s labels (those of the Pods it makes), not its own', async () => {
    const podsOnly = webhookConfiguration({ url: 'https://abc.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123' });
    // Edited to be called only for the Pods of team shop.
    const teamOnly = { ...podsOnly, webhooks: podsOnly.webhooks.map((w) => ({ ...w, objectSelector: { matchLabels: { team: 'shop' } } })) };
    const deployment = (name: string, own: object, template: object): unknown => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'shop', labels: own }, spec: { template: { metadata: { labels: template }, spec: { containers: [{ name: 'app', image: `gcr.io/${name}` }] } } },
    });
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...NAMESPACES, teamOnly, deployment('labelled-itself', { team: 'shop' }, {}), deployment('labelled-pods', {}, { team: 'shop' })));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Deployment/labelled-pods']);
    expect(r.err).toMatch(/\nleft out: 1 object\(s\) the webhook configuration image-rewriter does not select\n$/);
  });

  it('a configuration of webhook-config --opt-in: only namespaces labelled image-rewriter.io/rewrite=true are listed, the others counted; the opt-out label and kube-system still win', async () => {
    const optIn = webhookConfiguration({ url: 'https://abc.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123', scope: 'all', optIn: true });
    const rewrite = { 'image-rewriter.io/rewrite': 'true' };
    const namespaces = [
      ns('shop', rewrite),
      ns('later'),
      ns('quiet', { ...rewrite, 'image-rewriter.io/skip': 'true' }),
      ns('almost', { 'image-rewriter.io/rewrite': 'True' }),
      ns('kube-system', rewrite),
    ];
    const pods = [podIn('shop', 'web'), podIn('later', 'api'), podIn('quiet', 'batch'), podIn('almost', 'cron'), podIn('kube-system', 'coredns'), podIn('shop', 'opted-out', { labels: { 'image-rewriter.io/skip': 'true' } })];
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...namespaces, optIn, ...pods));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/web']);
    expect(r.err).toMatch(/\nleft out: 1 object\(s\) in kube-system \(the webhook is not called there\), 4 object\(s\) the webhook configuration image-rewriter does not select\n$/);
    // Before any namespace is opted in, nothing is sent: exit 0, everything counted apart.
    const none = await audit(['-f', '-'], listOf(ns('later'), optIn, podIn('later', 'api')));
    expect(none).toEqual({ code: 0, out: 'audit: no image would be rewritten\nleft out: 1 object(s) the webhook configuration image-rewriter does not select\n', err: '' });
    // The same configuration without the Namespaces: their labels are not known, so nothing is left out by them.
    const unknown = await audit(['-f', '-', '-o', 'json'], listOf(optIn, podIn('later', 'api')));
    expect(kinds(unknown.out)).toEqual(['Pod/api']);
  });

  it('a Namespace written by hand without kubernetes.io/metadata.name still has it, as the API server sets it: kube-system is left out', async () => {
    const bare = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }];
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...bare, INSTALLED, podIn('kube-system', 'coredns'), podIn('shop', 'web')));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/web']);
    expect(r.err).toMatch(/\nleft out: 1 object\(s\) in kube-system \(the webhook is not called there\)\n$/);
  });

  it('Namespaces but no configuration: today\'s behaviour; a note when it was named or the input has another', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...NAMESPACES, ...PODS));
    expect(kinds(r.out)).toEqual(['Pod/web', 'Pod/batch']);
    expect(r.err).not.toContain('note:');
    const named = await audit(['-f', '-', '-o', 'json', '--webhook-config', 'image-rewriter'], listOf(...NAMESPACES, ...PODS));
    expect(named.err.split('\n')[0]).toBe(`note: no MutatingWebhookConfiguration image-rewriter in the input: ${FALLBACK}`);
    const other = await audit(['-f', '-', '-o', 'json', '--webhook-config', 'mine'], listOf(...NAMESPACES, INSTALLED, ...PODS));
    expect(other.err.split('\n')[0]).toBe(`note: no MutatingWebhookConfiguration mine in the input (it has image-rewriter: --webhook-config NAME picks one): ${FALLBACK}`);
    expect(kinds(other.out)).toEqual(['Pod/web', 'Pod/batch']);
    // Another configuration in the input, none named: said too (it may be the one the webhook is installed as).
    const renamed = { ...INSTALLED, metadata: { ...INSTALLED.metadata, name: 'mine' } };
    const unnamed = await audit(['-f', '-', '-o', 'json'], listOf(...NAMESPACES, renamed, ...PODS));
    expect(unnamed.err.split('\n')[0]).toBe(`note: no MutatingWebhookConfiguration image-rewriter in the input (it has mine: --webhook-config NAME picks one): ${FALLBACK}`);
    expect(kinds(unnamed.out)).toEqual(['Pod/web', 'Pod/batch']);
  });

  it('the configuration but no Namespaces: only names rule namespaces out, and a note names those missing whose labels could matter', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], listOf(INSTALLED, ...PODS));
    expect(kinds(r.out)).toEqual(['Pod/web', 'Pod/batch']);
    // Not kube-system: the configuration leaves it out by its name, whatever its labels (the note named it, as if they were needed).
    expect(r.err.split('\n')[0]).toBe(
      'note: the input has no Namespace shop, quiet (2 namespace(s)): their labels are not known, so the namespaceSelector of image-rewriter leaves out only what their names decide (add namespaces to the kubectl get)',
    );
    expect(r.err).toMatch(/\nleft out: 1 object\(s\) in kube-system \(the webhook is not called there\), 1 object\(s\) the webhook configuration image-rewriter does not select\n$/);
    // Nor a namespace whose only objects are left out by their own labels.
    const skipped = await audit(['-f', '-', '-o', 'json'], listOf(INSTALLED, podIn('shop', 'web'), podIn('later', 'opted-out', { labels: { 'image-rewriter.io/skip': 'true' } })));
    expect(skipped.err.split('\n')[0]).toMatch(/^note: the input has no Namespace shop \(1 namespace\(s\)\):/);
    // Only kube-system missing: no note.
    const system = await audit(['-f', '-', '-o', 'json'], listOf(INSTALLED, ns('shop'), podIn('shop', 'web'), podIn('kube-system', 'coredns')));
    expect(system.err).not.toContain('note:');
    // More than three are cut after the third.
    const extra = (namespace: string): unknown => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace }, spec: { containers: [{ name: 'app', image: 'gcr.io/x' }] } });
    const four = await audit(['-f', '-', '-o', 'json'], listOf(INSTALLED, ...PODS, extra('extra'), extra('more')));
    expect(four.err.split('\n')[0]).toMatch(/^note: the input has no Namespace shop, quiet, extra\.\.\. \(4 namespace\(s\)\):/);
  });

  it('a configuration that cannot be read: today\'s behaviour, and a note saying what is wrong', async () => {
    const broken = { ...INSTALLED, webhooks: [{ ...INSTALLED.webhooks[0], namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] } }] };
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...NAMESPACES, broken, ...PODS));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/web', 'Pod/batch']);
    expect(r.err.split('\n')[0]).toBe(
      `note: the MutatingWebhookConfiguration image-rewriter in the input cannot be read (webhooks[0].namespaceSelector matchExpressions[0].operator is not one of In, NotIn, Exists, DoesNotExist: Gt): ${FALLBACK}`,
    );
  });

  it('neither in the input: no note (as before), unless the configuration was named', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...PODS));
    expect(r.err).not.toContain('note:');
    const named = await audit(['-f', '-', '-o', 'json', '--webhook-config', 'mine'], listOf(...PODS));
    expect(named.out).toBe(r.out);
    expect(named.err.split('\n')[0]).toBe(`note: no MutatingWebhookConfiguration mine in the input: ${FALLBACK}`);
  });
});

describe('audit -f: finished Pods (phase Succeeded or Failed) pull nothing', () => {
  const phase = (p: unknown, value: string): unknown => ({ ...(p as object), status: { phase: value } });
  const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: 'ns-0' }, spec: { template: { spec: { containers: [{ name: 'm', image: 'gcr.io/migrate' }] } } }, status: { succeeded: 1 } };

  it.each([
    ['json', ['-o', 'json']],
    ['table', []],
  ])('only finished Pods left (-o %s): nothing listed, exit 0, counted on the last line', async (_name, flags) => {
    // The third names no image the rules would rewrite: not counted.
    const clean = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'clean', namespace: 'ns-1' }, spec: { containers: [{ name: 'app', image: 'asia.gcr.io/clean' }] } };
    const r = await audit(['-f', '-', '--scope', 'pods', ...flags], listOf(phase(podIn('ns-0', 'job-x1'), 'Succeeded'), phase(podIn('ns-1', 'evicted'), 'Failed'), phase(clean, 'Succeeded')));
    const summary = "audit: no image would be rewritten\nleft out: 2 finished Pod(s) with 2 image(s) the rules would rewrite (phase Succeeded or Failed: they pull nothing; --include-finished lists them)\n";
    expect(r).toEqual(flags.length > 0 ? { code: 0, out: '', err: summary } : { code: 0, out: summary, err: '' });
  });

  it.each(['Running', 'Pending', 'Unknown', undefined])('a Pod in phase %s is listed as before', async (value) => {
    const p = value === undefined ? podIn('ns-0', 'p') : phase(podIn('ns-0', 'p'), value);
    const r = await audit(['-f', '-', '-o', 'json'], listOf(p));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/p']);
    expect(r.err).not.toContain('left out');
  });

  it('--include-finished lists them like any Pod, and they count for the exit status', async () => {
    const r = await audit(['-f', '-', '-o', 'json', '--include-finished'], listOf(phase(podIn('ns-0', 'job-x1'), 'Succeeded')));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(['Pod/job-x1']);
    expect(r.err).not.toContain('left out');
  });

  it('workloads are unchanged: a completed Job is listed, its finished Pod is not; the table and the summary agree', async () => {
    const r = await audit(['-f', '-'], listOf(job, phase(podIn('ns-0', 'migrate-x1'), 'Succeeded')));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/\nns-0 +Job +migrate +m +gcr\.io\/migrate +asia\.gcr\.io\/migrate +gcr-asia\n\naudit: 1 image\(s\) in 1 object\(s\) would be rewritten\n/);
    expect(r.out).not.toContain('migrate-x1 ');
    expect(r.out).toMatch(/\nleft out: 1 finished Pod\(s\) with 1 image\(s\) the rules would rewrite \(phase Succeeded or Failed: they pull nothing; --include-finished lists them\)\n$/);
  });

  it('a finished Pod in kube-system or a mirror Pod is counted there, once', async () => {
    const r = await audit(['-f', '-', '--scope', 'pods'], listOf(phase(podIn('kube-system', 'done'), 'Succeeded'), phase(podIn('ns-0', 'etcd', { annotations: { 'kubernetes.io/config.mirror': '3f1c' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'b7e1', controller: true }] }), 'Failed')));
    expect(r).toEqual({ code: 0, out: "audit: no image would be rewritten\nleft out: 1 object(s) in kube-system (the webhook is not called there), 1 mirror Pod(s) (the kubelet's, never rewritten)\n", err: '' });
  });
});

describe('audit -f: an object is left out only when its controller is in the input', () => {
  const owner = (kind: string, name: string, uid?: string): object => ({ apiVersion: 'apps/v1', kind, name, ...(uid === undefined ? {} : { uid }), controller: true });
  const rs = (ref: object): unknown => ({
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-1', namespace: 'ns-0', ownerReferences: [ref] },
    spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
  });
  const deployment = (uid?: string): unknown => ({ apiVersion: 'apps/v1', kind: 'Deployment', ...DEPLOYMENT, metadata: { ...DEPLOYMENT.metadata, ...(uid === undefined ? {} : { uid }) } });

  it.each([
    ['ReplicaSets alone (kubectl get rs): listed', [rs(owner('Deployment', 'web', 'u1'))], ['ReplicaSet/web-1']],
    ['with their Deployment, same uid: left out', [deployment('u1'), rs(owner('Deployment', 'web', 'u1'))], ['Deployment/web']],
    ['the Deployment after them in the input: left out', [rs(owner('Deployment', 'web', 'u1')), deployment('u1')], ['Deployment/web']],
    ['a Deployment of the same name but another uid (re-created): listed', [deployment('u2'), rs(owner('Deployment', 'web', 'u1'))], ['Deployment/web', 'ReplicaSet/web-1']],
    ['no uid on the Deployment: matched by kind, namespace and name', [deployment(), rs(owner('Deployment', 'web', 'u1'))], ['Deployment/web']],
    ['a Deployment of that name in another namespace: listed', [{ ...(deployment('u9') as object), metadata: { name: 'web', namespace: 'ns-1' } }, rs(owner('Deployment', 'web'))], ['Deployment/web', 'ReplicaSet/web-1']],
    ['an empty uid is no uid: a controller of another name with an empty uid too is not it: listed', [deployment(''), rs(owner('Deployment', 'api', ''))], ['Deployment/web', 'ReplicaSet/web-1']],
    ['a Pod whose ReplicaSet is in the input: listed, as every Pod (Pods are what pulls)', [{ ...(rs(owner('Deployment', 'web', 'u1')) as object), metadata: { name: 'web-1', namespace: 'ns-0', uid: 'rs1' } }, podIn('ns-0', 'web-1-x', { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'rs1', controller: true }] })], ['ReplicaSet/web-1', 'Pod/web-1-x']],
    ['an owner that is not the controller: listed', [deployment('u1'), rs({ ...owner('Deployment', 'web', 'u1'), controller: false })], ['Deployment/web', 'ReplicaSet/web-1']],
    ['a controller of a kind audit does not list (an Argo Rollout): listed', [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'web', namespace: 'ns-0', uid: 'r1' } }, rs(owner('Rollout', 'web', 'r1'))], ['ReplicaSet/web-1']],
  ])('%s', async (_name, items, expected) => {
    const r = await audit(['-f', '-', '-o', 'json'], listOf(...items));
    expect(r.code).toBe(1);
    expect(kinds(r.out)).toEqual(expected);
  });
});

describe('audit -f: what can be read is listed, each unreadable part named, exit 2', () => {
  it('a List with an item that is not an object', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], listOf(podIn('ns-0', 'a'), 'oops', podIn('ns-0', 'b'), 3));
    expect(r.code).toBe(2);
    expect(kinds(r.out)).toEqual(['Pod/a', 'Pod/b']);
    expect(r.err).toMatch(/^error: stdin: document 1: \/items\/1 is a string, not a Kubernetes object.*\nerror: stdin: document 1: \/items\/3 is a number, not a Kubernetes object.*\n/);
    expect(r.err).toContain('audit: 2 image(s) in 2 object(s) would be rewritten');
  });

  it('YAML documents: one a string, one that does not parse', async () => {
    const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: "y", namespace: a}\nspec:\n  containers: [{name: c, image: gcr.io/y}]\n';
    const r = await audit(['-f', '-', '-o', 'json'], `${pod}---\noops\n---\nkind: [\n---\n${pod.replace('name: "y"', 'name: z')}`);
    expect(r.code).toBe(2);
    expect(kinds(r.out)).toEqual(['Pod/y', 'Pod/z']);
    expect(r.err).toMatch(/^error: stdin: document 2: the document is a string, not a Kubernetes object.*\nerror: stdin: document 3: not YAML: .*\n/);
  });

  it('YAML documents: one that expands its aliases without bound', async () => {
    // Ten levels of ten aliases of the level below: 10^10 nodes, which kubectl refuses (src/manifests/aliasing.ts).
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 9 }, (_, i) => `${'bcdefghij'[i]}: &${'bcdefghij'[i]} [${Array.from({ length: 10 }, () => `*${'abcdefghi'[i]}`).join(', ')}]`), ''].join('\n');
    const r = await audit(['-f', '-', '-o', 'json'], `${bomb}---\n${JSON.stringify(podIn('ns-0', 'a'))}\n`);
    expect(r.code).toBe(2);
    expect(kinds(r.out)).toEqual(['Pod/a']);
    expect(r.err).toMatch(/^error: stdin: document 1: excessive aliasing: its aliases expand to more than kubectl reads \(an alias bomb\)\n/);
  });

  it('JSON documents one after another: one that does not parse', async () => {
    const r = await audit(['-f', '-', '-o', 'json'], `${JSON.stringify(podIn('ns-0', 'a'))}\n{"kind": tru}\n${JSON.stringify(podIn('ns-0', 'b'))}\n`);
    expect(r.code).toBe(2);
    expect(kinds(r.out)).toEqual(['Pod/a', 'Pod/b']);
    expect(r.err).toMatch(/^error: stdin: document 2: not JSON: .*\n/);
  });

  it('a typed List (PodList) in YAML, its items without apiVersion and kind, as the API server lists them', async () => {
    const yaml = 'apiVersion: v1\nkind: PodList\nmetadata:\n  resourceVersion: "1"\nitems:\n- metadata:\n    name: a\n    namespace: ns-0\n  spec:\n    containers:\n    - name: c\n      image: gcr.io/a\n- metadata:\n    name: b\n    namespace: ns-0\n  spec:\n    containers:\n    - name: c\n      image: gcr.io/b\n';
    const r = await audit(['-f', '-', '-o', 'json'], yaml);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^audit: 2 image\(s\) in 2 object\(s\) would be rewritten\n/);
    expect(kinds(r.out)).toEqual(['Pod/a', 'Pod/b']);
  });

  // Before, such a field was skipped without a word and audit passed (exit 0, "no image would be
  // rewritten"), where render stops (exit 2). `!!binary` is go-yaml's base64 string: kubectl
  // applies `image: !!binary Z2NyLmlvL2FwcDox` as the Pod's image gcr.io/app:1.
  it.each([
    ['a boolean (kubectl reads yes as true)', 'yes', /\/spec\/containers\/0\/image is a boolean, not a string/],
    ['a number', '1_000', /\/spec\/containers\/0\/image is a number, not a string/],
    ['!!binary (kubectl: the string gcr.io/app:1)', '!!binary Z2NyLmlvL2FwcDox', /\/spec\/containers\/0\/image is binary data \(YAML !!binary: write the image as text\), not a string/],
  ])('an image that is %s: named on stderr, exit 2, the other objects still listed', async (_name, image, message) => {
    const broken = `apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: ns-0}\nspec:\n  containers:\n  - name: c\n    image: ${image}\n`;
    const r = await audit(['-f', '-', '-o', 'json'], `${broken}---\n${JSON.stringify(podIn('ns-0', 'a'))}\n`);
    expect(r.code).toBe(2);
    expect(kinds(r.out)).toEqual(['Pod/a']);
    expect(r.err).toMatch(/^error: stdin: Pod ns-0\/x: /);
    expect(r.err).toMatch(message);
    // Alone: no "no image would be rewritten" about a Pod whose image was not read.
    const alone = await audit(['-f', '-'], broken);
    expect({ code: alone.code, out: alone.out }).toEqual({ code: 2, out: '' });
  });

  // In a List (kubectl get -o json), the field is named with the item it is in.
  it('an image that is not a string in a List item: named by its pointer in the input', async () => {
    const broken = { ...(podIn('ns-0', 'x') as object), spec: { containers: [{ name: 'c', image: 1000 }] } };
    const r = await audit(['-f', '-', '-o', 'json'], listOf(podIn('ns-0', 'a'), broken));
    expect({ code: r.code, kinds: kinds(r.out), error: r.err.split('\n')[0] }).toEqual({ code: 2, kinds: ['Pod/a'], error: 'error: stdin: Pod ns-0/x: /items/1/spec/containers/0/image is a number, not a string' });
  });

  it('nothing readable: no summary (it would claim something about what was not read)', async () => {
    const r = await audit(['-f', '-'], listOf('oops'));
    expect({ code: r.code, out: r.out }).toEqual({ code: 2, out: '' });
  });
});

describe('audit table: objects without a namespace', () => {
  it('the table says (none), as the summary does', async () => {
    const r = await audit(['-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' }, spec: { containers: [{ name: 'c', image: 'gcr.io/a' }] } }));
    expect(r.code).toBe(1);
    expect(r.out.split('\n')[1]).toMatch(/^\(none\) +Pod +a +c +gcr\.io\/a +/);
    expect(r.out).toContain('per namespace:\n  (none): 1\n');
  });
});

describe('audit table: a large cluster', () => {
  it('150,000 rows: the table and the summary, no stack overflow', async () => {
    const containers = Array.from({ length: 100 }, (_, i) => ({ name: `c${i}`, image: `gcr.io/x${i}` }));
    const items = Array.from({ length: 1500 }, (_, p) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${p}`, namespace: 'ns-0' }, spec: { containers } }));
    const r = await audit(['-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    expect({ code: r.code, err: r.err }).toEqual({ code: 1, err: '' });
    expect(r.out.split('\n')[0]).toMatch(/^NAMESPACE +KIND +NAME +CONTAINER +IMAGE +REWRITTEN +RULE$/);
    expect(r.out).toContain('audit: 150000 image(s) in 1500 object(s) would be rewritten\n');
  }, 60_000);

  it('150,000 Pods in one List (kubectl get pods -A -o json at the largest cluster Kubernetes supports): read, no stack overflow', async () => {
    // The objects of a document were appended with push(...objects): past about 130,000 that
    // overflowed the stack, "error: Maximum call stack size exceeded" and exit 1 (the code for
    // "something would change").
    const items = Array.from({ length: 150_000 }, (_, p) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${p}`, namespace: 'ns-0' }, spec: { containers: [{ name: 'c', image: p === 7 ? 'gcr.io/x' : 'asia.gcr.io/x' }] } }));
    const r = await audit(['-f', '-', '-o', 'json'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^audit: 1 image\(s\) in 1 object\(s\) would be rewritten\n/);
    expect(r.out).toBe(`${JSON.stringify({ namespace: 'ns-0', kind: 'Pod', name: 'p7', container: 'c', image: 'gcr.io/x', rewritten: 'asia.gcr.io/x', rule: 'gcr-asia' })}\n`);
  }, 60_000);
});

describe('audit table: hostile names in a file', () => {
  it('escape sequences and newlines in a name, a namespace or a container are printed escaped, one row each', async () => {
    const evil = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p\u001b]0;pwned\u0007', namespace: 'ns\u001b[2J\nfake: 1' }, spec: { containers: [{ name: 'c\u202e', image: 'gcr.io/a' }] } };
    const r = await audit(['-f', '-'], JSON.stringify(evil));
    expect(r.code).toBe(1);
    // eslint-disable-next-line no-control-regex -- control characters are what must not be written
    expect(r.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(r.out.split('\n')[1]).toMatch(/^ns\\u001b\[2J\\u000afake: 1 +Pod +p\\u001b\]0;pwned\\u0007 +c\\u202e +gcr\.io\/a /);
    expect(r.out).toContain('per namespace:\n  ns\\u001b[2J\\u000afake: 1: 1\n');
  });

  // A file's `"\ud800"` (kubectl never writes one, a hand-made file may) reached `-o json` as its
  // escape: JSON text, but no Unicode, which Go's encoding/json/v2 and Rust's serde_json refuse.
  it('-o json writes a lone surrogate in a name, a namespace or a container as U+FFFD: every line well-formed Unicode', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p\ud800', namespace: 'ns\udc00x' }, spec: { containers: [{ name: 'c\ud83d', image: 'gcr.io/a' }] } };
    const r = await audit(['-f', '-', '-o', 'json'], JSON.stringify(pod));
    expect(r.code).toBe(1);
    expect(r.out).not.toMatch(/\\ud[89a-f]/);
    expect(JSON.parse(r.out)).toMatchObject({ namespace: 'ns\ufffdx', name: 'p\ufffd', container: 'c\ufffd', image: 'gcr.io/a' });
  });

  it('a zero-width or no-break space in a name or a namespace (a file edited by hand) is printed escaped, in the table and its summary', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p\u200b', namespace: 'ns\u00a0' }, spec: { containers: [{ name: 'c', image: 'gcr.io/a' }] } };
    const r = await audit(['-f', '-'], JSON.stringify(pod));
    expect(r.out.split('\n')[1]).toMatch(/^ns\\u00a0 +Pod +p\\u200b +c +gcr\.io\/a /);
    expect(r.out).toContain('per namespace:\n  ns\\u00a0: 1\n');
  });
});
