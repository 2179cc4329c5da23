/**
 * Overlapping invocations of one handler: `serve` runs many reviews at once, and on Lambda Managed
 * Instances (README, "Lambda Managed Instances") one worker thread runs many invocations at once on
 * one Logger, one Metrics and one stdout. While invocation A awaits (a read of the rules, an
 * existence check), B starts, and may end first. Each review line must carry its own invocation's
 * Lambda context, each write to stdout must hold one invocation's lines (its review line, then its
 * EMF document), and the counts must add up.
 */
import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRules } from '../../src/config/load.js';
import type { RulesProvider, RulesState } from '../../src/config/sources.js';
import { createHandler } from '../../src/lambda/handler.js';
import { createObservability } from '../../src/observability/telemetry.js';
import type { Verifier } from '../../src/verify/verifier.js';
import { podReview } from '../helpers/admission-review.js';
import { EVENT_TOKEN, loadEvent, withBody } from '../helpers/events.js';

const RULES = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n  - name: quay\n    match: quay.io\n    replace: mirror.example.com/quay\n    verify: true\n';
const parsed = parseRules(RULES, {});
if (!parsed.ok) throw new Error('test rules invalid');
const GOOD: RulesState = { ok: true, rewriter: parsed.rewriter, source: 'test' };

/** Rules whose every read takes `delays[i]` ms for the i-th call: the invocations wait on them in turn. */
function slowRules(delays: readonly number[]): RulesProvider {
  let call = 0;
  return { current: async () => { await sleep(delays[call++ % delays.length] ?? 0); return GOOD; } };
}

/** A verifier that answers present after `ms(image)` milliseconds. */
function slowVerifier(ms: (image: string) => number): Verifier {
  return {
    async verify(requests) {
      await Promise.all(requests.map((r) => sleep(ms(r.image))));
      return { verdicts: requests.map(() => ({ status: 'present', cached: false })), stats: { checks: requests.length, cacheHits: 0, missing: 0, errors: 0, latencyMs: 1 } };
    },
  };
}

