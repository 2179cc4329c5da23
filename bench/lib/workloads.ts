/**
 * What the admission benchmark reviews: one rules document, four objects (a 1-container Pod, a
 * 5-container Pod with 2 init and 3 app containers, a Deployment, a Pod with nothing to rewrite), as
 * the API server sends them (defaulted fields included), and the check of every answer.
 *
 * Each object is a JSON template. A variant replaces the uid and appends a suffix to every tag, so
 * "first sight" variants carry images the rewriter has never seen (its memo holds 4096 results; a
 * counter makes every variant new), and "repeated" uses the same text every time.
 *
 * The check does not use src/: it decodes the patch with Node's base64, applies it with
 * fast-json-patch (validation on), and compares every image, the original-images annotation, the
 * pull secrets, the warnings and the uid with what the rules below must give.
 */
import fjp from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';
import type { Operation } from 'fast-json-patch';

const { applyPatch } = fjp;

export const BENCH_ENV: Readonly<Record<string, string>> = { AWS_ACCOUNT_ID: '123456789012', AWS_REGION: 'us-west-2' };
export const ECR = '123456789012.dkr.ecr.us-west-2.amazonaws.com';

/** Five rules and an exclusion: what a two-region fleet with a mirror might run. */
export const BENCH_RULES = `
rules:
  - name: k8s-registry
    match: registry.k8s.io
    replace: \${env:AWS_ACCOUNT_ID}.dkr.ecr.\${env:AWS_REGION}.amazonaws.com/k8s
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: quay
    regex: 'quay\\.io/(?<org>[^/]+)/(.+)'
    replace: mirror.example.com/quay/$<org>/$2
  - name: ghcr
    match: ghcr.io
    replace: mirror.example.com/ghcr
  - name: dockerhub
    match: docker.io
    replace: \${env:AWS_ACCOUNT_ID}.dkr.ecr.\${env:AWS_REGION}.amazonaws.com/docker-hub
    imagePullSecrets: [ecr-pull]
exclude:
  - docker.io/library/busybox
`;

/** The same rules as a JSON document: how `npm run deploy:regions` passes them (the template's default, `rules: []`, is YAML). */
export const BENCH_RULES_JSON = JSON.stringify(parseYaml(BENCH_RULES));

export type List = 'containers' | 'initContainers';

export interface ContainerCase {
  readonly list: List;
  readonly name: string;
  /** Without its tag. */
  readonly repository: string;
  readonly tag: string;
  /** The repository after the rules, or undefined when the image must stay as it is. */
  readonly rewritten: string | undefined;
}

export type WorkloadId = 'pod1' | 'pod5' | 'deployment' | 'nothing';

export interface Workload {
  readonly id: WorkloadId;
  readonly label: string;
  readonly kind: 'Pod' | 'Deployment';
  readonly containers: readonly ContainerCase[];
  /** Pull secrets the answer must add to the pod spec. */
  readonly pullSecrets: readonly string[];
}

const c = (list: List, name: string, repository: string, tag: string, rewritten?: string): ContainerCase => ({ list, name, repository, tag, rewritten });

export const WORKLOADS: readonly Workload[] = [
  {
    id: 'pod1',
    label: '1-container Pod',
    kind: 'Pod',
    containers: [c('containers', 'web', 'gcr.io/example/web', '1.25', 'asia.gcr.io/example/web')],
    pullSecrets: [],
  },
  {
    id: 'pod5',
    label: '5-container Pod (2 init, 3 app)',
    kind: 'Pod',
    containers: [
      c('initContainers', 'migrate', 'gcr.io/example/migrate', '2.0', 'asia.gcr.io/example/migrate'),
      c('initContainers', 'wait', 'busybox', '1.36'),
      c('containers', 'app', 'gcr.io/example/app', '2.0', 'asia.gcr.io/example/app'),
      c('containers', 'proxy', 'nginx', '1.27', `${ECR}/docker-hub/library/nginx`),
      c('containers', 'metrics', 'quay.io/prometheus/node-exporter', 'v1.8.0', 'mirror.example.com/quay/prometheus/node-exporter'),
    ],
    pullSecrets: ['ecr-pull'],
  },
  {
    id: 'deployment',
    label: 'Deployment (2 containers)',
    kind: 'Deployment',
    containers: [
      c('containers', 'web', 'gcr.io/example/web', '3.1', 'asia.gcr.io/example/web'),
      c('containers', 'sidecar', 'ghcr.io/example/proxy', '1.0.3', 'mirror.example.com/ghcr/example/proxy'),
    ],
    pullSecrets: [],
  },
  {
    id: 'nothing',
    label: 'Pod with nothing to rewrite',
    kind: 'Pod',
    containers: [
      c('containers', 'app', `${ECR}/team/app`, '1.4'),
      c('containers', 'worker', 'registry.internal.example.com/team/worker', '7'),
      c('containers', 'debug', 'busybox', '1.36'),
    ],
    pullSecrets: [],
  },
];

