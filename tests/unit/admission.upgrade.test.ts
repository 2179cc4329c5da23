/**
 * Objects an earlier release stored, reviewed on UPDATE by this one (README, "Upgrading"). The
 * stored objects below are what the release at 00c7801 (2026-12-04, before stale original-images
 * entries were dropped, image volumes and the kept-stored-image rule) answered to their CREATE
 * with these rules, its patch applied: re-applying the manifest, dropping the annotation (another
 * field manager's server-side apply) or changing a label must leave every image, pull secret and
 * original-images entry as it was, none lost or doubled.
 */
import { describe, expect, it } from '@jest/globals';
import { ORIGINAL_IMAGES_ANNOTATION } from '../../src/core/admission.js';
import { isRecord, own } from '../../src/core/json.js';
import { review } from '../../src/core/review.js';
import { rewriterFrom } from '../helpers/rules.js';
import { podReview } from '../helpers/admission-review.js';
import { apply, decodePatch } from './admission.helpers.js';

const rewriter = rewriterFrom(`
rules:
  - name: gcr
    match: gcr.io
    replace: mirror.example.com/gcr
    imagePullSecrets: [mirror-pull]
  - name: hub
    match: docker.io
    replace: mirror.example.com/hub
`);

const ORIGINALS = '{"containers/a":"gcr.io/x/a:1","containers/b":"nginx:1.27","initContainers/init":"busybox:1.36"}';
const storedSpec = () => ({
  initContainers: [{ name: 'init', image: 'mirror.example.com/hub/library/busybox:1.36' }],
  containers: [
    { name: 'a', image: 'mirror.example.com/gcr/x/a:1' },
    { name: 'b', image: 'mirror.example.com/hub/library/nginx:1.27', imagePullPolicy: 'IfNotPresent' },
  ],
  imagePullSecrets: [{ name: 'own' }, { name: 'mirror-pull' }],
});

type Obj = Record<string, unknown>;
const STORED: Record<string, { object: Obj; request: Obj; podSpec: (o: unknown) => unknown }> = {
  Pod: {
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', annotations: { team: 'a', [ORIGINAL_IMAGES_ANNOTATION]: ORIGINALS } }, spec: storedSpec() },
    request: {},
    podSpec: (o) => own(o, 'spec'),
  },
  Job: {
    object: {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j', namespace: 'default', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: ORIGINALS } },
      spec: { template: { metadata: { labels: { app: 'j' } }, spec: { ...storedSpec(), restartPolicy: 'Never' } } },
    },
    request: { kind: { group: 'batch', version: 'v1', kind: 'Job' }, resource: { group: 'batch', version: 'v1', resource: 'jobs' } },
    podSpec: (o) => own(own(own(o, 'spec'), 'template'), 'spec'),
  },
};

/** The manifest's upstream images, as `kubectl apply` of the unchanged manifest sends them. */
function reapplied(podSpec: unknown): void {
  if (!isRecord(podSpec)) throw new Error('no pod spec');
  const [init] = podSpec['initContainers'] as Obj[];
  const [a, b] = podSpec['containers'] as Obj[];
  if (init === undefined || a === undefined || b === undefined) throw new Error('containers missing');
  init['image'] = 'busybox:1.36';
  a['image'] = 'gcr.io/x/a:1';
  b['image'] = 'nginx:1.27';
}

const UPDATES: Record<string, (o: Obj, podSpec: unknown) => void> = {
  'the manifest applied again': (_o, spec) => {
    reapplied(spec);
  },
  'the manifest applied again without the annotation': (o, spec) => {
    reapplied(spec);
    const metadata = o['metadata'] as Obj;
    const annotations = isRecord(metadata['annotations']) ? metadata['annotations'] : {};
    metadata['annotations'] = Object.fromEntries(Object.entries(annotations).filter(([k]) => k !== ORIGINAL_IMAGES_ANNOTATION));
  },
  'a label changed': (o) => {
    (o['metadata'] as Obj)['labels'] = { tier: 'web' };
  },
};

describe('objects stored by an earlier release, reviewed on UPDATE', () => {
  for (const [kind, stored] of Object.entries(STORED)) {
    for (const [name, change] of Object.entries(UPDATES)) {
      it(`${kind}: ${name} leaves its images, pull secrets and original-images entries as they were`, () => {
        const object = structuredClone(stored.object);
        change(object, stored.podSpec(object));
        const outcome = review(podReview(object, { ...stored.request, operation: 'UPDATE', oldObject: stored.object }), rewriter);
        if (!outcome.ok) throw new Error('refused');
        expect(outcome.response.response.allowed).toBe(true);
        const ops = decodePatch(outcome.response.response) ?? [];
        const result = apply(object, ops);
        expect(stored.podSpec(result)).toEqual(stored.podSpec(stored.object));
        const annotation = own(own(own(result, 'metadata'), 'annotations'), ORIGINAL_IMAGES_ANNOTATION);
        expect(typeof annotation === 'string' ? JSON.parse(annotation) : annotation).toEqual(JSON.parse(ORIGINALS));
      });
    }
  }
});
