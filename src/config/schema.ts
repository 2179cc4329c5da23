/**
 * The rules document: its only definition (zod), strict (unknown fields are errors), with every
 * problem reported at once, each with its path (`rules[2].replace: ...`).
 *
 * Structure and per-field syntax live here (a regex is compiled and checked for catastrophic
 * backtracking during validation, so a bad one is an issue, not a crash: the check, given by the
 * caller, is src/config/regex-check.ts, loaded by src/config/load.ts or, only for a document
 * with a regex rule, by src/config/load-async.ts); meaning that needs the
 * environment or several rules at once (substitutions, duplicates, shadowing) is checked by
 * `compileRules` in src/core/rules.ts. `validateWithSchema` runs both.
 *
 * It uses `zod/mini`: zod 4's own core and messages without the chainable API, so the bundle
 * carries only the schema types used here (every message and path is the same as with `zod`;
 * the bundle and cold-start figures are in docs/performance.md).
 *
 * A valid document is recognised first without zod, by src/config/document-check.ts (a validator
 * compiled at build time from this schema's JSON Schema, `rulesDocumentJsonSchema`, and the checks
 * JSON Schema cannot express, src/config/document-rules.ts, which this schema calls too): the
 * Lambda loads this module only for a document that check does not accept.
 */
import * as z from 'zod/mini';
import { compileRules, duplicateNameIssue, type Issue, MAX_RULES, ON_MISSING, ON_UNREACHABLE, type PathSegment, tooManyRulesIssue } from '../core/rules.js';
import { foreignCharacter } from '../core/reference.js';
import { replaceProblem, substituteEnv } from '../core/replace-template.js';
import type { RuleSpec, RulesDocument } from '../core/rule-spec.js';
import { compiledResult, prefixProblem, ruleProblems } from './document-rules.js';
import type { RegexCheck, ValidationResult } from './issues.js';

export { formatIssue, formatPath, issueWhere, type RegexCheck, type ValidationResult } from './issues.js';


// Documents are validated once per load, never per request: zod's compiled (`new Function`) object
// parsers would cost more to generate at a cold start than they save (docs/performance.md), and
// no eval is the safer default anyway.
z.config({ jitless: true });

/** A Kubernetes object name (DNS subdomain), as used for Secrets. */
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ruleName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/**
 * The longest rule name. A name is written whole, never clipped, where it counts: in each
 * `admission reviewed` line's rule slots (`rule1`..`rule5`, which must stay exact for the per-rule
 * metric) and as the value of the `Rule` dimension their metric filters publish, which CloudWatch
 * takes up to 1,024 characters. Unbounded, five long names made a review line larger than a log
 * event, which Lambda splits into events that are no JSON, so the metric filters missed it.
 */
