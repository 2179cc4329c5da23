/**
 * Request parsing: the parsed JSON of a request body (any value) to a typed `AdmissionRequest`, or
 * one of the fixed `BAD_REQUEST` messages. Kubernetes objects are untrusted JSON: only own
 * properties are read, and the object itself is kept as it is (it is patched, never rebuilt).
 */
import { type AdmissionApiVersion, ADMISSION_REVIEW_VERSIONS, BAD_REQUEST, type Operation, OPERATIONS } from './admission.js';
import { isRecord, own } from './json.js';
import type { GroupVersionKind, GroupVersionResource } from './workload.js';

/** The fields of an AdmissionReview request this webhook reads. */
export interface AdmissionRequest {
  readonly apiVersion: AdmissionApiVersion;
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource: GroupVersionResource;
  /** '' when the request is for the object itself. */
  readonly subResource: string;
  readonly operation: Operation;
  /** Undefined when absent, null or empty. */
  readonly namespace: string | undefined;
  /** Undefined when absent, null or empty. */
  readonly name: string | undefined;
  /** The object, or undefined when absent or null. */
  readonly object: Readonly<Record<string, unknown>> | undefined;
  /** The stored object of an UPDATE; anything but an object is ignored (it is only compared with). */
  readonly oldObject: Readonly<Record<string, unknown>> | undefined;
  /** `userInfo.username`: who asked (set by the API server); undefined when absent or not a string. */
  readonly userName: string | undefined;
  /**
   * `request.dryRun` is true: the API server will not persist the object (`kubectl diff`, `kubectl
   * apply --dry-run=server`, GitOps drift checks). The answer does not depend on it (the API server
   * shows the same patch as a diff); only the review's counts do (src/observability/telemetry.ts).
   * Anything but `true` is false, never a bad request.
   */
  readonly dryRun: boolean;
}

export type ParsedRequest = { readonly ok: true; readonly request: AdmissionRequest } | { readonly ok: false; readonly message: string };

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

/** The request of an AdmissionReview body, or the first `BAD_REQUEST` message that applies. Never throws. */
export function parseAdmissionReview(body: unknown): ParsedRequest {
  const fail = (message: string): ParsedRequest => ({ ok: false, message });
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
  const userName = own(own(request, 'userInfo'), 'username');
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
      userName: typeof userName === 'string' ? userName : undefined,
      dryRun: own(request, 'dryRun') === true,
    },
  };
}
