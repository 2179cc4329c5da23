/**
 * The admission decision: an AdmissionReview (admission.k8s.io/v1 or v1beta1) in, the
 * AdmissionReview to send back out, with a JSON Patch that replaces only the images that change.
 *
 * Pure: no AWS, no HTTP, no environment. Never throws: a body that is not an AdmissionReview is a
 * `{ ok: false, status: 400 }` value with a fixed message; a bad pod spec is reported and otherwise
 * left alone. Every answer is `allowed: true`: this webhook mutates, it never denies.
 *
 * Decisions (the constants below are the names other modules use):
 * - Only CREATE and UPDATE of the kinds in ./workload.ts are rewritten. For the
 *   `pods/ephemeralcontainers` subresource (`kubectl debug`) only ephemeralContainers are looked
 *   at, since the API server keeps everything else of the stored Pod, metadata included.
 * - `image-rewriter.io/original-images` goes on the object's own metadata, for workloads too (an
 *   annotation on the pod template would roll the workload out again, and pods made from a
 *   rewritten template have nothing left to rewrite, so they carry no such annotation): a JSON map
 *   `"<list>/<containerName>"` (`"<list>/[<index>]"` without a name) -> original image. Entries are
 *   written only for images rewritten now, so a reinvocation (image already rewritten) keeps the
 *   first original, and an UPDATE that sets a new upstream image records that one; other entries
 *   are kept; an existing value that is not a JSON map of strings is replaced. Not written for
 *   the ephemeralcontainers subresource (the API server would drop it).
 * - One admission warning per rewrite, invalid image and rejected rule result (kubectl prints
 *   them), at most MAX_WARNINGS, printable ASCII, about WARNING_TARGET_LENGTH characters.
 * - auditAnnotations `rewrites` and `invalid`: compact JSON lists under
 *   MAX_AUDIT_ANNOTATION_BYTES (the API server prefixes the keys with the webhook's name).
 * - A rule's `imagePullSecrets` are added to the pod spec (Pod or template) whose image it
 *   rewrote, each name once, after the ones already listed. Not on a Pod UPDATE or subresource:
 *   the API server rejects a change of a Pod's imagePullSecrets, so a warning says so instead.
 * - Opt-out: label or annotation `image-rewriter.io/skip: "true"` (exactly) on the object or on its
 *   pod template (whose labels become the pods' labels). Mirror (static) pods are never mutated.
 */
import { add, encodePatch, type JsonValue, type PatchOperation, pointer, replace } from './patch.js';
import type { CompiledRule, Rewriter } from './rules.js';
import {
  type ContainerList,
  type FieldProblem,
  findImages,
  type GroupVersionKind,
  type GroupVersionResource,
  type ImageField,
  isRecord,
  own,
  at,
  workloadTypeOf,
} from './workload.js';

// --- constants shared with the webhook configuration generator ---------------------------------

/** The apiVersions of AdmissionReview this webhook answers (v1 first: the one to register). */
export const ADMISSION_REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_REVIEW_VERSIONS)[number];

/** Annotation on the mutated object: JSON map `"<list>/<containerName>"` -> original image. */
export const ORIGINAL_IMAGES_ANNOTATION = 'image-rewriter.io/original-images';
/** Opt-out label (and annotation) key; the object is left alone when its value is `SKIP_VALUE`. */
export const SKIP_LABEL = 'image-rewriter.io/skip';
export const SKIP_ANNOTATION = SKIP_LABEL;
export const SKIP_VALUE = 'true';
/** Set by the kubelet on the API copy of a static pod; such pods are never mutated. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
/** auditAnnotations keys (the API server prefixes them with `<webhook name>/`). */
export const AUDIT_REWRITES_KEY = 'rewrites';
export const AUDIT_INVALID_KEY = 'invalid';
/** Every warning starts with this. */
export const WARNING_PREFIX = 'image-rewriter: ';
/** Kubernetes asks for warnings of at most 120 characters "if possible"; over 256 they may be cut. */
export const WARNING_TARGET_LENGTH = 120;
export const WARNING_MAX_LENGTH = 256;
/** At most this many warnings (the last one then says how many more there were). */
export const MAX_WARNINGS = 30;
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

