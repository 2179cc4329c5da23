/**
 * decide -> verify -> render: the review of one AdmissionReview when some rule checks that its
 * target has the image (docs/verify.md). The pure core plans the rewrites (src/core/decide.ts);
 * here the planned rewrites whose rule has `verify` are checked, all at once under the deadline;
 * then the core renders the answer, leaving out the rewrites the rule's `onMissing` or
 * `onUnreachable` says to keep (its warning says why). `deny` turns the answer into
 * `allowed: false` with a message naming the image and the reason.
 *
 * With no planned rewrite whose rule verifies, this is exactly `render(decide(...))`: no I/O, no
 * await on anything but a resolved value.
 */
import { type AdmissionApiVersion, type AdmissionReviewAnswer, type BadRequest, type ReviewReport, WARNING_PREFIX } from '../core/admission.js';
import { decide, type PlannedRewrite } from '../core/decide.js';
import { printableClipped } from '../core/json.js';
import { render } from '../core/render.js';
import type { Rewriter } from '../core/rules.js';
import { fitWarning } from '../core/warning-text.js';
import type { VerifyCounts } from '../observability/telemetry.js';
import { policyOutcome, rewriteText, verifyRequestOf } from '../verify/policy.js';
import type { Verdict, Verifier, VerifyRequest } from '../verify/verifier.js';

/** The answer of a denied review (`onMissing: deny`). */
export interface DeniedAnswer {
  readonly apiVersion: AdmissionApiVersion;
  readonly kind: 'AdmissionReview';
  readonly response: { readonly uid: string; readonly allowed: false; readonly status: { readonly code: 403; readonly reason: 'Forbidden'; readonly message: string } };
}

export const isDenied = (a: AdmissionReviewAnswer | DeniedAnswer): a is DeniedAnswer => !a.response.allowed;

export type VerifiedReview =
  | BadRequest
  | {
      readonly ok: true;
      readonly response: AdmissionReviewAnswer | DeniedAnswer;
      readonly report: ReviewReport;
      /** Set when checks ran. */
      readonly verify: VerifyCounts | undefined;
      readonly denied: boolean;
    };

/**
 * Distinct targets one review has checked; the others are `unreachable` at once (NOT_ASKED). Each
 * check asked holds its promises and its listeners on the review's signal until the deadline: a Pod of tens
 * of thousands of distinct images (under the API server's 3 MiB) took more heap than a small
 * function has (docs/performance.md, "Figures behind the comments"), and no more of them than about
 * maxConcurrentChecks times the deadline over a registry's answer time could be answered anyway.
 * `render` checks its whole input in one call, and is not limited.
 */
export const MAX_CHECKS_PER_REVIEW = 1024;

const NOT_ASKED: Verdict = Object.freeze({ status: 'unreachable', reason: `not checked: the review has more than ${MAX_CHECKS_PER_REVIEW} distinct targets to check` });

/**
 * A target as the verifier counts it (src/verify/verifier.ts, `requestKey`): written again here, since
 * importing a value from there would put the verifier in the Lambda's first chunk, which loads it
 * with import() only when a rule verifies (./lazy-verifier.ts).
 */
const requestKey = (r: VerifyRequest): string => (r.platforms.length === 0 ? r.image : `${r.image} ${[...r.platforms].sort().join(',')}`);

/** The verdicts of `requests`: those of the first MAX_CHECKS_PER_REVIEW distinct targets asked, NOT_ASKED for the others. */
async function verifyBounded(verifier: Verifier, requests: readonly VerifyRequest[]): Promise<{ verdicts: readonly (Verdict | undefined)[]; stats: VerifyCounts }> {
  const keys = new Set<string>();
  const dropped = new Set<string>();
  const asked: VerifyRequest[] = [];
  const index: number[] = [];
  for (const request of requests) {
    const key = requestKey(request);
    if (!keys.has(key) && keys.size >= MAX_CHECKS_PER_REVIEW) {
      dropped.add(key);
      index.push(-1);
      continue;
    }
    keys.add(key);
    index.push(asked.length);
    asked.push(request);
  }
  const { verdicts, stats } = await verifier.verify(asked);
  if (dropped.size === 0) return { verdicts, stats };
  return { verdicts: index.map((at) => (at < 0 ? NOT_ASKED : verdicts[at])), stats: { ...stats, checks: stats.checks + dropped.size, errors: stats.errors + dropped.size } };
}

