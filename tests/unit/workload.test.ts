/** Which objects carry a pod spec, and every image in it, read defensively. */
import { describe, expect, it } from '@jest/globals';
import { at, isRecord, own } from '../../src/core/json.js';
import { CONTAINER_LISTS, findImages, IMAGE_LISTS, MAX_FIELD_PROBLEMS, workloadTypeOf, type WorkloadType } from '../../src/core/workload.js';
import { cpuMs } from '../helpers/timing.js';

const gvk = (group: string, kind: string, version = 'v1') => ({ group, version, kind });
const gvr = (group: string, resource: string, version = 'v1') => ({ group, version, resource });

function typeOf(group: string, kind: string, resource: string, sub?: string): WorkloadType {
  const t = workloadTypeOf(gvk(group, kind), gvr(group, resource), sub);
  if (t === undefined) throw new Error(`${group}/${kind} not supported`);
  return t;
}

describe('workloadTypeOf', () => {
  it.each([
    { group: '', kind: 'Pod', resource: 'pods', spec: '/spec' },
    { group: 'apps', kind: 'Deployment', resource: 'deployments', spec: '/spec/template/spec' },
    { group: 'apps', kind: 'ReplicaSet', resource: 'replicasets', spec: '/spec/template/spec' },
    { group: 'apps', kind: 'StatefulSet', resource: 'statefulsets', spec: '/spec/template/spec' },
    { group: 'apps', kind: 'DaemonSet', resource: 'daemonsets', spec: '/spec/template/spec' },
    { group: 'batch', kind: 'Job', resource: 'jobs', spec: '/spec/template/spec' },
    { group: 'batch', kind: 'CronJob', resource: 'cronjobs', spec: '/spec/jobTemplate/spec/template/spec' },
    { group: '', kind: 'ReplicationController', resource: 'replicationcontrollers', spec: '/spec/template/spec' },
    { group: '', kind: 'PodTemplate', resource: 'podtemplates', spec: '/template/spec' },
  ])('$group/$kind ($resource): pod spec at $spec', ({ group, kind, resource, spec }) => {
    const t = typeOf(group, kind, resource);
    expect(t.kind).toBe(kind);
    expect(`/${t.podSpecPath.join('/')}`).toBe(spec);
    expect(t.templateMetadataPath === undefined).toBe(kind === 'Pod');
    if (t.templateMetadataPath !== undefined) expect(t.templateMetadataPath.slice(0, -1)).toEqual(t.podSpecPath.slice(0, -1));
  });

  it.each([
    { name: 'a ConfigMap', kind: gvk('', 'ConfigMap'), resource: gvr('', 'configmaps') },
    { name: 'a Deployment in the old extensions group', kind: gvk('extensions', 'Deployment', 'v1beta1'), resource: gvr('extensions', 'deployments', 'v1beta1') },
    { name: 'a kind in the wrong group', kind: gvk('', 'Deployment'), resource: gvr('', 'deployments') },
    { name: 'kind and resource that disagree', kind: gvk('apps', 'Deployment'), resource: gvr('apps', 'statefulsets') },
    { name: 'a resource in another group', kind: gvk('', 'Pod'), resource: gvr('apps', 'pods') },
    { name: 'a CRD named like a Pod', kind: gvk('example.com', 'Pod'), resource: gvr('example.com', 'pods') },
    { name: 'a kind in lower case', kind: gvk('', 'pod'), resource: gvr('', 'pods') },
    { name: 'an inherited property name', kind: gvk('', 'constructor'), resource: gvr('', 'constructor') },
  ])('nothing for $name', ({ kind, resource }) => {
    expect(workloadTypeOf(kind, resource)).toBeUndefined();
  });

  it.each([
    { sub: 'ephemeralcontainers', kind: 'Pod', resource: 'pods', group: '', supported: true },
    { sub: 'status', kind: 'Pod', resource: 'pods', group: '', supported: false },
    { sub: 'binding', kind: 'Pod', resource: 'pods', group: '', supported: false },
    { sub: 'exec', kind: 'Pod', resource: 'pods', group: '', supported: false },
    { sub: 'scale', kind: 'Deployment', resource: 'deployments', group: 'apps', supported: false },
    { sub: 'status', kind: 'Deployment', resource: 'deployments', group: 'apps', supported: false },
    { sub: 'ephemeralcontainers', kind: 'Deployment', resource: 'deployments', group: 'apps', supported: false },
  ])('subresource $resource/$sub: $supported', ({ sub, kind, resource, group, supported }) => {
    expect(workloadTypeOf(gvk(group, kind), gvr(group, resource), sub) !== undefined).toBe(supported);
  });

  it('reads the alpha EphemeralContainers kind of old clusters as unsupported', () => {
    expect(workloadTypeOf(gvk('', 'EphemeralContainers'), gvr('', 'pods'), 'ephemeralcontainers')).toBeUndefined();
  });
});

