/**
 * Section 1, the worst review: one Pod of 3,200 hostile images (tests/helpers/hostile-images.ts:
 * the shapes that cost seconds before the bounded-work fixes; about 2.6 MB, under the API server's
 * 3 MiB request limit) reviewed by the bench rules plus a regex rule, beside a Pod of as many plain
 * valid images, as long as a valid name and tag allow (most hostile ones are longer), in
 * alternating rounds, each image made new every round so that the rewriter's memo never answers.
 * Checked, warm-ups included: every hostile review answers, its warnings capped (count, total
 * length, and the last one counting the rest); every plain review answers unchanged (no rule takes
 * those images: no patch, no warning).
 */
import { parseRules } from '../../src/config/load.js';
import { MAX_WARNINGS, MAX_WARNINGS_LENGTH } from '../../src/core/admission.js';
import { review } from '../../src/core/review.js';
import { podReview } from '../../tests/helpers/admission-review.js';
import { hostileImages, plainImagesLike } from '../../tests/helpers/hostile-images.js';
import { Samples } from './stats.js';

export interface WorstResult {
  /** Milliseconds per review. */
  readonly hostile: Samples;
  readonly plain: Samples;
  readonly images: number;
  readonly bodyBytes: number;
  /** Answers checked. */
  readonly checked: number;
  readonly failures: readonly string[];
}

const RULES = `rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: dots
    regex: '([a-z0-9.-]+)\\.example\\.com/(.*)'
    replace: mirror.example.net/$1/$2
`;

const pod = (images: readonly string[]): unknown =>
  podReview({ metadata: { name: 'worst' }, spec: { containers: images.map((image, i) => ({ name: `c${String(i)}`, image })) } }, { uid: 'worst', namespace: 'bench' });

/**
 * Why the warnings of a review of `total` warned-about images are not capped as the API server needs
 * them: at most MAX_WARNINGS, at most MAX_WARNINGS_LENGTH characters in all (it drops what is past
 * 4 KiB, other webhooks' included), the last one counting the ones left out.
 */
function cappedWarningsProblem(warnings: readonly string[], total: number): string | undefined {
  const length = warnings.reduce((n, w) => n + w.length, 0);
  if (warnings.length < 2 || warnings.length > MAX_WARNINGS) return `${String(warnings.length)} warnings, want 2 to ${String(MAX_WARNINGS)}`;
  if (length > MAX_WARNINGS_LENGTH) return `warnings of ${String(length)} characters in all, over ${String(MAX_WARNINGS_LENGTH)}`;
  const more = /(\d+) more warnings not shown/.exec(warnings.at(-1) ?? '');
  if (more === null || Number(more[1]) + warnings.length - 1 !== total) return `the last warning does not count the ${String(total - warnings.length + 1)} left out: ${warnings.at(-1) ?? ''}`;
  return undefined;
}

export function runWorst(rounds: number, progress: (s: string) => void): WorstResult {
  const parsed = parseRules(RULES, {});
  if (!parsed.ok) throw new Error('bench: the worst-review rules do not load');
  const rewriter = parsed.rewriter;
  const hostile = hostileImages(3200);
  const plain = plainImagesLike(hostile);
  const result = { hostile: new Samples(), plain: new Samples(), images: hostile.length, bodyBytes: Buffer.byteLength(JSON.stringify(pod(hostile))), checked: 0, failures: [] as string[] };
  let run = 0;
  const once = (images: readonly string[], into: Samples, capped: boolean): void => {
    const suffix = String(run++);
    const body = pod(images.map((x) => `${x}${suffix}`));
    const t0 = performance.now();
    const r = review(body, rewriter);
    into.add(performance.now() - t0);
    result.checked++;
    if (!r.ok) result.failures.push(`worst review: ${r.message}`);
    else if (capped) {
      const problem = cappedWarningsProblem(r.response.response.warnings ?? [], r.report.rewrites.length + r.report.invalid.length);
      if (problem !== undefined) result.failures.push(`worst review: ${problem}`);
    } else if (r.response.response.patch !== undefined || r.response.response.warnings !== undefined) {
      result.failures.push('worst review: the plain Pod, which no rule touches, was answered with a patch or warnings');
    }
  };
  once(hostile, new Samples(), true); // warm-up, not counted
  once(plain, new Samples(), false);
  for (let i = 0; i < rounds; i++) {
    progress(`worst review ${String(i + 1)}/${String(rounds)}`);
    once(hostile, result.hostile, true);
    once(plain, result.plain, false);
  }
  return result;
}
