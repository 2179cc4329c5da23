/**
 * The matchCondition `webhook-config --scope all` adds (`not-deployment-replicaset`): false exactly
 * for the objects the handler leaves alone as a ReplicaSet a Deployment controls (skip reason
 * `deployment-replicaset`), true for everything else, and never an error (a condition that fails
 * makes the API server skip the webhook under failurePolicy Ignore). Evaluated by the CEL
 * implementation the other matchCondition tests use (@marcbachmann/cel-js), with `object` and
 * `request` as the API server binds them; the handler's decision is `decide`'s on the same request.
 *
 * Before it, a rolling update of 8 replicas under --scope all made 22 calls, 13 of them the
 * Deployment controller's updates of its ReplicaSets, each answered unchanged (kube-apiserver 1.37).
 */
import { describe, expect, it } from '@jest/globals';
import { evaluate } from '@marcbachmann/cel-js';
import fc from 'fast-check';
import { decide } from '../../src/core/decide.js';
import { matchConditions, NOT_DEPLOYMENT_REPLICASET_EXPRESSION, NOT_DEPLOYMENT_REPLICASET_NAME } from '../../src/core/match-conditions.js';
import { WORKLOAD_TYPES } from '../../src/core/workload.js';
import { podReview } from '../helpers/admission-review.js';
import { rewriterFrom } from '../helpers/rules.js';

const REWRITER = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');
type Obj = Record<string, unknown>;

/** The request the API server makes for an object of `kind` (by the core's list of types). */
function requestFor(kind: string, operation: 'CREATE' | 'UPDATE' = 'CREATE'): Obj {
  const t = WORKLOAD_TYPES.find((w) => w.kind === kind);
  if (t === undefined) throw new Error(`no type ${kind}`);
  return {
    uid: 'u-1',
    kind: { group: t.group, version: 'v1', kind: t.kind },
    resource: { group: t.group, version: 'v1', resource: t.resource },
    namespace: 'shop',
    operation,
    userInfo: { username: 'system:serviceaccount:kube-system:deployment-controller' },
  };
}

/** The condition's value, as the API server computes it; fails the test unless it is a boolean. */
function sent(object: Obj | null, request: Obj): boolean {
  const result: unknown = evaluate(NOT_DEPLOYMENT_REPLICASET_EXPRESSION, { object, request });
  expect(typeof result).toBe('boolean');
  return result === true;
}

/** Whether the handler leaves the object alone as a ReplicaSet a Deployment controls. */
function handlerSkips(object: Obj, request: Obj): boolean {
  const d = decide(podReview(object, { ...request, object }), REWRITER);
  if (!d.ok) throw new Error(d.message);
  return d.plan.skipped === 'deployment-replicaset';
}

const TEMPLATE = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'gcr.io/nginx:1.27' }] } };
const objectOf = (kind: string, metadata: Obj): Obj => ({
  apiVersion: kind === 'Pod' || kind === 'PodTemplate' || kind === 'ReplicationController' ? 'v1' : kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1',
  kind,
  metadata,
  ...(kind === 'Pod' ? { spec: TEMPLATE.spec } : kind === 'PodTemplate' ? { template: TEMPLATE } : kind === 'CronJob' ? { spec: { jobTemplate: { spec: { template: TEMPLATE } } } } : { spec: { template: TEMPLATE } }),
});
const owner = (apiVersion: string, kind: string, controller?: boolean): Obj => ({ apiVersion, kind, name: 'web', uid: '8c6e5f0a-1d2b-4c3d-9e8f-0a1b2c3d4e5f', ...(controller === undefined ? {} : { controller }) });

