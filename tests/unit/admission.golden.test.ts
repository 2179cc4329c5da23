/**
 * Golden AdmissionReview pairs: every `tests/fixtures/admission/<case>.request.json` is reviewed
 * with `tests/fixtures/admission/rules.yaml` and compared with `<case>.response.json`, which holds
 * the answer (with its patch decoded, for reading), the report, and every image after the patch is
 * applied by fast-json-patch with validation on. Then the patched object is reviewed again (as on
 * reinvocation) and must need no further patch.
 *
 * Regenerate with `UPDATE_GOLDEN=1 NODE_OPTIONS=--experimental-vm-modules npx jest
 * tests/unit/admission.golden.test.ts`, then read every changed file before committing it.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { WARNING_MAX_LENGTH } from '../../src/core/admission.js';
import { review } from '../../src/core/review.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';
import { apply, decodePatch, imagesOf, requestObject, withObject } from './admission.helpers.js';

const DIR = join(FIXTURES, 'admission');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const rewriter = rewriterFrom(readFileSync(join(DIR, 'rules.yaml'), 'utf8'));
const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.request.json'))
  .map((f) => f.slice(0, -'.request.json'.length))
  .sort();

const read = (file: string): unknown => JSON.parse(readFileSync(join(DIR, file), 'utf8'));
/** Plain JSON (drops undefined fields), as the golden files hold it. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

describe('admission golden pairs', () => {
  it('has a pair for every case', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    const responses = readdirSync(DIR).filter((f) => f.endsWith('.response.json'));
    expect(responses.map((f) => f.slice(0, -'.response.json'.length)).sort()).toEqual(cases);
  });

  it.each(cases)('%s', (name) => {
    const request = read(`${name}.request.json`);
    const frozen = JSON.stringify(request);
    const outcome = review(request, rewriter);
    if (!outcome.ok) throw new Error(`400: ${outcome.message}`);
    expect(JSON.stringify(request)).toBe(frozen); // review never changes its input

    const answer = outcome.response;
    const ops = decodePatch(answer.response);
    const object = requestObject(request);
    const patched = ops === undefined ? object : apply(object, ops);
    const actual = plain({
      review: { ...answer, response: { ...answer.response, ...(ops === undefined ? {} : { patch: ops }) } },
      report: outcome.report,
      images: imagesOf(request, patched),
    });

    const file = join(DIR, `${name}.response.json`);
    if (UPDATE) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
    expect(actual).toEqual(read(`${name}.response.json`));

    // Invariants every answer keeps.
    expect(answer.response.allowed).toBe(true);
    expect(answer.response.patchType === undefined).toBe(answer.response.patch === undefined);
    if (ops !== undefined) expect(ops.length).toBeGreaterThan(0);
    for (const w of answer.response.warnings ?? []) {
      expect(w.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
      expect(w).toMatch(/^image-rewriter: [\x20-\x7e]+$/);
    }

    // Reinvocation: the patched object needs nothing more.
    const again = review(withObject(request, patched), rewriter);
    if (!again.ok) throw new Error(`400 on reinvocation: ${again.message}`);
    expect(again.response.response.patch).toBeUndefined();
    expect(again.report.rewrites).toEqual([]);
  });
});
