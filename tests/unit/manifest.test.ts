/** The objects of a manifest document and the webhook's decision for each (src/core/manifest.ts). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { auditOf, containerLabel, decide, objectsOf, readObjects } from '../../src/core/manifest.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom(readFileSync(join(FIXTURES, 'render', 'rules.yaml'), 'utf8'));
const spec = { containers: [{ image: 'gcr.io/a' }] };

describe('objectsOf', () => {
  it.each([
    ['an empty document', null, { ok: true, objects: [] }],
    ['a list', [1], { ok: false, problem: { pointer: '', message: 'is a list, not a Kubernetes object (a mapping with apiVersion and kind)' } }],
    ['null items', { apiVersion: 'v1', kind: 'List', items: null }, { ok: true, objects: [] }],
    ['a null item', { apiVersion: 'v1', kind: 'List', items: [null] }, { ok: false, problem: { pointer: '/items/0', message: 'is null, not a Kubernetes object (a mapping with apiVersion and kind)' } }],
    ['a number item', { apiVersion: 'v1', kind: 'PodList', items: [3] }, { ok: false, problem: { pointer: '/items/0', message: 'is a number, not a Kubernetes object (a mapping with apiVersion and kind)' } }],
    ['items that are not a list', { apiVersion: 'v1', kind: 'List', items: {} }, { ok: false, problem: { pointer: '/items', message: 'is an object, not a list' } }],
    ['no apiVersion', { kind: 'Pod' }, { ok: false, problem: { pointer: '/apiVersion', message: 'is missing or not a non-empty string' } }],
    ['a List item without kind', { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1' }] }, { ok: false, problem: { pointer: '/items/0/kind', message: 'is missing or not a non-empty string' } }],
  ])('%s', (_name, document, expected) => {
    expect(objectsOf(document)).toEqual(expected);
  });

  it('a typed list lends its items its group, version and kind; generateName names an object', () => {
    const r = objectsOf({ apiVersion: 'apps/v1', kind: 'DeploymentList', items: [{ metadata: { generateName: 'web-', namespace: 'a' }, spec: {} }] });
    expect(r).toMatchObject({ ok: true, objects: [{ pointer: '/items/0', group: 'apps', version: 'v1', kind: 'Deployment', name: 'web-', namespace: 'a' }] });
  });

  it('a kind ending in List without items is an object of its own', () => {
    expect(objectsOf({ apiVersion: 'example.com/v1', kind: 'AllowList', spec: {} })).toMatchObject({ ok: true, objects: [{ kind: 'AllowList', pointer: '' }] });
  });

  it('a List needs no apiVersion of its own (its items carry theirs); an item still does', () => {
    expect(objectsOf({ kind: 'List', items: [] })).toEqual({ ok: true, objects: [] });
    expect(objectsOf({ kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod' }] })).toMatchObject({ ok: true, objects: [{ pointer: '/items/0', kind: 'Pod' }] });
    expect(objectsOf({ kind: 'List', items: [{ kind: 'List' }] })).toEqual({ ok: false, problem: { pointer: '/items/0/apiVersion', message: 'is missing or not a non-empty string' } });
  });
});

describe('readObjects', () => {
  it('reads every item that is an object and names each that is not, in order', () => {
    const r = readObjects({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod' }, 'oops', { apiVersion: 'v1' }, { apiVersion: 'apps/v1', kind: 'Deployment' }] });
    expect(r.objects.map((o) => `${o.pointer} ${o.kind}`)).toEqual(['/items/0 Pod', '/items/3 Deployment']);
    expect(r.problems).toEqual([
      { pointer: '/items/1', message: 'is a string, not a Kubernetes object (a mapping with apiVersion and kind)' },
      { pointer: '/items/2/kind', message: 'is missing or not a non-empty string' },
    ]);
  });

  it('a document that is not an object: one problem, no objects', () => {
    expect(readObjects('oops')).toEqual({ objects: [], problems: [{ pointer: '', message: 'is a string, not a Kubernetes object (a mapping with apiVersion and kind)' }] });
  });

  it('a List among the items is flattened, as kubectl apply reads it (cli-runtime FlattenListVisitor), in document order', () => {
    const pod = (name: string): unknown => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec });
    const r = readObjects({
      apiVersion: 'v1',
      kind: 'List',
      items: [pod('a'), { apiVersion: 'v1', kind: 'List', items: [pod('b'), { apiVersion: 'apps/v1', kind: 'DeploymentList', items: [{ metadata: { name: 'd' } }] }] }, pod('c'), { apiVersion: 'v1', kind: 'List', items: 7 }],
    });
    expect(r.objects.map((o) => `${o.pointer} ${o.kind} ${o.name ?? ''}`)).toEqual(['/items/0 Pod a', '/items/1/items/0 Pod b', '/items/1/items/1/items/0 Deployment d', '/items/2 Pod c']);
    expect(r.problems).toEqual([{ pointer: '/items/3/items', message: 'is a number, not a list' }]);
  });
});

describe('decide and auditOf', () => {
  const pod = { pointer: '', object: { metadata: { name: 'p' }, spec }, group: '', version: 'v1', kind: 'Pod', namespace: undefined, name: 'p' } as const;

  it('patches as the webhook would, with pointers from the document', () => {
    const d = decide({ ...pod, pointer: '/items/2' }, rewriter, { annotate: false, scope: 'all', namespace: 'ns' });
    expect(d).toMatchObject({ ops: [{ op: 'replace', path: '/items/2/spec/containers/0/image', value: 'asia.gcr.io/a' }], namespace: 'ns' });
  });

  it('skips kinds without a pod spec, workloads out of scope, and opted-out objects', () => {
    expect(decide({ ...pod, kind: 'Service' }, rewriter, { annotate: false, scope: 'all' }).skipped).toBe('unsupported-kind');
    const deployment = { ...pod, group: 'apps', kind: 'Deployment', object: { spec: { template: { spec } } } };
    expect(decide(deployment, rewriter, { annotate: false, scope: 'pods' }).skipped).toBe('scope');
    const skipped = { ...pod, object: { metadata: { labels: { 'image-rewriter.io/skip': 'true' } }, spec } };
    expect(decide(skipped, rewriter, { annotate: true, scope: 'all' })).toMatchObject({ ops: [], skipped: 'opt-out' });
  });

  it('a finding per rewritten container; a container without a name is named by its list and index', () => {
    expect(auditOf({ ...pod, namespace: 'shop' }, rewriter, 'all').findings).toEqual([
      { namespace: 'shop', kind: 'Pod', name: 'p', container: 'containers[0]', image: 'gcr.io/a', rewritten: 'asia.gcr.io/a', rule: 'gcr-asia' },
    ]);
    expect(auditOf({ ...pod, name: undefined }, rewriter, 'all').findings[0]).toMatchObject({ namespace: '', name: '' });
    expect(containerLabel({ list: 'initContainers', containerName: 'init', pointer: '/spec/initContainers/0/image' })).toBe('init');
    expect(containerLabel({ list: 'containers', containerName: undefined, pointer: '/odd' })).toBe('containers[?]');
  });

  it('a finding per rewritten image volume, named volumes/<name> (never taken for a container of that name)', () => {
    const object = { spec: { containers: [{ name: 'model', image: 'gcr.io/server' }], volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'model', image: { reference: 'gcr.io/models/llm:1' } }] } };
    expect(auditOf({ ...pod, object, namespace: 'ml' }, rewriter, 'all').findings).toEqual([
      { namespace: 'ml', kind: 'Pod', name: 'p', container: 'model', image: 'gcr.io/server', rewritten: 'asia.gcr.io/server', rule: 'gcr-asia' },
      { namespace: 'ml', kind: 'Pod', name: 'p', container: 'volumes/model', image: 'gcr.io/models/llm:1', rewritten: 'asia.gcr.io/models/llm:1', rule: 'gcr-asia' },
    ]);
    expect(containerLabel({ list: 'volumes', containerName: undefined, pointer: '/spec/template/spec/volumes/3/image/reference' })).toBe('volumes[3]');
  });
});
