/**
 * The rewrite engine: validated rules compiled once into an immutable `Rewriter`.
 *
 * Semantics (docs/design.md, "Rewrite semantics"): every image is parsed like the kubelet does; the
 * normalized name (`docker.io/library/nginx`) is checked against `exclude` prefixes, then against
 * the rules in order, first match wins. `match` is a path-boundary prefix, `regex` matches the whole
 * name. Tag and digest are kept exactly, nothing is ever added, an image no rule changes is returned
 * byte for byte, and a result that is not a valid reference (or that the rules would rewrite again,
 * which would make reinvocation change it twice) is not applied.
 *
 * Pure: the environment used by `${env:NAME}` substitutions is passed in. What a rule's `replace`
 * may be and how it is filled in is src/core/replace-template.ts; the warnings about rules that
 * can never rewrite anything are src/core/rule-reach.ts and src/core/rule-warnings.ts, those about
 * platforms no check can find src/core/platform-warnings.ts, the error for a regex that must start
 * with "/" src/core/regex-slash.ts.
 */
import type { RuleSpec, RulesDocument } from './rule-spec.js';
import { globMatcher, literalPrefix } from './patterns.js';
import { slashedRegexProblem } from './regex-slash.js';
import { applyTemplate, type ReplacePiece, groupsOf, hasRegistryHost, hostlessSample, parseTemplatePieces, templateStart, replaceProblem, SAMPLE_GROUP_VALUE, SAMPLE_GROUP_VALUES, sampleOf, substituteEnv, templateHostExact, templateHostFromGroup, templateHostProblem, templateHostSuffix, templateTagOrDigest } from './replace-template.js';
import { hasPathPrefix, matchedName, matchedPrefix, MAX_DOMAIN_LENGTH, MAX_REFERENCE_LENGTH, pathPrefixTest, sameName } from './matched-name.js';
import { foreignNote, parseNormalizedNamed, referenceProblem, withTagAndDigest } from './reference.js';
import { MAX_RULE_SAMPLES, MORE_RULE_SAMPLES, type RegexSample, regexSamples } from './regex-samples.js';

import type { CompiledRule, CompileResult, Issue, PathSegment, Rewriter, RewriteResult, RewriteContext } from './rule-types.js';
import { excludedRuleWarnings, namespaceWarnings, regexSpellingWarnings, shadowWarnings } from './rule-reach.js';
import { regexRewrittenAgainWarnings, rewrittenAgainWarnings, type RuleSamples, runtimeWarnings } from './rule-warnings.js';
import { platformWarnings } from './platform-warnings.js';

// The types are in src/core/rule-types.ts (shared with the warnings); importers keep one entry point.
export * from './rule-types.js';

/**
 * The flags every rule regex is compiled and run with, and the pattern it is compiled from: the
 * whole normalized name must match. src/config/regex-check.ts analyses this exact pattern with these
 * flags, so what is checked is what runs.
 */
export const RULE_REGEX_FLAGS = '';
export const anchoredRuleSource = (source: string): string => `^(?:${source})$`;

/** The warning on a `verify` rule whose replace takes its registry host from a group. */
export const HOST_FROM_GROUP_WARNING =
  'the replace takes its registry host from a group, so the image names the host the existence check asks: anyone who may create Pods can make the webhook send HTTPS requests to any address it reaches, and read in the warning whether it was refused, not TLS or not resolved; write the host in the replace (mirror.example.com/$1), or end it with your own domain ($1.mirror.example.com/$2)';

