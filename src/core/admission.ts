/**
 * The admission contract: the names, limits and types of the answer this webhook gives to an
 * AdmissionReview (admission.k8s.io/v1 or v1beta1). The review itself is src/core/review.ts
 * (decide, then render); docs/design.md describes the answer.
 *
 * Decisions (the constants below are the names other modules use):
 * - Only CREATE and UPDATE of the kinds in ./workload.ts are rewritten. For the
 *   `pods/ephemeralcontainers` subresource (`kubectl debug`) only ephemeralContainers are looked
 *   at, since the API server keeps everything else of the stored Pod, metadata included.
 * - `image-rewriter.io/original-images` goes on the object's own metadata, for workloads too (an
 *   annotation on the pod template would roll the workload out again, and pods made from a
 *   rewritten template have nothing left to rewrite, so they carry no such annotation): a JSON map
 *   `"<list>/<containerName>"` (`"<list>/[<index>]"` without a name; `"volumes/<volumeName>"` for an
 *   image volume) -> original image. Entries are
 *   written only for images rewritten now, so a reinvocation (image already rewritten) keeps the
 *   first original, and an UPDATE that sets a new upstream image records that one; other entries
 *   are kept, except those an UPDATE leaves stale (the container removed, or given an image that
 *   is not the rules' result for its recorded original); an existing value that is not a JSON map
 *   of strings is replaced. Not written for
 *   the ephemeralcontainers subresource (the API server would drop it).
 * - One admission warning per rewrite, invalid image and rejected rule result (kubectl prints
 *   them), at most MAX_WARNINGS and MAX_WARNINGS_LENGTH characters in all, printable ASCII,
 *   about WARNING_TARGET_LENGTH characters each.
 * - auditAnnotations `rewrites` and `invalid`: compact JSON lists under
 *   MAX_AUDIT_ANNOTATION_BYTES (the API server prefixes the keys with the webhook's name). A call
 *   that finds the original-images annotation written during the request (a reinvocation, after
 *   a later webhook changed the object: a sidecar injector) uses `reinvocation-rewrites` and
 *   `reinvocation-invalid`: the API server refuses to overwrite a key the first call set, and
 *   would drop the record of what the second call rewrote (not recognised after an UPDATE whose
 *   first call only put back what was stored: docs/design.md, "The admission answer").
 * - A rule's `imagePullSecrets` are added to the pod spec (Pod or template) whose image it
 *   rewrote, each name once, after the ones already listed. Not on a Pod UPDATE or subresource:
 *   the API server rejects a change of a Pod's imagePullSecrets, so a warning says so instead.
 * - Opt-out: label or annotation `image-rewriter.io/skip: "true"` (exactly) on the object or on its
 *   pod template (whose labels become the pods' labels). Mirror (static) pods are never mutated.
 * - A ReplicaSet controlled by a Deployment is never mutated: the Deployment controller finds its
 *   ReplicaSet by comparing their templates, and a rewritten copy of a template left unrewritten
 *   (an opted-out Deployment, one stored while the webhook was down or whose image an update left
 *   as it was) would never match, so it would create ReplicaSet after ReplicaSet (a hash collision
 *   loop). The rewrite belongs to the Deployment; the ReplicaSet's Pods are rewritten as Pods.
 *   `webhook-config --scope all` keeps the API server from sending it at all (a matchCondition).
 * - Every answer the core renders is `allowed: true`: the core mutates, it never denies. The one
 *   denial is a `verify` rule's `onMissing: deny`, answered by src/lambda/verify-step.ts.
 */
import type { FieldProblem, ImageList } from './workload.js';
import type { Base64 } from './patch.js';

/** The apiVersions of AdmissionReview this webhook answers (v1 first: the one to register). */
export const ADMISSION_REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_REVIEW_VERSIONS)[number];

export const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Annotation on the mutated object: JSON map `"<list>/<containerName>"` (`"volumes/<volumeName>"`) -> original image. */
export const ORIGINAL_IMAGES_ANNOTATION = 'image-rewriter.io/original-images';
/**
 * The API server's limit on the total size of an object's annotations, keys and values in UTF-8
 * bytes (apimachinery's TotalAnnotationSizeLimitB): it rejects an object past it, patched or not.
 */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;
/** Opt-out label (and annotation) key; the object is left alone when its value is `SKIP_VALUE`. */
export const SKIP_LABEL = 'image-rewriter.io/skip';
export const SKIP_VALUE = 'true';
/**
 * Opt-in namespace label (`webhook-config --opt-in`, the chart's `webhook.optIn`): the
 * namespaceSelector then sends only namespaces whose value is `OPT_IN_VALUE`. A selector only:
 * the handler does not read it (what reaches it was selected), and the opt-out label still wins.
 */
