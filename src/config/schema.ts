/**
 * The rules document: its only definition (zod), strict (unknown fields are errors), with every
 * problem reported at once, each with its path (`rules[2].replace: ...`).
 *
 * Structure and per-field syntax live here (a regex is compiled and checked for catastrophic
 * backtracking during validation, so a bad one is an issue, not a crash); meaning that needs the
 * environment or several rules at once (substitutions, duplicates, shadowing) is checked by
 * `compileRules` in src/core/rules.ts. `validateDocument` runs both.
 *
 * It uses `zod/mini`: zod 4's own core and messages without the chainable API, so the bundle
 * carries only the schema types used here (every message and path is the same as with `zod`;
 * the bundle and cold-start figures are in docs/performance.md).
 */
import { type AST, RegExpParser } from '@eslint-community/regexpp';
import * as z from 'zod/mini';
import { type CompileResult, type Issue, ON_MISSING, ON_UNREACHABLE, type PathSegment, type Rewriter, compileRules, anchoredRuleSource, RULE_REGEX_FLAGS } from '../core/rules.js';
import { grammar } from '../core/reference.js';
import type { RuleSpec, RulesDocument } from '../core/rule-spec.js';


// Documents are validated once per load, never per request: zod's compiled (`new Function`) object
// parsers would cost more to generate at a cold start than they save (docs/performance.md), and
// no eval is the safer default anyway.
z.config({ jitless: true });

/** A Kubernetes object name (DNS subdomain), as used for Secrets. */
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ruleName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** `os/architecture[/variant]`, as in an image index (`linux/arm64/v8`). */
const platform = /^[a-z0-9._-]+\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/;
const namespaceGlob = /^[a-z0-9*?]([-a-z0-9*?]*)$/;

/** Normalized-name prefix: a registry host, then optional repository path components. */
function prefixProblem(value: string): string | undefined {
  // `${value}/x` so that a bare host with a port (`localhost:5000`) is accepted as a prefix.
  if (!grammar.anchoredName.test(`${value}/x`)) return 'is not a valid image name prefix (registry host, then optional /path)';
  const first = value.split('/')[0] ?? '';
  if (first === 'index.docker.io') return `names are normalized to docker.io; write "docker.io${value.slice(first.length)}"`;
  if (!(first.includes('.') || first.includes(':') || first === 'localhost') && first.toLowerCase() === first) {
    const suggestion = value.includes('/') ? `docker.io/${value}` : `docker.io/library/${value}`;
    return `"${value}" does not start with a registry host; image names are compared in normalized form, did you mean "${suggestion}"?`;
  }
  return undefined;
}

const prefix = z.string().check(
  z.superRefine((v, ctx) => {
    const p = prefixProblem(v);
    if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
  }),
);

/**
 * The parser that reads a rule regex the way V8 runs it: ECMAScript's grammar with its Annex B
 * (web compatibility) syntax, no flags (RULE_REGEX_FLAGS), the syntax of the newest edition (a
 * construct V8 does not support is refused by V8's compile first). regexpp is the parser ESLint's
 * own rules rely on; it is checked against V8 on generated sources by
 * tests/unit/regex-check.property.test.ts.
 */
const regexParser = new RegExpParser({ ecmaVersion: 2025, strict: false });

/** The syntax tree of a rule regex pattern as V8 reads it with RULE_REGEX_FLAGS; throws a SyntaxError. */
export function parseRulePattern(pattern: string): AST.Pattern {
  return regexParser.parsePattern(pattern, 0, pattern.length, { unicode: false, unicodeSets: false });
}

/**
 * Reject regexes that can backtrack for a long time: a repeated group that contains another
 * variable repetition or an alternation (`(a+)+`, `(a?){20}`, `(a|a)*`), backreferences of any
 * spelling (`\1`, `\k<name>`), lookarounds, and more than MAX_CHOICE_POINTS places where the match
 * can be split several ways (see `choicePoints`: `.*.*.*x` is cubic, `a?a?...a?aaa...` exponential).
 * What remains is at most quadratic in the length of the name, which the rewriter bounds
 * (MAX_DOMAIN_LENGTH in src/core/rules.ts). The analysed pattern is exactly the one the rewriter
 * compiles (`anchoredRuleSource`, with the same flags), so a source cannot read one way here and
 * another way there; anything the analysis does not know is refused, not guessed at.
 */
