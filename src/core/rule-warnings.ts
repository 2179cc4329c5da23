/**
 * Warnings about rules that are valid alone but can never rewrite anything: a rule an earlier one
 * shadows, a rule an `exclude` covers whole, and a rule whose results another rule would take
 * again (a result that a rule would rewrite again is never applied: src/core/rules.ts); and about
 * rules whose results some container runtimes refuse (a registry named by an IPv6 address).
 * Printed by check-config, logged at load.
 */
import type { RuleSpec } from './rule-spec.js';
import type { CompiledRule, Issue, Rewriter } from './rule-types.js';
import { hasPathPrefix, matchedHost, matchedPrefix, sameName } from './matched-name.js';
import { literalPrefix } from './patterns.js';
import { hasRegistryHost, SAMPLE_GROUP_VALUE } from './replace-template.js';
import { MAX_RULE_SAMPLES, type RegexSample } from './regex-samples.js';

/**
 * The warnings for rules that can never be used: an earlier rule, not limited by namespace, matches
 * everything they match (a `match` prefix that is a path prefix of theirs, or of the literal text
 * every name a regex matches starts with, up to its last `/`; a regex of a literal and an open
 * tail, `openRegex`, that takes every name starting with theirs; or the same regex). Only that much
 * is decidable. Indexed, so that it costs one lookup per path component of each prefix (and, while
 * some earlier rule is such a regex, one per character): comparing every pair took 31 s for 9,000 rules.
 */
