/**
 * The `explain` answer for one image (docs/design.md, "Command line"): `{image, rewritten, rule,
 * error?}`; and the rule limited to namespaces that would have taken an image, which `explain`,
 * `render` and `audit` name when they decide without a namespace.
 */
import { matchedName } from './matched-name.js';
import { literalPrefix } from './patterns.js';
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
  const mayTake = rulesThatMayTake(limited);
  return (image) => {
    const parsed = parseNormalizedNamed(image);
    if (!parsed.ok) return undefined;
    const r = rewriter.rewrite(image, {});
    if (r.kind === 'invalid' || (r.kind === 'unchanged' && r.reason === 'excluded')) return undefined;
    const before = r.kind === 'unchanged' ? Infinity : r.rule.index;
    const name = matchedName(parsed.value);
    return mayTake(name).find((rule) => rule.index < before && rule.apply(name) !== undefined);
  };
}

/**
 * Of `rules`, those that may take a name, in rule order: the `match` rules whose prefix is the name
 * or one of its path prefixes, and the regex rules whose literal text the name starts with (a
 * regex matches no other name: src/core/rules.ts looks rules up the same way). Each image tried
 * against every rule limited to namespaces made `explain -`, `render` and `audit` cost milliseconds
 * per image with thousands of such rules (docs/performance.md, "Large objects and rules").
 */
function rulesThatMayTake(rules: readonly CompiledRule[]): (name: string) => readonly CompiledRule[] {
  const byPrefix = new Map<string, CompiledRule[]>();
  const byLiteral = new Map<string, CompiledRule[]>();
  for (const rule of rules) {
    const [index, key] = rule.kind === 'match' ? [byPrefix, rule.pattern] : [byLiteral, literalPrefix(rule.pattern)];
    const list = index.get(key);
    if (list === undefined) index.set(key, [rule]);
    else list.push(rule);
  }
  const literalLengths = [...new Set([...byLiteral.keys()].map((key) => key.length))];
  return (name) => {
    // Each list is in rule order, and most names get one: used as it is, not copied and sorted.
    const lists: (readonly CompiledRule[])[] = [];
    const add = (list: readonly CompiledRule[] | undefined): void => {
      if (list !== undefined) lists.push(list);
    };
    for (let end = name.length; end > 0; end = name.lastIndexOf('/', end - 1)) add(byPrefix.get(name.slice(0, end)));
    for (const length of literalLengths) if (length <= name.length) add(byLiteral.get(name.slice(0, length)));
    return lists.length <= 1 ? (lists[0] ?? []) : lists.flat().sort((x, y) => x.index - y.index);
  };
}
