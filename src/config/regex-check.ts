/**
 * The check of a rule regex at load: it must compile, and must not be able to backtrack for long
 * (src/config/schema.ts reports what this returns as an issue at the rule's `regex`).
 *
 * The analysis reads a syntax tree of the pattern from the subset parser (src/config/regex-subset.ts),
 * which reads the regexes rules are written with, or from regexpp (src/config/regex-parse-full.ts)
 * for the others. The Lambda loads this module with `import()` only when a rules document has a
 * `regex` rule, and regexpp only when one of its regexes is outside the subset
 * (src/config/load-async.ts; docs/performance.md, cold start): the tree is typed here by the fields
 * the analysis reads, which both parsers' trees have, so this module does not import regexpp.
 */
import { parseSubsetPattern } from './regex-subset.js';

/**
 * How the rewriter compiles a rule regex (src/core/rules.ts: `anchoredRuleSource` and
 * `RULE_REGEX_FLAGS`), given by the caller (src/config/rules-text.ts): imported here, the core's
 * code would be shared by this module and the Lambda's entry, and esbuild would move it to a chunk
 * of its own, one more file to load at every cold start.
 */
export interface RuleRegexCompile {
  readonly anchored: (source: string) => string;
  readonly flags: string;
}

/**
 * A syntax tree of a rule regex, by the fields the analysis reads: regexpp's `AST.Pattern` has
 * them (the compiler checks it where src/config/load.ts passes regexpp's parse), and so has the
 * subset parser's tree.
 */
export interface RegexTree {
  readonly type: 'Pattern';
  readonly alternatives: readonly Alternative[];
}
interface Alternative {
  readonly type: 'Alternative';
  readonly elements: readonly Element[];
}
type Element =
  | { readonly type: 'Group'; readonly modifiers: object | null; readonly alternatives: readonly Alternative[] }
  | { readonly type: 'CapturingGroup'; readonly alternatives: readonly Alternative[] }
  | { readonly type: 'Quantifier'; readonly min: number; readonly max: number; readonly element: Element }
  | { readonly type: 'Assertion'; readonly kind: 'start' | 'end' | 'word' | 'lookahead' | 'lookbehind' }
  | { readonly type: 'Backreference'; readonly raw: string }
  | { readonly type: 'ExpressionCharacterClass'; readonly raw: string }
  | CharacterClass
  | Character
  | CharacterSet;
interface Character {
  readonly type: 'Character';
  readonly value: number;
}
type CharacterSet = { readonly type: 'CharacterSet'; readonly kind: 'any' } | { readonly type: 'CharacterSet'; readonly kind: 'digit' | 'space' | 'word' | 'property'; readonly negate: boolean };
interface CharacterClass {
  readonly type: 'CharacterClass';
  readonly negate: boolean;
  readonly elements: readonly ClassElement[];
}
type ClassElement =
  | Character
  | CharacterSet
  | CharacterClass
  | { readonly type: 'CharacterClassRange'; readonly min: Character; readonly max: Character }
  // Only with the v flag (never in rules): counted as any character.
  | { readonly type: 'ClassStringDisjunction' | 'ExpressionCharacterClass' };

/** The parsers the check reads a pattern with. */
export interface RegexParsers {
  /**
   * regexpp's parse (src/config/regex-parse-full.ts), for a pattern the subset parser declines; a
   * pattern neither reads is an issue, never accepted unread.
   */
  readonly full?: ((pattern: string) => RegexTree) | undefined;
  /** False: every pattern is read by `full` (the tests compare the two readings). */
  readonly subset?: boolean;
}

/** How much of a pattern V8's message may quote; past it the quote is cut (a regex of 700 KB was one line). */
const QUOTED_PATTERN_CHARS = 120;

/** V8's message for a pattern that does not parse, its quote of the pattern cut to QUOTED_PATTERN_CHARS. */
function parseErrorMessage(e: unknown): string {
  const message = (e as Error).message;
  const m = /^Invalid regular expression: \/([\s\S]*)\/([a-z]*): (.*)$/.exec(message);
  if (m === null || (m[1] ?? '').length <= QUOTED_PATTERN_CHARS) return message;
  return `Invalid regular expression: /${(m[1] ?? '').slice(0, QUOTED_PATTERN_CHARS)}.../${m[2] ?? ''}: ${m[3] ?? ''}`;
}

/**
 * Groups (of any kind) nested deeper than this are refused before V8 compiles the pattern: its
 * regex compiler recurses once per level with no stack check, and a few thousand levels of
 * `(?:a(?:a...)?)?` (or of lookaheads, or of plain groups) ended the process with `FATAL ERROR:
 * RegExpCompiler Allocation failed` (exit 134, past every catch), at load in every adapter; from
 * about half as many the parsers here overflowed the stack
 * (docs/performance.md, "Figures behind the comments"). Rules need a few levels.
 */
