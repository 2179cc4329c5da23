/**
 * Who can leave a Pod unrewritten: the opt-out label and annotation only while the rules allow it
 * (`allowOptOut: false` turns it off), and the mirror-pod skip only for Pods a node (a kubelet,
 * `system:node:*`) creates, not for a user who sets the kubelet's annotation.
 *
 * Regression tests: anyone who could create a Pod could opt out with no setting to stop it, and a
 * `kubernetes.io/config.mirror` annotation set by an ordinary user made the webhook skip the Pod.
 */
import { describe, expect, it } from '@jest/globals';
import { MIRROR_POD_ANNOTATION, SKIP_LABEL } from '../../src/core/admission.js';
import { review } from '../../src/core/review.js';
import { validateDocument } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/schema.js';
import { rewriterFrom } from '../helpers/rules.js';
import { TEST_ENV } from '../helpers/fixtures.js';
import { podReview } from '../helpers/admission-review.js';

const RULES = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n';

const pod = (metadata: Record<string, unknown>, username = 'alice') =>
  podReview(
    { metadata: { name: 'p', ...metadata }, spec: { containers: [{ name: 'c', image: 'gcr.io/app:1' }] } },
    { namespace: 'shop', userInfo: { username, groups: ['system:authenticated'] } },
  );

const outcome = (rules: string, body: unknown): string => {
  const r = review(body, rewriterFrom(rules));
  if (!r.ok) return r.message;
  return r.report.skipped ?? (r.response.response.patch === undefined ? 'unchanged' : 'patched');
};

describe('opt-out', () => {
  it.each([
    { what: 'label', metadata: { labels: { [SKIP_LABEL]: 'true' } } },
    { what: 'annotation', metadata: { annotations: { [SKIP_LABEL]: 'true' } } },
  ])('the $what is honoured by default and ignored with allowOptOut: false', ({ metadata }) => {
    expect(outcome(RULES, pod(metadata))).toBe('opt-out');
    expect(outcome(`allowOptOut: false\n${RULES}`, pod(metadata))).toBe('patched');
    expect(outcome(`allowOptOut: true\n${RULES}`, pod(metadata))).toBe('opt-out');
  });

  it('allowOptOut must be a boolean (the schema is strict)', () => {
    const r = validateDocument({ allowOptOut: 'no', rules: [] }, TEST_ENV);
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual(['allowOptOut: must be a boolean: true or false, without quotes (YAML 1.2 reads yes, no, on and off as text)']);
  });
});

describe('mirror pods', () => {
  const mirror = { annotations: { [MIRROR_POD_ANNOTATION]: 'abc123' } };
  it.each([
    { username: 'system:node:ip-10-0-1-23.ec2.internal', expected: 'mirror-pod' },
    { username: 'alice', expected: 'patched' },
    { username: 'system:serviceaccount:kube-system:deployer', expected: 'patched' },
    { username: 'system:nodes', expected: 'patched' },
    { username: 'system:node', expected: 'patched' },
  ])('created by $username: $expected', ({ username, expected }) => {
    expect(outcome(RULES, pod(mirror, username))).toBe(expected);
  });

  it('without userInfo the annotation is not trusted', () => {
    const body = pod(mirror);
    delete (body['request'] as Record<string, unknown>)['userInfo'];
    expect(outcome(RULES, body)).toBe('patched');
  });
});
