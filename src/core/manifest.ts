/**
 * The webhook's decision for Kubernetes objects read from manifests instead of admission requests:
 * the objects of one parsed document (a single object, or the items of a `List`), and for each the
 * JSON Patch the webhook would answer to its CREATE, with what it rewrote. `render` applies the
 * patch to the YAML text (src/manifests/render.ts), `audit` lists the rewrites.
 *
 * The decision is review() itself, on an AdmissionReview built from the object, so both commands
 * decide exactly as the webhook does: the same kinds, opt-out label and annotation, mirror pods,
 * namespace-scoped rules and imagePullSecrets (docs/design.md); the original-images annotation
 * only with `annotate` (`render --annotate`). One difference, on purpose: a ReplicaSet a Deployment
 * controls, which the webhook leaves alone, is decided like any workload (ReviewOptions'
 * includeDeploymentReplicaSets in src/core/admission.ts).
 *
 * Scope: `all` (the default of both commands) decides for Pods and for the pod templates of the
 * workload kinds; `pods` only for Pods, like a webhook registered with `--scope pods`. Rewriting
 * templates is the point of rendering for GitOps: the Deployment in git is what Argo CD or Flux
 * compare with the cluster, so its template must already name the mirror.
 *
 * Pure: no I/O.
 */
import type { InvalidRecord, RewriteRecord, SkipReason } from './admission.js';
import { isRecord, own } from './json.js';
import type { PatchOperation } from './patch.js';
import type { RenderOverrides } from './render.js';
import type { Rewriter } from './rules.js';
import { review } from './review.js';
import { type FieldProblem, findImages, workloadTypeOfKind } from './workload.js';

export const SCOPES = ['all', 'pods'] as const;
export type Scope = (typeof SCOPES)[number];

/** One Kubernetes object of a document. */
export interface ManifestObject {
  /** RFC 6901 pointer of the object in its document: '' for the document itself, `/items/3` in a List. */
  readonly pointer: string;
  readonly object: Readonly<Record<string, unknown>>;
  /** API group ('' for the core group), version and kind, from `apiVersion` and `kind` (or the List's). */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** `metadata.namespace`, or undefined. */
  readonly namespace: string | undefined;
  /** `metadata.name` (or `metadata.generateName`), or undefined. */
  readonly name: string | undefined;
}

/** `Deployment default/web`, the object as messages name it (render's warnings, audit's lines). */
export function objectLabel(o: ManifestObject): string {
  const name = o.name ?? '(no name)';
  return `${o.kind} ${o.namespace === undefined ? name : `${o.namespace}/${name}`}`;
}

/** Why a document is not Kubernetes objects. */
export interface ManifestProblem {
  /** Pointer of the offending value in its document ('' for the whole document). */
  readonly pointer: string;
  readonly message: string;
}