export function shadowWarnings(rules: readonly CompiledRule[], specs: readonly RuleSpec[]): Issue[] {
  const issues: Issue[] = [];
  const byPrefix = new Map<string, CompiledRule>();
  const byRegex = new Map<string, CompiledRule>();
  const byOpenLiteral = new Map<string, { readonly rule: CompiledRule; readonly open: OpenRegex }[]>();
  rules.forEach((rule, i) => {
    let earlier: CompiledRule | undefined = rule.kind === 'regex' ? byRegex.get(rule.pattern) : undefined;
    // A regex's names all start with its literal prefix: whole components only up to its last `/`
    // (`gcr\.io/team/(.*)` is under `match: gcr.io/team` and `match: gcr.io`).
    const literal = rule.kind === 'regex' ? literalPrefix(rule.pattern) : rule.pattern;
    const prefix = rule.kind === 'regex' ? literal.slice(0, Math.max(literal.lastIndexOf('/'), 0)) : literal;
    // The prefix itself, then each of its path prefixes (`a/b/c`: `a/b/c`, `a/b`, `a`): the
    // earliest of those rules comes first.
    for (let end = prefix.length; end > 0; end = prefix.lastIndexOf('/', end - 1)) {
      const hit = byPrefix.get(prefix.slice(0, end));
      if (hit !== undefined && (earlier === undefined || hit.index < earlier.index)) earlier = hit;
    }
    // An earlier regex whose literal starts this rule's names, then takes any rest of them.
    for (let end = 0; byOpenLiteral.size > 0 && end <= literal.length; end++) {
      for (const hit of byOpenLiteral.get(literal.slice(0, end)) ?? []) {
        if ((earlier === undefined || hit.rule.index < earlier.index) && takesAllFrom(hit.open, literal, rule.kind === 'match')) earlier = hit.rule;
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
    const open = rule.kind === 'regex' ? openRegex(rule.pattern) : undefined;
    if (open !== undefined) {
      // The earliest rule of each tail: at most three per literal, however many rules repeat it.
      const same = byOpenLiteral.get(open.literal);
      if (same === undefined) byOpenLiteral.set(open.literal, [{ rule, open }]);
      else if (!same.some((e) => e.open.tail === open.tail)) same.push({ rule, open });
    }
  });
  return issues;
}

/**
 * True when a regex of that shape takes every name a rule can match: a `match` rule's (`start`, or
 * `start` followed by `/` and a path), or a regex rule's (`start`, its literal prefix, followed by
 * anything, also nothing).
 */
function takesAllFrom(open: OpenRegex, start: string, isMatch: boolean): boolean {
  if (isMatch) return takesEvery(open, start, true);
  if (open.tail === 'path') return start.startsWith(`${open.literal}/`);
  return start.startsWith(open.literal) && (open.tail === 'any' || start.length > open.literal.length);
}

/**
 * The warnings for rules an `exclude` covers whole: every name a `match` rule matches (its prefix),
 * or a regex rule can match (the literal text it starts with, up to a `/`), lies under an exclude,
 * so the rule rewrites nothing (`exclude: [gcr.io]` and `match: gcr.io/team`). One lookup per path
 * component of each rule's prefix.
 */
export function excludedRuleWarnings(rules: readonly CompiledRule[], exclude: readonly string[]): Issue[] {
  if (exclude.length === 0) return [];
  const excluded = new Set(exclude);
  const issues: Issue[] = [];
  for (const rule of rules) {
    // A regex's names all start with its literal prefix: whole components only up to its last `/`.
    const literal = rule.kind === 'regex' ? literalPrefix(rule.pattern) : rule.pattern;
    const prefix = rule.kind === 'regex' ? literal.slice(0, Math.max(literal.lastIndexOf('/'), 0)) : literal;
    for (let end = prefix.length; end > 0; end = prefix.lastIndexOf('/', end - 1)) {
      const ex = prefix.slice(0, end);
      if (!excluded.has(ex)) continue;
      issues.push({
        path: ['rules', rule.index],
        severity: 'warning',
        message: `rule "${rule.name}" is never used: exclude "${ex}" covers every name it matches`,
      });
      break;
    }
  }
  return issues;
}

/**
 * The warnings for regex rules that can match no name because of how they spell the text every
 * name they match starts with (`literalPrefix`): names are compared with their host as the
 * kubelet reads it (src/core/matched-name.ts: lower case, a port without its leading zeros, no
 * `:443`, Docker Hub's hosts `docker.io`), their path is lower case, and they start with a
 * registry host. A `match` prefix spelled so is refused (src/config/document-rules.ts); a regex is
 * warned about, with the spelling that matches, since only its literal start can be judged.
 */
export function regexSpellingWarnings(rules: readonly CompiledRule[]): Issue[] {
  const issues: Issue[] = [];
  for (const rule of rules) {
    if (rule.kind !== 'regex') continue;
    // A leading `^` is the anchoring the rewriter adds anyway.
    const source = rule.pattern.startsWith('^') ? rule.pattern.slice(1) : rule.pattern;
    const literal = literalPrefix(source);
    const slash = literal.indexOf('/');
    const host = slash < 0 ? literal : literal.slice(0, slash);
    /** The index in `source` after its first `n` literal characters (an escape is two). */
    const at = (n: number): number => {
      let i = 0;
      for (let k = 0; k < n; k++) i += source[i] === '\\' ? 2 : 1;
      return i;
    };
    let why: string | undefined;
    let fixed: string | undefined;
    if (/[A-Z]/.test(literal)) {
      why = `no name has the capitals of "${literal}" (a registry host is compared in lower case, and a path is lower case)`;
      fixed = source.slice(0, at(literal.length)).toLowerCase() + source.slice(at(literal.length));
    } else if (slash > 0 && !(host.includes('.') || host.includes(':') || host === 'localhost')) {
      why = `no name starts with "${host}/": a name starts with its registry host (docker.io/library/nginx)`;
      fixed = `docker\\.io/${source}`;
    } else if ((slash > 0 && matchedHost(host) !== host) || /:0+[1-9]/.test(host)) {
      const spelled = slash > 0 ? matchedHost(host) : host.replace(/:0+(?=[1-9])/, ':');
      why = `no name starts with "${host}": a registry host is compared as the kubelet reads it (a port without its leading zeros, no ":443", Docker Hub's hosts as docker.io), "${spelled}" here`;
      fixed = spelled.replace(/[.]/g, '\\.') + source.slice(at(host.length));
    }
    if (why === undefined) continue;
    const anchor = source === rule.pattern ? '' : '^';
    issues.push({ path: ['rules', rule.index, 'regex'], severity: 'warning', message: `rule "${rule.name}" matches nothing: ${why}; write "${anchor}${fixed ?? ''}"` });
  }
  return issues;
}

/**
 * Warnings for rules whose results some container runtimes cannot pull: a `replace` that names its
 * registry by an IPv6 address (`[fd00::1]:5000/mirror`). distribution/reference v0.6.0, which the
 * kubelet and containerd parse images with, accepts it; CRI-O and Podman parse images with
 * containers/image's older fork of that grammar (go.podman.io/image/v5 docker/reference, v5.42.1:
 * its domain is DNS labels and a port, no brackets), which refuses every such image, so the Pod
 * fails with InvalidImageName there. Found by tests/integration/reference-oracle.integration.ts.
 */
export function runtimeWarnings(rules: readonly CompiledRule[]): Issue[] {
  return rules
    .filter((rule) => rule.replace.startsWith('['))
    .map((rule) => ({
      path: ['rules', rule.index, 'replace'],
      severity: 'warning' as const,
      message: `"${rule.replace}" names its registry by an IPv6 address: the kubelet and containerd pull such images, but CRI-O and Podman refuse them as invalid references (InvalidImageName); on CRI-O nodes give the registry a host name`,
    }));
}

/**
 * What a regex matches when that is decidable without a regex parser (src/core carries none): a
 * literal text, then a tail that takes any rest. `any`: `.*` (also in a group: `(.*)`, `(?:.*)`,
 * `(?<n>.*)`), the literal followed by anything; `some`: `.+` (and its groups), by anything but
 * nothing; `path`: `(/.*)?` or `(/.+)?` (and `(?:...)?`, `\/`), the literal alone or followed by a
 * path. Any other source (a class, an alternation, a quantified literal...) is undefined: not
 * decided, so never warned about. `.` takes every character a name can hold (no line breaks).
 */
export interface OpenRegex {
  readonly literal: string;
  readonly tail: 'any' | 'some' | 'path';
}

const OPEN_TAILS: ReadonlyMap<string, OpenRegex['tail']> = (() => {
  const tails = new Map<string, OpenRegex['tail']>();
  for (const [dots, tail] of [['.*', 'any'], ['.+', 'some']] as const) {
    tails.set(dots, tail);
    for (const open of ['(', '(?:']) {
      tails.set(`${open}${dots})`, tail);
      for (const slash of ['/', '\\/']) tails.set(`${open}${slash}${dots})?`, 'path');
    }
  }
  return tails;
})();

export function openRegex(source: string): OpenRegex | undefined {
  let literal = '';
  let i = 0;
  for (; i < source.length; i++) {
    const c = source[i] ?? '';
    if (/^[A-Za-z0-9/:_@-]$/.test(c)) literal += c;
    else if (c === '\\' && /^[./:_@-]$/.test(source[i + 1] ?? '')) literal += source[++i] ?? '';
    else break;
  }
  // A named group is a group for what it matches (`(?<rest>.+)` is `(.+)`).
  const rest = source.slice(i).replace(/^\(\?<[A-Za-z_$][\w$]*>/, '(');
  const tail = OPEN_TAILS.get(rest);
  return tail === undefined ? undefined : { literal, tail };
}

/**
 * True when a regex of that shape matches every name `result` + `rest`, where `rest` is `/` and a
 * path, or also nothing when `bare` (the rule's `match` prefix can be a whole name).
 */
function takesEvery(open: OpenRegex, result: string, bare: boolean): boolean {
  if (open.tail === 'path') return hasPathPrefix(result, open.literal);
  // A rest is never empty unless bare, and starts with `/`.
  if (!bare) return `${result}/`.startsWith(open.literal);
  return result.startsWith(open.literal) && (open.tail === 'any' || result.length > open.literal.length);
}

/**
 * The warnings for `match` rules whose every result an unscoped rule takes again, unless an
 * exclude covers the results: such a result is never applied (`rewrite` refuses it, so that
 * reinvocation cannot change an image twice), so the rule rewrites nothing, though each rule alone
 * is valid (`k8s.gcr.io` -> `registry.k8s.io`, then `registry.k8s.io` -> a mirror, or a regex
 * `registry\.k8s\.io/(.+)` -> a mirror). The other rule is a `match` rule whose prefix is a path
 * prefix of their `replace`, or a regex rule that `openRegex` reads and that matches every result
 * (where it comes in the order does not matter: a result is looked up again from the first rule).
 * Not when a regex rule before that one may match some result: it may give it back unchanged (a
 * rule that keeps `registry.k8s.io/pause` as it is), and then the result is applied. Indexed like
 * `shadowWarnings`: `match` rules by prefix, regex rules by their literal text.
 */
export function rewrittenAgainWarnings(rules: readonly CompiledRule[], specs: readonly RuleSpec[], exclude: readonly string[]): Issue[] {
  const issues: Issue[] = [];
  const byPrefix = new Map<string, CompiledRule>();
  /** The unscoped regex rules `openRegex` reads, by literal, in rule order. */
  const open = new Map<string, { rule: CompiledRule; shape: OpenRegex }[]>();
  /** The first regex rule (any) by the literal every name it matches starts with, and by each path prefix of that literal ending in `/`. */
  const firstByLiteral = new Map<string, number>();
  const firstUnder = new Map<string, number>();
  const lower = (m: Map<string, number>, key: string, index: number): void => {
    const held = m.get(key);
    if (held === undefined || index < held) m.set(key, index);
  };
  rules.forEach((rule, i) => {
    if (rule.kind === 'regex') {
      const literal = literalPrefix(rule.pattern);
      lower(firstByLiteral, literal, rule.index);
      for (let k = literal.indexOf('/'); k >= 0; k = literal.indexOf('/', k + 1)) lower(firstUnder, literal.slice(0, k + 1), rule.index);
    }
    const spec = specs[i];
    if (spec === undefined || spec.namespaces !== undefined || spec.excludeNamespaces !== undefined) return;
    if (rule.kind === 'match') {
      if (!byPrefix.has(rule.pattern)) byPrefix.set(rule.pattern, rule);
      return;
    }
    const shape = openRegex(rule.pattern);
    if (shape === undefined) return;
    const list = open.get(shape.literal);
    // A later one of the same literal and tail matches the same names: the earlier takes them all.
    if (list === undefined) open.set(shape.literal, [{ rule, shape }]);
    else if (!list.some((e) => e.shape.tail === shape.tail)) list.push({ rule, shape });
  });
  const openLengths = [...new Set([...open.keys()].map((key) => key.length))];
  const literalLengths = [...new Set([...firstByLiteral.keys()].map((key) => key.length))];
  /** The index of the first regex rule that may match a name `dir` starts (`dir` ends in `/`), or of one whose names all start with `dir`. */
  const firstRegexAt = (dir: string): number => {
    let first = firstUnder.get(dir) ?? Number.POSITIVE_INFINITY;
    for (const length of literalLengths) {
      const index = length <= dir.length ? firstByLiteral.get(dir.slice(0, length)) : undefined;
      if (index !== undefined && index < first) first = index;
    }
    return first;
  };
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
    let covered = false;
    for (let end = result.length; end > 0; end = result.lastIndexOf('/', end - 1)) {
      const prefix = result.slice(0, end);
      if (excluded.has(prefix)) {
        covered = true;
        break;
      }
      // The earliest such rule is the one the rewriter finds.
      const hit = byPrefix.get(prefix);
      if (hit !== undefined && (again === undefined || hit.index < again.index)) again = hit;
    }
    if (covered) continue;
    // The results are `result` and a path, or also `result` alone when the prefix can be a whole
    // name (it has a path): a literal that takes every one is a prefix of `result/`.
    const bare = rule.pattern.includes('/');
    const dir = `${result}/`;
    const sample = `${dir}${SAMPLE_GROUP_VALUE}`;
    for (const length of openLengths) {
      if (length > dir.length) continue;
      for (const { rule: other, shape } of open.get(dir.slice(0, length)) ?? []) {
        if (again !== undefined && other.index >= again.index) break;
        if (!takesEvery(shape, result, bare)) continue;
        // A regex that gives a result back unchanged, or only respelled (`MIRROR.example.com/$1`),
        // leaves it applied (and `firstRegexAt` then finds it before any later rule).
        const out = other.apply(sample);
        const whole = bare ? other.apply(result) : undefined;
        if (out !== undefined && !sameName(out, sample) && !(whole !== undefined && sameName(whole, result))) again = other;
        break;
      }
    }
    // A match rule whose replace is its prefix (an identity, src/core/rules.ts) leaves its names as
    // they are: what it takes is not rewritten again.
    if (again === undefined || again === rule || (again.kind === 'match' && matchedPrefix(again.replace) === again.pattern) || firstRegexAt(dir) < again.index) continue;
    issues.push({
      path: ['rules', rule.index, 'replace'],
      severity: 'warning',
      message: `rule "${rule.name}" rewrites nothing: rule "${again.name}" (rules[${again.index}]) matches every name it produces ("${rule.replace}/..."), and a result that a rule would rewrite again is not applied; write the final target`,
    });
  }
  return issues;
}

/**
 * Regex tests past which regexRewrittenAgainWarnings is skipped. Each sample is rewritten like an
 * image, and an image is tried against every regex rule whose literal prefix it starts with, those
 * with none included (src/core/rules.ts): the check costs about samples times rules when many
 * rules share a prefix, or have none. 10,000 rules starting with a group took 146 s to load, and
 * 4,000 `registry\.corp/(?:old1)/(.*)` -> `registry.corp/new1/$1` 12 s: past Lambda's 10 s init, and
 * serve's event loop blocked at each reload. About 700 of either (this bound, for MAX_RULE_SAMPLES
 * results of each, names the rewriter runs every such regex on) take under a second.
 */
export const MAX_SAMPLE_TESTS = 1_000_000;

/** A sample a rule can produce: a name with a registry host (see regexRewrittenAgainWarnings). */
const producible = (sample: string): boolean => sample.includes('/') && hasRegistryHost(sample);

/**
 * A regex rule's samples (src/core/regex-samples.ts): the text all its results start with
 * (`templateStart`), the few checked first, and more, made only for a rule all of those few warn about.
 */
export interface RuleSamples {
  readonly start: string;
  readonly first: () => readonly RegexSample[];
  readonly more: () => readonly RegexSample[];
}

/**
 * Whether a rule might take a name that starts with `start`: one whose literal text (a `match`
 * prefix, a regex's `literalPrefix`) `start` starts with, or that starts with `start`. Most rules
 * (`reg1\.example\.com/(.*)` -> `mirror.example.com/r1/$1`) have none, and their samples are
 * never made: making them runs each regex, which compiles it.
 */
function anyRuleMayTake(rules: readonly CompiledRule[]): (start: string) => boolean {
  const literals = new Set(rules.map((rule) => (rule.kind === 'regex' ? literalPrefix(rule.pattern) : rule.pattern)));
  const lengths = [...new Set([...literals].map((l) => l.length))];
  const sorted = [...literals].sort();
  return (start) => {
    if (lengths.some((length) => length <= start.length && literals.has(start.slice(0, length)))) return true;
    // The first literal not before `start`, in order: the one that starts with it, if any does.
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sorted[mid] ?? '') < start) lo = mid + 1;
      else hi = mid;
    }
    return lo < sorted.length && (sorted[lo] ?? '').startsWith(start);
  };
}

