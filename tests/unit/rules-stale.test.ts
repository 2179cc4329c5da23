/**
 * ConfigErrorAlarm stays in alarm while the function is not on the rules parameter's newest version
 * because that version is invalid (or the parameter cannot be read), whatever the TTL: every
 * invocation's EMF document then counts `RulesStale` (dimension `service` only, the one series the
 * alarm reads), and none does in the healthy state. ConfigErrors alone is counted once per read,
 * and reads are a TTL apart (up to 3600 s): 5-minute periods without one turned the alarm OK while
 * the function still ignored the parameter's newest version.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { fixedRules, inlineRules, ssmRules } from '../../src/config/sources.js';
import { parseRules } from '../../src/config/load.js';
import { createHandler } from '../../src/lambda/handler.js';
import { captureObservability, type Captured, EVENT_TOKEN, loadEvent } from '../helpers/events.js';

const ssm = mockClient(SSMClient);
const NAME = '/image-rewriter/rules';
const GOOD = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n';
const GOOD2 = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: eu.gcr.io\n';
const BAD = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: ""\n';
const parameter = (value: string, version: number) => ({ Parameter: { Name: NAME, Type: 'String' as const, Value: value, Version: version } });

/** The RulesStale count of each EMF document, and the dimensions it was published with. */
function staleCounts(obs: Captured): { value: unknown; dimensions: unknown }[] {
  return obs.emf().map((doc) => {
    const aws = doc['_aws'] as { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
    const directive = aws.CloudWatchMetrics.find((d) => d.Metrics.some((m) => m.Name === 'RulesStale'));
    return { value: doc['RulesStale'], dimensions: directive?.Dimensions };
  });
}

describe('RulesStale', () => {
  let clock: number;
  let obs: Captured;
  beforeEach(() => {
    ssm.reset();
    clock = 1_000_000;
    obs = captureObservability();
  });

  const handlerWith = (ttlSeconds: number) => {
    const rules = ssmRules({ client: new SSMClient({ region: 'us-west-2' }), name: NAME, ttlSeconds, now: () => clock, env: {}, ...obs });
    return createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
  };

  it('is counted at every invocation while the newest version is invalid (last good rules kept), whatever the TTL, and stops once a valid one is loaded', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 1)).resolves(parameter(BAD, 2));
    const handler = handlerWith(3600);
    const event = loadEvent('rest-pod-v1.json');
    await handler(event);
    clock += 3_600_000;
    await handler(event);
    // Invocations far apart, none of them a read's: each still counts, so no 5-minute period is empty.
    for (let i = 0; i < 4; i++) {
      clock += 10 * 60_000;
      await handler(event);
      await handler(loadEvent('rest-wrong-token.json'));
    }
    expect(staleCounts(obs)).toEqual([
      { value: undefined, dimensions: undefined },
      ...Array.from({ length: 9 }, () => ({ value: 1, dimensions: [['service']] })),
    ]);
    // The review still used the last good rules, and ConfigErrors counted only the reads.
    expect(obs.emf().filter((d) => d['ConfigErrors'] !== undefined)).toHaveLength(obs.emf().filter((d) => d['ConfigRefreshes'] !== undefined).length - 1);
    ssm.on(GetParameterCommand).resolves(parameter(GOOD2, 3));
    clock += 30_000;
    await handler(event);
    await handler(event);
    expect(staleCounts(obs).slice(-2)).toEqual([
      { value: undefined, dimensions: undefined },
      { value: undefined, dimensions: undefined },
    ]);
  });

  it.each([
    ['finds an invalid document', () => ssm.on(GetParameterCommand).resolves(parameter(BAD, 1))],
    ['cannot read the parameter', () => ssm.on(GetParameterCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))],
  ])('is counted when a cold start %s, in the same one document as the review', async (_, arrange) => {
    arrange();
    const handler = handlerWith(60);
    await handler(loadEvent('rest-pod-v1.json'));
    const [doc, ...more] = obs.emf();
    expect(more).toEqual([]);
    expect(doc).toMatchObject({ Outcome: 'failopen', Reviews: 1, ConfigErrors: 1, RulesStale: 1 });
    const aws = doc?.['_aws'] as { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
    expect(aws.CloudWatchMetrics.map((d) => [d.Dimensions, d.Metrics.map((m) => m.Name)])).toEqual([
      [[['service', 'Outcome']], ['ConfigRefreshes', 'ConfigErrors', 'Reviews']],
      [[['service']], ['RulesStale']],
    ]);
  });

  it('costs nothing in the healthy state: no RulesStale, one directive', async () => {
    const parsed = parseRules(GOOD, {});
    if (!parsed.ok) throw new Error('rules');
    for (const rules of [fixedRules(parsed.rewriter, 'x'), inlineRules(GOOD, 'REWRITE_RULES', { ...obs, env: {} })]) {
      const handler = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
      await handler(loadEvent('rest-pod-v1.json'));
    }
    for (const doc of obs.emf()) {
      expect(doc).not.toHaveProperty('RulesStale');
      expect((doc['_aws'] as { CloudWatchMetrics: unknown[] }).CloudWatchMetrics).toHaveLength(1);
    }
  });

  it('is counted for an invalid inline document too (the function fails open for good)', async () => {
    const rules = inlineRules(BAD, 'REWRITE_RULES', { ...obs, env: {} });
    const handler = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
    await handler(loadEvent('rest-pod-v1.json'));
    expect(staleCounts(obs).at(-1)).toEqual({ value: 1, dimensions: [['service']] });
  });
});