function regexProblem(source: string): string | undefined {
  const anchored = anchoredRuleSource(source);
  try {
    // Both: the source alone must be a regex (`a)|(b` is not, though it fits in the anchoring).
    new RegExp(source, RULE_REGEX_FLAGS);
    new RegExp(anchored, RULE_REGEX_FLAGS);
  } catch (e) {
    return `does not compile: ${(e as Error).message}`;
  }
  let pattern: AST.Pattern;
  try {
    pattern = parseRulePattern(anchored);
  } catch (e) {
    return `cannot be analysed: ${(e as Error).message}`;
  }
  const structural = structuralProblem(pattern, false);
  if (structural !== undefined) return structural;
  const choices = choicePoints(pattern);
  if (choices > MAX_CHOICE_POINTS) {
    return `has ${choices} repetitions or alternations that can end at more than one place (like .*.*), which can backtrack for seconds on a long name; allow at most ${MAX_CHOICE_POINTS}: make each repetition stop at a character it cannot match (like [^/]+/ or [a-z]+\\.)`;
  }
  return undefined;
}

type RegexNode = AST.Pattern | AST.Alternative | AST.Element;

/** The first construct that can backtrack exponentially (or that the analysis cannot read), if any. */
function structuralProblem(node: RegexNode, insideRepeat: boolean): string | undefined {
  const all = (nodes: readonly RegexNode[], inside: boolean): string | undefined => {
    for (const n of nodes) {
      const p = structuralProblem(n, inside);
      if (p !== undefined) return p;
    }
    return undefined;
  };
  switch (node.type) {
    case 'Pattern':
      return all(node.alternatives, insideRepeat);
    case 'Alternative':
      return all(node.elements, insideRepeat);
    case 'Group':
    case 'CapturingGroup':
      if (node.type === 'Group' && node.modifiers !== null) return 'uses inline modifiers like (?i:...), which are not supported in rules';
      if (insideRepeat && node.alternatives.length > 1) return 'repeats an alternation (like (a|b)*), which can backtrack exponentially; use a character class';
      return all(node.alternatives, insideRepeat);
    case 'Quantifier': {
      const unbounded = node.max > 1;
      if (insideRepeat && (unbounded || node.min !== node.max)) return 'nests a repetition inside a repetition (like (a+)+), which can backtrack exponentially';
      return structuralProblem(node.element, insideRepeat || unbounded);
    }
    case 'Backreference':
      return `uses a backreference (${node.raw}), which can backtrack exponentially`;
    case 'Assertion':
      if (node.kind === 'lookahead') return 'uses a lookahead, which is not supported in rules';
      if (node.kind === 'lookbehind') return 'uses a lookbehind, which is not supported in rules';
      return undefined;
    case 'Character':
    case 'CharacterClass':
    case 'CharacterSet':
      return undefined;
    case 'ExpressionCharacterClass':
      return `cannot be analysed: ${node.raw} needs the v flag`;
  }
}

/** At most this many ambiguous repetitions or alternations in one regex (see `choicePoints`). */
export const MAX_CHOICE_POINTS = 1;

