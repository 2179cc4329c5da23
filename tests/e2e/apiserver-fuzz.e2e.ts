/**
 * A differential, property-style check through the real kube-apiserver: a few hundred generated
 * Pods (fixed seed), odd but valid, created with the webhook configured and, for each, the same Pod
 * created in a namespace the webhook configuration leaves out (labelled image-rewriter.io/skip),
 * which is the Pod as the API server stores it without the webhook. For every Pod:
 *
 *  - the API server accepts it (the webhook's patch is never the reason for a refusal; a Pod the
 *    API server refuses on its own is refused the same way in both namespaces);
 *  - the stored images are what the rules engine (src/core, as `explain`) gives for each image in
 *    the Pod's namespace, the original-images annotation and the added imagePullSecrets are what
 *    README says (merged with the annotation already there, left out when the annotations would
 *    pass the API server's 256 KiB limit), and the warnings the API returns are the webhook's;
 *  - nothing else differs from the Pod stored without the webhook (after putting the patched
 *    fields back), and a GET returns what the create returned (a dry run stores nothing);
 *  - then, for some, an UPDATE of one container's image (kubectl set image: a JSON patch of
 *    spec.containers[i].image, or a PUT of the whole Pod; a dry run first; sometimes back to the
 *    image it was created with), a second server-side apply of the manifest of a Pod created by
 *    server-side apply (a GitOps sync: nothing changes), and ephemeral containers added through
 *    pods/ephemeralcontainers (kubectl debug), on both Pods, checked the same way.
 *
 * Pods are created by POST (some with generateName) or server-side apply, some as dry runs, in a
 * namespace where every rule applies and one a rule excludes; with init containers (a native
 * sidecar among them), image volumes where the API server keeps them (env.imageVolumes), images
 * of every spelling the rules know (ports, leading zeros, :443, index.docker.io, IPv6, digests,
 * 128-character tags, paths near the 255-character limit, results over it) and a few that do not
 * parse, 63-character container names and 253-character Pod names, annotations with `/` in keys
 * and `~`, `/`, quotes and non-ASCII in values (a `~` in a key is refused by the API server: one of
 * the Pods the generator expects refused in both namespaces), an original-images annotation of
 * their own (a map, text that is none, an entry of the first container), annotations filled to
 * exactly the 256 KiB limit with the webhook's annotation or one byte past it, imagePullSecrets of
 * their own (duplicates too) or their ServiceAccount's, the opt-out label and annotation.
 *
 * The webhook configuration for this file is registered with failurePolicy Fail, so a call that
 * fails (a patch the API server cannot apply, a timeout) is a refusal the check sees, never a Pod
 * admitted unchanged. Everything goes straight to the API server over HTTPS (the kubeconfig's
 * token and CA), a few requests at a time: kubectl would cost a process per request.
 */
import { describe, expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { formatIssues, parseRules } from '../../src/config/load.js';
import { MAX_ANNOTATIONS_BYTES, MAX_WARNINGS, ORIGINAL_IMAGES_ANNOTATION, SKIP_LABEL, WARNING_PREFIX } from '../../src/core/admission.js';
import { nameOf, parseNormalizedNamed } from '../../src/core/reference.js';
import type { CompiledRule, Rewriter } from '../../src/core/rules.js';
import { fitsAsIs, fitWarning, limitWarnings, MIN_PART } from '../../src/core/warning-text.js';
import { E2eEnvironment } from './harness/environment.js';
import { scenario } from './harness/scenario.js';
import { done, eventually, notYet } from './harness/wait.js';
import { webhookUrl } from './harness/webhook.js';

const run = promisify(execFile);
const env = E2eEnvironment.connect();

const SEED = 0x1a9e5;
const PODS = 500;
const CONCURRENCY = 4;

/** The namespaces the webhook sees (two, for the rules limited by namespace) and the one it never sees. */
const NS_A = 'fz-a';
const NS_B = 'fz-b';
const NS_SKIP = 'fz-skip';
const SA_SECRETS = ['sa-pull', 'hub-pull'];

/** prefix, match and regex rules, namespace limits, pull secrets, exclusions; every rule rewrites something. */
const RULES = `rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: hub-official
    match: docker.io/library
    replace: mirror.example.com/hub-official
    imagePullSecrets: [hub-pull]
  - name: hub
    match: docker.io
    replace: mirror.example.com/hub
    excludeNamespaces: ["${NS_B}"]
  - name: internal
    match: registry.local:5000
    replace: registry.mirror.example.com:5443/internal
    imagePullSecrets: [internal-pull, hub-pull]
  - name: localhost
    match: localhost:5000
    replace: registry.internal:5000/dev
  - name: quay
    regex: 'quay\\.io/(?<org>[a-z0-9_.-]+)/(?<repo>.+)'
    replace: mirror.example.com/quay-$<org>/$<repo>
  - name: ghcr-team
    regex: 'ghcr\\.io/([a-z0-9-]+)/(.+)'
    replace: ghcr-mirror.example.com:8443/$1/x/$2
    namespaces: ["${NS_A}"]
    imagePullSecrets: [ghcr-pull]
  - name: ecr
    regex: '([0-9]{12})\\.dkr\\.ecr\\.(eu-[a-z0-9-]+)\\.amazonaws\\.com/(.+)'
    replace: $1.dkr.ecr.us-west-2.amazonaws.com/from-$2/$3
  - name: long
    match: long.example.com
    replace: a-rather-long-mirror-host-name.registry.example.com/with/a/fairly/long/path/prefix
  - name: ipv6
    match: "[::1]:5000"
    replace: mirror.example.com/v6
exclude:
  - docker.io/library/busybox
  - gcr.io/distroless
`;

// --- the API server, over HTTPS --------------------------------------------------------------------

interface ApiResult {
  readonly status: number;
  readonly body: unknown;
  /** The text of each Warning header (`299 - "text"`), in order. */
  readonly warnings: readonly string[];
}

type Json = Record<string, unknown>;

/** Go's strconv.Quote'd header text back to the text (the webhook's warnings are printable ASCII). */
function warningText(header: string): string {
  const m = /^\d{3} \S+ "(.*)"$/s.exec(header);
  if (m === null) return header;
  return (m[1] ?? '').replace(/\\(.)/g, '$1');
}

class Api {
  private readonly agent: Agent;
  private readonly base: URL;
  private readonly token: string;

  constructor(kubeconfig: string) {
    const config = parseYaml(readFileSync(kubeconfig, 'utf8')) as {
      clusters: { cluster: { server: string; 'certificate-authority': string } }[];
      users: { user: { token: string } }[];
    };
    const cluster = config.clusters[0]?.cluster;
    const token = config.users[0]?.user.token;
    if (cluster === undefined || token === undefined) throw new Error(`cannot read ${kubeconfig}`);
    this.base = new URL(cluster.server);
    this.token = token;
    this.agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2, ca: readFileSync(cluster['certificate-authority']) });
  }

  call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiResult> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.base),
        {
          method,
          agent: this.agent,
          timeout: 60_000,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const warnings: string[] = [];
            for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
              if (res.rawHeaders[i]?.toLowerCase() === 'warning') warnings.push(warningText(res.rawHeaders[i + 1] ?? ''));
            }
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON: kept as text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, warnings });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

