/**
 * `answerJson`, the text of every 200 answer: the same as `JSON.stringify` for answers with and
 * without a patch, with warnings and audit annotations that need escapes, denied answers, and the
 * fail-open form, and in the order of the answer's own keys; `quote` and `stringsJson`, which write
 * its warnings and the original-images annotation, against `JSON.stringify` too.
 */
import { describe, expect, it } from '@jest/globals';
import type { AdmissionReviewAnswer } from '../../src/core/admission.js';
import { answerJson } from '../../src/core/render.js';
import { quote, stringsJson } from '../../src/core/json.js';
import { review } from '../../src/core/review.js';
import { at } from '../../src/core/json.js';
import { originalImagesOps } from '../../src/core/original-images.js';
import { add, encodePatch, type PatchOperation, replace, withValueJson } from '../../src/core/patch.js';
import { podReview } from '../helpers/admission-review.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');

describe('answerJson', () => {
  it('gives JSON.stringify\'s text for a review that rewrites, with escapes in warnings and annotations', () => {
    const containers = [{ name: 'a"b\\c\u2028\u202e', image: 'gcr.io/app:1' }, { name: 'Ünïcode', image: 'Not A Reference' }];
    const body = podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers } });
    const outcome = review(body, rewriter);
    if (!outcome.ok) throw new Error(outcome.message);
    expect(outcome.response.response.patch).toBeDefined();
    expect(answerJson(outcome.response)).toBe(JSON.stringify(outcome.response));
    expect(JSON.parse(answerJson(outcome.response))).toEqual(outcome.response);
  });

  it('escapes a container name JSON must escape in the rewrites audit annotation, alone or beside an invalid image', () => {
    const name = 'a"b\\c\u202e';
    for (const extra of [[], [{ name: 'z', image: 'Not A Reference' }]]) {
      const body = podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name, image: 'gcr.io/app:1' }, ...extra] } });
      const outcome = review(body, rewriter);
      if (!outcome.ok) throw new Error(outcome.message);
      const text = answerJson(outcome.response);
      expect(text).toBe(JSON.stringify(outcome.response));
      const rewrites = at(JSON.parse(text), ['response', 'auditAnnotations', 'rewrites']);
      expect(JSON.parse(String(rewrites))).toEqual([{ container: `containers/${name}`, from: 'gcr.io/app:1', to: 'asia.gcr.io/app:1', rule: 'gcr' }]);
    }
  });

  it('gives it for answers without a patch, denied answers and answers with extra or missing fields', () => {
    const patch = encodePatch([{ op: 'replace', path: '/spec/containers/0/image', value: 'é' }]);
    const answers = [
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } },
      { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true, warnings: ['x'], patchType: 'JSONPatch', patch } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: false, status: { code: 403, reason: 'Forbidden', message: 'no "image"' } } },
      { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', response: { allowed: true, uid: 'u', warnings: undefined, auditAnnotations: {} } },
    ];
    for (const a of answers) expect(answerJson(a)).toBe(JSON.stringify(a));
  });

  it('gives it for shapes it does not write field by field: missing, extra, reordered or undefined keys, odd values', () => {
    const patch = encodePatch([{ op: 'replace', path: '/spec/containers/0/image', value: 'x' }]);
    const response = { uid: 'u', allowed: true, patchType: 'JSONPatch', patch, warnings: ['w "1"'], auditAnnotations: { rewrites: '[{"a":"b"}]' } };
    const shapes: unknown[] = [
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response },
      { kind: 'AdmissionReview', response },
      { apiVersion: 'admission.k8s.io/v1', response, kind: 'AdmissionReview' },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response, extra: 1 },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: 'text' },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: [1, 2] },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: null },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { allowed: true, uid: 'u', patch } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { ...response, status: { code: 200 } } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { ...response, uid: 7 } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { ...response, patch: undefined, patchType: undefined } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { ...response, warnings: () => 1, auditAnnotations: Symbol('s') } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { ...response, patch: 12 } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { ...response, warnings: [undefined, 'a\u0000'], auditAnnotations: {} } },
      { apiVersion: 7, kind: 'AdmissionReview', response },
    ];
    for (const a of shapes) expect(answerJson(a as Parameters<typeof answerJson>[0])).toBe(JSON.stringify(a));
  });
});

