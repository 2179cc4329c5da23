/**
 * Whether the API server calls a configuration's webhooks for an object (src/core/webhook-match.ts),
 * against k8s.io/apiserver's dispatcher: rules (operations, groups, versions under matchPolicy
 * Exact and Equivalent, resources with `/*`, scope), namespaceSelector (the namespace's labels;
 * a Namespace's own; never for a cluster-scoped object; only the name when labels are unknown),
 * objectSelector; and the configurations `webhook-config` prints.
 */
import { describe, expect, it } from '@jest/globals';
import { webhookConfiguration } from '../../src/cli/webhook-config.js';
import type { Labels } from '../../src/core/label-selector.js';
import { type AdmissionTarget, isCalled, type WebhookMatcher, webhooksOf } from '../../src/core/webhook-match.js';

const URL = 'https://abc.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123';

function webhooks(config: unknown): readonly WebhookMatcher[] {
  const read = webhooksOf(config);
  if ('problem' in read) throw new Error(read.problem);
  return read.webhooks;
}

const labels = (o: Record<string, string> = {}): Labels => new Map(Object.entries(o));

const pod = (namespace: string | undefined, more: Partial<AdmissionTarget> = {}): AdmissionTarget => ({
  group: '',
  version: 'v1',
  resource: 'pods',
  namespaced: true,
  namespace,
  namespaceLabels: labels(),
  labels: labels(),
  ...more,
});
const deployment = (namespace: string): AdmissionTarget => ({ ...pod(namespace), group: 'apps', resource: 'deployments' });

const hook = (rules: unknown[], more: Record<string, unknown> = {}): readonly WebhookMatcher[] => webhooks({ webhooks: [{ name: 'h.example.com', rules, ...more }] });
const rule = (more: Record<string, unknown> = {}): Record<string, unknown> => ({ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], ...more });

describe('the configurations webhook-config prints', () => {
  const pods = webhooks(webhookConfiguration({ url: URL }));
  const all = webhooks(webhookConfiguration({ url: URL, scope: 'all' }));
  const service = webhooks(webhookConfiguration({ service: 'image-rewriter/serve', token: '0123456789abcdef0123', scope: 'all' }));

  it('call for Pods everywhere but kube-system and opted-out namespaces and objects', () => {
    expect(isCalled(pods, pod('shop'))).toBe(true);
    expect(isCalled(pods, pod('kube-system'))).toBe(false);
    expect(isCalled(pods, pod('quiet', { namespaceLabels: labels({ 'image-rewriter.io/skip': 'true' }) }))).toBe(false);
    expect(isCalled(pods, pod('quiet', { namespaceLabels: labels({ 'image-rewriter.io/skip': 'false' }) }))).toBe(true);
    expect(isCalled(pods, pod('shop', { labels: labels({ 'image-rewriter.io/skip': 'true' }) }))).toBe(false);
  });

  it('--opt-in: calls only in namespaces labelled image-rewriter.io/rewrite=true (exactly), the opt-out label and kube-system still winning', () => {
    const optIn = webhooks(webhookConfiguration({ url: URL, optIn: true }));
    const rewrite = { 'image-rewriter.io/rewrite': 'true' };
    expect(isCalled(optIn, pod('shop'))).toBe(false);
    expect(isCalled(optIn, pod('shop', { namespaceLabels: labels(rewrite) }))).toBe(true);
    for (const value of ['false', 'True', 'yes', '']) expect(isCalled(optIn, pod('shop', { namespaceLabels: labels({ 'image-rewriter.io/rewrite': value }) }))).toBe(false);
    // On the Pod, not the namespace: not sent (a namespace label).
    expect(isCalled(optIn, pod('shop', { labels: labels(rewrite) }))).toBe(false);
    expect(isCalled(optIn, pod('quiet', { namespaceLabels: labels({ ...rewrite, 'image-rewriter.io/skip': 'true' }) }))).toBe(false);
    expect(isCalled(optIn, pod('shop', { namespaceLabels: labels(rewrite), labels: labels({ 'image-rewriter.io/skip': 'true' }) }))).toBe(false);
    expect(isCalled(optIn, pod('kube-system', { namespaceLabels: labels(rewrite) }))).toBe(false);
    // Labels not known: it may be labelled, so it counts as called (audit leaves out only what is certain).
    expect(isCalled(optIn, pod('shop', { namespaceLabels: undefined }))).toBe(true);
    expect(isCalled(optIn, pod('kube-system', { namespaceLabels: undefined }))).toBe(false);
  });

  it('--scope pods never calls for workloads; --scope all does', () => {
    expect(isCalled(pods, deployment('shop'))).toBe(false);
    expect(isCalled(all, deployment('shop'))).toBe(true);
    for (const resource of ['replicasets', 'statefulsets', 'daemonsets']) expect(isCalled(all, { ...deployment('shop'), resource })).toBe(true);
    for (const resource of ['jobs', 'cronjobs']) expect(isCalled(all, { ...deployment('shop'), group: 'batch', resource })).toBe(true);
    for (const resource of ['replicationcontrollers', 'podtemplates']) expect(isCalled(all, { ...pod('shop'), resource })).toBe(true);
  });

  it('--service: serve\'s own namespace is not called for either', () => {
    expect(isCalled(service, pod('image-rewriter'))).toBe(false);
    expect(isCalled(service, pod('shop'))).toBe(true);
  });

  it('namespace labels not known: only its name can rule a namespace out (kubernetes.io/metadata.name)', () => {
    expect(isCalled(pods, pod('kube-system', { namespaceLabels: undefined }))).toBe(false);
    expect(isCalled(pods, pod('quiet', { namespaceLabels: undefined }))).toBe(true);
    // No namespace at all (a manifest without one): nothing rules it out.
    expect(isCalled(pods, pod(undefined, { namespaceLabels: undefined }))).toBe(true);
  });

  it('the API server\'s kubernetes.io/metadata.name wins over a stale copy in the labels given', () => {
    expect(isCalled(pods, pod('kube-system', { namespaceLabels: labels({ 'kubernetes.io/metadata.name': 'other' }) }))).toBe(false);
  });
});

