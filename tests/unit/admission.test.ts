/**
 * Behaviour of `review` that the golden pairs do not show one case at a time: odd metadata,
 * limits on warnings and audit annotations, untrusted text, namespaces, and options.
 */
import { describe, expect, it } from '@jest/globals';
import {
  AUDIT_INVALID_KEY,
  AUDIT_REINVOCATION_PREFIX,
  AUDIT_REWRITES_KEY,
  MAX_ANNOTATIONS_BYTES,
  MAX_AUDIT_ANNOTATION_BYTES,
  MAX_WARNINGS,
  MAX_WARNINGS_LENGTH,
  ORIGINAL_IMAGES_ANNOTATION,
  type ReviewOptions,
  type ReviewOutcome,
  WARNING_MAX_LENGTH,
  WARNING_TARGET_LENGTH,
} from '../../src/core/admission.js';
import { decide } from '../../src/core/decide.js';
import { originalImagesKey } from '../../src/core/original-images.js';
import { verifyRequestOf } from '../../src/verify/policy.js';
import { review } from '../../src/core/review.js';
import { fitWarning } from '../../src/core/warning-text.js';
import { rewriterFrom } from '../helpers/rules.js';
import { apply, decodePatch, type Ops } from './admission.helpers.js';
import { podReview } from '../helpers/admission-review.js';

const rewriter = rewriterFrom(`
rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: hub
    match: docker.io/library
    replace: mirror.example.com/hub
    imagePullSecrets: [hub-pull, shared-pull]
  - name: quay
    match: quay.io
    replace: mirror.example.com/quay
    imagePullSecrets: [shared-pull]
  - name: team-a-only
    match: registry.example.com
    replace: team-a.example.com
    namespaces: [team-a]
`);

type Container = Record<string, unknown>;
const pod = (containers: Container[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  metadata: { name: 'p' },
  spec: { containers },
  ...extra,
});

function answered(outcome: ReviewOutcome): Extract<ReviewOutcome, { ok: true }> {
  if (!outcome.ok) throw new Error(`unexpected 400: ${outcome.message}`);
  return outcome;
}
function run(body: unknown, options?: ReviewOptions): { outcome: Extract<ReviewOutcome, { ok: true }>; ops: Ops } {
  const outcome = answered(review(body, rewriter, options));
  return { outcome, ops: decodePatch(outcome.response.response) ?? [] };
}
const annotationOps = (ops: Ops): Ops => ops.filter((o) => o.path.startsWith('/metadata'));
/** The original-images JSON the ops write, whichever op writes it. */
function originals(ops: Ops): unknown {
  const [op] = annotationOps(ops);
  const value = op?.value;
  if (op?.path === '/metadata/annotations' && typeof value === 'object' && value !== null) return (value as Record<string, unknown>)[ORIGINAL_IMAGES_ANNOTATION];
  return value;
}