export const MAX_GROUP_NESTING = 256;

/** Each index of `source` that is neither escaped nor in a character class (nor a class's `[`), in order. */
function* outsideClasses(source: string): Generator<number> {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else yield i;
  }
}

/** The index of the first `(` that opens a group deeper than MAX_GROUP_NESTING (not escaped, not in a class), if any. */
function tooDeepGroup(source: string): number | undefined {
  let depth = 0;
  for (const i of outsideClasses(source)) {
    const c = source[i];
    if (c === ')') depth--;
    else if (c === '(' && ++depth > MAX_GROUP_NESTING) return i;
  }
  return undefined;
}

/** `(?<name>` at a position, its name (identifier characters and `\u` escapes: nothing that starts another group). */
const GROUP_NAME = /\(\?<([$\w\u0080-\uffff\\{}]+)>/y;
/** ES2025's inline modifiers at a position: `(?i:`, `(?-s:`, `(?im-s:`. */
const MODIFIERS = /\(\?(?:[ims]+(?:-[ims]*)?|-[ims]+):/y;

/** A group name with its `\u0061` and `\u{61}` escapes read: one name however it is spelled. */
const groupName = (raw: string): string =>
  raw.replace(/\\u\{([0-9a-fA-F]{1,6})\}|\\u([0-9a-fA-F]{4})/g, (all, braced?: string, four?: string) => {
    const code = Number.parseInt(braced ?? four ?? '', 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : all;
  });

/**
 * Syntax of ES2025 that Node.js 24's V8 compiles and older ones refuse: a group name given twice
 * (allowed there in different alternatives, `(?<h>a)|(?<h>b)`) and inline modifiers (`(?i:...)`).
 * Refused before V8 sees the source, with one message whatever the Node.js: the Lambda and the
 * container image run 24, a laptop's or a CI job's check-config may run 20 or 22, and a rules
 * document must not be valid on one and refused on the other. One pass over the source, outside
 * escapes and classes (each name is read up to the first character no name has, so no part of
 * the source is read twice).
 */
export function newerEditionSyntax(source: string): string | undefined {
  const names = new Set<string>();
  for (const i of outsideClasses(source)) {
    if (source[i] !== '(' || source[i + 1] !== '?') continue;
    GROUP_NAME.lastIndex = i;
    const raw = GROUP_NAME.exec(source)?.[1];
    if (raw !== undefined) {
      const name = groupName(raw);
      if (names.has(name)) return `names the group "${name}" twice: give each group its own name (Node.js 24 allows a name twice in different alternatives, older versions refuse it, and rules must mean the same on every version)`;
      names.add(name);
      continue;
    }
    MODIFIERS.lastIndex = i;
    if (MODIFIERS.test(source)) return 'uses inline modifiers like (?i:...), which are not supported in rules';
  }
  return undefined;
}

/** The source compiled as the rewriter compiles it, or why it does not compile. */
function compiled(source: string, compile: RuleRegexCompile): { readonly anchored: string } | { readonly problem: string } {
  const newer = newerEditionSyntax(source);
  if (newer !== undefined) return { problem: newer };
  const anchored = compile.anchored(source);
  try {
    // Both: the source alone must be a regex (`a)|(b` is not, though it fits in the anchoring).
    // Only parsed here (V8's parser keeps its own stack and reports "Stack overflow" as a SyntaxError).
    new RegExp(source, compile.flags);
    new RegExp(anchored, compile.flags);
  } catch (e) {
    return { problem: `does not compile: ${parseErrorMessage(e)}` };
  }
  const deep = tooDeepGroup(source);
  if (deep !== undefined) return { problem: `nests groups more than ${MAX_GROUP_NESTING} deep (at character ${deep + 1}); write it with fewer groups inside one another` };
  try {
    // `new RegExp` only parses: V8 compiles at the first exec, where a pattern past its size limit
    // throws "Regular expression too large" (about 32,000 classes in a row). Compile the largest
    // form the rewriter runs, the group-counting probe of src/core/replace-template.ts (`groupsOf`).
    // The empty alternative first: V8 compiles the whole pattern before it matches, and matches ''
    // at once. After the pattern (`...|`), a pattern that fails on '' was run first, and one that
    // backtracks, not yet analysed, held the process for good: `((?:\S{7}a||){7}\/|x+){7}\$`
    // (found by the subset parser's property test) hung check-config, a cold start, a reload.
    new RegExp(`|${new RegExp(anchored, compile.flags).source}`, compile.flags).exec('');
  } catch (e) {
    // V8's message quotes the whole pattern, here some hundred kilobytes: keep only its reason.
    const reason = (e as Error).message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, '');
    return { problem: `does not compile: ${reason} (V8's limit on a compiled regex: split it into several rules)` };
  }
  return { anchored };
}

/**
 * Whether the check of `source` needs regexpp (`full`): it compiles and the subset parser declines
 * it. The Lambda asks before validating a document (validation is synchronous, so it cannot load
 * regexpp when it meets such a source).
 */
export function needsFullParser(source: string, compile: RuleRegexCompile): boolean {
  const c = compiled(source, compile);
  return 'anchored' in c && parseSubsetPattern(c.anchored) === undefined;
}

/**
 * Reject regexes that can backtrack for a long time: a repeated group that contains another
 * variable repetition or an alternation (`(a+)+`, `(a?){20}`, `(a|a)*`), backreferences of any
 * spelling (`\1`, `\k<name>`), lookarounds, and more than MAX_CHOICE_POINTS places where the match
 * can be split several ways (see `choicePoints`: `.*.*.*x` is cubic, `a?a?...a?aaa...` exponential).
 * What remains is at most quadratic in the length of the name, which the rewriter bounds
 * (MAX_DOMAIN_LENGTH in src/core/matched-name.ts). The analysed pattern is exactly the one the rewriter
 * compiles (`anchoredRuleSource`, with the same flags), so a source cannot read one way here and
 * another way there; anything the analysis does not know is refused, not guessed at.
 */
export function regexProblem(source: string, compile: RuleRegexCompile, parsers: RegexParsers = {}): string | undefined {
  const c = compiled(source, compile);
  if ('problem' in c) return c.problem;
  const unicodeOnly = unicodeOnlyEscape(source);
  if (unicodeOnly !== undefined) return unicodeOnly;
  let pattern: RegexTree | undefined;
  try {
    pattern = (parsers.subset === false ? undefined : parseSubsetPattern(c.anchored)) ?? parsers.full?.(c.anchored);
  } catch (e) {
    return `cannot be analysed: ${(e as Error).message}`;
  }
  if (pattern === undefined) return 'cannot be analysed (internal error: the regex parser for it was not loaded)';
  const structural = structuralProblem(pattern, false);
  if (structural !== undefined) return structural;
  const choices = choicePoints(pattern);
  if (choices > MAX_CHOICE_POINTS) {
    return `has ${choices} repetitions or alternations that can end at more than one place (like .*.*), which can backtrack for seconds on a long name; allow at most ${MAX_CHOICE_POINTS}: make each repetition stop at a character it cannot match (like [^/]+/ or [a-z]+\\.)`;
  }
  return undefined;
}

/**
 * An escape that means something only with the u or v flag (`\p{L}`, `\P{Lu}`, `\u{61}`): rules are
 * compiled without flags, where V8 reads it as plain text (`p{L}`; `u` 61 times) and the rule
 * silently matches other names than meant (`p{L}`: none), so it is refused with how it is read there.
 */
function unicodeOnlyEscape(source: string): string | undefined {
  for (let i = 0; i < source.length; i++) {
    if (source[i] !== '\\') continue;
    const escape = /^\\[pPu]\{[^}]*\}?/.exec(source.slice(i, i + 40))?.[0];
    if (escape !== undefined) {
      const means = escape[1] === 'u' ? `the letter "u" then "${escape.slice(2)}" (a repetition of it, or text)` : `the text "${escape.slice(1)}"`;
      return `uses ${escape}, which needs the u flag: rules are compiled without flags, where it is read as ${means}, not as an escape; write a class ([a-z0-9]) or the character itself`;
    }
    i++; // the escaped character, whatever it is (`\\p{L}` is a backslash, then the text p{L})
  }
  return undefined;
}

type RegexNode = RegexTree | Alternative | Element;

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
const MAX_CHOICE_POINTS = 1;

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

type SetNode = Element | ClassElement;

function setBits(t: SetNode): bigint {
  switch (t.type) {
    case 'Character':
      return bit(t.value);
    case 'CharacterClassRange':
      return rangeBits(t.min.value, t.max.value);
    case 'CharacterClass': {
      const bits = t.elements.reduce((acc, x) => acc | setBits(x), 0n);
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
function choicePoints(pattern: RegexTree): number {
  const seq = (elements: readonly Element[], follow: bigint): Scan => {
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
  const alternatives = (options: readonly Alternative[], follow: bigint): Scan => {
    const scans = options.map((o) => seq(o.elements, follow));
    const overlap = scans.some((a, i) => scans.slice(i + 1).some((b) => (a.first & b.first) !== 0n || (a.nullable && b.nullable)));
    return {
      first: scans.reduce((acc, x) => acc | x.first, 0n),
      chars: scans.reduce((acc, x) => acc | x.chars, 0n),
      nullable: scans.some((x) => x.nullable),
      choices: scans.reduce((acc, x) => acc + x.choices, overlap ? 1 : 0),
    };
  };
  const one = (t: Element, after: bigint): Scan => {
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
