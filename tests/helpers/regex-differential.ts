/**
 * A differential check of the rules' regex parser (regexpp, src/config/regex-parse-full.ts) against V8: the
 * syntax tree the parser reads is written back out in a spelling that leaves no room for reading
 * (every character as `\uXXXX`, every quantifier as `{min,max}`), and V8 must then run both the
 * source and that rewrite the same way: both compile or neither, the same groups, the same matches
 * on a set of subjects. A source the parser reads differently from V8 (a `\c` that hides a bracket,
 * a `\k<name>` read as text) shows up as a different match.
 */
import { type AST, visitRegExpAST } from '@eslint-community/regexpp';
import fc from 'fast-check';
import { newerEditionSyntax } from '../../src/config/regex-check.js';
import { parseRulePattern } from '../../src/config/regex-parse-full.js';

const hex4 = (n: number): string => `\\u${n.toString(16).padStart(4, '0')}`;

/** The pattern of a syntax tree, in an unambiguous spelling. */
export function canonical(node: AST.Node): string {
  const all = (alts: readonly AST.Alternative[]): string => alts.map(canonical).join('|');
  switch (node.type) {
    case 'Pattern':
      return all(node.alternatives);
    case 'Alternative':
      // `(?:)` between elements, so that `\1` then a digit cannot become `\10`.
      return node.elements.map((e) => `(?:${canonical(e)})`).join('');
    case 'Group':
      return `(?${node.modifiers === null ? '' : node.modifiers.raw}:${all(node.alternatives)})`;
    case 'CapturingGroup':
      return `(${node.name === null ? '' : `?<${node.name}>`}${all(node.alternatives)})`;
    case 'Quantifier':
      return `${canonical(node.element)}{${node.min},${node.max === Infinity ? '' : node.max}}${node.greedy ? '' : '?'}`;
    case 'Assertion':
      switch (node.kind) {
        case 'start':
          return '^';
        case 'end':
          return '$';
        case 'word':
          return node.negate ? '\\B' : '\\b';
        case 'lookahead':
          return `(?${node.negate ? '!' : '='}${all(node.alternatives)})`;
        case 'lookbehind':
          return `(?<${node.negate ? '!' : '='}${all(node.alternatives)})`;
      }
      break;
    case 'Character':
      return hex4(node.value);
    case 'CharacterClassRange':
      return `${hex4(node.min.value)}-${hex4(node.max.value)}`;
    case 'CharacterClass':
      return `[${node.negate ? '^' : ''}${node.elements.map(canonical).join('')}]`;
    case 'CharacterSet':
      switch (node.kind) {
        case 'any':
          return '.';
        case 'digit':
          return node.negate ? '\\D' : '\\d';
        case 'space':
          return node.negate ? '\\S' : '\\s';
        case 'word':
          return node.negate ? '\\W' : '\\w';
        case 'property':
          return node.raw;
      }
      break;
    case 'Backreference':
      return typeof node.ref === 'number' ? `\\${node.ref}` : `\\k<${node.ref}>`;
    default:
      return node.raw;
  }
}

/** Pieces of regex syntax, the ones the parsers were seen to disagree on first. */
const PIECES = [
  '\\', '(', ')', '[', ']', '{', '}', '?', '*', '+', '|', '^', '$', '.', '-', ',', '<', '>', '=', '!', ':',
  'k', 'c', 'b', 'B', 'd', 'D', 'w', 's', 'u', 'x', '0', '1', '2', '9', 'a', 'A', '_', '/', 'n',
  '(?:', '(?<a>', '(?<b>', '\\k<a>', '\\c', '[^', '\\1', '{2}', '{1,3}', 'z',
] as const;

export const regexSourceArb: fc.Arbitrary<string> = fc.array(fc.constantFrom(...PIECES), { maxLength: 20 }).map((p) => p.join(''));
export const subjectArb: fc.Arbitrary<string> = fc
  .array(fc.constantFrom('a', 'A', 'b', 'c', 'k', 'z', '0', '1', '_', '-', '/', '\\', '<', '>', '[', ']', '{', '}', '\n', ' ', '\u0001', '\u0003', 'é'), { maxLength: 12 })
  .map((p) => p.join(''));

const compiles = (source: string): RegExp | undefined => {
  try {
    return new RegExp(source);
  } catch {
    return undefined;
  }
};