// --- the answer -----------------------------------------------------------------------------------

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: true;
  /** Present (with `patch`) only when something changes. */
  readonly patchType?: 'JSONPatch';
  /** Base64 of the JSON Patch (RFC 6902). */
  readonly patch?: string;
  readonly warnings?: readonly string[];
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

/** The AdmissionReview to send back, in the request's apiVersion. */
export interface AdmissionReviewAnswer {
  readonly apiVersion: AdmissionApiVersion;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

export interface RewriteRecord {
  readonly containerName: string | undefined;
  readonly list: ContainerList;
  readonly pointer: string;
  readonly from: string;
  readonly to: string;
  readonly rule: string;
}

export interface InvalidRecord {
  readonly containerName: string | undefined;
  readonly list: ContainerList;
  readonly pointer: string;
  readonly image: string;
  readonly error: string;
  /** Set when the image is valid but the result of this rule is not (or would be rewritten again). */
  readonly rule?: string;
}

export type SkipReason = 'operation' | 'no-object' | 'unsupported-kind' | 'opt-out' | 'mirror-pod';

/** What happened, for logs and metrics; never sent to the API server. */
export interface ReviewReport {
  readonly uid: string;
  /** `group/version/Kind` of request.kind (`v1/Pod` for the core group). */
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly operation: Operation;
  readonly rewrites: readonly RewriteRecord[];
  /** Images that do not parse, and rule results that are not valid references (with `rule`). */
  readonly invalid: readonly InvalidRecord[];
  /** Fields that are not what the API server would send (an image that is not a string, ...), skipped. */
  readonly malformed: readonly FieldProblem[];
  readonly skipped?: SkipReason;
}

export interface ReviewOptions {
  /** Record the original images in the `image-rewriter.io/original-images` annotation (default true). */
  readonly recordOriginals?: boolean;
}

export type ReviewOutcome =
  | { readonly ok: true; readonly response: AdmissionReviewAnswer; readonly report: ReviewReport }
  | { readonly ok: false; readonly status: 400; readonly message: string };

// --- parsing the request ---------------------------------------------------------------------------

const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
export type Operation = (typeof OPERATIONS)[number];

interface ParsedRequest {
  readonly apiVersion: AdmissionApiVersion;
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource: GroupVersionResource;
  readonly subResource: string;
  readonly operation: Operation;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  /** The object, or undefined when absent or null. */
  readonly object: Readonly<Record<string, unknown>> | undefined;
  /** The stored object of an UPDATE; anything but an object is ignored (it is only compared with). */
  readonly oldObject: Readonly<Record<string, unknown>> | undefined;
}

type Parsed = { readonly ok: true; readonly request: ParsedRequest } | { readonly ok: false; readonly message: string };

const isApiVersion = (v: unknown): v is AdmissionApiVersion => ADMISSION_REVIEW_VERSIONS.some((a) => a === v);
const isOperation = (v: unknown): v is Operation => OPERATIONS.some((o) => o === v);

/** `{group, version, <third>}` with string fields; an absent group is the core group (''). */
function groupVersion(value: unknown, third: 'kind' | 'resource'): { group: string; version: string; name: string } | undefined {
  const group = own(value, 'group') ?? '';
  const version = own(value, 'version');
  const name = own(value, third);
  if (typeof group !== 'string' || typeof version !== 'string' || typeof name !== 'string') return undefined;
  return { group, version, name };
}

/** An optional string field: absent or null is undefined, a string is itself, anything else fails. */
function optionalString(value: unknown): { ok: true; value: string | undefined } | { ok: false } {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  return typeof value === 'string' ? { ok: true, value } : { ok: false };
}

function parseReview(body: unknown): Parsed {
  const fail = (message: string): Parsed => ({ ok: false, message });
  if (!isRecord(body)) return fail(BAD_REQUEST.notObject);
  const apiVersion = own(body, 'apiVersion');
  if (!isApiVersion(apiVersion)) return fail(BAD_REQUEST.apiVersion);
  if (own(body, 'kind') !== 'AdmissionReview') return fail(BAD_REQUEST.kind);
  const request = own(body, 'request');
  if (!isRecord(request)) return fail(BAD_REQUEST.request);
  const uid = own(request, 'uid');
  if (typeof uid !== 'string' || uid === '') return fail(BAD_REQUEST.uid);
  const kind = groupVersion(own(request, 'kind'), 'kind');
  if (kind === undefined) return fail(BAD_REQUEST.requestKind);
  const resource = groupVersion(own(request, 'resource'), 'resource');
  if (resource === undefined) return fail(BAD_REQUEST.resource);
  const subResource = optionalString(own(request, 'subResource'));
  if (!subResource.ok) return fail(BAD_REQUEST.subResource);
  const operation = own(request, 'operation');
  if (!isOperation(operation)) return fail(BAD_REQUEST.operation);
  const namespace = optionalString(own(request, 'namespace'));
  if (!namespace.ok) return fail(BAD_REQUEST.namespace);
  const name = optionalString(own(request, 'name'));
  if (!name.ok) return fail(BAD_REQUEST.name);
  const object = own(request, 'object');
  if (object !== undefined && object !== null && !isRecord(object)) return fail(BAD_REQUEST.object);
  const oldObject = own(request, 'oldObject');
  return {
    ok: true,
    request: {
      apiVersion,
      uid,
      kind: { group: kind.group, version: kind.version, kind: kind.name },
      resource: { group: resource.group, version: resource.version, resource: resource.name },
      subResource: subResource.value ?? '',
      operation,
      namespace: namespace.value === '' ? undefined : namespace.value,
      name: name.value === '' ? undefined : name.value,
      object: object ?? undefined,
      oldObject: isRecord(oldObject) ? oldObject : undefined,
    },
  };
}

// --- warnings -------------------------------------------------------------------------------------

/** Untrusted text made printable ASCII (control and non-ASCII UTF-16 units as `\uXXXX`, like JSON). */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
const NOT_PRINTABLE = /[^\x20-\x7e]/;

/** `sha256:0123456789abcdef...` (64 hex) -> `sha256:01234567...` inside a reference or message. */
function abbreviateDigests(s: string): string {
  // A digest has at least 32 hex digits in a row; most texts have none, and this test is linear
  // where the replacement's pattern retries at every word of a long registry host.
  if (!HEX_RUN.test(s)) return s;
  return s.replace(/\b([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-fA-F0-9]{8})[a-fA-F0-9]{24,}/g, '$1:$2...');
}
const HEX_RUN = /[a-fA-F0-9]{32}/;

/** Cuts that would remove only a few characters are not worth the lost text. */
const MIN_CUT = 6;
/** No variable part is cut below this many characters. */
const MIN_PART = 40;
/** Longer untrusted text is cut before any work is done on it. */
const MAX_PART_INPUT = 1024;

type Cut = 'middle' | 'start';

/**
 * Cut `s` to about `max` characters. `'middle'` keeps the start and, when short enough, the last
 * path component with its tag or digest (`123456789012.dkr.ecr.us-w.../nginx:1.26`); `'start'`
 * keeps the end (`...repository name (Nginx) must be lowercase`), where messages say what is wrong.
 */
function ellipsize(s: string, max: number, cut: Cut): string {
  if (s.length - max < MIN_CUT) return s;
  const keep = Math.max(max - 3, 2);
  if (cut === 'start') return `...${s.slice(s.length - keep)}`;
  const lastSlash = s.lastIndexOf('/');
  const at = s.indexOf('@', lastSlash + 1);
  const tagOrDigest = at >= 0 ? at : s.indexOf(':', lastSlash + 1);
  // The tail from the last `/`, else from the tag or digest, when it is short enough.
  const tailFrom = (i: number): number | undefined => (i > 0 && s.length - i <= keep * 0.6 ? s.length - i : undefined);
  const tail = tailFrom(lastSlash) ?? tailFrom(tagOrDigest) ?? Math.floor(keep * 0.4);
  return `${s.slice(0, keep - tail)}...${s.slice(s.length - tail)}`;
}

/**
 * A variable part of a warning. Images and messages (`level` 0) are shortened before container
 * and rule names (`level` 1); `cut` says which end of it to keep.
 */
export interface WarningPart {
  readonly text: string;
  readonly level: 0 | 1;
  readonly cut?: Cut;
}

/** A segment of a warning being fitted: fixed text, or a variable part that may be shortened. */
interface Piece {
  readonly fixed: boolean;
  text: string;
  readonly level: 0 | 1;
  readonly cut: Cut;
}

const LEVELS = [0, 1] as const;

/**
 * A warning from fixed text and variable parts, kept within WARNING_TARGET_LENGTH where that
 * leaves it readable: digests are abbreviated first, then the longest images or messages are cut
 * (not below MIN_PART), then container and rule names. Whatever remains over the target is
 * accepted up to WARNING_MAX_LENGTH, where the API server starts cutting; past that it is cut.
 */
export function fitWarning(segments: readonly (string | WarningPart)[]): string {
  // Most warnings are short and printable as they are: then nothing below would change them.
  let joined = '';
  for (const s of segments) joined += typeof s === 'string' ? s : s.text;
  if (joined.length <= WARNING_TARGET_LENGTH && !NOT_PRINTABLE.test(joined)) return joined;
  // Lengths are kept as a running sum: the text is joined once, at the end.
  const parts: Piece[] = [];
  let length = 0;
  for (const s of segments) {
    const p: Piece =
      typeof s === 'string'
        ? { fixed: true, text: s, level: 0, cut: 'middle' }
        : { fixed: false, text: printable(s.text.slice(0, MAX_PART_INPUT)), level: s.level, cut: s.cut ?? 'middle' };
    parts.push(p);
    length += p.text.length;
  }
  if (length > WARNING_TARGET_LENGTH) {
    length = 0;
    for (const p of parts) {
      if (!p.fixed) p.text = abbreviateDigests(p.text);
      length += p.text.length;
    }
  }
  for (const level of LEVELS) {
    const excess = length - WARNING_TARGET_LENGTH;
    if (excess <= 0) break;
    const group = parts.filter((p) => !p.fixed && p.level === level);
    const removed = (cap: number): number => {
      let sum = 0;
      for (const p of group) sum += Math.max(0, p.text.length - Math.max(cap, MIN_PART));
      return sum;
    };
    // The largest cap that removes at least `excess` characters (or as many as the floor allows).
    let lo = 0;
    let hi = 0;
    for (const p of group) hi = Math.max(hi, p.text.length);
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (removed(mid) >= excess) lo = mid;
      else hi = mid - 1;
    }
    for (const p of group) {
      length -= p.text.length;
      p.text = ellipsize(p.text, Math.max(lo, MIN_PART), p.cut);
      length += p.text.length;
    }
  }
  let text = '';
  for (const p of parts) text += p.text;
  return text.length <= WARNING_MAX_LENGTH ? text : `${text.slice(0, WARNING_MAX_LENGTH - 3)}...`;
}

