/**
 * Fuzz target "rules": rules documents as text (any string, YAML and JSON of any value, valid
 * documents with characters inserted or removed) and as values (any JSON, valid documents with a
 * field replaced, removed or added), and regexes from a grammar of the constructs that backtrack.
 *
 * Never a throw; an invalid document is `ok: false` with at least one error, and every issue has a
 * path and a message; a regex the validator accepts runs in bounded time on the longest, most
 * hostile names (a hang shows up as the jest timeout, a slow one as the sanity ceiling below); the
 * regex parser of that check reads every generated source the way V8 runs it.
 */
import { describe, expect } from '@jest/globals';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseRules, validateDocument } from '../../src/config/load.js';
import { issueWhere, type ValidationResult } from '../../src/config/schema.js';
import { fixture, fixtureNames, TEST_ENV } from '../helpers/fixtures.js';
import { disagreement, regexSourceArb, subjectArb } from '../helpers/regex-differential.js';
import { fuzzTarget } from './budget.js';

const VALID_TEXTS = fixtureNames(/^valid-.*\.(ya?ml|json)$/).map((n) => fixture(n));
const VALID_VALUES: unknown[] = VALID_TEXTS.map((t) => {
  const r = parseRules(t, TEST_ENV);
  if (!r.ok) throw new Error('a valid fixture does not load');
  return JSON.parse(JSON.stringify(r.document)) as unknown;
});

function checkValidation(r: ValidationResult): void {
  const issues = r.ok ? r.warnings : r.issues;
  if (!r.ok) expect(r.issues.some((i) => i.severity === 'error')).toBe(true);
  for (const i of issues) {
    expect(Array.isArray(i.path)).toBe(true);
    expect(issueWhere(i).length).toBeGreaterThan(0);
    expect(i.message.length).toBeGreaterThan(0);
    expect(['error', 'warning']).toContain(i.severity);
  }
}

// --- values ---------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path of a JSON value (lists of keys and indexes). */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** `doc` with the value at one path replaced, removed, or given an extra field. */
function mutate(doc: unknown, pick: number, how: 'set' | 'delete' | 'add', value: Json, key: string): unknown {
  const copy = JSON.parse(JSON.stringify(doc)) as unknown;
  const all = paths(copy);
  const path = all[pick % all.length] ?? [];
  if (path.length === 0) return how === 'set' ? value : copy;
  let parent: unknown = copy;
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k];
  const last = path[path.length - 1] ?? 0;
  const p = parent as Record<string | number, unknown>;
  if (how === 'set') p[last] = value;
  else if (how === 'delete') {
    if (Array.isArray(p)) p.splice(Number(last), 1);
    else Reflect.deleteProperty(p, last);
  } else {
    const target = p[last];
    if (typeof target === 'object' && target !== null && !Array.isArray(target)) Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
    else p[last] = value;
  }
  return copy;
}

const KEYS = ['rules', 'exclude', 'name', 'match', 'regex', 'replace', 'namespaces', 'excludeNamespaces', 'imagePullSecrets', '__proto__', 'constructor', 'prototype', 'nmae', ''];
const jsonValue = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
const mutatedValue = fc
  .tuple(fc.constantFrom(...VALID_VALUES), fc.array(fc.tuple(fc.nat(), fc.constantFrom<'set' | 'delete' | 'add'>('set', 'delete', 'add'), jsonValue, fc.constantFrom(...KEYS)), { minLength: 1, maxLength: 3 }))
  .map(([doc, edits]) => edits.reduce<unknown>((d, [pick, how, value, key]) => mutate(d, pick, how, value, key), doc));

// --- texts ----------------------------------------------------------------------------------------

const YAML_CHARS = 'rules:exclude-name match regex replace\n  - {}[]"\'#&*!|>%@`,?\\$'.split('');
const mutatedText = fc
  .tuple(fc.constantFrom(...VALID_TEXTS), fc.array(fc.tuple(fc.nat(), fc.boolean(), fc.constantFrom(...YAML_CHARS)), { minLength: 1, maxLength: 5 }))
  .map(([text, edits]) =>
    edits.reduce((t, [at, insert, c]) => {
      const i = t.length === 0 ? 0 : at % t.length;
      return insert ? t.slice(0, i) + c + t.slice(i) : t.slice(0, i) + t.slice(i + 1);
    }, text),
  );
