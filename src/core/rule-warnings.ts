/**
 * Warnings about rules that are valid alone but can never rewrite anything because of what their
 * results become: a rule whose results another rule would take again (a result that a rule would
 * rewrite again is never applied: src/core/rules.ts), checked for regex rules on names their regex
 * matches (src/core/regex-samples.ts); about rules whose results some container runtimes
 * refuse (a registry named by an IPv6 address), and rules that give Docker Hub images names an ECR
 * pull-through cache of Docker Hub does not serve (`library/` dropped or added). Rules an earlier one shadows, an `exclude` covers
 * or that match no name: src/core/rule-reach.ts. Printed by check-config, logged at load.
 */
import type { RuleSpec } from './rule-spec.js';
import type { CompiledRule, Issue, Rewriter } from './rule-types.js';
import { hasPathPrefix, matchedPrefix, sameName } from './matched-name.js';
import { literalPrefix } from './patterns.js';
import { type OpenRegex, openRegex, takesEvery } from './rule-reach.js';
import { hasRegistryHost, SAMPLE_GROUP_VALUE } from './replace-template.js';
import { MAX_RULE_SAMPLES, type RegexSample } from './regex-samples.js';

/**
 * Warnings for rules whose results some container runtimes cannot pull: a `replace` that names its
 * registry by an IPv6 address (`[fd00::1]:5000/mirror`). distribution/reference v0.6.0, which the
 * kubelet and containerd parse images with, accepts it; CRI-O and Podman parse images with
 * containers/image's older fork of that grammar (go.podman.io/image/v5 docker/reference, v5.42.1:
 * its domain is DNS labels and a port, no brackets), which refuses every such image, so the Pod
 * fails with InvalidImageName there. Found by tests/integration/reference-oracle.integration.ts.
 */
export function runtimeWarnings(rules: readonly CompiledRule[]): Issue[] {
  const ipv6 = rules
    .filter((rule) => rule.replace.startsWith('['))
    .map((rule) => ({
      path: ['rules', rule.index, 'replace'],
      severity: 'warning' as const,
      message: `"${rule.replace}" names its registry by an IPv6 address: the kubelet and containerd pull such images, but CRI-O and Podman refuse them as invalid references (InvalidImageName); on CRI-O nodes give the registry a host name`,
    }));
  return [...ipv6, ...ecrLibraryWarnings(rules), ...triedRegexWarnings(rules)];
}

/**
 * Regex rules one name may be tried against, one by one, past which the load warns. A regex rule
 * that starts with a group, a class or "." is tried on every image seen for the first time, one
 * that starts with literal text on every image that starts with it (src/core/rules.ts); their cost
 * per image grows faster than their number once their regexes no longer stay in the CPU's caches,
 * to milliseconds per image with thousands of them: a Pod of a few hundred new images then took
 * longer than the webhook's timeoutSeconds (docs/performance.md, "Large objects and rules").
 */
export const MAX_TRIED_REGEX_RULES = 1000;

/** The warning for a document in which some name is tried against more than MAX_TRIED_REGEX_RULES regex rules. */
function triedRegexWarnings(rules: readonly CompiledRule[]): Issue[] {
  const { atLeast, literals } = sampleTests(rules);
  let most = 0;
  let start = '';
  for (const literal of literals) {
    const tried = atLeast(literal);
    if (tried > most) [most, start] = [tried, literal];
  }
  if (most <= MAX_TRIED_REGEX_RULES) return [];
  const which = start === '' ? 'every image' : `an image whose name starts with "${start}"`;
  return [
    {
      path: ['rules'],
      severity: 'warning',
      message: `${which} is tried against ${String(most)} regex rules one by one, more than ${String(MAX_TRIED_REGEX_RULES)}: each image seen for the first time then costs milliseconds, and a Pod of a few hundred of them can take longer than the webhook's timeoutSeconds; start each regex with the literal text of the names it matches, or write it as a match rule`,
    },
  ];
}

/**
 * A name in a private ECR registry (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]`, or dual-stack
 * `....on.aws`) under `docker-hub/`, the repository prefix AWS's documentation gives Docker Hub's
 * pull-through cache: repositories named so by hand are unlikely, so the warning is seldom wrong.
 */
