/**
 * The second phase of a review: render. A `ReviewPlan` (src/core/decide.ts) becomes the
 * AdmissionReview answer (JSON Patch, warnings, audit annotations) and the report for logs and
 * metrics. Pure and deterministic: the same plan always gives the same bytes.
 */
import {
  type AdmissionResponse,
  type AdmissionReviewAnswer,
  AUDIT_INVALID_KEY,
  AUDIT_REINVOCATION_PREFIX,
  AUDIT_REWRITES_KEY,
  type InvalidRecord,
  MAX_AUDIT_ANNOTATION_BYTES,
  MAX_WARNINGS,
  type ReviewReport,
  type RewriteRecord,
  type SkipReason,
  WARNING_PREFIX,
  type WithheldRecord,
} from './admission.js';
import { auditValue, entryJson, MAX_AUDIT_ENTRIES } from './audit-annotations.js';
import { type Mutable, type PlannedImage, type PlannedRewrite, type ReviewPlan, type ReviewTarget, stringOrUndefined } from './decide.js';
import { originalImagesKey, originalImagesOps } from './original-images.js';
import { type Base64, encodePatch, type PatchOperation, replace } from './patch.js';
import { missingPullSecrets, pullSecretOps } from './pull-secrets.js';
import { fitsAsIs, fitWarning, limitWarnings, MIN_PART, type WarningPart } from './warning-text.js';
import { at, isPlainJsonText, isRecord, stringsJson } from './json.js';
import type { FieldProblem, ImageField } from './workload.js';

/** What the caller of `render` changes in the plan. */
export interface RenderOverrides {
  /**
   * A reason to leave a planned rewrite out (the image stays as it is, a warning gives the reason,
   * the report lists it under `withheld`), or undefined to apply it.
   */
  readonly withhold?: (rewrite: PlannedRewrite) => string | undefined;
  /**
   * Warnings to add after the review's own, read once every `withhold` call is made (the
   * existence checks' "rewrote anyway"): they count among the warnings the answer can hold.
   */
  readonly warnings?: () => readonly string[];
  /**
   * A warning put before the review's own (the handler's, when the rules are not loaded): it counts
   * among the warnings the answer can hold, and is the last to be left out. Not for a skipped review.
   */
  readonly first?: string;
}

export interface Rendered {
  readonly response: AdmissionReviewAnswer;
  readonly report: ReviewReport;
}

/** The response fields besides `uid` and `allowed`. */
type ResponseFields = Omit<AdmissionResponse, 'uid' | 'allowed'>;

function containerLabel(f: ImageField): string {
  return `${f.containerList}[${f.containerName ?? `#${f.index}`}]`;
}

/** The container and its image (`<list>[<name>] <image>`), as the image warnings name them. */
const containerAndImage = (field: ImageField): (string | WarningPart)[] => [{ text: containerLabel(field), level: 1 }, ' ', { text: field.image, level: 0 }];

/** The warning for an image left as it is although a rule matched it: `rule`'s result was refused or withheld, for `why`. */
function leftUnchanged(field: ImageField, rule: string, why: string): string {
  return fitWarning([`${WARNING_PREFIX}left `, ...containerAndImage(field), ' unchanged (rule ', { text: rule, level: 1 }, '): ', { text: why, level: 0, cut: 'start' }]);
}

/** The end of a rewrite's warning for an image the kubelet never pulls (ImageField's `pullNever`). */
const PULL_NEVER_NOTE = '); pull policy Never: the node must hold the new image';

/** The admission warning for one planned image (`reason` set when its rewrite is withheld). */
function imageWarning(image: PlannedImage, reason: string | undefined, target: ReviewTarget): string {
  const { field } = image;
  switch (image.outcome) {
    case 'rewrite': {
      if (reason !== undefined) return leftUnchanged(field, image.rule.name, reason);
      if (image.ruleTo !== undefined) return keptWarning(field, image.to, ['rule ', { text: image.rule.name, level: 1 }, ' now gives ', { text: image.ruleTo, level: 2 }], target);
      // The usual warning, joined without its segments when fitWarning would give it as it is.
      const label = containerLabel(field);
      const rule = image.rule.name;
      const end = field.pullNever === true ? PULL_NEVER_NOTE : ')';
      const text = `${WARNING_PREFIX}rewrote ${label} ${field.image} -> ${image.to} (rule ${rule}${end}`;
      if (fitsAsIs(text, label.length > MIN_PART || field.image.length > MIN_PART || rule.length > MIN_PART)) return text;
      return fitWarning([
        `${WARNING_PREFIX}rewrote `,
        ...containerAndImage(field),
        ' -> ',
        // Where the image goes (which region's registry) is what the warning is for: the source is cut first.
        { text: image.to, level: 2 },
        ' (rule ',
        { text: rule, level: 1 },
        end,
      ]);
    }
    case 'invalid':
      return fitWarning([
        `${WARNING_PREFIX}image `,
        { text: JSON.stringify(field.image), level: 0 },
        ' of ',
        { text: containerLabel(field), level: 1 },
        ' is not a valid reference, left unchanged: ',
        { text: image.error, level: 0, cut: 'start' },
      ]);
    case 'rejected':
      return leftUnchanged(field, image.rule.name, image.error);
  }
}

