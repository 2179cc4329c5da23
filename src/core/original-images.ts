/**
 * The originals annotation: the JSON Patch operations that record, in the object's
 * `image-rewriter.io/original-images` annotation, the image each rewritten container had (see
 * src/core/admission.ts for what is kept and what is replaced).
 */
import { MAX_ANNOTATIONS_BYTES, ORIGINAL_IMAGES_ANNOTATION } from './admission.js';
import { byteLength } from './audit-annotations.js';
import { add, type PatchOperation, pointer, replace, withValueJson } from './patch.js';
import { isPlainJsonText, isRecord, own, quote } from './json.js';
import type { FieldProblem, ImageField } from './workload.js';

/**
 * The key of a container in the original-images map: `containers/nginx` (`containers/[0]` without a
 * name); of an image volume, `volumes/data`.
 */
export function originalImagesKey(f: Pick<ImageField, 'containerList' | 'containerName' | 'index'>): string {
  return `${f.containerList}/${f.containerName ?? `[${f.index}]`}`;
}

/** The entries of an existing original-images annotation, or undefined when it is not a JSON map of strings. */
export function parseOriginals(value: string): Map<string, string> | undefined {
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

const ANNOTATION_POINTER = pointer(['metadata', 'annotations', ORIGINAL_IMAGES_ANNOTATION]);
const ANNOTATION_KEY_JSON = JSON.stringify(ORIGINAL_IMAGES_ANNOTATION);

/**
 * Whether `annotations` with the original-images annotation set to `text` stay within
 * MAX_ANNOTATIONS_BYTES. Past it the API server would reject the patched object, and the whole
 * admission with it (an object applied with kubectl carries its last-applied-configuration in an
 * annotation, which can fill most of the budget): the originals are then not recorded.
 */
function fitsAnnotations(annotations: Readonly<Record<string, unknown>> | undefined, text: string): boolean {
  const strings = [ORIGINAL_IMAGES_ANNOTATION, text];
  if (annotations !== undefined) {
    for (const [k, v] of Object.entries(annotations)) {
      if (k === ORIGINAL_IMAGES_ANNOTATION) continue;
      strings.push(k);
      if (typeof v === 'string') strings.push(v);
    }
  }
  let units = 0;
  for (const s of strings) units += s.length;
  // A UTF-16 unit is 1 to 3 UTF-8 bytes: count the bytes only when the length cannot decide.
  if (units > MAX_ANNOTATIONS_BYTES) return false;
  if (units * 3 <= MAX_ANNOTATIONS_BYTES) return true;
  let bytes = 0;
  for (const s of strings) bytes += byteLength(s);
  return bytes <= MAX_ANNOTATIONS_BYTES;
}

/** The problem recorded when the originals do not fit (the object itself is fine as it is). */
const TOO_LARGE: FieldProblem = {
  pointer: ANNOTATION_POINTER,
  problem: `would make the object's annotations larger than the API server accepts (${MAX_ANNOTATIONS_BYTES} bytes); original images not recorded`,
  valid: true,
};

/**
 * The map as a JSON object, in its order: the text of `JSON.stringify(Object.fromEntries(map))`
 * (no key is an array index: every key has a `/`), written directly because `Object.fromEntries`
 * builds a dictionary-mode object on every review (docs/performance.md); and, when every key and
 * value is plain text (isPlainJsonText), that text's own JSON string text, written in the same
 * pass for the patch (`withValueJson`).
 */
function mapJson(map: ReadonlyMap<string, string>, limit = MAX_ANNOTATIONS_BYTES): { readonly text: string; readonly json: string | undefined } | undefined {
  let body = '';
  let escaped = '';
  let plain = true;
  for (const [k, v] of map) {
    // Past the limit (in UTF-16 units, each at least a byte) the text cannot fit: a Pod of tens of
    // thousands of rewritten containers built megabytes of it, in many more of string pieces, only
    // to leave it out (docs/reliability.md, "Memory under large reviews").
    if (body.length > limit) return undefined;
    const comma = body === '' ? '' : ',';
    if (plain && isPlainJsonText(k) && isPlainJsonText(v)) {
      body += `${comma}"${k}":"${v}"`;
      escaped += `${comma}\\"${k}\\":\\"${v}\\"`;
    } else {
      plain = false;
      body += `${comma}${quote(k)}:${quote(v)}`;
    }
  }
  return { text: `{${body}}`, json: plain ? `"{${escaped}}"` : undefined };
}

/** `operation`, with the JSON text of its value when it is known. */
const known = (operation: PatchOperation, valueJson: string | undefined): PatchOperation => (valueJson === undefined ? operation : withValueJson(operation, valueJson));

/**
 * The ops that record `rewrites` in the original-images annotation of `object`, and drop the
 * entries of `stale` keys (see staleOriginals in src/core/decide.ts) not rewritten now; null
 * when they cannot be recorded (the problem is in `malformed`), so that no warning points to them.
 */
export function originalImagesOps(
  object: Readonly<Record<string, unknown>>,
  rewrites: readonly { readonly field: ImageField }[],
  malformed: FieldProblem[],
  stale: readonly string[] = [],
): PatchOperation[] | null {
  const metadata = own(object, 'metadata');
  const fresh = new Map<string, string>();
  for (const r of rewrites) {
    const key = originalImagesKey(r.field);
    if (!fresh.has(key)) fresh.set(key, r.field.image);
  }
  const tooLarge = (): null => {
    malformed.push(TOO_LARGE);
    return null;
  };
  if (metadata === undefined || metadata === null) {
    const map = mapJson(fresh);
    if (map === undefined || !fitsAnnotations(undefined, map.text)) return tooLarge();
    const { text, json } = map;
    const valueJson = json === undefined ? undefined : `{"annotations":{${ANNOTATION_KEY_JSON}:${json}}}`;
    return [known(add('/metadata', { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: text } }), valueJson)];
  }
  if (!isRecord(metadata)) {
    malformed.push({ pointer: '/metadata', problem: 'is not an object; original images not recorded' });
    return null;
  }
  const annotations = own(metadata, 'annotations');
  if (annotations === undefined || annotations === null) {
    const map = mapJson(fresh);
    if (map === undefined || !fitsAnnotations(undefined, map.text)) return tooLarge();
    const { text, json } = map;
    return [known(add('/metadata/annotations', { [ORIGINAL_IMAGES_ANNOTATION]: text }), json === undefined ? undefined : `{${ANNOTATION_KEY_JSON}:${json}}`)];
  }
  if (!isRecord(annotations)) {
    malformed.push({ pointer: '/metadata/annotations', problem: 'is not an object; original images not recorded' });
    return null;
  }
  const existing = own(annotations, ORIGINAL_IMAGES_ANNOTATION);
  if (existing === undefined) {
    const map = mapJson(fresh);
    return map !== undefined && fitsAnnotations(annotations, map.text) ? [known(add(ANNOTATION_POINTER, map.text), map.json)] : tooLarge();
  }
  if (typeof existing !== 'string') {
    // Only a manifest can hold this (the API server's annotations are strings): not a valid object.
    malformed.push({ pointer: ANNOTATION_POINTER, problem: 'is not a string; replaced' });
    const map = mapJson(fresh);
    return map !== undefined && fitsAnnotations(annotations, map.text) ? [known(replace(ANNOTATION_POINTER, map.text), map.json)] : tooLarge();
  }
  const previous = parseOriginals(existing);
  if (previous === undefined) {
    // Any string is a valid annotation (someone wrote it by hand): the object is fine, the webhook
    // only cannot merge with it.
    const map = mapJson(fresh);
    if (map === undefined || !fitsAnnotations(annotations, map.text)) return tooLarge();
    const { text, json } = map;
    malformed.push({ pointer: ANNOTATION_POINTER, problem: 'is not a JSON map of strings; replaced', valid: true });
    return [known(replace(ANNOTATION_POINTER, text), json)];
  }
  // An image rewritten now is the original of what will run, so its entry is (re)written; entries
  // of containers not rewritten now (already rewritten on an earlier call) are kept, the stale ones
  // excepted. An entry written anew keeps its place (a stale one too): an unchanged re-apply, whose
  // upstream images are all rewritten again, then leaves the annotation as stored, not reordered.
  const merged = new Map(previous);
  for (const k of stale) if (!fresh.has(k)) merged.delete(k);
  for (const [k, v] of fresh) merged.set(k, v);
  // A text longer than the existing one (of a manifest, which no API server limited) is not it.
  const map = mapJson(merged, Math.max(MAX_ANNOTATIONS_BYTES, existing.length));
  if (map === undefined) return tooLarge();
  const { text, json } = map;
  if (text === existing) return [];
  return fitsAnnotations(annotations, text) ? [known(replace(ANNOTATION_POINTER, text), json)] : tooLarge();
}