/**
 * A counter of the regex tests rewriting samples costs, from the rewriter's own index before any
 * regex runs; and of those a name that starts with a text costs at least (the rules whose literal it starts with).
 */
function sampleTests(rules: readonly CompiledRule[]): { readonly count: (lists: Iterable<readonly RegexSample[]>) => number; readonly atLeast: (start: string) => number } {
  const byLiteral = new Map<string, number>();
  for (const rule of rules) {
    // Rules limited to namespaces too: not tested on a sample (rewritten in none), but still gathered
    // and sorted with the others for each, which costs as much when they are thousands.
    if (rule.kind !== 'regex') continue;
    const literal = literalPrefix(rule.pattern);
    byLiteral.set(literal, (byLiteral.get(literal) ?? 0) + 1);
  }
  const lengths = [...new Set([...byLiteral.keys()].map((key) => key.length))].sort((x, y) => x - y);
  const atLeast = (text: string): number => {
    let tests = 0;
    for (const length of lengths) {
      if (length > text.length) break;
      tests += byLiteral.get(text.slice(0, length)) ?? 0;
    }
    return tests;
  };
  return {
    count: (lists) => {
      let tests = 0;
      for (const list of lists) for (const { out: sample } of list) if (producible(sample)) tests += atLeast(sample);
      return tests;
    },
    atLeast,
  };
}