function compileRule(
  spec: RuleSpec,
  index: number,
  env: Readonly<Record<string, string | undefined>>,
  issues: Issue[],
  samples: Map<number, RuleSamples>,
): CompiledRule | undefined {
  const replacePath = ['rules', index, 'replace'];
  const before = issues.length;
  const substituted = substituteEnv(spec.replace, env);
  for (const e of substituted.errors) issues.push({ path: replacePath, severity: 'error', message: e });
  const replace = substituted.value;
  const namespaces = (spec.namespaces ?? []).map(globMatcher);
  const excludeNamespaces = (spec.excludeNamespaces ?? []).map(globMatcher);
  const inNamespace = (ns: string | undefined): boolean => {
    if (namespaces.length > 0 && (ns === undefined || !namespaces.some((m) => m(ns)))) return false;
    return ns === undefined || !excludeNamespaces.some((m) => m(ns));
  };
  // A review asks about one namespace for each of its images: the last answer is kept, so that a
  // rule with thousands of globs tests them once per review, not once per image (tens of thousands
  // of globs per image make seconds for the containers a Pod can hold:
  // docs/performance.md, "Figures behind the comments").
  let last: { readonly ns: string | undefined; readonly applies: boolean } | undefined;
  const appliesToNamespace = (ns: string | undefined): boolean => {
    if (last === undefined || last.ns !== ns) last = { ns, applies: inNamespace(ns) };
    return last.applies;
  };
  const common = {
    index,
    name: spec.name,
    replace,
    imagePullSecrets: Object.freeze([...(spec.imagePullSecrets ?? [])]),
    scoped: namespaces.length > 0 || excludeNamespaces.length > 0,
    verify:
      spec.verify === true
        ? Object.freeze({ onMissing: spec.onMissing ?? 'keep', onUnreachable: spec.onUnreachable ?? 'keep', platforms: Object.freeze([...(spec.platforms ?? [])]) })
        : undefined,
    appliesToNamespace,
  };
  const rule: RuleBeingCompiled = { spec, index, replace, replacePath, issues, before, common };
  return spec.match === undefined ? compileRegexRule(rule, substituted.pieces, samples) : compileMatchRule(rule, spec.match);
}

/** A rule being compiled: what compileRule read, for the part of its kind. */
interface RuleBeingCompiled {
  readonly spec: RuleSpec;
  readonly index: number;
  /** `replace` after `${env:...}` substitution. */
  readonly replace: string;
  readonly replacePath: readonly PathSegment[];
  /** The document's issues, added to; `before` is their count when this rule began. */
  readonly issues: Issue[];
  readonly before: number;
  readonly common: Omit<CompiledRule, 'kind' | 'pattern' | 'apply'>;
}

/** A `match` rule: its replace checked (a host, not inside the prefix), then the prefix swap. */
function compileMatchRule({ replace, replacePath, issues, before, common }: RuleBeingCompiled, prefix: string): CompiledRule | undefined {
  if (issues.length === before) {
    const problem = replaceProblem(replace);
    // The result is matched with its host spelled one way (`GCR.io:443/m` is `gcr.io/m`).
    const spelled = problem === undefined ? matchedPrefix(replace) : replace;
    if (problem !== undefined) issues.push({ path: replacePath, severity: 'error', message: problem });
    // A replace equal to the prefix changes nothing, so nothing is rewritten again: the same
    // document deployed to every region (`${env:AWS_REGION}` in the replace) gives that in the
    // region the rule points at, where it keeps that registry's images as they are.
    else if (spelled !== prefix && hasPathPrefix(spelled, prefix)) {
      issues.push({
        path: replacePath,
        severity: 'error',
        message: `"${replace}"${spelled === replace ? '' : ` (compared as "${spelled}")`} is inside "${prefix}", so this rule would match its own result and rewrite it again on every reinvocation`,
      });
    }
  }
  if (issues.length > before) return undefined;
  return Object.freeze({
    ...common,
    kind: 'match' as const,
    pattern: prefix,
    apply: (name: string) => (hasPathPrefix(name, prefix) ? replace + name.slice(prefix.length) : undefined),
  });
}

