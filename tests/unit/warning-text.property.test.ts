/**
 * `fitWarning`'s shortcut (a printable warning that nothing would shorten is returned as joined)
 * against its every-step path `fitSegments`, on generated warnings around the lengths where the
 * shortcut applies: the two must give the same text for every input.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { WARNING_MAX_LENGTH, WARNING_TARGET_LENGTH } from '../../src/core/admission.js';
import { fitSegments, fitWarning, type WarningPart } from '../../src/core/warning-text.js';
import { review } from '../../src/core/review.js';
import { hostile } from '../helpers/arbitraries.js';
import { podReview } from '../helpers/admission-review.js';
import { rewriterFrom } from '../helpers/rules.js';

const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...Array.from('0123456789abcdefABCDEF')), minLength: n, maxLength: n });
/** Text of the lengths around the cut points (MIN_PART 40, the target, the maximum), digests, non-ASCII. */
const text = fc.oneof(
  fc.string({ unit: fc.constantFrom(...Array.from('abcdefghijklmnopqrstuvwxyz0123456789./:-_@')), minLength: 0, maxLength: 90 }),
  fc.integer({ min: 30, max: 50 }).map((n) => 'x'.repeat(n)),
  fc.tuple(fc.constantFrom('gcr.io/a', '123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/library/nginx', 'n'), fc.oneof(hex(31), hex(32), hex(64))).map(([a, h]) => `${a}@sha256:${h}`),
  fc.tuple(fc.constantFrom('mirror.example.com/', ''), hex(32)).map(([a, h]) => a + h),
  fc.integer({ min: 100, max: 300 }).map((n) => 'y'.repeat(n)),
  hostile,
  fc.string({ maxLength: 60 }),
);
const part: fc.Arbitrary<WarningPart> = fc.record({ text, level: fc.constantFrom(0, 1, 2), cut: fc.constantFrom('middle', 'start') }, { requiredKeys: ['text', 'level'] });
const fixed = fc.oneof(fc.constantFrom('image-rewriter: rewrote ', ' -> ', ' (rule ', ')', ' ', ': '), fc.string({ maxLength: 40 }));
const segments = fc.array(fc.oneof(fixed, part), { minLength: 1, maxLength: 9 });

describe('fitWarning', () => {
  it('gives the text of fitSegments for every warning', () => {
    let shortcutRange = 0;
    fc.assert(
      fc.property(segments, (s) => {
        const joined = s.map((x) => (typeof x === 'string' ? x : x.text)).join('');
        if (joined.length > WARNING_TARGET_LENGTH && joined.length <= WARNING_MAX_LENGTH) shortcutRange++;
        expect(fitWarning(s)).toBe(fitSegments(s));
      }),
      { numRuns: 30_000 },
    );
    // The generator reaches the lengths where the shortcut matters.
    expect(shortcutRange).toBeGreaterThan(3_000);
  });

  it('gives it for the warnings of the rewrites of long targets (the shape the shortcut is for)', () => {
    const target = '123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/library/nginx:1.27';
    const w = ['image-rewriter: rewrote ', { text: 'containers[proxy]', level: 1 }, ' ', { text: 'nginx:1.27', level: 0 }, ' -> ', { text: target, level: 2 }, ' (rule ', { text: 'dockerhub', level: 1 }, ')'] as const;
    expect(fitWarning(w)).toBe(`image-rewriter: rewrote containers[proxy] nginx:1.27 -> ${target} (rule dockerhub)`);
    expect(fitWarning(w)).toBe(fitSegments(w));
  });

  it('gives the text of fitSegments for every rewrite warning of a review (which joins the usual one itself)', () => {
    const ruleName = (n: number): string => `r${'x'.repeat(n)}`;
    const rules = [1, 38, 39, 40, 45].map((n, i) => `  - name: ${ruleName(n)}\n    match: gcr${i}.io\n    replace: ${i === 4 ? `${'m'.repeat(60)}.example.com/very/long/mirror/path` : `asia.gcr${i}.io`}\n`).join('');
    const rewriter = rewriterFrom(`rules:\n${rules}`);
    const path = fc.stringMatching(/^[a-z0-9]{1,60}(\/[a-z0-9]{1,40}){0,2}$/);
    const image = fc.tuple(fc.integer({ min: 0, max: 4 }), path, fc.oneof(fc.constant(':1'), hex(64).map((h) => `@sha256:${h.toLowerCase()}`), fc.constant(''))).map(([i, p, t]) => `gcr${i}.io/${p}${t}`);
    const name = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,45}$/), fc.constant('c'));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, image), { minLength: 1, maxLength: 4 }), (cs) => {
        const containers = cs.map(([n, img], i) => ({ name: `${n}${i}`, image: img }));
        const outcome = review(podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers } }), rewriter);
        if (!outcome.ok) throw new Error(outcome.message);
        const warnings = outcome.response.response.warnings ?? [];
        outcome.report.rewrites.forEach((r, i) => {
          const w = ['image-rewriter: rewrote ', { text: `containers[${r.containerName ?? ''}]`, level: 1 }, ' ', { text: r.from, level: 0 }, ' -> ', { text: r.to, level: 2 }, ' (rule ', { text: r.rule, level: 1 }, ')'] as const;
          expect(warnings[i]).toBe(fitSegments(w));
        });
      }),
      { numRuns: 3_000 },
    );
  });
});