// Character sets as bitmaps: one bit per ASCII character, and bit 128 for every other character
// (image names are ASCII, so that bit only makes the analysis more conservative).
const OTHER = 128n;
const bit = (code: number): bigint => 1n << (code < 128 ? BigInt(code) : OTHER);
const ALL = (1n << (OTHER + 1n)) - 1n;
function rangeBits(from: number, to: number): bigint {
  let bits = 0n;
  for (let c = from; c <= Math.min(to, 127); c++) bits |= 1n << BigInt(c);
  return to >= 128 ? bits | (1n << OTHER) : bits;
}
/** A negated set still matches some non-ASCII character, whatever non-ASCII ones it lists. */
const negated = (bits: bigint): bigint => ALL & ~(bits & ~(1n << OTHER));
const DIGITS = rangeBits(0x30, 0x39);
const WORD = DIGITS | rangeBits(0x41, 0x5a) | rangeBits(0x61, 0x7a) | bit(0x5f);
/** `\s`: the ASCII white space (tab to carriage return, space) and many non-ASCII characters. */
const SPACE = rangeBits(0x09, 0x0d) | bit(0x20) | (1n << OTHER);
/** `.` without the s flag: everything but the line terminators. */
const DOT = ALL & ~bit(0x0a) & ~bit(0x0d);

type SetNode = AST.Character | AST.CharacterClass | AST.CharacterSet | AST.CharacterClassRange | AST.CharacterClassElement | AST.ExpressionCharacterClass;

function setBits(t: SetNode): bigint {
  switch (t.type) {
    case 'Character':
      return bit(t.value);
    case 'CharacterClassRange':
      return rangeBits(t.min.value, t.max.value);
    case 'CharacterClass': {
      const bits = (t.elements as readonly AST.CharacterClassElement[]).reduce((acc, x) => acc | setBits(x), 0n);
      return t.negate ? negated(bits) : bits;
    }
    case 'CharacterSet': {
      if (t.kind === 'any') return DOT;
      if (t.kind === 'property') return ALL;
      const bits = t.kind === 'digit' ? DIGITS : t.kind === 'word' ? WORD : SPACE;
      return t.negate ? negated(bits) : bits;
    }
    default:
      // Unicode sets (v flag only): never reached with the rules' flags; counted as any character.
      return ALL;
  }
}

interface Scan {
  /** Characters the part can start with. */
  readonly first: bigint;
  /** Characters the part can match anywhere. */
  readonly chars: bigint;
  readonly nullable: boolean;
  readonly choices: number;
}

/**
 * How many places in a (structurally safe) regex can end at more than one position: a variable
 * repetition whose characters can also start what follows it (`.*` before `.`, `[a-z]*` before
 * `a`), or an alternation whose branches can start with the same character. Each such place
 * multiplies the backtracking by up to the length of the name; a repetition that stops at a
 * character it cannot match (`[^/]+/`) has one way to end and does not count.
 */
function choicePoints(pattern: AST.Pattern): number {
  const seq = (elements: readonly AST.Element[], follow: bigint): Scan => {
    let after = follow;
    let first = 0n;
    let chars = 0n;
    let nullable = true;
    let choices = 0;
    for (let i = elements.length - 1; i >= 0; i--) {
      const t = elements[i];
      if (t === undefined) continue;
      const s = one(t, after);
      choices += s.choices;
      chars |= s.chars;
      first = s.nullable ? first | s.first : s.first;
      nullable &&= s.nullable;
      after = s.nullable ? after | s.first : s.first;
    }
    return { first, chars, nullable, choices };
  };
  const alternatives = (options: readonly AST.Alternative[], follow: bigint): Scan => {
    const scans = options.map((o) => seq(o.elements, follow));
    const overlap = scans.some((a, i) => scans.slice(i + 1).some((b) => (a.first & b.first) !== 0n || (a.nullable && b.nullable)));
    return {
      first: scans.reduce((acc, x) => acc | x.first, 0n),
      chars: scans.reduce((acc, x) => acc | x.chars, 0n),
      nullable: scans.some((x) => x.nullable),
      choices: scans.reduce((acc, x) => acc + x.choices, overlap ? 1 : 0),
    };
  };
  const one = (t: AST.Element, after: bigint): Scan => {
    switch (t.type) {
      case 'Group':
      case 'CapturingGroup':
        return alternatives(t.alternatives, after);
      case 'Quantifier': {
        const body = one(t.element, after | (t.max > 1 ? one(t.element, after).first : 0n));
        const ambiguous = t.min !== t.max && (body.chars & after) !== 0n;
        return { first: body.first, chars: body.chars, nullable: t.min === 0 || body.nullable, choices: body.choices + (ambiguous ? 1 : 0) };
      }
      case 'Assertion':
        return { first: 0n, chars: 0n, nullable: true, choices: 0 };
      case 'Character':
      case 'CharacterClass':
      case 'CharacterSet':
      case 'ExpressionCharacterClass': {
        const bits = setBits(t);
        return { first: bits, chars: bits, nullable: false, choices: 0 };
      }
      case 'Backreference':
        return { first: ALL, chars: ALL, nullable: true, choices: 1 };
    }
  };
  return alternatives(pattern.alternatives, 0n).choices;
}