describe('rules', () => {
  it('operations: CREATE, UPDATE or * bring an object to the webhook; DELETE or CONNECT alone do not', () => {
    for (const ops of [['CREATE'], ['UPDATE'], ['*'], ['DELETE', 'UPDATE']]) expect(isCalled(hook([rule({ operations: ops })]), pod('a'))).toBe(true);
    for (const ops of [['DELETE'], ['CONNECT'], []]) expect(isCalled(hook([rule({ operations: ops })]), pod('a'))).toBe(false);
  });

  it('apiGroups and resources: the object\'s or *; pods/* and */* cover the resource, pods/status does not', () => {
    expect(isCalled(hook([rule({ apiGroups: ['*'] })]), pod('a'))).toBe(true);
    expect(isCalled(hook([rule({ apiGroups: ['apps'] })]), pod('a'))).toBe(false);
    for (const resources of [['*'], ['pods/*'], ['*/*'], ['deployments', 'pods']]) expect(isCalled(hook([rule({ resources })]), pod('a'))).toBe(true);
    for (const resources of [['pods/status'], ['pods/ephemeralcontainers'], ['*/status'], ['deployments'], []]) expect(isCalled(hook([rule({ resources })]), pod('a'))).toBe(false);
  });

  it('apiVersions: the object\'s or * under matchPolicy Exact; any under Equivalent (the default: converted requests are sent)', () => {
    expect(isCalled(hook([rule({ apiVersions: ['v1beta1'] })], { matchPolicy: 'Exact' }), pod('a'))).toBe(false);
    expect(isCalled(hook([rule({ apiVersions: ['*'] })], { matchPolicy: 'Exact' }), pod('a'))).toBe(true);
    expect(isCalled(hook([rule({ apiVersions: ['v1beta1'] })], { matchPolicy: 'Equivalent' }), pod('a'))).toBe(true);
    expect(isCalled(hook([rule({ apiVersions: ['v1beta1'] })]), pod('a'))).toBe(true);
  });

  it('scope: * and Namespaced call for a namespaced object, Cluster does not; Cluster does for a Namespace', () => {
    expect(isCalled(hook([rule({ scope: '*' })]), pod('a'))).toBe(true);
    expect(isCalled(hook([rule({ scope: 'Namespaced' })]), pod('a'))).toBe(true);
    expect(isCalled(hook([rule({ scope: 'Cluster' })]), pod('a'))).toBe(false);
    const namespace: AdmissionTarget = { ...pod(undefined), resource: 'namespaces', namespaced: false, namespaceLabels: undefined };
    expect(isCalled(hook([rule({ resources: ['namespaces'], scope: 'Cluster' })]), namespace)).toBe(true);
    expect(isCalled(hook([rule({ resources: ['namespaces'], scope: 'Namespaced' })]), namespace)).toBe(false);
  });

  it('no rules, or no webhooks: never called', () => {
    expect(isCalled(hook([]), pod('a'))).toBe(false);
    expect(isCalled(webhooks({ webhooks: [] }), pod('a'))).toBe(false);
    expect(isCalled(webhooks({}), pod('a'))).toBe(false);
  });

  it('any webhook of the configuration is enough', () => {
    const two = webhooks({ webhooks: [{ name: 'a', rules: [rule({ resources: ['deployments'] })] }, { name: 'b', rules: [rule()] }] });
    expect(isCalled(two, pod('a'))).toBe(true);
  });
});

