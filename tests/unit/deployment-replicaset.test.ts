/**
 * A ReplicaSet that a Deployment controls is left as its controller made it (`--scope all`).
 *
 * Regression test: the Deployment controller finds its ReplicaSet by comparing templates. A
 * Deployment stored with an upstream image (opted out by a label on the Deployment only, created
 * while the webhook was down, or rolled out with `kubectl rollout restart`, an update that leaves
 * its image as it was) got a ReplicaSet whose template the webhook rewrote; the controller never
 * found it, counted a hash collision and created another, rewritten again: 29 ReplicaSets in 8 s
 * against a real kube-apiserver and kube-controller-manager, without end.
 */
import { describe, expect, it } from '@jest/globals';
import { review } from '../../src/core/review.js';
import { rewriterFrom } from '../helpers/rules.js';
import { podReview } from '../helpers/admission-review.js';

const RULES = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n';

const owner = (apiVersion: string, kind: string, controller: boolean) => ({ apiVersion, kind, name: 'web', uid: '8c6e5f0a-1d2b-4c3d-9e8f-0a1b2c3d4e5f', controller, blockOwnerDeletion: true });

/** The AdmissionReview of a ReplicaSet CREATE with these ownerReferences (none when undefined). */
const replicaSet = (ownerReferences?: unknown) =>
  podReview(
    {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web-5d78587765', namespace: 'shop', ...(ownerReferences === undefined ? {} : { ownerReferences }) },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'gcr.io/nginx:1.27' }] } },
      },
    },
    {
      kind: { group: 'apps', version: 'v1', kind: 'ReplicaSet' },
      resource: { group: 'apps', version: 'v1', resource: 'replicasets' },
      namespace: 'shop',
      userInfo: { username: 'system:serviceaccount:kube-system:deployment-controller' },
    },
  );

const outcome = (body: unknown): string => {
  const r = review(body, rewriterFrom(RULES));
  if (!r.ok) return r.message;
  return r.report.skipped ?? (r.response.response.patch === undefined ? 'unchanged' : 'patched');
};

describe('ReplicaSets of Deployments', () => {
  it('a ReplicaSet a Deployment controls is not rewritten (its Pods are, as Pods)', () => {
    expect(outcome(replicaSet([owner('apps/v1', 'Deployment', true)]))).toBe('deployment-replicaset');
    const r = review(replicaSet([owner('apps/v1', 'Deployment', true)]), rewriterFrom(RULES));
    expect(r.ok && r.response.response).toEqual({ uid: 'u-1', allowed: true });
  });

  it.each([
    { what: 'no ownerReferences', refs: undefined },
    { what: 'a Deployment that is an owner but not the controller', refs: [owner('apps/v1', 'Deployment', false)] },
    { what: 'a controller of another kind', refs: [owner('example.com/v1', 'Rollout', true)] },
    { what: 'a Deployment of another API group', refs: [owner('example.com/v1', 'Deployment', true)] },
    { what: 'ownerReferences that are not a list', refs: { controller: true, kind: 'Deployment', apiVersion: 'apps/v1' } },
  ])('a ReplicaSet with $what is rewritten like any workload', ({ refs }) => {
    expect(outcome(replicaSet(refs))).toBe('patched');
  });
});
