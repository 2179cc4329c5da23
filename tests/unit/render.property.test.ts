/**
 * Properties of `render` over generated manifests written in many YAML and JSON styles: for each
 * object, the rendered document equals the webhook's own patch (review() of the object's CREATE,
 * applied with fast-json-patch) applied to it; rendering is idempotent; documents no rule changes
 * come out byte for byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseAllDocuments, stringify } from 'yaml';
import { KUBECTL_SCALARS } from '../../src/config/yaml-kubectl.js';
import { review } from '../../src/core/review.js';
import { renderManifests } from '../../src/manifests/render.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';
import { format, reference } from '../helpers/arbitraries.js';
import { apply, decodePatch } from './admission.helpers.js';

const rewriter = rewriterFrom(readFileSync(join(FIXTURES, 'admission', 'rules.yaml'), 'utf8'));

const image = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('gcr.io/nginx', 'gcr.io/a/b:1', 'nginx', 'nginx:1.25', 'quay.io/x/y:2', 'busybox:1.36', 'Legacy.example.net/app:1', 'asia.gcr.io/nginx', 'gcr.io/Upper', 'true', '1.5', "it's", 'a: b', '#x') },
  { weight: 2, arbitrary: reference.map(format) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('gcr.io/', 'quay.io/', 'docker.io/library/'), reference.map((r) => r.path)).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
const container = fc.record({ name: fc.oneof(fc.constantFrom('app', 'side', 'a/b', 'a~b'), fc.string({ maxLength: 6 })), image }, { requiredKeys: ['image'] });
const containers = fc.array(container, { maxLength: 3 });
/** Image volumes (their `image.reference` rewritten like a container's image) and volumes of other types. */
const volume = fc.oneof(
  fc.record({ name: fc.constantFrom('model', 'data', 'a/b'), image: fc.record({ reference: image, pullPolicy: fc.constantFrom('IfNotPresent', 'Always') }, { requiredKeys: ['reference'] }) }),
  fc.record({ name: fc.constant('tmp'), emptyDir: fc.constant({}) }),
);
const podSpec = fc.record(
  {
    containers,
    initContainers: containers,
    volumes: fc.array(volume, { maxLength: 3 }),
    imagePullSecrets: fc.array(fc.record({ name: fc.constantFrom('ecr-pull', 'other') }), { maxLength: 2 }),
  },
  { requiredKeys: ['containers'] },
);
const metadata = fc.record(
  {
    name: fc.string({ minLength: 1, maxLength: 6 }),
    namespace: fc.constantFrom('default', 'team-a'),
    labels: fc.dictionary(fc.constantFrom('app', 'image-rewriter.io/skip'), fc.constantFrom('true', 'false', 'web'), { maxKeys: 2 }),
    annotations: fc.oneof(
      fc.dictionary(fc.constantFrom('note', 'image-rewriter.io/skip'), fc.constantFrom('true', 'x'), { maxKeys: 2 }),
      fc.constant(null),
      fc.constant({ 'image-rewriter.io/original-images': '{"containers/app":"gcr.io/old"}' }),
    ),
  },
  { requiredKeys: [] },
);

const KINDS = [
  { apiVersion: 'v1', kind: 'Pod', resource: 'pods', wrap: (spec: unknown) => ({ spec }) },
  { apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments', wrap: (spec: unknown, meta: unknown) => ({ spec: { replicas: 2, template: { metadata: meta, spec } } }) },
  { apiVersion: 'batch/v1', kind: 'CronJob', resource: 'cronjobs', wrap: (spec: unknown, meta: unknown) => ({ spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { metadata: meta, spec } } } } }) },
  { apiVersion: 'v1', kind: 'PodTemplate', resource: 'podtemplates', wrap: (spec: unknown, meta: unknown) => ({ template: { metadata: meta, spec } }) },
  { apiVersion: 'v1', kind: 'ConfigMap', resource: 'configmaps', wrap: (spec: unknown) => ({ data: { spec: JSON.stringify(spec) } }) },
] as const;

const object = fc
  .record({ type: fc.constantFrom(...KINDS), metadata: fc.option(metadata, { nil: undefined }), template: fc.option(metadata, { nil: undefined }), spec: podSpec })
  .map(({ type, metadata: meta, template, spec }) => {
    const o = { apiVersion: type.apiVersion, kind: type.kind, ...(meta === undefined ? {} : { metadata: meta }), ...type.wrap(spec, template ?? {}) };
    return JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
  });

/** How a document is written: YAML in several styles, or JSON. */
const style = fc.oneof(
  fc.record({
    yaml: fc.constant(true),
    collectionStyle: fc.constantFrom('any', 'flow'), // 'block' writes empty lists the yaml package cannot read back
    defaultStringType: fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'),
    indentSeq: fc.boolean(),
    indent: fc.constantFrom(2, 4),
  }),
  fc.record({ yaml: fc.constant(false), space: fc.constantFrom(0, 2, 4) }),
);

function write(o: unknown, s: typeof style extends fc.Arbitrary<infer T> ? T : never): string {
  if (!s.yaml) return `${JSON.stringify(o, null, s.space)}\n`;
  // customTags: a string kubectl (YAML 1.1) would read as a boolean or a number (`n`, `1_0`) is quoted, as kubectl's own YAML quotes it.
  return stringify(o, { collectionStyle: s.collectionStyle, defaultStringType: s.defaultStringType, indentSeq: s.indentSeq, indent: s.indent, lineWidth: 0, customTags: KUBECTL_SCALARS });
}

/** The object as the webhook would store it: review() of its CREATE, the patch applied. */
function webhookResult(o: Record<string, unknown>, annotate: boolean): unknown {
  const type = KINDS.find((k) => k.kind === o['kind']);
  if (type === undefined || type.kind === 'ConfigMap') return o;
  const [group, version] = type.apiVersion.includes('/') ? type.apiVersion.split('/') : ['', type.apiVersion];
  const namespace = (o['metadata'] as { namespace?: string } | undefined)?.namespace ?? '';
  const outcome = review(
    {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u', kind: { group, version, kind: type.kind }, resource: { group, version, resource: type.resource }, operation: 'CREATE', namespace, object: o },
    },
    rewriter,
    { recordOriginals: annotate },
  );
  if (!outcome.ok) throw new Error(outcome.message);
  const ops = decodePatch(outcome.response.response);
  return ops === undefined ? o : apply(o, ops);
}

describe('render properties', () => {
  it("each object rendered equals the webhook's patch applied to it; render is idempotent", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(object, style), { minLength: 1, maxLength: 4 }), fc.boolean(), fc.boolean(), (docs, annotate, crlf) => {
        let source = docs.map(([o, s]) => write(o, s)).join('---\n');
        if (crlf) source = source.replace(/\n/g, '\r\n');
        const r = renderManifests(source, { rewriter, annotate, scope: 'all' });
        if (!r.ok) throw new Error(`${r.error}\n${source}`);
        const parsed = parseAllDocuments(r.output).map((d) => d.toJS() as unknown);
        expect(parsed).toEqual(docs.map(([o]) => webhookResult(o, annotate)));
        const again = renderManifests(r.output, { rewriter, annotate, scope: 'all' });
        expect(again).toMatchObject({ ok: true, output: r.output });
        if (r.changes.length === 0) expect(r.output).toBe(source);
      }),
      { numRuns: 300 },
    );
  });
});
