/**
 * The subset parser (src/config/regex-subset.ts) on the rule regexes people write, which it must
 * read (or the Lambda loads regexpp for them), and on the syntax it must leave to regexpp: the web
 * syntax of Annex B that reads as text or as something else depending on what follows, and every
 * construct outside the subset. And the regex check without regexpp loaded: an issue for a regex
 * the subset parser declines, never a pass.
 */
import { describe, expect, it } from '@jest/globals';
import { anchoredRuleSource } from '../../src/core/rules.js';
import { RULE_REGEX_COMPILE } from '../../src/config/rules-text.js';
import { needsFullParser, regexProblem } from '../../src/config/regex-check.js';
import { parseRulePattern } from '../../src/config/regex-parse-full.js';
import { parseSubsetPattern } from '../../src/config/regex-subset.js';
import { projected } from '../helpers/regex-differential.js';

const compile = RULE_REGEX_COMPILE;

describe('read by the subset parser, as regexpp reads them', () => {
  it.each([
    ['the bench rule set', 'quay\\.io/(?<org>[^/]+)/(.+)'],
    ['Docker Hub library images', 'docker\\.io/library/([^/]+)'],
    ['GCR regions (a dash last in a class is text)', '([a-z0-9.-]+)\\.gcr\\.io/(.+)'],
    ['everything', '(.*)'],
    ['a dash first in a class', '[-a]'],
    ['a dash last in a class', '[a-]'],
    ['a dash as the end of a range', '[!--]'],
    ['a dash after a class escape, last', '[\\w.-]+'],
    ['escaped syntax characters', '\\^\\$\\\\\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/\\-'],
    ['class escapes', '\\d\\D\\w\\W\\s\\S[\\d\\w\\s\\]\\-]'],
    ['bounded, lazy and unbounded quantifiers', 'a{2}b{0,3}c{1,}?d??e*?(f)+?'],
    ['alternation inside groups of each kind', '(?:a|b)(c|d)(?<name_$1>e|)'],
    ['a character outside the BMP (two code units)', '\u{1F600}+'],
    ['assertions', '^a$|^b'],
  ])('%s: %s', (_label, source) => {
    const anchored = anchoredRuleSource(source);
    const tree = parseSubsetPattern(anchored);
    expect(tree).toBeDefined();
    expect(projected(tree)).toEqual(projected(parseRulePattern(anchored)));
    expect(needsFullParser(source, compile)).toBe(false);
    expect(regexProblem(source, compile)).toBe(regexProblem(source, compile, { full: parseRulePattern, subset: false }));
  });

  it('the bench rule set regex passes the check without regexpp', () => {
    expect(regexProblem('quay\\.io/(?<org>[^/]+)/(.+)', compile)).toBeUndefined();
  });
});

describe('left to regexpp', () => {
  it.each([
    ['an unfinished quantifier (text in Annex B)', 'a{'],
    ['an unfinished bounded quantifier', 'a{1'],
    ['an unfinished quantifier with a comma', 'a{1,'],
    ['a quantifier without a lower bound (text in Annex B)', 'a{,2}'],
    ['bounds out of order', 'x{2,1}'],
    ['a bound of 7 digits', 'x{1234567}'],
    ['a lone ]', ']'],
    ['a lone }', '}'],
    ['a quantifier with nothing before it (text in Annex B)', '{1}'],
    ['a quantifier on a quantifier', 'a**'],
    ['a quantifier on an assertion', '^*a'],
    ['a quantifier at the start of an alternative', 'a|+b'],
    ['a numbered backreference', '(a)\\1'],
    ['an octal-looking escape', '\\1'],
    ['a named backreference', '(?<a>x)\\k<a>'],
    ['a \\k without a group name (text in Annex B)', '\\k<a>'],
    ['a lookahead', '(?=a)a'],
    ['a negative lookahead', '(?!a)b'],
    ['a lookbehind', '(?<=a)b'],
    ['a negative lookbehind', '(?<!a)b'],
    ['inline modifiers', '(?i:a)'],
    ['a backspace in a class', '[\\b]'],
    ['a word boundary', 'a\\b'],
    ['a non-word boundary', 'a\\B'],
    ['a control escape', '\\cA'],
    ['a \\c without a letter (text in Annex B)', '[\\c]'],
    ['a NUL escape', '\\0'],
    ['a hex escape', '\\x41'],
    ['a short hex escape (text in Annex B)', '\\x4'],
    ['a unicode escape', '\\u0041'],
    ['a code point escape (text without the u flag)', '\\u{61}'],
    ['a property escape (text without the u flag)', '\\p{L}'],
    ['a newline escape', '\\n'],
    ['a tab escape', '\\t'],
    ['a form feed escape', '\\f'],
    ['a vertical tab escape', '\\v'],
    ['a carriage return escape', '\\r'],
    ['an identity escape of a letter', '\\a'],
    ['an escaped digit 8 (text in Annex B)', '\\8'],
    ['a control character', 'a\u0001'],
    ['a raw newline', 'a\nb'],
    ['DEL', 'a\u007f'],
    ['a dash between a class escape and a character', '[\\d-z]'],
    ['a dash between a character and a class escape', '[a-\\d]'],
    ['a dash after a range, not last', '[a-z-0]'],
    ['a dash between a class escape and a character, not last', '[\\w-.]'],
    ['a [ in a class', '[[]'],
    ['an empty class', 'a[]'],
    ['a negated empty class', 'a[^]'],
    ['a name used twice', '(?<a>x)|(?<a>y)'],
    ['a name starting with a digit', '(?<1a>x)'],
    ['a name with a unicode escape', '(?<\\u0061>x)'],
  ])('%s: %j', (_label, source) => {
    expect(parseSubsetPattern(anchoredRuleSource(source))).toBeUndefined();
    expect(parseSubsetPattern(source)).toBeUndefined();
    const verdict = regexProblem(source, compile);
    // Without regexpp, an issue: the compile error V8 gives, that it could not be analysed, or
    // (\p{L}, \u{61}) that it needs the u flag, which rules are not compiled with; or, before V8
    // reads it, the syntax only Node.js 24 compiles (a name twice, inline modifiers).
    expect(verdict).toEqual(expect.stringMatching(/^(does not compile: |cannot be analysed|uses \\[pPu]\{[^}]*\}, which needs the u flag|names the group "a" twice|uses inline modifiers)/));
    // regexpp is needed only for what is refused neither before nor by V8.
    expect(needsFullParser(source, compile)).toBe(!/^(does not compile|names the group|uses inline modifiers)/.test(verdict ?? ''));
  });

  it('gives up on deep nesting rather than risk the stack', () => {
    expect(parseSubsetPattern(`${'('.repeat(70)}a${')'.repeat(70)}`)).toBeUndefined();
    expect(parseSubsetPattern(`${'('.repeat(60)}a${')'.repeat(60)}`)).toBeDefined();
  });

  it('the check reads a declined regex with regexpp when it is given', () => {
    expect(regexProblem('(a)\\1', compile, { full: parseRulePattern })).toBe('uses a backreference (\\1), which can backtrack exponentially');
    expect(regexProblem('(a)\\1', compile)).toBe('cannot be analysed (internal error: the regex parser for it was not loaded)');
  });
});