/** A `regex` rule: its replace template checked against the regex's groups and against names it matches. */
function compileRegexRule({ spec, index, replace, replacePath, issues, before, common }: RuleBeingCompiled, pieces: readonly ReplacePiece[], samples: Map<number, RuleSamples>): CompiledRule | undefined {
  const source = spec.regex ?? '';
  const slashed = slashedRegexProblem(source);
  if (slashed !== undefined) issues.push({ path: ['rules', index, 'regex'], ...slashed });
  const re = new RegExp(anchoredRuleSource(source), RULE_REGEX_FLAGS); // validated by the schema: compiles and cannot backtrack badly
  const { count, names } = groupsOf(re);
  const { parts, errors } = parseTemplatePieces(pieces, count, names);
  for (const e of errors) issues.push({ path: replacePath, severity: 'error', message: e });
  const apply = (name: string): string | undefined => {
    const m = re.exec(name);
    return m === null ? undefined : applyTemplate(parts, m);
  };
  // What the rule gives for names it matches (src/core/regex-samples.ts): the results the checks
  // below look at, made only when one needs them (running the regex compiles it, a cost that adds
  // up over thousands of rules: docs/performance.md, "Figures behind the comments").
  let real: readonly RegexSample[] | undefined;
  const first = (): readonly RegexSample[] => (real ??= regexSamples(source, apply, MAX_RULE_SAMPLES));
  if (issues.length === before) {
    const sample = sampleOf(parts);
    const hostProblem = templateHostProblem(parts);
    if (hostProblem !== undefined) issues.push({ path: replacePath, severity: 'error', message: hostProblem });
    // Refused only when no result parses, neither with every group set to any of
    // SAMPLE_GROUP_VALUES nor of a name the regex matches: a valid rule refused is worse than a
    // bad one let through, whose results are each refused at admission.
    // A host the template writes whole in capitals (`Mirror.Example.com$1`) reads as a Docker Hub name with "x".
    else if (!SAMPLE_GROUP_VALUES.some((value) => parseNormalizedNamed(sampleOf(parts, value)).ok) && !first().some((s) => parseNormalizedNamed(s.out).ok)) {
      issues.push({
        path: replacePath,
        severity: 'error',
        message: `can never yield a valid image name (with every group set to "${SAMPLE_GROUP_VALUE}" it gives "${sample}")${foreignNote(replace)}`,
      });
    } else {
      const own = templateTagOrDigest(parts);
      if (own !== undefined) {
        issues.push({
          path: replacePath,
          severity: 'error',
          message: `gives every result a ${own} of its own (with every group set to "${SAMPLE_GROUP_VALUE}" it gives "${sample}"); write the name only: the image's own tag and digest are kept`,
        });
      }
    }
  }
  if (issues.length > before) return undefined;
  const start = templateStart(parts);
  const more = (): readonly RegexSample[] => regexSamples(source, apply, MORE_RULE_SAMPLES);
  samples.set(index, { start, first, more });
  const noHost = hostlessSample(parts, first, more);
  if (noHost !== undefined) {
    // Each result without a registry host is refused at admission (rewrite(), below): the rule
    // rewrites nothing, which check-config must say (docs/design.md, "Rewrite semantics").
    issues.push({
      path: replacePath,
      severity: 'warning',
      message: `rule "${spec.name}" rewrites nothing: no result it gives starts with a registry host, a first component with a "." or a ":", or localhost (it gives "${noHost.out}" for "${noHost.name}"), and a result without one (a Docker Hub name) is left unchanged at admission; write the host in the replace, e.g. "mirror.example.com/${replace}"`,
    });
  }
  const hostSuffix = templateHostSuffix(parts);
  const hostExact = templateHostExact(parts);
  // With verify, the webhook asks the target's host: a host from the Pod's own text is any address
  // the webhook reaches, probed for whoever may create Pods (the warning says refused, TLS, DNS...).
  if (common.verify !== undefined && templateHostFromGroup(parts)) {
    issues.push({ path: ['rules', index, 'verify'], severity: 'warning', message: HOST_FROM_GROUP_WARNING });
  }
  return Object.freeze({
    ...common,
    kind: 'regex' as const,
    pattern: source,
    ...(hostSuffix === undefined ? {} : { hostSuffix }),
    ...(hostExact === undefined ? {} : { hostExact }),
    // Only a start that names its host whole (up to a "/") says where the rule's results are.
    ...(start.includes('/') ? { resultStart: start } : {}),
    apply,
  });
}

/** The error for rules[i] named like rules[first]. */
export function duplicateNameIssue(name: string, i: number, first: number): Issue {
  return { path: ['rules', i, 'name'], severity: 'error', message: `duplicate rule name "${name}" (first used by rules[${first}])` };
}

/**
 * At most this many rules in one document. Loading is near-linear (most of it checking and compiling
 * regexes) and rewriting an image costs a lookup per path component and
 * per character of the longest regex literal, whatever the count; the limit bounds the load, which
 * `serve` does on its event loop at every reload (docs/reliability.md has the figures).
 */
export const MAX_RULES = 10_000;

/** The error for a document of `count` rules, more than MAX_RULES. */
export function tooManyRulesIssue(count: number): Issue {
  return { path: ['rules'], severity: 'error', message: `has ${count} rules; at most ${MAX_RULES} are allowed (docs/reliability.md)` };
}

/**
 * Compile a schema-valid rules document. Collects every semantic problem (unset variables,
 * unusable replacements, duplicate names, self-matching rules) and warns about shadowed rules.
 */