export type ObjectsResult =
  | { readonly ok: true; readonly objects: readonly ManifestObject[] }
  | { readonly ok: false; readonly problem: ManifestProblem };

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function stringField(value: unknown, key: string): string | undefined {
  const v = own(value, key);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function manifestObject(
  pointer: string,
  value: unknown,
  defaults: { apiVersion: string; kind: string } | undefined,
): ManifestObject | ManifestProblem {
  if (!isRecord(value)) return { pointer, message: `is ${describe(value)}, not a Kubernetes object (a mapping with apiVersion and kind)` };
  const kind = stringField(value, 'kind') ?? defaults?.kind;
  // A document that is a `List` needs no apiVersion of its own: its items carry theirs.
  const apiVersion = stringField(value, 'apiVersion') ?? defaults?.apiVersion ?? (pointer === '' && kind === 'List' ? 'v1' : undefined);
  if (apiVersion === undefined) {
    // `cat a.yaml b.yaml`: the second file's byte order mark lands after a `---`, inside the text.
    if (pointer === '' && Object.keys(value).some((k) => k.startsWith('\ufeff'))) return { pointer, message: 'starts with a byte order mark (U+FEFF) after its "---" line, read as part of its first key: remove it (files joined with cat keep theirs)' };
    return { pointer: `${pointer}/apiVersion`, message: 'is missing or not a non-empty string' };
  }
  if (kind === undefined) return { pointer: `${pointer}/kind`, message: 'is missing or not a non-empty string' };
  const metadata = own(value, 'metadata');
  return {
    pointer,
    object: value,
    ...splitApiVersion(apiVersion),
    kind,
    namespace: stringField(metadata, 'namespace'),
    name: stringField(metadata, 'name') ?? stringField(metadata, 'generateName'),
  };
}

/**
 * A typed list (`DeploymentList`, as the API server returns it) or a `List` (as `kubectl get -o
 * json` does). Another kind that ends in `List` (a custom resource `IPAllowList` with its own
 * `items` of strings) is a list only when its items are all objects; otherwise it is an object of
 * a kind the webhook leaves alone.
 */
function isList(group: string, kind: string, value: Readonly<Record<string, unknown>>): boolean {
  if (kind === 'List') return true;
  if (!kind.endsWith('List')) return false;
  if (workloadTypeOfKind(group, kind.slice(0, -'List'.length)) !== undefined) return true;
  const items = own(value, 'items');
  return Array.isArray(items) && items.every((item) => isRecord(item));
}

/** What could be read of one document. */
export interface DocumentObjects {
  readonly objects: readonly ManifestObject[];
  /** One per value that is not a Kubernetes object (the document, or an item of its List), in order. */
  readonly problems: readonly ManifestProblem[];
}

/**
 * The objects of one parsed document: none for an empty document (null), the items of a List
 * (`kind: List`, or a typed list whose items may lack apiVersion and kind), else the document.
 * A List among a List's items is read as kubectl reads it (cli-runtime's FlattenListVisitor, which
 * `kubectl apply` uses): its items are objects too, however deep, in document order.
 * An item that is not an object is a problem and the other items are still read (`audit` lists
 * what it can read).
 */
export function readObjects(document: unknown): DocumentObjects {
  if (document === null || document === undefined) return { objects: [], problems: [] };
  const top = manifestObject('', document, undefined);
  if (!('object' in top)) return { objects: [], problems: [top] };
  const objects: ManifestObject[] = [];
  const problems: ManifestProblem[] = [];
  // Depth first, without recursion (a hostile document may nest Lists thousands deep).
  const pending: ManifestObject[] = [top];
  for (let o = pending.pop(); o !== undefined; o = pending.pop()) {
    if (!isList(o.group, o.kind, o.object)) {
      objects.push(o);
      continue;
    }
    const items = own(o.object, 'items');
    if (items === null || items === undefined) continue;
    if (!Array.isArray(items)) {
      problems.push({ pointer: `${o.pointer}/items`, message: `is ${describe(items)}, not a list` });
      continue;
    }
    // `DeploymentList` items omit apiVersion and kind; `List` items carry their own.
    const apiVersion = o.group === '' ? o.version : `${o.group}/${o.version}`;
    const defaults = o.kind === 'List' ? undefined : { apiVersion, kind: o.kind.slice(0, -'List'.length) };
    const found: ManifestObject[] = [];
    const list: readonly unknown[] = items;
    for (const [i, item] of list.entries()) {
      const m = manifestObject(`${o.pointer}/items/${i}`, item, defaults);
      if ('object' in m) found.push(m);
      else problems.push(m);
    }
    for (const m of found.reverse()) pending.push(m);
  }
  return { objects, problems };
}

/** The objects of one parsed document (readObjects), or its first problem (`render` changes all or nothing). */
export function objectsOf(document: unknown): ObjectsResult {
  const { objects, problems } = readObjects(document);
  const problem = problems[0];
  return problem === undefined ? { ok: true, objects } : { ok: false, problem };
}

export interface DecideOptions {
  /** The namespace of objects whose metadata names none (`kubectl apply -n`). */
  readonly namespace?: string | undefined;
  /** Record the originals in the `image-rewriter.io/original-images` annotation, as the webhook does. */
  readonly annotate: boolean;
  readonly scope: Scope;
  /**
   * A reason to leave a planned rewrite out (src/core/render.ts): `render`'s existence checks
   * (docs/verify.md), decided before the text is rendered, as the webhook's are before it answers.
   */
  readonly withhold?: RenderOverrides['withhold'] | undefined;
}

/** What the webhook would do to one object. */
export interface ObjectDecision {
  /** The JSON Patch, its pointers relative to the document (prefixed with the object's pointer). */
  readonly ops: readonly PatchOperation[];
  readonly rewrites: readonly RewriteRecord[];
  readonly invalid: readonly InvalidRecord[];
  /** Fields that are not what the API server would accept (an image that is not a string), left alone. */
  readonly malformed: readonly FieldProblem[];
  /** The namespace the object would be created in. */
  readonly namespace: string | undefined;
  readonly skipped?: SkipReason | 'scope';
}

const decoder = new TextDecoder();

/** The operations of review()'s base64 JSON Patch. */
function decodePatch(patch: string): PatchOperation[] {
  const binary = atob(patch);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return JSON.parse(decoder.decode(bytes)) as PatchOperation[];
}

/** What the webhook would answer to the CREATE of `o` (via review() itself); never throws. */
export function decide(o: ManifestObject, rewriter: Rewriter, options: DecideOptions): ObjectDecision {
  const namespace = o.namespace ?? options.namespace;
  const none = (skipped: SkipReason | 'scope'): ObjectDecision => ({ ops: [], rewrites: [], invalid: [], malformed: [], namespace, skipped });
  const type = workloadTypeOfKind(o.group, o.kind);
  if (type === undefined) return none('unsupported-kind');
  if (options.scope === 'pods' && type.kind !== 'Pod') return none('scope');
  const outcome = review(
    {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'manifest',
        kind: { group: o.group, version: o.version, kind: o.kind },
        resource: { group: type.group, version: o.version, resource: type.resource },
        operation: 'CREATE',
        namespace: namespace ?? '',
        object: o.object,
      },
    },
    rewriter,
    { recordOriginals: options.annotate, includeDeploymentReplicaSets: true },
    options.withhold === undefined ? {} : { withhold: options.withhold },
  );
  // The request is well formed by construction; a refusal would be a bug in this module.
  /* c8 ignore next */
  if (!outcome.ok) throw new Error(`internal error: review refused a manifest object: ${outcome.message}`);
  const { report, response } = outcome;
  const patch = response.response.patch;
  const ops = patch === undefined ? [] : decodePatch(patch).map((op) => ({ ...op, path: o.pointer + op.path }));
  const decision = { ops, rewrites: report.rewrites, invalid: report.invalid, malformed: report.malformed, namespace };
  return report.skipped === undefined ? decision : { ...decision, skipped: report.skipped };
}