describe('the original-images annotation', () => {
  it('is not written when recordOriginals is false', () => {
    const { ops } = run(podReview(pod([{ name: 'a', image: 'gcr.io/a' }])), { recordOriginals: false });
    expect(ops).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/a' }]);
  });

  // A string is a valid annotation, whatever it holds (`valid`: render warns and replaces it too);
  // a value that is not a string is not a valid object (render refuses it).
  const notOurMap = { problem: 'is not a JSON map of strings; replaced', valid: true } as const;
  it.each([
    { name: 'not JSON', value: 'gcr.io/a', reported: notOurMap },
    { name: 'a JSON list', value: '["gcr.io/a"]', reported: notOurMap },
    { name: 'a map with a non-string value', value: '{"containers/a":1}', reported: notOurMap },
    { name: 'not a string', value: 42, reported: { problem: 'is not a string; replaced' } },
  ])('replaces an existing value that is $name, and reports it', ({ value, reported }) => {
    const object = pod([{ name: 'a', image: 'gcr.io/a' }], { metadata: { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: value } } });
    const { outcome, ops } = run(podReview(object));
    expect(annotationOps(ops)).toEqual([
      { op: 'replace', path: '/metadata/annotations/image-rewriter.io~1original-images', value: '{"containers/a":"gcr.io/a"}' },
    ]);
    expect(outcome.report.malformed).toStrictEqual([{ pointer: '/metadata/annotations/image-rewriter.io~1original-images', ...reported }]);
  });

  it('keeps entries of containers not rewritten now (even gone ones), records the new original of a re-rewritten one, adds new ones', () => {
    const existing = JSON.stringify({ 'containers/old': 'gcr.io/old', 'containers/a': 'gcr.io/a:0' });
    const object = pod([{ name: 'a', image: 'gcr.io/a:1' }, { name: 'b', image: 'gcr.io/b' }], { metadata: { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: existing } } });
    const { ops } = run(podReview(object, { operation: 'UPDATE' }));
    const value = annotationOps(ops)[0]?.value;
    expect(value).toBe('{"containers/old":"gcr.io/old","containers/a":"gcr.io/a:1","containers/b":"gcr.io/b"}');
  });

  it('on reinvocation (images already rewritten) changes nothing, so the first original stays', () => {
    const existing = JSON.stringify({ 'containers/a': 'gcr.io/a:0' });
    const object = pod([{ name: 'a', image: 'asia.gcr.io/a:0' }], { metadata: { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: existing } } });
    const { ops } = run(podReview(object, { operation: 'UPDATE' }));
    expect(ops).toEqual([]);
  });

  describe('on an UPDATE that replaces or removes a recorded container image', () => {
    const annotated = (entries: Record<string, string>, containers: Container[]) =>
      pod(containers, { metadata: { name: 'p', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: JSON.stringify(entries) } } });
    const stored = annotated({ 'containers/a': 'gcr.io/a:1', 'containers/b': 'gcr.io/b:1' }, [
      { name: 'a', image: 'asia.gcr.io/a:1' },
      { name: 'b', image: 'asia.gcr.io/b:1' },
    ]);
    const update = (containers: Container[], entries: Record<string, string> = { 'containers/a': 'gcr.io/a:1', 'containers/b': 'gcr.io/b:1' }) =>
      run(podReview(annotated(entries, containers), { operation: 'UPDATE', oldObject: stored }));

    it('drops the entry of an image set to one no rule rewrites (kubectl set image), keeps the others', () => {
      const { ops } = update([{ name: 'a', image: 'asia.gcr.io/a:1' }, { name: 'b', image: 'registry.internal/b:2' }]);
      expect(annotationOps(ops)).toEqual([{ op: 'replace', path: '/metadata/annotations/image-rewriter.io~1original-images', value: '{"containers/a":"gcr.io/a:1"}' }]);
    });

    it("drops the entry of a container the update removes, and of an image rolled back to another rewrite's result", () => {
      const { ops } = update([{ name: 'b', image: 'asia.gcr.io/b:0' }]);
      expect(originals(ops)).toBe('{}');
      expect(ops.filter((o) => o.path.includes('/spec/'))).toEqual([]);
    });

    it('records the new original when the new image is rewritten', () => {
      const { ops } = update([{ name: 'a', image: 'asia.gcr.io/a:1' }, { name: 'b', image: 'gcr.io/other:3' }]);
      expect(originals(ops)).toBe('{"containers/a":"gcr.io/a:1","containers/b":"gcr.io/other:3"}');
    });

    it("keeps an entry whose image is the rules' result for it, or that pinned to a digest (the same upstream image sent again)", () => {
      // b sent again as gcr.io/b:1: rewritten to asia.gcr.io/b:1, and another webhook pinned the digest its tag now has.
      const digest = `sha256:${'c'.repeat(64)}`;
      const { ops } = update([{ name: 'a', image: 'asia.gcr.io/a:1' }, { name: 'b', image: `asia.gcr.io/b:1@${digest}` }]);
      expect(ops).toEqual([]);
    });

    it('leaves alone an entry of a container the stored object did not have either (this update did not remove it)', () => {
      const entries = { 'containers/a': 'gcr.io/a:1', 'containers/b': 'gcr.io/b:1', 'containers/gone': 'gcr.io/gone:1' };
      const containers = [{ name: 'a', image: 'asia.gcr.io/a:1' }, { name: 'b', image: 'asia.gcr.io/b:1' }];
      const { ops } = run(podReview(annotated(entries, containers), { operation: 'UPDATE', oldObject: annotated(entries, containers) }));
      expect(ops).toEqual([]);
    });

    it('keeps an entry written during this request, whatever another webhook made of the image since', () => {
      // Ours rewrote b (gcr.io/b:2 -> asia.gcr.io/b:2) and recorded it; a later webhook sent it through a proxy.
      const { ops } = update(
        [{ name: 'a', image: 'asia.gcr.io/a:1' }, { name: 'b', image: 'proxy.example.com/asia.gcr.io/b:2' }],
        { 'containers/a': 'gcr.io/a:1', 'containers/b': 'gcr.io/b:2' },
      );
      expect(ops).toEqual([]);
    });

    it('drops the entry of a removed container listed after an entry written during this request', () => {
      // Ours rewrote a (gcr.io/a:2 -> asia.gcr.io/a:2) and recorded it in a's place; the update removed b.
      const { ops } = update([{ name: 'a', image: 'asia.gcr.io/a:2' }], { 'containers/a': 'gcr.io/a:2', 'containers/b': 'gcr.io/b:1' });
      expect(annotationOps(ops)).toEqual([{ op: 'replace', path: '/metadata/annotations/image-rewriter.io~1original-images', value: '{"containers/a":"gcr.io/a:2"}' }]);
    });

    it('changes nothing on an update that leaves the images as stored (a label, a finalizer)', () => {
      expect(update([{ name: 'a', image: 'asia.gcr.io/a:1' }, { name: 'b', image: 'asia.gcr.io/b:1' }]).ops).toEqual([]);
    });
  });

  it.each([
    { name: 'metadata a string', extra: { metadata: 'x' }, pointer: '/metadata' },
    { name: 'annotations a list', extra: { metadata: { annotations: ['x'] } }, pointer: '/metadata/annotations' },
  ])('is skipped, with a report, when $name', ({ extra, pointer }) => {
    const { outcome, ops } = run(podReview(pod([{ name: 'a', image: 'gcr.io/a' }], extra)));
    expect(annotationOps(ops)).toEqual([]);
    expect(outcome.report.malformed).toEqual([{ pointer, problem: 'is not an object; original images not recorded' }]);
    expect(ops).toHaveLength(1);
  });

  it('replaces a null metadata and null annotations with add', () => {
    expect(annotationOps(run(podReview(pod([{ name: 'a', image: 'gcr.io/a' }], { metadata: null }))).ops)).toEqual([
      { op: 'add', path: '/metadata', value: { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: '{"containers/a":"gcr.io/a"}' } } },
    ]);
    expect(annotationOps(run(podReview(pod([{ name: 'a', image: 'gcr.io/a' }], { metadata: { annotations: null } }))).ops)).toEqual([
      { op: 'add', path: '/metadata/annotations', value: { [ORIGINAL_IMAGES_ANNOTATION]: '{"containers/a":"gcr.io/a"}' } },
    ]);
  });

  describe('stays within the API server\'s limit on the size of annotations', () => {
    // The total of keys and values the API server accepts (apimachinery's TotalAnnotationSizeLimitB):
    // an object past it is rejected, and with it the admission the webhook should never fail.
    const limit = MAX_ANNOTATIONS_BYTES;
    const recorded = '{"containers/a":"gcr.io/a"}';
    const ourBytes = ORIGINAL_IMAGES_ANNOTATION.length + recorded.length;
    const withAnnotation = (valueBytes: number, char = 'x'): Record<string, unknown> =>
      pod([{ name: 'a', image: 'gcr.io/a' }], { metadata: { name: 'p', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': char.repeat(valueBytes) } } });
    const keyBytes = 'kubectl.kubernetes.io/last-applied-configuration'.length;
    const tooLarge = {
      pointer: '/metadata/annotations/image-rewriter.io~1original-images',
      problem: `would make the object's annotations larger than the API server accepts (${limit} bytes); original images not recorded`,
      valid: true,
    };

    it('records the originals when the annotations end exactly at the limit', () => {
      const { outcome, ops } = run(podReview(withAnnotation(limit - keyBytes - ourBytes)));
      expect(annotationOps(ops)).toEqual([{ op: 'add', path: '/metadata/annotations/image-rewriter.io~1original-images', value: recorded }]);
      expect(outcome.report.malformed).toEqual([]);
    });

    it('rewrites the image but records nothing, with a report, one byte past it', () => {
      const { outcome, ops } = run(podReview(withAnnotation(limit - keyBytes - ourBytes + 1)));
      expect(ops).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/a' }]);
      expect(outcome.report.malformed).toStrictEqual([tooLarge]);
    });

    it('counts UTF-8 bytes, not UTF-16 units', () => {
      // 'é' is 2 bytes: half as many characters fill the budget.
      const room = limit - keyBytes - ourBytes;
      expect(annotationOps(run(podReview(withAnnotation(Math.floor(room / 2), '\u00e9'))).ops)).toHaveLength(1);
      expect(annotationOps(run(podReview(withAnnotation(Math.floor(room / 2) + 1, '\u00e9'))).ops)).toEqual([]);
    });

    it('counts the existing original-images value once, as the value that replaces it', () => {
      // A large entry replaced by a small one: the annotations end exactly at the limit once it is replaced.
      const existing = JSON.stringify({ 'containers/a': 'x'.repeat(100_000) });
      const object = pod([{ name: 'a', image: 'gcr.io/a' }], {
        metadata: { name: 'p', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: existing, big: 'x'.repeat(limit - 3 - ourBytes) } },
      });
      const { outcome, ops } = run(podReview(object));
      expect(annotationOps(ops)).toEqual([{ op: 'replace', path: '/metadata/annotations/image-rewriter.io~1original-images', value: recorded }]);
      expect(outcome.report.malformed).toEqual([]);
    });

    it('does not replace an existing annotation with a map that would not fit', () => {
      const existing = JSON.stringify({ 'containers/old': 'gcr.io/old' });
      const object = pod([{ name: 'a', image: 'gcr.io/a' }], {
        metadata: { name: 'p', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: existing, big: 'x'.repeat(limit - 3 - ORIGINAL_IMAGES_ANNOTATION.length - existing.length) } },
      });
      const { outcome, ops } = run(podReview(object));
      expect(annotationOps(ops)).toEqual([]);
      expect(outcome.report.malformed).toStrictEqual([tooLarge]);
    });
  });

  it('keys unnamed containers by index and keeps the first of two containers with the same name', () => {
    const { ops } = run(podReview(pod([{ image: 'gcr.io/x' }, { name: 'a', image: 'gcr.io/a:1' }, { name: 'a', image: 'gcr.io/a:2' }])));
    expect(originals(ops)).toBe('{"containers/[0]":"gcr.io/x","containers/a":"gcr.io/a:1"}');
    expect(originalImagesKey({ containerList: 'initContainers', containerName: undefined, index: 3 })).toBe('initContainers/[3]');
  });
});

