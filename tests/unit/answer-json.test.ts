/**
 * `answerJson`, the text of every 200 answer: the same as `JSON.stringify` for answers with and
 * without a patch, with warnings and audit annotations that need escapes, denied answers, and the
 * fail-open form, and in the order of the answer's own keys.
 */
import { describe, expect, it } from '@jest/globals';
import { answerJson } from '../../src/core/render.js';
import { review } from '../../src/core/review.js';
import { encodePatch } from '../../src/core/patch.js';
import { podReview } from '../helpers/admission-review.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');

describe('answerJson', () => {
  it('gives JSON.stringify\'s text for a review that rewrites, with escapes in warnings and annotations', () => {
    const containers = [{ name: 'a"b\\c\u2028\u202e', image: 'gcr.io/app:1' }, { name: 'Ünïcode', image: 'Not A Reference' }];
    const body = podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers } });
    const outcome = review(body, rewriter);
    if (!outcome.ok) throw new Error(outcome.message);
    expect(outcome.response.response.patch).toBeDefined();
    expect(answerJson(outcome.response)).toBe(JSON.stringify(outcome.response));
    expect(JSON.parse(answerJson(outcome.response))).toEqual(outcome.response);
  });

  it('gives it for answers without a patch, denied answers and answers with extra or missing fields', () => {
    const patch = encodePatch([{ op: 'replace', path: '/spec/containers/0/image', value: 'é' }]);
    const answers = [
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } },
      { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true, warnings: ['x'], patchType: 'JSONPatch', patch } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: false, status: { code: 403, reason: 'Forbidden', message: 'no "image"' } } },
      { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', response: { allowed: true, uid: 'u', warnings: undefined, auditAnnotations: {} } },
    ];
    for (const a of answers) expect(answerJson(a)).toBe(JSON.stringify(a));
  });
});