const context = (i: number): Context =>
  ({ functionName: 'image-rewriter', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:image-rewriter', memoryLimitInMB: '512', awsRequestId: `request-${i}`, xRayTraceId: `Root=1-00000000-${String(i).padStart(24, '0')}` }) as unknown as Context;

/** Invocation i: uid-i in ns-i, a Pod of one image gcr.io/team/app-i (and one quay.io image, checked, when `verify`). */
function eventFor(i: number, verify: boolean): Record<string, unknown> {
  const containers = [{ name: 'app', image: `gcr.io/team/app-${i}:1` }];
  if (verify) containers.push({ name: 'side', image: `quay.io/team/side-${i}:1` });
  const review = podReview({ spec: { containers } }, { uid: `uid-${i}`, namespace: `ns-${i}` });
  return withBody(loadEvent('rest-pod-v1.json'), review);
}

interface Write {
  readonly stream: 1 | 2;
  readonly lines: Record<string, unknown>[];
}

async function runOverlapping(n: number, deps: { rules: RulesProvider; verifier?: Verifier; verify: boolean }): Promise<{ writes: Write[]; answers: Record<string, unknown>[] }> {
  const writes: Write[] = [];
  const obs = createObservability({ logLevel: 'INFO', write: (text, stream) => void writes.push({ stream, lines: text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) }) });
  const invoke = createHandler({ rules: deps.rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, output: obs.output, ...(deps.verifier === undefined ? {} : { verifier: deps.verifier }) });
  const results = await Promise.all(Array.from({ length: n }, (_, i) => invoke(eventFor(i, deps.verify), context(i))));
  const answers = results.map((r) => (JSON.parse(r.body) as { response: Record<string, unknown> }).response);
  return { writes, answers };
}

const patchOf = (answer: Record<string, unknown>): { path: string; value?: unknown }[] => JSON.parse(Buffer.from(String(answer['patch']), 'base64').toString('utf8')) as { path: string; value?: unknown }[];

function checkAll(n: number, writes: readonly Write[], answers: readonly Record<string, unknown>[], verify: boolean): void {
  // Each answer is its own request's: its uid, its own images.
  for (const [i, answer] of answers.entries()) {
    expect(answer['uid']).toBe(`uid-${i}`);
    const images = patchOf(answer).filter((op) => op.path.endsWith('/image')).map((op) => op.value);
    expect(images).toEqual(verify ? [`asia.gcr.io/team/app-${i}:1`, `mirror.example.com/quay/team/side-${i}:1`] : [`asia.gcr.io/team/app-${i}:1`]);
  }
  // Every write to stdout after the cold start is one invocation's: its review line, then its EMF document.
  const stdout = writes.filter((w) => w.stream === 1 && w.lines.some((l) => l['message'] !== 'cold start'));
  expect(stdout).toHaveLength(n);
  const seen = new Set<string>();
  for (const { lines } of stdout) {
    expect(lines.map((l) => ('_aws' in l ? 'EMF' : l['message']))).toEqual(['admission reviewed', 'EMF']);
    const [line, emf] = lines;
    const i = String(line?.['uid']).replace('uid-', '');
    seen.add(i);
    expect(line).toMatchObject({ namespace: `ns-${i}`, function_request_id: `request-${i}`, xray_trace_id: `1-00000000-${i.padStart(24, '0')}`, rewrites: verify ? 2 : 1 });
    expect(line?.['rewritten']).toEqual(expect.arrayContaining([expect.objectContaining({ from: `gcr.io/team/app-${i}:1` })]));
    expect(emf).toMatchObject({ Outcome: 'patched', Reviews: 1, Rewrites: verify ? 2 : 1 });
    if (verify) expect(emf).toMatchObject({ VerifyChecks: 1 });
  }
  expect(seen.size).toBe(n);
}

describe('overlapping invocations of one handler', () => {
  it('log each review with its own request id and write each invocation once, when the later ones end first', async () => {
    // Invocation 0 waits longest for its rules: every other one starts, and ends, while it waits.
    const n = 6;
    const { writes, answers } = await runOverlapping(n, { rules: slowRules([60, 50, 40, 30, 20, 10]), verify: false });
    checkAll(n, writes, answers, false);
  });

  it('keep each review to its own line and document while their existence checks are under way', async () => {
    const n = 5;
    const verifier = slowVerifier((image) => 10 + 50 * ((Number(/side-(\d+)/.exec(image)?.[1] ?? 0) * 7) % 5));
    const { writes, answers } = await runOverlapping(n, { rules: slowRules([0]), verifier, verify: true });
    checkAll(n, writes, answers, true);
  });

  it('log a refusal, an error and a failed metrics document with their own request id, though later invocations started meanwhile', async () => {
    // Each ends after those started later: a line through the process's logger would name the latest.
    const writes: Write[] = [];
    const obs = createObservability({ logLevel: 'INFO', write: (text, stream) => void writes.push({ stream, lines: text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) }) });
    obs.metrics.publishStoredMetrics = (): void => {
      throw new Error('metrics broken');
    };
    let call = 0;
    const rules: RulesProvider = {
      current: async () => {
        const i = call++;
        await sleep(40 - 10 * i);
        if (i === 1) throw new Error('rules broken');
        return GOOD;
      },
    };
    const invoke = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, output: obs.output });
    const events = [withBody(loadEvent('rest-pod-v1.json'), { kind: 'NotAReview' }), eventFor(1, false), eventFor(2, false)];
    const results = await Promise.all(events.map((e, i) => invoke(e, context(i))));
    expect(results.map((r) => r.statusCode)).toEqual([400, 500, 200]);
    const lines = writes.flatMap((w) => w.lines).filter((l) => !('_aws' in l) && l['message'] !== 'cold start');
    const seen = lines.map((l) => [l['message'], l['function_request_id'], l['xray_trace_id']]);
    const id = (i: number): [string, string] => [`request-${String(i)}`, `1-00000000-${String(i).padStart(24, '0')}`];
    expect(seen).toEqual(
      expect.arrayContaining([
        ['request rejected', ...id(0)],
        ['unexpected error; answered 500', ...id(1)],
        ['admission reviewed', ...id(2)],
        ...[0, 1, 2].map((i) => ['cannot publish metrics', ...id(i)]),
      ]),
    );
    expect(seen).toHaveLength(6);
  });

  it('write no other invocation in the write of one whose review ended just before', async () => {
    // Rules already loaded: the invocations' reviews run one after the other in the same turn of
    // the event loop, each ending while the others are between their review and their end.
    const { writes } = await runOverlapping(3, { rules: { current: () => Promise.resolve(GOOD) }, verify: false });
    const reviewWrites = writes.filter((w) => w.lines.some((l) => l['message'] === 'admission reviewed'));
    expect(reviewWrites.map((w) => w.lines.map((l) => l['uid'] ?? 'EMF'))).toEqual([
      ['uid-0', 'EMF'],
      ['uid-1', 'EMF'],
      ['uid-2', 'EMF'],
    ]);
  });
});
