/**
 * `fitWarning`'s shortcut (a printable warning that nothing would shorten is returned as joined)
 * against its every-step path `fitSegments`, on generated warnings around the lengths where the
 * shortcut applies: the two must give the same text for every input.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { WARNING_MAX_LENGTH, WARNING_TARGET_LENGTH } from '../../src/core/admission.js';
import { fitSegments, fitWarning, type WarningPart } from '../../src/core/warning-text.js';
import { hostile } from '../helpers/arbitraries.js';

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
});
