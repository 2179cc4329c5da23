/**
 * Fuzz target "reference": every parser of src/core/reference.ts and the rewriter on hostile strings
 * (any UTF-16, binary, the grammar's own alphabet, mutated valid references, long inputs). Never a
 * throw; a success round-trips; a failure is an InvalidReferenceError with a kind and a message.
 */
import { describe, expect } from '@jest/globals';
import fc from 'fast-check';
import {
  type NamedReference,
  parse,
  parseAnyReference,
  parseDockerRef,
  parseNamed,
  parseNormalizedNamed,
  referenceString,
  type Result,
} from '../../src/core/reference.js';
import { format, hostile, reference } from '../helpers/arbitraries.js';
import { MAX_DOMAIN_LENGTH } from '../../src/core/matched-name.js';
import { rewriterFrom } from '../helpers/rules.js';
import { fuzzTarget, scale } from './budget.js';

const KINDS = new Set([
  'NameEmpty',
  'NameTooLong',
  'NameContainsUppercase',
  'NameNotCanonical',
  'ReferenceInvalidFormat',
  'TagInvalidFormat',
  'DigestInvalidFormat',
  'DigestInvalidLength',
  'DigestUnsupported',
  'IdentifierNotAllowed',
]);

const rewriter = rewriterFrom(`
rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: hub
    match: docker.io/library
    replace: mirror.example.com/hub
  - name: quay
    regex: 'quay\\.io/(?<org>[a-z0-9_.-]+)/(?<repo>.+)'
    replace: mirror.example.com/quay/$<org>/$<repo>
  - name: any
    regex: '(?:[a-z]+\\.)?example\\.org/([a-z0-9-]+)/(.*)'
    replace: all.example.com/$1/$2
exclude:
  - docker.io/library/busybox
`);

/** The characters of the reference grammar, and the ones next to them that must be refused. */
const ALPHABET = 'abz09AZ._-/:@[]+=~ \t\n\u0000é\u{1F600}'.split('');
const grammarString = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 400 });

/** A valid reference with a few characters inserted, removed or replaced. */
const mutated = fc
  .tuple(reference.map(format), fc.array(fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.constantFrom(...ALPHABET)), { minLength: 1, maxLength: 4 }))
  .map(([s, edits]) => {
    let out = s;
    for (const [at, how, c] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      out = how === 'insert' ? out.slice(0, i) + c + out.slice(i) : how === 'delete' ? out.slice(0, i) + out.slice(i + 1) : out.slice(0, i) + c + out.slice(i + 1);
    }
    return out;
  });

/** Long inputs built from repeated grammar units (the ones that make backtracking parsers hang). */
const long = fc
  .tuple(
    fc.constantFrom('a', 'a-', 'a.', 'a_', 'a__', 'a/', '0:', 'a@', 'A', 'a:', '[::1]', 'sha256:'),
    fc.integer({ min: 1, max: scale(20_000, 200_000) }),
    fc.constantFrom('', '!', '/', ':', '@', 'A', ':latest', `@sha256:${'a'.repeat(64)}`),
    fc.constantFrom('', 'docker.io/', 'localhost:5000/', 'a.b/'),
  )
  .map(([unit, n, tail, head]) => head + unit.repeat(Math.ceil(n / unit.length)) + tail);

const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-composite', maxLength: 200 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 4, arbitrary: grammarString },
  { weight: 4, arbitrary: mutated },
  { weight: 3, arbitrary: reference.map(format) },
  { weight: 2, arbitrary: hostile },
  { weight: 1, arbitrary: long },
);

function checkResult(s: string, r: Result<NamedReference | { digest: string }>): void {
  if (r.ok) return;
  expect(r.error.name).toBe('InvalidReferenceError');
  expect(KINDS.has(r.error.kind)).toBe(true);
  expect(r.error.input).toBe(s);
  expect(r.error.message.length).toBeGreaterThan(0);
}

const target = fuzzTarget('reference');

describe('fuzz: reference parsing', () => {
  target.property(
    'every parser answers every string with a Result, never a throw',
    () =>
      fc.property(anyString, (s) => {
        for (const p of [parse, parseNormalizedNamed, parseNamed, parseDockerRef, parseAnyReference]) checkResult(s, p(s));
      }),
    { runs: 1500, share: 3 },
  );

  target.property(
    'a parsed reference formats to a string that parses to the same reference',
    () =>
      fc.property(anyString, (s) => {
        const r = parseNormalizedNamed(s);
        if (!r.ok) return;
        const again = parseNormalizedNamed(referenceString(r.value));
        expect(again.ok && again.value).toEqual(r.value);
        expect(r.value.path.length).toBeLessThanOrEqual(255);
      }),
    { runs: 1000, share: 2 },
  );

  target.property(
    'the rewriter answers every string, keeps it byte for byte unless it rewrites it, and rewrites into valid references',
    () =>
      fc.property(anyString, fc.constantFrom(undefined, 'default', 'kube-system'), (s, namespace) => {
        const r = rewriter.rewrite(s, { namespace });
        expect(r.image).toBe(s);
        if (r.kind === 'rewritten') {
          expect(parseNormalizedNamed(r.rewritten).ok).toBe(true);
          expect(rewriter.rewrite(r.rewritten, { namespace }).kind).toBe('unchanged');
        }
        if (r.kind === 'invalid') {
          const parsed = parseNormalizedNamed(s);
          expect(!parsed.ok || parsed.value.domain.length > MAX_DOMAIN_LENGTH).toBe(true);
        }
      }),
    { runs: 1000, share: 2 },
  );
});
