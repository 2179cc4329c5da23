/**
 * Image volumes (`spec.volumes[].image.reference`, KEP-4639) through `review`: the kubelet pulls
 * them like container images, with the Pod's imagePullSecrets, so they are rewritten like them,
 * and every output names them as volumes (`volumes[data]`, `volumes/data`), never as containers.
 */
import { describe, expect, it } from '@jest/globals';
import { AUDIT_INVALID_KEY, AUDIT_REINVOCATION_PREFIX, AUDIT_REWRITES_KEY, ORIGINAL_IMAGES_ANNOTATION, type ReviewOutcome } from '../../src/core/admission.js';
import { review } from '../../src/core/review.js';
import { reviewFields } from '../../src/observability/telemetry.js';
import { rewriterFrom } from '../helpers/rules.js';
import { podReview } from '../helpers/admission-review.js';
import { apply, decodePatch, type Ops } from './admission.helpers.js';

const rewriter = rewriterFrom(`
rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: quay
    match: quay.io
    replace: mirror.example.com/quay
    imagePullSecrets: [quay-pull]
`);

type Obj = Record<string, unknown>;
const imageVolume = (name: string, reference: string): Obj => ({ name, image: { reference, pullPolicy: 'IfNotPresent' } });
const pod = (volumes: Obj[], containers: Obj[] = [{ name: 'app', image: 'registry.internal/app:1' }], annotations?: Obj): Obj => ({
  metadata: annotations === undefined ? { name: 'p' } : { name: 'p', annotations },
  spec: { containers, volumes },
});

function run(body: unknown): { outcome: Extract<ReviewOutcome, { ok: true }>; ops: Ops } {
  const outcome = review(body, rewriter);
  if (!outcome.ok) throw new Error(`unexpected 400: ${outcome.message}`);
  return { outcome, ops: decodePatch(outcome.response.response) ?? [] };
}
const ORIGINALS_POINTER = '/metadata/annotations/image-rewriter.io~1original-images';