const SKIPPED: Issue = {
  path: ['rules'],
  severity: 'warning',
  message: 'the check for regex rules that rewrite nothing was skipped: their results would be tried against too many regex rules (a regex that starts with a group, a class or "." is tried for every image, one that starts with literal text for every image that starts with it); start each regex with the literal text of the names it matches',
};

/**
 * The first of `samples` and the rule that takes it again, when an unscoped rule takes every one
 * of them that is a name with a registry host again; undefined when one is applied, or none is such a name.
 */
function allTakenAgain(samples: readonly RegexSample[], rewriter: Rewriter): { readonly name: string; readonly sample: string; readonly by: CompiledRule } | undefined {
  let first: { readonly name: string; readonly sample: string; readonly by: CompiledRule } | undefined;
  for (const { name, out: sample } of samples) {
    if (!producible(sample)) continue;
    const r = rewriter.rewrite(sample);
    if (r.kind === 'invalid') continue;
    // One result applied is enough: the rule rewrites something.
    if ((r.kind !== 'rewritten' && r.kind !== 'rejected') || r.rule.scoped) return undefined;
    first ??= { name, sample, by: r.rule };
  }
  return first;
}

/**
 * The warnings for regex rules whose results an unscoped rule takes again: `(.+)` ->
 * `mirror.example.com/$1` ("mirror everything") matches its own results, and each of them is
 * refused at admission, so the rule rewrites nothing. What a regex produces is not decidable; the
 * samples are results the rule gives for names its regex matches (src/core/regex-samples.ts), and
 * the warning needs every one of them that is a name with a registry host taken again (a rule
 * with none gets no warning): the first few of each rule, then, for a rule all of those warn
 * about, more (a branch of an alternation whose results are applied: `(localhost|[a-z]+\.example\.com)/...`
 * -> `mirror.example.com/$1/...` takes again only what `localhost` gives). Skipped, with a warning
 * that says so, when it would cost more than MAX_SAMPLE_TESTS regex tests; so is a rule whose more
 * samples would take it past that.
 */
