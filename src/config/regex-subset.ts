/**
 * A parser for the part of the regex grammar that rules are written in (`quay\.io/(?<org>[^/]+)/(.+)`),
 * giving the tree regexpp gives for it, so that the regex check (src/config/regex-check.ts) can
 * analyse most rule regexes without regexpp.
 *
 * Hand-written because regexpp costs milliseconds at every Lambda cold start with a `regex` rule:
 * its chunk read and compiled, then its first parse run cold (docs/performance.md, cold start).
 * This subset is what people write in rules; anything else (and anything doubtful: the grammar's
 * web-compatibility Annex B reads `a{1`, `]` or `[\c]` as text) is declined, and the check reads
 * it with regexpp (src/config/regex-parse-full.ts). tests/unit/regex-subset.property.test.ts checks
 * on generated patterns that every tree this gives is regexpp's.
 *
 * The subset, for the flags rules are compiled with (none: code units, Annex B): alternation;
 * groups `(...)`, `(?:...)`, `(?<name>...)` with ASCII names; `^` and `$`; `.`; characters that
 * are not syntax, control or DEL characters; `\` before a syntax character, `/` or `-`;
 * `\d \D \w \W \s \S`; classes of those, with ranges between two single characters and `-` first
 * or last; and the quantifiers `* + ? {n} {n,} {n,m}`, greedy or lazy, after anything but an
 * assertion.
 */

export interface SubsetCharacter {
  readonly type: 'Character';
  /** A UTF-16 code unit: without the u flag, a character outside the BMP is two. */
  readonly value: number;
}
export type SubsetCharacterSet = { readonly type: 'CharacterSet'; readonly kind: 'any' } | SubsetEscapeSet;
interface SubsetEscapeSet {
  readonly type: 'CharacterSet';
  readonly kind: 'digit' | 'space' | 'word';
  readonly negate: boolean;
}
export interface SubsetCharacterClass {
  readonly type: 'CharacterClass';
  readonly negate: boolean;
  readonly elements: readonly (SubsetCharacter | SubsetEscapeSet | SubsetCharacterClassRange)[];
}
interface SubsetCharacterClassRange {
  readonly type: 'CharacterClassRange';
  readonly min: SubsetCharacter;
  readonly max: SubsetCharacter;
}
export interface SubsetGroup {
  readonly type: 'Group';
  readonly modifiers: null;
  readonly alternatives: readonly SubsetAlternative[];
}
export interface SubsetCapturingGroup {
  readonly type: 'CapturingGroup';
  readonly name: string | null;
  readonly alternatives: readonly SubsetAlternative[];
}
type SubsetAtom = SubsetCharacter | SubsetCharacterSet | SubsetCharacterClass | SubsetGroup | SubsetCapturingGroup;
export interface SubsetQuantifier {
  readonly type: 'Quantifier';
  readonly min: number;
  readonly max: number;
  readonly greedy: boolean;
  readonly element: SubsetAtom;
}
export interface SubsetAssertion {
  readonly type: 'Assertion';
  readonly kind: 'start' | 'end';
}
export type SubsetElement = SubsetAtom | SubsetQuantifier | SubsetAssertion;
export interface SubsetAlternative {
  readonly type: 'Alternative';
  readonly elements: readonly SubsetElement[];
}
export interface SubsetPattern {
  readonly type: 'Pattern';
  readonly alternatives: readonly SubsetAlternative[];
}

