/**
 * Validation results and how their issues are printed (`rules[2].replace: must not be empty`).
 *
 * Apart from src/config/schema.ts so that the Lambda, which reports issues but only loads zod for a
 * document the quick check does not accept (src/config/document-check.ts), can print them.
 */
import { escapeInvisible } from '../core/json.js';
import type { Issue, PathSegment, Rewriter } from '../core/rules.js';
import type { RulesDocument } from '../core/rule-spec.js';

/** Why a rule regex cannot be used (it does not compile, or it can backtrack for long), or undefined. */
export type RegexCheck = (source: string) => string | undefined;

export type ValidationResult =
  | { readonly ok: true; readonly document: RulesDocument; readonly rewriter: Rewriter; readonly warnings: readonly Issue[] }
  | { readonly ok: false; readonly issues: readonly Issue[] };

/** A key written bare in a path; any other key (empty, with dots, spaces...) is quoted: `rules[0][""]`. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `rules[2].replace` from a path (`['rules', 2, 'replace']`); '' for the empty path. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (PLAIN_KEY.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** Where an issue is, as printed: `rules[2].replace`, `(line 3, column 7)`, or `(document)`. */
export function issueWhere(issue: Issue): string {
  if (issue.position !== undefined) return `(line ${issue.position.line}, column ${issue.position.column})`;
  return formatPath(issue.path) || '(document)';
}

/** One issue as printed: `rules[2].replace: must not be empty`. */
export function formatIssue(issue: Issue): string {
  return escapeInvisible(`${issueWhere(issue)}: ${issue.message}`);
}

/** One issue listed among an invalid document's problems: a warning marked `warning: ` (check-config, the log line). */
export function listedIssue(issue: Issue): string {
  return `${issue.severity === 'warning' ? 'warning: ' : ''}${formatIssue(issue)}`;
}
