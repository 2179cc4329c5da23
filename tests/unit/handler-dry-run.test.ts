/**
 * Server-side dry runs (`request.dryRun: true`: `kubectl diff`, `kubectl apply --dry-run=server`,
 * Argo CD's and Flux's drift checks): the answer is byte for byte the answer to the same request
 * without dryRun (the API server shows that patch as the diff), for every golden AdmissionReview
 * and sample event, fail-open and denied included; the review line is the same line plus
 * `dryRun: true` and without rule slots; the EMF document counts the review under `Outcome`
 * `dryrun` and no `Rewrites` (src/observability/telemetry.ts, `countedOutcome`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parseRules } from '../../src/config/load.js';
import { fixedRules, type RulesProvider } from '../../src/config/sources.js';
import { createHandler, type WebhookResult } from '../../src/lambda/handler.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import type { Verifier } from '../../src/verify/verifier.js';
import { captureObservability, type Captured, EVENT_TOKEN, eventNames, eventReview, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';

const example = parseRules(EXAMPLE_RULES, {});
if (!example.ok) throw new Error('example rules invalid');
const EXAMPLE = fixedRules(example.rewriter, 'example');
const NOT_LOADED: RulesProvider = { current: () => Promise.resolve({ ok: false, reason: 'rules parameter /image-rewriter/rules could not be read (AccessDeniedException)' }) };

const GOLDEN_DIR = join(FIXTURES, 'admission');
const GOLDEN = fixedRules(rewriterFrom(readFileSync(join(GOLDEN_DIR, 'rules.yaml'), 'utf8')), 'golden');
const goldenCases = readdirSync(GOLDEN_DIR)
  .filter((f) => f.endsWith('.request.json'))
  .map((f) => f.slice(0, -'.request.json'.length))
  .sort();

/** Every target is missing: with `onMissing: deny`, the review is denied. */
const missing: Verifier = {
  verify: (rs) => Promise.resolve({ verdicts: rs.map(() => ({ status: 'missing', reason: 'not found in mirror.example.com', cached: false })), stats: { checks: rs.length, cacheHits: 0, missing: rs.length, errors: 0, latencyMs: 1 } }),
};
const DENY = fixedRules(rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: mirror.example.com/gcr\n    verify: true\n    onMissing: deny\n'), 'deny');

/** The event with its AdmissionReview's `request.dryRun` set to `dryRun` (deleted when undefined). */
function withDryRun(event: JsonObject, dryRun: boolean | undefined): JsonObject {
  const review = eventReview(event);
  const request = review['request'] as JsonObject;
  if (dryRun === undefined) delete request['dryRun'];
  else request['dryRun'] = dryRun;
  return withBody(event, review);
}

/** One handler per call: its answer, log lines and EMF documents. */
async function run(rules: RulesProvider, event: JsonObject, verifier?: Verifier): Promise<{ result: WebhookResult; obs: Captured }> {
  const obs = captureObservability();
  const handler = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, ...(verifier === undefined ? {} : { verifier }) });
  const result = await handler(event);
  return { result, obs };
}

const reviewLine = (obs: Captured): JsonObject => {
  const line = obs.logs().find((l) => l['message'] === 'admission reviewed');
  if (line === undefined) throw new Error('no review line');
  return line;
};

/** A line without the fields that differ between two runs of the same request. */
const stable = (line: JsonObject): JsonObject => ({ ...line, timestamp: 0, durationMs: 0 });