describe('quote and stringsJson', () => {
  // Every UTF-16 unit below U+0800 and the ones JSON or our checks treat apart, alone and in text.
  const units = [...Array.from({ length: 0x800 }, (_, c) => String.fromCharCode(c)), '\u2028', '\u2029', '\u202e', '\ud800', '\udc00', '\ud83d\ude00', '\ufeff', '\uffff'];

  it('gives JSON.stringify\'s text for every unit, alone and between plain text', () => {
    for (const u of units) {
      for (const s of [u, `a${u}`, `${u}b`, `image-rewriter: rewrote containers[c${u}] x -> y`]) expect(quote(s)).toBe(JSON.stringify(s));
    }
    expect(quote('')).toBe('""');
  });

  it('gives JSON.stringify\'s text for lists of strings, and for lists with anything else in them', () => {
    const lists: unknown[][] = [[], ['a'], ['a"b', 'c\\d', 'e\nf', 'plain text'], units.slice(0, 200), ['a', undefined, 'b'], ['a', 1], [null], ['a', { b: 'c' }], ['x', () => 1]];
    for (const l of lists) expect(stringsJson(l)).toBe(JSON.stringify(l));
  });
});

describe('the rewrites audit annotation, written with its JSON text', () => {
  const pod = (containers: { name: string; image: string }[], annotations?: Record<string, string>): unknown =>
    podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', ...(annotations === undefined ? {} : { annotations }) }, spec: { containers } });
  const answerOf = (body: unknown): { response: AdmissionReviewAnswer; audit: Record<string, string>; rewrites: { containerName: string | undefined; list: string; from: string; to: string; rule: string }[] } => {
    const outcome = review(body, rewriter);
    if (!outcome.ok) throw new Error(outcome.message);
    return { response: outcome.response, audit: { ...outcome.response.response.auditAnnotations }, rewrites: [...outcome.report.rewrites] };
  };
  const expected = (rewrites: ReturnType<typeof answerOf>['rewrites']): string =>
    JSON.stringify(rewrites.map((r) => ({ container: `${r.list}/${r.containerName ?? ''}`, from: r.from, to: r.to, rule: r.rule })));
  const containers = (n: number, name = (i: number): string => `c${i}`, image = (i: number): string => `gcr.io/app${i}:1`): { name: string; image: string }[] =>
    Array.from({ length: n }, (_, i) => ({ name: name(i), image: image(i) }));

  it('is the JSON of the entries, and the answer JSON.stringify\'s text, for plain and escaped strings at any place', () => {
    const cases = [
      containers(1),
      containers(5),
      containers(3, (i) => (i === 2 ? 'c"2' : `c${i}`)),
      containers(3, (i) => (i === 0 ? 'c\u202e0' : `c${i}`)),
      containers(2, (i) => (i === 1 ? 'c\\1' : `c${i}`)),
    ];
    for (const list of cases) {
      const { response, audit, rewrites } = answerOf(pod(list));
      expect(rewrites).toHaveLength(list.length);
      expect(audit).toEqual({ rewrites: expected(rewrites).replace(/\u202e/g, '\\u202e') });
      expect(answerJson(response)).toBe(JSON.stringify(response));
    }
  });

  it('gives JSON.stringify\'s text beside the invalid images, in a reinvocation, past the entries and bytes an annotation holds', () => {
    const bodies = [
      pod([...containers(2), { name: 'bad', image: 'Not A Reference' }]),
      pod(containers(2), { 'image-rewriter.io/original-images': '{"containers/x":"gcr.io/x:1"}' }),
      pod(containers(300)),
      pod(containers(60, (i) => `c${i}`, (i) => `gcr.io/${'a'.repeat(150)}${i}:1`)),
    ];
    const keys: string[][] = [];
    for (const body of bodies) {
      const { response, audit } = answerOf(body);
      keys.push(Object.keys(audit));
      for (const value of Object.values(audit)) expect(Buffer.byteLength(value)).toBeLessThanOrEqual(10 * 1024);
      expect(answerJson(response)).toBe(JSON.stringify(response));
    }
    expect(keys).toEqual([['rewrites', 'invalid'], ['reinvocation-rewrites'], ['rewrites'], ['rewrites']]);
    const many = answerOf(bodies[2]).audit['rewrites'] ?? '';
    expect((JSON.parse(many) as unknown[]).at(-1)).toEqual({ omitted: expect.any(Number) });
  });

  it('is left to JSON.stringify once the answer is copied or changed', () => {
    const { response } = answerOf(pod(containers(2)));
    const copied = { ...response, response: { ...response.response, auditAnnotations: { ...response.response.auditAnnotations, extra: 'x' } } };
    expect(answerJson(copied)).toBe(JSON.stringify(copied));
    expect(answerJson(copied)).toContain('"extra":"x"');
  });
});

