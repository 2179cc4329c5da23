/**
 * A rule regex with groups nested deeper than MAX_GROUP_NESTING is an issue before V8 compiles it
 * (src/config/regex-check.ts). V8's regex compiler recurses once per level without a stack check:
 * about 2,600 levels of `(?:a(?:a...)?)?` (a rules document of 12 KB) ended check-config, render,
 * invoke, serve and the Lambda's init with `FATAL ERROR: RegExpCompiler Allocation failed` (exit
 * 134) every time, past every catch; from about 1,300 levels of plain groups the parsers here
 * overflowed the stack and the issue said "cannot be analysed: Maximum call stack size exceeded".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { MAX_GROUP_NESTING, regexProblem } from '../../src/config/regex-check.js';
import { parseRulePattern } from '../../src/config/regex-parse-full.js';
import { anchoredRuleSource, RULE_REGEX_FLAGS } from '../../src/core/rules.js';
import { runSnippet } from '../helpers/cli-bundle.js';
import { TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { main } from '../../src/cli/main.js';

const compile = { anchored: anchoredRuleSource, flags: RULE_REGEX_FLAGS };
const PREFIX = 'gcr\\.io/';
/** `n` groups of each kind inside one another after PREFIX, and the width of one opening. */
const KINDS = {
  'optional groups': { make: (n: number) => `${PREFIX}${'(?:a'.repeat(n)}${')?'.repeat(n)}`, width: 4 },
  'non-capturing groups': { make: (n: number) => `${PREFIX}${'(?:'.repeat(n)}a${')'.repeat(n)}`, width: 3 },
  'capturing groups': { make: (n: number) => `${PREFIX}${'('.repeat(n)}a${')'.repeat(n)}`, width: 1 },
} satisfies Record<string, { make: (n: number) => string; width: number }>;
const problemAt = (character: number): string => `nests groups more than ${MAX_GROUP_NESTING} deep (at character ${character}); write it with fewer groups inside one another`;

describe('a rule regex with groups nested deeper than MAX_GROUP_NESTING', () => {
  it.each(Object.entries(KINDS))('%s: an issue at the first group too deep; MAX_GROUP_NESTING levels are read as before', (_kind, { make, width }) => {
    expect(regexProblem(make(MAX_GROUP_NESTING + 1), compile)).toBe(problemAt(PREFIX.length + width * MAX_GROUP_NESTING + 1));
    // regexpp reads what the subset parser declines (deeper than its 64), as at load.
    expect(regexProblem(make(MAX_GROUP_NESTING), compile, { full: parseRulePattern })).toBeUndefined();
  });

  it('parentheses escaped or in a class are not groups', () => {
    expect(regexProblem(`${PREFIX}${'\\('.repeat(1000)}[${'('.repeat(1000)}]`, compile)).toBeUndefined();
  });

  it('check-config: exit 2 and the issue at the rule, not "cannot be analysed: Maximum call stack size exceeded"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regex-depth-'));
    try {
      const file = join(dir, 'rules.yaml');
      writeFileSync(file, `rules:\n  - name: r\n    regex: ${JSON.stringify(KINDS['capturing groups'].make(5000))}\n    replace: x.io/a\n`);
      const io = captureIo(TEST_ENV);
      expect(await main(['check-config', '--config', file], io)).toBe(2);
      expect(io.err()).toBe(`error: invalid rules document ${file}:\n  rules[0].regex: ${problemAt(PREFIX.length + MAX_GROUP_NESTING + 1)}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('3,000 levels: an issue, where V8 aborted the process (exit 134)', async () => {
    // In a child: before the fix this ended the whole process, jest worker and all.
    const r = await runSnippet(
      `import { regexProblem } from './src/config/regex-check.ts';
import { anchoredRuleSource, RULE_REGEX_FLAGS } from './src/core/rules.ts';
const source = 'gcr\\\\.io/' + '(?:a'.repeat(3000) + ')?'.repeat(3000);
process.stdout.write(String(regexProblem(source, { anchored: anchoredRuleSource, flags: RULE_REGEX_FLAGS })));`,
      { timeout: 30_000 },
    );
    expect(r).toEqual({ status: 0, signal: null, stdout: problemAt(PREFIX.length + 4 * MAX_GROUP_NESTING + 1) });
  });
});

/**
 * The probes that make V8 compile a rule regex (the check's, src/config/regex-check.ts `compiled`,
 * and the group count, src/core/replace-template.ts `groupsOf`) match '' with an empty alternative.
 * Placed after the pattern (`...|`), the pattern itself ran first on '', and one that backtracks on
 * it, not yet analysed, held the process for good: this regex, found by
 * regex-subset.property.test.ts (CI's unit run stuck for ten minutes), hung check-config, a cold
 * start and every serve worker's reload. Run in a child: a hang here must fail, not hold jest.
 */
describe('a rule regex that backtracks on the empty string', () => {
  const HANGS = "((?:\\S{007}a\\+*||){007}\\/??|<{0,1}'{1,}){007}\\$";

  it("is refused by the analysis at once, and its groups are counted without running it", async () => {
    const r = await runSnippet(
      `import { regexProblem } from './src/config/regex-check.ts';
import { groupsOf } from './src/core/replace-template.ts';
import { anchoredRuleSource, RULE_REGEX_FLAGS } from './src/core/rules.ts';
const source = ${JSON.stringify(HANGS)};
const groups = groupsOf(new RegExp(anchoredRuleSource(source), RULE_REGEX_FLAGS));
process.stdout.write(JSON.stringify({ problem: regexProblem(source, { anchored: anchoredRuleSource, flags: RULE_REGEX_FLAGS }), count: groups.count }));`,
      { timeout: 20_000 },
    );
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ problem: 'repeats an alternation (like (a|b)*), which can backtrack exponentially; use a character class', count: 1 });
  }, 60_000);
});
