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

/**
 * A review of a Pod with `count` containers, each with a gcr.io image of `length` characters (the
 * example rules rewrite every one), uid `limit-uid`, and a label `marker: LABEL-MARKER-55` that no
 * log line may show. With 160-character images each rewrite adds about 308 bytes to the Lambda's
 * result: 22,000 containers (a 4.4 MB body) make it 6.8 MB, over Lambda's response quota.
 */
export function manyImagesReview(count: number, length: number): JsonObject {
  const containers = Array.from({ length: count }, (_, i) => {
    const name = `c${String(i)}`;
    return { name, image: `gcr.io/${name}/${'x'.repeat(Math.max(1, length - 8 - name.length))}` };
  });
  return podReview({ metadata: { name: 'big', labels: { marker: 'LABEL-MARKER-55' } }, spec: { containers } }, { uid: 'limit-uid' });
}