describe('image volumes', () => {
  it('are rewritten after the containers, and named as volumes in the patch, warnings, audit annotations, originals and report', () => {
    const object = pod([{ name: 'tmp', emptyDir: {} }, imageVolume('data', 'gcr.io/p/data:1')], [{ name: 'data', image: 'gcr.io/p/app:1' }]);
    const { outcome, ops } = run(podReview(object));
    expect(ops).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/p/app:1' },
      { op: 'replace', path: '/spec/volumes/1/image/reference', value: 'asia.gcr.io/p/data:1' },
      { op: 'add', path: '/metadata/annotations', value: { [ORIGINAL_IMAGES_ANNOTATION]: '{"containers/data":"gcr.io/p/app:1","volumes/data":"gcr.io/p/data:1"}' } },
    ]);
    expect(apply(object, ops)).toMatchObject({ spec: { volumes: [{ name: 'tmp' }, { name: 'data', image: { reference: 'asia.gcr.io/p/data:1', pullPolicy: 'IfNotPresent' } }] } });
    const { response, report } = outcome;
    expect(response.response.warnings).toEqual([
      'image-rewriter: rewrote containers[data] gcr.io/p/app:1 -> asia.gcr.io/p/app:1 (rule gcr)',
      'image-rewriter: rewrote volumes[data] gcr.io/p/data:1 -> asia.gcr.io/p/data:1 (rule gcr)',
    ]);
    expect(JSON.parse(response.response.auditAnnotations?.[AUDIT_REWRITES_KEY] ?? '')).toEqual([
      { container: 'containers/data', from: 'gcr.io/p/app:1', to: 'asia.gcr.io/p/app:1', rule: 'gcr' },
      { container: 'volumes/data', from: 'gcr.io/p/data:1', to: 'asia.gcr.io/p/data:1', rule: 'gcr' },
    ]);
    expect(report.rewrites[1]).toEqual({ containerName: 'data', list: 'volumes', pointer: '/spec/volumes/1/image/reference', from: 'gcr.io/p/data:1', to: 'asia.gcr.io/p/data:1', rule: 'gcr' });
    // The log line names the volume as a volume, the container as a container.
    const { fields } = reviewFields(report, 'patched');
    expect(fields['rewritten']).toEqual([
      { container: 'data', from: 'gcr.io/p/app:1', to: 'asia.gcr.io/p/app:1', rule: 'gcr' },
      { volume: 'data', from: 'gcr.io/p/data:1', to: 'asia.gcr.io/p/data:1', rule: 'gcr' },
    ]);
  });

  it('report an invalid reference as a volume, left unchanged', () => {
    const { outcome, ops } = run(podReview(pod([imageVolume('data', 'GCR.io/Bad Ref')])));
    expect(ops).toEqual([]);
    const warning = outcome.response.response.warnings?.[0] ?? '';
    expect(warning).toMatch(/^image-rewriter: image "GCR.io\/Bad Ref" of volumes\[data\] is not a valid reference, left unchanged: /);
    expect(JSON.parse(outcome.response.response.auditAnnotations?.[AUDIT_INVALID_KEY] ?? '')).toMatchObject([{ container: 'volumes/data', image: 'GCR.io/Bad Ref' }]);
    expect(reviewFields(outcome.report, 'patched').fields['invalidImages']).toMatchObject([{ volume: 'data', image: 'GCR.io/Bad Ref' }]);
  });

  it("add the rule's imagePullSecrets to the pod spec (the kubelet pulls them with the Pod's)", () => {
    const { ops } = run(podReview(pod([imageVolume('data', 'quay.io/org/data:1')])));
    expect(ops.filter((o) => o.path.includes('imagePullSecrets'))).toEqual([{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'quay-pull' }] }]);
  });

  it('are rewritten in the pod templates of workloads', () => {
    const deployment = { metadata: { name: 'd' }, spec: { template: { spec: { containers: [{ name: 'a', image: 'nginx' }], volumes: [imageVolume('data', 'gcr.io/p/data')] } } } };
    const { ops } = run(podReview(deployment, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } }));
    expect(ops[0]).toEqual({ op: 'replace', path: '/spec/template/spec/volumes/0/image/reference', value: 'asia.gcr.io/p/data' });
  });

  it('are not looked at on the pods/ephemeralcontainers subresource (it changes ephemeral containers only)', () => {
    const before = pod([imageVolume('data', 'gcr.io/p/data')]);
    const after = { ...before, spec: { ...(before['spec'] as Obj), ephemeralContainers: [{ name: 'dbg', image: 'gcr.io/dbg' }] } };
    const { ops } = run(podReview(after, { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: before }));
    expect(ops).toEqual([{ op: 'replace', path: '/spec/ephemeralContainers/0/image', value: 'asia.gcr.io/dbg' }]);
    // The same Pod in a plain UPDATE that adds the volume: rewritten.
    const added = run(podReview(after, { operation: 'UPDATE', oldObject: { ...before, spec: { containers: [] } } }));
    expect(added.ops.map((o) => o.path)).toContain('/spec/volumes/0/image/reference');
  });

  it('are left alone on an UPDATE that leaves them as stored (a Pod created while the webhook was down gets a label), matched by name', () => {
    const stored = pod([imageVolume('data', 'gcr.io/p/data')]);
    const { ops } = run(podReview({ ...stored, metadata: { name: 'p', labels: { x: 'y' } } }, { operation: 'UPDATE', oldObject: stored }));
    expect(ops).toEqual([]);
    // A volume of the same name in front of it, a new one: only the new one is rewritten.
    const moved = run(podReview(pod([imageVolume('new', 'gcr.io/p/new'), imageVolume('data', 'gcr.io/p/data')]), { operation: 'UPDATE', oldObject: stored }));
    expect(moved.ops.filter((o) => o.path.startsWith('/spec'))).toEqual([{ op: 'replace', path: '/spec/volumes/0/image/reference', value: 'asia.gcr.io/p/new' }]);
  });

  it('on reinvocation (already rewritten) change nothing, and the first original stays', () => {
    const first = run(podReview(pod([imageVolume('data', 'gcr.io/p/data')])));
    const rewritten = apply(pod([imageVolume('data', 'gcr.io/p/data')]), first.ops);
    expect(rewritten).toMatchObject({ metadata: { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: '{"volumes/data":"gcr.io/p/data"}' } } });
    const again = run(podReview(rewritten));
    expect(again.ops).toEqual([]);
    expect(again.outcome.response.response.warnings).toBeUndefined();
  });

  it('a reinvocation that finds a volume added by a later webhook records it under the reinvocation keys', () => {
    const annotations = { [ORIGINAL_IMAGES_ANNOTATION]: '{"containers/app":"gcr.io/app"}' };
    const object = pod([imageVolume('data', 'gcr.io/p/data')], [{ name: 'app', image: 'asia.gcr.io/app' }], annotations);
    const { outcome, ops } = run(podReview(object));
    expect(ops).toContainEqual({ op: 'replace', path: ORIGINALS_POINTER, value: '{"containers/app":"gcr.io/app","volumes/data":"gcr.io/p/data"}' });
    expect(Object.keys(outcome.response.response.auditAnnotations ?? {})).toEqual([`${AUDIT_REINVOCATION_PREFIX}${AUDIT_REWRITES_KEY}`]);
  });

  describe('on a workload UPDATE that changes a recorded image volume', () => {
    const kind = { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } };
    const entries = { 'volumes/data': 'gcr.io/p/data:1', 'containers/data': 'gcr.io/p/app:1' };
    const deployment = (volumes: Obj[]): Obj => ({
      metadata: { name: 'd', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: JSON.stringify(entries) } },
      spec: { template: { spec: { containers: [{ name: 'data', image: 'asia.gcr.io/p/app:1' }], volumes } } },
    });
    const stored = deployment([imageVolume('data', 'asia.gcr.io/p/data:1')]);
    const update = (volumes: Obj[]) => run(podReview(deployment(volumes), { ...kind, operation: 'UPDATE', oldObject: stored }));

    it('drops the entry of a volume set to an image no rule rewrites, keeps the container of the same name', () => {
      const { ops } = update([imageVolume('data', 'registry.internal/data:2')]);
      expect(ops).toEqual([{ op: 'replace', path: ORIGINALS_POINTER, value: '{"containers/data":"gcr.io/p/app:1"}' }]);
    });

    it('drops the entry of a volume the update removes', () => {
      expect(update([]).ops).toEqual([{ op: 'replace', path: ORIGINALS_POINTER, value: '{"containers/data":"gcr.io/p/app:1"}' }]);
    });

    it('records the new original when the new reference is rewritten', () => {
      const { ops } = update([imageVolume('data', 'gcr.io/p/data:2')]);
      expect(ops).toEqual([
        { op: 'replace', path: '/spec/template/spec/volumes/0/image/reference', value: 'asia.gcr.io/p/data:2' },
        // The entry written anew keeps its place.
        { op: 'replace', path: ORIGINALS_POINTER, value: '{"volumes/data":"gcr.io/p/data:2","containers/data":"gcr.io/p/app:1"}' },
      ]);
    });

    it("changes nothing when the volumes are as stored, or the reference is the rules' result for its original", () => {
      expect(update([imageVolume('data', 'asia.gcr.io/p/data:1')]).ops).toEqual([]);
      // Pinned to a digest by another webhook: the same image, the entry kept. Given another
      // image of the same repository without a digest: stale.
      expect(update([imageVolume('data', `asia.gcr.io/p/data:1@sha256:${'c'.repeat(64)}`)]).ops).toEqual([]);
      expect(update([imageVolume('data', 'asia.gcr.io/p/data:0')]).ops).toEqual([{ op: 'replace', path: ORIGINALS_POINTER, value: '{"containers/data":"gcr.io/p/app:1"}' }]);
    });
  });
});
