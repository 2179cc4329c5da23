/**
 * The AdmissionReview the tests build most: an admission.k8s.io/v1 review of a Pod CREATE in
 * `default` (uid `u-1`), for the object given; any request field can be set or replaced.
 */
import type { JsonObject } from './events.js';

/** An AdmissionReview of `object` as a Pod CREATE; `request` fields are added or override the defaults. */
export function podReview(object: unknown, request: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'default',
      operation: 'CREATE',
      object,
      ...request,
    },
  };
}
