/**
 * The first phase of a review: decide. The AdmissionReview body is parsed, the request is checked
 * against the skip conditions (operation, kind, opt-out, mirror pod), and every image of the pod
 * spec is run through the rewriter. The result is a `ReviewPlan`: data only, no patch and no text
 * yet. src/core/render.ts turns a plan into the answer; an adapter may look at the planned
 * rewrites in between (docs/design.md, "Data paths").
 */
import { MIRROR_POD_ANNOTATION, ORIGINAL_IMAGES_ANNOTATION, type BadRequest, type ReviewOptions, SKIP_LABEL, SKIP_VALUE, type SkipReason } from './admission.js';
import { type AdmissionRequest, parseAdmissionReview } from './admission-request.js';
import { originalImagesKey, parseOriginals } from './original-images.js';
import { nameOf, parseNormalizedNamed } from './reference.js';
import type { CompiledRule, Rewriter } from './rules.js';
import { at, own } from './json.js';
import { type FieldProblem, findImages, type ImageField, type PodSpecImages, workloadTypeOf, type WorkloadType } from './workload.js';

/** An image the rules change: `field.image` becomes `to`. */
export interface PlannedRewrite {
  readonly outcome: 'rewrite';
  readonly field: ImageField;
  readonly to: string;
  readonly rule: CompiledRule;
  /**
   * `to` is the image the stored object already has for this field (an UPDATE re-applying the
   * original, or a re-applied Job after a rules change, below): it is in use, so an existence check
   * has nothing to decide (src/verify/policy.ts).
   */
  readonly stored?: true;
  /**
   * What the rule gives now, when `to` is the stored image kept instead of it (a re-applied Job
   * after a rules change, below): the warning says the stored image was kept, not that the rule
   * gave it.
   */
  readonly ruleTo?: string;
  /**
   * `field.image` is the image the stored object runs, decided again because its original-images
   * annotation records it as the original of its own rewrite (see planStored): the update does not
   * bring it, so a policy's `deny` keeps it instead (src/verify/policy.ts).
   */
  readonly running?: true;
}

/** An image that is not a valid reference; left unchanged. */
export interface InvalidImage {
  readonly outcome: 'invalid';
  readonly field: ImageField;
  readonly error: string;
}

/** An image whose rule result is not a valid reference, or would be rewritten again; left unchanged. */
export interface RejectedRewrite {
  readonly outcome: 'rejected';
  readonly field: ImageField;
  readonly rule: CompiledRule;
  readonly error: string;
}

/** What the rules say about one image field (images they leave alone are not listed). */
export type PlannedImage = PlannedRewrite | InvalidImage | RejectedRewrite;

/**
 * A re-applied original that no rule rewrites now, in a field the API server refuses to change
 * (immutableOnUpdate): `field.image` goes back to `to`, the image stored for it.
 */
export interface KeptImage {
  readonly field: ImageField;
  readonly to: string;
}

/** The object under review, when it is one this webhook rewrites. */
export interface ReviewTarget {
  readonly object: Readonly<Record<string, unknown>>;
  readonly type: WorkloadType;
  /** Where the pod spec is and what it holds. */
  readonly podSpec: Pick<PodSpecImages, 'podSpec' | 'podSpecPointer'>;
  /** True for the `pods/ephemeralcontainers` subresource: only ephemeral containers are looked at (not image volumes). */
  readonly subresource: boolean;
}

/** Everything `render` needs to build the answer, and nothing it has built yet. */
export interface ReviewPlan {
  readonly request: AdmissionRequest;
  readonly options: ReviewOptions;
  /** Set when the object is left alone as a whole; then `target` is undefined and `images` empty. */
  readonly skipped: SkipReason | undefined;
  readonly target: ReviewTarget | undefined;
  /** In pod spec order (containers, initContainers, ephemeralContainers, image volumes). */
  readonly images: readonly PlannedImage[];
  /** Fields that are not what the API server would send, skipped. */
  readonly malformed: readonly FieldProblem[];
  /**
   * Set when the object has an original-images annotation that is not the stored object's (which
   * has none on CREATE): an earlier call of this webhook wrote it during this request, so this
   * call is a reinvocation.
   */
  readonly reinvocation?: true;
  /**
   * Keys of original-images entries that describe an image this UPDATE replaced or removed
   * (see `staleOriginals`): dropped from the annotation, unless rewritten now. Absent: none.
   */
  readonly staleOriginals?: readonly string[];
  /** Stored images kept where no rule rewrites the re-applied original (see decide). Absent: none. */
  readonly kept?: readonly KeptImage[];
}

