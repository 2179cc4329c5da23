/**
 * Warnings about rules that are valid alone but can never rewrite anything: a rule an earlier one
 * shadows, and a rule whose results another rule would take again (a result that a rule would
 * rewrite again is never applied: src/core/rules.ts). Printed by check-config, logged at load.
 */
import type { RuleSpec } from './rule-spec.js';
import type { CompiledRule, Issue, Rewriter } from './rule-types.js';
import { matchedPrefix } from './matched-name.js';
import { SAMPLE_GROUP_VALUE } from './replace-template.js';

/**
 * The warnings for rules that can never be used: an earlier rule, not limited by namespace, matches
 * everything they match (a `match` prefix that is a path prefix of theirs, or the same regex). Only
 * that much is decidable. Indexed, so that it costs one lookup per path component of each prefix:
 * comparing every pair took 31 s for 9,000 rules.
 */
export function shadowWarnings(rules: readonly CompiledRule[], specs: readonly RuleSpec[]): Issue[] {
  const issues: Issue[] = [];
  const byPrefix = new Map<string, CompiledRule>();
  const byRegex = new Map<string, CompiledRule>();
  rules.forEach((rule, i) => {
    let earlier: CompiledRule | undefined;
    if (rule.kind === 'regex') earlier = byRegex.get(rule.pattern);
    else {
      // The pattern itself, then each of its path prefixes (`a/b/c`: `a/b/c`, `a/b`, `a`): the
      // earliest of those rules comes first.
      for (let end = rule.pattern.length; end > 0; end = rule.pattern.lastIndexOf('/', end - 1)) {
        const hit = byPrefix.get(rule.pattern.slice(0, end));
        if (hit !== undefined && (earlier === undefined || hit.index < earlier.index)) earlier = hit;
      }
    }
    if (earlier !== undefined) {
      issues.push({
        path: ['rules', rule.index],
        severity: 'warning',
        message: `rule "${rule.name}" is never used: rule "${earlier.name}" (rules[${earlier.index}]) matches everything it matches and comes first`,
      });
    }
    const spec = specs[i];
    if (spec === undefined || spec.namespaces !== undefined || spec.excludeNamespaces !== undefined) return;
    const index = rule.kind === 'regex' ? byRegex : byPrefix;
    if (!index.has(rule.pattern)) index.set(rule.pattern, rule);
  });
  return issues;
}

/**
 * The warnings for `match` rules whose every result an unscoped `match` rule takes again (its
 * prefix is a path prefix of their `replace`), unless an exclude covers the results: such a
 * result is never applied (`rewrite` refuses it, so that reinvocation cannot change an image
 * twice), so the rule rewrites nothing, though each rule alone is valid (`k8s.gcr.io` ->
 * `registry.k8s.io`, then `registry.k8s.io` -> a mirror). Indexed like `shadowWarnings`.
 */
export function rewrittenAgainWarnings(rules: readonly CompiledRule[], specs: readonly RuleSpec[], exclude: readonly string[]): Issue[] {
  const issues: Issue[] = [];
  const byPrefix = new Map<string, CompiledRule>();
  rules.forEach((rule, i) => {
    const spec = specs[i];
    if (rule.kind !== 'match' || spec === undefined || spec.namespaces !== undefined || spec.excludeNamespaces !== undefined) return;
    if (!byPrefix.has(rule.pattern)) byPrefix.set(rule.pattern, rule);
  });
  const excluded = new Set(exclude);
  // The proper path prefixes of every exclude (`a/b/c`: `a/b`, `a`): a rule whose results an
  // exclude deeper than their prefix covers has those results applied (they are never rewritten
  // again), so it does rewrite something. A set, not a scan of every exclude for every rule.
  const aboveExcludes = new Set<string>();
  for (const ex of exclude) {
    for (let end = ex.lastIndexOf('/'); end > 0; end = ex.lastIndexOf('/', end - 1)) aboveExcludes.add(ex.slice(0, end));
  }
  for (const rule of rules) {
    if (rule.kind !== 'match') continue;
    const result = matchedPrefix(rule.replace);
    if (aboveExcludes.has(result)) continue;
    let again: CompiledRule | undefined;
    for (let end = result.length; end > 0; end = result.lastIndexOf('/', end - 1)) {
      const prefix = result.slice(0, end);
      if (excluded.has(prefix)) {
        again = undefined;
        break;
      }
      // The earliest such rule is the one the rewriter finds.
      const hit = byPrefix.get(prefix);
      if (hit !== undefined && (again === undefined || hit.index < again.index)) again = hit;
    }
    // A rule whose replace is its prefix (an identity, src/core/rules.ts) leaves its names as they
    // are: what it matches is not rewritten again.
    if (again === undefined || again === rule || matchedPrefix(again.replace) === again.pattern) continue;
    issues.push({
      path: ['rules', rule.index, 'replace'],
      severity: 'warning',
      message: `rule "${rule.name}" rewrites nothing: rule "${again.name}" (rules[${again.index}]) matches every name it produces ("${rule.replace}/..."), and a result that a rule would rewrite again is not applied; write the final target`,
    });
  }
  return issues;
}

/**
 * The warnings for regex rules whose result, with every group set to SAMPLE_GROUP_VALUE, an
 * unscoped rule takes again: `(.+)` -> `mirror.example.com/$1` ("mirror everything") matches its
 * own results, and each of them is refused at admission, so the rule rewrites nothing. What a
 * regex produces is not decidable; the sample is what `replace` is checked with at load.
 */
export function regexRewrittenAgainWarnings(rules: readonly CompiledRule[], samples: ReadonlyMap<number, string>, rewriter: Rewriter): Issue[] {
  const issues: Issue[] = [];
  for (const rule of rules) {
    const sample = samples.get(rule.index);
    if (sample === undefined) continue;
    const r = rewriter.rewrite(sample);
    if ((r.kind !== 'rewritten' && r.kind !== 'rejected') || r.rule.scoped) continue;
    issues.push({
      path: ['rules', rule.index, 'replace'],
      severity: 'warning',
      message: `rule "${rule.name}" rewrites nothing: rule "${r.rule.name}" (rules[${r.rule.index}]) matches what it produces (with every group set to "${SAMPLE_GROUP_VALUE}" it gives "${sample}"), and a result that a rule would rewrite again is not applied; narrow the regex, or exclude the target`,
    });
  }
  return issues;
}
