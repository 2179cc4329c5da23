/**
 * What README's Troubleshooting says of a throttled or slow Parameter Store (the rows
 * "`ThrottlingException` (`Rate exceeded`)" and "`cannot start: fix the function configuration`"),
 * against real components: the Lambda entry reads from moto through a proxy on 127.0.0.1
 * (helpers/ssm-proxy.ts) that answers chosen `GetParameter` calls as a throttled SSM does (HTTP 400,
 * `ThrottlingException`, `Rate exceeded`) or holds them past the 3 s read bound. Every scenario runs
 * twice, as tests/integration/moto.integration.ts does: src/lambda/main.ts in process (a failed init
 * is the import that threw, imported again at the next invocation, as Lambda runs the init again),
 * and dist/handler.js under the Runtime Interface Emulator (a failed init is RIE's 502, and RIE
 * starts the init again at the next invoke).
 *
 * The SDK retries a throttled call (standard mode: 3 attempts, a random wait of up to 1 s, then up to
 * 2 s: @smithy/core's retries-2026-config), all within the read's 3 s abort (READ_TIMEOUT_MS). The
 * waits are random: when they add up to nearly 3 s (a fraction of a percent of the reads), the abort
 * comes first and the read ends as an `AbortError`. The assertions accept that case, exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { READ_TIMEOUT_MS } from '../../src/config/sources.js';
import { EVENT_TOKEN, type JsonObject } from '../helpers/events.js';
import { ms, printFigures } from './helpers/figures.js';
import { awsEnvFor, type Moto, startMoto } from './helpers/moto.js';
import { eventually } from './helpers/processes.js';
import { type GetParameterCall, type SsmProxy, startSsmProxy } from './helpers/ssm-proxy.js';
import { type Answer, environmentInProcess, environmentUnderRie, type Invoked, type LambdaEnvironment, type StartEnvironment, startedInBlock } from './helpers/webhook.js';

const TOKEN_PARAMETER = '/image-rewriter/token';
const RULES_PARAMETER = '/image-rewriter/rules';
const TTL_SECONDS = 1;
/** events/rest-pod-v1.json: its first container is gcr.io/google-samples/hello-app:2.0. */
const EVENT = 'rest-pod-v1.json';
const IMAGE = '/spec/containers/0/image';
const rulesTo = (registry: string): string => `rules:\n  - name: gcr-to-${registry.split('.')[0] ?? 'x'}\n    match: gcr.io\n    replace: ${registry}\n`;
const START_FAILED = 'cannot start: fix the function configuration';
const THROTTLED_TOKEN = `cannot read the webhook token from SSM parameter ${TOKEN_PARAMETER} (ThrottlingException): Rate exceeded`;
/**
 * The detail of a read aborted at the bound. The SDK says "Request aborted" when the abort's reason
 * (AbortSignal.timeout's DOMException) is an Error, as on Lambda and under RIE; in process, jest's VM
 * context has an Error of its own, of which Node's DOMException is no instance, and the SDK writes
 * the reason's text instead.
 */
const abortedDetail = (label: string): string =>
  `no answer within ${READ_TIMEOUT_MS} ms (${label.includes('RIE') ? 'Request aborted' : 'TimeoutError: The operation was aborted due to timeout'})`;
/** What a token read ends with at the bound (a slow SSM). */
const abortedToken = (label: string): string => `cannot read the webhook token from SSM parameter ${TOKEN_PARAMETER} (AbortError): ${abortedDetail(label)}`;
/**
 * The detail of a throttled read whose SDK waits ran past the bound (see the header): the throttling
 * the SDK was waiting out, then the bound (src/config/attempt-errors.ts).
 */
const throttledThenAborted = (label: string): string => `ThrottlingException (HTTP 400): Rate exceeded, then ${abortedDetail(label)}`;
const throttledThenAbortedToken = (label: string): string => `cannot read the webhook token from SSM parameter ${TOKEN_PARAMETER} (AbortError): ${throttledThenAborted(label)}`;