export type Decision = { readonly ok: true; readonly plan: ReviewPlan } | BadRequest;

/** `T` with its fields writable, for an object built up before it is handed out. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const skipValue = (meta: unknown, field: 'labels' | 'annotations'): boolean => own(own(meta, field), SKIP_LABEL) === SKIP_VALUE;

/**
 * The prefix of the user names of kubelets (`system:node:<node name>`). Only a kubelet creates
 * mirror pods; the mirror annotation on a Pod from anyone else is a user's annotation, which would
 * otherwise be a way around the rewriting.
 */
const NODE_USER_PREFIX = 'system:node:';

/**
 * True when the object's controller (the ownerReference with `controller: true`) is an apps
 * Deployment. Such a ReplicaSet must keep the Deployment's template exactly: see admission.ts.
 * NOT_DEPLOYMENT_REPLICASET_EXPRESSION (match-conditions.ts) is this test in CEL: change both.
 */
function controlledByDeployment(metadata: unknown): boolean {
  const refs = own(metadata, 'ownerReferences');
  if (!Array.isArray(refs)) return false;
  const list: readonly unknown[] = refs;
  const controller = list.find((r) => own(r, 'controller') === true);
  const apiVersion = own(controller, 'apiVersion');
  return own(controller, 'kind') === 'Deployment' && typeof apiVersion === 'string' && apiVersion.startsWith('apps/');
}

/** Why the object is left alone as a whole, or undefined when its images are to be looked at. */
function skipReason(request: AdmissionRequest, type: WorkloadType | undefined, allowOptOut: boolean, options: ReviewOptions): SkipReason | undefined {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return 'operation';
  const object = request.object;
  if (object === undefined) return 'no-object';
  if (type === undefined) return 'unsupported-kind';
  const metadata = own(object, 'metadata');
  const template = type.templateMetadataPath === undefined ? undefined : at(object, type.templateMetadataPath);
  if (allowOptOut) {
    for (const meta of [metadata, template]) {
      if (skipValue(meta, 'labels') || skipValue(meta, 'annotations')) return 'opt-out';
    }
  }
  if (type.kind === 'ReplicaSet' && options.includeDeploymentReplicaSets !== true && controlledByDeployment(metadata)) return 'deployment-replicaset';
  const mirror = own(own(metadata, 'annotations'), MIRROR_POD_ANNOTATION) !== undefined;
  if (type.kind === 'Pod' && mirror && request.userName?.startsWith(NODE_USER_PREFIX) === true) return 'mirror-pod';
  return undefined;
}

/**
 * The images an UPDATE leaves as they were, by original-images key. On UPDATE only images the
 * update changes are rewritten. An image already stored (the object was created while the webhook
 * was down, or before a rule existed) is left alone: patching it would turn an unrelated update (a
 * label, a finalizer removed by the garbage collector) into a change of an immutable field (a Job's
 * template, existing ephemeral containers) that the API server rejects, or into an unasked-for
 * rollout.
 */
function storedImages(request: AdmissionRequest, type: WorkloadType): ReadonlyMap<string, string> {
  const stored = new Map<string, string>();
  if (request.operation === 'UPDATE' && request.oldObject !== undefined) {
    for (const f of findImages(request.oldObject, type).images) stored.set(originalImagesKey(f), f.image);
  }
  return stored;
}

/**
 * Whether `image` is `expected`, or `expected` pinned to a digest (by another webhook, which may
 * have dropped the tag): an image with a digest in the same repository.
 */
function isOrPins(image: string, expected: string): boolean {
  if (image === expected) return true;
  const a = parseNormalizedNamed(image);
  const b = parseNormalizedNamed(expected);
  return a.ok && b.ok && a.value.digest !== undefined && nameOf(a.value) === nameOf(b.value);
}

/** An object's original-images annotation, as it is. */
const originalsText = (object: unknown): unknown => own(own(own(object, 'metadata'), 'annotations'), ORIGINAL_IMAGES_ANNOTATION);

/** The entries of an object's original-images annotation, or undefined when it has none that parses. */
function originalsOf(object: unknown): Map<string, string> | undefined {
  const value = originalsText(object);
  return typeof value === 'string' ? parseOriginals(value) : undefined;
}