describe('imagePullSecrets', () => {
  it('adds each Secret once across rules, in rule order', () => {
    const { ops } = run(podReview(pod([{ name: 'a', image: 'nginx' }, { name: 'b', image: 'quay.io/b' }, { name: 'c', image: 'redis' }])));
    expect(ops.filter((o) => o.path.includes('imagePullSecrets'))).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'hub-pull' }, { name: 'shared-pull' }] },
    ]);
  });

  it('adds nothing when every Secret is already listed (entries that are not objects are kept as they are)', () => {
    const object = pod([{ name: 'a', image: 'nginx' }]);
    const spec = { containers: [{ name: 'a', image: 'nginx' }], imagePullSecrets: ['junk', { name: 'shared-pull' }, { name: 'hub-pull' }] };
    const { ops } = run(podReview({ ...object, spec }));
    expect(ops.filter((o) => o.path.includes('imagePullSecrets'))).toEqual([]);
  });

  it.each([
    { name: 'null (`imagePullSecrets:` with no value in a manifest)', list: null, ops: [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'hub-pull' }, { name: 'shared-pull' }] }] },
    { name: 'a list naming one of them', list: [{ name: 'shared-pull' }], ops: [{ op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'hub-pull' } }] },
  ])('adds the missing Secrets to an imagePullSecrets that is $name, unreported', ({ list, ops: expected }) => {
    const { outcome, ops } = run(podReview({ metadata: {}, spec: { containers: [{ name: 'a', image: 'nginx' }], imagePullSecrets: list } }));
    expect(ops.filter((o) => o.path.includes('imagePullSecrets'))).toEqual(expected);
    expect(outcome.report.malformed).toEqual([]);
  });

  it('reports an imagePullSecrets that is not a list and adds nothing', () => {
    const { outcome, ops } = run(podReview({ metadata: {}, spec: { containers: [{ name: 'a', image: 'nginx' }], imagePullSecrets: 'hub-pull' } }));
    expect(ops.filter((o) => o.path.includes('imagePullSecrets'))).toEqual([]);
    expect(outcome.report.malformed).toEqual([{ pointer: '/spec/imagePullSecrets', problem: 'is not a list; imagePullSecrets not added' }]);
  });

  it.each([
    { name: "a Deployment's UPDATE (its template may change)", group: 'apps', kind: 'Deployment', resource: 'deployments', operation: 'UPDATE' },
    { name: "a Job's CREATE", group: 'batch', kind: 'Job', resource: 'jobs', operation: 'CREATE' },
  ])('adds them to the pod template on $name, without a warning', ({ group, kind, resource, operation }) => {
    const template = (image: string) => ({ metadata: { name: 'w' }, spec: { template: { spec: { containers: [{ name: 'a', image }] } } } });
    const { outcome, ops } = run(
      podReview(template('quay.io/a:2'), { kind: { group, version: 'v1', kind }, resource: { group, version: 'v1', resource }, operation, ...(operation === 'UPDATE' ? { oldObject: template('mirror.example.com/quay/a:1') } : {}) }),
    );
    expect(ops.filter((o) => o.path.includes('imagePullSecrets'))).toEqual([{ op: 'add', path: '/spec/template/spec/imagePullSecrets', value: [{ name: 'shared-pull' }] }]);
    expect(outcome.response.response.warnings?.filter((w) => w.includes('imagePullSecrets'))).toEqual([]);
  });

  it('on a Pod UPDATE, warns instead of changing them (the API server would reject the update)', () => {
    const { outcome, ops } = run(podReview(pod([{ name: 'a', image: 'quay.io/a' }]), { operation: 'UPDATE' }));
    expect(ops.filter((o) => o.path.includes('imagePullSecrets'))).toEqual([]);
    expect(outcome.response.response.warnings).toContain(
      "image-rewriter: imagePullSecrets shared-pull not added: a Pod's imagePullSecrets cannot change after it is created",
    );
    // And in the review's log line (skippedFields, a warning): the admission warning reaches only the client.
    expect(outcome.report.malformed).toEqual([{ pointer: '/spec/imagePullSecrets', problem: "a Pod's imagePullSecrets cannot change after it is created; shared-pull not added", valid: true }]);
  });
});