function containerLabel(f: ImageField): string {
  return `${f.containerList}[${f.containerName ?? `#${f.index}`}]`;
}

function limitWarnings(warnings: readonly string[]): string[] {
  if (warnings.length <= MAX_WARNINGS) return [...warnings];
  const kept = warnings.slice(0, MAX_WARNINGS - 1);
  kept.push(`${WARNING_PREFIX}${warnings.length - kept.length} more warnings not shown (see the ${ORIGINAL_IMAGES_ANNOTATION} annotation)`);
  return kept;
}

// --- annotations and audit annotations -------------------------------------------------------------

/** The key of a container in the original-images map: `containers/nginx` (`containers/[0]` without a name). */
export function originalImagesKey(f: Pick<ImageField, 'containerList' | 'containerName' | 'index'>): string {
  return `${f.containerList}/${f.containerName ?? `[${f.index}]`}`;
}

/** UTF-8 length of `s`, as TextEncoder counts it (a lone surrogate becomes U+FFFD, 3 bytes), without encoding it. */
function byteLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/** Compact JSON of as many leading entries as fit in MAX_AUDIT_ANNOTATION_BYTES, plus how many were left out. */
function auditValue(entries: readonly JsonValue[]): string {
  // Usually all of it fits: one stringify gives the same text as the entries joined below.
  const whole = JSON.stringify(entries);
  if (whole.length <= MAX_AUDIT_ANNOTATION_BYTES / 3 || byteLength(whole) <= MAX_AUDIT_ANNOTATION_BYTES) return whole;
  const omittedNote = (n: number): string => (n === 0 ? '' : `,{"omitted":${n}}`);
  let body = '';
  let bodyBytes = 0;
  let used = 0;
  for (const entry of entries) {
    const piece = (used === 0 ? '' : ',') + JSON.stringify(entry);
    const pieceBytes = byteLength(piece);
    const rest = entries.length - used - 1;
    // The bytes of `[${body}${piece}${omittedNote(rest)}]`; the note is ASCII.
    if (2 + bodyBytes + pieceBytes + omittedNote(rest).length > MAX_AUDIT_ANNOTATION_BYTES) break;
    body += piece;
    bodyBytes += pieceBytes;
    used++;
  }
  if (used === entries.length) return `[${body}]`;
  return `[${body}${used === 0 ? omittedNote(entries.length).slice(1) : omittedNote(entries.length - used)}]`;
}

