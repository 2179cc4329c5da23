/** Properties of the reference parser: round trips, normalization, and no throw or hang on any input. */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  familiarString,
  nameOf,
  parse,
  parseAnyReference,
  parseDockerRef,
  parseNamed,
  parseNormalizedNamed,
  referenceString,
} from '../../src/core/reference.js';
import { format, hostile, reference } from '../helpers/arbitraries.js';

const parsers = [parse, parseNormalizedNamed, parseNamed, parseDockerRef, parseAnyReference];

describe('reference parser properties', () => {
  it('parses every grammar-generated reference back into its parts', () => {
    fc.assert(
      fc.property(reference, (r) => {
        const s = format(r);
        const got = parseNormalizedNamed(s);
        expect(got.ok).toBe(true);
        if (!got.ok) return;
        expect(referenceString(got.value)).toBe(r.domain === 'docker.io' && !r.path.includes('/') ? `docker.io/library/${s.slice('docker.io/'.length)}` : s);
        expect(got.value.tag).toBe(r.tag);
        expect(got.value.digest).toBe(r.digest);
      }),
      { numRuns: 2000 },
    );
  });

  it('familiar and canonical forms normalize to the same reference', () => {
    // Go's FamiliarString is not reversible for Docker Hub paths whose first component looks like a
    // host (`docker.io/a.b/c` -> `a.b/c`); those are left out, as they are in Go.
    const unambiguous = reference.filter((r) => r.domain !== 'docker.io' || !/[.:]/.test(r.path.split('/')[0] ?? ''));
    fc.assert(
      fc.property(unambiguous, (r) => {
        const got = parseNormalizedNamed(format(r));
        if (!got.ok) return;
        const again = parseNormalizedNamed(familiarString(got.value));
        expect(again.ok && referenceString(again.value)).toBe(referenceString(got.value));
        expect(parseNamed(referenceString(got.value)).ok).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on any string, and every failure is an InvalidReferenceError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 100 })), (s) => {
        for (const p of parsers) {
          const r = p(s);
          if (!r.ok) {
            expect(r.error.name).toBe('InvalidReferenceError');
            expect(r.error.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('answers hostile, long inputs (the ones that hang backtracking parsers) without hanging', () => {
    // A hang here shows up as the jest timeout: npm parsers with the old grammar took 3.5 s for
    // 13 characters.
    fc.assert(
      fc.property(hostile, (s) => {
        for (const p of parsers) p(s);
      }),
      { numRuns: 500 },
    );
    for (const n of [10, 100, 1000, 10_000, 100_000]) {
      for (const unit of ['a', 'a-', 'a.', 'a_', 'a__', 'a/', '0:']) {
        const s = `${unit.repeat(n)}!`;
        expect(parseNormalizedNamed(s).ok).toBe(false);
        expect(parse(s).ok).toBe(false);
      }
    }
  });

  it('Name() is the canonical name without tag or digest', () => {
    fc.assert(
      fc.property(reference, (r) => {
        const got = parseNormalizedNamed(format(r));
        if (!got.ok) return;
        expect(referenceString({ ...got.value, tag: undefined, digest: undefined })).toBe(nameOf(got.value));
      }),
    );
  });
});
