/**
 * Read-only listing of a live cluster for `audit`, through @kubernetes/client-node (loaded here
 * only, and only when `audit` runs without `-f`). Every kind is listed page by page (`limit` and
 * `continue`), so memory holds one page at a time whatever the size of the cluster; nothing but
 * `list`, and `get` of the webhook configuration (and of a namespace), is ever called (the RBAC a
 * user needs is in README.md, "Find what still pulls from upstream").
 * A call the API server throttles (429, or 5xx with Retry-After) is tried again, at most LIST_TRIES times.
 * A listing that outlives its snapshot (HTTP 410 on a `continue` token: etcd compacted past it, five
 * minutes by default) goes on with the token the API server offers in that answer, from a newer
 * snapshot, and says so (`onExpired`); client-go's streaming pager and kubectl stop there instead,
 * which on a large cluster means an audit that can never finish.
 */
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, KubernetesListObject, KubernetesObject, RequestContext, ResponseContext } from '@kubernetes/client-node';
import { own, printableClipped } from '../core/json.js';
import { describeSystemError } from '../config/system-error.js';
import { workloadTypeOfKind, type WorkloadType } from '../core/workload.js';
import { applyTokenFile, resolveKubeconfigFiles } from './kubeconfig-files.js';

/** The error of one list call, said plainly (`forbidden: User "x" cannot list resource "pods" ...`). */
export class ListError extends Error {
  override readonly name = 'ListError';
  /** True when no other call can succeed either (the server unreachable, or the credentials refused: HTTP 401). */
  readonly unreachable: boolean;
  /** The HTTP status of the failed call, when there was an answer. */
  readonly status: number | undefined;
  /** The `continue` token a 410 answer offers to go on from a newer snapshot (Status `metadata.continue`). */
  readonly resumeToken: string | undefined;

  constructor(message: string, unreachable = false, status?: number, resumeToken?: string) {
    super(message);
    this.unreachable = unreachable;
    this.status = status;
    this.resumeToken = resumeToken;
  }
}

export interface ClusterOptions {
  /** `--kubeconfig`, else the first file of KUBECONFIG, else ~/.kube/config, else in-cluster. */
  readonly kubeconfig: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Only this namespace (else all namespaces). */
  readonly namespace: string | undefined;
  readonly pageSize: number;
  /** Told when a listing's `continue` token expired and it went on from a newer snapshot (`what`: "pods in all namespaces"). */
  readonly onExpired?: (what: string) => void;
  /** The longest wait for one answer, in milliseconds (default REQUEST_TIMEOUT_MS). */
  readonly requestTimeoutMs?: number;
}

/** One page of objects of one kind. */
export interface Page {
  readonly type: WorkloadType;
  readonly apiVersion: string;
  readonly items: readonly unknown[];
}

export interface Cluster {
  /** The server the kubeconfig points at, for messages. */
  readonly server: string;
  /** Every object of `kind`, page by page. Throws ListError when a call fails. */
  pages(kind: string): AsyncGenerator<Page>;
  /** The Namespaces (only the one of `namespace` when given), page by page. Throws ListError when a call fails. */
  namespaces(): AsyncGenerator<readonly unknown[]>;
  /** The MutatingWebhookConfiguration `name`, or undefined when there is none (HTTP 404). Throws ListError when the call fails. */
  webhookConfiguration(name: string): Promise<unknown>;
}

/** apiVersion of each kind audit lists (the versions every supported Kubernetes serves). */
const API_VERSIONS: Readonly<Record<string, string>> = {
  Pod: 'v1',
  Deployment: 'apps/v1',
  ReplicaSet: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
  ReplicationController: 'v1',
  PodTemplate: 'v1',
};

/**
 * The kubeconfig files to read, as kubectl picks them: `--kubeconfig`, else every file KUBECONFIG
 * lists (empty entries skipped; `fromEnv`), else ~/.kube/config when it exists; none: in-cluster.
 */