/** Escaped, these are themselves (outside and inside classes). */
const IDENTITY_ESCAPES = new Set('^$\\.*+?()[]{}|/-');
const ESCAPE_SETS: ReadonlyMap<string, SubsetEscapeSet> = new Map<string, SubsetEscapeSet>([
  ['d', { type: 'CharacterSet', kind: 'digit', negate: false }],
  ['D', { type: 'CharacterSet', kind: 'digit', negate: true }],
  ['s', { type: 'CharacterSet', kind: 'space', negate: false }],
  ['S', { type: 'CharacterSet', kind: 'space', negate: true }],
  ['w', { type: 'CharacterSet', kind: 'word', negate: false }],
  ['W', { type: 'CharacterSet', kind: 'word', negate: true }],
]);
/** Characters that start some other construct, or that Annex B reads as text only in some places. */
const NOT_LITERAL = new Set('^$\\.*+?()[]{}|');
const GROUP_NAME = /[A-Za-z_$][A-Za-z0-9_$]*/y;
/** `{n,m}` bounds of more digits are declined (no rule needs them; the full parser reads them). */
const MAX_DIGITS = 6;
/** Deeper nesting is declined rather than risking the stack (the full parser reads it). */
const MAX_DEPTH = 64;

/** Thrown inside the parser only, to give up on a pattern outside the subset; never escapes this module. */
class OutsideSubset extends Error {
  override readonly name = 'OutsideSubset';
}

/** regexpp's tree of `pattern` (read with the rules' flags), or undefined when it is outside the subset. */
export function parseSubsetPattern(pattern: string): SubsetPattern | undefined {
  try {
    return new SubsetParser(pattern).pattern();
  } catch (e) {
    if (e instanceof OutsideSubset) return undefined;
    throw e;
  }
}

function decline(): never {
  throw new OutsideSubset('outside the subset');
}

const character = (value: number): SubsetCharacter => ({ type: 'Character', value });

class SubsetParser {
  private pos = 0;
  private readonly names = new Set<string>();

  constructor(private readonly src: string) {}

  pattern(): SubsetPattern {
    const alternatives = this.alternatives(0);
    // Only an unmatched `)` stops the top level early.
    if (this.pos !== this.src.length) decline();
    return { type: 'Pattern', alternatives };
  }

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private alternatives(depth: number): SubsetAlternative[] {
    const list = [this.alternative(depth)];
    while (this.peek() === '|') {
      this.pos++;
      list.push(this.alternative(depth));
    }
    return list;
  }

  private alternative(depth: number): SubsetAlternative {
    const elements: SubsetElement[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) elements.push(this.term(depth));
    return { type: 'Alternative', elements };
  }

  private term(depth: number): SubsetElement {
    const c = this.peek();
    if (c === '^' || c === '$') {
      this.pos++;
      // A quantifier after it starts the next term, which declines it.
      return { type: 'Assertion', kind: c === '^' ? 'start' : 'end' };
    }
    return this.quantified(this.atom(depth));
  }

  private atom(depth: number): SubsetAtom {
    const c = this.peek();
    switch (c) {
      case '(':
        return this.group(depth + 1);
      case '[':
        return this.characterClass();
      case '.':
        this.pos++;
        return { type: 'CharacterSet', kind: 'any' };
      case '\\':
        return this.escape();
      default:
        // Quantifiers with nothing to repeat, and a lone `]` `{` `}` (text in Annex B).
        if (c === undefined || NOT_LITERAL.has(c)) decline();
        return this.literal();
    }
  }

  private literal(): SubsetCharacter {
    const code = this.src.charCodeAt(this.pos);
    if (code < 0x20 || code === 0x7f) decline();
    this.pos++;
    return character(code);
  }

  /** `\` and a syntax character, `/`, `-`, or a set; the same inside a class (where `\b` is declined). */
  private escape(): SubsetCharacter | SubsetEscapeSet {
    const c = this.src[this.pos + 1];
    if (c === undefined) decline();
    const set = ESCAPE_SETS.get(c);
    if (set === undefined && !IDENTITY_ESCAPES.has(c)) decline();
    this.pos += 2;
    return set ?? character(c.charCodeAt(0));
  }

