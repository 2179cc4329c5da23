/**
 * The regex parser that checks rules reads what V8 runs (tests/helpers/regex-differential.ts):
 * generated sources of the syntax the two are most likely to disagree on, and the sources the old
 * tokenizer (ret) was seen to read differently. The long version of this runs in the `rules` fuzz
 * target (tests/fuzz/rules.fuzz.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { RegExpParser } from '@eslint-community/regexpp';
import fc from 'fast-check';
import { disagreement, regexSourceArb, subjectArb } from '../helpers/regex-differential.js';

describe('the rules regex parser reads what V8 runs', () => {
  it.each([
    '[\\c](a+)+]',
    '[\\c]a*]a*b',
    '(?<x>a*)\\k<x>',
    '\\k<x>',
    '(a)\\1',
    '\\1(a)',
    '\\10(a)',
    '(a)\\2',
    '\\8',
    '\\c',
    '\\cA',
    '[\\c_]',
    '[\\c1]',
    'a{',
    'a{1',
    'a{1,}b',
    '{1}',
    ']',
    '\\u{61}',
    '[\\b]',
    '\\x4',
    '(?=a)*',
    '[a-\\d]',
    '\\0',
    '\\07',
    '\\p{L}',
  ])('%s', (source) => {
    expect(disagreement(source, ['a', 'aa', '\\c]', 'c]a', 'x', '\u0001', 'u{61}', 'p{L}', '{1}', '\b', '\u0007'])).toBeUndefined();
  });

  it('the comparison finds a parser that reads differently (one without the web syntax V8 runs)', () => {
    const strict = new RegExpParser({ ecmaVersion: 2025, strict: true });
    const read = (s: string) => strict.parsePattern(s, 0, s.length, { unicode: false });
    expect(disagreement('[\\c](a+)+]', [], read)).toContain('the parser refuses it');
    expect(disagreement('a{1', ['a{1'], read)).toContain('the parser refuses it');
  });

  it('agrees on generated sources', () => {
    fc.assert(
      fc.property(regexSourceArb, fc.array(subjectArb, { maxLength: 6 }), (source, subjects) => {
        expect(disagreement(source, subjects)).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
  });
});