describe('warnings', () => {
  it(`are at most ${MAX_WARNINGS}, the last one counting the rest`, () => {
    const containers = Array.from({ length: 45 }, (_, i) => ({ name: `c${i}`, image: `gcr.io/app-${i}:1` }));
    const { outcome, ops } = run(podReview(pod(containers)));
    const warnings = outcome.response.response.warnings ?? [];
    expect(warnings).toHaveLength(MAX_WARNINGS);
    expect(warnings[MAX_WARNINGS - 1]).toBe(`image-rewriter: 16 more warnings not shown (see the ${ORIGINAL_IMAGES_ANNOTATION} annotation)`);
    expect(outcome.report.rewrites).toHaveLength(45);
    expect(ops).toHaveLength(46);
  });

  it('point to the original-images annotation for the rest only when the answer records it there', () => {
    // 40 invalid images: nothing is rewritten, so nothing is recorded in the annotation.
    const invalid = Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, image: `GCR.IO/BAD${i}` }));
    const none = run(podReview(pod(invalid)));
    expect(none.ops).toEqual([]);
    expect(none.outcome.response.response.warnings?.at(-1)).toMatch(/^image-rewriter: \d+ more warnings not shown$/);
    // 40 rewrites whose originals would take the annotations past the API server's limit: not recorded.
    const full = pod(Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, image: `gcr.io/app-${i}:1` })), {
      metadata: { name: 'p', annotations: { big: 'x'.repeat(MAX_ANNOTATIONS_BYTES - 100) } },
    });
    const tooLarge = run(podReview(full));
    expect(annotationOps(tooLarge.ops)).toEqual([]);
    expect(tooLarge.outcome.response.response.warnings?.at(-1)).toMatch(/^image-rewriter: \d+ more warnings not shown$/);
    // Recorded: the warning says where.
    const recorded = run(podReview(pod(invalid.map((c, i) => ({ ...c, image: `gcr.io/app-${i}:1` })))));
    expect(originals(recorded.ops)).toBeDefined();
    expect(recorded.outcome.response.response.warnings?.at(-1)).toMatch(new RegExp(`more warnings not shown \\(see the ${ORIGINAL_IMAGES_ANNOTATION} annotation\\)$`));
  });

  it('point to the annotation when one image is rewritten, not when the annotation only loses a stale entry', () => {
    const invalid = Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, image: `GCR.IO/BAD${i}` }));
    const one = run(podReview(pod([{ name: 'a', image: 'gcr.io/a:1' }, ...invalid])));
    expect(one.outcome.report.rewrites).toHaveLength(1);
    expect(one.outcome.response.response.warnings?.at(-1)).toMatch(new RegExp(`more warnings not shown \\(see the ${ORIGINAL_IMAGES_ANNOTATION} annotation\\)$`));
    // An UPDATE that removes the recorded container x and adds 40 invalid images: the annotation
    // drops x's entry, and records no rewrite to look for.
    const annotated = (containers: Container[]) => pod(containers, { metadata: { name: 'p', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: '{"containers/x":"gcr.io/x:1"}' } } });
    const stale = run(podReview(annotated(invalid), { operation: 'UPDATE', oldObject: annotated([{ name: 'x', image: 'asia.gcr.io/x:1' }]) }));
    expect(originals(stale.ops)).toBe('{}');
    expect(stale.outcome.response.response.warnings?.at(-1)).toMatch(/^image-rewriter: \d+ more warnings not shown$/);
  });

  it(`stay within ${MAX_WARNINGS_LENGTH} characters in all, so the API server (4096 at most, others' included) keeps the one counting the rest`, () => {
    // 40 rewrites of about 170 characters each: the API server dropped every warning past its
    // 4096th character, the last (counting) one with them, and kubectl showed 25 of 40 rewrites.
    const containers = Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, image: `gcr.io/some-long-project-name-here/team/service-${i}:v1.2.3-build.12345` }));
    const warnings = run(podReview(pod(containers))).outcome.response.response.warnings ?? [];
    expect(warnings.join('').length).toBeLessThanOrEqual(MAX_WARNINGS_LENGTH);
    expect(warnings.length).toBeGreaterThan(10);
    expect(warnings.slice(0, -1).every((w) => w.startsWith('image-rewriter: rewrote containers['))).toBe(true);
    expect(warnings.at(-1)).toBe(`image-rewriter: ${40 - (warnings.length - 1)} more warnings not shown (see the ${ORIGINAL_IMAGES_ANNOTATION} annotation)`);
    // Short warnings still come MAX_WARNINGS at a time (see above); few long ones are all kept.
    const few = run(podReview(pod(containers.slice(0, 5)))).outcome.response.response.warnings ?? [];
    expect(few).toHaveLength(5);
  });

  it('make untrusted text printable ASCII and stay short', () => {
    const name = `na\u00efve-\u{1f600}-${'x'.repeat(300)}`;
    const image = `gcr.io/Bad\nImage\u0000${'y'.repeat(2_000_000)}`;
    const { outcome } = run(podReview(pod([{ name, image }, { name: 'ok', image: 'gcr.io/ok' }])));
    const warnings = outcome.response.response.warnings ?? [];
    expect(warnings).toHaveLength(2);
    for (const w of warnings) {
      expect(w).toMatch(/^image-rewriter: [\x20-\x7e]+$/);
      expect(w.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
    }
    expect(warnings[0]).toContain('containers[na\\u00efve-');
    expect(warnings[0]).toContain('image "gcr.io/Bad\\nImage\\u000');
  });

  it('shorten a long source image in the middle (registry and last path component kept) and keep where it goes whole', () => {
    const image = `gcr.io/${'deep/'.repeat(20)}app:1.2.3`;
    const { outcome } = run(podReview(pod([{ name: 'a', image }])));
    const [w = ''] = outcome.response.response.warnings ?? [];
    expect(w.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
    expect(w).toMatch(/^image-rewriter: rewrote containers\[a\] gcr\.io\/deep\/.*\.\.\.\/app:1\.2\.3 -> asia\.gcr\.io\/(deep\/){20}app:1\.2\.3 \(rule gcr\)$/);
  });

  it('cut the target too, in its middle, only past the limit the API server enforces', () => {
    const image = `gcr.io/${'deep/'.repeat(40)}app:1.2.3`;
    const { outcome } = run(podReview(pod([{ name: 'a', image }])));
    const [w = ''] = outcome.response.response.warnings ?? [];
    expect(w.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
    expect(w).toMatch(/ -> asia\.gcr\.io\/deep\/.*\.\.\.\/app:1\.2\.3 \(rule gcr\)$/);
  });

  it('keep short names whole and only cut names that are very long', () => {
    const { outcome } = run(podReview(pod([{ name: 'n'.repeat(200), image: 'gcr.io/a' }])));
    const [w = ''] = outcome.response.response.warnings ?? [];
    expect(w).toMatch(/^image-rewriter: rewrote containers\[n+\.\.\.n+\] gcr\.io\/a -> asia\.gcr\.io\/a \(rule gcr\)$/);
    expect(w.length).toBeLessThanOrEqual(WARNING_TARGET_LENGTH + 6);
  });
});

describe('fitWarning', () => {
  it('leaves a short warning as it is', () => {
    expect(fitWarning(['image-rewriter: ', { text: 'a', level: 0 }, ' b'])).toBe('image-rewriter: a b');
  });
  it('abbreviates digests before cutting anything', () => {
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    expect(fitWarning(['x'.repeat(60), { text: `gcr.io/a@${digest}`, level: 0 }])).toBe(`${'x'.repeat(60)}gcr.io/a@sha256:01234567...`);
  });
  it('cuts messages at the start when asked, keeping what is wrong', () => {
    const w = fitWarning(['x'.repeat(100), { text: `${'a'.repeat(60)} the reason`, level: 0, cut: 'start' }]);
    expect(w).toBe(`${'x'.repeat(100)}...${'a'.repeat(26)} the reason`);
  });
  it('names the whole target registry (its region) and elides the source instead', () => {
    const to = '111122223333.dkr.ecr.ap-southeast-1.amazonaws.com/docker-hub/library/nginx:1.25.3';
    const from = `registry.example.com/${'team/'.repeat(12)}nginx:1.25.3`;
    const w = fitWarning(['image-rewriter: rewrote ', { text: 'containers[web-frontend-proxy]', level: 1 }, ' ', { text: from, level: 0 }, ' -> ', { text: to, level: 2 }, ' (rule ', { text: 'hub', level: 1 }, ')']);
    expect(w).toContain(` -> ${to} (rule hub)`);
    expect(w).toMatch(/ registry\.example\.com\/.*\.\.\.\/nginx:1\.25\.3 -> /);
    expect(w.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
  });
  it('shows the real end of a part longer than it reads (an invalid image of 2,000 characters)', () => {
    const image = `gcr.io/${'a'.repeat(2000)}ZZZEND`;
    const w = fitWarning(['image "', { text: image, level: 0 }, '" of containers[k] is not a valid reference']);
    expect(w).toMatch(/^image "gcr\.io\/a+\.\.\.a+ZZZEND" of containers\[k\] is not a valid reference$/);
    const reason = `${'r'.repeat(2000)} and the end says why`;
    expect(fitWarning(['x ', { text: reason, level: 0, cut: 'start' }])).toMatch(/^x \.\.\.r+ and the end says why$/);
  });
  it(`cuts at ${WARNING_MAX_LENGTH} characters what cannot be shortened`, () => {
    const w = fitWarning(['f'.repeat(300), { text: 'a', level: 0 }]);
    expect(w).toBe(`${'f'.repeat(WARNING_MAX_LENGTH - 3)}...`);
  });
});

describe('auditAnnotations', () => {
  it(`stay under ${MAX_AUDIT_ANNOTATION_BYTES} bytes, valid JSON, saying how many entries were left out`, () => {
    const containers = Array.from({ length: 400 }, (_, i) => ({ name: `container-${i}`, image: `gcr.io/some/long/repository/path/app-${i}:1.0.0` }));
    containers.push({ name: 'bad', image: `gcr.io/${'B'.repeat(20_000)}` });
    const { outcome } = run(podReview(pod(containers)));
    const audit = outcome.response.response.auditAnnotations ?? {};
    const rewrites = audit[AUDIT_REWRITES_KEY] ?? '';
    const invalid = audit[AUDIT_INVALID_KEY] ?? '';
    for (const value of [rewrites, invalid]) expect(new TextEncoder().encode(value).length).toBeLessThanOrEqual(MAX_AUDIT_ANNOTATION_BYTES);
    const entries: unknown = JSON.parse(rewrites);
    if (!Array.isArray(entries)) throw new Error('not a list');
    const last: unknown = entries[entries.length - 1];
    expect(last).toEqual({ omitted: 400 - (entries.length - 1) });
    expect(entries[0]).toEqual({ container: 'containers/container-0', from: 'gcr.io/some/long/repository/path/app-0:1.0.0', to: 'asia.gcr.io/some/long/repository/path/app-0:1.0.0', rule: 'gcr' });
    expect(JSON.parse(invalid)).toEqual([{ omitted: 1 }]);
  });
});

describe('auditAnnotations of a reinvocation', () => {
  // The API server refuses to overwrite an audit annotation the first call set (and logs
  // "Failed to set admission audit annotation"): what the second call rewrote was lost.
  const withOriginals = (containers: Container[], originals: string) => pod(containers, { metadata: { name: 'p', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: originals } } });
  const sidecar = { name: 'proxy', image: 'quay.io/istio/proxyv2:1.24' };
  const first = { name: 'a', image: 'asia.gcr.io/a:1' };
  const keys = (outcome: Extract<ReviewOutcome, { ok: true }>) => Object.keys(outcome.response.response.auditAnnotations ?? {});

  it('a CREATE whose object already carries the annotation (written by the first call) records under other keys', () => {
    const { outcome } = run(podReview(withOriginals([first, sidecar, { name: 'bad', image: 'gcr.io/B' }], '{"containers/a":"gcr.io/a:1"}')));
    expect(keys(outcome)).toEqual([`${AUDIT_REINVOCATION_PREFIX}${AUDIT_REWRITES_KEY}`, `${AUDIT_REINVOCATION_PREFIX}${AUDIT_INVALID_KEY}`]);
    expect(JSON.parse(outcome.response.response.auditAnnotations?.['reinvocation-rewrites'] ?? '')).toEqual([
      { container: 'containers/proxy', from: 'quay.io/istio/proxyv2:1.24', to: 'mirror.example.com/quay/istio/proxyv2:1.24', rule: 'quay' },
    ]);
  });

  it('an UPDATE whose annotation differs from the stored one does too; an UPDATE keeping it or leaving it out does not', () => {
    const old = withOriginals([{ name: 'a', image: 'asia.gcr.io/a:0' }], '{"containers/a":"gcr.io/a:0"}');
    const update = (object: unknown) => keys(run(podReview(object, { operation: 'UPDATE', oldObject: old })).outcome);
    expect(update(withOriginals([first, sidecar], '{"containers/a":"gcr.io/a:1"}'))).toEqual(['reinvocation-rewrites']);
    expect(update(withOriginals([{ name: 'a', image: 'gcr.io/a:1' }], '{"containers/a":"gcr.io/a:0"}'))).toEqual(['rewrites']);
    expect(update(pod([{ name: 'a', image: 'gcr.io/a:1' }]))).toEqual(['rewrites']);
  });

  it('a first call (no annotation yet) uses the plain keys', () => {
    expect(keys(run(podReview(pod([{ name: 'a', image: 'gcr.io/a:1' }]))).outcome)).toEqual(['rewrites']);
  });
});

describe('namespaces', () => {
  const scoped = pod([{ name: 'a', image: 'registry.example.com/a' }]);
  it('uses request.namespace for namespace-scoped rules', () => {
    expect(run(podReview(scoped, { namespace: 'team-a' })).outcome.report.rewrites).toHaveLength(1);
    expect(run(podReview(scoped, { namespace: 'team-b' })).outcome.report.rewrites).toHaveLength(0);
  });
  // The API server sets request.namespace; the object's own field is the requester's text
  // (docs/security.md, "Pod creators"): a Pod in team-b naming team-a gets team-b's rules.
  it("prefers request.namespace to the object's metadata.namespace when they differ", () => {
    const claimsTeamA = { ...scoped, metadata: { name: 'p', namespace: 'team-a' } };
    expect(run(podReview(claimsTeamA, { namespace: 'team-b' })).outcome.report.rewrites).toHaveLength(0);
  });
  it("falls back to the object's metadata.namespace, and to none", () => {
    const inTeamA = { ...scoped, metadata: { name: 'p', namespace: 'team-a' } };
    expect(run(podReview(inTeamA, { namespace: undefined })).outcome.report.rewrites).toHaveLength(1);
    expect(run(podReview(inTeamA, { namespace: '' })).outcome.report.rewrites).toHaveLength(1);
    expect(run(podReview(scoped, { namespace: undefined })).outcome.report.rewrites).toHaveLength(0);
  });
});

describe('kinds and untrusted objects', () => {
  // What kube-apiserver 1.37 sends for the subresources a hand-written configuration registering
  // `pods/*` (operations `*`) adds, with the request fields newer servers set (requestKind,
  // requestSubResource, options, userInfo.extra). The Pod's image is upstream (stored while the
  // webhook was down): none of these may change it, and only pods/ephemeralcontainers is rewritten.
  const upstreamPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'gcr.io/app:1' }] } };
  it.each([
    ['pods/resize (in-place resize)', 'UPDATE', 'resize', { group: '', version: 'v1', kind: 'Pod' }, upstreamPod],
    ['pods/status', 'UPDATE', 'status', { group: '', version: 'v1', kind: 'Pod' }, upstreamPod],
    ['pods/binding', 'CREATE', 'binding', { group: '', version: 'v1', kind: 'Binding' }, { kind: 'Binding', apiVersion: 'v1', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n1' } }],
    ['pods/eviction', 'CREATE', 'eviction', { group: 'policy', version: 'v1', kind: 'Eviction' }, { kind: 'Eviction', apiVersion: 'policy/v1', metadata: { name: 'p' } }],
    ['pods/exec', 'CONNECT', 'exec', { group: '', version: 'v1', kind: 'PodExecOptions' }, { kind: 'PodExecOptions', apiVersion: 'v1', container: 'app', command: ['true'] }],
  ])('%s as the API server sends it: allowed, no patch', (_name, operation, subResource, kind, object) => {
    const body = podReview(object, {
      kind,
      requestKind: kind,
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      subResource,
      requestSubResource: subResource,
      name: 'p',
      operation,
      ...(operation === 'UPDATE' ? { oldObject: upstreamPod } : {}),
      options: operation === 'CONNECT' ? null : { kind: `${operation === 'CREATE' ? 'Create' : 'Update'}Options`, apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-patch' },
      userInfo: { username: 'admin', uid: 'admin', groups: ['system:masters'], extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=ab'] } },
    });
    const outcome = answered(review(body, rewriter));
    expect(outcome.response.response).toEqual({ uid: 'u-1', allowed: true });
    expect(outcome.report.skipped).toBe(operation === 'CONNECT' ? 'operation' : 'unsupported-kind');
  });

  it('reads the pod spec of any version of a supported kind', () => {
    const deployment = { metadata: { name: 'd' }, spec: { template: { spec: { containers: [{ name: 'a', image: 'gcr.io/a' }] } } } };
    const { ops } = run(podReview(deployment, { kind: { group: 'apps', version: 'v1beta2', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1beta2', resource: 'deployments' } }));
    expect(ops[0]).toEqual({ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'asia.gcr.io/a' });
  });

  it('mirror-pod annotation only matters on Pods', () => {
    const meta = { name: 'd', annotations: { 'kubernetes.io/config.mirror': 'x' } };
    const deployment = { metadata: meta, spec: { template: { spec: { containers: [{ name: 'a', image: 'gcr.io/a' }] } } } };
    const { outcome } = run(podReview(deployment, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } }));
    expect(outcome.report.skipped).toBeUndefined();
    expect(outcome.report.rewrites).toHaveLength(1);
  });

  it('takes the report name from the object when the request has none (generateName)', () => {
    expect(run(podReview(pod([]))).outcome.report.name).toBe('p');
    expect(run(podReview(pod([]), { name: '' })).outcome.report.name).toBe('p');
    expect(run(podReview(pod([]), { name: 'q' })).outcome.report.name).toBe('q');
  });

  it('names a Pod a controller makes by its generateName (the API server sends no name before admission)', () => {
    // As the real API server sends a ReplicaSet's Pod: request.name absent, metadata.generateName only.
    const object = { metadata: { generateName: 'web-7d9c-', namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'gcr.io/a' }] } };
    expect(run(podReview(object)).outcome.report.name).toBe('web-7d9c-');
    expect(run(podReview(object, { name: '' })).outcome.report.name).toBe('web-7d9c-');
    expect(run(podReview({ metadata: { name: 'p', generateName: 'web-' }, spec: {} })).outcome.report.name).toBe('p');
    // A name that is not a string (a hand-made review) is no name: the log line's `name` is the generateName.
    expect(run(podReview({ metadata: { name: 42, generateName: 'web-' }, spec: {} })).outcome.report.name).toBe('web-');
  });

  it('treats __proto__ and constructor keys as plain data', () => {
    const text = '{"metadata":{"__proto__":{"annotations":{"image-rewriter.io/skip":"true"}},"labels":{"constructor":"x"}},"spec":{"__proto__":{"containers":[{"image":"gcr.io/evil"}]},"containers":[{"name":"a","image":"gcr.io/a","__proto__":{"image":"gcr.io/b"}}]}}';
    const object: unknown = JSON.parse(text);
    const { outcome, ops } = run(podReview(object));
    expect(outcome.report.skipped).toBeUndefined();
    expect(outcome.report.rewrites.map((r) => r.from)).toEqual(['gcr.io/a']);
    expect(apply(object, ops)).toMatchObject({ spec: { containers: [{ image: 'asia.gcr.io/a' }] } });
    expect(({} as Record<string, unknown>)['containers']).toBeUndefined();
  });

  it('does not skip on a skip value other than "true", nor on a non-string one', () => {
    const labels = { 'image-rewriter.io/skip': true };
    const { outcome } = run(podReview(pod([{ name: 'a', image: 'gcr.io/a' }], { metadata: { labels } })));
    expect(outcome.report.skipped).toBeUndefined();
  });

  it('encodes non-ASCII text in the patch as UTF-8', () => {
    const object = { metadata: { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: '{"containers/caf\u00e9":"gcr.io/\u00e9"}' } }, spec: { containers: [{ name: 'caf\u00e9-2', image: 'gcr.io/a' }] } };
    const { ops } = run(podReview(object));
    expect(annotationOps(ops)[0]?.value).toBe('{"containers/caf\u00e9":"gcr.io/\u00e9","containers/caf\u00e9-2":"gcr.io/a"}');
  });
});

describe('UPDATE rewrites only the images the update changes', () => {
  const job = (image: string, labels: Record<string, string> = {}): Record<string, unknown> => ({
    metadata: { name: 'j1', labels },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image }] } } },
  });
  const jobReview = (object: unknown, oldObject: unknown): unknown =>
    podReview(object, {
      kind: { group: 'batch', version: 'v1', kind: 'Job' },
      resource: { group: 'batch', version: 'v1', resource: 'jobs' },
      operation: 'UPDATE',
      oldObject,
    });

  it('leaves an image already stored unrewritten (a label change on a Job created while the webhook was down)', () => {
    // Patching it would change the Job's immutable template and the API server would reject the update.
    const { outcome, ops } = run(jobReview(job('gcr.io/app:1', { team: 'a' }), job('gcr.io/app:1')));
    expect(ops).toEqual([]);
    expect(outcome.response.response.patch).toBeUndefined();
    expect(outcome.report.rewrites).toEqual([]);
  });

  it('rewrites again an image the stored object runs but records as the original of its own rewrite (an update made while the webhook was down), where the field may change', () => {
    // A Deployment rewritten when it was created; a GitOps sync during an outage (failurePolicy
    // Ignore) re-applied git's gcr.io/app:1 unrewritten. Every later re-apply sends gcr.io/app:1
    // again, equal to the stored image: without this it would stay upstream until git changes.
    const recorded = { 'image-rewriter.io/original-images': '{"containers/main":"gcr.io/app:1"}' };
    const deployment = (image: string, annotations?: Record<string, string>): Record<string, unknown> => ({
      metadata: { name: 'd1', ...(annotations === undefined ? {} : { annotations }) },
      spec: { template: { spec: { containers: [{ name: 'main', image }] } } },
    });
    const deploymentReview = (object: unknown, oldObject: unknown): unknown =>
      podReview(object, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'UPDATE', oldObject });
    const reverted = deployment('gcr.io/app:1', recorded);
    const { outcome, ops } = run(deploymentReview(reverted, reverted));
    expect(ops).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'asia.gcr.io/app:1' }]);
    expect(apply(reverted, ops)).toEqual(deployment('asia.gcr.io/app:1', recorded));
    expect(outcome.report.rewrites).toMatchObject([{ from: 'gcr.io/app:1', to: 'asia.gcr.io/app:1', rule: 'gcr' }]);
    // A running Pod's container likewise; its image volume cannot change and stays.
    const podWith = (image: string): Record<string, unknown> => ({
      metadata: { name: 'p', annotations: { 'image-rewriter.io/original-images': '{"containers/a":"gcr.io/a:1","volumes/data":"gcr.io/data:1"}' } },
      spec: { containers: [{ name: 'a', image }], volumes: [{ name: 'data', image: { reference: 'gcr.io/data:1' } }] },
    });
    expect(run(podReview(podWith('gcr.io/a:1'), { operation: 'UPDATE', oldObject: podWith('gcr.io/a:1') })).ops).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/a:1' }]);
    // Nor a Pod's ephemeral container: only the pods/ephemeralcontainers subresource may change it, not an update of the Pod.
    const debugged = (image: string): Record<string, unknown> => ({
      metadata: { name: 'p', annotations: { 'image-rewriter.io/original-images': '{"ephemeralContainers/debug":"gcr.io/debug:1"}' } },
      spec: { containers: [{ name: 'a', image: 'asia.gcr.io/a:1' }], ephemeralContainers: [{ name: 'debug', image }] },
    });
    expect(run(podReview(debugged('gcr.io/debug:1'), { operation: 'UPDATE', oldObject: debugged('gcr.io/debug:1') })).ops).toEqual([]);
    // Not rewritten: a stored image with no such record (created before the webhook or the rule),
    // a recorded original of another image, a Job's immutable template, and an image no rule rewrites now.
    expect(run(deploymentReview(deployment('gcr.io/app:1'), deployment('gcr.io/app:1'))).ops).toEqual([]);
    const other = deployment('gcr.io/app:2', recorded);
    expect(run(deploymentReview(other, other)).ops).toEqual([]);
    const job = { ...reverted, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'gcr.io/app:1' }] } } } };
    expect(run(jobReview(job, job)).ops).toEqual([]);
    const rules = rewriterFrom('rules:\n  - name: hub\n    match: docker.io\n    replace: mirror.example.com/hub\n');
    expect(decodePatch(answered(review(deploymentReview(reverted, reverted), rules)).response.response)).toBeUndefined();
  });

  it("keeps the original-images entries in their order on an unchanged re-apply: the object stays as stored (QA-36)", () => {
    // kubectl apply of the same manifest sends its upstream images again, with the stored
    // annotation (client-side apply keeps what the manifest does not name); each entry is written
    // anew, and one moved to the end changed the object (a Deployment's generation went up) at
    // every such apply whose stored entries were not in the pod spec's order.
    const recorded = { 'image-rewriter.io/original-images': '{"containers/b":"gcr.io/b:1","containers/a":"gcr.io/a:1"}' };
    const deployment = (a: string, b: string): Record<string, unknown> => ({
      metadata: { name: 'd1', annotations: recorded },
      spec: { template: { spec: { containers: [{ name: 'a', image: a }, { name: 'b', image: b }] } } },
    });
    const stored = deployment('asia.gcr.io/a:1', 'asia.gcr.io/b:1');
    const applied = deployment('gcr.io/a:1', 'gcr.io/b:1');
    const { ops } = run(podReview(applied, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'UPDATE', oldObject: stored }));
    expect(ops).toEqual([
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'asia.gcr.io/a:1' },
      { op: 'replace', path: '/spec/template/spec/containers/1/image', value: 'asia.gcr.io/b:1' },
    ]);
    expect(apply(applied, ops)).toEqual(stored);
  });

  it("leaves alone a ReplicaSet's stored image that its annotation records: the Deployment controller copied that annotation from its Deployment", () => {
    // A ReplicaSet the Deployment controller created from a template a sync wrote during an outage
    // (gcr.io/app:1, never rewritten: its Deployment's ReplicaSets are skipped) carries the
    // Deployment's record of the same image. When the garbage collector orphans it (kubectl delete
    // --cascade=orphan), the update is reviewed; rewritten, its template would name the target
    // while its Pods keep running gcr.io/app:1, and a re-created Deployment adopting it would
    // take it for a ReplicaSet of the target (kube-apiserver 1.37 and kube-controller-manager).
    const recorded = { 'image-rewriter.io/original-images': '{"containers/main":"gcr.io/app:1"}' };
    const owner = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u1', controller: true };
    const replicaSet = (ownerReferences: unknown[]): Record<string, unknown> => ({
      metadata: { name: 'web-76db979fcd', annotations: recorded, ownerReferences },
      spec: { template: { spec: { containers: [{ name: 'main', image: 'gcr.io/app:1' }] } } },
    });
    const orphaned = podReview(replicaSet([]), {
      kind: { group: 'apps', version: 'v1', kind: 'ReplicaSet' },
      resource: { group: 'apps', version: 'v1', resource: 'replicasets' },
      operation: 'UPDATE',
      oldObject: replicaSet([owner]),
    });
    const { outcome, ops } = run(orphaned);
    expect(ops).toEqual([]);
    expect(outcome.report.rewrites).toEqual([]);
  });

  it('rewrites an image the update changes', () => {
    const { ops } = run(podReview(pod([{ name: 'a', image: 'gcr.io/a:2' }]), { operation: 'UPDATE', oldObject: pod([{ name: 'a', image: 'gcr.io/a:1' }]) }));
    expect(ops[0]).toEqual({ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/a:2' });
  });

  it('matches containers by name, not position, and rewrites a container the update adds', () => {
    const before = pod([{ name: 'a', image: 'gcr.io/a:1' }]);
    const after = pod([{ name: 'b', image: 'gcr.io/b:1' }, { name: 'a', image: 'gcr.io/a:1' }]);
    const { ops } = run(podReview(after, { operation: 'UPDATE', oldObject: before }));
    expect(ops.filter((o) => o.path.startsWith('/spec'))).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/b:1' }]);
  });

  it('on pods/ephemeralcontainers rewrites only the new ephemeral container, never an existing one', () => {
    const existing = { name: 'debugger-old', image: 'gcr.io/dbg:1' };
    const before = pod([{ name: 'a', image: 'asia.gcr.io/a' }], { spec: { containers: [{ name: 'a', image: 'asia.gcr.io/a' }], ephemeralContainers: [existing] } });
    const after = pod([], { spec: { containers: [{ name: 'a', image: 'asia.gcr.io/a' }], ephemeralContainers: [existing, { name: 'debugger-new', image: 'gcr.io/dbg:2' }] } });
    const { ops } = run(podReview(after, { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: before }));
    expect(ops).toEqual([{ op: 'replace', path: '/spec/ephemeralContainers/1/image', value: 'asia.gcr.io/dbg:2' }]);
    // The subresource cannot change metadata, so an original-images annotation the stored Pod lacks
    // is no sign of a reinvocation (this webhook writes none for it): the audit key is the usual one.
    const annotated = { ...after, metadata: { name: 'p', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: '{"containers/a":"gcr.io/a"}' } } };
    const { outcome } = run(podReview(annotated, { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: before }));
    expect(Object.keys(outcome.response.response.auditAnnotations ?? {})).toEqual(['rewrites']);
  });

  it('a plain Pod UPDATE (a label) leaves an unrewritten ephemeral container alone: the API server forbids changing it', () => {
    const spec = { containers: [{ name: 'a', image: 'asia.gcr.io/a' }], ephemeralContainers: [{ name: 'dbg', image: 'gcr.io/dbg:1' }] };
    const { ops } = run(podReview({ metadata: { name: 'p', labels: { x: 'y' } }, spec }, { operation: 'UPDATE', oldObject: { metadata: { name: 'p' }, spec } }));
    expect(ops).toEqual([]);
  });

  it('keeps the stored rewrite of a re-applied original where the API server refuses a change, after the rules changed', () => {
    // A Job stored when gcr.io went to eu.gcr.io; the rules now say asia.gcr.io. `kubectl apply`
    // of the same manifest sends gcr.io/app:1 again: asia.gcr.io/app:1 would be refused as a
    // change of the Job's immutable template, so the stored eu.gcr.io/app:1 stays.
    const recorded = { 'image-rewriter.io/original-images': '{"containers/main":"gcr.io/app:1"}' };
    const stored = { ...job('eu.gcr.io/app:1'), metadata: { name: 'j1', annotations: recorded } };
    const reapplied = { ...job('gcr.io/app:1'), metadata: { name: 'j1', annotations: recorded } };
    const { outcome, ops } = run(jobReview(reapplied, stored));
    expect(ops).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'eu.gcr.io/app:1' }]);
    expect(apply(reapplied, ops)).toEqual(stored);
    expect(outcome.report.rewrites).toMatchObject([{ from: 'gcr.io/app:1', to: 'eu.gcr.io/app:1', rule: 'gcr' }]);
    // The warning says the stored image was kept, and what the rule gives now (it said "rewrote
    // gcr.io/app:1 -> eu.gcr.io/app:1 (rule gcr)", a target the rule no longer has).
    expect(outcome.response.response.warnings).toEqual([
      "image-rewriter: kept containers[main] gcr.io/app:1 as the stored eu.gcr.io/app:1: rule gcr now gives asia.gcr.io/app:1, and a Job's pod template cannot change",
    ]);
    // A new image is the rules' (the API server refuses it whatever the webhook answers), and so
    // is an image the stored object never recorded.
    expect(run(jobReview({ ...job('gcr.io/app:2'), metadata: { name: 'j1', annotations: recorded } }, stored)).ops[0]?.value).toBe('asia.gcr.io/app:2');
    expect(run(jobReview(job('gcr.io/app:1'), job('eu.gcr.io/app:1'))).ops[0]?.value).toBe('asia.gcr.io/app:1');
    // A Deployment's template may change: the re-apply moves it to the rules' current target.
    const deploymentReview = (object: unknown, oldObject: unknown): unknown =>
      podReview(object, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'UPDATE', oldObject });
    expect(run(deploymentReview(reapplied, stored)).ops[0]?.value).toBe('asia.gcr.io/app:1');
    // A Pod's image volume cannot change either; its containers' images can.
    const podWith = (container: string, volume: string): Record<string, unknown> => ({
      metadata: { name: 'p', annotations: { 'image-rewriter.io/original-images': '{"containers/a":"gcr.io/a:1","volumes/data":"gcr.io/data:1"}' } },
      spec: { containers: [{ name: 'a', image: container }], volumes: [{ name: 'data', image: { reference: volume } }] },
    });
    const podOps = run(podReview(podWith('gcr.io/a:1', 'gcr.io/data:1'), { operation: 'UPDATE', oldObject: podWith('eu.gcr.io/a:1', 'eu.gcr.io/data:1') })).ops;
    expect(podOps.filter((o) => o.path.startsWith('/spec'))).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/a:1' },
      { op: 'replace', path: '/spec/volumes/0/image/reference', value: 'eu.gcr.io/data:1' },
    ]);
  });

  it.each([
    ['the rule was removed', 'rules:\n  - name: hub\n    match: docker.io\n    replace: mirror.example.com/hub\n'],
    ['an exclude now covers the image', 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\nexclude: [gcr.io/app]\n'],
    ['the rule is now limited to other namespaces', 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    namespaces: [team-b]\n'],
  ])('keeps the stored rewrite of a re-applied original where the API server refuses a change, once no rule rewrites it (%s)', (_why, yaml) => {
    // A Job stored when gcr.io went to asia.gcr.io. `kubectl apply` (or a GitOps sync) of the
    // same manifest sends gcr.io/app:1 again: left as it is, the update changes the Job's
    // immutable template and is refused ("field is immutable"), at every sync, until the Job is
    // deleted. The stored image stays, as it does when a rule now gives another target.
    const rules = rewriterFrom(yaml);
    const recorded = { 'image-rewriter.io/original-images': '{"containers/main":"gcr.io/app:1"}' };
    const stored = { ...job('asia.gcr.io/app:1'), metadata: { name: 'j1', annotations: recorded } };
    const reapplied = { ...job('gcr.io/app:1'), metadata: { name: 'j1', annotations: recorded } };
    const outcome = answered(review(jobReview(reapplied, stored), rules));
    const ops = decodePatch(outcome.response.response) ?? [];
    expect(ops).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'asia.gcr.io/app:1' }]);
    expect(apply(reapplied, ops)).toEqual(stored);
    expect(outcome.response.response.warnings).toEqual([
      "image-rewriter: kept containers[main] gcr.io/app:1 as the stored asia.gcr.io/app:1: no rule rewrites it now, and a Job's pod template cannot change",
    ]);
    expect(outcome.response.response.auditAnnotations).toBeUndefined();
    expect(outcome.report.rewrites).toEqual([]);
    expect(outcome.report.malformed).toEqual([
      {
        pointer: '/spec/template/spec/containers/0/image',
        problem: "is the recorded original of the stored asia.gcr.io/app:1, which no rule gives now; the stored image kept (a Job's pod template cannot change)",
        valid: true,
      },
    ]);
    // Server-side apply drops the annotation its manager's manifest lacks: it is written again,
    // for the next re-apply.
    const again = answered(review(jobReview(job('gcr.io/app:1'), stored), rules));
    expect(decodePatch(again.response.response)).toEqual([
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'asia.gcr.io/app:1' },
      { op: 'add', path: '/metadata/annotations', value: recorded },
    ]);
    // An image the stored object never recorded as its original is the rules' (here: left alone,
    // and the API server refuses the change whatever the webhook answers), and so is a Deployment's.
    expect(decodePatch(answered(review(jobReview(job('gcr.io/app:1'), job('asia.gcr.io/app:1')), rules)).response.response)).toBeUndefined();
    const deploymentReview = (object: unknown, oldObject: unknown): unknown =>
      podReview(object, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'UPDATE', oldObject });
    expect(decodePatch(answered(review(deploymentReview(reapplied, stored), rules)).response.response)).toBeUndefined();
  });

  it("keeps a Pod's stored image volume, not its container, once no rule rewrites their re-applied originals", () => {
    const rules = rewriterFrom('rules:\n  - name: hub\n    match: docker.io\n    replace: mirror.example.com/hub\n');
    const podWith = (container: string, volume: string): Record<string, unknown> => ({
      metadata: { name: 'p', annotations: { 'image-rewriter.io/original-images': '{"containers/a":"gcr.io/a:1","volumes/data":"gcr.io/data:1"}' } },
      spec: { containers: [{ name: 'a', image: container }], volumes: [{ name: 'data', image: { reference: volume } }] },
    });
    const outcome = answered(review(podReview(podWith('gcr.io/a:1', 'gcr.io/data:1'), { operation: 'UPDATE', oldObject: podWith('asia.gcr.io/a:1', 'asia.gcr.io/data:1') }), rules));
    expect(decodePatch(outcome.response.response)).toEqual([{ op: 'replace', path: '/spec/volumes/0/image/reference', value: 'asia.gcr.io/data:1' }]);
    expect(outcome.response.response.warnings).toEqual([
      "image-rewriter: kept volumes[data] gcr.io/data:1 as the stored asia.gcr.io/data:1: no rule rewrites it now, and a Pod's image volumes cannot change",
    ]);
  });

  /** The rules of this block's tests, with `verify` on the gcr rule. */
  const verifying = rewriterFrom(`rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    verify: true\n`);

  it('does not check the kept stored image of a re-applied Job against its registry (a rule with verify)', () => {
    const recorded = { 'image-rewriter.io/original-images': '{"containers/main":"gcr.io/app:1"}' };
    const stored = { ...job('eu.gcr.io/app:1'), metadata: { name: 'j1', annotations: recorded } };
    const kept = decide(jobReview({ ...job('gcr.io/app:1'), metadata: { name: 'j1', annotations: recorded } }, stored), verifying);
    if (!kept.ok) throw new Error(kept.message);
    const [image] = kept.plan.images;
    expect(image).toMatchObject({ outcome: 'rewrite', to: 'eu.gcr.io/app:1', stored: true });
    if (image?.outcome !== 'rewrite') throw new Error('no rewrite');
    expect(verifyRequestOf(image)).toBeUndefined();
    // A new image of the same Job is the rules' current target, and is checked.
    const fresh = decide(jobReview({ ...job('gcr.io/app:2'), metadata: { name: 'j1', annotations: recorded } }, stored), verifying);
    if (!fresh.ok) throw new Error(fresh.message);
    const [next] = fresh.plan.images;
    if (next?.outcome !== 'rewrite') throw new Error('no rewrite');
    expect(verifyRequestOf(next)).toEqual({ image: 'asia.gcr.io/app:2', platforms: [] });
  });

  it("does not check a re-applied original whose rules' target is the stored image (a Job, a Pod's container and image volume), but checks a new one", () => {
    // Withheld for an outage or a missing tag, the upstream image would be refused as a change
    // (a Job, an image volume) or restart a running container with the upstream image (a Pod's).
    const checks = (review: unknown): unknown[] => {
      const d = decide(review, verifying);
      if (!d.ok) throw new Error(d.message);
      return d.plan.images.map((i) => (i.outcome === 'rewrite' ? verifyRequestOf(i) : i.outcome));
    };
    expect(checks(jobReview(job('gcr.io/app:1'), job('asia.gcr.io/app:1')))).toEqual([undefined]);
    const podWith = (container: string, volume: string): Record<string, unknown> => ({
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'a', image: container }], volumes: [{ name: 'data', image: { reference: volume } }] },
    });
    expect(checks(podReview(podWith('gcr.io/a:1', 'gcr.io/data:1'), { operation: 'UPDATE', oldObject: podWith('asia.gcr.io/a:1', 'asia.gcr.io/data:1') }))).toEqual([undefined, undefined]);
    // A container image the stored Pod does not run (a new tag) is checked.
    expect(checks(podReview(podWith('gcr.io/a:2', 'gcr.io/data:1'), { operation: 'UPDATE', oldObject: podWith('asia.gcr.io/a:1', 'asia.gcr.io/data:1') }))).toEqual([
      { image: 'asia.gcr.io/a:2', platforms: [] },
      undefined,
    ]);
  });

  it("adds no imagePullSecrets to a Job's template on UPDATE, where the stored rewrite is kept (the template is immutable)", () => {
    // Stored when quay.io went to old.mirror.example.com (no Secret); the quay rule now adds
    // shared-pull. The image stays the stored one; a Secret added would be refused just the same.
    const recorded = { 'image-rewriter.io/original-images': '{"containers/main":"quay.io/app:1"}' };
    const stored = { ...job('old.mirror.example.com/quay/app:1'), metadata: { name: 'j1', annotations: recorded } };
    const reapplied = { ...job('quay.io/app:1'), metadata: { name: 'j1', annotations: recorded } };
    const { outcome, ops } = run(jobReview(reapplied, stored));
    expect(ops).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'old.mirror.example.com/quay/app:1' }]);
    expect(apply(reapplied, ops)).toEqual(stored);
    expect(outcome.response.response.warnings).toContain(
      "image-rewriter: imagePullSecrets shared-pull not added: a Job's pod template cannot change after it is created",
    );
    // And in the review's log line, at the template's list (a Job's pod spec is its template's).
    expect(outcome.report.malformed).toContainEqual({ pointer: '/spec/template/spec/imagePullSecrets', problem: "a Job's pod template cannot change after it is created; shared-pull not added", valid: true });
  });

  it('treats an UPDATE without a usable oldObject like a CREATE', () => {
    const { ops } = run(podReview(pod([{ name: 'a', image: 'gcr.io/a:1' }]), { operation: 'UPDATE', oldObject: 'not an object' }));
    expect(ops[0]).toEqual({ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/a:1' });
  });
});