/** Why a kept image (decide.ts, KeptImage) could not go back to what the update sends. */
const cannotChange = (target: ReviewTarget): string => (target.type.kind === 'Job' ? "a Job's pod template cannot change" : "a Pod's image volumes cannot change");

/**
 * The warning for a stored image kept on UPDATE where the field cannot change (decide.ts): `now`
 * says what the rules make of the re-applied original (nothing, or another target).
 */
function keptWarning(field: ImageField, stored: string, now: (string | WarningPart)[], target: ReviewTarget): string {
  return fitWarning([`${WARNING_PREFIX}kept `, ...containerAndImage(field), ' as the stored ', { text: stored, level: 2 }, ': ', ...now, ', and ', cannotChange(target)]);
}

/** The pull secret ops for the applied rewrites, or a warning where a Pod's list cannot change. */
function pullSecretChanges(target: ReviewTarget, operation: string, applied: readonly PlannedRewrite[], warnings: string[], malformed: FieldProblem[]): PatchOperation[] {
  const { podSpec, podSpecPointer } = target.podSpec;
  // Each name once, in order of first use; each rule's list read once, however many images it
  // rewrote (a rule's list is bounded only by the document: tested name by name against the list
  // so far, per image, a long list held a review for seconds; docs/performance.md, "Figures behind
  // the comments"). Most rules add none: nothing is built for them.
  if (!applied.some((r) => r.rule.imagePullSecrets.length > 0)) return [];
  const wantedSet = new Set<string>();
  for (const rule of new Set(applied.map((r) => r.rule))) for (const name of rule.imagePullSecrets) wantedSet.add(name);
  const wanted = [...wantedSet];
  if (wanted.length === 0 || podSpec === undefined) return [];
  // The API server rejects a Pod update that changes spec.imagePullSecrets, and any change of a
  // Job's pod template (decide.ts keeps a re-applied Job's stored image; a Secret the rule now
  // names would still make that re-apply "field is immutable").
  const pod = target.type.kind === 'Pod' && (operation === 'UPDATE' || target.subresource);
  if (pod || (target.type.kind === 'Job' && operation === 'UPDATE')) {
    const missing = missingPullSecrets(podSpec, wanted);
    if (missing.length > 0) {
      const why = pod ? "a Pod's imagePullSecrets cannot change after it is created" : "a Job's pod template cannot change after it is created";
      warnings.push(fitWarning([`${WARNING_PREFIX}imagePullSecrets `, { text: missing.join(','), level: 0 }, ` not added: ${why}`]));
      // In the review's log line too (skippedFields, which makes it a warning): the containers the
      // rule rewrote may fail to pull without them.
      malformed.push({ pointer: `${podSpecPointer}/imagePullSecrets`, problem: `${why}; ${missing.join(',')} not added`, valid: true });
    }
    return [];
  }
  return pullSecretOps(podSpec, podSpecPointer, wanted, malformed);
}

/**
 * The auditAnnotations record of an answer, which may carry its own JSON text when
 * `auditAnnotations` wrote it along with the values: `answerJson` then puts it in as it is. Its
 * keys are the annotations (the text is in a private field: not a key, not copied by a spread, not
 * compared by a test's `toEqual`); `render` makes a new one for each answer and nothing changes it
 * after. (A WeakMap from the record to its text cost more than the text saved: every young
 * WeakMap entry is work for each scavenge.)
 */
class AuditAnnotations {
  [key: string]: string;
  readonly #json: string | undefined;

  constructor(json: string | undefined) {
    this.#json = json;
  }