export function compileRules(doc: RulesDocument, env: Readonly<Record<string, string | undefined>>): CompileResult {
  const issues: Issue[] = [];
  if (doc.rules.length > MAX_RULES) {
    return { ok: false, issues: [tooManyRulesIssue(doc.rules.length)] };
  }
  const rules: CompiledRule[] = [];
  const specs: RuleSpec[] = [];
  const seen = new Map<string, number>();
  const samples = new Map<number, RuleSamples>();
  doc.rules.forEach((spec, i) => {
    const first = seen.get(spec.name);
    if (first === undefined) seen.set(spec.name, i);
    else issues.push(duplicateNameIssue(spec.name, i, first));
    const rule = compileRule(spec, i, env, issues, samples);
    if (rule !== undefined) {
      rules.push(rule);
      specs.push(spec);
    }
  });
  const exclude = Object.freeze([...(doc.exclude ?? [])]);
  for (const warning of shadowWarnings(rules, specs)) issues.push(warning);
  for (const warning of rewrittenAgainWarnings(rules, specs, exclude)) issues.push(warning);
  for (const warning of excludedRuleWarnings(rules, exclude)) issues.push(warning);
  for (const warning of namespaceWarnings(rules, specs)) issues.push(warning);
  for (const warning of runtimeWarnings(rules)) issues.push(warning);
  for (const warning of platformWarnings(rules)) issues.push(warning);
  for (const warning of regexSpellingWarnings(rules)) issues.push(warning);
  if (doc.rules.length === 0) issues.push({ path: ['rules'], severity: 'warning', message: 'no rules: nothing will be rewritten' });
  if (issues.some((i) => i.severity === 'error')) return { ok: false, issues };
  const rewriter = makeRewriter(Object.freeze(rules), exclude, doc.allowOptOut !== false);
  const scoped = rules.filter((r) => r.scoped).map((r) => Object.freeze({ ...r, scoped: false, appliesToNamespace: () => true }));
  for (const warning of regexRewrittenAgainWarnings(rules, samples, rewriter, scoped.length > 0 ? makeRewriter(scoped, [], true) : undefined)) issues.push(warning);
  return { ok: true, rewriter, warnings: issues };
}

/**
 * Bounds of the rewrite memo: entries, and the longest image and namespace worth remembering. A
 * namespace is part of the key when rules are scoped by namespace: the API server's are at most 63
 * characters, but a review sent directly may carry one of megabytes, and 4096 such keys filled the heap.
 */
export const MEMO_MAX_ENTRIES = 4096;
const MEMO_MAX_IMAGE_LENGTH = 1024;
const MEMO_MAX_NAMESPACE_LENGTH = 63;

/** Why a regex rule's result `name` has another registry host than its template writes (hostSuffix, hostExact), or undefined. */
function templateHostMismatch(rule: CompiledRule, name: string): string | undefined {
  if (rule.hostSuffix === undefined && rule.hostExact === undefined) return undefined;
  const host = name.slice(0, name.indexOf('/'));
  if (rule.hostSuffix !== undefined && !host.endsWith(rule.hostSuffix)) return `whose registry host does not end in "${rule.hostSuffix}" as its replace writes it: a group put a "/" into the host`;
  if (rule.hostExact !== undefined && !hostIs(host, rule.hostExact)) return `whose registry host is not "${rule.hostExact}" as its replace writes it: a group added to the host`;
  return undefined;
}

/** `host` is `exact`, or `exact` with a port. */
function hostIs(host: string, exact: string): boolean {
  return host === exact || (host.length > exact.length + 1 && host.startsWith(exact) && host.charCodeAt(exact.length) === 0x3a && /^\d+$/.test(host.slice(exact.length + 1)));
}

