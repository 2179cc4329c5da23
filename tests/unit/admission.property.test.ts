/**
 * Properties of `review` over generated inputs: it never throws; every answer echoes the uid and
 * apiVersion and allows; every patch applies cleanly with fast-json-patch validation; and the
 * patched object, reviewed again (reinvocation, or an UPDATE of the stored object), needs no patch.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { WARNING_MAX_LENGTH } from '../../src/core/admission.js';
import { answerJson } from '../../src/core/render.js';
import { review } from '../../src/core/review.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';
import { format, hostile, reference } from '../helpers/arbitraries.js';
import { apply, decodePatch, imagesOf, requestObject, withObject } from './admission.helpers.js';

const rewriter = rewriterFrom(readFileSync(join(FIXTURES, 'admission', 'rules.yaml'), 'utf8'));

// --- generators -----------------------------------------------------------------------------------

/** Images the rules rewrite, leave alone, reject, or cannot parse; and values that are not strings. */
const image = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('gcr.io/nginx', 'gcr.io/a/b:1', 'nginx', 'nginx:1.25', 'quay.io/x/y:2', 'busybox:1.36', 'Legacy.example.net/app:1', 'asia.gcr.io/nginx', 'gcr.io/Upper') },
  { weight: 2, arbitrary: reference.map(format) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('gcr.io/', 'quay.io/', 'docker.io/library/', ''), reference.map((r) => r.path)).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: hostile },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.oneof(fc.constant(null), fc.integer(), fc.boolean(), fc.constant(undefined), fc.array(fc.string(), { maxLength: 2 })) },
);
/** Names, including the characters JSON pointers must escape and duplicates. */
const name = fc.oneof(
  fc.constantFrom('app', 'sidecar', 'init', 'a/b', 'a~b', '~1', '__proto__', 'constructor', ''),
  fc.string({ maxLength: 12 }),
  fc.constant(undefined),
  fc.integer(),
);
const container = fc.oneof(
  { weight: 8, arbitrary: fc.record({ name, image }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const list = fc.oneof(
  { weight: 6, arbitrary: fc.array(container, { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, 'x', 0, {}) },
);
/** Volumes: image volumes (their reference any `image`), volumes of other types, malformed ones. */
const imageSource = fc.oneof(
  { weight: 6, arbitrary: fc.record({ reference: image, pullPolicy: fc.constant('IfNotPresent') }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const volume = fc.oneof(
  { weight: 4, arbitrary: fc.record({ name, image: imageSource }, { requiredKeys: [] }) },
  { weight: 2, arbitrary: fc.record({ name, emptyDir: fc.constant({}) }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const volumes = fc.oneof(
  { weight: 6, arbitrary: fc.array(volume, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, 'x', 0, {}) },
);
const secrets = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.array(fc.oneof(fc.record({ name: fc.constantFrom('ecr-pull', 'mirror-pull', 'other') }), fc.jsonValue({ maxDepth: 1 })), { maxLength: 3 }),
  fc.constantFrom('ecr-pull', 3),
);
const podSpec = fc
  .record({ containers: list, initContainers: list, ephemeralContainers: list, volumes, imagePullSecrets: secrets }, { requiredKeys: [] })
  .map((s) => JSON.parse(JSON.stringify(s)) as unknown); // plain JSON, as a parsed body is
const stringMap = (keys: string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.string({ maxLength: 8 }), fc.constant('true'), fc.integer()), { maxKeys: 3 }),
    fc.constantFrom(null, undefined, 'x', [1]),
  );
const originals = fc.oneof(
  fc.dictionary(fc.constantFrom('containers/app', 'containers/sidecar', 'initContainers/init', 'containers/[0]', 'volumes/app'), fc.string({ maxLength: 10 }), { maxKeys: 3 }).map((m) => JSON.stringify(m)),
  fc.constantFrom('not json', '[]', '{"a":1}', ''),
);
const metadata = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        name: fc.string({ maxLength: 6 }),
        namespace: fc.constantFrom('default', 'team-a'),
        labels: stringMap(['app', 'image-rewriter.io/skip']),
        annotations: fc.oneof(
          stringMap(['note', 'image-rewriter.io/skip', 'kubernetes.io/config.mirror']),
          originals.map((o) => ({ 'image-rewriter.io/original-images': o, other: 'x' })),
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, 'x', []) },
);

const TYPES = [
  { group: '', kind: 'Pod', resource: 'pods', wrap: (spec: unknown) => ({ spec }) },
  { group: 'apps', kind: 'Deployment', resource: 'deployments', wrap: (spec: unknown, meta: unknown) => ({ spec: { template: { metadata: meta, spec } } }) },
  { group: 'apps', kind: 'StatefulSet', resource: 'statefulsets', wrap: (spec: unknown, meta: unknown) => ({ spec: { template: { metadata: meta, spec } } }) },
  { group: 'batch', kind: 'CronJob', resource: 'cronjobs', wrap: (spec: unknown, meta: unknown) => ({ spec: { jobTemplate: { spec: { template: { metadata: meta, spec } } } } }) },
  { group: '', kind: 'PodTemplate', resource: 'podtemplates', wrap: (spec: unknown, meta: unknown) => ({ template: { metadata: meta, spec } }) },
  { group: '', kind: 'ConfigMap', resource: 'configmaps', wrap: (spec: unknown) => ({ spec }) },
] as const;

/** AdmissionReview-shaped bodies: mostly valid, with every part sometimes odd. */
const admissionReview = fc
  .record({
    apiVersion: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1') }, { weight: 1, arbitrary: fc.string() }),
    kind: fc.oneof({ weight: 19, arbitrary: fc.constant('AdmissionReview') }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 0 }) }),
    uid: fc.oneof({ weight: 19, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 0 }) }),
    type: fc.constantFrom(...TYPES),
    sub: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('ephemeralcontainers', 'status', '') }),
    operation: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('CREATE', 'UPDATE') }, { weight: 1, arbitrary: fc.constantFrom('DELETE', 'CONNECT', 'PATCH') }),
    namespace: fc.constantFrom('default', 'team-a', undefined, ''),
    metadata,
    templateMetadata: metadata,
    spec: podSpec,
    objectKind: fc.oneof({ weight: 12, arbitrary: fc.constant('object') }, { weight: 1, arbitrary: fc.constantFrom(null, undefined, 'x') }),
  })
  .map((g) => {
    const object = g.objectKind === 'object' ? { ...g.type.wrap(g.spec, g.templateMetadata), ...(g.metadata === undefined ? {} : { metadata: g.metadata }) } : g.objectKind;
    const gv = { group: g.type.group, version: 'v1' };
    return JSON.parse(
      JSON.stringify({
        apiVersion: g.apiVersion,
        kind: g.kind,
        request: { uid: g.uid, kind: { ...gv, kind: g.type.kind }, resource: { ...gv, resource: g.type.resource }, subResource: g.sub, operation: g.operation, namespace: g.namespace, object },
      }),
    ) as unknown;
  });