/**
 * The original-images entries an UPDATE leaves stale: the container is gone, or the update gave it
 * an image that is not what the rules make of the recorded original (`kubectl set image` to an
 * image no rule rewrites, `kubectl rollout undo`). Kept, they would say that the container runs a
 * rewrite of an image it no longer has. Only entries the stored object had are looked at, and one
 * whose image is the rules' result for it (or that pinned to a digest) stays: a reinvocation sees
 * images this webhook wrote a moment ago, which other webhooks may have changed since.
 */
function staleOriginals(
  request: AdmissionRequest,
  object: Readonly<Record<string, unknown>>,
  images: readonly ImageField[],
  stored: ReadonlyMap<string, string>,
  rewriter: Rewriter,
  namespace: string | undefined,
): string[] {
  if (request.operation !== 'UPDATE' || request.oldObject === undefined) return [];
  const recorded = originalsOf(object);
  const before = originalsOf(request.oldObject);
  if (recorded === undefined || before === undefined) return [];
  const current = new Map<string, string>();
  for (const f of images) current.set(originalImagesKey(f), f.image);
  const stale: string[] = [];
  for (const [key, original] of recorded) {
    // An entry written during this request (by an earlier call of a reinvoked webhook) is not the old object's.
    if (before.get(key) !== original) continue;
    const image = current.get(key);
    if (image === undefined) {
      if (stored.has(key)) stale.push(key);
      continue;
    }
    if (stored.get(key) === image) continue;
    const r = rewriter.rewrite(original, { namespace });
    const expected = r.kind === 'rewritten' ? r.rewritten : original;
    if (!isOrPins(image, expected)) stale.push(key);
  }
  return stale;
}

/**
 * Whether the API server refuses any change of this image on UPDATE: a Job's pod template is
 * immutable, and so are a Pod's volumes (its image volumes). Its ephemeral containers are too, but
 * an update through the Pod itself cannot change them, and the subresource's stored ones are skipped.
 */
function immutableOnUpdate(type: WorkloadType, field: ImageField): boolean {
  return type.kind === 'Job' || (type.kind === 'Pod' && field.containerList === 'volumes');
}

