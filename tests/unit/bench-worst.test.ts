/**
 * The benchmark's worst review (bench/lib/worst.ts): `npm run bench -- --quick` must check every
 * answer behind a figure it prints, the plain Pod's beside the hostile one's, and count them. The
 * review is wrapped so that the plain Pod (images no rule touches) gets a patch: the check must
 * find it.
 */
import { describe, expect, it, jest } from '@jest/globals';
import type { Rewriter } from '../../src/core/rules.js';

const actual = await import('../../src/core/review.js');
let breakPlain = false;
jest.unstable_mockModule('../../src/core/review.js', () => ({
  ...actual,
  review: (body: unknown, rewriter: Rewriter) => {
    const outcome = actual.review(body, rewriter);
    const plain = JSON.stringify(body).includes('registry.example.org/');
    if (!breakPlain || !plain || !outcome.ok) return outcome;
    return { ...outcome, response: { ...outcome.response, response: { ...outcome.response.response, patchType: 'JSONPatch', patch: 'W10=' } } };
  },
}));
const { runWorst } = await import('../../bench/lib/worst.js');

describe('bench section 1, the worst review', () => {
  it('checks and counts every answer, the warm-ups included, and finds none wrong', () => {
    breakPlain = false;
    const result = runWorst(1, () => undefined);
    expect(result.failures).toEqual([]);
    // A warm-up of each Pod, then one timed round of each.
    expect(result.checked).toBe(4);
  });

  it("finds a wrong answer for the plain Pod (it was never checked: only the hostile one's warnings were)", () => {
    breakPlain = true;
    const result = runWorst(1, () => undefined);
    expect(result.failures).toHaveLength(2);
    expect(result.failures[0]).toMatch(/plain Pod/);
  });
});