  static jsonOf(record: unknown): string | undefined {
    return record instanceof AuditAnnotations ? record.#json : undefined;
  }
}

/**
 * The audit value of the rewrites (`auditValue` of their entries) and, when every string in it is
 * printable ASCII without `"` and `\` (isPlainJsonText) and it fits, its JSON string text, written
 * in the same pass: a JSON list in a JSON string, every quote of it escaped, is the slowest text
 * for `JSON.stringify` (docs/performance.md, "thirteenth pass").
 */
function rewritesAudit(applied: readonly PlannedRewrite[]): { readonly value: string; readonly json: string | undefined } {
  let value = '';
  let json = '';
  let i = 0;
  for (const r of applied) {
    if (i === MAX_AUDIT_ENTRIES) break;
    const container = originalImagesKey(r.field);
    const { image: from } = r.field;
    const { to } = r;
    const rule = r.rule.name;
    if (!isPlainJsonText(container) || !isPlainJsonText(from) || !isPlainJsonText(to) || !isPlainJsonText(rule)) {
      json = '';
      break;
    }
    const comma = i++ === 0 ? '' : ',';
    value += `${comma}{"container":"${container}","from":"${from}","to":"${to}","rule":"${rule}"}`;
    json += `${comma}{\\"container\\":\\"${container}\\",\\"from\\":\\"${from}\\",\\"to\\":\\"${to}\\",\\"rule\\":\\"${rule}\\"}`;
  }
  // Plain text is ASCII: its length is its size in bytes.
  if (json !== '' && applied.length <= MAX_AUDIT_ENTRIES && value.length + 2 <= MAX_AUDIT_ANNOTATION_BYTES) return { value: `[${value}]`, json: `"[${json}]"` };
  const entries = applied.slice(0, MAX_AUDIT_ENTRIES).map((r) => entryJson({ container: originalImagesKey(r.field), from: r.field.image, to: r.to, rule: r.rule.name }));
  return { value: auditValue(entries, applied.length), json: undefined };
}

/** The auditAnnotations of the answer (keys after `prefix`), or undefined when there is nothing to record. */
function auditAnnotations(applied: readonly PlannedRewrite[], images: readonly PlannedImage[], prefix: string): Record<string, string> | undefined {
  // Entries are built for at most MAX_AUDIT_ENTRIES images of each kind; the rest are counted.
  const invalid: string[] = [];
  let invalidTotal = 0;
  for (const image of images) {
    if (image.outcome === 'rewrite') continue;
    invalidTotal++;
    if (invalid.length === MAX_AUDIT_ENTRIES) continue;
    const container = originalImagesKey(image.field);
    if (image.outcome === 'invalid') invalid.push(entryJson({ container, image: image.field.image, error: image.error }));
    else invalid.push(entryJson({ container, image: image.field.image, rule: image.rule.name, error: image.error }));
  }
  if (applied.length === 0 && invalidTotal === 0) return undefined;
  let rewrites: ReturnType<typeof rewritesAudit> | undefined;
  if (applied.length > 0) rewrites = rewritesAudit(applied);
  // The usual record, one key: its text is known (the prefix and key are plain text).
  const json = invalidTotal > 0 || rewrites?.json === undefined ? undefined : `{"${prefix}${AUDIT_REWRITES_KEY}":${rewrites.json}}`;
  const annotations = new AuditAnnotations(json);
  if (rewrites !== undefined) annotations[prefix + AUDIT_REWRITES_KEY] = rewrites.value;
  if (invalidTotal > 0) annotations[prefix + AUDIT_INVALID_KEY] = auditValue(invalid, invalidTotal);
  return annotations;
}

/** The report's records of the planned images, in their order. */
function records(images: readonly PlannedImage[], reasons: ReadonlyMap<PlannedImage, string>): { rewrites: RewriteRecord[]; invalid: InvalidRecord[]; withheld: WithheldRecord[] } {
  const rewrites: RewriteRecord[] = [];
  const invalid: InvalidRecord[] = [];
  const withheld: WithheldRecord[] = [];
  for (const image of images) {
    const { containerName, containerList: list, pointer, image: from } = image.field;
    if (image.outcome === 'rewrite') {
      const reason = reasons.get(image);
      if (reason === undefined) rewrites.push({ containerName, list, pointer, from, to: image.to, rule: image.rule.name });
      else withheld.push({ containerName, list, pointer, from, to: image.to, rule: image.rule.name, reason });
    } else if (image.outcome === 'invalid') invalid.push({ containerName, list, pointer, image: from, error: image.error });
    else invalid.push({ containerName, list, pointer, image: from, error: image.error, rule: image.rule.name });
  }
  return { rewrites, invalid, withheld };
}