const podsPath = (ns: string, dryRun = false): string => `/api/v1/namespaces/${ns}/pods${dryRun ? '?dryRun=All' : ''}`;
const podPath = (ns: string, name: string, sub = ''): string => `/api/v1/namespaces/${ns}/pods/${name}${sub === '' ? '' : `/${sub}`}`;

// --- the generator -----------------------------------------------------------------------------------

/** `arb` one time in `n`, else undefined. */
const sometimes = <T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> => fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

const LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
const alnum = (max: number) => fc.string({ unit: fc.constantFrom(...LOWER), minLength: 1, maxLength: max });

/** A path component of the reference grammar, edge separators included (`a__b`, `a---b`, `a.b`). */
const component = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('nginx', 'redis', 'busybox', 'busyboxplus', 'app', 'team', 'a', '0', 'x9', 'distroless', 'static', 'library') },
  {
    weight: 4,
    arbitrary: fc
      .tuple(alnum(8), fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '---'), alnum(6)), { maxLength: 2 }))
      .map(([head, rest]) => head + rest.map(([s, a]) => s + a).join('')),
  },
);

/** Registries the rules know in one spelling or another, their own targets, and others. */
const REGISTRIES = [
  '', '', '', 'docker.io/', 'docker.io/library/', 'index.docker.io/', 'registry-1.docker.io/', 'gcr.io/', 'gcr.io/', 'gcr.io:443/', 'GCR.io/', 'eu.gcr.io/',
  'gcr.io.evil.example/', 'gcr.io/distroless/', 'quay.io/', 'quay.io/', 'ghcr.io/', 'ghcr.io/', 'registry.local:5000/', 'registry.local:05000/',
  'localhost:5000/', 'localhost/', '127.0.0.1:5000/', '[::1]:5000/', 'long.example.com/', 'long.example.com/', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/',
  '123456789012.dkr.ecr.us-west-2.amazonaws.com/', 'mirror.example.com/hub/', 'asia.gcr.io/', 'example.com/',
] as const;

const HEX = '0123456789abcdef'.split('');
const digest = fc
  .constantFrom(['sha256', 64] as const, ['sha512', 128] as const)
  .chain(([alg, n]) => fc.string({ unit: fc.constantFrom(...HEX), minLength: n, maxLength: n }).map((h) => `${alg}:${h}`));
const TAG_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_.-'.split('');
const tag = fc.oneof(
  fc.constantFrom('latest', '1.27', 'v1.2.3-rc.1_build', '_', 'x'),
  fc.tuple(fc.constantFrom(...TAG_CHARS.slice(0, 37)), fc.string({ unit: fc.constantFrom(...TAG_CHARS), maxLength: 40 })).map(([a, b]) => a + b),
  fc.constant('t'.repeat(128)),
);

/** Pad a path with components until it is `length` characters (the grammar allows 255). */
function padPath(path: string, length: number): string {
  let p = path;
  let i = 0;
  while (p.length < length) {
    const room = length - p.length - 1;
    if (room < 1) {
      p = `${p.slice(0, p.length - 1)}zz`;
      break;
    }
    p += `/${`${String.fromCharCode(97 + (i++ % 26))}${'0123456789'.repeat(7)}`.slice(0, Math.min(room, 60))}`;
  }
  return p.slice(0, Math.max(length, 1)).replace(/[/._-]+$/, 'q');
}

