/**
 * The quick check of a rules document (src/config/document-check.ts) against its definition, the
 * zod schema (src/config/schema.ts): on generated documents, valid and broken in the ways people
 * break them, a document the quick check accepts gets exactly the zod schema's result, and every
 * document the zod schema accepts is accepted by the quick check (else the Lambda would load zod
 * for it). Documents come from JSON or YAML, so each is also read back from its JSON text.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { quickValidDocument, validateQuick } from '../../src/config/document-check.js';
import { regexProblem } from '../../src/config/regex-check.js';
import { parseRulePattern } from '../../src/config/regex-parse-full.js';
import { ruleRegexCheck } from '../../src/config/rules-text.js';
import { schemaAccepts, validateWithSchema, type ValidationResult } from '../../src/config/schema.js';
import { CHART_VALUES_SCHEMA, GENERATED_VALIDATOR, chartValuesSchemaSource, validatorSource } from '../../scripts/generate-validator.js';

/** The regex check as the command line has it (src/config/load.ts): regexpp for a regex outside the subset. */
const check = ruleRegexCheck((source, compile) => regexProblem(source, compile, { full: parseRulePattern }));
const env = { AWS_ACCOUNT_ID: '123456789012', AWS_REGION: 'eu-west-1' };

/** What a result says, without the compiled rewriter's functions. */
const said = (r: ValidationResult): unknown => (r.ok ? { ok: true, document: r.document, warnings: r.warnings } : { ok: false, issues: r.issues });

/**
 * The quick check accepts what the zod schema accepts (`exact`: every document read from JSON or
 * YAML), and never what it refuses (any value: objects with another prototype go to zod).
 */
function sameVerdict(input: unknown, exact = true): void {
  const accepted = quickValidDocument(input, check) !== undefined;
  if (exact) expect(accepted).toBe(schemaAccepts(input, check));
  else if (accepted) expect(schemaAccepts(input, check)).toBe(true);
  const quick = validateQuick(input, env, check);
  if (quick !== undefined) expect(said(quick)).toEqual(said(validateWithSchema(input, env, check)));
}

const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}));
const name = fc.oneof({ weight: 5, arbitrary: fc.constantFrom('gcr', 'k8s-registry', 'a', 'a.b_c-d', 'A1') }, fc.constantFrom('', '-a', 'a-', 'a b', 'ü'), fc.string({ maxLength: 6 }), notString);
const prefix = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('gcr.io', 'registry.k8s.io', 'docker.io/library', 'localhost:5000', 'quay.io/org', '123456789012.dkr.ecr.us-east-1.amazonaws.com/x') },
  fc.constantFrom('', 'nginx', 'library/nginx', 'index.docker.io/library', 'GCR.IO', 'gcr.io/', 'gcr.io//x', 'a:b:c', 'Localhost/x', 'gcr.io/UPPER'),
  fc.string({ maxLength: 8 }),
  notString,
);
const regex = fc.oneof({ weight: 5, arbitrary: fc.constantFrom('quay\\.io/(?<org>[^/]+)/(.+)', 'docker\\.io/library/([^/]+)', '(.*)', 'gcr\\.io/(.+)') }, fc.constantFrom('', '(a+)+', '(a|a)*', '[', '(?=a)', '.*.*x', '\\1(a)'), notString);
const replace = fc.oneof({ weight: 5, arbitrary: fc.constantFrom('mirror.example.com', 'mirror.example.com/$1', '${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.amazonaws.com/hub', '${env:UNSET}/x', 'x/$<org>') }, fc.constantFrom(''), notString);
const globs = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(['default'], ['kube-*', 'team-?'], ['*']) }, fc.constantFrom([], ['Bad'], ['a b'], ['']), fc.array(fc.oneof(fc.string({ maxLength: 4 }), notString), { maxLength: 2 }), notString);
const secrets = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(['ecr-pull'], ['a.b-c']) }, fc.constantFrom([], ['Bad_Name'], ['-x'], ['a..b']), notString);
const platforms = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(['linux/amd64'], ['linux/arm64/v8'], ['windows(10.0.20348)/amd64']) }, fc.constantFrom([], ['linux'], ['Linux/amd64'], ['linux/amd64/v8/x'], ['windows()/amd64'], ['windows(10.0.20348/amd64']), notString);
const bool = fc.oneof({ weight: 5, arbitrary: fc.boolean() }, fc.constantFrom('true', 1, null));
const extraKey = fc.constantFrom('nmae', 'matches', '__proto__', 'constructor', 'toString', '');

const rule = fc
  .record(
    {
      name,
      match: prefix,
      regex,
      replace,
      namespaces: globs,
      excludeNamespaces: globs,
      imagePullSecrets: secrets,
      verify: bool,
      onMissing: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('keep', 'rewrite', 'deny') }, fc.constantFrom('Keep', 'ignore'), notString),
      onUnreachable: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('keep', 'rewrite') }, fc.constantFrom('deny'), notString),
      platforms,
      extra: fc.tuple(extraKey, fc.jsonValue({ maxDepth: 1 })),
    },
    { requiredKeys: ['name', 'replace'] },
  )
  // Mostly rules that could be valid (one of match and regex; few optional fields).
  .chain((r) => fc.tuple(fc.constant(r), fc.nat(9), fc.nat(4)))
  .map(([r, shape, extras]) => {
    const { extra, ...fields } = r;
    const out: Record<string, unknown> = { ...fields };
    if (shape < 8) Reflect.deleteProperty(out, shape % 2 === 0 ? 'regex' : 'match');
    if (shape < 6) for (const k of ['onMissing', 'onUnreachable', 'platforms', 'verify']) Reflect.deleteProperty(out, k);
    if (extras === 0 && extra !== undefined) out[extra[0]] = extra[1];
    return out;
  });

