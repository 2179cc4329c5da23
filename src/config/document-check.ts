/**
 * The quick check of a rules document: is it valid, answered without zod (the Lambda's cold start).
 *
 * src/config/schema.ts is the document's definition (zod): it finds every problem and says where.
 * Running it is costly at a cold start (zod's schemas built and its code run for the first time:
 * docs/performance.md), more than everything else the validation does, and most documents it sees
 * are valid. So a document is first checked here: its structure by the validator ajv compiled at
 * build time from that zod schema's own JSON Schema (src/config/generated/: plain code, neither zod
 * nor ajv loaded at run time; written by `npm run generate`, which a test keeps current), then the
 * checks JSON Schema cannot express, by the functions the zod schema calls too
 * (src/config/document-rules.ts). A document this does not accept is validated by the zod schema,
 * which says why (the Lambda, src/config/load-async.ts, loads zod only then). A property test holds
 * the two to the same verdict on generated documents (tests/unit/document-check.property.test.ts).
 */
import type { RulesDocument } from '../core/rule-spec.js';
import { compiledResult, prefixProblem, ruleProblems } from './document-rules.js';
import { validateStructure } from './generated/rules-document.validate.js';
import type { RegexCheck, ValidationResult } from './issues.js';

/**
 * An object as JSON.parse and the YAML reader make them. The validator reads own keys (as they
 * do), zod also inherited enumerable ones: any other object goes to zod.
 */
function plainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The document, when it is valid as the zod schema defines it; undefined when the schema must say what is wrong. */
export function quickValidDocument(input: unknown, regexCheck: RegexCheck): RulesDocument | undefined {
  if (!plainObject(input) || !validateStructure(input)) return undefined;
  for (const rule of input.rules) {
    if (!plainObject(rule)) return undefined;
    if (rule.match !== undefined && prefixProblem(rule.match) !== undefined) return undefined;
    if (rule.regex !== undefined && regexCheck(rule.regex) !== undefined) return undefined;
    if (ruleProblems(rule).length > 0) return undefined;
  }
  for (const prefix of input.exclude ?? []) if (prefixProblem(prefix) !== undefined) return undefined;
  return input;
}

/**
 * A valid document compiled, as src/config/schema.ts's `validateWithSchema` gives it; undefined
 * for a document the quick check does not accept (validate it with that function to learn why).
 */
export function validateQuick(input: unknown, env: Readonly<Record<string, string | undefined>>, regexCheck: RegexCheck): ValidationResult | undefined {
  const document = quickValidDocument(input, regexCheck);
  if (document === undefined) return undefined;
  return compiledResult(document, env);
}
