/**
 * The checks of a rules document that JSON Schema cannot express, shared by its zod definition
 * (src/config/schema.ts) and the quick check (src/config/document-check.ts), so that both say the
 * same; and the compile that follows a document's validation.
 */
import { compileRules, type Issue } from '../core/rules.js';
import { prefixHint } from '../core/replace-template.js';
import { DOCKER_HUB_HOSTS, portWithoutLeadingZeros } from '../core/matched-name.js';
import { grammar } from '../core/reference.js';
import type { RuleSpec, RulesDocument } from '../core/rule-spec.js';
import type { ValidationResult } from './issues.js';

/** Normalized-name prefix: a registry host, then optional repository path components. */
export function prefixProblem(value: string): string | undefined {
  // `${value}/x` so that a bare host with a port (`localhost:5000`) is accepted as a prefix. The
  // value is quoted, as in the other messages: a stray space or tab is otherwise invisible. Not one
  // with an "@": a URL with its credentials (`https://user:password@host`) is never printed.
  if (!grammar.anchoredName.test(`${value}/x`)) {
    if (value.includes('@')) return 'is not a valid image name prefix (registry host, then optional /path; the value is not shown: an "@" may be a URL\'s credentials)';
    return `"${value}" is not a valid image name prefix (registry host, then optional /path)${prefixHint(value)}`;
  }
  const first = value.split('/')[0] ?? '';
  const rest = value.slice(first.length);
  // Names are compared with their host as `matchedName` (src/core/matched-name.ts) spells it: a prefix
  // spelled otherwise could never match, so it is refused with the spelling that would.
  const lower = first.toLowerCase();
  let host = portWithoutLeadingZeros(lower);
  const zeros = host !== lower;
  if (host.endsWith(':443')) host = host.slice(0, -':443'.length);
  if (host !== 'docker.io' && DOCKER_HUB_HOSTS.has(host)) {
    // One component is ambiguous: the image `index.docker.io/nginx` is docker.io/library/nginx,
    // while `index.docker.io/nginx/app` is docker.io/nginx/app.
    const only = /^\/([^/]+)$/.exec(rest)?.[1];
    if (only !== undefined && only !== 'library') return `names are normalized to docker.io; write "docker.io/library/${only}" for the image ${only}, or "docker.io/${only}" for the images under ${only}/`;
    return `names are normalized to docker.io; write "docker.io${rest}"`;
  }
  // A first component that is no host in lower case either (`NGINX`) gets the normalized name,
  // not its lower case, which would be refused in turn.
  if (!(host.includes('.') || host.includes(':') || host === 'localhost')) {
    const name = `${host}${rest}`;
    const suggestion = rest === '' ? `docker.io/library/${name}` : `docker.io/${name}`;
    return `"${value}" does not start with a registry host; image names are compared in normalized form, did you mean "${suggestion}"?`;
  }
  if (zeros) return `registry hosts are compared in lower case, with a port's leading zeros and ":443" (the port HTTPS uses anyway) dropped; write "${host}${rest}"`;
  if (host !== first) return `registry hosts are compared in lower case and without ":443" (the port HTTPS uses anyway); write "${host}${rest}"`;
  return undefined;
}

/** The fields that apply only with `verify: true`. */
const VERIFY_FIELDS = ['onMissing', 'onUnreachable', 'platforms'] as const;

/** What is wrong with a rule as a whole (its fields each valid): `field` when the problem is one field's. */
export function ruleProblems(rule: RuleSpec): readonly { readonly field?: (typeof VERIFY_FIELDS)[number]; readonly message: string }[] {
  const out: { field?: (typeof VERIFY_FIELDS)[number]; message: string }[] = [];
  if (rule.match === undefined && rule.regex === undefined) out.push({ message: 'needs one of "match" or "regex"' });
  if (rule.match !== undefined && rule.regex !== undefined) out.push({ message: 'has both "match" and "regex"; use one' });
  if (rule.verify !== true) {
    for (const field of VERIFY_FIELDS) if (rule[field] !== undefined) out.push({ field, message: 'applies only with "verify: true"' });
  }
  return out;
}

/** The result for a document that passed the schema: its rules compiled (problems across rules, the environment). */
export function compiledResult(document: RulesDocument, env: Readonly<Record<string, string | undefined>>): ValidationResult {
  const compiled = compileRules(document, env);
  return compiled.ok ? { ok: true, document, rewriter: compiled.rewriter, warnings: compiled.warnings } : { ok: false, issues: compiled.issues satisfies readonly Issue[] };
}