export const MAX_RULE_NAME_LENGTH = 253;
/** `os[(osversion)]/architecture[/variant]`, as in an image index (`linux/arm64/v8`), with the OS version as containerd writes it (`windows(10.0.20348)/amd64`). */
const platform = /^[a-z0-9._-]+(\([a-z0-9._-]+\))?\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/;
// Ends as a name does (a letter or digit) or with a wildcard: `kube-`, its `*` forgotten, matched no
// namespace, so an excludeNamespaces of it excluded nothing.
const namespaceGlob = /^[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?$/;

const prefix = z.string().check(
  z.superRefine((v, ctx) => {
    const p = prefixProblem(v);
    if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
  }),
);

const namespaceList = (): z.ZodMiniOptional<z.ZodMiniArray<z.ZodMiniString>> =>
  z.optional(z.array(z.string().check(z.regex(namespaceGlob, 'must be a namespace name, "*" and "?" allowed'))).check(z.minLength(1)));

/** The fields of a rule, in the order the "known fields" hint lists them. */
const RULE_KEYS = ['name', 'match', 'regex', 'replace', 'namespaces', 'excludeNamespaces', 'imagePullSecrets', 'verify', 'onMissing', 'onUnreachable', 'platforms'] as const;

function ruleShape(regexCheck: RegexCheck) {
  return {
    name: z.string().check(
      z.regex(ruleName, 'must be letters, digits, "-", "_" or "." (starting and ending with a letter or digit)'),
      z.maxLength(MAX_RULE_NAME_LENGTH, `must be at most ${String(MAX_RULE_NAME_LENGTH)} characters`),
    ),
    match: z.optional(prefix),
    regex: z.optional(
      z.string().check(
        z.minLength(1, 'must not be empty'),
        z.superRefine((v, ctx) => {
          const p = regexCheck(v);
          if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
        }),
      ),
    ),
    replace: z.string().check(z.minLength(1, 'must not be empty')),
    namespaces: namespaceList(),
    excludeNamespaces: namespaceList(),
    imagePullSecrets: z.optional(z.array(z.string().check(z.regex(dnsSubdomain, 'must be a Secret name'))).check(z.minLength(1))),
    verify: z.optional(z.boolean()),
    onMissing: z.optional(z.enum(ON_MISSING)),
    onUnreachable: z.optional(z.enum(ON_UNREACHABLE)),
    platforms: z.optional(z.array(z.string().check(z.regex(platform, 'must be os/architecture[/variant] (the os with its version as os(osversion) for a Windows build), like linux/amd64, linux/arm64/v8 or windows(10.0.20348)/amd64'))).check(z.minLength(1))),
  } satisfies Record<(typeof RULE_KEYS)[number], z.ZodMiniType>;
}

/**
 * The rule and document schemas with a regex check. They validate into the core's types
 * (src/core/rule-spec.ts): `satisfies` fails to compile when what they produce stops being a
 * RuleSpec or a RulesDocument.
 */
function buildSchemas(regexCheck: RegexCheck) {
  const rule = z.strictObject(ruleShape(regexCheck)).check(
    z.superRefine((r, ctx) => {
      for (const p of ruleProblems(r)) ctx.addIssue(p.field === undefined ? { code: 'custom', message: p.message } : { code: 'custom', path: [p.field], message: p.message });
    }),
  ) satisfies z.ZodMiniType<RuleSpec>;
  const document = z.strictObject({
    rules: z.array(rule),
    exclude: z.optional(z.array(prefix)),
    allowOptOut: z.optional(z.boolean()),
  }) satisfies z.ZodMiniType<RulesDocument>;
  return { rule, document };
}

type Schemas = ReturnType<typeof buildSchemas>;
/** Built at the first validation with each check (there is one check per process in practice). */
const schemas = new WeakMap<RegexCheck, Schemas>();

function schemasFor(regexCheck: RegexCheck): Schemas {
  let s = schemas.get(regexCheck);
  if (s === undefined) {
    s = buildSchemas(regexCheck);
    schemas.set(regexCheck, s);
  }
  return s;
}

const DOCUMENT_KEYS = ['rules', 'exclude', 'allowOptOut'] as const satisfies readonly (keyof RulesDocument)[];

/** Levenshtein distance, for "did you mean" on unknown fields (tiny and ours). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

/** A zod path as a document path (zod allows symbol keys; a document has none, but print them anyway). */
const segments = (path: readonly PropertyKey[]): PathSegment[] => path.map((p) => (typeof p === 'number' ? p : String(p)));

/**
 * What YAML made of a scalar written for another type: `name: 2024` and `name: 1.10` are numbers,
 * `verify: yes` and `allowOptOut: "false"` text (YAML 1.2 reads only true and false as booleans,
 * unquoted), `replace: ~` or nothing after the colon null. The value itself is not quoted.
 */
function scalarHint(expected: string, input: unknown): string {
  if (input === null) return ', and is empty (null)';
  if (expected === 'string' && (typeof input === 'number' || typeof input === 'boolean')) return `, not a ${typeof input}: put the value in quotes`;
  if (expected === 'boolean' && typeof input === 'string') return ': true or false, without quotes (YAML 1.2 reads yes, no, on and off as text)';
  // `exclude: gcr.io/x`, `namespaces: team-a`; `rules:` followed by `gcr: {match: ...}`.
  if (expected === 'array' && typeof input === 'string') return ', even of one entry: write it in brackets ([a]) or on lines starting with "- "';
  if (expected === 'array' && typeof input === 'object' && !Array.isArray(input)) return ', not a mapping: start each entry with "- "';
  // `rules: [gcr.io]`, `- gcr.io -> asia.gcr.io`: a rule written as one line of text.
  if (expected === 'object' && typeof input === 'string') return `, not the text ${JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}...` : input)}: a rule is "name:", "match:" (or "regex:") and "replace:", each on its own line under its "- "`;
  return '';
}

function issuesFromZod(error: z.core.$ZodError): Issue[] {
  const out: Issue[] = [];
  for (const i of error.issues) {
    if (i.code === 'unrecognized_keys') {
      const known: readonly string[] = i.path.length === 0 ? DOCUMENT_KEYS : RULE_KEYS;
      for (const key of i.keys) {
        const best = [...known].sort((a, b) => distance(key, a) - distance(key, b))[0];
        // A `//` or `/* */` comment in a JSON document: YAML reads it, and the key after it, as one key.
        const comment = /^\s*(?:\/\/|\/\*)/.test(key)
          ? '; a comment? JSON has none, and YAML writes them with #'
          : // `{\"rules\": []}`: quotes escaped for a shell or a SAM parameter, and the backslashes kept.
            /^\\["']/.test(key)
            ? '; its quotes kept the backslashes that escaped them (\\"): give the document without them'
            : '';
        const hint = best !== undefined && distance(key, best) <= 2 ? ` (did you mean "${best}"?)` : ` (known fields: ${known.join(', ')}${comment})`;
        // `<<: *defaults`, as in Compose files and kubectl's manifests: YAML 1.2, which rules documents are read as, has no merge key.
        // `{name:gcr}` or JSON5's `{name:'gcr'}`: YAML reads a key without the space after its colon as one key.
        const joined = /^([A-Za-z]+):(\S.*)$/s.exec(key);
        const message =
          key === '<<'
            ? 'unknown field: a YAML merge key (<<: *anchor), which rules documents do not read (YAML 1.2 has none); write the fields out in each rule'
            : joined?.[1] !== undefined && known.includes(joined[1])
              ? `unknown field: "${joined[1]}" without a space after its colon, which YAML reads as one key; write "${joined[1]}: ${joined[2] ?? ''}"`
              : `unknown field${hint}`;
        out.push({ path: segments([...i.path, key]), severity: 'error', message });
      }
      continue;
    }
    let message = i.message;
    if (i.code === 'invalid_type') message = i.input === undefined ? 'is required' : `must be ${i.expected === 'array' ? 'a list' : i.expected === 'object' ? 'a mapping' : `a ${i.expected}`}${scalarHint(i.expected, i.input)}`;
    // zod/mini carries no messages of its own ("Invalid input"): say what is allowed.
    else if (i.code === 'invalid_value') message = `must be one of: ${i.values.map(String).join(', ')}`;
    else if (i.code === 'too_small' && i.origin === 'array' && message === 'Invalid input') message = 'must not be an empty list (leave the field out instead)';
    // A name, a namespace or a platform refused for its form: say which (a zero-width space or a
    // no-break space in it is written as \uXXXX where the issue is printed), and where a character
    // no such name holds is (a Cyrillic look-alike shows as the letter it looks like). Not a Secret's: what
    // is pasted where its name belongs may be its token (`ghp_...`), and the log line would keep it.
    else if (i.code === 'invalid_format' && typeof i.input === 'string' && i.input.length <= MAX_RULE_NAME_LENGTH && !i.path.includes('imagePullSecrets')) {
      const forgotten = i.path.some((p) => p === 'namespaces' || p === 'excludeNamespaces') && i.input.endsWith('-') ? ` (its "*" forgotten? "${i.input}*")` : '';
      const foreign = foreignCharacter(i.input);
      message = `${JSON.stringify(i.input)} ${message}${forgotten}${foreign === undefined ? '' : `: ${foreign}`}`;
    }
    out.push({ path: segments(i.path), severity: 'error', message });
  }
  return out;
}