function kubeconfigPaths(options: ClusterOptions): { readonly paths: readonly string[]; readonly fromEnv: boolean } {
  if (options.kubeconfig !== undefined) return { paths: [options.kubeconfig], fromEnv: false };
  const listed = (options.env['KUBECONFIG'] ?? '').split(delimiter).filter((p) => p !== '');
  if (listed.length > 0) return { paths: listed, fromEnv: true };
  const home = options.env['HOME'];
  const path = home === undefined ? undefined : join(home, '.kube', 'config');
  return { paths: path !== undefined && existsSync(path) ? [path] : [], fromEnv: false };
}

/**
 * Why a kubeconfig file cannot be loaded, in one line: a YAML error's message goes on with an
 * excerpt of the file (js-yaml's snippet), whose lines hold tokens and client keys; its first line
 * has the reason and the line:column, which is all that is printed (CI logs keep stderr). A file
 * that cannot be read is said in words, as every other (src/config/system-error.ts).
 */
const loadFailure = (e: unknown): string => {
  const { code } = e as { readonly code?: unknown };
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? describeSystemError(e) : ((e as Error).message.split('\n', 1)[0] ?? '').trim();
};

/** Named entries of several files merged as kubectl merges them: the first file to name one wins. */
function firstByName<T extends { readonly name: string }>(lists: readonly (readonly T[])[]): T[] {
  const byName = new Map<string, T>();
  for (const list of lists) for (const entry of list) if (!byName.has(entry.name)) byName.set(entry.name, entry);
  return [...byName.values()];
}

/**
 * A file kubectl reads as an empty configuration (client-go loads no data, or YAML null, as one);
 * client-node's loader throws a TypeError on it ("Cannot read properties of undefined").
 */
function isEmptyKubeconfig(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').replace(/^\s*#.*$/gm, '').trim() === '';
  } catch {
    return false; // loadFromFile says why it cannot be read
  }
}

/**
 * Load the kubeconfig of `paths` into `kc`. One file (`--kubeconfig`, ~/.kube/config) must be
 * readable; KUBECONFIG's files are merged as kubectl merges them (missing ones skipped, the first
 * file to set current-context or to name a cluster, user or context wins).
 */
function loadKubeconfig(kc: KubeConfig, paths: readonly string[], fromEnv: boolean, make: () => KubeConfig): void {
  if (!fromEnv) {
    const [only] = paths;
    if (only === undefined || isEmptyKubeconfig(only)) return;
    try {
      kc.loadFromFile(only);
    } catch (e) {
      throw new ListError(`cannot load the kubeconfig ${only}: ${loadFailure(e)}`);
    }
    resolveKubeconfigFiles(kc, only);
    return;
  }
  const configs: KubeConfig[] = [];
  let found = false;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    found = true;
    if (isEmptyKubeconfig(path)) continue;
    const one = make();
    try {
      one.loadFromFile(path);
    } catch (e) {
      throw new ListError(`cannot load the kubeconfig ${path} (from KUBECONFIG): ${loadFailure(e)}`);
    }
    resolveKubeconfigFiles(one, path);
    configs.push(one);
  }
  if (!found) throw new ListError(`cannot load the kubeconfig: none of the files KUBECONFIG names exists (${paths.join(delimiter)})`);
  kc.loadFromOptions({
    clusters: firstByName(configs.map((c) => c.clusters)),
    users: firstByName(configs.map((c) => c.users)),
    contexts: firstByName(configs.map((c) => c.contexts)),
    // A file without current-context leaves it undefined (client-node), not '': it sets nothing.
    currentContext: configs.map((c): string | undefined => c.currentContext).find((c) => c !== undefined && c !== '') ?? '',
  });
}

/**
 * The credentials the kubeconfig's current user (and its server URL) hold, to be cut out of every
 * message: an API server's Status, a proxy's error page, a JSON parser's excerpt of an answer or a
 * connection error's URL may quote what was sent, and audit's stderr ends up in CI logs.
 */
