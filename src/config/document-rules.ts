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
  if (!isPrefix(value)) {
    if (value.includes('@')) return 'is not a valid image name prefix (registry host, then optional /path; the value is not shown: an "@" may be a URL\'s credentials)';
    // The spelling the hint gives is itself spelled as names are compared (`gcr.io:443/` -> "gcr.io",
    // not "gcr.io:443"), its path in lower case as every name's is (`gcr.io/App:1` -> "gcr.io/app").
    const respell = (s: string): string => {
      const t = isPrefix(s) ? s : lowerPath(s);
      return isPrefix(t) ? (respelling(t)?.spelling ?? t) : s;
    };
    const hint = prefixHint(value, respell);
    const lower = lowerPath(value);
    const capitals = isPrefix(lower) ? `: a name's path is lower case, write "${respell(lower)}"` : '';
    return `"${value}" is not a valid image name prefix (registry host, then optional /path)${hint}${capitals}`;
  }
  return respelling(value)?.message;
}

const isPrefix = (value: string): boolean => grammar.anchoredName.test(`${value}/x`);
/** `value` with its path (after the first `/`) in lower case. */
const lowerPath = (value: string): string => value.replace(/\/.*$/s, (path) => path.toLowerCase());

/**
 * How a prefix the grammar takes must be spelled instead, and why: names are compared with their
 * host as `matchedName` (src/core/matched-name.ts) spells it, so a prefix spelled otherwise could
 * never match; undefined when it is spelled so.
 */
function respelling(value: string): { readonly message: string; readonly spelling: string } | undefined {
  const first = value.split('/')[0] ?? '';
  const rest = value.slice(first.length);
  const lower = first.toLowerCase();
  let host = portWithoutLeadingZeros(lower);
  const zeros = host !== lower;
  if (host.endsWith(':443')) host = host.slice(0, -':443'.length);
  if (host !== 'docker.io' && DOCKER_HUB_HOSTS.has(host)) {
    // One component is ambiguous: the image `index.docker.io/nginx` is docker.io/library/nginx,
    // while `index.docker.io/nginx/app` is docker.io/nginx/app. The spelling for a hint is the
    // latter: what a trailing `/` or `/*` (the shapes prefixHint fixes) means.
    const only = /^\/([^/]+)$/.exec(rest)?.[1];
    if (only !== undefined && only !== 'library') return { message: `names are normalized to docker.io; write "docker.io/library/${only}" for the image ${only}, or "docker.io/${only}" for the images under ${only}/`, spelling: `docker.io/${only}` };
    return { message: `names are normalized to docker.io; write "docker.io${rest}"`, spelling: `docker.io${rest}` };
  }
  // A first component that is no host in lower case either (`NGINX`) gets the normalized name,
  // not its lower case, which would be refused in turn.
  if (!(host.includes('.') || host.includes(':') || host === 'localhost')) {
    const name = `${host}${rest}`;
    // `library` alone is Docker Hub's official images (docker.io/library/...), not an image of that name.
    const spelling = rest !== '' ? `docker.io/${name}` : name === 'library' ? 'docker.io/library' : `docker.io/library/${name}`;
    return { message: `"${value}" does not start with a registry host; image names are compared in normalized form, did you mean "${spelling}"?`, spelling };
  }
  const spelling = `${host}${rest}`;
  if (zeros) return { message: `registry hosts are compared in lower case, with a port's leading zeros and ":443" (the port HTTPS uses anyway) dropped; write "${spelling}"`, spelling };
  if (host !== first) return { message: `registry hosts are compared in lower case and without ":443" (the port HTTPS uses anyway); write "${spelling}"`, spelling };
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