const ECR_DOCKER_HUB_CACHE = /^\d{12}\.(?:dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?|dkr-ecr(?:-fips)?\.[a-z0-9-]+\.on\.aws)\/docker-hub\//;
const OFFICIAL_SAMPLE = 'docker.io/library/nginx';
const USER_SAMPLE = 'docker.io/bitnami/redis';

/**
 * Warnings for rules that send Docker Hub images to a private ECR's `docker-hub/` under a name a
 * pull-through cache of Docker Hub does not serve: an official image must keep its `library/`
 * (`.../docker-hub/library/nginx`, as `match: docker.io` keeps it), and another image must not
 * gain one (`.../docker-hub/library/bitnami/redis`), as AWS's documentation of pull-through caches
 * says; every Pod rewritten so fails to pull. Each rule is tried on one name of each kind (an
 * official image's: its own `match` name, when it names one).
 */
function ecrLibraryWarnings(rules: readonly CompiledRule[]): Issue[] {
  const issues: Issue[] = [];
  for (const rule of rules) {
    const official = rule.kind === 'match' && rule.pattern.startsWith('docker.io/library/') ? rule.pattern : OFFICIAL_SAMPLE;
    const wrong = [
      { name: official, bad: (r: string): boolean => !r.endsWith(`/${official.slice('docker.io/'.length)}`), what: `an ECR pull-through cache of Docker Hub has it only as .../library/${official.slice('docker.io/library/'.length)} (an official image keeps its library/)` },
      { name: USER_SAMPLE, bad: (r: string): boolean => r.endsWith('/library/bitnami/redis'), what: 'an ECR pull-through cache of Docker Hub has it only as .../bitnami/redis (library/ is for official images alone)' },
    ].find(({ name, bad }) => {
      const result = rule.apply(name);
      return result !== undefined && ECR_DOCKER_HUB_CACHE.test(result) && bad(result);
    });
    if (wrong === undefined) continue;
    issues.push({
      path: ['rules', rule.index, 'replace'],
      severity: 'warning',
      message: `rule "${rule.name}" rewrites ${wrong.name} to ${rule.apply(wrong.name) ?? ''}: ${wrong.what}, so such Pods would fail to pull; for a pull-through cache write match: docker.io and replace: <registry>/<cache prefix> (normalized names have library/ for official images only), or ignore this if these repositories are not a pull-through cache`,
    });
  }
  return issues;
}

/** The rules rewrittenAgainWarnings looks results up in: see its comment. */
interface AgainIndex {
  /** The first unscoped `match` rule of each prefix. */
  readonly byPrefix: ReadonlyMap<string, CompiledRule>;
  /** The unscoped regex rules `openRegex` reads, by literal, in rule order. */
  readonly open: ReadonlyMap<string, readonly { readonly rule: CompiledRule; readonly shape: OpenRegex }[]>;
  /** The lengths of `open`'s keys. */
  readonly openLengths: readonly number[];
  /** The index of the first regex rule, or `match` rule limited to namespaces, that may match a name `dir` starts (`dir` ends in `/`), or of one whose names all start with `dir`. */
  readonly firstRegexAt: (dir: string) => number;
}