export const OPT_IN_LABEL = 'image-rewriter.io/rewrite';
export const OPT_IN_VALUE = 'true';
/** Set by the kubelet on the API copy of a static pod; such pods are never mutated. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
/** auditAnnotations keys (the API server prefixes them with `<webhook name>/`). */
export const AUDIT_REWRITES_KEY = 'rewrites';
export const AUDIT_INVALID_KEY = 'invalid';
/** Prefixed to those keys in a reinvocation (see above). */
export const AUDIT_REINVOCATION_PREFIX = 'reinvocation-';
/** Every warning starts with this. */
export const WARNING_PREFIX = 'image-rewriter: ';
/** Kubernetes asks for warnings of at most 120 characters "if possible"; over 256 they may be cut. */
export const WARNING_TARGET_LENGTH = 120;
export const WARNING_MAX_LENGTH = 256;
/** At most this many warnings (the last one then says how many more there were). */
export const MAX_WARNINGS = 30;
/**
 * The warnings of one answer together stay within this many characters, the counting one
 * included. The API server sends at most 4096 characters (runes) of warnings per response, for
 * every webhook and its own warnings together, and drops whatever comes after: past it the
 * warning that counts the rest was the one lost. A quarter of that is left to the others.
 */
export const MAX_WARNINGS_LENGTH = 3 * 1024;
/** Each auditAnnotation value stays below this many UTF-8 bytes. */
export const MAX_AUDIT_ANNOTATION_BYTES = 10 * 1024;

/** The fixed 400 messages, one per way a body can fail to be an AdmissionReview we answer. */
export const BAD_REQUEST = {
  notObject: 'the body must be a JSON object (an AdmissionReview)',
  apiVersion: 'apiVersion must be "admission.k8s.io/v1" or "admission.k8s.io/v1beta1"',
  kind: 'kind must be "AdmissionReview"',
  request: 'request must be an object',
  uid: 'request.uid must be a non-empty string',
  requestKind: 'request.kind must be an object with string fields "group", "version" and "kind"',
  resource: 'request.resource must be an object with string fields "group", "version" and "resource"',
  subResource: 'request.subResource must be a string',
  operation: 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT',
  namespace: 'request.namespace must be a string',
  name: 'request.name must be a string',
  object: 'request.object must be an object or null',
} as const;

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: true;
  /** Present (with `patch`) only when something changes. */
  readonly patchType?: 'JSONPatch';
  /** Base64 of the JSON Patch (RFC 6902), from `encodePatch` only. */
  readonly patch?: Base64;
  readonly warnings?: readonly string[];
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

/** The AdmissionReview to send back, in the request's apiVersion. */
export interface AdmissionReviewAnswer {
  readonly apiVersion: AdmissionApiVersion;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

/** `list` is `volumes` and `containerName` the volume's name for an image volume's image. */
export interface RewriteRecord {
  readonly containerName: string | undefined;
  readonly list: ImageList;
  readonly pointer: string;
  readonly from: string;
  readonly to: string;
  readonly rule: string;
}

export interface InvalidRecord {
  readonly containerName: string | undefined;
  readonly list: ImageList;
  readonly pointer: string;
  readonly image: string;
  readonly error: string;
  /** Set when the image is valid but the result of this rule is not (or would be rewritten again). */
  readonly rule?: string;
}

/** A planned rewrite that was not applied (see `RenderOverrides` in src/core/render.ts). */
export interface WithheldRecord extends RewriteRecord {
  readonly reason: string;
}

export type SkipReason = 'operation' | 'no-object' | 'unsupported-kind' | 'opt-out' | 'mirror-pod' | 'deployment-replicaset';

/** What happened, for logs and metrics; never sent to the API server. */
export interface ReviewReport {
  readonly uid: string;
  /** `group/version/Kind` of request.kind (`v1/Pod` for the core group). */
  readonly kind: string;
  readonly namespace: string | undefined;
  /** `request.name`, else `metadata.name`, else `metadata.generateName` (a Pod a controller makes: `web-7d9c-`). */
  readonly name: string | undefined;
  readonly operation: Operation;
  /** `request.subResource` when there is one (`ephemeralcontainers`: `kubectl debug`); absent for the object itself. */
  readonly subResource?: string;
  readonly rewrites: readonly RewriteRecord[];
  /** Images that do not parse, and rule results that are not valid references (with `rule`). */
  readonly invalid: readonly InvalidRecord[];
  /** Fields that are not what the API server would send (an image that is not a string, ...), skipped. */
  readonly malformed: readonly FieldProblem[];
  readonly skipped?: SkipReason;
  /** Planned rewrites left out by the caller of `render`; absent when there are none. */
  readonly withheld?: readonly WithheldRecord[];
  /** The request was a dry run (`request.dryRun: true`); absent otherwise. */
  readonly dryRun?: true;
}

export interface ReviewOptions {
  /** Record the original images in the `image-rewriter.io/original-images` annotation (default true). */
  readonly recordOriginals?: boolean;
  /**
   * Look at a ReplicaSet a Deployment controls like any workload (default false: the webhook leaves
   * it alone, see above). `audit` and `render` set it: they list and rewrite what the rules would
   * change in the objects given, and a ReplicaSet given without its Deployment is worth a line.
   */
  readonly includeDeploymentReplicaSets?: boolean;
}

/** A body that is not an AdmissionReview this webhook can answer: HTTP 400 with a fixed message. */
export interface BadRequest {
  readonly ok: false;
  readonly status: 400;
  readonly message: string;
}

export type ReviewOutcome = { readonly ok: true; readonly response: AdmissionReviewAnswer; readonly report: ReviewReport } | BadRequest;
