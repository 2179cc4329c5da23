/** The `explain` answer for one image (docs/design.md, "Command line"): `{image, rewritten, rule, error?}`. */
import type { Rewriter } from './rules.js';

export interface Explanation {
  readonly image: string;
  readonly rewritten: string;
  /** The rule that rewrote the image, or '' when it is unchanged. */
  readonly rule: string;
  /** Present only when the image, or the result a rule produced, is not a valid reference. */
  readonly error?: string;
}

export function explainImage(rewriter: Rewriter, image: string, namespace?: string): Explanation {
  const r = rewriter.rewrite(image, { namespace });
  switch (r.kind) {
    case 'rewritten':
      return { image, rewritten: r.rewritten, rule: r.rule.name };
    case 'unchanged':
      return { image, rewritten: image, rule: '' };
    case 'invalid':
      return { image, rewritten: image, rule: '', error: r.error };
    case 'rejected':
      return { image, rewritten: image, rule: '', error: r.error };
  }
}