  private group(depth: number): SubsetGroup | SubsetCapturingGroup {
    if (depth > MAX_DEPTH) decline();
    this.pos++;
    let name: string | null = null;
    let capturing = true;
    if (this.peek() === '?') {
      const kind = this.src[this.pos + 1];
      this.pos += 2;
      if (kind === ':') capturing = false;
      else if (kind === '<') name = this.groupName();
      // Lookarounds and modifiers.
      else decline();
    }
    const alternatives = this.alternatives(depth);
    if (this.peek() !== ')') decline();
    this.pos++;
    return capturing ? { type: 'CapturingGroup', name, alternatives } : { type: 'Group', modifiers: null, alternatives };
  }

  private groupName(): string {
    GROUP_NAME.lastIndex = this.pos;
    const name = GROUP_NAME.exec(this.src)?.[0];
    // No name is a lookbehind (`(?<=`); a name used twice, V8 refuses.
    if (name === undefined || this.src[this.pos + name.length] !== '>' || this.names.has(name)) decline();
    this.names.add(name);
    this.pos += name.length + 1;
    return name;
  }

  private characterClass(): SubsetCharacterClass {
    this.pos++;
    const negate = this.peek() === '^';
    if (negate) this.pos++;
    // `[]` and `[^]` match nothing and anything: nobody means them in a rule.
    if (this.peek() === ']') decline();
    const start = this.pos;
    const elements: SubsetCharacterClass['elements'][number][] = [];
    while (this.peek() !== ']') {
      const from = this.classAtom(this.pos === start);
      // A dash before `]` is text (`[a-z0-9.-]`), read by classAtom.
      if (this.peek() !== '-' || this.src[this.pos + 1] === ']') {
        elements.push(from);
        continue;
      }
      this.pos++;
      const to = this.classAtom(true);
      // `[\d-z]` is three atoms in Annex B and an error with the u flag: doubtful.
      if (from.type !== 'Character' || to.type !== 'Character' || from.value > to.value) decline();
      elements.push({ type: 'CharacterClassRange', min: from, max: to });
    }
    this.pos++;
    return { type: 'CharacterClass', negate, elements };
  }

  /** An atom of a class; a dash only where it is text in every grammar: first, last, or a range's end. */
  private classAtom(firstOrRangeEnd: boolean): SubsetCharacter | SubsetEscapeSet {
    const c = this.peek();
    // The end of the pattern, and `[` (text in a class, but doubtful).
    if (c === undefined || c === '[') decline();
    if (c === '-') {
      // Anywhere else (`[a-z-0]`, `[\w-.]`) whether it is text or a range takes a careful reading: declined.
      if (!firstOrRangeEnd && this.src[this.pos + 1] !== ']') decline();
      this.pos++;
      return character(0x2d);
    }
    return c === '\\' ? this.escape() : this.literal();
  }

  private quantified(element: SubsetAtom): SubsetAtom | SubsetQuantifier {
    let min: number;
    let max: number;
    switch (this.peek()) {
      case '*':
        [min, max] = [0, Infinity];
        break;
      case '+':
        [min, max] = [1, Infinity];
        break;
      case '?':
        [min, max] = [0, 1];
        break;
      case '{':
        [min, max] = this.braces();
        break;
      default:
        return element;
    }
    this.pos++;
    const greedy = this.peek() !== '?';
    if (!greedy) this.pos++;
    return { type: 'Quantifier', min, max, greedy, element };
  }

  /** `{n}`, `{n,}` or `{n,m}`, leaving the position on the `}`; any other `{` (text in Annex B) is declined. */
  private braces(): [number, number] {
    this.pos++;
    const min = this.digits();
    if (this.peek() === '}') return [min, min];
    if (this.peek() !== ',') decline();
    this.pos++;
    const max = this.peek() === '}' ? Infinity : this.digits();
    if (this.peek() !== '}' || min > max) decline();
    return [min, max];
  }

  private digits(): number {
    const start = this.pos;
    for (let c = this.peek(); c !== undefined && c >= '0' && c <= '9'; c = this.peek()) this.pos++;
    const count = this.pos - start;
    if (count === 0 || count > MAX_DIGITS) decline();
    return Number(this.src.slice(start, this.pos));
  }
}