let moto: Moto | undefined;
let proxy: SsmProxy | undefined;
const aws = (): Moto => {
  if (moto === undefined) throw new Error('moto did not start (see the error of beforeAll)');
  return moto;
};
const ssm = (): SsmProxy => {
  if (proxy === undefined) throw new Error('the proxy did not start (see the error of beforeAll)');
  return proxy;
};
const figures: string[] = [];

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startSsmProxy(moto.url);
});

afterAll(async () => {
  await proxy?.close();
  await moto?.stop();
  printFigures('a throttled or slow Parameter Store (proxy in front of moto)', figures);
});

/** The function's AWS settings: every call goes through the proxy. */
const awsEnv = (): Record<string, string> => awsEnvFor(ssm().url);

async function put(name: string, value: string): Promise<string> {
  const out = await aws().ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Overwrite: true }));
  return String(out.Version);
}

/** A fresh moto and proxy (no parameter, no fault, no call recorded). */
async function resetAws(): Promise<void> {
  await aws().reset();
  ssm().reset();
}

const isRecord = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function answered(r: Invoked): Answer {
  if (r.init !== 'ok') throw new Error(`the init failed: ${r.errorType}: ${r.errorMessage}`);
  return r.answer;
}

/** The image the answer's patch puts at IMAGE, or undefined when the patch does not touch it. */
function rewrittenImage(r: Invoked): string | undefined {
  const answer = answered(r);
  expect(answer.statusCode).toBe(200);
  const response = answer.body['response'];
  if (!isRecord(response)) throw new Error(`no response in ${JSON.stringify(answer.body)}`);
  expect(response['allowed']).toBe(true);
  const patch = response['patch'];
  if (patch === undefined) return undefined;
  if (typeof patch !== 'string') throw new Error('patch is not a string');
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { path: string; value?: unknown }[];
  const op = ops.find((o) => o.path === IMAGE);
  return typeof op?.value === 'string' ? op.value : undefined;
}

const linesOf = (fn: LambdaEnvironment, message: string): JsonObject[] => fn.logs().filter((l) => l['message'] === message);

interface EmfDocument {
  /** Each metric's value. */
  readonly values: Record<string, unknown>;
  /** Each directive: its dimension sets and its metrics' names (sorted). */
  readonly directives: { readonly dimensions: unknown; readonly metrics: string[] }[];
  readonly line: JsonObject;
}

/** The EMF documents written so far. */
function emfDocuments(fn: LambdaEnvironment): EmfDocument[] {
  const out: EmfDocument[] = [];
  for (const line of fn.logs()) {
    const meta = line['_aws'];
    if (!isRecord(meta) || !Array.isArray(meta['CloudWatchMetrics'])) continue;
    const values: Record<string, unknown> = {};
    const directives = (meta['CloudWatchMetrics'] as { Metrics?: { Name: string }[]; Dimensions?: unknown }[]).map((d) => {
      const metrics = (d.Metrics ?? []).map((m) => m.Name).sort();
      for (const name of metrics) values[name] = line[name];
      return { dimensions: d.Dimensions, metrics };
    });
    out.push({ values, directives, line });
  }
  return out;
}

/** The attempts of the one read of `name` made since `from` calls were recorded. */
function onlyRead(name: string, from = 0): GetParameterCall[] {
  const reads = ssm().reads(name, from);
  expect(reads).toHaveLength(1);
  return reads[0] ?? [];
}

const span = (read: readonly GetParameterCall[]): number => (read.at(-1)?.at ?? 0) - (read[0]?.at ?? 0);

/**
 * A read throttled at every attempt: 3 attempts (attempt=1..3; max=3) within the 3 s bound, ending
 * in ThrottlingException; or, when the SDK's random waits run past the bound, the abort (after 2 attempts, or 3).
 */