function report(plan: ReviewPlan, parts: Pick<ReviewReport, 'rewrites' | 'invalid' | 'malformed'>, skipped?: SkipReason, withheld?: readonly WithheldRecord[]): ReviewReport {
  const { request } = plan;
  const r: Mutable<ReviewReport> = {
    uid: request.uid,
    kind: `${request.kind.group === '' ? '' : `${request.kind.group}/`}${request.kind.version}/${request.kind.kind}`,
    namespace: request.namespace,
    // A Pod a controller makes (ReplicaSet, Job, DaemonSet) has only a generateName: the API server
    // names it after admission, so request.name and metadata.name are both empty; its prefix
    // (`web-7d9c-`) is what tells which workload it belongs to.
    name: request.name ?? stringOrUndefined(at(request.object, ['metadata', 'name'])) ?? stringOrUndefined(at(request.object, ['metadata', 'generateName'])),
    operation: request.operation,
    rewrites: parts.rewrites,
    invalid: parts.invalid,
    malformed: parts.malformed,
  };
  if (request.subResource !== '') r.subResource = request.subResource;
  if (skipped !== undefined) r.skipped = skipped;
  if (withheld !== undefined && withheld.length > 0) r.withheld = withheld;
  if (request.dryRun) r.dryRun = true;
  return r;
}

/** The AdmissionReview answer: `uid`, `allowed`, then only the fields that apply, in this order. */
function answer(plan: ReviewPlan, fields: ResponseFields = {}): AdmissionReviewAnswer {
  const response: Mutable<AdmissionResponse> = { uid: plan.request.uid, allowed: true };
  if (fields.patchType !== undefined) response.patchType = fields.patchType;
  if (fields.patch !== undefined) response.patch = fields.patch;
  if (fields.warnings !== undefined) response.warnings = fields.warnings;
  if (fields.auditAnnotations !== undefined) response.auditAnnotations = fields.auditAnnotations;
  return { apiVersion: plan.request.apiVersion, kind: 'AdmissionReview', response };
}

/** The keys of an answer and of its response, in the order `answer` writes them. */
const ANSWER_KEYS: readonly string[] = ['apiVersion', 'kind', 'response'];
const RESPONSE_KEYS: readonly string[] = ['uid', 'allowed', 'patchType', 'patch', 'warnings', 'auditAnnotations'];

/** Whether the object's keys are some of `order`, in that order. */
function keysIn(object: object, order: readonly string[]): boolean {
  let i = 0;
  for (const key in object) {
    while (i < order.length && order[i] !== key) i++;
    if (i === order.length) return false;
    i++;
  }
  return true;
}

/** `,"key":` and the value's JSON, or nothing where JSON.stringify leaves the key out. */
function member(key: string, value: unknown): string {
  const json = JSON.stringify(value) as string | undefined;
  return json === undefined ? '' : `,"${key}":${json}`;
}

/**
 * The JSON text of an answer to send, the same text as `JSON.stringify(answer)`, written field by
 * field: the patch is base64 by its type (`encodePatch`), which JSON never escapes, so it goes in as
 * it is (Node 20's `JSON.stringify` checks a string for escapes one character at a time, and the
 * patch is about half of an answer), and the objects around the fields are not copied. An answer
 * of any other shape (a denial's `allowed: false` and `status`, keys in another order) is left to
 * `JSON.stringify` (docs/performance.md, "thirteenth pass").
 */
