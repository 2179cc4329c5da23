/**
 * regexpp's reading of a rule regex, for the patterns the subset parser (src/config/regex-subset.ts)
 * declines. Its own module so that the Lambda loads regexpp with `import()` only for a document
 * with such a regex (src/config/load-async.ts; docs/performance.md, cold start); the command line
 * loads it at once (src/config/load.ts).
 */
import { type AST, RegExpParser } from '@eslint-community/regexpp';

/**
 * The parser that reads a rule regex the way V8 runs it: ECMAScript's grammar with its Annex B
 * (web compatibility) syntax, no flags (RULE_REGEX_FLAGS in src/core/rules.ts), the syntax of the
 * newest edition (a construct V8 does not support is refused by V8's compile first). regexpp is the
 * parser ESLint's own rules rely on; it is checked against V8 on generated sources by
 * tests/unit/regex-check.property.test.ts.
 */
const regexParser = new RegExpParser({ ecmaVersion: 2025, strict: false });

/** The syntax tree of a rule regex pattern as V8 reads it with RULE_REGEX_FLAGS; throws a SyntaxError. */
export function parseRulePattern(pattern: string): AST.Pattern {
  return regexParser.parsePattern(pattern, 0, pattern.length, { unicode: false, unicodeSets: false });
}
