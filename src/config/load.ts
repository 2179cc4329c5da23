/**
 * Rules documents from text (YAML or JSON; JSON is YAML) to a validated, compiled rewriter.
 * YAML syntax errors, duplicate keys and schema problems all come back as `Issue`s with a path or
 * a line, never as exceptions. Sources (env var, file, SSM) are read by the adapters.
 */
import { parseDocument } from 'yaml';
import type { Issue } from '../core/rules.js';
import { type ValidationResult, validateDocument } from './schema.js';

/** Largest rules document accepted (SSM advanced parameters hold 8 KiB; files may be larger). */
export const MAX_RULES_DOCUMENT_BYTES = 1024 * 1024;

/** The error thrown by adapters when a rules document cannot be used; carries every issue. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly Issue[];
  constructor(source: string, issues: readonly Issue[], options?: ErrorOptions) {
    super(`invalid rules document (${source}):\n${formatIssues(issues)}`, options);
    this.issues = issues;
  }
}

/** One line per issue: `rules[2].replace: must not be empty`. */
export function formatIssues(issues: readonly Issue[]): string {
  return issues.map((i) => `  ${i.severity === 'warning' ? 'warning: ' : ''}${i.path}: ${i.message}`).join('\n');
}

/** Parse and validate a rules document. Never throws. */
export function parseRules(text: string, env: Readonly<Record<string, string | undefined>>): ValidationResult {
  if (Buffer.byteLength(text, 'utf8') > MAX_RULES_DOCUMENT_BYTES) {
    return { ok: false, issues: [{ path: '(document)', severity: 'error', message: `larger than ${MAX_RULES_DOCUMENT_BYTES} bytes` }] };
  }
  if (text.trim() === '') {
    return { ok: false, issues: [{ path: '(document)', severity: 'error', message: 'is empty; expected a mapping with "rules:"' }] };
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const first = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
        return { path: pos ? `(line ${pos.line}, column ${pos.col})` : '(document)', severity: 'error' as const, message: first };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { ok: false, issues: [{ path: '(document)', severity: 'error', message: (e as Error).message }] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issues: [{ path: '(document)', severity: 'error', message: 'must be a mapping with "rules:" (and optionally "exclude:")' }] };
  }
  return validateDocument(value, env);
}