const document = fc
  .record({ rules: fc.oneof({ weight: 8, arbitrary: fc.array(rule, { maxLength: 4 }) }, { weight: 1, arbitrary: notString }), exclude: fc.oneof({ weight: 5, arbitrary: fc.array(prefix, { maxLength: 3 }) }, notString), allowOptOut: bool, extra: fc.tuple(extraKey, fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: [] })
  .chain((d) => fc.tuple(fc.constant(d), fc.nat(9)))
  .map(([d, shape]) => {
    const { extra, ...fields } = d;
    const out: Record<string, unknown> = { ...fields };
    if (shape > 0 && out['rules'] === undefined) out['rules'] = [];
    if (shape === 1 && extra !== undefined) out[extra[0]] = extra[1];
    return out;
  });

describe('the quick check of a rules document says what the zod schema says', () => {
  it('on generated documents, as values and read back from their JSON', () => {
    let accepted = 0;
    fc.assert(
      fc.property(document, (d) => {
        sameVerdict(d, false);
        const json: unknown = JSON.parse(JSON.stringify(d));
        sameVerdict(json);
        if (quickValidDocument(json, check) !== undefined) accepted++;
      }),
      { numRuns: 3000 },
    );
    // The generator reaches valid documents often enough for the comparison to mean something.
    expect(accepted).toBeGreaterThan(300);
  });

  it.each([
    ['not a mapping', [1]],
    ['null', null],
    ['a string', 'rules'],
    ['no rules', {}],
    ['rules not a list', { rules: {} }],
    ['an own __proto__ key', JSON.parse('{"rules":[],"__proto__":{"x":1}}') as unknown],
    ['a rule with an own __proto__ key', JSON.parse('{"rules":[{"name":"a","match":"gcr.io","replace":"x","__proto__":{}}]}') as unknown],
    ['an undefined optional field', { rules: [{ name: 'a', match: 'gcr.io', replace: 'x', regex: undefined }] }],
    ['an undefined unknown field', { rules: [{ name: 'a', match: 'gcr.io', replace: 'x', nope: undefined }] }],
    ['a sparse list', { rules: Object.assign(new Array<unknown>(2), { 1: { name: 'a', match: 'gcr.io', replace: 'x' } }) }],
    ['an astral name', { rules: [{ name: '\u{1F600}', match: 'gcr.io', replace: 'x' }] }],
    ['a name with a line break at the end', { rules: [{ name: 'a\n', match: 'gcr.io', replace: 'x' }] }],
    ['an exclusion with a line break at the end', { rules: [], exclude: ['gcr.io\n'] }],
    ['a namespace glob with a line break at the end', { rules: [{ name: 'a', match: 'gcr.io', replace: 'x', namespaces: ['default\n'] }] }],
    ['verify fields without verify', { rules: [{ name: 'a', match: 'gcr.io', replace: 'x', onMissing: 'deny' }] }],
    ['verify fields with verify', { rules: [{ name: 'a', match: 'gcr.io', replace: 'x', verify: true, onMissing: 'deny', platforms: ['linux/amd64'] }] }],
    ['duplicate rule names', { rules: [{ name: 'a', match: 'gcr.io', replace: 'x' }, { name: 'a', match: 'quay.io', replace: 'y' }] }],
    ['an unset variable', { rules: [{ name: 'a', match: 'gcr.io', replace: '${env:NOPE}/x' }] }],
  ])('%s', (_what, input) => {
    sameVerdict(input);
  });

  it.each([
    ['an inherited field', { rules: [Object.assign(Object.create({ match: 'gcr.io' }) as object, { name: 'a', replace: 'x' })] }],
    ['an inherited unknown field', Object.assign(Object.create({ nope: 1 }) as object, { rules: [] })],
    ['an inherited unknown field in a rule', { rules: [Object.assign(Object.create({ nope: 1 }) as object, { name: 'a', match: 'gcr.io', replace: 'x' })] }],
  ])('%s: not accepted without zod', (_what, input) => {
    expect(quickValidDocument(input, check)).toBeUndefined();
    sameVerdict(input, false);
  });

  it('accepts a document without prototypes, as zod does', () => {
    const rule = Object.assign(Object.create(null) as object, { name: 'a', match: 'gcr.io', replace: 'x' });
    const input = Object.assign(Object.create(null) as object, { rules: [rule] });
    expect(quickValidDocument(input, check)).toBe(input);
    sameVerdict(input);
  });
});

describe('the generated validator', () => {
  it(`${GENERATED_VALIDATOR} is what npm run generate writes from the zod schema`, () => {
    expect(readFileSync(GENERATED_VALIDATOR, 'utf8')).toBe(validatorSource());
  });

  // The chart's rules.document was any object: helm upgrade wrote a document serve refused (QA-54).
  it(`${CHART_VALUES_SCHEMA} has as rules.document the schema npm run generate writes from the zod schema`, () => {
    const current = readFileSync(CHART_VALUES_SCHEMA, 'utf8');
    expect(current).toBe(chartValuesSchemaSource(current));
    expect(JSON.parse(current)).toMatchObject({ properties: { rules: { properties: { document: { additionalProperties: false, required: ['rules'] } } } } });
  });
});
