/**
 * The two phases of a review on their own: `decide` gives a plan (data, no text), `render` turns
 * it into the answer, optionally withholding planned rewrites; `review` is render(decide(...)).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { BAD_REQUEST, MAX_WARNINGS, WARNING_PREFIX } from '../../src/core/admission.js';
import { decide, type ReviewPlan } from '../../src/core/decide.js';
import { render } from '../../src/core/render.js';
import { review } from '../../src/core/review.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';
import { decodePatch } from './admission.helpers.js';
import { podReview } from '../helpers/admission-review.js';

const rewriter = rewriterFrom(`
rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
    imagePullSecrets: [gcr-pull]
  - name: bad
    regex: quay\\.io/(.*)
    replace: mirror.example.com:$1
`);

const body = (containers: readonly Record<string, unknown>[], operation = 'CREATE'): unknown => podReview({ metadata: { name: 'p' }, spec: { containers } }, { operation });

function planOf(input: unknown): ReviewPlan {
  const decision = decide(input, rewriter);
  if (!decision.ok) throw new Error(decision.message);
  return decision.plan;
}

describe('decide', () => {
  it('plans every image the rules touch, in order, with its field and rule, and leaves the others out', () => {
    const plan = planOf(body([{ name: 'a', image: 'gcr.io/a:1' }, { name: 'b', image: 'nginx' }, { name: 'c', image: 'Bad' }, { name: 'd', image: 'quay.io/d:1' }]));
    expect(plan.skipped).toBeUndefined();
    expect(plan.images.map((i) => [i.outcome, i.field.pointer, 'rule' in i ? i.rule.name : undefined])).toEqual([
      ['rewrite', '/spec/containers/0/image', 'gcr'],
      ['invalid', '/spec/containers/2/image', undefined],
      ['rejected', '/spec/containers/3/image', 'bad'],
    ]);
    const [first] = plan.images;
    expect(first?.outcome === 'rewrite' ? first.to : undefined).toBe('asia.gcr.io/a:1');
    expect(plan.target?.podSpec.podSpecPointer).toBe('/spec');
  });

  it('returns the fixed 400 message for a body that is not an AdmissionReview', () => {
    expect(decide({ kind: 'AdmissionReview' }, rewriter)).toEqual({ ok: false, status: 400, message: BAD_REQUEST.apiVersion });
  });

  it('says why an object is skipped, with no target and no images', () => {
    const plan = planOf(body([{ name: 'a', image: 'gcr.io/a' }], 'DELETE'));
    expect(plan).toMatchObject({ skipped: 'operation', target: undefined, images: [], malformed: [] });
  });

  it('reports fields that are not what the API server sends', () => {
    expect(planOf(body([{ name: 'a', image: 7 }])).malformed).toEqual([{ pointer: '/spec/containers/0/image', problem: 'is a number, not a string' }]);
  });
});

describe('render', () => {
  const input = body([{ name: 'a', image: 'gcr.io/a:1' }, { name: 'b', image: 'gcr.io/b:1' }]);

  it('gives what review gives when nothing is overridden', () => {
    const outcome = review(input, rewriter);
    expect(outcome.ok && JSON.stringify({ response: outcome.response, report: outcome.report })).toBe(JSON.stringify(render(planOf(input))));
  });

  it('leaves a withheld rewrite out of the patch, the originals and the audit, with a warning and a report entry', () => {
    const { response, report } = render(planOf(input), { withhold: (r) => (r.field.containerName === 'b' ? 'not in the target registry' : undefined) });
    const ops = decodePatch(response.response) ?? [];
    expect(ops.filter((o) => o.path.startsWith('/spec/containers'))).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/a:1' }]);
    expect(JSON.stringify(ops)).not.toContain('gcr.io/b');
    expect(response.response.warnings).toEqual([
      `${WARNING_PREFIX}rewrote containers[a] gcr.io/a:1 -> asia.gcr.io/a:1 (rule gcr)`,
      `${WARNING_PREFIX}left containers[b] gcr.io/b:1 unchanged (rule gcr): not in the target registry`,
    ]);
    expect(response.response.auditAnnotations?.['rewrites']).toBe('[{"container":"containers/a","from":"gcr.io/a:1","to":"asia.gcr.io/a:1","rule":"gcr"}]');
    expect(report.rewrites.map((r) => r.containerName)).toEqual(['a']);
    expect(report.withheld).toEqual([
      { containerName: 'b', list: 'containers', pointer: '/spec/containers/1/image', from: 'gcr.io/b:1', to: 'asia.gcr.io/b:1', rule: 'gcr', reason: 'not in the target registry' },
    ]);
  });

  it('changes nothing when every rewrite is withheld (no patch, no pull secrets)', () => {
    const { response, report } = render(planOf(input), { withhold: () => 'no' });
    expect(response.response.patch).toBeUndefined();
    expect(response.response.auditAnnotations).toBeUndefined();
    expect(report.rewrites).toEqual([]);
    expect(report.withheld).toHaveLength(2);
  });

  it('counts the leading warning with the others when they do not all fit (the count of those not shown)', () => {
    // Ten more invalid images than an answer shows, and the leading warning: those shown and the count of the rest add up.
    const many = body(Array.from({ length: MAX_WARNINGS + 10 }, (_, i) => ({ name: `c${String(i)}`, image: `Bad${String(i)}` })));
    const lead = `${WARNING_PREFIX}images not rewritten: rules not loaded`;
    const warnings = render(planOf(many), { first: lead }).response.response.warnings ?? [];
    expect(warnings[0]).toBe(lead);
    const count = new RegExp(`^${WARNING_PREFIX}(\\d+) more warnings not shown$`).exec(warnings.at(-1) ?? '')?.[1];
    expect(Number(count) + warnings.length - 1).toBe(MAX_WARNINGS + 11);
  });

  it('gives the same bytes as review for every golden request', () => {
    const dir = join(REPO_ROOT, 'tests/fixtures/admission');
    const requests = readdirSync(dir).filter((f) => f.endsWith('.request.json'));
    expect(requests.length).toBeGreaterThan(5);
    for (const file of requests) {
      const request: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      const decision = decide(request, rewriter);
      const outcome = review(request, rewriter);
      if (!decision.ok) expect(outcome).toEqual(decision);
      else expect(outcome.ok && JSON.stringify(outcome.response)).toBe(JSON.stringify(render(decision.plan).response));
    }
  });
});
