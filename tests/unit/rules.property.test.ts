/** Properties of the rewriter: valid in, valid out, tag and digest kept, idempotent, never throws. */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseNormalizedNamed } from '../../src/core/reference.js';
import { fixture, fixtureNames, TEST_ENV } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';
import { format, hostile, reference } from '../helpers/arbitraries.js';

const rewriters = fixtureNames(/^valid-.*\.ya?ml$/).map((name) => ({ name, rewriter: rewriterFrom(fixture(name), TEST_ENV) }));
const catchAll = rewriterFrom(`
rules:
  - name: hub
    match: docker.io
    replace: mirror.example.com/hub
  - name: any
    regex: '([^/]+)/(.+)'
    replace: all.example.com/$1/$2
`);
const all = [...rewriters, { name: 'catch-all', rewriter: catchAll }];

describe('rewriter properties', () => {
  it.each(all)('$name: a reference that parses is rewritten into one that parses, with the same tag and digest', ({ rewriter }) => {
    fc.assert(
      fc.property(reference, fc.option(fc.constantFrom('default', 'team-a', 'staging'), { nil: undefined }), (r, namespace) => {
        const image = format(r);
        const result = rewriter.rewrite(image, { namespace });
        expect(result.kind).not.toBe('invalid');
        if (result.kind !== 'rewritten') return;
        const out = parseNormalizedNamed(result.rewritten);
        expect(out.ok).toBe(true);
        if (!out.ok) return;
        expect(out.value.tag).toBe(r.tag);
        expect(out.value.digest).toBe(r.digest);
        // Idempotent: reinvocation does not change it again.
        expect(rewriter.rewrite(result.rewritten, { namespace }).kind).toBe('unchanged');
      }),
      { numRuns: 500 },
    );
  });

  it('an unchanged image comes back byte for byte', () => {
    fc.assert(
      fc.property(fc.oneof(reference.map(format), fc.string(), hostile), (image) => {
        const r = catchAll.rewrite(image);
        expect(r.image).toBe(image);
        if (r.kind === 'unchanged' || r.kind === 'invalid' || r.kind === 'rejected') expect(r.image).toBe(image);
      }),
      { numRuns: 1000 },
    );
  });
});
