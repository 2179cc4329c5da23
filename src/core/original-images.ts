/**
 * The originals annotation: the JSON Patch operations that record, in the object's
 * `image-rewriter.io/original-images` annotation, the image each rewritten container had (see
 * src/core/admission.ts for what is kept and what is replaced).
 */
import { ORIGINAL_IMAGES_ANNOTATION } from './admission.js';
import { add, type PatchOperation, pointer, replace } from './patch.js';
import { isRecord, own } from './json.js';
import type { FieldProblem, ImageField } from './workload.js';

/** The key of a container in the original-images map: `containers/nginx` (`containers/[0]` without a name). */
export function originalImagesKey(f: Pick<ImageField, 'containerList' | 'containerName' | 'index'>): string {
  return `${f.containerList}/${f.containerName ?? `[${f.index}]`}`;
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

const ANNOTATION_POINTER = pointer(['metadata', 'annotations', ORIGINAL_IMAGES_ANNOTATION]);

/**
 * The map as a JSON object, in its order: the text of `JSON.stringify(Object.fromEntries(map))`
 * (no key is an array index: every key has a `/`), written directly because `Object.fromEntries`
 * builds a dictionary-mode object on every review (docs/performance.md).
 */
function mapJson(map: ReadonlyMap<string, string>): string {
  let body = '';
  for (const [k, v] of map) body += `${body === '' ? '' : ','}${JSON.stringify(k)}:${JSON.stringify(v)}`;
  return `{${body}}`;
}

/** The ops that record `rewrites` in the original-images annotation of `object`. */
export function originalImagesOps(
  object: Readonly<Record<string, unknown>>,
  rewrites: readonly { readonly field: ImageField }[],
  malformed: FieldProblem[],
): PatchOperation[] {
  const metadata = own(object, 'metadata');
  const fresh = new Map<string, string>();
  for (const r of rewrites) {
    const key = originalImagesKey(r.field);
    if (!fresh.has(key)) fresh.set(key, r.field.image);
  }
  if (metadata === undefined || metadata === null) {
    return [add('/metadata', { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: mapJson(fresh) } })];
  }
  if (!isRecord(metadata)) {
    malformed.push({ pointer: '/metadata', problem: 'is not an object; original images not recorded' });
    return [];
  }
  const annotations = own(metadata, 'annotations');
  if (annotations === undefined || annotations === null) {
    return [add('/metadata/annotations', { [ORIGINAL_IMAGES_ANNOTATION]: mapJson(fresh) })];
  }
  if (!isRecord(annotations)) {
    malformed.push({ pointer: '/metadata/annotations', problem: 'is not an object; original images not recorded' });
    return [];
  }
  const existing = own(annotations, ORIGINAL_IMAGES_ANNOTATION);
  if (existing === undefined) return [add(ANNOTATION_POINTER, mapJson(fresh))];
  if (typeof existing !== 'string') {
    // Only a manifest can hold this (the API server's annotations are strings): not a valid object.
    malformed.push({ pointer: ANNOTATION_POINTER, problem: 'is not a string; replaced' });
    return [replace(ANNOTATION_POINTER, mapJson(fresh))];
  }
  const previous = parseOriginals(existing);
  if (previous === undefined) {
    // Any string is a valid annotation (someone wrote it by hand): the object is fine, the webhook
    // only cannot merge with it.
    malformed.push({ pointer: ANNOTATION_POINTER, problem: 'is not a JSON map of strings; replaced', valid: true });
    return [replace(ANNOTATION_POINTER, mapJson(fresh))];
  }
  // An image rewritten now is the original of what will run, so its entry is (re)written; entries
  // of containers not rewritten now (already rewritten on an earlier call) are kept.
  const merged = new Map(previous);
  for (const [k, v] of fresh) merged.set(k, v);
  const text = mapJson(merged);
  if (text === existing) return [];
  return [replace(ANNOTATION_POINTER, text)];
}