describe('not-deployment-replicaset', () => {
  it.each<[string, string, Obj[] | undefined, boolean]>([
    ['a ReplicaSet a Deployment controls', 'ReplicaSet', [owner('apps/v1', 'Deployment', true)], false],
    ['one whose Deployment is an older apps version', 'ReplicaSet', [owner('apps/v1beta2', 'Deployment', true)], false],
    ['one with another owner before its controller Deployment', 'ReplicaSet', [owner('v1', 'ConfigMap', false), owner('apps/v1', 'Deployment', true)], false],
    ['a ReplicaSet without ownerReferences', 'ReplicaSet', undefined, true],
    ['one with no ownerReferences left (orphaned)', 'ReplicaSet', [], true],
    ['one a Deployment owns but does not control', 'ReplicaSet', [owner('apps/v1', 'Deployment', false)], true],
    ['one whose Deployment reference has no controller field', 'ReplicaSet', [owner('apps/v1', 'Deployment')], true],
    ['one another kind controls (Argo Rollouts)', 'ReplicaSet', [owner('argoproj.io/v1alpha1', 'Rollout', true)], true],
    ['one a Deployment of another API group controls', 'ReplicaSet', [owner('example.com/v1', 'Deployment', true)], true],
    ['one a Deployment of the old extensions group controls', 'ReplicaSet', [owner('extensions/v1beta1', 'Deployment', true)], true],
    ['one whose first controller is not a Deployment', 'ReplicaSet', [owner('example.com/v1', 'Rollout', true), owner('apps/v1', 'Deployment', true)], true],
    ['a Pod a ReplicaSet controls', 'Pod', [owner('apps/v1', 'ReplicaSet', true)], true],
    ['a Pod with a Deployment as controller (not a ReplicaSet)', 'Pod', [owner('apps/v1', 'Deployment', true)], true],
    ['a Deployment', 'Deployment', undefined, true],
    ['a StatefulSet with a Deployment as controller', 'StatefulSet', [owner('apps/v1', 'Deployment', true)], true],
    ['a Job a CronJob controls', 'Job', [owner('batch/v1', 'CronJob', true)], true],
  ])('%s: %s', (_what, kind, ownerReferences, expected) => {
    const object = objectOf(kind, { name: 'web-5d78587765', namespace: 'shop', ...(ownerReferences === undefined ? {} : { ownerReferences }) });
    for (const operation of ['CREATE', 'UPDATE'] as const) {
      const request = requestFor(kind, operation);
      expect(sent(object, request)).toBe(expected);
      expect(handlerSkips(object, request)).toBe(!expected);
    }
  });

  it('sends what it cannot tell: no object, no metadata, a request without a kind', () => {
    const rs = requestFor('ReplicaSet');
    expect(sent(null, rs)).toBe(true);
    expect(sent({ spec: {} }, rs)).toBe(true);
    expect(sent({ metadata: { ownerReferences: [{ controller: true }] } }, rs)).toBe(true);
    expect(sent(objectOf('ReplicaSet', { ownerReferences: [owner('apps/v1', 'Deployment', true)] }), { operation: 'CREATE' })).toBe(true);
  });

  const ownerReference = fc.record(
    {
      // Deployments of apps/v1 weigh more: both outcomes come often.
      apiVersion: fc.oneof({ arbitrary: fc.constant('apps/v1'), weight: 4 }, fc.constantFrom('apps/v1beta2', 'extensions/v1beta1', 'example.com/v1', 'argoproj.io/v1alpha1', 'v1', 'apps', 'Apps/v1', 'batch/v1')),
      kind: fc.oneof({ arbitrary: fc.constant('Deployment'), weight: 4 }, fc.constantFrom('deployment', 'Rollout', 'ReplicaSet', 'StatefulSet', 'CronJob', 'ConfigMap')),
      name: fc.constantFrom('web', 'other'),
      uid: fc.uuid(),
      controller: fc.boolean(),
      blockOwnerDeletion: fc.boolean(),
    },
    { requiredKeys: ['name', 'uid'] },
  );
  const metadata = fc.record({ name: fc.constant('x'), ownerReferences: fc.array(ownerReference, { maxLength: 3 }) }, { requiredKeys: ['name'] });
  const kinds = fc.oneof({ arbitrary: fc.constant('ReplicaSet'), weight: 4 }, fc.constantFrom(...WORKLOAD_TYPES.map((t) => t.kind)));

  it("is false exactly when the handler skips the object as a Deployment's ReplicaSet (generated ownerReferences, every kind --scope all sends)", () => {
    let skipped = 0;
    fc.assert(
      fc.property(kinds, metadata, fc.constantFrom('CREATE' as const, 'UPDATE' as const), (kind, meta, operation) => {
        const object = objectOf(kind, meta);
        const request = requestFor(kind, operation);
        const skips = handlerSkips(object, request);
        if (skips) skipped++;
        expect({ kind, meta, sent: sent(object, request) }).toEqual({ kind, meta, sent: !skips });
      }),
      { numRuns: 1000 },
    );
    // The generator does reach both outcomes.
    expect(skipped).toBeGreaterThan(50);
  });

  it('is added with --scope all only, after the rules condition', () => {
    const condition = { name: NOT_DEPLOYMENT_REPLICASET_NAME, expression: NOT_DEPLOYMENT_REPLICASET_EXPRESSION };
    expect(matchConditions(undefined, 'pods')).toEqual([]);
    expect(matchConditions(undefined, 'all')).toEqual([condition]);
    expect(matchConditions(REWRITER.rules, 'pods').map((c) => c.name)).toEqual(['image-could-be-rewritten']);
    expect(matchConditions(REWRITER.rules, 'all').map((c) => c.name)).toEqual(['image-could-be-rewritten', NOT_DEPLOYMENT_REPLICASET_NAME]);
    // A rule that matches any image leaves no rules condition: the ReplicaSet one stays.
    const any = rewriterFrom("rules:\n  - name: any\n    regex: '(.+)'\n    replace: mirror.example.com/$1\n");
    expect(matchConditions(any.rules, 'all')).toEqual([condition]);
  });
});