/** The Rewriter of compiled rules (exported for tests). */
export function makeRewriter(rules: readonly CompiledRule[], exclude: readonly string[], allowOptOut: boolean): Rewriter {
  /** True when an `exclude` prefix covers the name. */
  const excluded = pathPrefixTest(exclude);
  /** The first rule's new name for a name that is not excluded, or undefined. */
  // `match` rules indexed by prefix, regex rules by the literal text their names must start with
  // (`literalPrefix`), both in rule order: finding the first rule that matches costs a lookup per
  // path component and per distinct literal length, then a run of only the regex rules whose
  // literal the name starts with (and of those without one), not a test of every rule (thousands of
  // regex rules tested one by one cost milliseconds per image, docs/reliability.md). Only lengths that some key
  // has are looked up: a slice and a hash of the name per lookup were most of the cost of finding
  // the rule for an image seen for the first time (the memo answers the others).
  const byPrefix = new Map<string, CompiledRule[]>();
  const byLiteral = new Map<string, CompiledRule[]>();
  const addTo = (index: Map<string, CompiledRule[]>, key: string, rule: CompiledRule): void => {
    const list = index.get(key);
    if (list === undefined) index.set(key, [rule]);
    else list.push(rule);
  };
  for (const rule of rules) {
    if (rule.kind === 'match') addTo(byPrefix, rule.pattern, rule);
    else addTo(byLiteral, literalPrefix(rule.pattern), rule);
  }
  const prefixLengths = new Set([...byPrefix.keys()].map((key) => key.length));
  const literalLengths = [...new Set([...byLiteral.keys()].map((key) => key.length))].sort((x, y) => x - y);
  // A long list's rules in force in the namespace of the last call (a review asks about one): each of thousands of
  // rules of one prefix limited to namespaces was tested for every image (docs/performance.md, "Large objects and rules").
  let inForce: { readonly ns: string | undefined; readonly lists: Map<readonly CompiledRule[], readonly CompiledRule[]> } | undefined;
  const inForceIn = (list: readonly CompiledRule[] | undefined, ns: string | undefined): readonly CompiledRule[] => {
    if (list === undefined || list.length < 8) return list ?? [];
    const cache = inForce !== undefined && inForce.ns === ns ? inForce : (inForce = { ns, lists: new Map<readonly CompiledRule[], readonly CompiledRule[]>() });
    let kept = cache.lists.get(list);
    if (kept === undefined) cache.lists.set(list, (kept = list.filter((rule) => rule.appliesToNamespace(ns))));
    return kept;
  };
  const firstMatch = (name: string, ns: string | undefined): { rule: CompiledRule; name: string } | undefined => {
    let best: CompiledRule | undefined;
    for (let end = name.length; end > 0; end = name.lastIndexOf('/', end - 1)) {
      if (!prefixLengths.has(end)) continue;
      for (const rule of inForceIn(byPrefix.get(name.slice(0, end)), ns)) {
        if (best !== undefined && rule.index >= best.index) break;
        if (rule.appliesToNamespace(ns)) {
          best = rule;
          break;
        }
      }
    }
    // Each list is in rule order, and most names get one: tried as it is, not copied and sorted.
    const lists: (readonly CompiledRule[])[] = [];
    for (const end of literalLengths) {
      if (end > name.length) break;
      const list = inForceIn(byLiteral.get(name.slice(0, end)), ns);
      if (list.length > 0) lists.push(list);
    }
    const candidates = lists.length <= 1 ? (lists[0] ?? []) : lists.flat().sort((x, y) => x.index - y.index);
    for (const rule of candidates) {
      if (best !== undefined && rule.index > best.index) break;
      if (!rule.appliesToNamespace(ns)) continue;
      const out = rule.apply(name);
      if (out !== undefined) return { rule, name: out };
    }
    const out = best?.apply(name);
    return best === undefined || out === undefined ? undefined : { rule: best, name: out };
  };

  const compute = (image: string, ns: string | undefined, depth = 0): RewriteResult => {
    if (image.length > MAX_REFERENCE_LENGTH) {
      return { kind: 'invalid', image, error: `image is ${image.length} characters, longer than any valid reference (${MAX_REFERENCE_LENGTH})` };
    }
    const parsed = parseNormalizedNamed(image);
    if (!parsed.ok) return { kind: 'invalid', image, error: referenceProblem(parsed.error) };
    const ref = parsed.value;
    // The grammar bounds the path (255), not the host: bound it here, so that regex rules (at most
    // quadratic, see src/config/regex-check.ts) only ever run on names of a few hundred characters.
    if (ref.domain.length > MAX_DOMAIN_LENGTH) {
      return { kind: 'invalid', image, error: `registry host is longer than ${MAX_DOMAIN_LENGTH} characters (a DNS name and a port)` };
    }
    const name = matchedName(ref);
    if (excluded(name)) return { kind: 'unchanged', image, reason: 'excluded' };
    const hit = firstMatch(name, ns);
    if (hit === undefined) return { kind: 'unchanged', image, reason: 'no-match' };
    const candidate = withTagAndDigest(hit.name, ref);
    const reparsed = parseNormalizedNamed(candidate);
    if (!reparsed.ok) {
      return { kind: 'rejected', image, rule: hit.rule, candidate, error: `rule "${hit.rule.name}" produced "${candidate}", which is not a valid image reference: ${referenceProblem(reparsed.error)}` };
    }
    // A regex rule's name that reads as a name and a tag (`mirror.example.com:$1` gives
    // `mirror.example.com:app`: Docker Hub's library/mirror.example.com, tagged app): the tag and
    // digest of the result must be the image's own.
    if (reparsed.value.tag !== ref.tag || reparsed.value.digest !== ref.digest) {
      return {
        kind: 'rejected',
        image,
        rule: hit.rule,
        candidate,
        error: `rule "${hit.rule.name}" produced "${candidate}", whose tag or digest is not the image's own: "${hit.name}" is not an image name`,
      };
    }
    // A regex rule's result whose first component came from a group: the template could not be checked at load.
    // A name of one component (`app.example.com`) is Docker Hub's too, whatever it looks like.
    if (!hit.name.includes('/') || !hasRegistryHost(candidate)) {
      return { kind: 'rejected', image, rule: hit.rule, candidate, error: `rule "${hit.rule.name}" produced "${candidate}", which does not start with a registry host: the kubelet would pull it from Docker Hub` };
    }
    const hostMismatch = templateHostMismatch(hit.rule, hit.name);
    if (hostMismatch !== undefined) return { kind: 'rejected', image, rule: hit.rule, candidate, error: `rule "${hit.rule.name}" produced "${candidate}", ${hostMismatch}` };
    const newName = matchedName(reparsed.value);
    if (newName === name) return { kind: 'unchanged', image, reason: 'identical' };
    const again = excluded(newName) ? undefined : firstMatch(newName, ns);
    if (again !== undefined && !sameName(again.name, newName)) {
      // A rule that matches its own results (`(.+)` -> `mirror.example.com/$1`, "mirror everything")
      // leaves an image that already starts as its results do (its target), and so a result, its own
      // or an earlier rule's (`gcr.io` -> `mirror.example.com/gcr`), that starts so and that it then
      // leaves: the rewrite stays idempotent without an `exclude` of the target. (`compute` of such a
      // result ends at the first test; `depth` bounds it all the same.)
      const start = again.rule.resultStart;
      if (again.rule === hit.rule && start !== undefined && name.startsWith(start)) return { kind: 'unchanged', image, reason: 'at-target' };
      if (start !== undefined && newName.startsWith(start) && depth < 2 && compute(candidate, ns, depth + 1).kind === 'unchanged') return { kind: 'rewritten', image, rewritten: candidate, rule: hit.rule };
      return {
        kind: 'rejected',
        image,
        rule: hit.rule,
        candidate,
        error: `rule "${hit.rule.name}" produced "${candidate}", which rule "${again.rule.name}" would rewrite again; not applied so that reinvocation cannot change an image twice`,
      };
    }
    return { kind: 'rewritten', image, rewritten: candidate, rule: hit.rule };
  };

  // Rewriting is a pure function of (image, namespace), and clusters admit the same few images over
  // and over (every replica, every rollout), so answers are memoized in a small bounded map.
  // Namespaces are part of the key only when some rule is scoped by namespace.
  const byNamespace = rules.some((r) => r.scoped);
  // When full, the oldest entry goes (first in, first out); the keys are kept in a ring, in
  // insertion order, to find it (docs/performance.md says why not `memo.keys()`).
  const memo = new Map<string, RewriteResult>();
  const order: string[] = [];
  let oldest = 0;
  const rewrite = (image: string, context?: RewriteContext): RewriteResult => {
    const ns = context?.namespace;
    if (image.length > MEMO_MAX_IMAGE_LENGTH || (byNamespace && ns !== undefined && ns.length > MEMO_MAX_NAMESPACE_LENGTH)) return compute(image, ns);
    const key = byNamespace ? `${ns ?? ''}\u0000${image}` : image;
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    const result = Object.freeze(compute(image, ns));
    if (order.length < MEMO_MAX_ENTRIES) {
      order.push(key);
    } else {
      memo.delete(order[oldest] ?? '');
      order[oldest] = key;
      oldest = (oldest + 1) % MEMO_MAX_ENTRIES;
    }
    memo.set(key, result);
    return result;
  };

  return Object.freeze({ rules, exclude, allowOptOut, rewrite });
}
