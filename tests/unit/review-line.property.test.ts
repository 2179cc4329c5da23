/**
 * `usualReviewFieldsJson`, the review line's fields written directly for the usual review, against
 * `reviewFields`, which makes every line: on generated reviews (names, images, namespaces and uids
 * that are plain, quoted, bidirectional, over MAX_LOGGED_STRING or missing; image volumes; dry runs,
 * kubectl debug's subresource, skips, invalid images; more rewrites than MAX_LISTED and than the rule slots) and every outcome,
 * the direct text is either undefined or exactly the JSON of `reviewFields`' fields.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ReviewReport } from '../../src/core/admission.js';
import { review } from '../../src/core/review.js';
import { escapeBidi } from '../../src/core/json.js';
import { MAX_LISTED_BYTES, MAX_LOGGED_STRING, OUTCOMES, reviewFields, usualReviewFieldsJson } from '../../src/observability/telemetry.js';
import { MAX_RULE_NAME_LENGTH } from '../../src/config/schema.js';
import { podReview } from '../helpers/admission-review.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom(`rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: quay
    match: quay.io
    replace: mirror.example.com/quay
  - name: k8s
    match: registry.k8s.io
    replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/k8s
  - name: hub
    match: docker.io
    replace: mirror.example.com/hub
`);

const odd = fc.constantFrom('a"b', 'a\\b', 'x\u202ey', 'caf\u00e9', 'x'.repeat(600), '', 'tab\there');
const text = fc.oneof({ weight: 12, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/) }, { weight: 1, arbitrary: odd });
const image = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom('gcr.io/', 'quay.io/', 'registry.k8s.io/', 'nginx', 'busybox', 'example.com/'), fc.stringMatching(/^[a-z0-9]{1,12}$/), fc.constantFrom(':1', ':v1.2.3', '')).map(([a, b, c]) => (a.endsWith('/') ? `${a}${b}${c}` : `${a}${c}`)) },
  { weight: 1, arbitrary: fc.constantFrom(`gcr.io/${'a'.repeat(520)}:1`, 'gcr.io/"x":1', 'Not A Reference', `gcr.io/a@sha256:${'0'.repeat(64)}`) },
);
const containers = fc.array(fc.record({ name: fc.option(text, { nil: undefined }), image }), { minLength: 0, maxLength: 24 });
const volumes = fc.array(fc.record({ name: text, image: fc.record({ reference: image }) }), { maxLength: 2 });

describe('usualReviewFieldsJson', () => {
  it('is undefined or the JSON of reviewFields\' fields, for every generated review and outcome', () => {
    let direct = 0;
    let generic = 0;
    fc.assert(
      fc.property(
        fc.record({
          cs: containers,
          vs: volumes,
          namespace: fc.option(text, { nil: undefined }),
          name: fc.option(text, { nil: undefined }),
          uid: fc.oneof(fc.uuid(), odd),
          operation: fc.constantFrom('CREATE', 'CREATE', 'UPDATE', 'DELETE'),
          dryRun: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
          subResource: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant('ephemeralcontainers') }),
          outcome: fc.constantFrom(...OUTCOMES),
        }),
        ({ cs, vs, namespace, name, uid, operation, dryRun, subResource, outcome }) => {
          const object = { apiVersion: 'v1', kind: 'Pod', metadata: { ...(name === undefined ? {} : { name }) }, spec: { containers: cs, volumes: vs } };
          const outcomeOf = review(podReview(object, { uid, operation, dryRun, ...(subResource === undefined ? {} : { subResource }), ...(namespace === undefined ? {} : { namespace }), ...(operation === 'UPDATE' ? { oldObject: object } : {}) }), rewriter);
          if (!outcomeOf.ok) return;
          const { report } = outcomeOf;
          const fast = usualReviewFieldsJson(report, outcome);
          if (fast === undefined) {
            generic++;
            return;
          }
          direct++;
          expect(fast).toBe(escapeBidi(JSON.stringify(reviewFields(report, outcome).fields)).slice(1, -1));
        },
      ),
      { numRuns: 4_000 },
    );
    // Both paths are exercised.
    expect(direct).toBeGreaterThan(500);
    expect(generic).toBeGreaterThan(500);
  });

  it('writes a list of plain rewrites at every length limit, which fits the line\'s byte budget', () => {
    // Strings from the request are at most MAX_LOGGED_STRING on this path; a rule name is not
    // clipped, but at most MAX_RULE_NAME_LENGTH (src/config/schema.ts): 20 entries of the longest
    // container names, images and rule name stay within MAX_LISTED_BYTES, so nothing is cut.
    const longest = rewriterFrom(`rules:\n  - name: r${'x'.repeat(MAX_RULE_NAME_LENGTH - 1)}\n    match: gcr.io\n    replace: asia.gcr.io\n`);
    const cs = Array.from({ length: 20 }, (_, i) => ({ name: `${'n'.repeat(MAX_LOGGED_STRING - 2)}${String(i).padStart(2, '0')}`, image: `gcr.io/${'a'.repeat(240)}${String(i).padStart(2, '0')}:${'t'.repeat(128)}` }));
    const outcome = review(podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: cs } }), longest);
    if (!outcome.ok) throw new Error(outcome.message);
    const fields = reviewFields(outcome.report, 'patched').fields;
    expect(fields['rewritten']).toHaveLength(20);
    expect(fields['rewrittenCut']).toBeUndefined();
    expect(usualReviewFieldsJson(outcome.report, 'patched')).toBe(JSON.stringify(fields).slice(1, -1));
    expect(JSON.stringify(fields['rewritten']).length).toBeLessThan(MAX_LISTED_BYTES);
  });

  it('clips an image over MAX_LOGGED_STRING whose rewrite is shorter (a rule to a shorter host), as reviewFields does', () => {
    // A name of 255 characters (the grammar's most), a 128-character tag and a sha512 digest: 520
    // characters, rewritten to a host of 4.
    const host = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.io`;
    const image = `${host}/${'p'.repeat(254 - host.length)}:${'t'.repeat(128)}@sha512:${'0'.repeat(128)}`;
    const shorter = rewriterFrom(`rules:\n  - name: short\n    match: ${host}\n    replace: m.io\n`);
    const outcome = review(podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image }] } }), shorter);
    if (!outcome.ok) throw new Error(outcome.message);
    const [rewrite] = outcome.report.rewrites;
    expect(rewrite?.from.length).toBeGreaterThan(MAX_LOGGED_STRING);
    expect(rewrite?.to.length).toBeLessThanOrEqual(MAX_LOGGED_STRING);
    const { fields } = reviewFields(outcome.report, 'patched');
    expect(fields['rewritten']).toEqual([{ container: 'c', from: `${image.slice(0, MAX_LOGGED_STRING)}...`, to: rewrite?.to, rule: 'short' }]);
    const fast = usualReviewFieldsJson(outcome.report, 'patched');
    if (fast !== undefined) expect(fast).toBe(JSON.stringify(fields).slice(1, -1));
  });

  it('leaves to reviewFields a rewrite whose rule name JSON must escape (no such name passes the schema; a caller of its own may pass one)', () => {
    const rewrites = [{ containerName: 'c', list: 'containers' as const, pointer: '/spec/containers/0/image', from: 'gcr.io/a', to: 'asia.gcr.io/a', rule: 'a"b\\c' }];
    const report: ReviewReport = { uid: 'u', kind: 'v1/Pod', namespace: 'ns', name: 'p', operation: 'CREATE', rewrites, invalid: [], malformed: [] };
    const fast = usualReviewFieldsJson(report, 'patched');
    if (fast !== undefined) expect(JSON.parse(`{${fast}}`)).toEqual(reviewFields(report, 'patched').fields);
    expect(fast ?? JSON.stringify(reviewFields(report, 'patched').fields).slice(1, -1)).toContain('"rule":"a\\"b\\\\c"');
  });

  it('charges each plain entry its comma, as reviewFields does: 20 entries of 2,048 bytes are over the budget', () => {
    const entry = (i: number, rule: string) => ({ containerName: `c${String(i).padStart(2, '0')}`, list: 'containers' as const, pointer: `/spec/containers/${String(i)}/image`, from: 'gcr.io/a', to: 'asia.gcr.io/a', rule });
    const base = JSON.stringify({ container: 'c00', from: 'gcr.io/a', to: 'asia.gcr.io/a', rule: '' }).length;
    const rule = `r${'x'.repeat(MAX_LISTED_BYTES / 20 - base - 1)}`;
    const rewrites = Array.from({ length: 20 }, (_, i) => entry(i, rule));
    expect(JSON.stringify({ container: 'c00', from: 'gcr.io/a', to: 'asia.gcr.io/a', rule }).length).toBe(MAX_LISTED_BYTES / 20);
    const report: ReviewReport = { uid: 'u', kind: 'v1/Pod', namespace: 'ns', name: 'p', operation: 'CREATE', rewrites, invalid: [], malformed: [] };
    const { fields } = reviewFields(report, 'patched');
    expect(fields['rewrittenCut']).toBe(1);
    const fast = usualReviewFieldsJson(report, 'patched');
    if (fast !== undefined) expect(fast).toBe(JSON.stringify(fields).slice(1, -1));
  });

  it('leaves to reviewFields a list of plain rewrites over the byte budget (a rule name longer than the schema allows, from a caller of its own)', () => {
    const rule = `r${'x'.repeat(999)}`;
    const rewrites = Array.from({ length: 20 }, (_, i) => ({
      containerName: `${'n'.repeat(MAX_LOGGED_STRING - 2)}${String(i).padStart(2, '0')}`,
      list: 'containers' as const,
      pointer: `/spec/containers/${String(i)}/image`,
      from: `gcr.io/${'a'.repeat(MAX_LOGGED_STRING - 7)}`,
      to: `asia.gcr.io/${'a'.repeat(MAX_LOGGED_STRING - 12)}`,
      rule,
    }));
    const report: ReviewReport = { uid: 'u', kind: 'v1/Pod', namespace: 'ns', name: 'p', operation: 'CREATE', rewrites, invalid: [], malformed: [] };
    const { fields } = reviewFields(report, 'patched');
    expect(fields['rewrittenCut']).toBeGreaterThan(0);
    const fast = usualReviewFieldsJson(report, 'patched');
    if (fast !== undefined) expect(fast).toBe(JSON.stringify(fields).slice(1, -1));
  });
});