describe('the patch, with the original-images annotation written with its JSON text', () => {
  const KEY = 'image-rewriter.io/original-images';
  const originals = (names: string[]): string => JSON.stringify(Object.fromEntries(names.map((n) => [`containers/${n}`, `gcr.io/${n.replace(/[^a-z]/g, '')}:1`])));
  const metadatas: [string, unknown][] = [
    ['no metadata', undefined],
    ['no annotations', { name: 'p' }],
    ['annotations without the key', { name: 'p', annotations: { other: 'x' } }],
    ['the key not a string', { name: 'p', annotations: { [KEY]: 7 } }],
    ['the key not a map', { name: 'p', annotations: { [KEY]: 'hand written' } }],
    ['the key with an entry kept', { name: 'p', annotations: { [KEY]: '{"containers/gone":"gcr.io/gone:1"}' } }],
  ];

  it('is base64 of JSON.stringify of the operations in every form the annotation takes, with plain and escaped names and images', () => {
    for (const names of [['a', 'b'], ['a"q', 'b'], ['a', 'b\u00e9'], ['a', 'b\\'], ['a', 'b\u202e']]) {
      for (const image of ['gcr.io/x:1', 'gcr.io/"x"']) {
        for (const [label, metadata] of metadatas) {
          const object = { apiVersion: 'v1', kind: 'Pod', ...(metadata === undefined ? {} : { metadata }) };
          const rewrites = names.map((n, index) => ({ field: { pointer: `/spec/containers/${index}/image`, containerList: 'containers' as const, index, containerName: n, image } }));
          const ops = originalImagesOps(object, rewrites, []);
          expect({ label, ops: ops?.length }).toEqual({ label, ops: 1 });
          expect(encodePatch(ops ?? [])).toBe(Buffer.from(JSON.stringify(ops)).toString('base64'));
          const op = ops?.[0];
          const value: unknown = op?.path === '/metadata' ? at(op.value, ['annotations', KEY]) : op?.path === '/metadata/annotations' ? at(op.value, [KEY]) : op?.value;
          const map = JSON.parse(String(value)) as Record<string, string>;
          for (const n of names) expect(map[`containers/${n}`]).toBe(image);
        }
      }
    }
  });

  it('encodes an operation carrying its value\'s JSON text as the same bytes as one without', () => {
    const value = originals(['a', 'b']);
    const image: PatchOperation = replace('/spec/containers/0/image', 'asia.gcr.io/a:1');
    const annotation: PatchOperation = add('/metadata/annotations/x', value);
    const ops = [image, annotation];
    const known = [image, withValueJson(annotation, JSON.stringify(value))];
    expect(known).toEqual(ops);
    expect(encodePatch(known)).toBe(Buffer.from(JSON.stringify(ops)).toString('base64'));
    expect({ ...known[1] }).toEqual(annotation);
  });
});
