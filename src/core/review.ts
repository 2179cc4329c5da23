/**
 * One AdmissionReview answered: decide (src/core/decide.ts), then render (src/core/render.ts).
 * Pure: no AWS, no HTTP, no environment. The contract of the answer is src/core/admission.ts.
 */
import type { ReviewOptions, ReviewOutcome } from './admission.js';
import { decide } from './decide.js';
import { render } from './render.js';
import type { Rewriter } from './rules.js';

/**
 * Answer one AdmissionReview.
 *
 * `body` is the parsed JSON of the request body (any value). Returns `{ ok: false, status: 400,
 * message }` with a fixed, clear message (one of `BAD_REQUEST`) when it is not an AdmissionReview
 * this webhook can answer; otherwise `{ ok: true, response, report }`, where `response` is the
 * AdmissionReview to send with HTTP 200 (always `allowed: true`; `patchType`/`patch` only when
 * something changes) and `report` says what was done. Never throws.
 */
export function review(body: unknown, rewriter: Rewriter, options: ReviewOptions = {}): ReviewOutcome {
  const decision = decide(body, rewriter, options);
  if (!decision.ok) return decision;
  const { response, report } = render(decision.plan);
  return { ok: true, response, report };
}