// --- properties -------------------------------------------------------------------------------------

type Seen = 'bad-request' | 'no-patch' | 'patch';

function checkAnswer(body: unknown): Seen {
  const outcome = review(body, rewriter);
  if (!outcome.ok) {
    expect(outcome.status).toBe(400);
    expect(outcome.message).not.toBe('');
    return 'bad-request';
  }
  const request = (body as { request: { uid: string } }).request;
  const answer = outcome.response;
  // The text the webhook sends is JSON.stringify's, written faster.
  expect(answerJson(answer)).toBe(JSON.stringify(answer));
  expect(answer.apiVersion).toBe((body as { apiVersion: string }).apiVersion);
  expect(answer.kind).toBe('AdmissionReview');
  expect(answer.response.uid).toBe(request.uid);
  expect(answer.response.allowed).toBe(true);
  for (const w of answer.response.warnings ?? []) {
    expect(w.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
    expect(w).toMatch(/^[\x20-\x7e]+$/);
  }
  const ops = decodePatch(answer.response);
  if (ops === undefined) {
    expect(answer.response.patchType).toBeUndefined();
    return 'no-patch';
  }
  expect(answer.response.patchType).toBe('JSONPatch');
  const object = requestObject(body);
  const patched = apply(object, ops); // throws when an op does not fit the object
  // The images the report says were rewritten are the ones now in the object.
  const after = imagesOf(body, patched);
  for (const r of outcome.report.rewrites) expect(after[r.pointer]).toBe(r.to);
  // Reinvocation: nothing more to do.
  const again = review(withObject(body, patched), rewriter);
  if (!again.ok) throw new Error(again.message);
  expect(again.response.response.patch).toBeUndefined();
  expect(again.report.rewrites).toEqual([]);
  return 'patch';
}

describe('review properties', () => {
  it('never throws on arbitrary JSON, and answers 400 or an allowed AdmissionReview', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const outcome = review(body, rewriter);
        expect(outcome.ok ? outcome.response.response.allowed : outcome.status).toBe(outcome.ok ? true : 400);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary values (not only JSON)', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true }), (body) => {
        expect(() => review(body, rewriter)).not.toThrow();
        expect(() => review({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: body }, rewriter)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('AdmissionReview-shaped bodies: patches apply with validation and are idempotent', () => {
    const seen: Record<Seen, number> = { 'bad-request': 0, 'no-patch': 0, patch: 0 };
    fc.assert(
      fc.property(admissionReview, (body) => {
        seen[checkAnswer(body)]++;
      }),
      { numRuns: 1000 },
    );
    // The generator exercises every outcome, mostly patches.
    expect(seen.patch).toBeGreaterThan(250);
    expect(seen['no-patch']).toBeGreaterThan(100);
    expect(seen['bad-request']).toBeGreaterThan(20);
  });

  it('a CREATE of a Pod whose images the rules rewrite always gets a patch that rewrites them all', () => {
    const rewritable = fc.array(fc.record({ name: fc.string({ minLength: 1, maxLength: 8 }), image: fc.constantFrom('gcr.io/a', 'nginx:1', 'quay.io/q/r@sha256:' + 'a'.repeat(64)) }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(rewritable, (containers) => {
        const body = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', object: { spec: { containers } } } };
        const outcome = review(body, rewriter);
        if (!outcome.ok) throw new Error(outcome.message);
        expect(outcome.report.rewrites).toHaveLength(containers.length);
        expect(checkAnswer(body)).toBe('patch');
      }),
      { numRuns: 300 },
    );
  });
});