const run = (re: RegExp, subject: string): string => {
  const m = re.exec(subject);
  return m === null ? 'null' : JSON.stringify({ index: m.index, all: [...m], groups: m.groups ?? null });
};

/**
 * True when the tree uses syntax of an edition newer than this V8 (ES2025's duplicate group names in
 * different alternatives and inline modifiers): V8 refuses it, and so does the check, which compiles
 * with V8 first.
 */
function newerThanV8(tree: AST.Pattern): boolean {
  const names: string[] = [];
  const seen = { modifiers: false };
  visitRegExpAST(tree, {
    onCapturingGroupEnter: (g) => {
      if (g.name !== null) names.push(g.name);
    },
    onModifiersEnter: () => {
      seen.modifiers = true;
    },
  });
  return seen.modifiers || new Set(names).size !== names.length;
}

/**
 * True when a repetition (a quantifier that may take its element twice or more) holds another:
 * V8's backtracking can then take time exponential in the subject's length, on subjects of a dozen
 * characters already (`(?:([^/]*|(?:[^/]?|\\w*?){2,})*(?=a)*?)*\\/+-` on `<\\}>--ak1` ran for more than 13
 * minutes and hung a long fuzz run). The rules never run such a regex (the regex check refuses it
 * or bounds it, property 3 of tests/fuzz/rules.fuzz.test.ts); this oracle runs it raw.
 */
export function nestedRepetition(tree: AST.Pattern): boolean {
  let depth = 0;
  let nested = false;
  visitRegExpAST(tree, {
    onQuantifierEnter: (q) => {
      if (q.max < 2) return;
      if (depth > 0) nested = true;
      depth++;
    },
    onQuantifierLeave: (q) => {
      if (q.max >= 2) depth--;
    },
  });
  return nested;
}

/** Subjects for a regex with nested repetition are cut to this length: short enough that no backtracking blows up, long enough for the differences the check was written for. */
export const NESTED_SUBJECT_CHARS = 4;

/** Undefined when the parser and V8 agree on `source`, else what differs. */
export function disagreement(source: string, subjects: readonly string[], read: (source: string) => AST.Pattern = parseRulePattern): string | undefined {
  // Refused by the check before V8 or a parser reads it (a group name twice, inline modifiers),
  // whatever this V8 makes of it: Node.js 24's compiles `(?<g>(?<g>a)|a)`, which the spec and the
  // parser refuse.
  if (newerEditionSyntax(source) !== undefined) return undefined;
  const v8 = compiles(source);
  let tree: AST.Pattern | undefined;
  try {
    tree = read(source);
  } catch {
    tree = undefined;
  }
  if (v8 === undefined && tree !== undefined && newerThanV8(tree)) return undefined;
  if ((v8 === undefined) !== (tree === undefined)) return `V8 ${v8 === undefined ? 'refuses' : 'compiles'} it, the parser ${tree === undefined ? 'refuses' : 'reads'} it`;
  if (v8 === undefined || tree === undefined) return undefined;
  const rewritten = canonical(tree);
  const again = compiles(rewritten);
  if (again === undefined) return `the parser's reading ${rewritten} does not compile`;
  const short = nestedRepetition(tree);
  for (const whole of ['', ...subjects]) {
    const s = short ? whole.slice(0, NESTED_SUBJECT_CHARS) : whole;
    const a = run(v8, s);
    const b = run(again, s);
    if (a !== b) return `on ${JSON.stringify(s)}: V8 ${a}, the parser's reading ${rewritten}: ${b}`;
  }
  return undefined;
}

/** The fields of a node the regex check reads (and a capturing group's name, a quantifier's greediness). */
const READ = ['type', 'alternatives', 'elements', 'modifiers', 'min', 'max', 'greedy', 'element', 'kind', 'negate', 'value', 'name'] as const;

/**
 * A syntax tree, regexpp's or the subset parser's (src/config/regex-subset.ts), projected to the
 * fields in READ, and `raw` where the check reads it: two trees the check cannot tell apart project
 * to equal values.
 */
export function projected(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(projected);
  if (typeof node !== 'object' || node === null) return node;
  const n = node as Readonly<Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const key of READ) if (key in n) out[key] = projected(n[key]);
  if (n['type'] === 'Backreference' || n['type'] === 'ExpressionCharacterClass' || n['type'] === 'Modifiers') out['raw'] = n['raw'];
  return out;
}