/** The entries of an existing original-images annotation, or undefined when it is not a JSON map of strings. */
function parseOriginals(value: string): Map<string, string> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed)) return undefined;
  const map = new Map<string, string>();
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') return undefined;
    map.set(k, v);
  }
  return map;
}

/** The ops that record `rewrites` in the original-images annotation of `object`. */
function originalImagesOps(object: Readonly<Record<string, unknown>>, rewrites: readonly Rewrite[], malformed: FieldProblem[]): PatchOperation[] {
  const metadata = own(object, 'metadata');
  const fresh = new Map<string, string>();
  for (const r of rewrites) {
    const key = originalImagesKey(r.field);
    if (!fresh.has(key)) fresh.set(key, r.field.image);
  }
  const json = (map: ReadonlyMap<string, string>): string => JSON.stringify(Object.fromEntries(map));
  if (metadata === undefined || metadata === null) {
    return [add('/metadata', { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: json(fresh) } })];
  }
  if (!isRecord(metadata)) {
    malformed.push({ pointer: '/metadata', problem: 'is not an object; original images not recorded' });
    return [];
  }
  const annotations = own(metadata, 'annotations');
  if (annotations === undefined || annotations === null) {
    return [add('/metadata/annotations', { [ORIGINAL_IMAGES_ANNOTATION]: json(fresh) })];
  }
  const path = pointer(['metadata', 'annotations', ORIGINAL_IMAGES_ANNOTATION]);
  if (!isRecord(annotations)) {
    malformed.push({ pointer: '/metadata/annotations', problem: 'is not an object; original images not recorded' });
    return [];
  }
  const existing = own(annotations, ORIGINAL_IMAGES_ANNOTATION);
  if (existing === undefined) return [add(path, json(fresh))];
  const previous = typeof existing === 'string' ? parseOriginals(existing) : undefined;
  if (previous === undefined) {
    malformed.push({ pointer: path, problem: 'is not a JSON map of strings; replaced' });
    return [replace(path, json(fresh))];
  }
  // An image rewritten now is the original of what will run, so its entry is (re)written; entries
  // of containers not rewritten now (already rewritten on an earlier call) are kept.
  const merged = new Map(previous);
  for (const [k, v] of fresh) merged.set(k, v);
  if (json(merged) === existing) return [];
  return [replace(path, json(merged))];
}

