/**
 * Validation results and how their issues are printed (`rules[2].replace: must not be empty`).
 *
 * Apart from src/config/schema.ts so that the Lambda, which reports issues but only loads zod for a
 * document the quick check does not accept (src/config/document-check.ts), can print them.
 */
import { unicodeEscape } from '../core/json.js';
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

/**
 * Characters a terminal or a log viewer shows as nothing, as a plain space or as "-": no-break and
 * other spaces, zero-width characters, the byte order mark, direction marks, line separators,
 * hyphens and dashes. Text pasted from a wiki, a chat or a word processor carries them; quoted raw,
 * `"gcr.io\u200b" is not a valid image name prefix` read as `"gcr.io"` and said nothing. Messages
 * quote them as `\uXXXX`, in check-config and in the log line alike (other letters, `é`, stay).
 */
// eslint-disable-next-line no-misleading-character-class -- joiners and variation selectors alone are what is escaped
const INVISIBLE = new RegExp('[\\u00a0\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180e\\u2000-\\u2015\\u2028-\\u202f\\u205f-\\u206f\\u2212\\u3000\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0]', 'g');

/** One issue as printed: `rules[2].replace: must not be empty`. */
export function formatIssue(issue: Issue): string {
  return `${issueWhere(issue)}: ${issue.message}`.replace(INVISIBLE, unicodeEscape);
}

/** One issue listed among an invalid document's problems: a warning marked `warning: ` (check-config, the log line). */
export function listedIssue(issue: Issue): string {
  return `${issue.severity === 'warning' ? 'warning: ' : ''}${formatIssue(issue)}`;
}
