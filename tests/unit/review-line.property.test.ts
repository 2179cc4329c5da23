/**
 * `usualReviewFieldsJson`, the review line's fields written directly for the usual review, against
 * `reviewFields`, which makes every line: on generated reviews (names, images, namespaces and uids
 * that are plain, quoted, bidirectional, over MAX_LOGGED_STRING or missing; image volumes; dry runs,
 * skips, invalid images; more rewrites than MAX_LISTED and than the rule slots) and every outcome,
 * the direct text is either undefined or exactly the JSON of `reviewFields`' fields.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { review } from '../../src/core/review.js';
import { escapeBidi } from '../../src/core/json.js';
import { OUTCOMES, reviewFields, usualReviewFieldsJson } from '../../src/observability/telemetry.js';
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
          outcome: fc.constantFrom(...OUTCOMES),
        }),
        ({ cs, vs, namespace, name, uid, operation, dryRun, outcome }) => {
          const object = { apiVersion: 'v1', kind: 'Pod', metadata: { ...(name === undefined ? {} : { name }) }, spec: { containers: cs, volumes: vs } };
          const outcomeOf = review(podReview(object, { uid, operation, dryRun, ...(namespace === undefined ? {} : { namespace }), ...(operation === 'UPDATE' ? { oldObject: object } : {}) }), rewriter);
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

  it('leaves to reviewFields a list of plain rewrites past the line\'s byte budget, and writes one just within it', () => {
    // Strings from the request are at most MAX_LOGGED_STRING on this path; a rule name is not clipped.
    const line = (ruleLength: number): { fast: string | undefined; fields: Record<string, unknown> } => {
      const long = rewriterFrom(`rules:\n  - name: r${'x'.repeat(ruleLength)}\n    match: gcr.io\n    replace: asia.gcr.io\n`);
      const cs = Array.from({ length: 20 }, (_, i) => ({ name: `${'n'.repeat(480)}${i}`, image: `gcr.io/${'a'.repeat(200)}${i}:1` }));
      const outcome = review(podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: cs } }), long);
      if (!outcome.ok) throw new Error(outcome.message);
      return { fast: usualReviewFieldsJson(outcome.report, 'patched'), fields: reviewFields(outcome.report, 'patched').fields };
    };
    const over = line(2000);
    expect(over.fast).toBeUndefined();
    expect(over.fields['rewrittenCut']).toBeGreaterThan(0);
    const within = line(10);
    expect(within.fields['rewrittenCut']).toBeUndefined();
    expect(within.fast).toBe(JSON.stringify(within.fields).slice(1, -1));
  });
});