/** The names in `wanted` that the pod spec's imagePullSecrets list lacks (all of them when it has none). */
function missingPullSecrets(podSpec: Readonly<Record<string, unknown>>, wanted: readonly string[]): readonly string[] {
  const existing = own(podSpec, 'imagePullSecrets');
  if (!Array.isArray(existing)) return wanted;
  const entries: readonly unknown[] = existing;
  const have = new Set(entries.map((e) => own(e, 'name')));
  return wanted.filter((name) => !have.has(name));
}

/** The ops that add the rules' imagePullSecrets missing from the pod spec (no duplicates). */
function pullSecretOps(
  podSpec: Readonly<Record<string, unknown>>,
  podSpecPointer: string,
  wanted: readonly string[],
  malformed: FieldProblem[],
): PatchOperation[] {
  const listPointer = `${podSpecPointer}/imagePullSecrets`;
  const existing = own(podSpec, 'imagePullSecrets');
  const missing = missingPullSecrets(podSpec, wanted);
  if (missing.length === 0) return [];
  if (existing === undefined || existing === null) return [add(listPointer, missing.map((name) => ({ name })))];
  if (!Array.isArray(existing)) {
    malformed.push({ pointer: listPointer, problem: 'is not a list; imagePullSecrets not added' });
    return [];
  }
  return missing.map((name) => add(`${listPointer}/-`, { name }));
}

// --- review ---------------------------------------------------------------------------------------