function expectThrottledRead(read: readonly GetParameterCall[], error: string): void {
  expect(read.every((c) => c.answered === 'throttled' && c.maxAttempts === 3)).toBe(true);
  expect(span(read)).toBeLessThan(READ_TIMEOUT_MS);
  if (error === 'ThrottlingException') expect(read.map((c) => c.attempt)).toEqual([1, 2, 3]);
  else {
    expect(error).toBe('AbortError');
    expect([[1, 2], [1, 2, 3]]).toContainEqual(read.map((c) => c.attempt));
  }
}

describe.each<[string, StartEnvironment]>([
  ['src/lambda/main.ts in process', environmentInProcess],
  ['dist/handler.js under RIE', environmentUnderRie],
])('%s, Parameter Store throttled or slow', (label, start) => {
  /** An environment warmed by one review with the rules read from SSM (to eu.gcr.io), the token inline. */
  const warmWithRulesInSsm = (): (() => LambdaEnvironment) =>
    startedInBlock(async () => {
      await resetAws();
      await put(RULES_PARAMETER, rulesTo('eu.gcr.io'));
      const fn = await start({ ...awsEnv(), WEBHOOK_TOKEN: EVENT_TOKEN, REWRITE_RULES_PARAMETER: RULES_PARAMETER, REWRITE_RULES_TTL_SECONDS: String(TTL_SECONDS) });
      expect(rewrittenImage(await fn.invoke(EVENT))).toBe('eu.gcr.io/google-samples/hello-app:2.0');
      return fn;
    });

  describe('the token read throttled at every attempt of a cold start (rules from SSM too)', () => {
    const env = startedInBlock(async () => {
      await resetAws();
      await put(TOKEN_PARAMETER, EVENT_TOKEN);
      await put(RULES_PARAMETER, rulesTo('eu.gcr.io'));
      ssm().set(TOKEN_PARAMETER, { kind: 'throttle' });
      return start({ ...awsEnv(), WEBHOOK_TOKEN_PARAMETER: TOKEN_PARAMETER, REWRITE_RULES_PARAMETER: RULES_PARAMETER, REWRITE_RULES_TTL_SECONDS: '300' });
    });

    it('fails the init: RIE 502 with the SourceError, one CRITICAL line, one EMF document of the service, never the token', async () => {
      const r = await env().invoke(EVENT);
      if (r.init !== 'failed') throw new Error(`the init did not fail: ${JSON.stringify(r)}`);
      expect(r.errorType).toBe('SourceError');
      expect([THROTTLED_TOKEN, throttledThenAbortedToken(label)]).toContain(r.errorMessage);
      if (label.includes('RIE')) expect(r.status).toBe(502);
      else expect(r.status).toBeUndefined();

      const read = onlyRead(TOKEN_PARAMETER);
      const code = r.errorMessage === THROTTLED_TOKEN ? 'ThrottlingException' : 'AbortError';
      expectThrottledRead(read, code);
      // The rules were read meanwhile, once (not throttled): the two reads of a cold start run at once.
      expect(onlyRead(RULES_PARAMETER).map((c) => c.answered)).toEqual(['passed']);
      figures.push(
        `${label}: token throttled at every attempt: ${read.length} GetParameter attempts in ${ms(span(read))} (first to last), ${code}; failed invocation ${ms(r.ms)}${r.status === undefined ? '' : `, HTTP ${r.status}`}`,
      );

      const critical = linesOf(env(), START_FAILED);
      expect(critical).toHaveLength(1);
      expect(critical[0]).toMatchObject({
        level: 'CRITICAL',
        error: { name: 'SourceError', message: r.errorMessage, cause: { name: code } },
      });
      if (code === 'ThrottlingException') expect(critical[0]).toMatchObject({ error: { cause: { message: 'Rate exceeded' } } });
      expect(linesOf(env(), 'configuration')).toHaveLength(0);

      // The failed start's own EMF document: dimension `service` only, ConfigErrors 1, and
      // ConfigRefreshes 1 for the rules read.
      const docs = emfDocuments(env());
      expect(docs).toHaveLength(1);
      expect(docs[0]?.values).toEqual({ ConfigErrors: 1, ConfigRefreshes: 1 });
      expect(docs[0]?.directives).toEqual([{ dimensions: [['service']], metrics: ['ConfigErrors', 'ConfigRefreshes'] }]);
      expect(docs[0]?.line).toMatchObject({ service: 'image-rewriter' });
      expect(docs[0]?.line).not.toHaveProperty('Outcome');
      expect(JSON.stringify(env().logs())).not.toContain(EVENT_TOKEN);
      // Our lines of the failed start: the rules read meanwhile, and the failure (under RIE the runtime
      // then writes its own error JSON: errorType, errorMessage, stack).
      expect(env().logs().flatMap((l) => (typeof l['message'] === 'string' ? [[l['level'], l['message']]] : []))).toEqual([
        ['INFO', 'rules loaded'],
        ['CRITICAL', START_FAILED],
      ]);
    });

    it('the next invocation starts it again: read at one attempt once SSM answers, and the review is answered', async () => {
      ssm().set(TOKEN_PARAMETER, undefined);
      const from = ssm().calls.length;
      const r = await env().invoke(EVENT);
      expect(rewrittenImage(r)).toBe('eu.gcr.io/google-samples/hello-app:2.0');
      expect(onlyRead(TOKEN_PARAMETER, from).map((c) => [c.attempt, c.answered])).toEqual([[1, 'passed']]);
      expect(linesOf(env(), 'configuration')).toEqual([expect.objectContaining({ token: `ssm:${TOKEN_PARAMETER}`, rules: `ssm:${RULES_PARAMETER}` })]);
      expect(linesOf(env(), START_FAILED)).toHaveLength(1);
      expect(answered(await env().invoke('rest-wrong-token.json')).statusCode).toBe(401);
      expect(JSON.stringify(env().logs())).not.toContain(EVENT_TOKEN);
      figures.push(`${label}: the next invocation after the failed start: init run again, answered in ${ms(r.ms)}`);
    });
  });

  describe.each([1, 2])('the token read throttled at its first %i attempt(s) only', (throttled) => {
    it('the SDK retries absorb it: the cold start succeeds, and nothing is logged about it', async () => {
      await resetAws();
      await put(TOKEN_PARAMETER, EVENT_TOKEN);
      ssm().set(TOKEN_PARAMETER, { kind: 'throttle', count: throttled });
      const fn = await start({ ...awsEnv(), WEBHOOK_TOKEN_PARAMETER: TOKEN_PARAMETER, REWRITE_RULES: EXAMPLE_RULES });
      try {
        let r = await fn.invoke(EVENT);
        const read = onlyRead(TOKEN_PARAMETER);
        if (r.init === 'failed') {
          // Twice throttled, the SDK's random waits (up to 1 s, then 2 s) may leave the third attempt
          // no time within the bound (a fraction of a percent of the reads): the start fails as a slow read would,
          // and the next invocation starts it again.
          expect([throttled, r.errorMessage]).toEqual([2, throttledThenAbortedToken(label)]);
          expect(read.map((c) => c.answered).slice(0, 2)).toEqual(['throttled', 'throttled']);
          r = await fn.invoke(EVENT);
          expect(rewrittenImage(r)).toBe('asia.gcr.io/google-samples/hello-app:2.0');
          return;
        }
        expect(rewrittenImage(r)).toBe('asia.gcr.io/google-samples/hello-app:2.0');
        expect(read.map((c) => c.attempt)).toEqual(Array.from({ length: throttled + 1 }, (_, i) => i + 1));
        expect(read.map((c) => c.answered)).toEqual([...Array<string>(throttled).fill('throttled'), 'passed']);
        expect(span(read)).toBeLessThan(READ_TIMEOUT_MS);
        const lines = fn.logs().filter((l) => typeof l['message'] === 'string');
        expect(lines.filter((l) => l['level'] !== 'INFO')).toEqual([]);
        expect(JSON.stringify(fn.logs())).not.toMatch(/Throttl|Rate exceeded/);
        expect(linesOf(fn, 'configuration')).toEqual([expect.objectContaining({ token: `ssm:${TOKEN_PARAMETER}` })]);
        expect(emfDocuments(fn).some((d) => 'ConfigErrors' in d.values)).toBe(false);
        figures.push(`${label}: token throttled ${throttled}x: ${read.length} attempts in ${ms(span(read))}, cold start answered in ${ms(r.ms)}, no line about it`);
      } finally {
        await fn.stop();
      }
    });
  });

  describe(`the rules parameter throttled at a refresh of a warm environment (TTL ${TTL_SECONDS} s)`, () => {
    const env = warmWithRulesInSsm();

    it('keeps the last good rules, logs the ThrottlingException with a retryInMs, counts ConfigErrors and RulesStale', async () => {
      await put(RULES_PARAMETER, rulesTo('us.gcr.io'));
      ssm().set(RULES_PARAMETER, { kind: 'throttle' });
      await sleep(TTL_SECONDS * 1000 + 100);
      const from = ssm().calls.length;
      const docsBefore = emfDocuments(env()).length;
      const r = await env().invoke(EVENT);
      expect(rewrittenImage(r)).toBe('eu.gcr.io/google-samples/hello-app:2.0');
      const failed = linesOf(env(), 'cannot read the rules parameter');
      expect(failed).toHaveLength(1);
      const code = failed[0]?.['errorCode'];
      expectThrottledRead(onlyRead(RULES_PARAMETER, from), String(code));
      expect(failed[0]).toMatchObject({
        level: 'ERROR',
        parameter: RULES_PARAMETER,
        detail: code === 'ThrottlingException' ? 'Rate exceeded' : throttledThenAborted(label),
        retryInMs: 1000,
        keeping: '1',
      });
      // The review waited for the read (its retries included), and was answered with version 1.
      expect(r.ms).toBeGreaterThanOrEqual(span(onlyRead(RULES_PARAMETER, from)));
      expect(linesOf(env(), 'admission reviewed').at(-1)).toMatchObject({ outcome: 'patched' });
      // That invocation's one EMF document: the failed read counted with its Outcome, RulesStale with `service` only.
      const docs = emfDocuments(env()).slice(docsBefore);
      expect(docs).toHaveLength(1);
      expect(docs[0]?.values).toEqual({ ConfigErrors: 1, ConfigRefreshes: 1, Reviews: 1, Rewrites: 1, RulesStale: 1 });
      expect(docs[0]?.directives).toEqual([
        { dimensions: [['service', 'Outcome']], metrics: ['ConfigErrors', 'ConfigRefreshes', 'Reviews', 'Rewrites'] },
        { dimensions: [['service']], metrics: ['RulesStale'] },
      ]);
      expect(docs[0]?.line).toMatchObject({ Outcome: 'patched' });
      figures.push(
        `${label}: rules refresh throttled: ${onlyRead(RULES_PARAMETER, from).length} attempts in ${ms(span(onlyRead(RULES_PARAMETER, from)))}, ${String(code)}; that review waited ${ms(r.ms)}`,
      );

      // Within the backoff: no read, the last good rules, RulesStale again.
      const next = await env().invoke(EVENT);
      expect(rewrittenImage(next)).toBe('eu.gcr.io/google-samples/hello-app:2.0');
      expect(ssm().reads(RULES_PARAMETER, from)).toHaveLength(1);
      expect(emfDocuments(env()).at(-1)?.values).toMatchObject({ RulesStale: 1 });
    });

    it('reads the rules again once SSM answers, after the backoff, and applies the new version', async () => {
      ssm().set(RULES_PARAMETER, undefined);
      await eventually('the new rules to apply', 30_000, async () => (rewrittenImage(await env().invoke(EVENT)) === 'us.gcr.io/google-samples/hello-app:2.0' ? true : undefined));
      expect(linesOf(env(), 'rules loaded').at(-1)).toMatchObject({ source: `ssm:${RULES_PARAMETER}`, version: '2' });
      expect(linesOf(env(), 'cannot read the rules parameter')).toHaveLength(1);
    });
  });

  // An answer whose headers came and whose body did not (a proxy on the way that stalls): the read
  // is cut by its bound as a slow store is, and said so; the SDK named it by the socket's error
  // (`ECONNRESET`, "aborted") and added a second line of advice.
  describe(`the rules parameter's answer stalled after its headers at a refresh of a warm environment (TTL ${TTL_SECONDS} s)`, () => {
    const env = warmWithRulesInSsm();

    it('keeps the last good rules, one attempt, logged once as the bound (AbortError), in one line', async () => {
      ssm().set(RULES_PARAMETER, { kind: 'stall' });
      await sleep(TTL_SECONDS * 1000 + 100);
      const from = ssm().calls.length;
      const r = await env().invoke(EVENT);
      expect(rewrittenImage(r)).toBe('eu.gcr.io/google-samples/hello-app:2.0');
      expect(onlyRead(RULES_PARAMETER, from).map((c) => [c.attempt, c.answered])).toEqual([[1, 'stalled']]);
      expect(linesOf(env(), 'cannot read the rules parameter')).toEqual([
        expect.objectContaining({ level: 'ERROR', errorCode: 'AbortError', detail: `no answer within ${READ_TIMEOUT_MS} ms (Request aborted)`, retryInMs: 1000, keeping: '1' }),
      ]);
      expect(r.ms).toBeGreaterThanOrEqual(READ_TIMEOUT_MS - 50);
      figures.push(`${label}: rules answer stalled after its headers: 1 attempt, that review waited ${ms(r.ms)}`);
      ssm().set(RULES_PARAMETER, undefined);
    });
  });

  describe(`a slow SSM: the token read without an answer within ${READ_TIMEOUT_MS} ms at a cold start`, () => {
    const env = startedInBlock(async () => {
      await resetAws();
      await put(TOKEN_PARAMETER, EVENT_TOKEN);
      ssm().set(TOKEN_PARAMETER, { kind: 'delay', ms: 6000 });
      return start({ ...awsEnv(), WEBHOOK_TOKEN_PARAMETER: TOKEN_PARAMETER, REWRITE_RULES: EXAMPLE_RULES });
    });

    it('fails the init after the bound, one attempt, with "no answer within 3000 ms"; the next invocation starts it again', async () => {
      const r = await env().invoke(EVENT);
      if (r.init !== 'failed') throw new Error(`the init did not fail: ${JSON.stringify(r)}`);
      expect(r.errorMessage).toBe(abortedToken(label));
      if (label.includes('RIE')) expect(r.status).toBe(502);
      expect(r.ms).toBeGreaterThanOrEqual(READ_TIMEOUT_MS - 50);
      const read = onlyRead(TOKEN_PARAMETER);
      expect(read.map((c) => [c.attempt, c.answered])).toEqual([[1, 'delayed']]);
      // The SDK gave up (closed the connection) at the bound, not when the proxy would have answered
      // (the proxy may see the close a moment after the init failed).
      const ended = await eventually('the proxy to see the connection end', 5000, () => Promise.resolve(read[0]?.ended), 50);
      const held = ended - (read[0]?.at ?? Number.NaN);
      expect(held).toBeGreaterThan(READ_TIMEOUT_MS - 1000);
      expect(held).toBeLessThan(READ_TIMEOUT_MS + 1000);
      expect(linesOf(env(), START_FAILED)).toEqual([expect.objectContaining({ level: 'CRITICAL', error: expect.objectContaining({ message: abortedToken(label), cause: expect.objectContaining({ name: 'AbortError' }) }) })]);
      figures.push(`${label}: token read held 6 s: connection closed by the SDK after ${ms(held)}, failed invocation after ${ms(r.ms)}, 1 attempt, "${abortedToken(label)}"`);

      ssm().set(TOKEN_PARAMETER, undefined);
      expect(rewrittenImage(await env().invoke(EVENT))).toBe('asia.gcr.io/google-samples/hello-app:2.0');
      expect(linesOf(env(), 'configuration')).toHaveLength(1);
    });
  });
});
