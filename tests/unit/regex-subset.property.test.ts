/**
 * The subset parser (src/config/regex-subset.ts) against regexpp (src/config/regex-parse-full.ts):
 * on generated patterns, inside the subset and just outside it, every tree the subset parser gives
 * is regexpp's on every field the regex check reads, it never accepts a pattern V8 refuses, and the
 * regex check (src/config/regex-check.ts) says the same with it as with regexpp alone.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { anchoredRuleSource, RULE_REGEX_FLAGS } from '../../src/core/rules.js';
import { RULE_REGEX_COMPILE } from '../../src/config/rules-text.js';
import { regexProblem } from '../../src/config/regex-check.js';
import { parseRulePattern } from '../../src/config/regex-parse-full.js';
import { parseSubsetPattern } from '../../src/config/regex-subset.js';
import { projected } from '../helpers/regex-differential.js';

const compile = RULE_REGEX_COMPILE;

/** What the subset covers, in pieces that combine into patterns inside it or near it. */
const INSIDE = [
  'a', 'b', 'z', 'A', '0', '9', '_', '-', '/', ':', ',', '<', '>', '=', '!', '@', ' ', '~', '"', "'", 'é', '\u{1F600}', '\u2028',
  '\\.', '\\/', '\\-', '\\\\', '\\(', '\\)', '\\[', '\\]', '\\{', '\\}', '\\|', '\\^', '\\$', '\\*', '\\+', '\\?',
  '\\d', '\\D', '\\w', '\\W', '\\s', '\\S', '.',
] as const;
const CLASS_INSIDE = ['a', 'z', '0', '.', '/', '-', '^', '$', '(', ')', '{', '}', '|', '*', '?', '\\]', '\\-', '\\\\', '\\d', '\\w', '\\S', 'a-z', '0-9', '!--', 'é'] as const;
const QUANTIFIERS = ['', '', '', '*', '+', '?', '*?', '+?', '??', '{2}', '{0,1}', '{1,}', '{2,3}?', '{007}', '{0}'] as const;
/** Outside the subset (declined), or syntax V8 refuses: inserted into patterns of the subset. */
const NEAR = [
  '\\1', '\\2', '\\k<a>', '\\k', '(?=', '(?!', '(?<=', '(?<!', '(?i:', '(?-i:', '\\b', '\\B', '\\c', '\\cA', '\\x41', '\\x4', '\\u0041',
  '\\u{61}', '\\0', '\\07', '\\8', '\\n', '\\t', '\\f', '\\v', '\\r', '\\p{L}', '\\a', '\\z', '\\', '\n', '\t', '\u0001', '\u007f',
  '{', '}', ']', '[', '[]', '[^]', '[\\b]', '{1', '{1,', '{,1}', '{2,1}', '{1234567}', '*', '+', '?', '|', '(', ')', '^', '$', '-',
  '(?<a>', '(?<b>', '(?<1>', '(?<>', '[a-]', '[-a]', '[\\d-z]', '[a-\\d]', '[z-a]', '[a-z-0]', '[--a]', '[\\w-.]', '[[]',
] as const;

const className = fc
  .tuple(fc.boolean(), fc.array(fc.constantFrom(...CLASS_INSIDE), { minLength: 1, maxLength: 4 }))
  .map(([negate, parts]) => `[${negate ? '^' : ''}${parts.join('')}]`);

/** Patterns of the subset, built by its grammar. */
const { pattern: subsetPatternArb } = fc.letrec<{ pattern: string; alternative: string; term: string; atom: string }>((tie) => ({
  pattern: fc.array(tie('alternative'), { minLength: 1, maxLength: 3 }).map((a) => a.join('|')),
  alternative: fc.array(tie('term'), { maxLength: 5 }).map((t) => t.join('')),
  term: fc.oneof({ weight: 6, arbitrary: fc.tuple(tie('atom'), fc.constantFrom(...QUANTIFIERS)).map(([a, q]) => a + q) }, { weight: 1, arbitrary: fc.constantFrom('^', '$') }),
  atom: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    { weight: 6, arbitrary: fc.constantFrom(...INSIDE) },
    { weight: 2, arbitrary: className },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('(', '(?:', '(?<g>', '(?<$x_1>'), tie('pattern')).map(([open, p]) => `${open}${p})`) },
  ),
}));

/** A pattern of the subset with a piece from outside it inserted, or a character removed. */
const nearPatternArb = fc.oneof(
  fc.tuple(subsetPatternArb, fc.nat(), fc.constantFrom(...NEAR)).map(([p, i, piece]) => p.slice(0, i % (p.length + 1)) + piece + p.slice(i % (p.length + 1))),
  fc.tuple(subsetPatternArb, fc.nat()).map(([p, i]) => p.slice(0, i % (p.length + 1)) + p.slice((i % (p.length + 1)) + 1)),
);

/** Random mixes of every piece: mostly not regexes at all. */
const soupArb = fc.array(fc.constantFrom(...INSIDE, ...NEAR, ...QUANTIFIERS, '(?:', ')', '|', '[', ']', '[^'), { maxLength: 12 }).map((p) => p.join(''));

const compiles = (source: string): boolean => {
  try {
    new RegExp(source, RULE_REGEX_FLAGS);
    return true;
  } catch {
    return false;
  }
};

/** Checks one source; true when the subset parser accepted its anchored pattern. */
function sameReading(source: string): boolean {
  let accepted = false;
  for (const pattern of [source, anchoredRuleSource(source)]) {
    const tree = parseSubsetPattern(pattern);
    if (tree === undefined) continue;
    accepted = true;
    expect(compiles(pattern)).toBe(true);
    expect(projected(tree)).toEqual(projected(parseRulePattern(pattern)));
  }
  expect(regexProblem(source, compile, { full: parseRulePattern })).toBe(regexProblem(source, compile, { full: parseRulePattern, subset: false }));
  return accepted;
}

describe('the subset parser reads what regexpp reads', () => {
  it.each([
    ['patterns of the subset', subsetPatternArb, 0.5],
    ['patterns of the subset with something else in them', nearPatternArb, 0.1],
    ['random mixes of pieces', soupArb, 0.05],
  ])('%s', (_label, arb, acceptedAtLeast) => {
    let accepted = 0;
    const numRuns = 4000;
    fc.assert(
      fc.property(arb, (source) => {
        if (sameReading(source)) accepted++;
      }),
      { numRuns },
    );
    // The generator must give the comparison something to compare.
    expect(accepted).toBeGreaterThanOrEqual(acceptedAtLeast * numRuns);
  });

  it('the projection sees a difference in any field read (the comparison can fail)', () => {
    const tree = parseSubsetPattern('(?<a>[^/]+?)x{2,}');
    expect(projected(tree)).toEqual(projected(parseRulePattern('(?<a>[^/]+?)x{2,}')));
    for (const other of ['(?<b>[^/]+?)x{2,}', '(?<a>[/]+?)x{2,}', '(?<a>[^/]+)x{2,}', '(?<a>[^/]+?)x{3,}', '(?<a>[^/]+?)y{2,}', '(?:[^/]+?)x{2,}', '([^/]+?)x{2,}']) {
      expect(projected(tree)).not.toEqual(projected(parseRulePattern(other)));
    }
  });
});
