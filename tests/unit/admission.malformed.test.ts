/**
 * Bodies that are not an AdmissionReview this webhook can answer: each gets status 400 and a fixed
 * message (the demo answered 500 with a stack trace). One row per way to be wrong.
 */
import { describe, expect, it } from '@jest/globals';
import { BAD_REQUEST } from '../../src/core/admission.js';
import { review } from '../../src/core/review.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');

const request = {
  uid: '0df28fbd-5f5f-11e8-bc74-36e6bb280816',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  namespace: 'default',
  operation: 'CREATE',
  object: { metadata: { name: 'web' }, spec: { containers: [{ name: 'nginx', image: 'gcr.io/nginx' }] } },
};
const good = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
const withRequest = (fields: Record<string, unknown>): unknown => ({ ...good, request: { ...request, ...fields } });
const without = (field: keyof typeof request): unknown => ({
  ...good,
  request: Object.fromEntries(Object.entries(request).filter(([k]) => k !== field)),
});

const rows: readonly { name: string; body: unknown; message: string }[] = [
  { name: 'null', body: null, message: 'the body must be a JSON object (an AdmissionReview)' },
  { name: 'a string', body: 'AdmissionReview', message: 'the body must be a JSON object (an AdmissionReview)' },
  { name: 'a number', body: 42, message: 'the body must be a JSON object (an AdmissionReview)' },
  { name: 'an array', body: [good], message: 'the body must be a JSON object (an AdmissionReview)' },
  { name: 'undefined (no body)', body: undefined, message: 'the body must be a JSON object (an AdmissionReview)' },
  { name: 'an empty object', body: {}, message: 'apiVersion must be "admission.k8s.io/v1" or "admission.k8s.io/v1beta1"' },
  { name: 'apiVersion v2', body: { ...good, apiVersion: 'admission.k8s.io/v2' }, message: 'apiVersion must be "admission.k8s.io/v1" or "admission.k8s.io/v1beta1"' },
  { name: 'apiVersion without group', body: { ...good, apiVersion: 'v1' }, message: 'apiVersion must be "admission.k8s.io/v1" or "admission.k8s.io/v1beta1"' },
  { name: 'apiVersion in upper case', body: { ...good, apiVersion: 'Admission.k8s.io/v1' }, message: 'apiVersion must be "admission.k8s.io/v1" or "admission.k8s.io/v1beta1"' },
  { name: 'apiVersion not a string', body: { ...good, apiVersion: 1 }, message: 'apiVersion must be "admission.k8s.io/v1" or "admission.k8s.io/v1beta1"' },
  { name: 'kind missing', body: { apiVersion: good.apiVersion, request }, message: 'kind must be "AdmissionReview"' },
  { name: 'kind ConversionReview', body: { ...good, kind: 'ConversionReview' }, message: 'kind must be "AdmissionReview"' },
  { name: 'kind in lower case', body: { ...good, kind: 'admissionreview' }, message: 'kind must be "AdmissionReview"' },
  { name: 'request missing', body: { apiVersion: good.apiVersion, kind: good.kind }, message: 'request must be an object' },
  { name: 'request null', body: { ...good, request: null }, message: 'request must be an object' },
  { name: 'request an array', body: { ...good, request: [request] }, message: 'request must be an object' },
  { name: 'request a string', body: { ...good, request: JSON.stringify(request) }, message: 'request must be an object' },
  { name: 'a response instead of a request', body: { apiVersion: good.apiVersion, kind: good.kind, response: { uid: 'x', allowed: true } }, message: 'request must be an object' },
  { name: 'uid missing', body: without('uid'), message: 'request.uid must be a non-empty string' },
  { name: 'uid empty', body: withRequest({ uid: '' }), message: 'request.uid must be a non-empty string' },
  { name: 'uid a number', body: withRequest({ uid: 123 }), message: 'request.uid must be a non-empty string' },
  { name: 'uid null', body: withRequest({ uid: null }), message: 'request.uid must be a non-empty string' },
  { name: 'request.kind missing', body: without('kind'), message: 'request.kind must be an object with string fields "group", "version" and "kind"' },
  { name: 'request.kind a string', body: withRequest({ kind: 'Pod' }), message: 'request.kind must be an object with string fields "group", "version" and "kind"' },
  { name: 'request.kind without kind', body: withRequest({ kind: { group: '', version: 'v1' } }), message: 'request.kind must be an object with string fields "group", "version" and "kind"' },
  { name: 'request.kind without version', body: withRequest({ kind: { group: '', kind: 'Pod' } }), message: 'request.kind must be an object with string fields "group", "version" and "kind"' },
  { name: 'request.kind group a number', body: withRequest({ kind: { group: 0, version: 'v1', kind: 'Pod' } }), message: 'request.kind must be an object with string fields "group", "version" and "kind"' },
  { name: 'request.resource missing', body: without('resource'), message: 'request.resource must be an object with string fields "group", "version" and "resource"' },
  { name: 'request.resource a list', body: withRequest({ resource: ['pods'] }), message: 'request.resource must be an object with string fields "group", "version" and "resource"' },
  { name: 'request.resource without resource', body: withRequest({ resource: { group: '', version: 'v1' } }), message: 'request.resource must be an object with string fields "group", "version" and "resource"' },
  { name: 'request.subResource a number', body: withRequest({ subResource: 1 }), message: 'request.subResource must be a string' },
  { name: 'operation missing', body: without('operation'), message: 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT' },
  { name: 'operation in lower case', body: withRequest({ operation: 'create' }), message: 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT' },
  { name: 'operation PATCH (an HTTP verb, not an admission operation)', body: withRequest({ operation: 'PATCH' }), message: 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT' },
  { name: 'operation a list', body: withRequest({ operation: ['CREATE'] }), message: 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT' },
  { name: 'namespace a number', body: withRequest({ namespace: 7 }), message: 'request.namespace must be a string' },
  { name: 'name an object', body: withRequest({ name: { name: 'web' } }), message: 'request.name must be a string' },
  { name: 'object a string', body: withRequest({ object: '{"spec":{}}' }), message: 'request.object must be an object or null' },
  { name: 'object a list', body: withRequest({ object: [] }), message: 'request.object must be an object or null' },
  { name: 'object a number', body: withRequest({ object: 0 }), message: 'request.object must be an object or null' },
  { name: 'object false', body: withRequest({ object: false }), message: 'request.object must be an object or null' },
];

describe('malformed AdmissionReviews', () => {
  it('the good body is answered (so each row fails for its own reason)', () => {
    const outcome = review(good, rewriter);
    expect(outcome.ok).toBe(true);
  });

  it.each(rows)('$name: 400 "$message"', ({ body, message }) => {
    expect(review(body, rewriter)).toEqual({ ok: false, status: 400, message });
  });

  it('every message is one of the fixed BAD_REQUEST messages', () => {
    const fixed = new Set<string>(Object.values(BAD_REQUEST));
    for (const row of rows) expect(fixed.has(row.message)).toBe(true);
    expect(new Set(rows.map((r) => r.message))).toEqual(fixed);
  });

  it('never echoes the input in the message', () => {
    const outcome = review({ ...good, apiVersion: '<script>secret-token</script>' }, rewriter);
    expect(outcome.ok ? '' : outcome.message).not.toContain('secret-token');
  });

  it.each([
    { name: 'group absent (read as the core group)', body: withRequest({ kind: { version: 'v1', kind: 'Pod' }, resource: { version: 'v1', resource: 'pods' } }) },
    { name: 'namespace, name and subResource null', body: withRequest({ namespace: null, name: null, subResource: null }) },
    { name: 'object absent', body: without('object') },
    { name: 'object null', body: withRequest({ object: null }) },
    { name: 'unknown fields everywhere', body: { ...good, extra: 1, request: { ...request, extra: { a: 1 }, dryRun: 'yes' } } },
    { name: 'v1beta1', body: { ...good, apiVersion: 'admission.k8s.io/v1beta1' } },
  ])('accepted: $name', ({ body }) => {
    const outcome = review(body, rewriter);
    expect(outcome.ok).toBe(true);
  });
});
