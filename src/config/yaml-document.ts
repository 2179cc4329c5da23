/**
 * A rules document read by the YAML parser: its value and warnings, or its errors as issues (a
 * syntax error, a duplicate key, an unknown tag), each with its line and column, never thrown.
 *
 * Its own module because it is, with ./yaml-read.ts, the rules' only user of `yaml` (the largest
 * part of the Lambda bundle): the Lambda loads it with `import()` only for a document that is
 * neither JSON nor in the subset src/config/yaml-subset.ts reads (src/config/load-async.ts), so
 * most documents never compile it at a cold start.
 */
import { type Document, isAlias, visit, type YAMLError } from 'yaml';
import { NOT_YAML_SPACE, notYamlSpace, parseDocumentUnique, TOO_DEEP } from './yaml-read.js';
import type { Issue } from '../core/rules.js';
import type { DocumentRead } from './rules-text.js';

// The words notAMapping in ./rules-text.ts says of such a document that YAML reads as one string,
// written twice: a value imported from that module would make it a chunk of its own at every cold
// start (scripts/build.mjs refuses a fourth file).
const ESCAPED_BREAKS = 'one line whose line breaks are written as \\n (a backslash and an n): give the document with real line breaks, or on one line as flow YAML or JSON ({rules: [...]})';

/** A line break written as `\n` where one ends a line of block YAML: before indentation or a list's "- ". */
const ESCAPED_BREAK = /\\n[ \t-]/;

/** `text` read as YAML (JSON is YAML). */
export function readYaml(text: string): DocumentRead {
  // logLevel 'error': the parser's own warnings (a mapping key that is a list or a map, stringified
  // by toJS) would go to process.emitWarning, on stderr beside the refusal; the schema reports the key.
  // Repeated keys are errors, found in linear time (./yaml-read.ts).
  const doc = parseDocumentUnique(text, { prettyErrors: true, logLevel: 'error' });
  // The parser counts a byte order mark as a column of line 1; an editor shows none.
  const bom = text.startsWith('\uFEFF');
  // An unknown tag (`!Ref`, `!Sub`...) would be dropped and its text used as it is: refuse it.
  const unknownTags = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  const otherWarnings = doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED');
  if (doc.errors.length > 0 || unknownTags.length > 0) {
    // Split once, and only for an error that reads its line (a bad document may have thousands).
    let split: readonly string[] | undefined;
    const lines = (): readonly string[] => (split ??= text.split('\n'));
    return {
      ok: false,
      issues: [
        ...doc.errors.map((e) => withMissingSpace(yamlIssue(e, 'error', bom), e, lines)),
        ...unknownTags.map((e) => {
          const issue = yamlIssue(e, 'error', bom);
          return { ...issue, message: `${issue.message} (rules documents use no YAML tags)` };
        }),
        ...noBreakSpace(text, bom),
        // `rules:\n  - name: ...` in a variable: its line breaks escaped, which YAML reads as text. A
        // `\n` before an indentation or a list's "- ", not any: a one-line JSON document (what the
        // message asks for) with an error elsewhere and a `\n` in a string (a regex) is no such text.
        ...(!text.includes('\n') && ESCAPED_BREAK.test(text) ? [{ path: [], severity: 'error' as const, message: ESCAPED_BREAKS }] : []),
      ],
    };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }), warnings: otherWarnings.map((w) => yamlIssue(w, 'warning', bom)) };
  } catch (e) {
    const alias = (e as Error).message.startsWith('Unresolved alias') ? unresolvedAlias(doc) : undefined;
    if (alias === undefined) return { ok: false, issues: [{ path: [], severity: 'error', message: (e as Error).message }] };
    // The package throws it without a place; a `*` glob left unquoted (`namespaces: [*-team]`) is one.
    const before = text.slice(0, alias.offset);
    const line = before.split('\n').length;
    const column = alias.offset - before.lastIndexOf('\n') - (bom && line === 1 ? 1 : 0);
    const message = `${(e as Error).message}: a value that starts with "*" is a YAML alias; quote it ("*${alias.source}")`;
    return { ok: false, issues: [{ path: [], position: { line, column }, severity: 'error', message }] };
  }
}

