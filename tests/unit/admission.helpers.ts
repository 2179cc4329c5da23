/**
 * Shared by the admission tests: decode an answer's patch, apply it with fast-json-patch (with
 * validation, so a patch that does not fit the object fails the test), and list the images of an
 * object the way the webhook sees them.
 */
import { expect } from '@jest/globals';
import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { AdmissionResponse } from '../../src/core/admission.js';
import { isRecord, own } from '../../src/core/json.js';
import { findImages, workloadTypeOf } from '../../src/core/workload.js';

const { applyPatch } = fjp;

/** A decoded patch, checked to be a list of `add`/`replace` operations with string paths. */
export type Ops = ({ op: 'add' | 'replace'; path: string; value: unknown })[];

function isOps(v: unknown): v is Ops {
  return (
    Array.isArray(v) &&
    v.every((op: unknown) => isRecord(op) && (op['op'] === 'add' || op['op'] === 'replace') && typeof op['path'] === 'string' && 'value' in op)
  );
}

/** The operations in `response.patch` (base64 JSON, decoded with Node's own decoder), or undefined. */
export function decodePatch(response: AdmissionResponse): Ops | undefined {
  if (response.patch === undefined) return undefined;
  const text = Buffer.from(response.patch, 'base64').toString('utf8');
  // Round trip: our encoder's output is canonical base64 of exactly this text.
  expect(Buffer.from(text, 'utf8').toString('base64')).toBe(response.patch);
  const ops: unknown = JSON.parse(text);
  if (!isOps(ops)) throw new Error(`not a list of add/replace operations: ${text}`);
  return ops;
}

/** `document` with `ops` applied by fast-json-patch with validation on; `document` is not changed. */
export function apply(document: unknown, ops: Ops): unknown {
  const operations: Operation[] = ops.map((o) => ({ op: o.op, path: o.path, value: o.value }));
  return applyPatch(document, operations, true, false).newDocument;
}

/** The `request.object` of an AdmissionReview-shaped value. */
export function requestObject(body: unknown): unknown {
  return own(own(body, 'request'), 'object');
}

/** A copy of the AdmissionReview `body` whose `request.object` is `object`. */
export function withObject(body: unknown, object: unknown): unknown {
  if (!isRecord(body) || !isRecord(body['request'])) return body;
  return { ...body, request: { ...body['request'], object } };
}

/** Every image of `object`, read as the type the request names, by pointer. */
export function imagesOf(body: unknown, object: unknown): Record<string, string> {
  const request = own(body, 'request');
  const kind = own(request, 'kind');
  const resource = own(request, 'resource');
  const sub = own(request, 'subResource');
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const type = workloadTypeOf(
    { group: str(own(kind, 'group')), version: str(own(kind, 'version')), kind: str(own(kind, 'kind')) },
    { group: str(own(resource, 'group')), version: str(own(resource, 'version')), resource: str(own(resource, 'resource')) },
    str(sub),
  );
  if (type === undefined) return {};
  return Object.fromEntries(findImages(object, type).images.map((f) => [f.pointer, f.image]));
}
