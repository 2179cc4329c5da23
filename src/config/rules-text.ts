/**
 * The steps from the text of a rules document to a validated, compiled rewriter that need neither
 * the YAML parser nor the regex check loaded: the size and emptiness checks, a JSON document read
 * without the YAML parser (src/config/json-document.ts), and the validation of the value read
 * with the regex check and the validation it is given. src/config/load.ts runs them synchronously
 * with every library loaded (the command line, `serve`, the tests); src/config/load-async.ts loads
 * each library only when the document needs it (the Lambda's cold start).
 */
import { anchoredRuleSource, type Issue, RULE_REGEX_FLAGS } from '../core/rules.js';
import { readJsonDocument } from './json-document.js';
import { readYamlSubset } from './yaml-subset.js';
import type { RuleRegexCompile, regexProblem } from './regex-check.js';
import type { RegexCheck, ValidationResult } from './issues.js';

/** Largest rules document accepted (SSM advanced parameters hold 8 KiB; files may be larger). */
export const MAX_RULES_DOCUMENT_BYTES = 1024 * 1024;

const NOT_TEXT = 'holds a NUL character: not UTF-8 text (UTF-16?); save the rules document as UTF-8';

/** A document's value with the reader's warnings, or why it could not be read. */
export type DocumentRead = { readonly ok: true; readonly value: unknown; readonly warnings: readonly Issue[] } | { readonly ok: false; readonly issues: readonly Issue[] };

/**
 * The checks every document gets, then JSON, or YAML in the subset src/config/yaml-subset.ts reads
 * (what the Lambda is usually given, read without the YAML parser: docs/performance.md). `'yaml'`
 * for any other text: the YAML parser reads it (and reports what is wrong with it).
 */
export function readWithoutYaml(text: string): DocumentRead | 'yaml' {
  if (Buffer.byteLength(text, 'utf8') > MAX_RULES_DOCUMENT_BYTES) {
    return { ok: false, issues: [{ path: [], severity: 'error', message: `larger than ${MAX_RULES_DOCUMENT_BYTES} bytes` }] };
  }
  if (text.trim() === '') {
    return { ok: false, issues: [{ path: [], severity: 'error', message: 'is empty; expected a mapping with "rules:"' }] };
  }
  // Neither YAML nor JSON has a raw NUL, but UTF-8 does: a file saved as UTF-16 without a byte
  // order mark decodes to its text with a NUL after each letter, which the YAML parser read as one
  // string ("must be a mapping").
  const nul = text.indexOf('\u0000');
  if (nul !== -1) {
    const before = text.slice(0, nul);
    const position = { line: before.split('\n').length, column: nul - before.lastIndexOf('\n') };
    return { ok: false, issues: [{ path: [], position, severity: 'error', message: NOT_TEXT }] };
  }
  const json = readJsonDocument(text);
  switch (json.kind) {
    case 'duplicate':
      return { ok: false, issues: json.duplicates.map(({ line, column }) => ({ path: [], position: { line, column }, severity: 'error', message: 'Map keys must be unique' })) };
    case 'value':
      return { ok: true, value: json.value, warnings: [] };
    case 'not-json': {
      // The YAML most documents are written in, read without the YAML parser when it surely reads it the same.
      const value = readYamlSubset(text);
      return value === undefined ? 'yaml' : { ok: true, value, warnings: [] };
    }
  }
}

/** How the rewriter compiles a rule regex (src/core/rules.ts), as the regex check is given it. */
export const RULE_REGEX_COMPILE: RuleRegexCompile = { anchored: anchoredRuleSource, flags: RULE_REGEX_FLAGS };

/** The regex check of rules documents: src/config/regex-check.ts's analysis of the pattern the rewriter compiles. */
export function ruleRegexCheck(analysis: typeof regexProblem): RegexCheck {
  return (source) => analysis(source, RULE_REGEX_COMPILE);
}

/** Whether validating `value` may run the regex check: some rule has a `regex` field. */
export function needsRegexCheck(value: unknown): boolean {
  const rules = typeof value === 'object' && value !== null ? (value as { rules?: unknown }).rules : undefined;
  return Array.isArray(rules) && rules.some((r: unknown) => typeof r === 'object' && r !== null && 'regex' in r);
}

/**
 * A validation of a parsed document: the zod schema's (src/config/schema.ts, `validateWithSchema`,
 * which says what is wrong), or the quick check's (src/config/document-check.ts, `validateQuick`,
 * undefined for a document it does not accept).
 */
export type Validate<R extends ValidationResult | undefined> = (input: unknown, env: Readonly<Record<string, string | undefined>>, regexCheck: RegexCheck) => R;

const NOT_A_MAPPING = 'must be a mapping with "rules:" (and optionally "exclude:")';

/**
 * Why a document that is not a mapping is refused. One word of text is most often a name put where
 * the document belongs (REWRITE_RULES set to a parameter's name or a file's path), which YAML reads
 * as a string: say so, without quoting it (a value put in the wrong variable may be a secret).
 */
function notAMapping(value: unknown): string {
  // The rules alone (`- name: gcr ...`), their `rules:` forgotten.
  if (Array.isArray(value)) return `${NOT_A_MAPPING}; it is a list: the rules go under "rules:" (a first line "rules:", the list below it)`;
  if (typeof value !== 'string') return NOT_A_MAPPING;
  if (/^\S+$/.test(value)) {
    return `${NOT_A_MAPPING}; it is one word of text: a file or parameter name? The document must hold the rules themselves (--config FILE reads a file, REWRITE_RULES_PARAMETER names an SSM parameter)`;
  }
  // A variable set with its line breaks escaped (`rules:\n  - name: ...`), or with its quotes kept
  // (docker --env-file and .env readers keep them): YAML reads either as one string.
  if (!value.includes('\n') && value.includes('\\n')) return `${NOT_A_MAPPING}; it is one line whose line breaks are written as \\n (a backslash and an n): give the document with real line breaks, or on one line as flow YAML or JSON ({rules: [...]})`;
  if (/^\s*(?:rules|exclude|allowOptOut)\s*:/.test(value)) return `${NOT_A_MAPPING}; it is one quoted string: the document was given inside quotes (a .env file or docker --env-file keeps them); give it without them`;
  return NOT_A_MAPPING;
}

/** Validate and compile what was read; the reader's warnings come first. Never throws. */
export function validateRead<R extends ValidationResult | undefined>(read: DocumentRead, env: Readonly<Record<string, string | undefined>>, regexCheck: RegexCheck, validate: Validate<R>): ValidationResult | R {
  if (!read.ok) return read;
  const { value } = read;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issues: [{ path: [], severity: 'error', message: notAMapping(value) }] };
  }
  const result = validate(value, env, regexCheck);
  if (result === undefined || !result.ok || read.warnings.length === 0) return result;
  return { ...result, warnings: [...read.warnings, ...result.warnings] };
}
