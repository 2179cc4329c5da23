/**
 * The regex parser that checks rules reads what V8 runs (tests/helpers/regex-differential.ts):
 * generated sources of the syntax the two are most likely to disagree on, and the sources the old
 * tokenizer (ret) was seen to read differently. The long version of this runs in the `rules` fuzz
 * target (tests/fuzz/rules.fuzz.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { RegExpParser } from '@eslint-community/regexpp';
import fc from 'fast-check';
import { RegExpParser as Parser } from '@eslint-community/regexpp';
import { disagreement, NESTED_SUBJECT_CHARS, nestedRepetition, regexSourceArb, subjectArb } from '../helpers/regex-differential.js';
import { runSnippet } from '../helpers/cli-bundle.js';

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

  // The oracle runs V8's backtracking on every source: one with repetitions inside repetitions
  // ran for more than 13 minutes on a 10-character subject and hung a long fuzz run. Such a source
  // is compared on subjects of at most NESTED_SUBJECT_CHARS characters (run in a child process,
  // killed at the timeout, so that a regression fails here instead of hanging the suite).
  it('compares a source of nested repetitions without running it into exponential time', async () => {
    const r = await runSnippet(
      `import { disagreement } from './tests/helpers/regex-differential.ts';
process.stdout.write(String(disagreement('(?:(?<g>[^/]*|(?:[^/]?|\\\\w*?){2,})*(?=a)*?)*\\\\/+-', ['<\\\\}>--ak1'])));`,
      { timeout: 30_000 },
    );
    expect(r).toEqual({ status: 0, signal: null, stdout: 'undefined' });
  }, 60_000);

  it('tells nested repetitions from repetitions side by side', () => {
    const parser = new Parser({ ecmaVersion: 2025 });
    const nested = (s: string): boolean => nestedRepetition(parser.parsePattern(s, 0, s.length, { unicode: false }));
    expect(['(a+)+', '(?:a*b)*', '(a{2,})?c*', '(?:x|(?:y{2})+)*', '(?=a*)+'].map(nested)).toEqual([true, true, false, true, true]);
    expect(['a+b*', '(ab)+', '(a?)+', '(a{1})*', 'a{0,1}'].map(nested)).toEqual([false, false, false, false, false]);
    expect(NESTED_SUBJECT_CHARS).toBeGreaterThanOrEqual(3);
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