function againIndex(rules: readonly CompiledRule[], specs: readonly RuleSpec[]): AgainIndex {
  const byPrefix = new Map<string, CompiledRule>();
  const open = new Map<string, { rule: CompiledRule; shape: OpenRegex }[]>();
  /** The first regex rule (any) by the literal every name it matches starts with, and by each path prefix of that literal ending in `/`. */
  const firstByLiteral = new Map<string, number>();
  const firstUnder = new Map<string, number>();
  const lower = (m: Map<string, number>, key: string, index: number): void => {
    const held = m.get(key);
    if (held === undefined || index < held) m.set(key, index);
  };
  rules.forEach((rule, i) => {
    const spec = specs[i];
    const scoped = spec === undefined || spec.namespaces !== undefined || spec.excludeNamespaces !== undefined;
    // A `match` rule limited to namespaces too: where it applies it may take a result first (and leave it).
    if (rule.kind === 'regex' || scoped) {
      const literal = rule.kind === 'regex' ? literalPrefix(rule.pattern) : `${rule.pattern}/`;
      lower(firstByLiteral, literal, rule.index);
      for (let k = literal.indexOf('/'); k >= 0; k = literal.indexOf('/', k + 1)) lower(firstUnder, literal.slice(0, k + 1), rule.index);
    }
    if (scoped) return;
    if (rule.kind === 'match') {
      if (!byPrefix.has(rule.pattern)) byPrefix.set(rule.pattern, rule);
      return;
    }
    const shape = openRegex(rule.pattern);
    if (shape === undefined) return;
    const list = open.get(shape.literal);
    // A later one of the same literal and tail matches the same names: the earlier takes them all.
    if (list === undefined) open.set(shape.literal, [{ rule, shape }]);
    else if (!list.some((e) => e.shape.tail === shape.tail && e.shape.portless === shape.portless)) list.push({ rule, shape });
  });
  const openLengths = [...new Set([...open.keys()].map((key) => key.length))];
  const literalLengths = [...new Set([...firstByLiteral.keys()].map((key) => key.length))];
  const firstRegexAt = (dir: string): number => {
    let first = firstUnder.get(dir) ?? Number.POSITIVE_INFINITY;
    for (const length of literalLengths) {
      const index = length <= dir.length ? firstByLiteral.get(dir.slice(0, length)) : undefined;
      if (index !== undefined && index < first) first = index;
    }
    return first;
  };
  return { byPrefix, open, openLengths, firstRegexAt };
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
  const { byPrefix, open, openLengths, firstRegexAt } = againIndex(rules, specs);
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
        // A rule that matches its own results leaves one that starts as they do (src/core/rules.ts, compute): applied.
        const atTarget = out !== undefined && other.resultStart !== undefined && sample.startsWith(other.resultStart) && other.apply(out) !== undefined;
        // One that gives every name one result (`(.+)` -> `mirror.example.com/fixed`) leaves that
        // result, which the rule gives for one image when it is one of its results: applied.
        const twice = out === undefined ? undefined : other.apply(out);
        const fixedPoint = out !== undefined && hasPathPrefix(out, result) && (bare || out !== result) && twice !== undefined && sameName(twice, out);
        // ... and where its results start deeper than these (`mirror.example.com/gcr/`), those of these that start so.
        const inTarget = other.resultStart !== undefined && other.resultStart.length > dir.length && other.resultStart.startsWith(dir);
        if (out !== undefined && !sameName(out, sample) && !(whole !== undefined && sameName(whole, result)) && !atTarget && !fixedPoint && !inTarget) again = other;
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
 * rules share a prefix, or have none. Thousands of rules starting with a group, or of
 * `registry\.corp/(?:old1)/(.*)` -> `registry.corp/new1/$1`, took longer to load than Lambda's 10 s
 * init, and blocked serve's event loop at each reload; at this bound (for MAX_RULE_SAMPLES results
 * of each, names the rewriter runs every such regex on) the check takes under a second
 * (docs/performance.md, "Figures behind the comments").
 */
const MAX_SAMPLE_TESTS = 1_000_000;

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
    return someStartsWith(sorted, start);
  };
}

/** Whether a text of `sorted` (in order) starts with `start`: the first one not before it, if any does. */
function someStartsWith(sorted: readonly string[], start: string): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] ?? '') < start) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && (sorted[lo] ?? '').startsWith(start);
}

/**
 * A counter of the regex tests rewriting samples costs, from the rewriter's own index before any
 * regex runs; and of those a name that starts with a text costs at least (the rules whose literal it starts with), and the regex rules' literal prefixes.
 */