describe("Istio's image placeholder auto", () => {
  // An Istio gateway Deployment names its proxy container's image `auto`; Istio's injector (a
  // webhook called after this one, by name) replaces it with its proxy image only while it is
  // `auto`. Rewritten to the mirror's `.../auto`, it stayed there, an image that exists nowhere.
  const gateway = pod([
    { name: 'istio-proxy', image: 'auto' },
    { name: 'app', image: 'nginx:1.27' },
  ]);
  it('is left for the injector, the other images rewritten', () => {
    const { outcome, ops } = run(podReview(gateway));
    expect(ops.filter((o) => o.path.endsWith('/image'))).toEqual([{ op: 'replace', path: '/spec/containers/1/image', value: 'mirror.example.com/hub/nginx:1.27' }]);
    expect(originals(ops)).toBe('{"containers/app":"nginx:1.27"}');
    expect(outcome.response.response.warnings?.join('\n')).not.toContain('auto');
  });
  it('the proxy image the injector put there is rewritten on reinvocation', () => {
    const injected = apply(gateway, run(podReview(gateway)).ops) as Record<string, unknown>;
    const spec = injected['spec'] as { containers: Container[] };
    spec.containers[0] = { name: 'istio-proxy', image: 'docker.io/library/proxyv2:1.28.0' };
    const { ops } = run(podReview(injected));
    expect(ops.filter((o) => o.path.endsWith('/image'))).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: 'mirror.example.com/hub/proxyv2:1.28.0' }]);
  });
});

