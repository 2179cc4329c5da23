/**
 * Warnings about rules that can never match an image or never be reached: a rule an earlier one
 * shadows, a rule an `exclude` covers whole, a rule whose `excludeNamespaces` leave it no namespace,
 * a regex rule whose literal start no name has, or that needs a brace V8 reads as text. And the
 * reading of the regexes these checks and src/core/rule-warnings.ts decide by without a regex
 * parser (`openRegex`: a literal, then a tail that takes any rest). Printed by check-config, logged
 * at load (src/core/rules.ts).
 */
import type { RuleSpec } from './rule-spec.js';
import type { CompiledRule, Issue } from './rule-types.js';
import { hasPathPrefix, matchedHost } from './matched-name.js';
import { globMatcher, literalPrefix } from './patterns.js';
import { foreignCharacterAt } from './reference.js';

/**
 * The warnings for rules that can never be used: an earlier rule, not limited by namespace, matches
 * everything they match (a `match` prefix that is a path prefix of theirs, or of the literal text
 * every name a regex matches starts with, up to its last `/`; a regex of a literal and an open
 * tail, `openRegex`, that takes every name starting with theirs; or the same regex). Only that much
 * is decidable. Indexed, so that it costs one lookup per path component of each prefix (and, while
 * some earlier rule is such a regex, one per character): comparing every pair took seconds for
 * thousands of rules (docs/performance.md, "Figures behind the comments").
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
      else if (!same.some((e) => e.open.tail === open.tail && e.open.portless === open.portless)) same.push({ rule, open });
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
  // Without a `/` in its literal start, a regex's names may have a port after it.
  if (open.portless === true && (!start.includes('/') || start.slice(open.literal.length).includes(':'))) return false;
  if (open.tail === 'path') return start.startsWith(`${open.literal}/`);
  return start.startsWith(open.literal) && (open.tail === 'any' || start.length > open.literal.length);
}

/** Name-against-glob tests namespaceWarnings may make for a whole document (the 1 MiB may hold some 100,000 of each). */
const MAX_GLOB_TRIES = 100_000;

/** The longest namespace name: a DNS label (RFC 1123). */
const MAX_NAMESPACE_LENGTH = 63;

/**
 * The warnings for `namespaces` and `excludeNamespaces` entries longer than any namespace name, and
 * for rules that their own `excludeNamespaces` leave no namespace: each entry of
 * `namespaces` is excluded (a name an exclude glob matches, or a glob written again as an exclude),
 * or an exclude of stars only takes every namespace. Only that much is decided (whether one glob
 * takes all another does is not), so a warning is never wrong.
 */