describe('namespaceSelector and objectSelector', () => {
  const env = { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] };

  it('namespaceSelector: the labels of the object\'s namespace; a Namespace\'s own; never for a cluster-scoped object', () => {
    const h = hook([rule({ resources: ['*'], apiGroups: ['*'] })], { namespaceSelector: env });
    expect(isCalled(h, pod('a', { namespaceLabels: labels({ env: 'prod' }) }))).toBe(true);
    expect(isCalled(h, pod('a', { labels: labels({ env: 'prod' }) }))).toBe(false);
    const namespace: AdmissionTarget = { ...pod(undefined), resource: 'namespaces', namespaced: false, namespaceLabels: undefined };
    expect(isCalled(h, { ...namespace, labels: labels({ env: 'prod' }) })).toBe(true);
    expect(isCalled(h, namespace)).toBe(false);
    expect(isCalled(h, { ...pod(undefined), group: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespaced: false, namespaceLabels: undefined })).toBe(true);
    // Labels not known: env may be prod, so it is not ruled out.
    expect(isCalled(h, pod('a', { namespaceLabels: undefined }))).toBe(true);
  });

  it('objectSelector: the object\'s own labels', () => {
    const h = hook([rule()], { objectSelector: env });
    expect(isCalled(h, pod('a', { labels: labels({ env: 'prod' }) }))).toBe(true);
    expect(isCalled(h, pod('a', { namespaceLabels: labels({ env: 'prod' }) }))).toBe(false);
  });
});

describe('webhooksOf: a configuration that cannot be decided with says why', () => {
  it.each([
    [{ webhooks: {} }, 'webhooks is not a list'],
    [{ webhooks: ['x'] }, 'webhooks[0] is not a mapping'],
    [{ webhooks: [{ rules: {} }] }, 'webhooks[0].rules is not a list'],
    [{ webhooks: [{ rules: [{ operations: 'CREATE' }] }] }, 'webhooks[0].rules[0]: operations, apiGroups, apiVersions and resources must be lists of strings'],
    [{ webhooks: [{ rules: [], namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }] }, 'webhooks[0].namespaceSelector matchExpressions[0]: In needs at least one value'],
    [{ webhooks: [{ rules: [], objectSelector: 'x' }] }, 'webhooks[0].objectSelector is not a label selector (a mapping)'],
  ])('%j', (config, problem) => {
    expect(webhooksOf(config)).toEqual({ problem });
  });
});
