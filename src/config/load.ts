/**
 * Rules documents from text (YAML or JSON; JSON is YAML) to a validated, compiled rewriter,
 * synchronously, with the YAML parser and the regex check loaded: the command line, `serve` and
 * the tests. YAML syntax errors, duplicate keys, unknown tags and schema problems all come back as
 * `Issue`s with a path or a line, never as exceptions. Sources (env var, file, SSM) are read by
 * src/config/rules-provider.ts, which parses with src/config/load-async.ts: the same steps
 * (src/config/rules-text.ts), loading each library only when a document needs it.
 */
import type { Issue } from '../core/rules.js';
import { regexProblem } from './regex-check.js';
import { parseRulePattern } from './regex-parse-full.js';
import { readWithoutYaml, ruleRegexCheck, validateRead } from './rules-text.js';
import { validateQuick } from './document-check.js';
import { listedIssue } from './issues.js';
import { type RegexCheck, type ValidationResult, validateWithSchema } from './schema.js';
import { printable } from '../core/json.js';
import { readYaml } from './yaml-document.js';

export { MAX_RULES_DOCUMENT_BYTES } from './rules-text.js';

const checkRegex = ruleRegexCheck((source, compile) => regexProblem(source, compile, { full: parseRulePattern }));

/** The quick check for a valid document, the zod schema to say what is wrong with any other: one result either way. */
function validateDocumentWith(input: unknown, env: Readonly<Record<string, string | undefined>>, regexCheck: RegexCheck): ValidationResult {
  return validateQuick(input, env, regexCheck) ?? validateWithSchema(input, env, regexCheck);
}

/**
 * One line per issue: `rules[2].replace: must not be empty`; what it quotes is made printable. With
 * `max`, the first `max` and a last line counting the others.
 */
export function formatIssues(issues: readonly Issue[], max = Infinity): string {
  const lines = issues.slice(0, max).map((i) => `  ${printable(listedIssue(i))}`);
  if (issues.length > lines.length) lines.push(`  ... and ${issues.length - lines.length} more (check-config lists them all)`);
  return lines.join('\n');
}

/** Parse and validate a rules document. Never throws. */
export function parseRules(text: string, env: Readonly<Record<string, string | undefined>>): ValidationResult {
  const read = readWithoutYaml(text);
  return validateRead(read === 'yaml' ? readYaml(text) : read, env, checkRegex, validateDocumentWith);
}

/** Validate a parsed rules document (any value) and compile it (src/config/schema.ts), with the regex check. */
export function validateDocument(input: unknown, env: Readonly<Record<string, string | undefined>>): ValidationResult {
  return validateDocumentWith(input, env, checkRegex);
}