export function namespaceWarnings(rules: readonly CompiledRule[], specs: readonly RuleSpec[]): Issue[] {
  const issues: Issue[] = [];
  let tries = MAX_GLOB_TRIES;
  rules.forEach((rule, i) => {
    for (const field of ['namespaces', 'excludeNamespaces'] as const) {
      (specs[i]?.[field] ?? []).forEach((entry, j) => {
        // A name of Kubernetes' namespaces is a DNS label: a `*` may stand for nothing, but an entry
        // without one longer than a label matches no namespace (a warning, not an error: documents
        // that loaded before still load).
        if (entry.length > MAX_NAMESPACE_LENGTH && !entry.includes('*')) {
          issues.push({ path: ['rules', rule.index, field, j], severity: 'warning', message: `rule "${rule.name}": "${entry.slice(0, 80)}${entry.length > 80 ? '...' : ''}" is ${entry.length} characters, longer than a namespace name can be (${MAX_NAMESPACE_LENGTH}), so it matches no namespace` });
        }
      });
    }
    const excludes = specs[i]?.excludeNamespaces ?? [];
    if (excludes.length === 0) return;
    const path = ['rules', rule.index, 'excludeNamespaces'];
    const all = excludes.find((e) => /^\*+$/.test(e));
    if (all !== undefined) {
      // A namespace that is not known (render without --namespace) is excluded by none.
      const message = `rule "${rule.name}" rewrites nothing at admission: its excludeNamespaces exclude every namespace ("${all}"); only render applies it, to objects without a namespace and without --namespace`;
      issues.push({ path, severity: 'warning', message });
      return;
    }
    const namespaces = specs[i]?.namespaces ?? [];
    const written = new Set(excludes);
    // Globs tried against each name only within the budget; past it, exact entries alone decide.
    const cost = namespaces.length * excludes.length;
    const globs = cost <= tries ? excludes.filter((e) => /[*?]/.test(e)).map((e) => ({ e, matches: globMatcher(e) })) : [];
    if (globs.length > 0) tries -= cost;
    const by: string[] = [];
    for (const ns of namespaces) {
      const hit = written.has(ns) ? ns : /[*?]/.test(ns) ? undefined : globs.find(({ matches }) => matches(ns))?.e;
      if (hit === undefined) return;
      by.push(`"${ns}" by "${hit}"`);
    }
    // A rule limited to namespaces never applies where the namespace is not known: never used at all.
    const shown = by.length > 3 ? [...by.slice(0, 3), `${by.length - 3} more`] : by;
    if (by.length > 0) issues.push({ path, severity: 'warning', message: `rule "${rule.name}" is never used: its excludeNamespaces exclude every namespace its namespaces name (${shown.join(', ')})` });
  });
  return issues;
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
 * The first brace of a regex source that V8 reads as text, shown with what follows it up to its `}`
 * (`{,2}`, `{`, `}`), or undefined. Without the u flag (src/core/rules.ts compiles rules without
 * flags) a `{` that does not make a repetition `{n}`, `{n,}` or `{n,m}` is a literal brace, and so
 * is a `}` outside one: `a{,2}`, "at most 2" in Python and PCRE, is the text `a{,2}` there. No
 * normalized name holds a brace. Escaped braces and braces in a class are left alone (written so,
 * they say what they mean).
 */
function literalBrace(source: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
    } else if (inClass) {
      inClass = c !== ']';
    } else if (c === '[') {
      inClass = true;
    } else if (c === '{' || c === '}') {
      const rest = source.slice(i, i + 24);
      const repetition = c === '{' ? /^\{\d+(?:,\d*)?\}/.exec(rest)?.[0] : undefined;
      if (repetition === undefined) return c === '{' ? (/^\{[^{}\\[\]()]{0,20}\}/.exec(rest)?.[0] ?? '{') : '}';
      i += repetition.length - 1;
    }
  }
  return undefined;
}

