/**
 * The bundle under Lambda's real runtime contract: dist/handler.js (and, when
 * IMAGE_REWRITER_SAM_BUNDLE names it, the artifact `sam build` produced) loaded by aws-lambda-ric
 * under the Runtime Interface Emulator, invoked with every file of events/. Each answer must equal,
 * field for field, the one the in-process handler (createHandler, as in tests/unit/handler.test.ts)
 * gives for the same event. Prints the cold start (process spawn to first answer), the warm latency
 * and the bundle sizes; those figures are not asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { parseRules } from '../../src/config/load.js';
import { fixedRules } from '../../src/config/sources.js';
import { createHandler, type WebhookHandler } from '../../src/lambda/handler.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { captureObservability, EVENT_TOKEN, eventNames, loadEvent, withBody } from '../helpers/events.js';
import { manyImagesReview } from '../helpers/admission-review.js';
import { bundleSize, ms, percentile, printFigures, reportedDurations } from './helpers/figures.js';
import { jsonLines } from './helpers/processes.js';
import { type RieFunction, startRie } from './helpers/rie.js';
import { distHandler, MissingToolError } from './helpers/tools.js';

/** Serial warm invocations measured per bundle. */
const WARM_CALLS = 300;
const WARM_EVENT = 'rest-pod-v1.json';

