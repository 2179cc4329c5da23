/**
 * Rules documents from text to a validated, compiled rewriter, as src/config/load.ts does, but
 * loading the YAML parser only for a document neither JSON nor in the YAML subset read without it
 * (src/config/yaml-subset.ts), and the regex check only for a
 * document with a `regex` rule (regexpp only for a regex outside the subset the check parses
 * itself, src/config/regex-subset.ts), each with `import()` the first time. Together they are more
 * than half of the Lambda bundle, and a JSON or usual YAML document without a regex (the SAM
 * template's default) never needs them: esbuild leaves a module imported this way uncompiled until the import runs
 * (scripts/build.mjs; docs/performance.md, cold start). The same holds for zod (src/config/schema.ts):
 * a valid document passes the quick check (src/config/document-check.ts) and never loads it. The
 * rules providers parse with this module (src/config/refresh.ts).
 */
import { type DocumentRead, needsRegexCheck, readWithoutYaml, RULE_REGEX_COMPILE, ruleRegexCheck, validateRead } from './rules-text.js';
import { validateQuick } from './document-check.js';
import type { RegexCheck, ValidationResult } from './issues.js';
import type { validateWithSchema as ValidateWithSchema } from './schema.js';
import type { parseRulePattern as ParseRulePattern } from './regex-parse-full.js';

/** For a document without a `regex` rule, whose validation never calls the check. */
const noRegexRules: RegexCheck = () => 'cannot be checked (internal error: the regex check was not loaded)';
/** The regex check once loaded: one per process, so the schemas built for it are built once. */
let checkRegex: RegexCheck | undefined;
/** regexpp's parse, once a document has had a regex outside the subset the regex check parses itself. */
let parseFull: typeof ParseRulePattern | undefined;

/**
 * The regex check for `document`, with regexpp loaded first if one of its regexes needs it:
 * validation is synchronous and cannot load it when it meets one. The check reads `parseFull` when
 * it runs, so a later document (a rules refresh) that loaded it is read with it.
 */
async function loadRegexCheck(document: unknown): Promise<RegexCheck> {
  const { needsFullParser, regexProblem } = await import('./regex-check.js');
  const rules = (document as { rules?: unknown }).rules;
  const sources: unknown[] = Array.isArray(rules) ? rules.map((r: unknown) => (typeof r === 'object' && r !== null ? (r as { regex?: unknown }).regex : undefined)) : [];
  if (parseFull === undefined && sources.some((s) => typeof s === 'string' && needsFullParser(s, RULE_REGEX_COMPILE))) {
    parseFull = (await import('./regex-parse-full.js')).parseRulePattern;
  }
  return (checkRegex ??= ruleRegexCheck((source, c) => regexProblem(source, c, { full: parseFull })));
}

/** The zod schema's validation, once loaded. */
let validateWithSchema: typeof ValidateWithSchema | undefined;

/** Parse and validate a rules document. Never rejects: a library that cannot be loaded is an issue. */
export async function parseRulesAsync(text: string, env: Readonly<Record<string, string | undefined>>): Promise<ValidationResult> {
  try {
    const first = readWithoutYaml(text);
    const read: DocumentRead = first === 'yaml' ? (await import('./yaml-document.js')).readYaml(text) : first;
    const check = read.ok && needsRegexCheck(read.value) ? await loadRegexCheck(read.value) : noRegexRules;
    // A valid document is compiled without zod; any other is validated by the zod schema, which says why.
    return validateRead(read, env, check, validateQuick) ?? validateRead(read, env, check, (validateWithSchema ??= (await import('./schema.js')).validateWithSchema));
  } catch (e) {
    return { ok: false, issues: [{ path: [], severity: 'error', message: `cannot be read: ${e instanceof Error ? e.message : String(e)}` }] };
  }
}