function credentialsOf(kc: KubeConfig, server: string): string[] {
  const user = kc.getCurrentUser();
  const values: unknown[] = [user?.token, user?.password];
  if (typeof user?.username === 'string' && typeof user.password === 'string') values.push(Buffer.from(`${user.username}:${user.password}`).toString('base64'));
  const provider = own(own(user, 'authProvider'), 'config');
  for (const key of ['access-token', 'id-token', 'refresh-token', 'client-secret']) values.push(own(provider, key));
  let password = '';
  try {
    password = new URL(server).password;
  } catch {
    // not a URL: nothing in it to cut
  }
  if (password !== '') {
    values.push(password);
    try {
      values.push(decodeURIComponent(password));
    } catch {
      // a "%" that starts no escape: the password is cut as written
    }
  }
  // Longest first: a secret that holds another is cut whole.
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v.length >= 4))].sort((a, b) => b.length - a.length);
}

/** An Authorization header's credentials quoted back (an exec plugin's or auth provider's token too). */
const AUTHORIZATION = /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

/** V8's excerpt of a text JSON.parse refused (`Unexpected token 'x', ..."abc"... is not valid JSON`): it may cut a credential short. */
const JSON_EXCERPT = /, (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON/g;

/** `text` without the credentials of `secrets`, nor any quoted Authorization header's, nor a JSON parser's excerpt of an answer. */
function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('<redacted>');
  return out.replace(AUTHORIZATION, '$1$2<redacted>').replace(JSON_EXCERPT, ': the answer is not valid JSON');
}

/** How much of an answer that is not a Status (an HTML page) a message shows. */
const EXCERPT_CHARS = 200;

/**
 * The message of a failed call, in one line: the API server's Status message when there is one.
 * Otherwise client-node's own message is four lines (`HTTP-Code: ...`, `Message:`, `Body:` with
 * the whole answer, `Headers:` with every response header, Set-Cookie included): what a server
 * that is not an API server answers (a wrong port, a proxy's error page). Kept: what client-node
 * says before them, and the start of the answer.
 */
function describeFailure(e: unknown): string {
  const error = e as { code?: unknown; body?: unknown; message?: unknown };
  let message = typeof error.message === 'string' ? error.message : String(e);
  if (typeof error.body === 'string') {
    try {
      const status = JSON.parse(error.body) as { message?: unknown; reason?: unknown };
      if (typeof status.message === 'string') message = status.message;
    } catch {
      // not a Status: kept as client-node says it, cut below
    }
  }
  if (typeof error.code !== 'number') return message;
  const at = message.indexOf('HTTP-Code: ');
  if (at >= 0) {
    const before = message.slice(0, at).replace(/:\s*$/, '');
    const answer = typeof error.body === 'string' ? error.body.replace(/\s+/g, ' ').trim() : '';
    const said = answer === '' ? 'not a Kubernetes API answer' : `not a Kubernetes API answer: ${printableClipped(answer, EXCERPT_CHARS)}`;
    message = before === '' ? said : `${before}: ${said}`;
  }
  return `HTTP ${error.code}: ${message}`;
}

/** The `continue` token of a 410 Status (the API server's offer to go on from a newer snapshot), or undefined. */
function resumeTokenOf(e: unknown): string | undefined {
  const { code, body } = e as { code?: unknown; body?: unknown };
  if (code !== 410 || typeof body !== 'string') return undefined;
  try {
    const token = own(own(JSON.parse(body) as unknown, 'metadata'), 'continue');
    return typeof token === 'string' && token !== '' ? token : undefined;
  } catch {
    return undefined;
  }
}

/** How many times one listing goes on past an expired `continue` token before it gives up (each is a newer snapshot). */
export const MAX_RESUMES = 10;

/** Tries of one list call while the API server throttles (as client-go: it retries too, honouring Retry-After). */
export const LIST_TRIES = 5;

/** Longest wait before a retry, whatever Retry-After asks: audit is run by a person, who would rather hear it failed. */
export const MAX_RETRY_WAIT_MS = 5_000;

/**
 * The longest wait for one answer of the API server (a page, a read), its body included. The API
 * server itself ends a request after its --request-timeout, 60 s by default; without a bound, a
 * server that took the connection and never answered (a hung one, a proxy holding it) held audit
 * for good, with no word of why.
 */
export const REQUEST_TIMEOUT_MS = 60_000;

/** The wait before the first retry of a 429 without Retry-After, doubled before each next one. */
const BACKOFF_MS = 500;