describe('findImages', () => {
  const pod = typeOf('', 'Pod', 'pods');
  const deployment = typeOf('apps', 'Deployment', 'deployments');
  const cronJob = typeOf('batch', 'CronJob', 'cronjobs');
  const podTemplate = typeOf('', 'PodTemplate', 'podtemplates');

  it('lists containers, then initContainers, then ephemeralContainers, with pointers', () => {
    const spec = {
      ephemeralContainers: [{ name: 'debug', image: 'busybox' }],
      initContainers: [{ name: 'init-0', image: 'a' }, { name: 'init-1', image: 'b' }],
      containers: [{ name: 'app', image: 'c' }],
    };
    expect(findImages({ spec }, pod).images).toEqual([
      { pointer: '/spec/containers/0/image', containerList: 'containers', index: 0, containerName: 'app', image: 'c' },
      { pointer: '/spec/initContainers/0/image', containerList: 'initContainers', index: 0, containerName: 'init-0', image: 'a' },
      { pointer: '/spec/initContainers/1/image', containerList: 'initContainers', index: 1, containerName: 'init-1', image: 'b' },
      { pointer: '/spec/ephemeralContainers/0/image', containerList: 'ephemeralContainers', index: 0, containerName: 'debug', image: 'busybox' },
    ]);
    expect(findImages({ spec }, pod, ['ephemeralContainers']).images.map((f) => f.pointer)).toEqual(['/spec/ephemeralContainers/0/image']);
    expect(CONTAINER_LISTS).toEqual(['containers', 'initContainers', 'ephemeralContainers']);
  });

  it('finds the pod spec of templates', () => {
    const c = { containers: [{ name: 'a', image: 'x' }], initContainers: [{ name: 'b', image: 'y' }] };
    expect(findImages({ spec: { template: { spec: c } } }, deployment).images.map((f) => f.pointer)).toEqual([
      '/spec/template/spec/containers/0/image',
      '/spec/template/spec/initContainers/0/image',
    ]);
    expect(findImages({ spec: { jobTemplate: { spec: { template: { spec: c } } } } }, cronJob).images[1]?.pointer).toBe(
      '/spec/jobTemplate/spec/template/spec/initContainers/0/image',
    );
    const found = findImages({ template: { spec: c } }, podTemplate);
    expect(found.podSpecPointer).toBe('/template/spec');
    expect(found.podSpec).toBe(c);
  });

  it.each([
    { name: 'no spec', object: {} },
    { name: 'a null spec', object: { spec: null } },
    { name: 'a null object', object: null },
    { name: 'a string object', object: 'pod' },
    { name: 'empty lists', object: { spec: { containers: [], initContainers: [] } } },
    { name: 'null lists', object: { spec: { containers: null, initContainers: null, ephemeralContainers: null } } },
    { name: 'containers without image', object: { spec: { containers: [{ name: 'a' }, { name: 'b', image: null }] } } },
    // A template may leave the image empty for a later tool to set (OpenShift's image triggers):
    // it was reported as an invalid image, a warning at every apply.
    { name: 'an empty image, or image volume reference', object: { spec: { containers: [{ name: 'a', image: '' }], volumes: [{ name: 'v', image: { reference: '' } }] } } },
    // Istio's gateway Deployments: its injector fills in `auto` only while it is `auto`.
    { name: "Istio's image placeholder auto", object: { spec: { containers: [{ name: 'istio-proxy', image: 'auto' }], initContainers: [{ name: 'istio-init', image: 'auto' }] } } },
  ])('nothing and no problem for $name', ({ object }) => {
    const found = findImages(object, pod);
    expect(found.images).toEqual([]);
    expect(found.problems).toEqual([]);
  });

  it('lists auto as an image where Istio fills in nothing, and any other spelling of it', () => {
    const spec = {
      containers: [{ name: 'a', image: 'auto:1' }, { name: 'b', image: 'docker.io/library/auto' }, { name: 'c', image: 'AUTO' }],
      ephemeralContainers: [{ name: 'debug', image: 'auto' }],
      volumes: [{ name: 'v', image: { reference: 'auto' } }],
    };
    expect(findImages({ spec }, pod).images.map((f) => `${f.pointer}=${f.image}`)).toEqual([
      '/spec/containers/0/image=auto:1',
      '/spec/containers/1/image=docker.io/library/auto',
      '/spec/containers/2/image=AUTO',
      '/spec/ephemeralContainers/0/image=auto',
      '/spec/volumes/0/image/reference=auto',
    ]);
  });

  it('skips and reports what the API server would never send', () => {
    const spec = {
      containers: [{ name: 'n', image: 7 }, 'app', [], { name: 'o', image: { ref: 'x' } }, { name: 1, image: 'ok' }, { name: 'l', image: ['x'] }, { name: 'b', image: true }],
      initContainers: { name: 'not-a-list' },
      ephemeralContainers: 'x',
    };
    const found = findImages({ spec }, pod);
    expect(found.images).toEqual([{ pointer: '/spec/containers/4/image', containerList: 'containers', index: 4, containerName: undefined, image: 'ok' }]);
    expect(found.problems).toEqual([
      { pointer: '/spec/containers/0/image', problem: 'is a number, not a string' },
      { pointer: '/spec/containers/1', problem: 'is a string, not an object' },
      { pointer: '/spec/containers/2', problem: 'is a list, not an object' },
      { pointer: '/spec/containers/3/image', problem: 'is an object, not a string' },
      { pointer: '/spec/containers/5/image', problem: 'is a list, not a string' },
      { pointer: '/spec/containers/6/image', problem: 'is a boolean, not a string' },
      { pointer: '/spec/initContainers', problem: 'is an object, not a list' },
      { pointer: '/spec/ephemeralContainers', problem: 'is a string, not a list' },
    ]);
    expect(findImages({ spec: [] }, pod).problems).toEqual([{ pointer: '/spec', problem: 'is a list, not an object' }]);
    expect(findImages({ spec: { template: 5 } }, deployment).problems).toEqual([]);
    expect(findImages({ spec: { template: { spec: 5 } } }, deployment).problems).toEqual([{ pointer: '/spec/template/spec', problem: 'is a number, not an object' }]);
  });

  it('lists image volumes after the containers, named by the volume, other volumes left out', () => {
    const spec = {
      volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'data', image: { reference: 'gcr.io/p/data:1', pullPolicy: 'IfNotPresent' } }, { image: { reference: 'x' } }, { name: 'n', image: null }],
      containers: [{ name: 'app', image: 'c' }],
    };
    expect(findImages({ spec }, pod).images).toEqual([
      { pointer: '/spec/containers/0/image', containerList: 'containers', index: 0, containerName: 'app', image: 'c' },
      { pointer: '/spec/volumes/1/image/reference', containerList: 'volumes', index: 1, containerName: 'data', image: 'gcr.io/p/data:1' },
      { pointer: '/spec/volumes/2/image/reference', containerList: 'volumes', index: 2, containerName: undefined, image: 'x' },
    ]);
    expect(findImages({ spec }, pod).problems).toEqual([]);
    expect(IMAGE_LISTS).toEqual(['containers', 'initContainers', 'ephemeralContainers', 'volumes']);
    // The pods/ephemeralcontainers subresource: ephemeral containers only.
    expect(findImages({ spec }, pod, ['ephemeralContainers']).images).toEqual([]);
    const volumes = [{ name: 'v', image: { reference: 'y' } }];
    expect(findImages({ spec: { template: { spec: { volumes } } } }, deployment).images.map((f) => f.pointer)).toEqual(['/spec/template/spec/volumes/0/image/reference']);
    expect(findImages({ spec: { jobTemplate: { spec: { template: { spec: { volumes } } } } } }, cronJob).images.map((f) => f.pointer)).toEqual([
      '/spec/jobTemplate/spec/template/spec/volumes/0/image/reference',
    ]);
    expect(findImages({ template: { spec: { volumes } } }, podTemplate).images.map((f) => f.pointer)).toEqual(['/template/spec/volumes/0/image/reference']);
    expect(findImages({ spec: { volumes: [{ name: 'v', image: {} }, { name: 'w', image: { reference: null } }] } }, pod)).toMatchObject({ images: [], problems: [] });
  });

  it('skips and reports image volumes the API server would never send, bounded like the containers', () => {
    const spec = { volumes: ['v', { name: 'a', image: 'gcr.io/x' }, { name: 'b', image: [] }, { name: 'c', image: { reference: 7 } }, { name: 'd', image: { reference: { r: 'x' } } }] };
    const found = findImages({ spec }, pod);
    expect(found.images).toEqual([]);
    expect(found.problems).toEqual([
      { pointer: '/spec/volumes/0', problem: 'is a string, not an object' },
      { pointer: '/spec/volumes/1/image', problem: 'is a string, not an object' },
      { pointer: '/spec/volumes/2/image', problem: 'is a list, not an object' },
      { pointer: '/spec/volumes/3/image/reference', problem: 'is a number, not a string' },
      { pointer: '/spec/volumes/4/image/reference', problem: 'is an object, not a string' },
    ]);
    expect(findImages({ spec: { volumes: { name: 'x' } } }, pod).problems).toEqual([{ pointer: '/spec/volumes', problem: 'is an object, not a list' }]);
    const many = findImages({ spec: { containers: [{ name: 'c', image: 1 }], volumes: Array.from({ length: 100 }, (_, i) => ({ name: `v${i}`, image: { reference: i } })) } }, pod);
    expect(many.problems).toHaveLength(MAX_FIELD_PROBLEMS + 1);
    expect(many.problems[MAX_FIELD_PROBLEMS]).toEqual({ pointer: '/spec', problem: `and ${101 - MAX_FIELD_PROBLEMS} more fields skipped`, fields: 101 - MAX_FIELD_PROBLEMS });
  });

  it('never reads inherited properties', () => {
    const parsed: unknown = JSON.parse('{"__proto__":{"spec":{"containers":[{"image":"evil"}]}}}');
    expect(findImages(parsed, pod).images).toEqual([]);
    const inherited = Object.create({ spec: { containers: [{ name: 'a', image: 'evil' }] } }) as unknown;
    expect(findImages(inherited, pod).images).toEqual([]);
    const spec = JSON.parse('{"containers":[{"name":"a","image":"x","__proto__":{"name":"b"}}]}') as unknown;
    expect(findImages({ spec }, pod).images[0]?.containerName).toBe('a');
    expect(own({}, 'toString')).toBeUndefined();
    expect(own([1], '0')).toBeUndefined();
    expect(at({ a: { b: 1 } }, ['a', 'b'])).toBe(1);
    expect(at({ a: null }, ['a', 'b'])).toBeUndefined();
    expect(isRecord([])).toBe(false);
    expect(isRecord(null)).toBe(false);
    expect(isRecord({})).toBe(true);
  });

  it('handles a large pod spec in linear time', () => {
    const containers = Array.from({ length: 50_000 }, (_, i) => ({ name: `c${i}`, image: `gcr.io/app-${i}` }));
    let found: ReturnType<typeof findImages> | undefined;
    // CPU time: a loaded machine does not stretch it (tests/helpers/timing.ts).
    const ms = cpuMs(() => {
      found = findImages({ spec: { containers } }, pod);
    });
    expect(found?.images).toHaveLength(50_000);
    expect(found?.images[49_999]?.pointer).toBe('/spec/containers/49999/image');
    expect(ms).toBeLessThan(2000);
  });
});