/**
 * The problems of the `replace` of a rule the schema refused (a typo in another field, a `match`
 * spelled otherwise), which no compile of the valid rules sees. When the rule's one pattern passes
 * the schema, the rule is compiled with only that pattern and `replace` (the problems of a regex
 * rule's template need its groups); else what `replace` shows on its own: an unset variable and,
 * in a `match` rule or for a replacement without a `$`, one that is not a registry prefix. Without
 * them, fixing the reported field only revealed the next problem of the same rule.
 */
function refusedRuleReplaceIssues(raw: unknown, index: number, env: Readonly<Record<string, string | undefined>>, ruleSchema: Schemas['rule']): Issue[] {
  if (typeof raw !== 'object' || raw === null || !Object.hasOwn(raw, 'replace')) return [];
  const rule = raw as Readonly<Record<string, unknown>>;
  const replace = rule['replace'];
  // Not a string, or empty: the schema said so.
  if (typeof replace !== 'string' || replace === '') return [];
  const path = ['rules', index, 'replace'];
  const hasMatch = Object.hasOwn(rule, 'match');
  if (hasMatch !== Object.hasOwn(rule, 'regex')) {
    const alone = ruleSchema.safeParse(hasMatch ? { name: 'r', match: rule['match'], replace } : { name: 'r', regex: rule['regex'], replace });
    if (alone.success) {
      const compiled = compileRules({ rules: [alone.data] }, env);
      if (compiled.ok) return [];
      return compiled.issues.filter((i) => i.severity === 'error' && i.path[2] === 'replace').map((i) => ({ ...i, path }));
    }
  }
  const substituted = substituteEnv(replace, env);
  if (substituted.errors.length > 0) return substituted.errors.map((message) => ({ path, severity: 'error', message }));
  // A replacement that refers to no group is read alike in a `match` rule and in a regex rule (which
  // also wants a path after the host): what is wrong with it as a prefix is wrong in either, so it
  // is said for a rule with neither pattern (`matchh: gcr.io`), both, or a refused regex too.
  const matchRule = hasMatch && !Object.hasOwn(rule, 'regex') && typeof rule['match'] === 'string';
  if (!matchRule && substituted.value.includes('$')) return [];
  const problem = replaceProblem(substituted.value);
  return problem === undefined ? [] : [{ path, severity: 'error', message: problem }];
}

