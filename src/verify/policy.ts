/**
 * What a rule's `onMissing` / `onUnreachable` (docs/verify.md) make of the verdict on one planned
 * rewrite: apply it, keep the original, rewrite anyway, or deny the object. One policy for every
 * adapter that checks targets: the webhook's review (src/lambda/verify-step.ts) and `render`
 * (src/cli/render.ts, src/manifests/render.ts), so that both decide alike. Pure.
 */
import type { PlannedRewrite } from '../core/decide.js';
import type { Verdict, VerifyRequest } from './verifier.js';

/** `apply`: present (or not asked); otherwise the policy's action and why it was taken. */
export type PolicyOutcome = { readonly action: 'apply' } | { readonly action: 'keep' | 'rewrite' | 'deny'; readonly reason: string };

export const APPLY: PolicyOutcome = Object.freeze({ action: 'apply' });

/** The check a planned rewrite needs, or undefined when its rule does not verify. */
export function verifyRequestOf(rewrite: PlannedRewrite): VerifyRequest | undefined {
  const spec = rewrite.rule.verify;
  // The image the stored object already runs for that field (PlannedRewrite.stored): a verdict
  // against it could only send the upstream image, which the API server refuses for an immutable
  // template and which rolls a Deployment out to upstream; and the rules may have moved on from a
  // re-applied Job's because its registry is gone.
  return spec === undefined || rewrite.stored === true ? undefined : { image: rewrite.to, platforms: spec.platforms };
}

/** The policy's outcome for `rewrite` given its verdict (undefined: not checked, applied as planned). */
export function policyOutcome(rewrite: PlannedRewrite, verdict: Verdict | undefined): PolicyOutcome {
  const spec = rewrite.rule.verify;
  if (spec === undefined || verdict === undefined || verdict.status === 'present') return APPLY;
  // A denial cannot stop an image the stored object already runs (PlannedRewrite.running); it would
  // only refuse every update of the object: a label, a re-apply, the garbage collector's removal
  // of a finalizer. It is kept, as a stored image is on UPDATE.
  if (verdict.status === 'missing') return { action: spec.onMissing === 'deny' && rewrite.running === true ? 'keep' : spec.onMissing, reason: verdict.reason };
  return { action: spec.onUnreachable, reason: `not checked, ${verdict.reason}` };
}

/** `gcr.io/a:1 -> mirror.example/a:1 (rule gcr)`: a rewrite in a denial's message. */
export const rewriteText = (rewrite: PlannedRewrite): string => `${rewrite.field.image} -> ${rewrite.to} (rule ${rewrite.rule.name})`;