export function answerJson(answer: { readonly apiVersion: string; readonly kind: string; readonly response: object & { readonly patch?: Base64 } }): string {
  // The checks are for callers outside the types (a test's answer): what is sent is `answer`'s.
  const { apiVersion, kind } = answer;
  const response: unknown = answer.response;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !isRecord(response) || !keysIn(answer, ANSWER_KEYS) || !keysIn(response, RESPONSE_KEYS)) return JSON.stringify(answer);
  const { uid, allowed, patch } = response;
  if (typeof uid !== 'string' || allowed !== true || (patch !== undefined && typeof patch !== 'string')) return JSON.stringify(answer);
  const patchText = patch === undefined ? '' : `,"patch":"${patch}"`;
  const list = response['warnings'];
  const warnings = Array.isArray(list) ? `,"warnings":${stringsJson(list)}` : member('warnings', list);
  const audit = response['auditAnnotations'];
  const auditJson = AuditAnnotations.jsonOf(audit);
  const annotations = auditJson === undefined ? member('auditAnnotations', audit) : `,"auditAnnotations":${auditJson}`;
  return `{"apiVersion":${JSON.stringify(apiVersion)},"kind":${JSON.stringify(kind)},"response":{"uid":${JSON.stringify(uid)},"allowed":true${member('patchType', response['patchType'])}${patchText}${warnings}${annotations}}}`;
}

/**
 * Build the answer to send (HTTP 200, always `allowed: true`; `patchType`/`patch` only when
 * something changes) and the report of what was done, from a plan. Never throws.
 */
export function render(plan: ReviewPlan, overrides: RenderOverrides = {}): Rendered {
  const target = plan.target;
  if (plan.skipped !== undefined || target === undefined) {
    return { response: answer(plan), report: report(plan, { rewrites: [], invalid: [], malformed: [] }, plan.skipped) };
  }
  const reasons = new Map<PlannedImage, string>();
  const applied: PlannedRewrite[] = [];
  for (const image of plan.images) {
    if (image.outcome !== 'rewrite') continue;
    const reason = overrides.withhold?.(image);
    if (reason === undefined) applied.push(image);
    else reasons.set(image, reason);
  }
  // Text only for the warnings that can be kept (limitWarnings): the rest are counted.
  const warnings: string[] = overrides.first === undefined ? [] : [overrides.first];
  const leading = warnings.length;
  for (const image of plan.images) {
    if (warnings.length === MAX_WARNINGS) break;
    warnings.push(imageWarning(image, reasons.get(image), target));
  }
  const kept = plan.kept ?? [];
  for (const k of kept) {
    if (warnings.length === MAX_WARNINGS) break;
    warnings.push(keptWarning(k.field, k.to, ['no rule rewrites it now'], target));
  }
  const unbuilt = leading + plan.images.length + kept.length - warnings.length;
  const malformed = [...plan.malformed];
  for (const k of kept) {
    const problem = `is the recorded original of the stored ${k.to}, which no rule gives now; the stored image kept (${cannotChange(target)})`;
    malformed.push({ pointer: k.field.pointer, problem, valid: true });
  }
  // Appended one by one: `push(...list)` passes every entry as an argument and overflows the
  // stack past about 130,000 (a pod of that many rewritten containers was a 500).
  const ops: PatchOperation[] = applied.map((r) => replace(r.field.pointer, r.to));
  const more = (list: readonly PatchOperation[]): void => {
    for (const op of list) ops.push(op);
  };
  for (const k of kept) ops.push(replace(k.field.pointer, k.to));
  const stale = plan.staleOriginals ?? [];
  // Whether the rewrites are in the original-images annotation, where the warning counting the
  // ones not shown sends the reader.
  let originalsRecorded = false;
  // A kept image's entry is written again (server-side apply drops it along with the manager's
  // manifest, and the next re-apply needs it).
  if ((applied.length > 0 || stale.length > 0 || kept.length > 0) && plan.options.recordOriginals !== false && !target.subresource) {
    const recorded = originalImagesOps(target.object, [...applied, ...kept], malformed, stale);
    if (recorded !== null) more(recorded);
    originalsRecorded = recorded !== null && applied.length > 0;
  }
  more(pullSecretChanges(target, plan.request.operation, applied, warnings, malformed));
  for (const w of overrides.warnings?.() ?? []) warnings.push(w);

  const fields: Mutable<ResponseFields> = {};
  if (ops.length > 0) {
    fields.patchType = 'JSONPatch';
    fields.patch = encodePatch(ops);
  }
  if (warnings.length > 0) fields.warnings = limitWarnings(warnings, warnings.length + unbuilt, originalsRecorded);
  const audit = auditAnnotations(applied, plan.images, plan.reinvocation === true ? AUDIT_REINVOCATION_PREFIX : '');
  if (audit !== undefined) fields.auditAnnotations = audit;
  const { rewrites, invalid, withheld } = records(plan.images, reasons);
  return { response: answer(plan, fields), report: report(plan, { rewrites, invalid, malformed }, undefined, withheld) };
}
