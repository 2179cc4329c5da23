/**
 * Rules documents from text (YAML or JSON; JSON is YAML) to a validated, compiled rewriter.
 * YAML syntax errors, duplicate keys, unknown tags and schema problems all come back as `Issue`s
 * with a path or a line, never as exceptions. Sources (env var, file, SSM) are read by
 * src/config/rules-provider.ts.
 */
import { parseDocument, type YAMLError } from 'yaml';
import type { Issue } from '../core/rules.js';
import { readJsonDocument } from './json-document.js';
import { formatIssue, type ValidationResult, validateDocument } from './schema.js';

/** Largest rules document accepted (SSM advanced parameters hold 8 KiB; files may be larger). */
export const MAX_RULES_DOCUMENT_BYTES = 1024 * 1024;

/** One line per issue: `rules[2].replace: must not be empty`. */
export function formatIssues(issues: readonly Issue[]): string {
  return issues.map((i) => `  ${i.severity === 'warning' ? 'warning: ' : ''}${formatIssue(i)}`).join('\n');
}

/** Parse and validate a rules document. Never throws. */
export function parseRules(text: string, env: Readonly<Record<string, string | undefined>>): ValidationResult {
  if (Buffer.byteLength(text, 'utf8') > MAX_RULES_DOCUMENT_BYTES) {
    return { ok: false, issues: [{ path: [], severity: 'error', message: `larger than ${MAX_RULES_DOCUMENT_BYTES} bytes` }] };
  }
  if (text.trim() === '') {
    return { ok: false, issues: [{ path: [], severity: 'error', message: 'is empty; expected a mapping with "rules:"' }] };
  }
  // JSON (what the Lambda is usually given) skips the YAML parser: docs/performance.md.
  const json = readJsonDocument(text);
  if (json.kind === 'duplicate') {
    return { ok: false, issues: [{ path: [], position: { line: json.line, column: json.column }, severity: 'error', message: 'Map keys must be unique' }] };
  }
  let value: unknown;
  let otherWarnings: readonly Issue[] = [];
  if (json.kind === 'value') {
    value = json.value;
  } else {
    const yaml = readYaml(text);
    if (!yaml.ok) return yaml;
    value = yaml.value;
    otherWarnings = yaml.warnings;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issues: [{ path: [], severity: 'error', message: 'must be a mapping with "rules:" (and optionally "exclude:")' }] };
  }
  const result = validateDocument(value, env);
  if (!result.ok || otherWarnings.length === 0) return result;
  return { ...result, warnings: [...otherWarnings, ...result.warnings] };
}

/** The document read by the YAML parser: its value and warnings, or its errors as issues. */
function readYaml(text: string): { ok: true; value: unknown; warnings: Issue[] } | { ok: false; issues: Issue[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  // An unknown tag (`!Ref`, `!Sub`...) would be dropped and its text used as it is: refuse it.
  const unknownTags = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  const otherWarnings = doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED');
  if (doc.errors.length > 0 || unknownTags.length > 0) {
    return {
      ok: false,
      issues: [
        ...doc.errors.map((e) => yamlIssue(e, 'error')),
        ...unknownTags.map((e) => {
          const issue = yamlIssue(e, 'error');
          return { ...issue, message: `${issue.message} (rules documents use no YAML tags)` };
        }),
      ],
    };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }), warnings: otherWarnings.map((w) => yamlIssue(w, 'warning')) };
  } catch (e) {
    return { ok: false, issues: [{ path: [], severity: 'error', message: (e as Error).message }] };
  }
}

/** A YAML parser message as an issue: its first line, at its line and column. */
function yamlIssue(e: YAMLError, severity: Issue['severity']): Issue {
  const pos = e.linePos?.[0];
  const first = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
  return pos ? { path: [], position: { line: pos.line, column: pos.col }, severity, message: first } : { path: [], severity, message: first };
}
