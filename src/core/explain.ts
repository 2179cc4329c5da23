/**
 * The `explain` answer for one image (docs/design.md, "Command line"): `{image, rewritten, rule,
 * error?}`; and the rule limited to namespaces that would have taken an image, which `explain`,
 * `render` and `audit` name when they decide without a namespace.
 */
import { matchedName } from './matched-name.js';
import { parseNormalizedNamed } from './reference.js';
import type { CompiledRule, Rewriter } from './rules.js';

export interface Explanation {
  readonly image: string;
  readonly rewritten: string;
  /** The rule that rewrote the image, or '' when it is unchanged. */
  readonly rule: string;
  /** Present only when the image, or the result a rule produced, is not a valid reference. */
  readonly error?: string;
}

/** What the rules make of one image, in `explain`'s words: never throws (an invalid image is an `error`). */
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

/**
 * For `explain`, `render` and `audit` without a namespace: a function giving, for an image, the first rule limited to
 * `namespaces` that would take it, in a namespace it lists, before the rule that did (or when none
 * did). Such a rule never applies to an object of no known namespace, so explain's answer there
 * reads as "no rule matches this image". Undefined when no rule is limited so.
 */
export function namespaceLimitedRules(rewriter: Rewriter): ((image: string) => CompiledRule | undefined) | undefined {
  const limited = rewriter.rules.filter((r) => !r.appliesToNamespace(undefined));
  if (limited.length === 0) return undefined;
  return (image) => {
    const parsed = parseNormalizedNamed(image);
    if (!parsed.ok) return undefined;
    const r = rewriter.rewrite(image, {});
    if (r.kind === 'invalid' || (r.kind === 'unchanged' && r.reason === 'excluded')) return undefined;
    const before = r.kind === 'unchanged' ? Infinity : r.rule.index;
    const name = matchedName(parsed.value);
    return limited.find((rule) => rule.index < before && rule.apply(name) !== undefined);
  };
}