export function regexRewrittenAgainWarnings(rules: readonly CompiledRule[], samples: ReadonlyMap<number, RuleSamples>, rewriter: Rewriter): Issue[] {
  const { count, atLeast } = sampleTests(rules);
  const mayTake = anyRuleMayTake(rules);
  const taken = [...samples].filter(([, own]) => mayTake(own.start));
  // What their samples cost at least, before they are made (10,000 rules that start with a group:
  // each of their samples is tried against all of them).
  if (taken.reduce((n, [, own]) => n + MAX_RULE_SAMPLES * atLeast(own.start), 0) > MAX_SAMPLE_TESTS) return [SKIPPED];
  const checked = new Map(taken.map(([index, own]) => [index, own.first()]));
  let spent = count(checked.values());
  if (spent > MAX_SAMPLE_TESTS) return [SKIPPED];
  const issues: Issue[] = [];
  let skipped = false;
  for (const rule of rules) {
    const own = samples.get(rule.index);
    const list = checked.get(rule.index);
    if (own === undefined || list === undefined) continue;
    const first = allTakenAgain(list, rewriter);
    if (first === undefined) continue;
    const more = own.more();
    spent += count([more]);
    if (spent > MAX_SAMPLE_TESTS) {
      skipped = true;
      break;
    }
    if (allTakenAgain(more, rewriter) === undefined) continue;
    issues.push({
      path: ['rules', rule.index, 'replace'],
      severity: 'warning',
      message: `rule "${rule.name}" rewrites nothing: rule "${first.by.name}" (rules[${first.by.index}]) matches what it produces (it gives "${first.sample}" for "${first.name}"), and a result that a rule would rewrite again is not applied; narrow the regex, or exclude the target`,
    });
  }
  if (skipped) issues.push(SKIPPED);
  return issues;
}