/**
 * The first no-break space (U+00A0), or other space YAML does not read as one, of a document the
 * parser refused: text copied out of a web page, a chat or a CJK input method often has them where
 * spaces belong, as indentation or after a key's colon, which YAML reads as text, and the parser's
 * errors there ("Nested mappings are not allowed in compact mappings", "Implicit keys need to be on
 * a single line") name neither the character nor the fix. A character that takes no room (a
 * zero-width space, a byte order mark past the start) is to be deleted, not retyped.
 */
function noBreakSpace(text: string, bom: boolean): Issue[] {
  const found = [...text.matchAll(NOT_YAML_SPACE)].find((m) => m.index > 0 || !bom);
  if (found === undefined) return [];
  const at = found.index;
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n') - (bom && line === 1 ? 1 : 0);
  return [{ path: [], position: { line, column }, severity: 'error', message: notYamlSpace(found[0]) }];
}

/**
 * `match:gcr.io`, its space forgotten, is no key to YAML but text that runs into the next line's
 * key, and the parser says "Implicit keys need to be on a single line" there: name the line's
 * `key:value` and the space it needs.
 */
function withMissingSpace(issue: Issue, e: YAMLError, lines: () => readonly string[]): Issue {
  if (e.code !== 'MULTILINE_IMPLICIT_KEY' || issue.position === undefined) return issue;
  const line = lines()[issue.position.line - 1] ?? '';
  const m = /^[\s\uFEFF]*(?:-\s+)?([A-Za-z_][A-Za-z0-9_-]*):([^\s#][^\s#]*)/.exec(line);
  if (m === null) return issue;
  // Not a value with an "@", as prefixProblem: `replace:https://user:password@host` would print the password.
  if (m[2]?.includes('@') === true) return { ...issue, message: `${issue.message}: "${m[1] ?? ''}:" needs a space after the colon (the value is not shown: an "@" may be a URL's credentials)` };
  return { ...issue, message: `${issue.message}: "${m[1] ?? ''}:${m[2] ?? ''}" needs a space after the colon ("${m[1] ?? ''}: ${m[2] ?? ''}")` };
}

/** The first alias of `doc` whose anchor is not set before it (toJS throws for it), with its offset. */
function unresolvedAlias(doc: Document.Parsed): { offset: number; source: string } | undefined {
  let found: { offset: number; source: string } | undefined;
  visit(doc, (_key, node) => {
    if (!isAlias(node) || node.resolve(doc) !== undefined) return undefined;
    found = { offset: node.range?.[0] ?? 0, source: node.source };
    return visit.BREAK;
  });
  return found;
}

/** A YAML parser message as an issue: its first line, at its line and column (`bom`: the text starts with a byte order mark). */
function yamlIssue(e: YAMLError, severity: Issue['severity'], bom: boolean): Issue {
  const pos = e.linePos?.[0];
  let first = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
  // The parser's advice is for its callers, not for a user who wrote a second `---`.
  if (e.code === 'MULTIPLE_DOCS') first = 'a rules document is one YAML document: remove the second "---" and what follows, or merge the two';
  // A `*` alone is an alias without a name to YAML: the "every namespace" glob (`excludeNamespaces: [*]`) written unquoted.
  // A regex in double quotes (`regex: "gcr\.io/(.*)"`): YAML reads its backslashes as escapes.
  if (e.code === 'BAD_DQ_ESCAPE') first = `${first}: in double quotes a backslash starts a YAML escape; write the value in single quotes ('gcr\\.io/(.*)'), or double its backslashes`;
  if (e.code === 'BAD_ALIAS' && first === 'Alias cannot be an empty string') first = `${first}: a "*" alone is a YAML alias; quote it ("*")`;
  // The composer reports its own stack overflow (lists or maps some thousand levels deep) as V8's message.
  if (first.includes('call stack')) first = TOO_DEEP;
  return pos ? { path: [], position: { line: pos.line, column: bom && pos.line === 1 ? Math.max(1, pos.col - 1) : pos.col }, severity, message: first } : { path: [], severity, message: first };
}