const namespaceList = (): z.ZodMiniOptional<z.ZodMiniArray<z.ZodMiniString>> =>
  z.optional(z.array(z.string().check(z.regex(namespaceGlob, 'must be a namespace name, "*" and "?" allowed'))).check(z.minLength(1)));

const ruleShape = {
  name: z.string().check(z.regex(ruleName, 'must be letters, digits, "-", "_" or "." (starting and ending with a letter or digit)')),
  match: z.optional(prefix),
  regex: z.optional(
    z.string().check(
      z.minLength(1, 'must not be empty'),
      z.superRefine((v, ctx) => {
        const p = regexProblem(v);
        if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
      }),
    ),
  ),
  replace: z.string().check(z.minLength(1, 'must not be empty')),
  namespaces: namespaceList(),
  excludeNamespaces: namespaceList(),
  imagePullSecrets: z.optional(z.array(z.string().check(z.regex(dnsSubdomain, 'must be a Secret name'))).check(z.minLength(1))),
  verify: z.optional(z.boolean()),
  onMissing: z.optional(z.enum(ON_MISSING)),
  onUnreachable: z.optional(z.enum(ON_UNREACHABLE)),
  platforms: z.optional(z.array(z.string().check(z.regex(platform, 'must be os/architecture[/variant], like linux/amd64 or linux/arm64/v8'))).check(z.minLength(1))),
};

// The schemas validate into the core's types (src/core/rule-spec.ts): `satisfies` fails to
// compile when what they produce stops being a RuleSpec or a RulesDocument.
export const ruleSchema = z.strictObject(ruleShape).check(
  z.superRefine((r, ctx) => {
    if (r.match === undefined && r.regex === undefined) ctx.addIssue({ code: 'custom', message: 'needs one of "match" or "regex"' });
    if (r.match !== undefined && r.regex !== undefined) ctx.addIssue({ code: 'custom', message: 'has both "match" and "regex"; use one' });
    if (r.verify !== true) {
      for (const field of ['onMissing', 'onUnreachable', 'platforms'] as const) {
        if (r[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'applies only with "verify: true"' });
      }
    }
  }),
) satisfies z.ZodMiniType<RuleSpec>;

export const rulesDocumentSchema = z.strictObject({
  rules: z.array(ruleSchema),
  exclude: z.optional(z.array(prefix)),
  allowOptOut: z.optional(z.boolean()),
}) satisfies z.ZodMiniType<RulesDocument>;

const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': ['rules', 'exclude', 'allowOptOut'],
  rule: Object.keys(ruleShape),
};

/** Levenshtein distance, for "did you mean" on unknown fields (tiny and ours). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

/** A key written bare in a path; any other key (empty, with dots, spaces...) is quoted: `rules[0][""]`. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `rules[2].replace` from a path (`['rules', 2, 'replace']`); '' for the empty path. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (PLAIN_KEY.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** Where an issue is, as printed: `rules[2].replace`, `(line 3, column 7)`, or `(document)`. */
export function issueWhere(issue: Issue): string {
  if (issue.position !== undefined) return `(line ${issue.position.line}, column ${issue.position.column})`;
  return formatPath(issue.path) || '(document)';
}