/** Retry-After in milliseconds (delay-seconds or an HTTP date), capped; undefined when absent or unreadable. */
function retryAfterMs(headers: unknown): number | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === 'retry-after');
  const text: unknown = entry?.[1];
  if (typeof text !== 'string') return undefined;
  const ms = /^\s*\d+\s*$/.test(text) ? Number(text) * 1000 : Date.parse(text) - Date.now();
  return Number.isNaN(ms) ? undefined : Math.min(Math.max(ms, 0), MAX_RETRY_WAIT_MS);
}

/**
 * How long to wait before trying a failed call again (`tries` made so far), or undefined when it is
 * not to be retried: client-go's rule, a 429, or a 5xx with Retry-After (an API server shedding load,
 * API priority and fairness); a 429 without Retry-After after a doubling backoff.
 */
function retryWait(e: unknown, tries: number): number | undefined {
  if (tries >= LIST_TRIES) return undefined;
  const { code, headers } = e as { code?: unknown; headers?: unknown };
  if (typeof code !== 'number' || (code !== 429 && code < 500)) return undefined;
  const asked = retryAfterMs(headers);
  if (asked !== undefined) return asked;
  return code === 429 ? Math.min(BACKOFF_MS * 2 ** (tries - 1), MAX_RETRY_WAIT_MS) : undefined;
}