/** For an image, the first rule limited to `namespaces` that would take it (src/core/explain.ts namespaceLimitedRules). */
export type LimitedRule = (image: string) => { readonly name: string } | undefined;

/**
 * The rules limited to `namespaces` that would take an image of `o`, decided as `d`, had it a
 * namespace they list: for an object of no known namespace (no `metadata.namespace`, no
 * `--namespace`), where they never apply; none for an object the decision skipped (opt-out, scope).
 */
export function namespaceLimitedOf(o: ManifestObject, d: ObjectDecision, limitedRule: LimitedRule | undefined): string[] {
  if (limitedRule === undefined || d.namespace !== undefined || d.skipped !== undefined) return [];
  const type = workloadTypeOfKind(o.group, o.kind);
  if (type === undefined) return [];
  const names: string[] = [];
  for (const field of findImages(o.object, type).images) {
    const rule = limitedRule(field.image);
    if (rule !== undefined) names.push(rule.name);
  }
  return names;
}

/** One container whose image the rules would rewrite (one line of `audit -o json`, README.md). */
export interface Finding {
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
  readonly container: string;
  readonly image: string;
  readonly rewritten: string;
  readonly rule: string;
}

/**
 * The container's name (`app`), `containers[0]` for a container without a name; an image volume
 * as `volumes/data` (`volumes[0]`), never taken for a container of the same name.
 */
export function containerLabel(r: Pick<RewriteRecord, 'list' | 'containerName' | 'pointer'>): string {
  if (r.containerName !== undefined) return r.list === 'volumes' ? `volumes/${r.containerName}` : r.containerName;
  const index = /\/(\d+)\/image(?:\/reference)?$/.exec(r.pointer)?.[1] ?? '?';
  return `${r.list}[${index}]`;
}

/**
 * The findings of one object, and the fields that could not be read: what the API server would
 * not accept (an image that is not a string), whose image is then not known. Render refuses such
 * a manifest (src/manifests/render.ts); audit names them and fails, never passes over them.
 * `invalid`: the images left unchanged because they, or their rule's result, are not valid
 * references, which the webhook and render report with a warning, and audit too.
 */
export function auditOf(
  o: ManifestObject,
  rewriter: Rewriter,
  scope: Scope = 'all',
): { findings: Finding[]; unreadable: FieldProblem[]; invalid: readonly InvalidRecord[] } {
  const d = decide(o, rewriter, { annotate: false, scope });
  const unreadable = d.malformed.filter((m) => m.valid !== true);
  const findings = d.rewrites.map((r) => ({
    namespace: d.namespace ?? '',
    kind: o.kind,
    name: o.name ?? '',
    container: containerLabel(r),
    image: r.from,
    rewritten: r.to,
    rule: r.rule,
  }));
  return { findings, unreadable, invalid: d.invalid };
}