describe('the answer to a dry run', () => {
  const sampleEvents = eventNames().filter((n) => n.startsWith('rest-pod') || n.startsWith('rest-deployment'));

  it('has sample events to check', () => {
    expect(sampleEvents.length).toBeGreaterThanOrEqual(3);
    expect(goldenCases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(goldenCases)('golden %s: byte for byte the answer without dryRun (false or absent)', async (name) => {
    const event = withBody(loadEvent('rest-pod-v1.json'), readFileSync(join(GOLDEN_DIR, `${name}.request.json`), 'utf8'));
    const dry = await run(GOLDEN, withDryRun(event, true));
    expect(dry.result.statusCode).toBe(200);
    expect(reviewLine(dry.obs)['dryRun']).toBe(true);
    for (const other of [false, undefined]) expect(dry.result).toStrictEqual((await run(GOLDEN, withDryRun(event, other))).result);
  });

  it.each(sampleEvents)('%s: byte for byte the answer without dryRun, with the rules, failing open and denied', async (name) => {
    for (const [rules, verifier] of [[EXAMPLE, undefined], [NOT_LOADED, undefined], [DENY, missing]] as const) {
      const dry = await run(rules, withDryRun(loadEvent(name), true), verifier);
      const real = await run(rules, withDryRun(loadEvent(name), false), verifier);
      expect(dry.result).toStrictEqual(real.result);
      expect(stable(reviewLine(dry.obs))).toEqual({ ...stable(reviewLine(real.obs)), dryRun: true, ...slotsOf(reviewLine(real.obs), undefined) });
    }
  });
});

/** The rule slots of `line`, each set to `value` (undefined: removed, as a dry run has none). */
function slotsOf(line: JsonObject, value: undefined): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(line)) if (/^rule[1-3](Rewrites)?$/.test(key)) out[key] = value;
  return out;
}

describe('the review line and the metrics of a dry run', () => {
  it('pins the line: the answer\'s outcome, dryRun: true, the rewrites listed, no rule slots', async () => {
    const event = withDryRun(loadEvent('rest-pod-v1.json'), true);
    const { obs } = await run(EXAMPLE, event);
    const hub = 'docker-hub-official-to-ecr-public';
    expect(obs.logs()).toEqual([
      expect.objectContaining({ message: 'cold start' }),
      {
        level: 'INFO',
        message: 'admission reviewed',
        timestamp: expect.any(String),
        service: 'image-rewriter',
        uid: (eventReview(event)['request'] as JsonObject)['uid'],
        kind: 'v1/Pod',
        namespace: 'shop',
        name: 'web',
        operation: 'CREATE',
        outcome: 'patched',
        rewrites: 3,
        invalid: 0,
        dryRun: true,
        rewritten: [
          { container: 'app', from: 'gcr.io/google-samples/hello-app:2.0', to: 'asia.gcr.io/google-samples/hello-app:2.0', rule: 'gcr-to-asia' },
          { container: 'proxy', from: expect.any(String), to: expect.any(String), rule: hub },
          { container: 'migrate', from: 'busybox:1.36', to: 'public.ecr.aws/docker/library/busybox:1.36', rule: hub },
        ],
        rules: 'example',
        durationMs: expect.any(Number),
      },
    ]);
  });

  it('pins the EMF document: Reviews by Outcome dryrun, no Rewrites', async () => {
    const { obs } = await run(EXAMPLE, withDryRun(loadEvent('rest-pod-v1.json'), true));
    expect(obs.emf()).toEqual([
      {
        _aws: { Timestamp: expect.any(Number), CloudWatchMetrics: [{ Namespace: 'ImageRewriter', Dimensions: [['service', 'Outcome']], Metrics: [{ Name: 'Reviews', Unit: 'Count' }] }] },
        service: 'image-rewriter',
        Outcome: 'dryrun',
        Reviews: 1,
      },
    ]);
  });

  it('counts a denied dry run under dryrun (the line keeps outcome denied and its message)', async () => {
    const { result, obs } = await run(DENY, withDryRun(loadEvent('rest-pod-v1.json'), true), missing);
    expect((JSON.parse(result.body) as { response: JsonObject }).response['allowed']).toBe(false);
    expect(reviewLine(obs)).toMatchObject({ level: 'WARN', outcome: 'denied', dryRun: true, denied: expect.stringMatching(/^image-rewriter denied the request/) });
    expect(obs.emf()).toEqual([expect.objectContaining({ Outcome: 'dryrun', Reviews: 1, VerifyChecks: 1, VerifyMissing: 1 })]);
    expect(obs.emf()[0]).not.toHaveProperty('Rewrites');
  });

  it('counts a dry run that fails open under failopen, which FailOpenAlarm watches', async () => {
    const { obs } = await run(NOT_LOADED, withDryRun(loadEvent('rest-pod-v1.json'), true));
    expect(reviewLine(obs)).toMatchObject({ level: 'WARN', outcome: 'failopen', dryRun: true });
    expect(obs.emf()).toEqual([expect.objectContaining({ Outcome: 'failopen', Reviews: 1 })]);
  });

  it('counts skipped and unchanged dry runs under dryrun, and a dryRun that is not true as no dry run', async () => {
    const skipped = eventReview(loadEvent('rest-pod-v1.json'));
    Object.assign(skipped['request'] as JsonObject, { operation: 'DELETE', dryRun: true });
    const s = await run(EXAMPLE, withBody(loadEvent('rest-pod-v1.json'), skipped));
    expect(reviewLine(s.obs)).toMatchObject({ outcome: 'skipped', dryRun: true });
    expect(s.obs.emf()).toEqual([expect.objectContaining({ Outcome: 'dryrun', Reviews: 1 })]);
    const unchanged = eventReview(loadEvent('rest-pod-v1beta1-demo.json'));
    Object.assign(unchanged['request'] as JsonObject, { dryRun: true });
    Object.assign(((unchanged['request'] as { object: { spec: { containers: JsonObject[] } } }).object.spec.containers[0] ?? {}), { image: 'quay.io/x/y:1' });
    const u = await run(EXAMPLE, withBody(loadEvent('rest-pod-v1beta1-demo.json'), unchanged));
    expect(reviewLine(u.obs)).toMatchObject({ outcome: 'unchanged', dryRun: true, rewrites: 0 });
    expect(u.obs.emf()).toEqual([expect.objectContaining({ Outcome: 'dryrun', Reviews: 1 })]);
    for (const notTrue of ['true', 1, null, {}]) {
      const review = eventReview(loadEvent('rest-pod-v1.json'));
      (review['request'] as JsonObject)['dryRun'] = notTrue;
      const r = await run(EXAMPLE, withBody(loadEvent('rest-pod-v1.json'), review));
      expect(reviewLine(r.obs)).not.toHaveProperty('dryRun');
      expect(r.obs.emf()).toEqual([expect.objectContaining({ Outcome: 'patched', Rewrites: 3 })]);
    }
  });
});
