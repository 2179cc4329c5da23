/**
 * One AdmissionReview answered: decide (src/core/decide.ts), then render (src/core/render.ts).
 * Pure: no AWS, no HTTP, no environment. The contract of the answer is src/core/admission.ts.
 */
import type { ReviewOptions, ReviewOutcome } from './admission.js';
import { decide } from './decide.js';
import { render, type RenderOverrides } from './render.js';
import type { Rewriter } from './rules.js';

/**
 * Answer one AdmissionReview.
 *
 * `body` is the parsed JSON of the request body (any value). Returns `{ ok: false, status: 400,
 * message }` with a fixed, clear message (one of `BAD_REQUEST`) when it is not an AdmissionReview
 * this webhook can answer; otherwise `{ ok: true, response, report }`, where `response` is the
 * AdmissionReview to send with HTTP 200 (always `allowed: true`; `patchType`/`patch` only when
 * something changes) and `report` says what was done. `overrides.withhold` leaves planned
 * rewrites out, as the existence checks say (`render`'s, through src/core/manifest.ts; the webhook's
 * own step, src/lambda/verify-step.ts, calls decide and render itself). It is apart from
 * `options`, which the plan keeps as data. Never throws.
 */
export function review(body: unknown, rewriter: Rewriter, options: ReviewOptions = {}, overrides: RenderOverrides = {}): ReviewOutcome {
  const decision = decide(body, rewriter, options);
  if (!decision.ok) return decision;
  const { response, report } = render(decision.plan, overrides);
  return { ok: true, response, report };
}
