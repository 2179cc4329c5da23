/**
 * The Lambda's answer against its response quota (`maxResultBytes`, LAMBDA_MAX_RESULT_BYTES): an
 * AdmissionReview whose answer would not fit is answered as without rules (allowed, unchanged, a
 * warning naming the size, the cause and the fix), logged as a `failopen` review (no body) and
 * counted so; one that fits is patched as before, up to the exact byte; without the option (serve)
 * nothing is left out.
 */
import { describe, expect, it } from '@jest/globals';
import { fixedRules } from '../../src/config/sources.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { createHandler, LAMBDA_MAX_RESULT_BYTES, type WebhookResult } from '../../src/lambda/handler.js';
import { captureObservability, type Captured, EVENT_TOKEN, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import { manyImagesReview } from '../helpers/admission-review.js';
import { rewriterFrom } from '../helpers/rules.js';

const rules = fixedRules(rewriterFrom(EXAMPLE_RULES), 'example');

function setup(maxResultBytes?: number) {
  const obs = captureObservability();
  const invoke = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, ...(maxResultBytes === undefined ? {} : { maxResultBytes }) });
  return { obs, invoke };
}

/** A REST proxy event of `manyImagesReview(count, length)`. */
const event = (count: number, length: number): JsonObject => withBody(loadEvent('rest-pod-v1.json'), manyImagesReview(count, length));

/** The size of a result as the Lambda runtime sends it. */
const serialized = (r: WebhookResult): number => Buffer.byteLength(JSON.stringify(r));
const answerOf = (r: WebhookResult): JsonObject => (JSON.parse(r.body) as { response: JsonObject }).response;
const reviewed = (obs: Captured): JsonObject | undefined => obs.logs().find((l) => l['message'] === 'admission reviewed');
const outcomes = (obs: Captured): unknown[] => obs.emf().map((d) => d['Outcome']);

// A 4.4 MB body (the request limit is 6 MiB) whose answer is 6.8 MB.
const OVER = event(22_000, 160);

describe('an answer over Lambda\'s response quota', () => {
  it('is answered unchanged (allowed: true, no patch) with a warning naming the size, the cause and the fix; logged and counted as failopen', async () => {
    const unlimited = await setup().invoke(OVER);
    const size = serialized(unlimited);
    expect(size).toBeGreaterThan(LAMBDA_MAX_RESULT_BYTES);
    expect(answerOf(unlimited)['patch']).toEqual(expect.any(String));

    const { obs, invoke } = setup(LAMBDA_MAX_RESULT_BYTES);
    const result = await invoke(OVER);
    expect(result.statusCode).toBe(200);
    expect(serialized(result)).toBeLessThan(4096);
    const response = answerOf(result);
    const reason = `the answer would be ${(Math.ceil(size / 1e5) / 10).toFixed(1)} MB, over Lambda's 6 MB response limit, with its 22000 rewrites; split the object into smaller ones, or send it to \`image-rewriter serve\`, which has no such limit`;
    // The handler contract's `allowed: true` (as when no rules are loaded); before: the invocation
    // failed (RIE's Function.ResponseSizeTooLarge), after the line and the metrics said `patched`.
    expect(response).toEqual({ uid: 'limit-uid', allowed: true, warnings: [`image-rewriter: images not rewritten: ${reason}`] });
    expect(JSON.parse(result.body)).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });

    const line = reviewed(obs);
    expect(line).toMatchObject({ level: 'WARN', outcome: 'failopen', answerBytes: size, notRewritten: reason, rewrites: 0 });
    expect(obs.text()).not.toContain('LABEL-MARKER-55');
    expect(obs.text()).not.toContain(EVENT_TOKEN);
    expect(Math.max(...obs.text().split('\n').map((l) => l.length))).toBeLessThan(64 * 1024);
    // Counted as a fail-open answer (FailOpenAlarm), with no Rewrites: none was applied.
    expect(outcomes(obs)).toEqual(['failopen']);
    const emf = obs.emf()[0] ?? {};
    expect(emf['Reviews']).toBe(1);
    expect(emf).not.toHaveProperty('Rewrites');
  });

  it('is patched as before up to the exact byte: a limit of its size answers it, one byte less leaves its rewrites out', async () => {
    const small = event(50, 64);
    const expected = await setup().invoke(small);
    const size = serialized(expected);
    const at = await setup(size).invoke(small);
    expect(at).toEqual(expected);
    const { obs, invoke } = setup(size - 1);
    const over = await invoke(small);
    expect(answerOf(over)).toMatchObject({ allowed: true, warnings: [expect.stringContaining('images not rewritten: the answer would be')] });
    expect(answerOf(over)).not.toHaveProperty('patch');
    expect(reviewed(obs)).toMatchObject({ outcome: 'failopen', answerBytes: size });
  });

  it('is patched under the real quota when it fits: an answer of 6.16 MB', async () => {
    const fits = event(20_000, 160);
    const { obs, invoke } = setup(LAMBDA_MAX_RESULT_BYTES);
    const result = await invoke(fits);
    const size = serialized(result);
    expect(size).toBeGreaterThan(6_100_000);
    expect(size).toBeLessThanOrEqual(LAMBDA_MAX_RESULT_BYTES);
    expect(answerOf(result)).toMatchObject({ allowed: true, patchType: 'JSONPatch', patch: expect.any(String) });
    expect(reviewed(obs)).toMatchObject({ outcome: 'patched' });
    expect(reviewed(obs)).not.toHaveProperty('answerBytes');
    expect(outcomes(obs)).toEqual(['patched']);
  });
});