/** The denial's message: kubectl prints it whole; the API server keeps it in events and audit logs. */
const MAX_DENIAL_MESSAGE = 1024;

/** Megabytes (10^6 bytes, as Lambda's quotas count them) to one decimal, rounded up. */
const mb = (bytes: number): string => (Math.ceil(bytes / 1e5) / 10).toFixed(1);

/**
 * Why a review is answered without its rewrites: its answer would not fit Lambda's response (the
 * handler's `maxResultBytes`), `resultBytes` the serialized result, over `limit`. Only an object
 * with tens of thousands of images to rewrite gets there (docs/reliability.md, "Round two"); the
 * warning names the cause and the two ways out.
 */
export function answerTooLargeReason(resultBytes: number, limit: number, rewrites: number): string {
  return (
    `the answer would be ${mb(resultBytes)} MB, over Lambda's ${String(Math.floor(limit / 1e6))} MB response limit, with its ${String(rewrites)} rewrites; ` +
    'split the object into smaller ones, or send it to `image-rewriter serve`, which has no such limit'
  );
}

const label = (r: PlannedRewrite): string => `${r.field.containerList}[${r.field.containerName ?? `#${r.field.index}`}]`;

/**
 * The answer for `body`: planned, checked where a rule asks for it, rendered. `first`: a warning
 * before the review's own, counted with them (render's `first`). Never throws.
 */
export async function reviewVerified(body: unknown, rewriter: Rewriter, verifier: Verifier | undefined, first?: string): Promise<VerifiedReview> {
  const decision = decide(body, rewriter);
  if (!decision.ok) return decision;
  const { plan } = decision;
  const checked: { rewrite: PlannedRewrite; request: VerifyRequest }[] = [];
  for (const image of plan.images) {
    if (image.outcome !== 'rewrite') continue;
    const request = verifyRequestOf(image);
    if (request !== undefined) checked.push({ rewrite: image, request });
  }
  if (checked.length === 0 || verifier === undefined) {
    const { response, report } = render(plan, first === undefined ? {} : { first });
    return { ok: true, response, report, verify: undefined, denied: false };
  }

  const { verdicts, stats } = await verifyBounded(verifier, checked.map((c) => c.request));
  const byPointer = new Map<string, Verdict>();
  for (const [i, c] of checked.entries()) {
    const v = verdicts[i];
    if (v !== undefined) byPointer.set(c.rewrite.field.pointer, v);
  }
  const extra: string[] = [];
  const denials: string[] = [];
  const withhold = (rewrite: PlannedRewrite): string | undefined => {
    const outcome = policyOutcome(rewrite, byPointer.get(rewrite.field.pointer));
    switch (outcome.action) {
      case 'apply':
        return undefined;
      case 'keep':
        return outcome.reason;
      case 'rewrite':
        extra.push(fitWarning([`${WARNING_PREFIX}rewrote `, { text: label(rewrite), level: 1 }, ' anyway (rule ', { text: rewrite.rule.name, level: 1 }, '): ', { text: outcome.reason, level: 0, cut: 'start' }]));
        return undefined;
      case 'deny':
        denials.push(`${label(rewrite)} ${rewriteText(rewrite)}: ${outcome.reason}`);
        return outcome.reason;
    }
  };
  // The "anyway" warnings are counted with the review's own: limited once, the number left out is right.
  const rendered = render(plan, { withhold, warnings: () => extra, ...(first === undefined ? {} : { first }) });
  if (denials.length > 0) {
    // kubectl prints the message as it is, and a container name is the Pod's own text (admission
    // runs before validation): escapes instead of control and bidi characters, as in the warnings.
    // The count of the others is kept whole: long names cut the listed ones, never it.
    const more = denials.length > 5 ? `; and ${denials.length - 5} more` : '';
    const message = `${printableClipped(`image-rewriter denied the request: ${denials.slice(0, 5).join('; ')}`, MAX_DENIAL_MESSAGE - more.length)}${more}`;
    const response: DeniedAnswer = {
      apiVersion: plan.request.apiVersion,
      kind: 'AdmissionReview',
      response: { uid: plan.request.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message } },
    };
    return { ok: true, response, report: rendered.report, verify: stats, denied: true };
  }
  return { ok: true, response: rendered.response, report: rendered.report, verify: stats, denied: false };
}