function sampleTests(rules: readonly CompiledRule[]): {
  readonly count: (lists: Iterable<readonly RegexSample[]>) => number;
  readonly atLeast: (start: string) => number;
  readonly literals: Iterable<string>;
} {
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
    literals: byLiteral.keys(),
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
function allTakenAgain(rule: CompiledRule, own: RuleSamples, samples: readonly RegexSample[], rewriter: Rewriter, scoped: Rewriter | undefined): { readonly name: string; readonly sample: string; readonly by: CompiledRule } | undefined {
  let first: { readonly name: string; readonly sample: string; readonly by: CompiledRule } | undefined;
  for (const { name, out: sample } of samples) {
    if (!producible(sample)) continue;
    const r = rewriter.rewrite(sample);
    if (r.kind === 'invalid') continue;
    // One result applied is enough: the rule rewrites something.
    if ((r.kind !== 'rewritten' && r.kind !== 'rejected') || r.rule.scoped) return undefined;
    // The rule itself rewrites an image of that name (to a name it leaves: `(localhost|[a-z]+\.example\.com)/(.*)`
    // -> `mirror.example.com/$1` rewrites mirror.example.com/app to mirror.example.com/mirror.example.com).
    if (r.kind === 'rewritten' && r.rule === rule) return undefined;
    // A rule that matches its own results leaves those that start as they do (src/core/rules.ts,
    // compute): when that is narrower than where this rule's results start (`mirror.example.com/gcr/`
    // for `(.+)` -> `mirror.example.com/gcr/$1`, and `mirror.example.com/`), some may be applied.
    const zone = r.rule.resultStart;
    if (zone !== undefined && zone.length > own.start.length && zone.startsWith(own.start)) return undefined;
    // ... and one that gives a name it then leaves (it drops a part: `([a-z0-9.-]+)(:[0-9]+)?/(.+)`
    // -> `mirror.example.com/gcr/$1`) leaves it as this rule's result too, when this rule may give it.
    const taken = r.rule.apply(sample);
    const twice = taken === undefined ? undefined : r.rule.apply(taken);
    if (taken !== undefined && taken.startsWith(own.start) && twice !== undefined && sameName(twice, taken)) return undefined;
    // Where a rule limited to namespaces applies (the one checked, maybe), it may take the result
    // before that one and leave it (a rule that matches its own results): not decided.
    const s = scoped?.rewrite(sample);
    if (s !== undefined && !(s.kind === 'unchanged' && s.reason === 'no-match') && !((s.kind === 'rewritten' || s.kind === 'rejected') && s.rule.index > r.rule.index)) return undefined;
    first ??= { name, sample, by: r.rule };
  }
  return first;
}

/**
 * The warnings for regex rules whose results an unscoped rule takes again: `gcr\.io/(.+)` ->
 * `mirror.example.com/$1` behind a rule that takes `mirror.example.com/...` elsewhere, so each of
 * its results is refused at admission and the rule rewrites nothing (a rule that takes only its own
 * results again leaves them, src/core/rules.ts, so it is not warned about). What a regex produces is not decidable; the
 * samples are results the rule gives for names its regex matches (src/core/regex-samples.ts), and
 * the warning needs every one of them that is a name with a registry host taken again (a rule
 * with none gets no warning): the first few of each rule, then, for a rule all of those warn
 * about, more (a branch of an alternation whose results are applied: `(localhost|[a-z]+\.example\.com)/...`
 * -> `mirror.example.com/$1/...` takes again only what `localhost` gives). Skipped, with a warning
 * that says so, when it would cost more than MAX_SAMPLE_TESTS regex tests; so is a rule whose more
 * samples would take it past that. `scoped`: a Rewriter of the rules limited to namespaces, as if
 * they were not; none of them may take a result before the rule that takes it again.
 */
export function regexRewrittenAgainWarnings(rules: readonly CompiledRule[], samples: ReadonlyMap<number, RuleSamples>, rewriter: Rewriter, scoped?: Rewriter): Issue[] {
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
  // An exclude that starts as a rule's results do (`gcr.io/team` for `gcr.io/$1`) may cover some of
  // them, which are then applied (never rewritten again): not decided by samples, which miss it.
  const excludes = [...rewriter.exclude].sort();
  for (const rule of rules) {
    const own = samples.get(rule.index);
    const list = checked.get(rule.index);
    if (own === undefined || list === undefined || someStartsWith(excludes, own.start)) continue;
    const first = allTakenAgain(rule, own, list, rewriter, scoped);
    if (first === undefined) continue;
    const more = own.more();
    spent += count([more]);
    if (spent > MAX_SAMPLE_TESTS) {
      skipped = true;
      break;
    }
    if (allTakenAgain(rule, own, more, rewriter, scoped) === undefined) continue;
    issues.push({
      path: ['rules', rule.index, 'replace'],
      severity: 'warning',
      message: `rule "${rule.name}" rewrites nothing: rule "${first.by.name}" (rules[${first.by.index}]) matches what it produces (it gives "${first.sample}" for "${first.name}"), and a result that a rule would rewrite again is not applied; narrow the regex, or exclude the target`,
    });
  }
  if (skipped) issues.push(SKIPPED);
  return issues;
}