const text = fc.oneof(
  fc.string({ unit: fc.constantFrom(...YAML_CHARS), maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => stringify(v)),
  mutatedValue.map((v) => stringify(v)),
  mutatedText,
);

// --- regexes --------------------------------------------------------------------------------------

const atom = fc.constantFrom('a', '.', '\\.', '/', '[a-z]', '[^/]', '[a-z0-9._-]', '\\d', '\\w', 'x', '-', '(?:a|b)', '(a|ab)', '\\1', '(?=a)', '(?<!a)', '\\b', '^', '$');
const quantifier = fc.constantFrom('', '', '*', '+', '?', '{2}', '{1,3}', '{2,}', '*?', '{0,30}');
const piece: fc.Arbitrary<string> = fc.letrec<{ piece: string }>((tie) => ({
  piece: fc.oneof(
    { weight: 5, arbitrary: fc.tuple(atom, quantifier).map(([a, q]) => a + q) },
    { weight: 1, arbitrary: fc.tuple(fc.array(tie('piece'), { minLength: 1, maxLength: 3 }), fc.constantFrom('(', '(?:', '(?<g>'), quantifier).map(([ps, open, q]) => `${open}${ps.join('')})${q}`) },
    { weight: 1, arbitrary: fc.tuple(tie('piece'), tie('piece')).map(([a, b]) => `${a}|${b}`) },
  ),
})).piece;
const regexSource = fc.oneof(
  { weight: 6, arbitrary: fc.array(piece, { minLength: 1, maxLength: 8 }).map((ps) => ps.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'()[]{}*+?|.\\^$a/-:,0123456789'.split('')), minLength: 1, maxLength: 40 }) },
);

/** The longest names the rewriter runs a regex on, made of the characters the regexes match. */
const HOSTILE_NAMES = ['a', 'a.', 'a/', '.', 'a-', 'ab', '0'].flatMap((unit) => [
  `docker.io/library/${unit.repeat(Math.floor(230 / unit.length))}!`,
  `${'a'.repeat(240)}.example.com/${unit.repeat(Math.floor(250 / unit.length))}`,
  `${unit.replace(/[^a-z0-9]/g, 'a').repeat(250)}.io/${'a'.repeat(250)}`,
]);

/** Sanity ceiling for one rewrite (a catastrophic regex takes seconds to minutes). */
const CEILING_MS = 1000;

const target = fuzzTarget('rules');

describe('fuzz: rules documents', () => {
  target.property(
    'any text: never throws, every issue has a path',
    () =>
      fc.property(text, (t) => {
        checkValidation(parseRules(t, TEST_ENV));
      }),
    { runs: 600, share: 3 },
  );

  target.property(
    'any value and mutated valid documents: never throws, every issue has a path',
    () =>
      fc.property(fc.oneof(fc.anything({ maxDepth: 3 }), mutatedValue, mutatedValue), (v) => {
        checkValidation(validateDocument(v, TEST_ENV));
      }),
    { runs: 600, share: 3 },
  );

  target.property(
    'a regex is either rejected with a path, or runs in bounded time on the most hostile names',
    () =>
      fc.property(regexSource, (source) => {
        const r = validateDocument({ rules: [{ name: 'r', regex: source, replace: 'mirror.example.com/x' }] }, TEST_ENV);
        checkValidation(r);
        if (!r.ok) {
          expect(r.issues.every((i) => issueWhere(i).startsWith('rules[0]'))).toBe(true);
          return;
        }
        for (const name of HOSTILE_NAMES) {
          const started = performance.now();
          r.rewriter.rewrite(name);
          const ms = performance.now() - started;
          if (ms > CEILING_MS) throw new Error(`regex ${JSON.stringify(source)} took ${Math.round(ms)} ms on ${JSON.stringify(name.slice(0, 40))}...`);
        }
      }),
    { runs: 400, share: 4 },
  );

  target.property(
    'the regex parser of the check reads every source the way V8 runs it (differential)',
    () =>
      fc.property(fc.oneof(regexSourceArb, regexSource), fc.array(subjectArb, { maxLength: 6 }), (source, subjects) => {
        expect(disagreement(source, subjects)).toBeUndefined();
      }),
    { runs: 1000, share: 2 },
  );
});