export function workload(id: WorkloadId): Workload {
  const w = WORKLOADS.find((x) => x.id === id);
  if (w === undefined) throw new Error(`no workload ${id}`);
  return w;
}

const UID = '@@UID@@';
const SUFFIX = '@@SUFFIX@@';

function container(k: ContainerCase): Record<string, unknown> {
  return {
    name: k.name,
    image: `${k.repository}:${k.tag}${SUFFIX}`,
    ports: k.list === 'containers' ? [{ containerPort: 8080, protocol: 'TCP' }] : undefined,
    env: [{ name: 'LOG_LEVEL', value: 'info' }],
    resources: { limits: { memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
    volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
  };
}

function podSpec(w: Workload): Record<string, unknown> {
  const init = w.containers.filter((k) => k.list === 'initContainers').map(container);
  return {
    volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }], defaultMode: 420 } }],
    ...(init.length === 0 ? {} : { initContainers: init }),
    containers: w.containers.filter((k) => k.list === 'containers').map(container),
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'default',
    securityContext: {},
    schedulerName: 'default-scheduler',
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
  };
}

function object(w: Workload): Record<string, unknown> {
  const labels = { 'app.kubernetes.io/name': w.id, 'app.kubernetes.io/part-of': 'bench' };
  if (w.kind === 'Pod') {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${w.id}-7c9f8d6b5-x2x4q`, generateName: `${w.id}-7c9f8d6b5-`, namespace: 'payments', labels, annotations: { 'team.example.com/owner': 'payments' } },
      spec: podSpec(w),
      status: {},
    };
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: w.id, namespace: 'payments', labels, annotations: { 'team.example.com/owner': 'payments' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: labels },
      template: { metadata: { creationTimestamp: null, labels }, spec: podSpec(w) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
    status: {},
  };
}

function reviewTemplate(w: Workload): string {
  const pod = w.kind === 'Pod';
  const gvk = pod ? { group: '', version: 'v1', kind: 'Pod' } : { group: 'apps', version: 'v1', kind: 'Deployment' };
  const gvr = pod ? { group: '', version: 'v1', resource: 'pods' } : { group: 'apps', version: 'v1', resource: 'deployments' };
  return JSON.stringify({
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: UID,
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      ...(pod ? {} : { name: w.id }),
      namespace: 'payments',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: 'a1b2c3d4-0000-4000-8000-000000000001', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
      object: object(w),
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  });
}

/** One AdmissionReview body: its text, its uid, and the suffix appended to every tag. */
export interface Variant {
  readonly text: string;
  readonly uid: string;
  readonly suffix: string;
}

/** Makes the bodies of one workload quickly: the template is split once at its placeholders. */
export class Variants {
  readonly workload: Workload;
  /** Text, then a placeholder, then text...: the placeholders are at the odd indexes. */
  private readonly pieces: readonly string[];

  constructor(w: Workload) {
    this.workload = w;
    this.pieces = reviewTemplate(w).split(new RegExp(`(${UID}|${SUFFIX})`));
  }

  /**
   * Variant `n` (distinct uid and tags), or with `n` undefined the one body repeated (fixed uid, plain
   * tags). With `plainTags`, variant `n` has its own uid but the workload's tags as they are.
   */
  make(n?: number, plainTags = false): Variant {
    const uid = n === undefined ? '6f1c2d3e-4b5a-4c6d-8e7f-000000000000' : `6f1c2d3e-4b5a-4c6d-8e7f-${n.toString(16).padStart(12, '0')}`;
    const suffix = n === undefined || plainTags ? '' : `-b${n.toString(36)}`;
    let text = '';
    this.pieces.forEach((p, i) => {
      text += i % 2 === 0 ? p : p === UID ? uid : suffix;
    });
    return { text, uid, suffix };
  }
}

// --- checking an answer ------------------------------------------------------------------------

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const get = (v: unknown, ...path: readonly (string | number)[]): unknown => {
  let x = v;
  for (const k of path) {
    if (typeof k === 'number') x = Array.isArray(x) ? (x as unknown[])[k] : undefined;
    else x = isRecord(x) && Object.hasOwn(x, k) ? x[k] : undefined;
  }
  return x;
};

function isOperations(v: unknown): v is Operation[] {
  return Array.isArray(v) && v.every((op: unknown) => isRecord(op) && (op['op'] === 'add' || op['op'] === 'replace') && typeof op['path'] === 'string');
}

/**
 * Why `answer` (an AdmissionReview, parsed) is not the right answer to `variant` of `w`, or
 * undefined when it is.
 */
export function problemWith(w: Workload, variant: Variant, answer: unknown): string | undefined {
  if (get(answer, 'apiVersion') !== 'admission.k8s.io/v1' || get(answer, 'kind') !== 'AdmissionReview') return 'not an admission.k8s.io/v1 AdmissionReview';
  const response = get(answer, 'response');
  if (get(response, 'uid') !== variant.uid) return `uid ${String(get(response, 'uid'))}, want ${variant.uid}`;
  if (get(response, 'allowed') !== true) return 'allowed is not true';
  const changed = w.containers.filter((k) => k.rewritten !== undefined);
  const patch = get(response, 'patch');
  const warnings = get(response, 'warnings');
  if (changed.length === 0) {
    if (patch !== undefined || get(response, 'patchType') !== undefined) return 'a patch for an object with nothing to rewrite';
    if (warnings !== undefined) return 'warnings for an object with nothing to rewrite';
    return undefined;
  }
  if (get(response, 'patchType') !== 'JSONPatch' || typeof patch !== 'string') return 'no JSONPatch';
  const ops: unknown = JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
  if (!isOperations(ops)) return 'the patch is not a list of add/replace operations';
  const request: unknown = JSON.parse(variant.text);
  let patched: unknown;
  try {
    patched = applyPatch(get(request, 'request', 'object'), ops, true, false).newDocument;
  } catch (e) {
    return `the patch does not apply: ${(e as Error).message}`;
  }
  const spec = w.kind === 'Pod' ? get(patched, 'spec') : get(patched, 'spec', 'template', 'spec');
  const seen = { containers: 0, initContainers: 0 };
  const originals: Record<string, string> = {};
  for (const k of w.containers) {
    const index = seen[k.list]++;
    const original = `${k.repository}:${k.tag}${variant.suffix}`;
    const want = `${k.rewritten ?? k.repository}:${k.tag}${variant.suffix}`;
    const got = get(spec, k.list, index, 'image');
    if (got !== want) return `${k.list}[${index}] is ${String(got)}, want ${want}`;
    if (k.rewritten !== undefined) originals[`${k.list}/${k.name}`] = original;
  }
  const recorded = get(patched, 'metadata', 'annotations', 'image-rewriter.io/original-images');
  const parsed: unknown = typeof recorded === 'string' ? JSON.parse(recorded) : undefined;
  const want = Object.entries(originals);
  if (!isRecord(parsed) || Object.keys(parsed).length !== want.length || !want.every(([key, v]) => parsed[key] === v)) {
    return `original-images annotation is ${String(recorded)}`;
  }
  const secrets = get(spec, 'imagePullSecrets');
  const names = Array.isArray(secrets) ? (secrets as unknown[]).map((s) => get(s, 'name')) : [];
  if (JSON.stringify(names) !== JSON.stringify(w.pullSecrets)) return `imagePullSecrets ${JSON.stringify(names)}, want ${JSON.stringify(w.pullSecrets)}`;
  if (!Array.isArray(warnings) || warnings.length !== changed.length) return `${Array.isArray(warnings) ? warnings.length : 0} warnings, want ${changed.length}`;
  const audit = get(response, 'auditAnnotations', 'rewrites');
  if (typeof audit !== 'string' || (JSON.parse(audit) as unknown[]).length !== changed.length) return 'auditAnnotations.rewrites does not list every rewrite';
  return undefined;
}