/**
 * The rule-level problems (no `match` nor `regex`, both, verify-only fields) of a rule the schema
 * refused: zod skips a rule's refinement once a field is missing (`name`, `replace`), so without
 * these a rule lacking both its replace and its match was reported as lacking only its replace.
 */
function refusedRuleProblems(raw: unknown, index: number): Issue[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [];
  const rule = raw as Readonly<Record<string, unknown>>;
  // A `verify` of the wrong type is reported as such; whether the other fields apply is unknown.
  const problems = ruleProblems(rule as unknown as RuleSpec).filter((p) => p.field === undefined || rule['verify'] === undefined || typeof rule['verify'] === 'boolean');
  return problems.map((p) => ({ path: p.field === undefined ? ['rules', index] : ['rules', index, p.field], severity: 'error', message: p.message }));
}

/**
 * Validate a parsed rules document (any value) with the zod schema and compile it. Every problem
 * is reported at once: rules that pass the schema are still compiled when others do not, so an
 * unset variable in one rule and a typo in another show up together. Callers try the quick check
 * first (src/config/document-check.ts: same result for a valid document, without zod).
 */
export function validateWithSchema(input: unknown, env: Readonly<Record<string, string | undefined>>, regexCheck: RegexCheck): ValidationResult {
  const { rule: ruleSchema, document: rulesDocumentSchema } = schemasFor(regexCheck);
  const parsed = rulesDocumentSchema.safeParse(input, { reportInput: true });
  if (parsed.success) return compiledResult(parsed.data, env);
  const issues = issuesFromZod(parsed.error);
  // Compile the rules that are valid on their own, to report their problems as well.
  if (typeof input === 'object' && input !== null && Array.isArray((input as { rules?: unknown }).rules)) {
    const raw = (input as { rules: unknown[] }).rules;
    const good: RuleSpec[] = [];
    const indexOf: number[] = [];
    raw.forEach((r, i) => {
      const one = ruleSchema.safeParse(r, { reportInput: true });
      if (one.success) {
        good.push(one.data);
        indexOf.push(i);
      } else {
        for (const issue of refusedRuleReplaceIssues(r, i, env, ruleSchema)) issues.push(issue);
        for (const issue of refusedRuleProblems(r, i)) {
          if (!issues.some((x) => x.message === issue.message && x.path.join('.') === issue.path.join('.'))) issues.push(issue);
        }
      }
    });
    // A document over the limit is refused for its size (counted whole: its valid rules alone may be
    // within it) and, like a schema-valid one, its valid rules are not compiled.
    const partial = raw.length > MAX_RULES ? { ok: false as const, issues: [tooManyRulesIssue(raw.length)] } : compileRules({ rules: good }, env);
    if (!partial.ok) {
      for (const i of partial.issues) {
        if (i.severity !== 'error') continue;
        const [first, index, ...rest] = i.path;
        const path = first === 'rules' && typeof index === 'number' ? ['rules', indexOf[index] ?? index, ...rest] : i.path;
        issues.push({ ...i, path, message: i.message.replace(/rules\[(\d+)\]/g, (_m, n: string) => `rules[${indexOf[Number(n)] ?? n}]`) });
      }
    }
    // Names shared with a rule refused above, which that compile did not see (between two valid
    // rules it reported them itself): every problem at once.
    const valid = new Set(indexOf);
    const firstByName = new Map<string, number>();
    const firstValidByName = new Map<string, number>();
    raw.forEach((r, i) => {
      const name = typeof r === 'object' && r !== null ? (r as { name?: unknown }).name : undefined;
      if (typeof name !== 'string') return;
      const first = firstByName.get(name);
      if (first === undefined) firstByName.set(name, i);
      const reported = valid.has(i) && firstValidByName.has(name);
      if (valid.has(i) && !firstValidByName.has(name)) firstValidByName.set(name, i);
      if (first !== undefined && !reported) issues.push(duplicateNameIssue(name, i, first));
    });
  }
  return { ok: false, issues: sortIssues(issues) };
}

function sortIssues(issues: Issue[]): Issue[] {
  return issues
    .map((i, n) => ({ i, n, k: i.path }))
    .sort((a, b) => {
      for (let j = 0; j < Math.min(a.k.length, b.k.length); j++) {
        const x = a.k[j];
        const y = b.k[j];
        if (typeof x === 'number' && typeof y === 'number' && x !== y) return x - y;
        if (x !== y) break;
      }
      return a.n - b.n;
    })
    .map(({ i }) => i);
}

/** Whether the zod schema accepts the document (its checks of single fields and rules; not the compile). */
export function schemaAccepts(input: unknown, regexCheck: RegexCheck): boolean {
  return schemasFor(regexCheck).document.safeParse(input).success;
}

/**
 * The document's structure as JSON Schema (draft-07), by zod's own conversion: the refinements
 * (`superRefine`) are not in it. scripts/generate-validator.ts compiles it into the quick check's
 * validator (src/config/document-check.ts).
 */
export function rulesDocumentJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(schemasFor(() => undefined).document, { target: 'draft-07', unrepresentable: 'throw' });
}