/** One issue as printed: `rules[2].replace: must not be empty`. */
export function formatIssue(issue: Issue): string {
  return `${issueWhere(issue)}: ${issue.message}`;
}

/** A zod path as a document path (zod allows symbol keys; a document has none, but print them anyway). */
const segments = (path: readonly PropertyKey[]): PathSegment[] => path.map((p) => (typeof p === 'number' ? p : String(p)));

function issuesFromZod(error: z.core.$ZodError): Issue[] {
  const out: Issue[] = [];
  for (const i of error.issues) {
    if (i.code === 'unrecognized_keys') {
      const known = KNOWN_KEYS[i.path.length === 0 ? '' : 'rule'] ?? [];
      for (const key of i.keys) {
        const best = [...known].sort((a, b) => distance(key, a) - distance(key, b))[0];
        const hint = best !== undefined && distance(key, best) <= 2 ? ` (did you mean "${best}"?)` : ` (known fields: ${known.join(', ')})`;
        out.push({ path: segments([...i.path, key]), severity: 'error', message: `unknown field${hint}` });
      }
      continue;
    }
    let message = i.message;
    if (i.code === 'invalid_type') message = i.input === undefined ? 'is required' : `must be ${i.expected === 'array' ? 'a list' : i.expected === 'object' ? 'a mapping' : `a ${i.expected}`}`;
    out.push({ path: segments(i.path), severity: 'error', message });
  }
  return out;
}

export type ValidationResult =
  | { readonly ok: true; readonly document: RulesDocument; readonly rewriter: Rewriter; readonly warnings: readonly Issue[] }
  | { readonly ok: false; readonly issues: readonly Issue[] };

/**
 * Validate a parsed rules document (any value) and compile it. Every problem is reported at once:
 * rules that pass the schema are still compiled when others do not, so an unset variable in one
 * rule and a typo in another show up together.
 */
export function validateDocument(input: unknown, env: Readonly<Record<string, string | undefined>>): ValidationResult {
  const parsed = rulesDocumentSchema.safeParse(input, { reportInput: true });
  if (parsed.success) {
    const compiled: CompileResult = compileRules(parsed.data, env);
    return compiled.ok
      ? { ok: true, document: parsed.data, rewriter: compiled.rewriter, warnings: compiled.warnings }
      : { ok: false, issues: compiled.issues };
  }
  const issues = issuesFromZod(parsed.error);
  // Compile the rules that are valid on their own, to report their problems as well.
  if (typeof input === 'object' && input !== null && Array.isArray((input as { rules?: unknown }).rules)) {
    const raw = (input as { rules: unknown[] }).rules;
    const good: RuleSpec[] = [];
    const indexOf: number[] = [];
    raw.forEach((r, i) => {
      const one = ruleSchema.safeParse(r, { reportInput: true });
      if (one.success) {
        good.push(one.data);
        indexOf.push(i);
      }
    });
    const partial = compileRules({ rules: good }, env);
    if (!partial.ok) {
      for (const i of partial.issues) {
        if (i.severity !== 'error') continue;
        const [first, index, ...rest] = i.path;
        const path = first === 'rules' && typeof index === 'number' ? ['rules', indexOf[index] ?? index, ...rest] : i.path;
        issues.push({ ...i, path, message: i.message.replace(/rules\[(\d+)\]/g, (_m, n: string) => `rules[${indexOf[Number(n)] ?? n}]`) });
      }
    }
  }
  return { ok: false, issues: sortIssues(issues) };
}

function sortIssues(issues: Issue[]): Issue[] {
  return issues
    .map((i, n) => ({ i, n, k: i.path }))
    .sort((a, b) => {
      for (let j = 0; j < Math.min(a.k.length, b.k.length); j++) {
        const x = a.k[j];
        const y = b.k[j];
        if (typeof x === 'number' && typeof y === 'number' && x !== y) return x - y;
        if (x !== y) break;
      }
      return a.n - b.n;
    })
    .map(({ i }) => i);
}