describe('imagePullPolicy Never', () => {
  // kind load docker-image app:dev, then imagePullPolicy: Never: the kubelet runs only what the node
  // holds under the Pod's name, and never pulls. The rewrite stays (the rules say where every image
  // comes from), and its warning says the node must hold the new image, or the Pod would fail with
  // ErrImageNeverPull without a word from the webhook.
  it('is rewritten, and its warning says the node must hold the new image', () => {
    const { outcome, ops } = run(podReview(pod([
      { name: 'dev', image: 'gcr.io/app:dev', imagePullPolicy: 'Never' },
      { name: 'web', image: 'gcr.io/web:1', imagePullPolicy: 'IfNotPresent' },
    ])));
    expect(ops.filter((o) => o.path.endsWith('/image')).map((o) => o.path)).toEqual(['/spec/containers/0/image', '/spec/containers/1/image']);
    expect(outcome.response.response.warnings).toEqual([
      'image-rewriter: rewrote containers[dev] gcr.io/app:dev -> asia.gcr.io/app:dev (rule gcr); pull policy Never: the node must hold the new image',
      'image-rewriter: rewrote containers[web] gcr.io/web:1 -> asia.gcr.io/web:1 (rule gcr)',
    ]);
  });
  it("an image volume's pullPolicy Never, and no other spelling", () => {
    const spec = pod([{ name: 'a', image: 'gcr.io/a:1', imagePullPolicy: 'never' }]) as { spec: Record<string, unknown> };
    spec.spec['volumes'] = [{ name: 'v', image: { reference: 'gcr.io/data:1', pullPolicy: 'Never' } }];
    const warnings = run(podReview(spec)).outcome.response.response.warnings ?? [];
    expect(warnings.filter((w) => w.includes('pull policy Never'))).toEqual(['image-rewriter: rewrote volumes[v] gcr.io/data:1 -> asia.gcr.io/data:1 (rule gcr); pull policy Never: the node must hold the new image']);
  });
});