/** Connect to the cluster of the kubeconfig (no call is made until the first page). */
export async function openCluster(options: ClusterOptions): Promise<Cluster> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const { paths, fromEnv } = kubeconfigPaths(options);
  if (paths.length > 0) {
    loadKubeconfig(kc, paths, fromEnv, () => new k8s.KubeConfig());
    const tokenFailure = applyTokenFile(kc);
    if (tokenFailure !== undefined) throw new ListError(tokenFailure);
  } else if (options.env['KUBERNETES_SERVICE_HOST'] !== undefined && options.env['KUBERNETES_SERVICE_PORT'] !== undefined) {
    try {
      kc.loadFromCluster();
    } catch (e) {
      throw new ListError(`cannot use the in-cluster service account: ${(e as Error).message}`);
    }
  } else {
    // Not client-node's last resort (http://localhost:8080, which every call would then fail to reach).
    throw new ListError('no kubeconfig: give --kubeconfig FILE, set KUBECONFIG or write ~/.kube/config (or run in a Pod, with its service account)');
  }
  const named = paths.length === 0 ? '' : ` ${paths.join(delimiter)}`;
  const url = kc.getCurrentCluster()?.server;
  if (url === undefined) throw new ListError(`the kubeconfig${named} has no current cluster`);
  const secrets = credentialsOf(kc, url);
  const server = redact(url, secrets);
  // KubernetesObjectApi.makeApiClient's configuration plus a deadline on every call (the signal
  // aborts its fetch). Not its default namespace: audit lists with an explicit namespace or none,
  // and reads only cluster-scoped objects.
  const timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const deadline = {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(AbortSignal.timeout(timeoutMs));
      return Promise.resolve(ctx);
    },
    post: (r: ResponseContext) => Promise.resolve(r),
  };
  const api = new k8s.KubernetesObjectApi(k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(url, {}), authMethods: { default: kc }, promiseMiddleware: [deadline] }));
  const where = options.namespace === undefined ? 'in all namespaces' : `in namespace ${options.namespace}`;
  /**
   * Set once a call got no answer in time: the later calls are not made (each would wait as long:
   * the configuration's read, then the first list, took two timeouts to say one thing).
   */
  let silent = false;
  const noAnswer = `no answer within ${timeoutMs / 1000} s`;
  /** `call()`, tried again while the API server throttles; a ListError saying `what` failed when it fails. */
  async function withRetries<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (silent) throw new ListError(`${what} (${server}): ${noAnswer}`, true);
    for (let tries = 1; ; tries++) {
      try {
        return await call();
      } catch (e) {
        const wait = retryWait(e, tries);
        if (wait !== undefined) {
          await sleep(wait);
          continue;
        }
        const code = (e as { code?: unknown }).code;
        // Still throttled after the last try: the next kinds would be too, each after as many waits.
        const throttled = tries >= LIST_TRIES && retryWait(e, 1) !== undefined;
        silent = (e as { name?: unknown }).name === 'AbortError';
        const detail = silent ? noAnswer : describeFailure(e);
        const failure = `${what} (${server}): ${redact(detail, secrets)}${throttled ? ` (the API server is throttling: ${tries} tries)` : ''}`;
        throw new ListError(failure, typeof code !== 'number' || code === 401 || throttled, typeof code === 'number' ? code : undefined, resumeTokenOf(e));
      }
    }
  }
  /** Every page of one listing; `listed` says what it lists ("pods in all namespaces"), for messages. */
  async function* listPages(apiVersion: string, kind: string, namespace: string | undefined, listed: string): AsyncGenerator<KubernetesListObject<KubernetesObject>> {
    const what = `cannot list ${listed}`;
    let token: string | undefined;
    let resumes = 0;
    // The tokens given so far: an API server gives each once. A proxy on the way that answers every
    // page with the first (a cache that leaves out the query) held audit in a loop of requests for good.
    const given = new Set<string>();
    do {
      let list: KubernetesListObject<KubernetesObject>;
      try {
        list = await withRetries(what, () => api.list<KubernetesObject>(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, undefined, options.pageSize, token));
      } catch (e) {
        if (!(e instanceof ListError) || e.status !== 410 || token === undefined) throw e;
        if (e.resumeToken === undefined || resumes >= MAX_RESUMES) {
          const why = e.resumeToken === undefined ? 'and the API server offered no token to go on' : `${resumes} times`;
          throw new ListError(`${e.message} (the listing outlived its snapshot, ${why}: run audit again, with a larger --page-size or a namespace at a time)`, false, 410);
        }
        resumes++;
        token = e.resumeToken;
        options.onExpired?.(listed);
        continue;
      }
      // The client passes on a list whose `items` are not an array (an answer that is no list) as it came.
      if (!Array.isArray(list.items)) throw new ListError(`${what} (${server}): the answer is not a list (its items are not an array)`);
      // The client keeps `continue` under the name its model gives it, or as sent when it has no model.
      const meta: unknown = list.metadata;
      const next = own(meta, '_continue') ?? own(meta, 'continue');
      token = typeof next === 'string' ? next : undefined;
      // Before the page is used: a page that gives a token again is a page again (its objects listed twice).
      if (token !== undefined && given.has(token)) throw new ListError(`${what} (${server}): the API server gave the same continue token twice (a proxy on the way answering every page alike?): the listing would never end`);
      if (token !== undefined) given.add(token);
      yield list;
    } while (token !== undefined && token !== '');
  }
  async function* pages(kind: string): AsyncGenerator<Page> {
    const apiVersion = API_VERSIONS[kind];
    const type = apiVersion === undefined ? undefined : workloadTypeOfKind(apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '', kind);
    if (apiVersion === undefined || type === undefined) throw new ListError(`cannot list ${kind}: not a kind with a pod spec`);
    for await (const list of listPages(apiVersion, kind, options.namespace, `${type.resource} ${where}`)) yield { type, apiVersion, items: list.items };
  }
  async function* namespaces(): AsyncGenerator<readonly unknown[]> {
    // With -n, only that one: a RoleBinding in it can grant `get` on it (the API server authorizes a
    // Namespace's own name as its namespace), where listing them all needs a ClusterRoleBinding.
    const name = options.namespace;
    if (name !== undefined) {
      yield [await withRetries(`cannot get namespace ${name}`, () => api.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }))];
      return;
    }
    for await (const list of listPages('v1', 'Namespace', undefined, 'namespaces')) yield list.items;
  }
  async function webhookConfiguration(name: string): Promise<unknown> {
    const spec = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name } };
    try {
      return await withRetries(`cannot get mutatingwebhookconfigurations ${name}`, () => api.read(spec));
    } catch (e) {
      if (e instanceof ListError && e.status === 404) return undefined;
      throw e;
    }
  }
  return { server, pages, namespaces, webhookConfiguration };
}