interface Rewrite {
  readonly field: ImageField;
  readonly to: string;
  readonly rule: CompiledRule;
}

const skipValue = (meta: unknown, field: 'labels' | 'annotations'): boolean => own(own(meta, field), SKIP_LABEL) === SKIP_VALUE;

/**
 * Answer one AdmissionReview.
 *
 * `body` is the parsed JSON of the request body (any value). Returns `{ ok: false, status: 400,
 * message }` with a fixed, clear message (one of `BAD_REQUEST`) when it is not an AdmissionReview
 * this webhook can answer; otherwise `{ ok: true, response, report }`, where `response` is the
 * AdmissionReview to send with HTTP 200 (always `allowed: true`; `patchType`/`patch` only when
 * something changes) and `report` says what was done. Never throws.
 */
export function review(body: unknown, rewriter: Rewriter, options: ReviewOptions = {}): ReviewOutcome {
  const parsed = parseReview(body);
  if (!parsed.ok) return { ok: false, status: 400, message: parsed.message };
  const req = parsed.request;
  const rewrites: RewriteRecord[] = [];
  const invalid: InvalidRecord[] = [];
  const malformed: FieldProblem[] = [];
  // No object spreads here: in Node 20 a spread inside a literal with other properties takes
  // V8's generic copy, microseconds per call on this hot path.
  const report = (skipped?: SkipReason): ReviewReport => {
    const r: Mutable<ReviewReport> = {
      uid: req.uid,
      kind: `${req.kind.group === '' ? '' : `${req.kind.group}/`}${req.kind.version}/${req.kind.kind}`,
      namespace: req.namespace,
      name: req.name ?? stringOrUndefined(at(req.object, ['metadata', 'name'])),
      operation: req.operation,
      rewrites,
      invalid,
      malformed,
    };
    if (skipped !== undefined) r.skipped = skipped;
    return r;
  };
  const answer = (response: Omit<AdmissionResponse, 'uid' | 'allowed'> = {}): AdmissionReviewAnswer => {
    const full: Mutable<AdmissionResponse> = { uid: req.uid, allowed: true };
    if (response.patchType !== undefined) full.patchType = response.patchType;
    if (response.patch !== undefined) full.patch = response.patch;
    if (response.warnings !== undefined) full.warnings = response.warnings;
    if (response.auditAnnotations !== undefined) full.auditAnnotations = response.auditAnnotations;
    return { apiVersion: req.apiVersion, kind: 'AdmissionReview', response: full };
  };
  const skip = (reason: SkipReason): ReviewOutcome => ({ ok: true, response: answer(), report: report(reason) });

  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return skip('operation');
  const object = req.object;
  if (object === undefined) return skip('no-object');
  const type = workloadTypeOf(req.kind, req.resource, req.subResource);
  if (type === undefined) return skip('unsupported-kind');
  const metadata = own(object, 'metadata');
  const template = type.templateMetadataPath === undefined ? undefined : at(object, type.templateMetadataPath);
  for (const meta of [metadata, template]) {
    if (skipValue(meta, 'labels') || skipValue(meta, 'annotations')) return skip('opt-out');
  }
  if (type.kind === 'Pod' && own(own(metadata, 'annotations'), MIRROR_POD_ANNOTATION) !== undefined) return skip('mirror-pod');

  // kubectl debug: only the ephemeral containers of a pods/ephemeralcontainers update are kept.
  const subresource = req.subResource !== '';
  const found = findImages(object, type, subresource ? ['ephemeralContainers'] : undefined);
  malformed.push(...found.problems);
  // On UPDATE only images the update changes are rewritten. An image already stored (the object was
  // created while the webhook was down, or before a rule existed) is left alone: patching it would
  // turn an unrelated update (a label, a finalizer removed by the garbage collector) into a change
  // of an immutable field (a Job's template, existing ephemeral containers) that the API server
  // rejects, or into an unasked-for rollout.
  const stored = new Map<string, string>();
  if (req.operation === 'UPDATE' && req.oldObject !== undefined) {
    for (const f of findImages(req.oldObject, type).images) stored.set(originalImagesKey(f), f.image);
  }
  const namespace = req.namespace ?? stringOrUndefined(own(metadata, 'namespace'));
  const done: Rewrite[] = [];
  const warnings: string[] = [];
  const invalidAudit: JsonValue[] = [];
  for (const field of found.images) {
    if (stored.get(originalImagesKey(field)) === field.image) continue;
    const r = rewriter.rewrite(field.image, { namespace });
    // Records are written out field by field: spreading a shared `where` object into each was the
    // slowest line of the review (V8 copies it through a generic path).
    const { containerName, containerList: list, pointer: fieldPointer } = field;
    switch (r.kind) {
      case 'unchanged':
        break;
      case 'rewritten':
        done.push({ field, to: r.rewritten, rule: r.rule });
        rewrites.push({ containerName, list, pointer: fieldPointer, from: field.image, to: r.rewritten, rule: r.rule.name });
        warnings.push(
          fitWarning([
            `${WARNING_PREFIX}rewrote `,
            { text: containerLabel(field), level: 1 },
            ' ',
            { text: field.image, level: 0 },
            ' -> ',
            { text: r.rewritten, level: 0 },
            ' (rule ',
            { text: r.rule.name, level: 1 },
            ')',
          ]),
        );
        break;
      case 'invalid':
        invalid.push({ containerName, list, pointer: fieldPointer, image: field.image, error: r.error });
        invalidAudit.push({ container: originalImagesKey(field), image: field.image, error: r.error });
        warnings.push(
          fitWarning([
            `${WARNING_PREFIX}image `,
            { text: JSON.stringify(field.image), level: 0 },
            ' of ',
            { text: containerLabel(field), level: 1 },
            ' is not a valid reference, left unchanged: ',
            { text: r.error, level: 0, cut: 'start' },
          ]),
        );
        break;
      case 'rejected':
        invalid.push({ containerName, list, pointer: fieldPointer, image: field.image, error: r.error, rule: r.rule.name });
        invalidAudit.push({ container: originalImagesKey(field), image: field.image, rule: r.rule.name, error: r.error });
        warnings.push(
          fitWarning([
            `${WARNING_PREFIX}left `,
            { text: containerLabel(field), level: 1 },
            ' ',
            { text: field.image, level: 0 },
            ' unchanged (rule ',
            { text: r.rule.name, level: 1 },
            '): ',
            { text: r.error, level: 0, cut: 'start' },
          ]),
        );
        break;
    }
  }

  const ops: PatchOperation[] = done.map((d) => replace(d.field.pointer, d.to));
  if (done.length > 0 && options.recordOriginals !== false && !subresource) ops.push(...originalImagesOps(object, done, malformed));
  // Each name once, in order of first use.
  const wanted: string[] = [];
  for (const d of done) for (const name of d.rule.imagePullSecrets) if (!wanted.includes(name)) wanted.push(name);
  if (wanted.length > 0 && found.podSpec !== undefined) {
    if (type.kind === 'Pod' && (req.operation === 'UPDATE' || subresource)) {
      // The API server rejects a Pod update that changes spec.imagePullSecrets.
      const missing = missingPullSecrets(found.podSpec, wanted);
      if (missing.length > 0) {
        warnings.push(
          fitWarning([
            `${WARNING_PREFIX}imagePullSecrets `,
            { text: missing.join(','), level: 0 },
            " not added: a Pod's imagePullSecrets cannot change after it is created",
          ]),
        );
      }
    } else {
      ops.push(...pullSecretOps(found.podSpec, found.podSpecPointer, wanted, malformed));
    }
  }

  const auditAnnotations: Record<string, string> = {};
  if (rewrites.length > 0) {
    auditAnnotations[AUDIT_REWRITES_KEY] = auditValue(
      done.map((d) => ({ container: originalImagesKey(d.field), from: d.field.image, to: d.to, rule: d.rule.name })),
    );
  }
  if (invalidAudit.length > 0) auditAnnotations[AUDIT_INVALID_KEY] = auditValue(invalidAudit);

  // Only the fields that apply, in this order (the order of the JSON the API server gets).
  const response: Mutable<Omit<AdmissionResponse, 'uid' | 'allowed'>> = {};
  if (ops.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = encodePatch(ops);
  }
  if (warnings.length > 0) response.warnings = limitWarnings(warnings);
  if (rewrites.length > 0 || invalidAudit.length > 0) response.auditAnnotations = auditAnnotations;
  return { ok: true, response: answer(response), report: report() };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