function inProcessHandler(): WebhookHandler {
  const example = parseRules(EXAMPLE_RULES, {});
  if (!example.ok) throw new Error('the example rules are invalid');
  const obs = captureObservability();
  return createHandler({ rules: fixedRules(example.rewriter, 'REWRITE_RULES'), token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
}

interface Answer {
  readonly statusCode: unknown;
  readonly headers: unknown;
  readonly isBase64Encoded: unknown;
  readonly body: unknown;
}

/** A handler result with its body parsed (fails on anything but a proxy result with a JSON body). */
function answer(value: unknown): Answer {
  if (typeof value !== 'object' || value === null || !('body' in value) || typeof value.body !== 'string') {
    throw new Error(`not a proxy result: ${JSON.stringify(value)}`);
  }
  const v = value as Record<string, unknown>;
  return { statusCode: v['statusCode'], headers: v['headers'], isBase64Encoded: v['isBase64Encoded'], body: JSON.parse(value.body) as unknown };
}

const sam = process.env['IMAGE_REWRITER_SAM_BUNDLE'];
const bundles: [string, () => string][] = [['dist/handler.js', distHandler]];
if (sam !== undefined && sam !== '') {
  bundles.push([
    'the sam build artifact',
    () => {
      if (!existsSync(sam)) throw new MissingToolError(`IMAGE_REWRITER_SAM_BUNDLE=${sam} does not exist (scripts/test-template.sh sets it after sam build)`);
      return sam;
    },
  ]);
}

describe.each(bundles)('%s under the Runtime Interface Emulator', (label, locate) => {
  let fn: RieFunction | undefined;
  let bundle = '';
  let coldStartMs = Number.NaN;
  const expected = inProcessHandler();
  const figures: string[] = [];

  const running = (): RieFunction => {
    if (fn === undefined) throw new Error('RIE did not start (see the error of beforeAll)');
    return fn;
  };

  beforeAll(async () => {
    bundle = locate();
    figures.push(bundleSize(bundle));
    fn = await startRie({ bundle, env: { REWRITE_RULES: EXAMPLE_RULES, WEBHOOK_TOKEN: EVENT_TOKEN } });
    // Cold start: spawn of RIE (which starts node + aws-lambda-ric + the bundle's init lazily) to the first answer.
    const first = await fn.result(loadEvent(WARM_EVENT));
    coldStartMs = performance.now() - fn.process.spawnedAt;
    expect(answer(first).statusCode).toBe(200);
  });

  afterAll(async () => {
    if (fn !== undefined) {
      const reports = reportedDurations(fn.process.output());
      figures.push(`function Duration of the RIE REPORT lines (${reports.length} invocations): p50 ${ms(percentile(reports, 50))}, p99 ${ms(percentile(reports, 99))}`);
      await fn.stop();
    }
    printFigures(`${label} under RIE`, figures);
  });

  it('starts cold and answers its first event', () => {
    expect(Number.isFinite(coldStartMs)).toBe(true);
    figures.push(`cold start (RIE spawn -> first answer, ${WARM_EVENT}): ${ms(coldStartMs)}`);
  });

  it.each(eventNames())('answers %s exactly as the in-process handler does', async (name) => {
    const got = answer(await running().result(loadEvent(name)));
    const want = answer(await expected(loadEvent(name)));
    expect(got).toEqual(want);
  });

  it(`answers ${WARM_CALLS} serial warm invocations, unchanged`, async () => {
    const want = answer(await expected(loadEvent(WARM_EVENT)));
    const latencies: number[] = [];
    const outputBefore = Buffer.byteLength(running().process.output());
    for (let i = 0; i < WARM_CALLS; i += 1) {
      const r = await running().invoke(loadEvent(WARM_EVENT));
      latencies.push(r.ms);
      expect(r.status).toBe(200);
      if (i % 50 === 0) expect(answer(JSON.parse(r.body) as unknown)).toEqual(want);
    }
    const logBytes = (Buffer.byteLength(running().process.output()) - outputBefore) / WARM_CALLS;
    figures.push(`log output per warm invocation (JSON logs at INFO, EMF, START/END/REPORT): ${Math.round(logBytes)} bytes`);
    figures.push(
      `warm invoke, client side (${WARM_CALLS} serial calls of ${WARM_EVENT}, keep-alive): p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(Math.max(...latencies))}`,
    );
  });

  // RIE applies Lambda's response quota (6,291,556 bytes): before, this invocation failed with
  // `Function.ResponseSizeTooLarge` instead of answering (API Gateway: a 502).
  it('answers unchanged, with a warning, an object whose answer would exceed Lambda\'s 6 MB response quota', async () => {
    const event = withBody(loadEvent(WARM_EVENT), manyImagesReview(22_000, 160));
    const r = await running().invoke(event);
    expect(r.status).toBe(200);
    expect(Buffer.byteLength(r.body)).toBeLessThan(4096);
    const got = answer(JSON.parse(r.body) as unknown);
    expect(got.statusCode).toBe(200);
    expect(got.body).toMatchObject({ response: { uid: 'limit-uid', allowed: true, warnings: [expect.stringMatching(/^image-rewriter: images not rewritten: the answer would be 6\.8 MB, over Lambda's 6 MB response limit/)] } });
    expect(got.body).not.toHaveProperty('response.patch');
    const lines = jsonLines(running().process.output());
    expect(lines).toContainEqual(expect.objectContaining({ message: 'admission reviewed', level: 'WARN', outcome: 'failopen', answerBytes: expect.any(Number) }));
    expect(running().process.output()).not.toContain('LABEL-MARKER-55');
  });

  it('answers an object whose answer fits the quota (6.16 MB) with its patch, as the in-process handler does', async () => {
    const event = withBody(loadEvent(WARM_EVENT), manyImagesReview(20_000, 160));
    const r = await running().invoke(event);
    expect(Buffer.byteLength(r.body)).toBeGreaterThan(6_100_000);
    expect(answer(JSON.parse(r.body) as unknown)).toEqual(answer(await expected(event)));
  });

  it('logged one cold start, JSON lines, and never the token', () => {
    const output = running().process.output();
    const lines = jsonLines(output);
    expect(lines.filter((l) => l['message'] === 'cold start')).toHaveLength(1);
    expect(lines).toContainEqual(expect.objectContaining({ message: 'rules loaded', source: 'REWRITE_RULES', service: 'image-rewriter' }));
    expect(lines).toContainEqual(expect.objectContaining({ message: 'request rejected', status: 401 }));
    expect(output).not.toContain(EVENT_TOKEN);
  });
});