/** The character at `i` of a regex source when it stands for itself, must be matched there, and no name holds it. */
function oddCharacterAt(source: string, i: number): string | undefined {
  const c = source[i];
  // An alternation anywhere: another branch may match where this one cannot.
  if (c === undefined || source.includes('|')) return undefined;
  let char: string;
  let next: number;
  if (c === '\\') {
    // An escaped punctuation mark stands for itself (`\+`, `\#`, `\ `); `\d`, `\b`, `\1`... do not.
    const e = source[i + 1];
    if (e === undefined || /[A-Za-z0-9]/.test(e)) return undefined;
    char = e;
    next = i + 2;
  } else {
    if ('^$.|?*+()[]{}'.includes(c)) return undefined;
    char = c;
    next = i + 1;
  }
  if (/[A-Za-z0-9._\-/:@[\]]/.test(char) || /^[?*{]/.test(source.slice(next))) return undefined;
  return char;
}

/**
 * The first character of a regex outside a character class that is not printable ASCII and stands
 * for itself (`U+200B at character 13, ...`; a space is one), or undefined: names are ASCII, so such a
 * character matches in no name. One in a class (`[^ /]`) may be meant.
 */
function foreignOutsideClass(source: string): string | undefined {
  let n = 0;
  let inClass = false;
  let escaped = false;
  for (const c of source) {
    n++;
    if (escaped) escaped = false;
    else if (c === '\\') escaped = true;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (!/^[!-~]$/.test(c)) return foreignCharacterAt(c, n);
  }
  return undefined;
}

/**
 * The warnings for regex rules that can match no name because of how they spell the text every
 * name they match starts with (`literalPrefix`): names have no tag or digest, are compared with their host as the
 * kubelet reads it (src/core/matched-name.ts: lower case, a port without its leading zeros, no
 * `:443`, Docker Hub's hosts `docker.io`), their path is lower case, and they start with a
 * registry host. A `match` prefix spelled so is refused (src/config/document-rules.ts); a regex is
 * warned about, with the spelling that matches, since only its literal start can be judged.
 */
export function regexSpellingWarnings(rules: readonly CompiledRule[]): Issue[] {
  const issues: Issue[] = [];
  for (const rule of rules) {
    if (rule.kind !== 'regex') continue;
    const brace = literalBrace(rule.pattern);
    if (brace !== undefined) {
      const atMost = /^\{,(\d+)\}$/.exec(brace)?.[1];
      const write = rule.pattern.includes('${env:')
        ? '${env:NAME} is replaced in replace only'
        : atMost !== undefined ? `write {0,${atMost}} for "at most ${atMost}"` : 'remove it, or write a repetition as {n}, {n,} or {n,m} after what it repeats';
      const message = `rule "${rule.name}": "${brace}" is read as text (rules are compiled without flags: a brace that does not make {n}, {n,} or {n,m} stands for itself), and no name holds a brace, so that part of the regex matches nothing; ${write}`;
      issues.push({ path: ['rules', rule.index, 'regex'], severity: 'warning', message });
    }
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
    // A tag or digest (`nginx:1\.27`, `app@sha256:...`): rules see the normalized name alone, never a
    // `:` after its host nor an `@`, so such a literal start is in no name however it is spelled.
    if (literal.includes('@') || (slash > 0 && literal.includes(':', slash))) {
      const message = `rule "${rule.name}" matches nothing: no name has the tag or digest of "${literal}" (rules see the name alone, the tag and digest are kept as they are); match the name, whatever its tag`;
      issues.push({ path: ['rules', rule.index, 'regex'], severity: 'warning', message });
      continue;
    }
    // The literal start ends at a character no normalized name holds, taken as it is (a space,
    // `#`, `é`, or `\+`; not followed by a quantifier that could skip it): names are letters,
    // digits, `.`, `_`, `-` and `/`, with a host's `:port` and an IPv6 host's brackets.
    const odd = oddCharacterAt(source, at(literal.length));
    if (odd !== undefined) {
      const message = `rule "${rule.name}" matches nothing: no name has the character ${JSON.stringify(odd)} of "${literal}${odd}" (names are letters, digits, ".", "_", "-" and "/", with a host's ":port")`;
      issues.push({ path: ['rules', rule.index, 'regex'], severity: 'warning', message });
      continue;
    }
    // Past the literal start, the same: a zero-width space or a Cyrillic look-alike anywhere else.
    const foreign = foreignOutsideClass(rule.pattern);
    if (foreign !== undefined) {
      const message = `rule "${rule.name}": its regex holds ${foreign}, which no name holds; remove it`;
      issues.push({ path: ['rules', rule.index, 'regex'], severity: 'warning', message });
    }
    let why: string | undefined;
    let fixed: string | undefined;
    // The whole regex is one component (`nginx`, `registry:5000`; a `:` only before a port): every
    // name has a host before a `/`.
    const hostPort = /^[^:]+:\d+$/.test(literal);
    const whole = slash < 0 && literal !== '' && (hostPort || !literal.includes(':')) && at(literal.length) === source.replace(/\$$/, '').length;
    // ... a host (`gcr\.io`, `registry:5000`), meant with the path every name has after it; else Docker Hub's name.
    const wholeHost = whole && (hostPort || /^(?:.*\..*|localhost)$/.test(literal.toLowerCase()));
    /** The host alone, as names spell it (`index\.docker\.io` is docker.io), with that path. */
    const withPath = (text: string): string => {
      const end = text.endsWith('$') ? '$' : '';
      const spelled = matchedHost(literal);
      const start = spelled === literal.toLowerCase() ? text.slice(0, text.length - end.length) : spelled.replace(/[.]/g, '\\.');
      return `${start}/(.*)${end}`;
    };
    /** The host as names spell it, when `h` (in lower case) is spelled otherwise (a port's zeros, `:443`, Docker Hub's other hosts). */
    const respelled = (h: string): string | undefined => ((slash > 0 && matchedHost(h) !== h) || /:0+[1-9]/.test(h) ? (slash > 0 ? matchedHost(h) : h.replace(/:0+(?=[1-9])/, ':')) : undefined);
    if (/[A-Z]/.test(literal)) {
      why = `no name has the capitals of "${literal}" (a registry host is compared in lower case, and a path is lower case)`;
      // A first component that is no host in lower case either (`Bitnami/`) needs Docker Hub's too,
      // and a host spelled otherwise in lower case too (`Index\.docker\.io/`) its spelling.
      const lower = host.toLowerCase();
      const hub = whole && !wholeHost ? 'docker\\.io/library/' : slash > 0 && !(lower.includes('.') || lower.includes(':') || lower === 'localhost') ? 'docker\\.io/' : '';
      const spelled = hub === '' ? respelled(lower) : undefined;
      const start = spelled === undefined ? source.slice(0, at(literal.length)).toLowerCase() : spelled.replace(/[.]/g, '\\.') + source.slice(at(host.length), at(literal.length)).toLowerCase();
      fixed = hub + start + source.slice(at(literal.length));
      if (wholeHost) fixed = withPath(fixed);
    } else if (wholeHost) {
      why = `no name is "${literal}": a name has a path after its registry host`;
      fixed = withPath(source);
    } else if (whole) {
      why = `no name is "${literal}": a name starts with its registry host (docker.io/library/nginx)`;
      fixed = `docker\\.io/library/${source}`;
    } else if (slash > 0 && !(host.includes('.') || host.includes(':') || host === 'localhost')) {
      why = `no name starts with "${host}/": a name starts with its registry host (docker.io/library/nginx)`;
      fixed = `docker\\.io/${source}`;
    } else if (respelled(host) !== undefined) {
      const spelled = respelled(host) ?? host;
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
 * What a regex matches when that is decidable without a regex parser (src/core carries none): a
 * literal text, then a tail that takes any rest. `any`: `.*` (also in a group: `(.*)`, `(?:.*)`,
 * `(?<n>.*)`), the literal followed by anything; `some`: `.+` (and its groups), by anything but
 * nothing; `path`: `(/.*)?` or `(/.+)?` (and `(?:...)?`, `\/`), the literal alone or followed by a
 * path; `[^:]*` and `[^:]+` (and their groups, the README's catch-all `([^:]+)`) as `any` and
 * `some`, `portless`: any rest without a `:`, so no name whose port comes after the literal. Any
 * other source (another class, an alternation, a quantified literal...) is undefined: not decided,
 * so never warned about. `.` takes every character a name can hold (no line breaks).
 */
export interface OpenRegex {
  readonly literal: string;
  readonly tail: 'any' | 'some' | 'path';
  readonly portless?: true;
}

const OPEN_TAILS: ReadonlyMap<string, Omit<OpenRegex, 'literal'>> = (() => {
  const tails = new Map<string, Omit<OpenRegex, 'literal'>>();
  for (const [dots, tail] of [['.*', 'any'], ['.+', 'some'], ['[^:]*', 'any'], ['[^:]+', 'some']] as const) {
    const shape = dots.startsWith('[') ? { tail, portless: true as const } : { tail };
    tails.set(dots, shape);
    for (const open of ['(', '(?:']) {
      tails.set(`${open}${dots})`, shape);
      if (shape.portless !== true) for (const slash of ['/', '\\/']) tails.set(`${open}${slash}${dots})?`, { tail: 'path' });
    }
  }
  return tails;
})();

/** The source as an OpenRegex (its literal start and its open tail), or undefined when it is not one. */
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
  const shape = OPEN_TAILS.get(rest);
  return shape === undefined ? undefined : { literal, ...shape };
}

/**
 * True when a regex of that shape matches every name `result` + `rest`, where `rest` is `/` and a
 * path, or also nothing when `bare` (the rule's `match` prefix can be a whole name).
 */
export function takesEvery(open: OpenRegex, result: string, bare: boolean): boolean {
  if (open.tail === 'path') return hasPathPrefix(result, open.literal);
  // A path has no `:`: only a port of `result` after the literal can hold one.
  if (open.portless === true && result.slice(open.literal.length).includes(':')) return false;
  // A rest is never empty unless bare, and starts with `/`.
  if (!bare) return `${result}/`.startsWith(open.literal);
  return result.startsWith(open.literal) && (open.tail === 'any' || result.length > open.literal.length);
}