/** What the rules say about one image, or undefined when they leave it alone. */
function planImage(field: ImageField, rewriter: Rewriter, namespace: string | undefined): PlannedImage | undefined {
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

/** What an UPDATE knows of the stored object, for planStored. */
interface StoredState {
  readonly request: AdmissionRequest;
  readonly type: WorkloadType;
  readonly subresource: boolean;
  /** The stored object's images, by original-images key (storedImages). */
  readonly stored: ReadonlyMap<string, string>;
  /** The stored object's original-images entries, read at the first need. */
  recordedBefore: ReadonlyMap<string, string> | undefined;
}

/** The stored object's original-images entries (none: an empty map), read once per review. */
function recordedBefore(s: StoredState): ReadonlyMap<string, string> {
  s.recordedBefore ??= originalsOf(s.request.oldObject) ?? new Map<string, string>();
  return s.recordedBefore;
}

/** A stored image kept for a field no rule rewrites now (see planStored). */
interface KeptDecision {
  readonly outcome: 'kept';
  readonly kept: KeptImage;
}

/** One image of an UPDATE: what the rules make of it given the stored object, or undefined when it is left alone. */
function planStored(field: ImageField, s: StoredState, rewriter: Rewriter, namespace: string | undefined): PlannedImage | KeptDecision | undefined {
  const { type } = s;
  const key = originalImagesKey(field);
  const storedImage = s.stored.get(key);
  if (storedImage === field.image) {
    // An image the stored object records as the original of its own rewrite, yet runs: an update
    // reached the API server while the webhook was not called (an outage under failurePolicy
    // Ignore, the configuration removed for a while), typically a GitOps sync re-applying git's
    // upstream image, and put the original back. Left alone it would stay upstream until git
    // changes it (every later re-apply sends it again); where the field may change, the rules
    // decide it again. Any other stored image is left alone (storedImages). Not a ReplicaSet's: the
    // Deployment controller copies its Deployment's annotations onto it, so the record is not its
    // own (a ReplicaSet made during the outage from the upstream template, orphaned later), and
    // its template changed in place would only stop naming what its Pods run.
    if (s.subresource || type.kind === 'ReplicaSet' || immutableOnUpdate(type, field) || field.containerList === 'ephemeralContainers') return undefined;
    if (recordedBefore(s).get(key) !== field.image) return undefined;
  }
  const planned = planImage(field, rewriter, namespace);
  // A re-applied manifest sends the upstream image the webhook rewrote when the object was
  // stored (kubectl apply's and server-side apply's patches set every field the manifest has).
  // Once the rules have changed, their result is not the stored image; where the API server
  // refuses any change (a Job's template), that result would turn the re-apply of an unchanged
  // manifest into "field is immutable". The stored rewrite of that same original is kept instead.
  // When the rules still give the stored image (any field), it is marked stored too: the object
  // already runs it, and an existence check could only withhold it (a registry outage, a tag
  // deleted since) and send the upstream image: for a Job's template a re-apply refused as
  // immutable, for a Deployment or a Pod a rollout or container restart to upstream that nobody
  // asked for, at every GitOps sync during the outage, and another one back after it.
  if (planned?.outcome === 'rewrite' && storedImage !== undefined) {
    if (storedImage === field.image) return { ...planned, running: true };
    if (planned.to === storedImage) return { ...planned, stored: true };
    if (immutableOnUpdate(type, field) && recordedBefore(s).get(key) === field.image) return { ...planned, to: storedImage, stored: true, ruleTo: planned.to };
  } else if (storedImage !== undefined && immutableOnUpdate(type, field)) {
    // The same re-apply once no rule rewrites that original (the rule removed, an exclude or a
    // namespace limit added, a result now refused): left as it is, it is refused just the same.
    if (recordedBefore(s).get(key) === field.image) return { outcome: 'kept', kept: { field, to: storedImage } };
  }
  return planned;
}

/**
 * Decide what to do with one AdmissionReview: `body` is the parsed JSON of the request body (any
 * value). Returns `{ ok: false, status: 400, message }` with one of the fixed `BAD_REQUEST`
 * messages when it is not an AdmissionReview this webhook can answer, else the plan. Never throws.
 */
export function decide(body: unknown, rewriter: Rewriter, options: ReviewOptions = {}): Decision {
  const parsed = parseAdmissionReview(body);
  if (!parsed.ok) return { ok: false, status: 400, message: parsed.message };
  const request = parsed.request;
  const type = workloadTypeOf(request.kind, request.resource, request.subResource);
  const skipped = skipReason(request, type, rewriter.allowOptOut, options);
  const object = request.object;
  if (skipped !== undefined || object === undefined || type === undefined) {
    return { ok: true, plan: { request, options, skipped, target: undefined, images: [], malformed: [] } };
  }
  // kubectl debug: only the ephemeral containers of a pods/ephemeralcontainers update are kept
  // (its volumes, image volumes included, are the stored Pod's).
  const subresource = request.subResource !== '';
  const found = findImages(object, type, subresource ? ['ephemeralContainers'] : undefined);
  const stored = storedImages(request, type);
  const namespace = request.namespace ?? stringOrUndefined(own(own(object, 'metadata'), 'namespace'));
  const images: PlannedImage[] = [];
  const kept: KeptImage[] = [];
  const update: StoredState | undefined = stored.size > 0 ? { request, type, subresource, stored, recordedBefore: undefined } : undefined;
  for (const field of found.images) {
    // A CREATE (or an UPDATE of an object that stored no image) asks the rules only; the UPDATE
    // rules are a function of their own, which keeps this loop small for V8 on the hot path.
    const decided = update === undefined ? planImage(field, rewriter, namespace) : planStored(field, update, rewriter, namespace);
    if (decided === undefined) continue;
    if (decided.outcome === 'kept') kept.push(decided.kept);
    else images.push(decided);
  }
  const target: ReviewTarget = { object, type, podSpec: { podSpec: found.podSpec, podSpecPointer: found.podSpecPointer }, subresource };
  const plan: Mutable<ReviewPlan> = { request, options, skipped: undefined, target, images, malformed: found.problems };
  if (kept.length > 0) plan.kept = kept;
  // The subresource cannot change metadata; render writes no originals for it.
  const stale = subresource || options.recordOriginals === false ? [] : staleOriginals(request, object, found.images, stored, rewriter, namespace);
  if (stale.length > 0) plan.staleOriginals = stale;
  // Only a webhook writes it during a request (an update built from a manifest leaves it out, or keeps it).
  const originals = originalsText(object);
  if (!subresource && typeof originals === 'string' && originals !== originalsText(request.oldObject)) plan.reinvocation = true;
  return { ok: true, plan };
}

/** A non-empty string, else undefined. */
export function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