/** An image as a Pod may name it; rarely one that does not parse (the API server takes any text without surrounding spaces). */
const image = fc.oneof(
  {
    weight: 30,
    arbitrary: fc
      .record({
        registry: fc.constantFrom(...REGISTRIES),
        path: fc.array(component, { minLength: 1, maxLength: 3 }).map((cs) => cs.join('/')),
        pad: sometimes(fc.integer({ min: 200, max: 258 }), 8),
        tag: sometimes(tag, 2),
        digest: sometimes(digest, 4),
      })
      .map((r) => `${r.registry}${r.pad === undefined ? r.path : padPath(r.path, r.pad)}${r.tag === undefined ? '' : `:${r.tag}`}${r.digest === undefined ? '' : `@${r.digest}`}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('NGINX', 'gcr.io/Team/app:1', 'gcr.io/app@sha256:abc', 'quay.io//x', 'docker.io/library/nginx:') },
);

/** A DNS label of `length` characters ending with `suffix` (a name unique in its Pod). */
const dnsLabel = (head: string, suffix: string, length: number): string => {
  const body = `${head}${'abcdefghij0123456789-'.repeat(4)}`.slice(0, Math.max(1, length - suffix.length - 1)).replace(/-+$/, '');
  return `${body}-${suffix}`.slice(-63).replace(/^-+/, 'x');
};

const containerName = fc.record({ head: alnum(10), length: fc.oneof(fc.integer({ min: 3, max: 20 }), fc.constant(63)) });

const ANNOTATION_KEYS = ['a', 'example.com/key', 'x.y.z/under_score-dash.dot', 'team.example/owner', 'kubectl.kubernetes.io/restartedAt', 'A_b.C-d'];
const ANNOTATION_VALUES = ['', 'x', 'a/b~c', '~0~1/~', '{"json": ["~1", "/"]}', 'ünïcødé ✓', 'true', 'line\nbreak', '"quoted" \\ back'];

/** Stand-ins for an annotation naming the first container: with its own image as the original, or another image. */
const OWN = '@own';
const OTHER = '@other';

/** An existing original-images annotation: a map to merge with, or text the webhook replaces. */
const USER_ORIGINALS = [undefined, undefined, undefined, undefined, undefined, undefined, '{"containers/gone":"gcr.io/x:1"}', '{"containers/w0-a": "nginx", "volumes/v": "quay.io/o/r"}', 'not json ~/', '[1]', '{"a": 1}', '{}', OWN, OTHER, OTHER];

interface GenContainer {
  readonly name: string;
  readonly image: string;
}

interface GenPod {
  readonly index: number;
  readonly name: string;
  readonly namespace: string;
  readonly containers: readonly GenContainer[];
  readonly initContainers: readonly GenContainer[];
  readonly volumes: readonly GenContainer[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>> | undefined;
  readonly pullSecrets: readonly string[] | undefined;
  readonly serviceAccount: string | undefined;
  readonly automount: boolean | undefined;
  readonly dryRun: boolean;
  /** Created with metadata.generateName (the API server names it after admission). */
  readonly generateName: boolean;
  /** Created by server-side apply (PATCH application/apply-patch+yaml), not POST. */
  readonly apply: boolean;
  /** Fill the annotations up to the API server's limit with the webhook's annotation (`exact`), or one byte past it (`over`). */
  readonly fill: 'exact' | 'over' | undefined;
  /** One byte in three of the filler is `é` (two bytes in UTF-8): the limit counts bytes. */
  readonly fillMultibyte: boolean;
  /** `image` undefined: the image the Pod was created with (a GitOps re-apply of the manifest). `put`: a PUT of the whole Pod (kubectl replace) instead of a JSON patch. */
  readonly update: { readonly list: 'containers' | 'initContainers'; readonly index: number; readonly image: string | undefined; readonly put: boolean } | undefined;
  readonly ephemeral: readonly (readonly GenContainer[])[];
  /** A Pod the API server refuses on its own, in both namespaces. */
  readonly invalid: 'annotation-key' | 'ephemeral-on-create' | 'image-space' | undefined;
}

const podArbitrary = fc
  .record({
    namespace: fc.constantFrom(NS_A, NS_A, NS_B),
    nameLength: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 8, max: 40 }) }, { weight: 1, arbitrary: fc.constant(253) }),
    containers: fc.array(fc.tuple(containerName, image), { minLength: 1, maxLength: 5 }),
    many: sometimes(fc.integer({ min: 28, max: 36 }), 25),
    initContainers: fc.array(fc.tuple(containerName, image, fc.boolean()), { maxLength: 3 }),
    volumes: fc.array(fc.tuple(containerName, image), { maxLength: 2 }),
    labels: fc.dictionary(fc.constantFrom('app', 'example.com/tier', 'x.y/z_w'), fc.constantFrom('web', 'a.b-c_d', '', 'True')),
    optOut: fc.constantFrom(undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'label', 'annotation', 'annotation-True'),
    annotations: fc.option(fc.dictionary(fc.constantFrom(...ANNOTATION_KEYS), fc.constantFrom(...ANNOTATION_VALUES), { maxKeys: 4 }), { nil: undefined }),
    userOriginals: fc.constantFrom(...USER_ORIGINALS),
    pullSecrets: fc.option(fc.array(fc.constantFrom('hub-pull', 'own-a', 'internal-pull', 'ghcr-pull'), { minLength: 1, maxLength: 3 }), { nil: undefined }),
    serviceAccount: fc.constantFrom(undefined, undefined, 'puller'),
    automount: fc.constantFrom(undefined, false),
    dryRun: fc.constantFrom(false, false, false, false, true),
    creation: fc.constantFrom('post', 'post', 'post', 'post', 'post', 'post', 'post', 'apply', 'apply', 'generateName'),
    fill: fc.constantFrom(undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'exact', 'over'),
    fillMultibyte: fc.boolean(),
    update: sometimes(fc.tuple(fc.boolean(), fc.nat(), fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 4, arbitrary: image }), fc.boolean()), 3),
    ephemeral: sometimes(fc.array(fc.array(fc.tuple(containerName, image), { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }), 4),
    invalid: fc.constantFrom(...Array<undefined>(30).fill(undefined), 'annotation-key', 'ephemeral-on-create', 'image-space'),
  });

/** Build the Pods: names unique within each Pod, annotations and the rest as generated. */
function generatePods(): GenPod[] {
  const raw = fc.sample(podArbitrary, { seed: SEED, numRuns: PODS });
  return raw.map((g, index): GenPod => {
    let n = 0;
    const named = (prefix: string, c: { head: string; length: number }): string => dnsLabel(`${prefix}${c.head}`, `${prefix}${n++}`, c.length);
    const many = g.many === undefined ? [] : Array.from({ length: g.many }, (_, i): [{ head: string; length: number }, string] => [{ head: 'm', length: 40 }, `gcr.io/some-long-project-name/team/service-${i}:v1.2.3-build.${index}`]);
    const containers = [...g.containers, ...many].map(([c, img]) => ({ name: named('w', c), image: img }));
    const initContainers = g.initContainers.map(([c, img]) => ({ name: named('i', c), image: img }));
    const volumes = g.volumes.map(([c, img]) => ({ name: named('v', c), image: img }));
    const labels: Record<string, string> = { ...g.labels };
    let annotations: Record<string, string> | undefined = g.annotations === undefined ? undefined : { ...g.annotations };
    if (g.optOut === 'label') labels[SKIP_LABEL] = 'true';
    if (g.optOut === 'annotation') annotations = { ...annotations, [SKIP_LABEL]: 'true' };
    if (g.optOut === 'annotation-True') annotations = { ...annotations, [SKIP_LABEL]: 'True' };
    if (g.userOriginals !== undefined && g.fill === undefined) {
      const first = containers[0];
      const value =
        g.userOriginals === OWN || g.userOriginals === OTHER
          ? JSON.stringify({ [`containers/${first?.name ?? ''}`]: g.userOriginals === OWN ? first?.image : 'gcr.io/recorded/other:1', 'volumes/none': 'x' })
          : g.userOriginals;
      annotations = { ...annotations, [ORIGINAL_IMAGES_ANNOTATION]: value };
    }
    if (g.invalid === 'annotation-key') annotations = { ...annotations, 'example.com/a~b': 'tilde in the key' };
    if (g.invalid === 'image-space' && containers[0] !== undefined) containers[0] = { ...containers[0], image: `${containers[0].image} ` };
    const base = `fz-${index}-`;
    const name = `${base}${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(8).slice(0, g.nameLength - base.length - 1)}z`;
    const updateList = g.update !== undefined && g.update[0] && initContainers.length > 0 ? 'initContainers' : 'containers';
    const updateLength = updateList === 'containers' ? containers.length : initContainers.length;
    return {
      index,
      name,
      namespace: g.namespace,
      containers,
      initContainers,
      volumes: env.imageVolumes ? volumes : [],
      labels,
      annotations,
      // Server-side apply refuses a list with a duplicate key (imagePullSecrets are keyed by name); POST takes it.
      pullSecrets: g.pullSecrets === undefined || g.creation !== 'apply' ? g.pullSecrets : [...new Set(g.pullSecrets)],
      serviceAccount: g.serviceAccount,
      automount: g.automount,
      dryRun: g.dryRun,
      fill: g.fill,
      fillMultibyte: g.fillMultibyte,
      generateName: g.creation === 'generateName',
      apply: g.creation === 'apply',
      update: g.update === undefined ? undefined : { list: updateList, index: g.update[1] % updateLength, image: g.update[2], put: g.update[3] },
      ephemeral: (g.ephemeral ?? []).map((round) => round.map(([c, img]) => ({ name: named('e', c), image: img }))),
      invalid: g.invalid,
    };
  });
}

/** The Pod's manifest (with `annotations` as given: the filler is added by the caller). */
function manifest(p: GenPod, annotations: Readonly<Record<string, string>> | undefined): Json {
  const container = (c: GenContainer, i: number): Json => ({
    name: c.name,
    image: c.image,
    ...(i % 2 === 0 ? { ports: [{ containerPort: 8080 + i, name: `p${i}` }], env: [{ name: 'PATH_LIKE', value: '/a/b~c' }] } : { command: ['sh', '-c', 'echo ~/ok'] }),
    ...(i === 0 && p.volumes.length > 0 ? { volumeMounts: p.volumes.map((v) => ({ name: v.name, mountPath: `/mnt/${v.name}` })) } : {}),
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...(p.generateName ? { generateName: `fz-${p.index}-g-` } : { name: p.name }), labels: p.labels, ...(annotations === undefined ? {} : { annotations }) },
    spec: {
      ...(p.initContainers.length > 0 ? { initContainers: p.initContainers.map((c, i) => ({ ...container(c, i + 1), ...(i === 0 ? { restartPolicy: 'Always' } : {}) })) } : {}),
      containers: p.containers.map(container),
      ...(p.invalid === 'ephemeral-on-create' ? { ephemeralContainers: [{ name: 'eph-on-create', image: 'gcr.io/e/x:1' }] } : {}),
      ...(p.volumes.length > 0 ? { volumes: p.volumes.map((v) => ({ name: v.name, image: { reference: v.image } })) } : {}),
      ...(p.pullSecrets === undefined ? {} : { imagePullSecrets: p.pullSecrets.map((name) => ({ name })) }),
      ...(p.serviceAccount === undefined ? {} : { serviceAccountName: p.serviceAccount }),
      ...(p.automount === undefined ? {} : { automountServiceAccountToken: p.automount }),
      terminationGracePeriodSeconds: 0,
    },
  };
}

// --- the expected result ---------------------------------------------------------------------------

type ListName = 'containers' | 'initContainers' | 'ephemeralContainers' | 'volumes';
interface Field {
  readonly list: ListName;
  readonly index: number;
  readonly name: string;
  readonly image: string;
}
type Planned =
  | { readonly outcome: 'rewrite'; readonly field: Field; readonly to: string; readonly rule: CompiledRule }
  | { readonly outcome: 'invalid'; readonly field: Field; readonly error: string }
  | { readonly outcome: 'rejected'; readonly field: Field; readonly rule: CompiledRule; readonly error: string };

const keyOf = (f: Field): string => `${f.list}/${f.name}`;
const labelOf = (f: Field): string => `${f.list}[${f.name}]`;

/** Every image field of a stored (or sent) Pod, in the order the webhook reads them. */
function fieldsOf(pod: Json): Field[] {
  const spec = (pod['spec'] ?? {}) as Json;
  const out: Field[] = [];
  for (const list of ['containers', 'initContainers', 'ephemeralContainers'] as const) {
    ((spec[list] ?? []) as { name: string; image: string }[]).forEach((c, index) => out.push({ list, index, name: c.name, image: c.image }));
  }
  ((spec['volumes'] ?? []) as { name: string; image?: { reference: string } }[]).forEach((v, index) => {
    if (v.image !== undefined) out.push({ list: 'volumes', index, name: v.name, image: v.image.reference });
  });
  return out;
}

function plan(rewriter: Rewriter, field: Field, namespace: string): Planned | undefined {
  const r = rewriter.rewrite(field.image, { namespace });
  switch (r.kind) {
    case 'unchanged':
      return undefined;
    case 'rewritten':
      return { outcome: 'rewrite', field, to: r.rewritten, rule: r.rule };
    case 'invalid':
      return { outcome: 'invalid', field, error: r.error };
    case 'rejected':
      return { outcome: 'rejected', field, rule: r.rule, error: r.error };
  }
}

/** README's warning for one image (the text the webhook fits to about 120 characters). */
function warningFor(p: Planned): string {
  const { field } = p;
  const label = labelOf(field);
  const containerAndImage = [{ text: label, level: 1 as const }, ' ', { text: field.image, level: 0 as const }];
  switch (p.outcome) {
    case 'rewrite': {
      const text = `${WARNING_PREFIX}rewrote ${label} ${field.image} -> ${p.to} (rule ${p.rule.name})`;
      if (fitsAsIs(text, label.length > MIN_PART || field.image.length > MIN_PART || p.rule.name.length > MIN_PART)) return text;
      return fitWarning([`${WARNING_PREFIX}rewrote `, ...containerAndImage, ' -> ', { text: p.to, level: 2 }, ' (rule ', { text: p.rule.name, level: 1 }, ')']);
    }
    case 'invalid':
      return fitWarning([`${WARNING_PREFIX}image `, { text: JSON.stringify(field.image), level: 0 }, ' of ', { text: label, level: 1 }, ' is not a valid reference, left unchanged: ', { text: p.error, level: 0, cut: 'start' }]);
    case 'rejected':
      return fitWarning([`${WARNING_PREFIX}left `, ...containerAndImage, ' unchanged (rule ', { text: p.rule.name, level: 1 }, '): ', { text: p.error, level: 0, cut: 'start' }]);
  }
}

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** The original-images entries of an annotation value, or undefined when it is not a JSON map of strings. */
function parseOriginals(value: string | undefined): Map<string, string> | undefined {
  if (value === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(value);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const m = new Map<string, string>();
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string') return undefined;
      m.set(k, x);
    }
    return m;
  } catch {
    return undefined;
  }
}

/**
 * The annotation after the webhook: entries of the images rewritten now set, stale keys dropped,
 * merged with the existing map (replaced when that is not a map of strings); unchanged when
 * nothing is recorded or the result would pass the API server's limit on all annotations.
 */
function expectedOriginals(annotations: Readonly<Record<string, string>> | undefined, fresh: ReadonlyMap<string, string>, stale: readonly string[]): { value: string | undefined; recorded: boolean } {
  const existing = annotations?.[ORIGINAL_IMAGES_ANNOTATION];
  if (fresh.size === 0 && stale.length === 0) return { value: existing, recorded: false };
  const previous = parseOriginals(existing);
  const merged = new Map(previous ?? []);
  // An entry written anew keeps its place (src/core/original-images.ts).
  for (const k of stale) if (!fresh.has(k)) merged.delete(k);
  for (const [k, v] of fresh) merged.set(k, v);
  const text = JSON.stringify(Object.fromEntries(merged));
  if (text === existing) return { value: existing, recorded: true };
  let size = bytes(ORIGINAL_IMAGES_ANNOTATION) + bytes(text);
  for (const [k, v] of Object.entries(annotations ?? {})) if (k !== ORIGINAL_IMAGES_ANNOTATION) size += bytes(k) + bytes(v);
  if (size > MAX_ANNOTATIONS_BYTES) return { value: existing, recorded: false };
  return { value: text, recorded: true };
}

function isOrPins(image: string, expected: string): boolean {
  if (image === expected) return true;
  const a = parseNormalizedNamed(image);
  const b = parseNormalizedNamed(expected);
  return a.ok && b.ok && a.value.digest !== undefined && nameOf(a.value) === nameOf(b.value);
}

interface Expected {
  /** Each image field's image, by key. */
  readonly images: Readonly<Record<string, string>>;
  readonly originals: string | undefined;
  /** The imagePullSecrets names of the Pod the webhook got. */
  readonly secretsBefore: readonly string[];
  /** The imagePullSecrets names appended to the stored list. */
  readonly addedSecrets: readonly string[];
  readonly warnings: readonly string[];
}

/** The API server keeps each warning text once. */
const unique = (ws: readonly string[]): string[] => [...new Set(ws)];

/**
 * What the webhook makes of `sent` (the Pod the API server hands it) in `namespace`.
 * `old`: the stored Pod, for an UPDATE; `subresource`: pods/ephemeralcontainers.
 */
function expect_(rewriter: Rewriter, namespace: string, sent: Json, storedSecrets: readonly string[], old?: Json, subresource = false): Expected {
  const meta = sent['metadata'] as { labels?: Record<string, string>; annotations?: Record<string, string> };
  const fields = fieldsOf(sent);
  const images = Object.fromEntries(fields.map((f) => [keyOf(f), f.image]));
  const skipped = meta.labels?.[SKIP_LABEL] === 'true' || meta.annotations?.[SKIP_LABEL] === 'true';
  if (skipped) return { images, originals: meta.annotations?.[ORIGINAL_IMAGES_ANNOTATION], secretsBefore: storedSecrets, addedSecrets: [], warnings: [] };
  const stored = new Map(old === undefined ? [] : fieldsOf(old).map((f) => [keyOf(f), f.image]));
  const recordedBefore = parseOriginals((old?.['metadata'] as { annotations?: Record<string, string> } | undefined)?.annotations?.[ORIGINAL_IMAGES_ANNOTATION]) ?? new Map<string, string>();
  const planned: Planned[] = [];
  for (const f of fields) {
    if (subresource && f.list !== 'ephemeralContainers') continue;
    if (old !== undefined && stored.get(keyOf(f)) === f.image) {
      // An unchanged image is looked at again only when the stored annotation records it as its own original.
      if (subresource || f.list === 'volumes' || f.list === 'ephemeralContainers' || recordedBefore.get(keyOf(f)) !== f.image) continue;
    }
    const p = plan(rewriter, f, namespace);
    if (p !== undefined) planned.push(p);
  }
  const applied = planned.filter((p): p is Extract<Planned, { outcome: 'rewrite' }> => p.outcome === 'rewrite');
  for (const a of applied) images[keyOf(a.field)] = a.to;
  const warnings = planned.map(warningFor);
  // Stale entries (UPDATE): a recorded original whose container now runs something else.
  const stale: string[] = [];
  if (old !== undefined && !subresource) {
    const recorded = parseOriginals(meta.annotations?.[ORIGINAL_IMAGES_ANNOTATION]);
    if (recorded !== undefined && parseOriginals((old['metadata'] as { annotations?: Record<string, string> }).annotations?.[ORIGINAL_IMAGES_ANNOTATION]) !== undefined) {
      const current = new Map(fields.map((f) => [keyOf(f), f.image]));
      for (const [key, original] of recorded) {
        if (recordedBefore.get(key) !== original) continue;
        const img = current.get(key);
        if (img === undefined) {
          if (stored.has(key)) stale.push(key);
          continue;
        }
        if (stored.get(key) === img) continue;
        const r = rewriter.rewrite(original, { namespace });
        if (!isOrPins(img, r.kind === 'rewritten' ? r.rewritten : original)) stale.push(key);
      }
    }
  }
  const fresh = new Map<string, string>();
  for (const a of applied) if (!fresh.has(keyOf(a.field))) fresh.set(keyOf(a.field), a.field.image);
  const { value: originals, recorded } = subresource ? { value: meta.annotations?.[ORIGINAL_IMAGES_ANNOTATION], recorded: false } : expectedOriginals(meta.annotations, fresh, stale);
  const wanted: string[] = [];
  for (const rule of new Set(applied.map((a) => a.rule))) for (const s of rule.imagePullSecrets) if (!wanted.includes(s)) wanted.push(s);
  const missing = wanted.filter((s) => !storedSecrets.includes(s));
  let addedSecrets: string[] = [];
  if (old !== undefined || subresource) {
    if (missing.length > 0) warnings.push(fitWarning([`${WARNING_PREFIX}imagePullSecrets `, { text: missing.join(','), level: 0 }, " not added: a Pod's imagePullSecrets cannot change after it is created"]));
  } else addedSecrets = missing;
  const total = warnings.length;
  const built = warnings.slice(0, MAX_WARNINGS);
  return { images, originals, secretsBefore: storedSecrets, addedSecrets, warnings: unique(total === 0 ? [] : limitWarnings(built, total, recorded && applied.length > 0)) };
}

// --- comparing ---------------------------------------------------------------------------------------

const clone = <T>(v: T): T => structuredClone(v);

const PER_CREATION = new Set(['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'namespace']);

/** What differs between two creations of the same Pod whatever the webhook does. */
function normalized(pod: Json): unknown {
  const meta = Object.fromEntries(Object.entries(pod['metadata'] as Json).filter(([k]) => !PER_CREATION.has(k) && !(k === 'name' && (pod['metadata'] as Json)['generateName'] !== undefined)));
  return JSON.parse(JSON.stringify({ ...pod, metadata: meta }).replace(/kube-api-access-[a-z0-9]{5}/g, 'kube-api-access-XXXXX'));
}

const imagesByKey = (pod: Json): Record<string, string> => Object.fromEntries(fieldsOf(pod).map((f) => [keyOf(f), f.image]));
const secretsOf = (pod: Json): string[] => (((pod['spec'] as Json)['imagePullSecrets'] ?? []) as { name: string }[]).map((s) => s.name);
const annotationsOf = (pod: Json): Record<string, string> | undefined => (pod['metadata'] as { annotations?: Record<string, string> }).annotations;

/** Where two JSON values differ (the paths, and each side there). */
function difference(got: unknown, want: unknown, path = ''): string {
  if (typeof got === 'object' && got !== null && typeof want === 'object' && want !== null && Array.isArray(got) === Array.isArray(want)) {
    const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
    return [...keys]
      .filter((k) => JSON.stringify((got as Json)[k]) !== JSON.stringify((want as Json)[k]))
      .map((k) => difference((got as Json)[k], (want as Json)[k], `${path}/${k}`))
      .join('\n');
  }
  return `  at ${path === '' ? '/' : path}:\n    got  ${JSON.stringify(got)}\n    want ${JSON.stringify(want)}`;
}

/** `actual` with what the webhook patched put back as in `baseline` (after checking it is `expected`). */
function compare(what: string, actual: Json, baseline: Json, expected: Expected, apiWarnings: readonly string[], baselineWarnings: readonly string[], problems: string[]): void {
  const ours = apiWarnings.filter((w) => w.startsWith(WARNING_PREFIX));
  const theirs = apiWarnings.filter((w) => !w.startsWith(WARNING_PREFIX));
  const check = (aspect: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    problems.push(`${what}: ${aspect}:\n${difference(got, want)}`);
  };
  check('images', imagesByKey(actual), expected.images);
  check('original-images annotation', annotationsOf(actual)?.[ORIGINAL_IMAGES_ANNOTATION], expected.originals);
  check('imagePullSecrets', secretsOf(actual), [...expected.secretsBefore, ...expected.addedSecrets]);
  check('webhook warnings', ours, expected.warnings);
  check("the API server's own warnings", theirs, baselineWarnings);
  // Put the patched fields back as the Pod without the webhook has them, then compare the rest.
  const reverted = clone(actual);
  const spec = reverted['spec'] as Json;
  const baseSpec = baseline['spec'] as Json;
  for (const f of fieldsOf(baseline)) {
    if (f.list === 'volumes') ((spec['volumes'] as { image: { reference: string } }[])[f.index] ?? { image: { reference: '' } }).image.reference = f.image;
    else ((spec[f.list] ?? []) as Json[])[f.index] = { ...((spec[f.list] as Json[])[f.index] ?? {}), image: f.image };
  }
  if (baseSpec['imagePullSecrets'] === undefined) delete spec['imagePullSecrets'];
  else spec['imagePullSecrets'] = baseSpec['imagePullSecrets'];
  const meta = reverted['metadata'] as Json;
  const baseAnnotations = annotationsOf(baseline);
  if (baseAnnotations === undefined) delete meta['annotations'];
  else meta['annotations'] = baseAnnotations;
  check('everything else (the Pod without the webhook)', normalized(reverted), normalized(baseline));
}

// --- the scenario --------------------------------------------------------------------------------------

interface Counts {
  pods: number;
  created: number;
  dryRuns: number;
  refusedOnTheirOwn: number;
  optedOut: number;
  images: number;
  rewrites: number;
  invalid: number;
  rejected: number;
  annotationsNotRecorded: number;
  /** Recorded, the annotations then exactly at the API server's limit. */
  annotationsAtTheLimit: number;
  secretsAdded: number;
  updates: number;
  applied: number;
  reapplied: number;
  generateName: number;
  ephemeralRounds: number;
  warnings: number;
  many: number;
}

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

describe('the API server stores exactly what the webhook patches, for generated Pods', () => {
  scenario(env, `F1. ${PODS} generated Pods (fixed seed): created, dry-run, updated and debugged with and without the webhook; same object but for the patched fields`, async () => {
    const started = performance.now();
    const compiled = parseRules(RULES, {});
    if (!compiled.ok) throw new Error(`the rules did not compile:\n${formatIssues(compiled.issues)}`);
    const rewriter = compiled.rewriter;
    const rulesFile = join(env.runDir, 'webhook', 'fuzz-rules.yaml');
    await writeFile(rulesFile, RULES);
    const api = new Api(env.kubeconfig);
    const serve = await env.startExtraServe('serve-fuzz', { rules: rulesFile });
    try {
      for (const ns of [NS_A, NS_B, NS_SKIP]) {
        await env.kubectl.createNamespace(ns, ns === NS_SKIP ? { [SKIP_LABEL]: 'true' } : {});
        const sa = await api.call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'puller' }, imagePullSecrets: SA_SECRETS.map((name) => ({ name })) });
        expect(sa.status).toBe(201);
      }
      // This file's own serve, registered with failurePolicy Fail: a failed call refuses the Pod instead of admitting it unchanged.
      const { stdout: config } = await run(process.execPath, [
        join(env.root, 'dist', 'cli.js'), 'webhook-config', '--url', webhookUrl(serve.port, env.webhook.token), '--ca-bundle', env.webhook.files.caCert, '--scope', 'pods', '--failure-policy', 'Fail',
      ]);
      await env.applyWebhookConfig(config);
      await eventually('the fuzz rules in effect', { timeoutMs: 60_000 }, async () => {
        const r = await api.call('POST', podsPath(NS_A, true), { metadata: { name: `ready-${Date.now()}` }, spec: { containers: [{ name: 'c', image: 'ghcr.io/ready/x:1' }] } });
        const img = ((r.body as { spec?: { containers?: { image?: string }[] } }).spec?.containers?.[0]?.image) ?? JSON.stringify(r.body).slice(0, 200);
        return img === 'ghcr-mirror.example.com:8443/ready/x/x:1' ? done(undefined) : notYet(img);
      });

      const pods = generatePods();
      const problems: string[] = [];
      const counts: Counts = { pods: pods.length, created: 0, dryRuns: 0, refusedOnTheirOwn: 0, optedOut: 0, images: 0, rewrites: 0, invalid: 0, rejected: 0, annotationsNotRecorded: 0, annotationsAtTheLimit: 0, secretsAdded: 0, updates: 0, applied: 0, reapplied: 0, generateName: 0, ephemeralRounds: 0, warnings: 0, many: 0 };

      await pool(pods, CONCURRENCY, async (p) => {
        const what = `pod ${p.index} (${p.namespace}/${p.name.slice(0, 40)}${p.name.length > 40 ? '...' : ''})`;
        try {
          await checkPod(p, what);
        } catch (e) {
          problems.push(`${what}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        }
      });

      async function checkPod(p: GenPod, what: string): Promise<void> {
        // The annotations: as generated, plus the filler that brings them to the limit with the webhook's annotation.
        let annotations = p.annotations;
        if (p.fill !== undefined) {
          const sent0 = manifest(p, annotations);
          const e0 = expect_(rewriter, p.namespace, sent0, []);
          const text = e0.originals ?? '';
          let size = bytes(ORIGINAL_IMAGES_ANNOTATION) + bytes(text);
          for (const [k, v] of Object.entries(annotations ?? {})) size += bytes(k) + bytes(v);
          const key = 'example.com/filler';
          const room = MAX_ANNOTATIONS_BYTES - size - bytes(key) + (p.fill === 'over' ? 1 : 0);
          const unit = p.fillMultibyte ? 'aé' : 'a';
          const filler = `${unit.repeat(Math.floor(room / bytes(unit)))}${'b'.repeat(room % bytes(unit))}`;
          annotations = { ...annotations, [key]: filler };
        }
        const sent = manifest(p, annotations);
        const later = p.apply || p.update !== undefined || p.ephemeral.length > 0;
        // Created by POST, or by server-side apply (which creates a Pod that does not exist yet).
        const create = (ns: string, dryRun: boolean): Promise<ApiResult> =>
          p.apply
            ? api.call('PATCH', `${podPath(ns, p.name)}?fieldManager=fuzz&force=true${dryRun ? '&dryRun=All' : ''}`, sent, 'application/apply-patch+yaml')
            : api.call('POST', podsPath(ns, dryRun), sent);
        // Without the webhook: a dry run, or a real Pod when the scenario changes it afterwards.
        const baseline = await create(NS_SKIP, !later);
        const actual = await create(p.namespace, p.dryRun);
        if (baseline.status !== 201) {
          counts.refusedOnTheirOwn++;
          const reason = (r: ApiResult): string =>
            ((r.body as { message?: string }).message ?? '')
              .replaceAll(NS_SKIP, 'NS')
              .replaceAll(p.namespace, 'NS')
              .replace(/(fz-\d+-g-)[a-z0-9]{5}/g, '$1XXXXX');
          if (p.invalid === undefined) problems.push(`${what}: refused without the webhook, which the generator did not predict: ${baseline.status} ${reason(baseline)}`);
          if (actual.status !== baseline.status || reason(actual) !== reason(baseline)) {
            problems.push(`${what}: refused differently with the webhook: ${actual.status} ${reason(actual)}\n  without: ${baseline.status} ${reason(baseline)}`);
          }
          return;
        }
        if (p.invalid !== undefined) problems.push(`${what}: expected the API server to refuse it (${p.invalid}), got ${baseline.status}`);
        if (actual.status !== 201) {
          problems.push(`${what}: refused with the webhook: ${actual.status} ${JSON.stringify(actual.body).slice(0, 600)}`);
          return;
        }
        const base = baseline.body as Json;
        const created = actual.body as Json;
        // The names the API server gave (generateName).
        const name = (created['metadata'] as { name: string }).name;
        const baseName = (base['metadata'] as { name: string }).name;
        // The Pod without the webhook is the Pod as sent.
        if (JSON.stringify(imagesByKey(base)) !== JSON.stringify(imagesByKey(sent))) problems.push(`${what}: images changed without the webhook: ${JSON.stringify(imagesByKey(base))}`);
        const expected = expect_(rewriter, p.namespace, sent, secretsOf(base));
        compare(`${what} create${p.dryRun ? ' (dry run)' : ''}`, created, base, expected, actual.warnings, baseline.warnings, problems);
        if (p.dryRun) {
          counts.dryRuns++;
          if (!p.generateName) {
            const get = await api.call('GET', podPath(p.namespace, name));
            if (get.status !== 404) problems.push(`${what}: a dry run stored the Pod (GET: ${get.status})`);
          }
          return;
        }
        counts.created++;
        if (p.apply) counts.applied++;
        if (p.generateName) counts.generateName++;
        counts.images += fieldsOf(sent).length;
        const meta = sent['metadata'] as { labels: Record<string, string>; annotations?: Record<string, string> };
        if (meta.labels[SKIP_LABEL] === 'true' || meta.annotations?.[SKIP_LABEL] === 'true') counts.optedOut++;
        counts.rewrites += Object.entries(expected.images).filter(([k, v]) => imagesByKey(sent)[k] !== v).length;
        counts.warnings += expected.warnings.length;
        counts.secretsAdded += expected.addedSecrets.length;
        if (expected.warnings.at(-1)?.includes('more warnings not shown') === true) counts.many++;
        for (const w of expected.warnings) {
          if (w.includes(' is not a valid reference')) counts.invalid++;
          if (w.startsWith(`${WARNING_PREFIX}left `)) counts.rejected++;
        }
        const rewrote = Object.values(expected.images).some((v, i) => v !== Object.values(imagesByKey(sent))[i]);
        if (rewrote && expected.originals === annotationsOf(sent)?.[ORIGINAL_IMAGES_ANNOTATION]) counts.annotationsNotRecorded++;
        if (rewrote && p.fill === 'exact' && expected.originals !== undefined) counts.annotationsAtTheLimit++;
        const get = await api.call('GET', podPath(p.namespace, name));
        if (JSON.stringify(get.body) !== JSON.stringify(created)) problems.push(`${what}: GET differs from what the create returned:\n  ${JSON.stringify(get.body).slice(0, 400)}`);

        let stored = created;
        let storedBase = base;
        if (p.apply) {
          // A GitOps sync: the same manifest applied again. The applier sets the images it owns back to
          // the originals; the webhook gives them their stored rewrites again, and nothing changes.
          counts.reapplied++;
          const again = (ns: string, n: string): Promise<ApiResult> => api.call('PATCH', `${podPath(ns, n)}?fieldManager=fuzz&force=true`, sent, 'application/apply-patch+yaml');
          const b = await again(NS_SKIP, baseName);
          const a = await again(p.namespace, name);
          if (b.status !== 200 || a.status !== 200) {
            problems.push(`${what}: server-side apply again: ${a.status} with the webhook, ${b.status} without: ${JSON.stringify(a.body).slice(0, 400)}`);
            return;
          }
          const sentAgain = clone(stored);
          // The applier owns the annotations of its manifest: they are set to the manifest's values.
          const againMeta = sentAgain['metadata'] as Json;
          if (annotations !== undefined) againMeta['annotations'] = { ...(againMeta['annotations'] as Json | undefined), ...annotations };
          const byKey = imagesByKey(sent);
          for (const f of fieldsOf(sentAgain)) {
            const img = byKey[keyOf(f)];
            if (img === undefined) continue;
            const spec = sentAgain['spec'] as Json;
            if (f.list === 'volumes') ((spec['volumes'] as { image: { reference: string } }[])[f.index] ?? { image: { reference: '' } }).image.reference = img;
            else ((spec[f.list] as { image: string }[])[f.index] ?? { image: '' }).image = img;
          }
          const e = expect_(rewriter, p.namespace, sentAgain, secretsOf(stored), stored);
          compare(`${what} server-side apply again`, a.body as Json, b.body as Json, e, a.warnings, b.warnings, problems);
          // Nothing changes but, where the manifest carries an original-images annotation of its own,
          // the order of that annotation's entries (the webhook merges into the manifest's map): the
          // same entries, and a second apply changes nothing at all.
          const content = (x: Json): unknown => {
            const o = clone(normalized(x)) as { metadata: { annotations?: Record<string, unknown> } };
            const text = o.metadata.annotations?.[ORIGINAL_IMAGES_ANNOTATION];
            if (typeof text === 'string' && o.metadata.annotations !== undefined) o.metadata.annotations[ORIGINAL_IMAGES_ANNOTATION] = [...(parseOriginals(text) ?? [])].sort();
            return o;
          };
          if (JSON.stringify(content(a.body as Json)) !== JSON.stringify(content(stored))) problems.push(`${what}: server-side apply of the same manifest changed the Pod:\n${difference(a.body, stored)}`);
          if (annotations?.[ORIGINAL_IMAGES_ANNOTATION] === undefined && JSON.stringify(a.body) !== JSON.stringify(stored)) problems.push(`${what}: server-side apply of the same manifest wrote the Pod:\n${difference(a.body, stored)}`);
          stored = a.body as Json;
          storedBase = b.body as Json;
          const third = await again(p.namespace, name);
          if (third.status !== 200 || JSON.stringify(third.body) !== JSON.stringify(stored)) problems.push(`${what}: a second server-side apply of the same manifest changed the Pod: ${third.status}\n${difference(third.body, stored)}`);
        }
        if (p.update !== undefined) {
          counts.updates++;
          const { list, index, put } = p.update;
          // No image: the one the Pod was created with (the original of a rewrite), as a re-apply sends it.
          const next = p.update.image ?? (((sent['spec'] as Json)[list] as { image: string }[])[index]?.image ?? '');
          const patch = [{ op: 'replace', path: `/spec/${list}/${index}/image`, value: next }];
          const withImage = (pod: Json): Json => {
            const o = clone(pod);
            (((o['spec'] as Json)[list] as Json[])[index] as { image: string }).image = next;
            return o;
          };
          // What the API server hands the webhook: the stored Pod with the image changed.
          const sentUpdate = withImage(stored);
          const e = expect_(rewriter, p.namespace, sentUpdate, secretsOf(stored), stored);
          const how = `UPDATE ${list}[${index}] -> ${next} (${put ? 'PUT' : 'JSON patch'})`;
          for (const dryRun of [true, false]) {
            const q = dryRun ? '?dryRun=All' : '';
            const b = put ? await api.call('PUT', `${podPath(NS_SKIP, baseName)}${q}`, withImage(storedBase)) : await api.call('PATCH', `${podPath(NS_SKIP, baseName)}${q}`, patch, 'application/json-patch+json');
            const a = put ? await api.call('PUT', `${podPath(p.namespace, name)}${q}`, sentUpdate) : await api.call('PATCH', `${podPath(p.namespace, name)}${q}`, patch, 'application/json-patch+json');
            if (b.status !== 200 || a.status !== 200) {
              problems.push(`${what}: ${how}${dryRun ? ' dry run' : ''}: ${a.status} with the webhook, ${b.status} without: ${JSON.stringify(a.body).slice(0, 400)}`);
              return;
            }
            compare(`${what} ${how}${dryRun ? ' dry run' : ''}`, a.body as Json, b.body as Json, e, a.warnings, b.warnings, problems);
            if (!dryRun) {
              stored = a.body as Json;
              storedBase = b.body as Json;
            }
          }
        }
        for (const [round, added] of p.ephemeral.entries()) {
          counts.ephemeralRounds++;
          const patch = { spec: { ephemeralContainers: added.map((c) => ({ name: c.name, image: c.image, stdin: true, tty: true })) } };
          const b = await api.call('PATCH', podPath(NS_SKIP, baseName, 'ephemeralcontainers'), patch, 'application/strategic-merge-patch+json');
          const a = await api.call('PATCH', podPath(p.namespace, name, 'ephemeralcontainers'), patch, 'application/strategic-merge-patch+json');
          if (b.status !== 200 || a.status !== 200) {
            problems.push(`${what}: ephemeral round ${round}: ${a.status} with the webhook, ${b.status} without: ${JSON.stringify(a.body).slice(0, 400)}`);
            return;
          }
          const sentDebug = clone(stored);
          const sentSpec = sentDebug['spec'] as Json;
          // In the order the API server merges them (that of the Pod without the webhook): the stored ones as stored, the new ones as sent.
          const before = new Map(((sentSpec['ephemeralContainers'] ?? []) as { name: string }[]).map((c) => [c.name, c]));
          const merged = (((b.body as Json)['spec'] as Json)['ephemeralContainers'] ?? []) as { name: string; image: string }[];
          sentSpec['ephemeralContainers'] = merged.map((c) => before.get(c.name) ?? { name: c.name, image: c.image });
          const e = expect_(rewriter, p.namespace, sentDebug, secretsOf(stored), stored, true);
          compare(`${what} ephemeral round ${round}`, a.body as Json, b.body as Json, e, a.warnings, b.warnings, problems);
          stored = a.body as Json;
        }
        const final = await api.call('GET', podPath(p.namespace, name));
        if (JSON.stringify(final.body) !== JSON.stringify(stored)) problems.push(`${what}: GET after the updates differs from the last answer`);
      }

      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stdout.write(`[fuzz] ${JSON.stringify(counts)} in ${seconds} s\n`);
      expect(problems.slice(0, 10).join('\n\n')).toBe('');
      expect(problems).toHaveLength(0);
      // The generator reached what it is for.
      expect(counts.created + counts.dryRuns + counts.refusedOnTheirOwn).toBe(PODS);
      for (const k of ['dryRuns', 'refusedOnTheirOwn', 'optedOut', 'rewrites', 'invalid', 'rejected', 'annotationsNotRecorded', 'annotationsAtTheLimit', 'secretsAdded', 'updates', 'applied', 'generateName', 'ephemeralRounds', 'many'] as const) {
        expect({ [k]: counts[k] > 0 }).toEqual({ [k]: true });
      }
    } finally {
      api.close();
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });
});
