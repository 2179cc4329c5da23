/**
 * The Lambda handler on the sample events of events/ (cloned per test) and on every way a request
 * can be wrong: status, body and headers of each answer, the token, fail-open, the event shapes,
 * and the log lines and EMF documents it writes.
 */
import { describe, expect, it, jest } from '@jest/globals';
import fjp from 'fast-json-patch';
import { gzipSync } from 'node:zlib';
import type { Operation } from 'fast-json-patch';
import type { Context } from 'aws-lambda';
import { parseRules } from '../../src/config/load.js';
import { fixedRules, type RulesProvider, type RulesState } from '../../src/config/sources.js';
import { BAD_REQUEST, MAX_WARNINGS, MAX_WARNINGS_LENGTH, ORIGINAL_IMAGES_ANNOTATION, WARNING_MAX_LENGTH, WARNING_PREFIX } from '../../src/core/admission.js';
import { createHandler, DEFAULT_MAX_BODY_BYTES, type HandlerDeps, MESSAGES, parseEvent, type WebhookResult } from '../../src/lambda/handler.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { answerBody, answerPatch, answerResponse, captureObservability, type Captured, EVENT_TOKEN, eventNames, fixtureEventNames, eventReview, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import { podReview } from '../helpers/admission-review.js';

const { applyPatch } = fjp;

const example = parseRules(EXAMPLE_RULES, {});
if (!example.ok) throw new Error('example rules invalid');
const RULES = fixedRules(example.rewriter, 'example');
const NOT_LOADED: RulesState = { ok: false, reason: 'rules parameter /image-rewriter/rules could not be read (AccessDeniedException)' };
const notLoaded: RulesProvider = { current: () => Promise.resolve(NOT_LOADED) };

interface Setup {
  readonly obs: Captured;
  readonly invoke: (event: unknown, context?: Context | null) => Promise<WebhookResult>;
}

function setup(overrides: Partial<Omit<HandlerDeps, 'logger' | 'metrics'>> = {}): Setup {
  const obs = captureObservability();
  const handler = createHandler({ rules: RULES, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, ...overrides });
  return { obs, invoke: handler };
}

const isRecord = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function decodedPatch(result: WebhookResult): Operation[] {
  const patch = answerPatch(result);
  if (patch === undefined) throw new Error('no patch');
  return patch;
}

/** request.object of the event's AdmissionReview with the answer's patch applied (validated). */
function patchedObject(event: JsonObject, result: WebhookResult): JsonObject {
  const request = eventReview(event)['request'];
  if (!isRecord(request)) throw new Error('no request');
  return applyPatch(request['object'], decodedPatch(result), true, false).newDocument as JsonObject;
}

const at = (v: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((o, k) => (Array.isArray(o) ? (o as unknown[])[Number(k)] : isRecord(o) ? o[String(k)] : undefined), v);

const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** The EMF documents of a run that carry `Reviews` (the one flush per invocation). */
const reviewDocs = (obs: Captured): JsonObject[] => obs.emf().filter((d) => 'Reviews' in d);

describe('the sample events', () => {
  const expected: Record<string, { status: number; images?: Record<string, string> }> = {
    'rest-pod-v1beta1-demo.json': { status: 200, images: { '/spec/containers/0/image': 'asia.gcr.io/nginx:latest' } },
    'rest-pod-v1.json': {
      status: 200,
      images: {
        '/spec/initContainers/0/image': 'public.ecr.aws/docker/library/busybox:1.36',
        '/spec/containers/0/image': 'asia.gcr.io/google-samples/hello-app:2.0',
        '/spec/containers/1/image': `public.ecr.aws/docker/library/nginx:1.27@sha256:${'a'.repeat(64)}`,
        '/spec/containers/2/image': 'quay.io/prometheus/statsd-exporter:v0.27.1',
      },
    },
    'rest-pod-v1-base64.json': { status: 200, images: { '/spec/containers/0/image': 'asia.gcr.io/google-samples/hello-app:2.0' } },
    'rest-deployment-v1.json': { status: 200, images: { '/spec/template/spec/containers/0/image': 'asia.gcr.io/nginx' } },
    'httpapi-pod-v1.json': { status: 200, images: { '/spec/containers/0/image': 'asia.gcr.io/google-samples/hello-app:2.0' } },
    'function-url-pod-v1.json': { status: 200, images: { '/spec/containers/0/image': 'asia.gcr.io/google-samples/hello-app:2.0' } },
    'alb-pod-v1.json': { status: 200, images: { '/spec/containers/0/image': 'asia.gcr.io/google-samples/hello-app:2.0' } },
    'rest-bad-body.json': { status: 400 },
    'rest-wrong-token.json': { status: 401 },
    'rest-healthz.json': { status: 200 },
  };

  it('covers every file in events/ and tests/fixtures/events/', () => {
    expect([...eventNames(), ...fixtureEventNames()].sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s answers %j', async (name, { status, images }) => {
    const { invoke } = setup();
    const event = loadEvent(name);
    const result = await invoke(event);
    expect(result.statusCode).toBe(status);
    expect(result.headers).toEqual(JSON_HEADERS);
    expect(result.isBase64Encoded).toBe(false);
    if (images === undefined) return;
    const review = eventReview(event);
    const body = answerBody(result);
    expect(body['apiVersion']).toBe(review['apiVersion']);
    expect(body['kind']).toBe('AdmissionReview');
    const response = answerResponse(result);
    expect(response['uid']).toBe(at(review, 'request', 'uid'));
    expect(response['allowed']).toBe(true);
    expect(response['patchType']).toBe('JSONPatch');
    const patched = patchedObject(event, result);
    for (const [pointer, image] of Object.entries(images)) expect(at(patched, ...pointer.split('/').slice(1))).toBe(image);
  });

  it('answers the demo with exactly the patch of the original demo, in v1beta1', async () => {
    const { invoke } = setup();
    const result = await invoke(loadEvent('rest-pod-v1beta1-demo.json'));
    expect(answerBody(result)['apiVersion']).toBe('admission.k8s.io/v1beta1');
    expect(decodedPatch(result)[0]).toEqual({ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/nginx:latest' });
  });

  it.each(['rest-pod-v1-base64.json', 'httpapi-pod-v1.json', 'function-url-pod-v1.json', 'alb-pod-v1.json'])('%s gets the same AdmissionReview as rest-pod-v1.json', async (name) => {
    const { invoke } = setup();
    const want = await invoke(loadEvent('rest-pod-v1.json'));
    const got = await invoke(loadEvent(name));
    expect(answerBody(got)).toEqual(answerBody(want));
    expect(got).toEqual(want);
  });

  it('answers a health check with {"status":"ok"}', async () => {
    const { invoke, obs } = setup();
    const result = await invoke(loadEvent('rest-healthz.json'));
    expect(answerBody(result)).toEqual({ status: 'ok' });
    expect(reviewDocs(obs)).toEqual([]);
  });

  // An HTTP API stage other than $default puts its name first in rawPath and http.path.
  it.each([
    { stage: 'prod', path: '/prod/healthz', status: 200 },
    { stage: '$default', path: '/healthz', status: 200 },
    { stage: 'prod', path: '/prodx/healthz', status: 401 },
    { stage: 'prod', path: '/healthz/prod', status: 401 },
    // A path that does not start with the stage's name is taken as it is, not cut by the stage's length.
    { stage: 'prod', path: '/healthz', status: 200 },
    { stage: '$default', path: '/$default/healthz', status: 401 },
  ])('HTTP API stage $stage: GET $path answers $status', async ({ stage, path, status }) => {
    const { invoke, obs } = setup();
    const event = loadEvent('httpapi-pod-v1.json');
    const requestContext = event['requestContext'] as JsonObject;
    const http = { ...(requestContext['http'] as JsonObject), method: 'GET', path };
    const result = await invoke({ ...event, body: undefined, routeKey: '$default', rawPath: path, pathParameters: undefined, requestContext: { ...requestContext, stage, http } });
    expect(result.statusCode).toBe(status);
    if (status === 200) {
      expect(answerBody(result)).toEqual({ status: 'ok' });
      expect(obs.logs().filter((l) => l['message'] === 'request rejected')).toEqual([]);
    }
  });

  it('answers a review through an HTTP API stage other than $default', async () => {
    const { invoke } = setup();
    const event = loadEvent('httpapi-pod-v1.json');
    const requestContext = event['requestContext'] as JsonObject;
    const path = `/prod/mutate/${EVENT_TOKEN}`;
    const result = await invoke({ ...event, rawPath: path, pathParameters: undefined, requestContext: { ...requestContext, stage: 'prod', http: { ...(requestContext['http'] as JsonObject), path } } });
    expect(result.statusCode).toBe(200);
  });

  it('answers a bad body with the fixed message', async () => {
    const { invoke } = setup();
    expect(answerBody(await invoke(loadEvent('rest-bad-body.json')))).toEqual({ message: MESSAGES.notJson });
  });

  it('answers without a token in the path with 401 {"message":"unauthorized"}', async () => {
    const { invoke } = setup();
    expect(answerBody(await invoke(loadEvent('rest-wrong-token.json')))).toEqual({ message: 'unauthorized' });
  });
});

describe('malformed input', () => {
  const demo = (): JsonObject => loadEvent('rest-pod-v1beta1-demo.json');
  const review = (): JsonObject => eventReview(demo());
  const withRequest = (change: (request: JsonObject) => void): JsonObject => {
    const r = review();
    const request = r['request'] as JsonObject;
    change(request);
    return withBody(demo(), r);
  };
  const b64 = (event: JsonObject, bytes: Buffer | string): JsonObject => ({
    ...event,
    body: Buffer.isBuffer(bytes) ? bytes.toString('base64') : bytes,
    isBase64Encoded: true,
  });

  const rows: { desc: string; event: () => unknown; status: number; message: string }[] = [
    { desc: 'null body', event: () => withBody(demo(), null), status: 400, message: MESSAGES.empty },
    { desc: 'no body field', event: () => { const e = demo(); delete e['body']; return e; }, status: 400, message: MESSAGES.empty },
    { desc: 'empty body', event: () => withBody(demo(), ''), status: 400, message: MESSAGES.empty },
    { desc: 'whitespace body', event: () => withBody(demo(), ' \n\t '), status: 400, message: MESSAGES.empty },
    { desc: 'not JSON', event: () => withBody(demo(), 'apiVersion: admission.k8s.io/v1'), status: 400, message: MESSAGES.notJson },
    { desc: 'truncated JSON', event: () => withBody(demo(), '{"kind":"AdmissionReview",'), status: 400, message: MESSAGES.notJson },
    { desc: 'a JSON array', event: () => withBody(demo(), '[]'), status: 400, message: BAD_REQUEST.notObject },
    { desc: 'a JSON string', event: () => withBody(demo(), '"hello"'), status: 400, message: BAD_REQUEST.notObject },
    { desc: 'JSON null', event: () => withBody(demo(), 'null'), status: 400, message: BAD_REQUEST.notObject },
    { desc: 'wrong apiVersion', event: () => withBody(demo(), { ...review(), apiVersion: 'admission.k8s.io/v2' }), status: 400, message: BAD_REQUEST.apiVersion },
    { desc: 'wrong kind', event: () => withBody(demo(), { ...review(), kind: 'Pod' }), status: 400, message: BAD_REQUEST.kind },
    { desc: 'no request', event: () => withBody(demo(), { ...review(), request: undefined }), status: 400, message: BAD_REQUEST.request },
    { desc: 'request is a list', event: () => withBody(demo(), { ...review(), request: [] }), status: 400, message: BAD_REQUEST.request },
    { desc: 'missing uid', event: () => withRequest((r) => { delete r['uid']; }), status: 400, message: BAD_REQUEST.uid },
    { desc: 'empty uid', event: () => withRequest((r) => { r['uid'] = ''; }), status: 400, message: BAD_REQUEST.uid },
    { desc: 'numeric uid', event: () => withRequest((r) => { r['uid'] = 42; }), status: 400, message: BAD_REQUEST.uid },
    { desc: 'request.kind a string', event: () => withRequest((r) => { r['kind'] = 'Pod'; }), status: 400, message: BAD_REQUEST.requestKind },
    { desc: 'unknown operation', event: () => withRequest((r) => { r['operation'] = 'PATCH'; }), status: 400, message: BAD_REQUEST.operation },
    { desc: 'object a string', event: () => withRequest((r) => { r['object'] = 'pod'; }), status: 400, message: BAD_REQUEST.object },
    { desc: 'oversized body', event: () => withBody(demo(), `{"x":"${'a'.repeat(DEFAULT_MAX_BODY_BYTES)}"}`), status: 400, message: MESSAGES.tooLarge },
    { desc: 'oversized multi-byte body', event: () => withBody(demo(), `"${'é'.repeat(DEFAULT_MAX_BODY_BYTES / 2)}"`), status: 400, message: MESSAGES.tooLarge },
    { desc: 'oversized base64 body', event: () => b64(demo(), Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 3, 0x20)), status: 400, message: MESSAGES.tooLarge },
    { desc: 'base64 just over the limit', event: () => b64(demo(), Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 1, 0x20)), status: 400, message: MESSAGES.tooLarge },
    { desc: 'invalid base64', event: () => b64(demo(), 'not base64!'), status: 400, message: MESSAGES.notBase64 },
    { desc: 'base64 of length 4n+1', event: () => b64(demo(), 'abcde'), status: 400, message: MESSAGES.notBase64 },
    { desc: 'base64 of invalid UTF-8', event: () => b64(demo(), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), status: 400, message: MESSAGES.notUtf8 },
    { desc: 'base64 of invalid UTF-8 whose first byte is gzip\'s but not the second', event: () => b64(demo(), Buffer.from([0x1f, 0xff, 0xfe])), status: 400, message: MESSAGES.notUtf8 },
    { desc: 'base64 of a gzip-compressed review (Content-Encoding: gzip)', event: () => b64(demo(), gzipSync(String(demo()['body']))), status: 400, message: MESSAGES.compressed },
    { desc: 'base64 of nothing', event: () => b64(demo(), ''), status: 400, message: MESSAGES.empty },
    { desc: 'base64 of spaces', event: () => b64(demo(), Buffer.from('   ')), status: 400, message: MESSAGES.empty },
    { desc: 'base64 of not JSON', event: () => b64(demo(), Buffer.from('<xml/>')), status: 400, message: MESSAGES.notJson },
    { desc: 'body a number', event: () => ({ ...demo(), body: 42 }), status: 400, message: MESSAGES.bodyNotString },
    { desc: 'body the review as an object (a hand-made test event)', event: () => ({ ...demo(), body: review() }), status: 400, message: MESSAGES.bodyNotString },
    { desc: 'body an object, in a Function URL event', event: () => ({ ...loadEvent('function-url-pod-v1.json'), body: review() }), status: 400, message: MESSAGES.bodyNotString },
    { desc: 'an empty event', event: () => ({}), status: 400, message: MESSAGES.unsupportedEvent },
    { desc: 'the AdmissionReview itself as the event (non-proxy integration, aws lambda invoke)', event: () => review(), status: 400, message: MESSAGES.bareReview },
    { desc: 'a null event', event: () => null, status: 400, message: MESSAGES.unsupportedEvent },
    { desc: 'an array event', event: () => [demo()], status: 400, message: MESSAGES.unsupportedEvent },
    { desc: 'an SQS event', event: () => ({ Records: [{ eventSource: 'aws:sqs', body: '{}' }] }), status: 400, message: MESSAGES.unsupportedEvent },
    { desc: 'a REST event without path', event: () => { const e = demo(); delete e['path']; return e; }, status: 400, message: MESSAGES.unsupportedEvent },
    { desc: 'a 2.0 event without method', event: () => ({ ...loadEvent('httpapi-pod-v1.json'), requestContext: {} }), status: 400, message: MESSAGES.unsupportedEvent },
    { desc: 'GET', event: () => ({ ...demo(), httpMethod: 'GET' }), status: 405, message: MESSAGES.methodNotAllowed },
    { desc: 'PUT', event: () => ({ ...demo(), httpMethod: 'PUT' }), status: 405, message: MESSAGES.methodNotAllowed },
  ];

  it.each(rows)('$desc: $status', async ({ event, status, message }) => {
    const { invoke, obs } = setup();
    const result = await invoke(event());
    expect(result.statusCode).toBe(status);
    expect(answerBody(result)).toEqual({ message });
    expect(result.headers['Content-Type']).toBe('application/json');
    if (status === 405) expect(result.headers['Allow']).toBe('POST');
    const [doc, ...more] = reviewDocs(obs);
    expect(more).toEqual([]);
    expect(doc?.['Outcome']).toBe('bad_request');
    expect(obs.logs().find((l) => l['message'] === 'request rejected')).toMatchObject({ level: 'WARN', status, reason: message });
  });

  it('never echoes the body, in the answer or in the logs', async () => {
    const { invoke, obs } = setup();
    const marker = 'SECRET-MARKER-6d1f';
    for (const body of [`{"${marker}":`, `["${marker}"]`, `{"apiVersion":"${marker}"}`]) {
      const result = await invoke(withBody(demo(), body));
      expect(result.statusCode).toBe(400);
      expect(result.body).not.toContain(marker);
    }
    expect(obs.text()).not.toContain(marker);
  });

  it('accepts a body of exactly the limit and rejects one byte more', async () => {
    const small = setup({ maxBodyBytes: 2 });
    expect(answerBody(await small.invoke(withBody(demo(), '[]')))).toEqual({ message: BAD_REQUEST.notObject });
    expect(answerBody(await small.invoke(withBody(demo(), '[ ]')))).toEqual({ message: MESSAGES.tooLarge });
    expect(answerBody(await small.invoke(b64(demo(), Buffer.from('[]'))))).toEqual({ message: BAD_REQUEST.notObject });
    expect(answerBody(await small.invoke(b64(demo(), Buffer.from('[ ]'))))).toEqual({ message: MESSAGES.tooLarge });
  });

  it('accepts a REST event without requestContext', async () => {
    const { invoke, obs } = setup({ token: undefined });
    const event = demo();
    delete event['requestContext'];
    expect((await invoke(event)).statusCode).toBe(200);
    expect((await invoke({ ...event, httpMethod: 'DELETE' })).statusCode).toBe(405);
    expect(obs.logs().find((l) => l['status'] === 405)).toMatchObject({ method: 'DELETE' });
  });

  it('accepts base64 with line breaks and a lower-case method', async () => {
    const { invoke } = setup();
    const event = loadEvent('rest-pod-v1-base64.json');
    const body = String(event['body']).replace(/(.{76})/g, '$1\n');
    const result = await invoke({ ...event, body, httpMethod: 'post' });
    expect(result.statusCode).toBe(200);
  });

  it('accepts a lower-case method in a payload 2.0 event too', async () => {
    const { invoke } = setup();
    const event = loadEvent('httpapi-pod-v1.json');
    const requestContext = event['requestContext'] as JsonObject;
    const result = await invoke({ ...event, requestContext: { ...requestContext, http: { ...(requestContext['http'] as JsonObject), method: 'post' } } });
    expect(result.statusCode).toBe(200);
  });

  it('logs at most 16 characters of a method it refuses (a hand-made event may carry any string)', async () => {
    const { invoke, obs } = setup();
    expect((await invoke({ ...loadEvent('rest-pod-v1.json'), httpMethod: `PATCH${'X'.repeat(5000)}` })).statusCode).toBe(405);
    expect(obs.logs().find((l) => l['status'] === 405)).toMatchObject({ method: `PATCH${'X'.repeat(11)}` });
  });
});

describe('the webhook token', () => {
  const event = (): JsonObject => loadEvent('rest-pod-v1beta1-demo.json');
  const rows: { desc: string; token: string | undefined; event: () => unknown; status: number }[] = [
    { desc: 'right token (pathParameters)', token: EVENT_TOKEN, event, status: 200 },
    { desc: 'right token, in the path only', token: EVENT_TOKEN, event: () => ({ ...event(), pathParameters: null }), status: 200 },
    { desc: 'right token, trailing slash', token: EVENT_TOKEN, event: () => ({ ...event(), pathParameters: null, path: `/mutate/${EVENT_TOKEN}/` }), status: 200 },
    { desc: 'wrong token', token: EVENT_TOKEN, event: () => loadEvent('rest-wrong-token.json'), status: 401 },
    { desc: 'token one character short', token: EVENT_TOKEN, event: () => ({ ...event(), pathParameters: { token: EVENT_TOKEN.slice(0, -1) } }), status: 401 },
    { desc: 'token with a suffix', token: EVENT_TOKEN, event: () => ({ ...event(), pathParameters: { token: `${EVENT_TOKEN}x` } }), status: 401 },
    { desc: 'token not the last segment', token: EVENT_TOKEN, event: () => ({ ...event(), pathParameters: null, path: `/mutate/${EVENT_TOKEN}/x` }), status: 401 },
    { desc: 'pathParameters.token wins over the path', token: EVENT_TOKEN, event: () => ({ ...event(), pathParameters: { token: 'nope' } }), status: 401 },
    { desc: 'missing token', token: EVENT_TOKEN, event: () => ({ ...event(), path: '/mutate', pathParameters: null }), status: 401 },
    { desc: 'root path', token: EVENT_TOKEN, event: () => ({ ...event(), path: '/', pathParameters: null }), status: 401 },
    { desc: 'HTTP API, wrong token', token: 'another-token-0123456789abcdef', event: () => loadEvent('httpapi-pod-v1.json'), status: 401 },
    { desc: 'Function URL, wrong token', token: 'another-token-0123456789abcdef', event: () => loadEvent('function-url-pod-v1.json'), status: 401 },
    { desc: 'Function URL, right token', token: EVENT_TOKEN, event: () => loadEvent('function-url-pod-v1.json'), status: 200 },
    { desc: 'no token configured, wrong token', token: undefined, event: () => loadEvent('rest-wrong-token.json'), status: 200 },
    { desc: 'no token configured, no token', token: undefined, event: () => ({ ...event(), path: '/mutate', pathParameters: null }), status: 200 },
    { desc: 'wrong token and a bad body', token: EVENT_TOKEN, event: () => withBody(loadEvent('rest-wrong-token.json'), 'x'), status: 401 },
    { desc: 'wrong token and GET', token: EVENT_TOKEN, event: () => ({ ...loadEvent('rest-wrong-token.json'), httpMethod: 'GET' }), status: 401 },
    // Only a GET of the health path is a health check: a POST there is a review like any, token first.
    { desc: 'POST to the health path, no token', token: EVENT_TOKEN, event: () => ({ ...event(), path: '/healthz', pathParameters: null }), status: 401 },
  ];

  it.each(rows)('$desc: $status', async ({ token, event: make, status }) => {
    const { invoke, obs } = setup({ token });
    const result = await invoke(make());
    expect(result.statusCode).toBe(status);
    if (status === 401) {
      expect(answerBody(result)).toEqual({ message: 'unauthorized' });
      expect(reviewDocs(obs)).toMatchObject([{ Outcome: 'unauthorized', Reviews: 1, AuthFailures: 1 }]);
      expect(obs.logs().find((l) => l['message'] === 'request rejected')).toMatchObject({ status: 401, sourceIp: '203.0.113.10' });
    } else {
      expect(reviewDocs(obs)[0]).not.toHaveProperty('AuthFailures');
    }
    expect(obs.text()).not.toContain(EVENT_TOKEN);
  });

  it('refuses near misses between answers to the right token', async () => {
    const { invoke } = setup({ token: EVENT_TOKEN });
    const withToken = (token: string): unknown => ({ ...event(), pathParameters: { token } });
    const statuses: number[] = [];
    for (const token of [EVENT_TOKEN, EVENT_TOKEN.slice(0, -1), EVENT_TOKEN, `${EVENT_TOKEN}x`, `x${EVENT_TOKEN.slice(1)}`, EVENT_TOKEN.toUpperCase(), EVENT_TOKEN, '']) {
      statuses.push((await invoke(withToken(token))).statusCode);
    }
    expect(statuses).toEqual([200, 401, 200, 401, 401, 401, 200, 401]);
  });

  it('does not ask health checks for the token', async () => {
    const { invoke } = setup({ token: 'another-token-0123456789abcdef' });
    expect((await invoke(loadEvent('rest-healthz.json'))).statusCode).toBe(200);
  });

  it('refuses an empty token', () => {
    expect(() => setup({ token: '' })).toThrow(TypeError);
  });
});

describe('fail-open when the rules are not loaded', () => {
  it('allows without a patch, says why in a warning, logs and counts it', async () => {
    const { invoke, obs } = setup({ rules: notLoaded });
    const event = loadEvent('rest-pod-v1.json');
    const result = await invoke(event);
    expect(result.statusCode).toBe(200);
    const response = answerResponse(result);
    expect(response).toEqual({
      uid: at(eventReview(event), 'request', 'uid'),
      allowed: true,
      warnings: [`${WARNING_PREFIX}images not rewritten: ${NOT_LOADED.reason}`],
    });
    expect(reviewDocs(obs)).toMatchObject([{ Outcome: 'failopen', Reviews: 1 }]);
    expect(obs.logs()).toEqual([
      expect.objectContaining({ message: 'cold start' }),
      expect.objectContaining({ level: 'WARN', message: 'admission reviewed', outcome: 'failopen', rulesNotLoaded: NOT_LOADED.reason }),
    ]);
  });

  it('answers the demo in its apiVersion', async () => {
    const { invoke } = setup({ rules: notLoaded });
    const result = await invoke(loadEvent('rest-pod-v1beta1-demo.json'));
    expect(answerBody(result)['apiVersion']).toBe('admission.k8s.io/v1beta1');
    expect(answerResponse(result)).not.toHaveProperty('patch');
  });

  it('does not warn about objects it would not have looked at', async () => {
    const { invoke, obs } = setup({ rules: notLoaded });
    const review = eventReview(loadEvent('rest-pod-v1.json'));
    (review['request'] as JsonObject)['operation'] = 'DELETE';
    const result = await invoke(withBody(loadEvent('rest-pod-v1.json'), review));
    expect(answerResponse(result)).not.toHaveProperty('warnings');
    expect(reviewDocs(obs)).toMatchObject([{ Outcome: 'skipped' }]);
    // README "Logs and metrics": a warning line is a review answered without the rules (failopen), not one skipped anyway.
    expect(obs.logs().find((l) => l['message'] === 'admission reviewed')).toMatchObject({ level: 'INFO', outcome: 'skipped', rulesNotLoaded: NOT_LOADED.reason });
  });

  it('keeps its warning printable and within one warning\'s length, however long the reason', async () => {
    const reason = `cannot read rules document /etc/rules/${'a'.repeat(400)}\n.yaml: ENOENT`;
    const { invoke } = setup({ rules: { current: () => Promise.resolve({ ok: false, reason }) } });
    const warnings = answerResponse(await invoke(loadEvent('rest-pod-v1.json')))['warnings'] as string[];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^${WARNING_PREFIX}images not rewritten: cannot read rules document /etc/rules/a`));
    expect(warnings[0]?.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
    expect(warnings[0]).toMatch(/^[\x20-\x7e]*$/);
  });

  it('counts its warning among the review\'s, within MAX_WARNINGS and MAX_WARNINGS_LENGTH', async () => {
    // A Job's pod template cannot change: re-applied originals keep their stored rewrites, each with a warning.
    const containers = (image: (i: number) => string): JsonObject[] => Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, image: image(i) }));
    const originals = JSON.stringify(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`containers/c${i}`, `gcr.io/app/c${i}:1`])));
    const job = (image: (i: number) => string): JsonObject => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j', namespace: 'default', annotations: { [ORIGINAL_IMAGES_ANNOTATION]: originals } },
      spec: { template: { spec: { restartPolicy: 'Never', containers: containers(image) } } },
    });
    const review = podReview(job((i) => `gcr.io/app/c${i}:1`), {
      kind: { group: 'batch', version: 'v1', kind: 'Job' },
      resource: { group: 'batch', version: 'v1', resource: 'jobs' },
      operation: 'UPDATE',
      oldObject: job((i) => `asia.gcr.io/app/c${i}:1`),
    });
    const reason = `rules parameter /platform/${'clusters/'.repeat(12)}image-rewriter/rules could not be read (AccessDeniedException)`;
    const { invoke } = setup({ rules: { current: () => Promise.resolve({ ok: false, reason }) } });
    const warnings = answerResponse(await invoke(withBody(loadEvent('rest-pod-v1.json'), review)))['warnings'] as string[];
    expect(warnings[0]).toBe(`${WARNING_PREFIX}images not rewritten: ${reason}`);
    expect(warnings.length).toBeLessThanOrEqual(MAX_WARNINGS);
    expect(warnings.join('').length).toBeLessThanOrEqual(MAX_WARNINGS_LENGTH);
    expect(warnings.at(-1)).toMatch(/^image-rewriter: \d+ more warnings not shown/);
  });

  it('still answers a bad body with 400', async () => {
    const { invoke } = setup({ rules: notLoaded });
    expect((await invoke(loadEvent('rest-bad-body.json'))).statusCode).toBe(400);
  });

  it('fails the health check with 503', async () => {
    const { invoke } = setup({ rules: notLoaded });
    const result = await invoke(loadEvent('rest-healthz.json'));
    expect(result).toEqual({ statusCode: 503, headers: JSON_HEADERS, body: '{"status":"unavailable"}', isBase64Encoded: false });
  });

  it('answers the health check from the good rules in force at once, without waiting for a read; without good rules it waits for the read', async () => {
    // A refresh that never ends (an SSM read past its TTL): a probe must not wait for it.
    const reading = new Promise<RulesState>(() => undefined);
    const good = RULES.current();
    const inForceGood: RulesProvider = { current: () => reading, inForce: () => ({ ok: true, rewriter: example.rewriter, source: 'example' }) };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<'waited'>((resolve) => {
      timer = setTimeout(() => {
        resolve('waited');
      }, 2000);
    });
    const answer = await Promise.race([setup({ rules: inForceGood }).invoke(loadEvent('rest-healthz.json')), waited]);
    clearTimeout(timer);
    expect(answer === 'waited' ? answer : answer.statusCode).toBe(200);
    // Not good in force: the state the read gives (good here, so 200).
    const inForceBad: RulesProvider = { current: () => good, inForce: () => NOT_LOADED };
    expect((await setup({ rules: inForceBad }).invoke(loadEvent('rest-healthz.json'))).statusCode).toBe(200);
  });
});

describe('unexpected errors', () => {
  it.each([
    ['an Error', new Error('boom')],
    ['a string', 'boom'],
  ])('answers 500 with a fixed message when the rules provider throws %s', async (_desc, thrown) => {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a provider that breaks its contract, on purpose
    const rules: RulesProvider = { current: () => Promise.reject(thrown) };
    const { invoke, obs } = setup({ rules });
    const result = await invoke(loadEvent('rest-pod-v1.json'));
    expect(result).toEqual({ statusCode: 500, headers: JSON_HEADERS, body: '{"message":"internal error"}', isBase64Encoded: false });
    expect(reviewDocs(obs)).toMatchObject([{ Outcome: 'error', Reviews: 1 }]);
    expect(obs.logs().find((l) => l['level'] === 'ERROR')).toMatchObject({ message: 'unexpected error; answered 500', error: { message: 'boom' } });
  });

  it('still answers when publishing metrics fails', async () => {
    const { invoke, obs } = setup();
    jest.spyOn(obs.metrics, 'publishStoredMetrics').mockImplementation(() => {
      throw new Error('stdout closed');
    });
    const result = await invoke(loadEvent('rest-pod-v1.json'));
    expect(result.statusCode).toBe(200);
    expect(obs.logs().find((l) => l['message'] === 'cannot publish metrics')).toMatchObject({ error: { message: 'stdout closed' } });
  });
});

describe('logs and metrics', () => {
  it('logs one line per review, with its rewrites: container, from, to, rule; per-rule counts in slots', async () => {
    const { invoke, obs } = setup();
    const event = loadEvent('rest-pod-v1.json');
    await invoke(event);
    const uid = at(eventReview(event), 'request', 'uid');
    const hub = 'docker-hub-official-to-ecr-public';
    expect(obs.logs()).toEqual([
      expect.objectContaining({ message: 'cold start' }),
      {
        level: 'INFO',
        message: 'admission reviewed',
        timestamp: expect.any(String),
        service: 'image-rewriter',
        uid,
        kind: 'v1/Pod',
        namespace: 'shop',
        name: 'web',
        operation: 'CREATE',
        outcome: 'patched',
        rewrites: 3,
        invalid: 0,
        rewritten: [
          { container: 'app', from: 'gcr.io/google-samples/hello-app:2.0', to: 'asia.gcr.io/google-samples/hello-app:2.0', rule: 'gcr-to-asia' },
          { container: 'proxy', from: expect.any(String), to: expect.any(String), rule: hub },
          { container: 'migrate', from: 'busybox:1.36', to: 'public.ecr.aws/docker/library/busybox:1.36', rule: hub },
        ],
        rule1: 'gcr-to-asia',
        rule1Rewrites: 1,
        rule2: hub,
        rule2Rewrites: 2,
        rules: 'example',
        durationMs: expect.any(Number),
      },
    ]);
  });

  it("says kubectl debug's subresource on the review line (an UPDATE of the Pod itself says none)", async () => {
    const { invoke, obs } = setup();
    const before = { metadata: { name: 'web' }, spec: { containers: [{ name: 'app', image: 'asia.gcr.io/app:1' }] } };
    const after = { ...before, spec: { ...before.spec, ephemeralContainers: [{ name: 'debugger', image: 'gcr.io/tools:1' }] } };
    const debug = podReview(after, { operation: 'UPDATE', name: 'web', subResource: 'ephemeralcontainers', oldObject: before });
    await invoke(withBody(loadEvent('rest-pod-v1.json'), debug));
    await invoke(withBody(loadEvent('rest-pod-v1.json'), podReview(before, { operation: 'UPDATE', name: 'web', oldObject: before })));
    const reviewed = obs.logs().filter((l) => l['message'] === 'admission reviewed');
    expect(reviewed.map((l) => [l['operation'], l['subResource'], l['outcome'], l['rewritten']])).toEqual([
      ['UPDATE', 'ephemeralcontainers', 'patched', [{ container: 'debugger', from: 'gcr.io/tools:1', to: 'asia.gcr.io/tools:1', rule: 'gcr-to-asia' }]],
      ['UPDATE', undefined, 'unchanged', undefined],
    ]);
    // Any subresource is named, as the request gives it (skipped), clipped as every string from a request is.
    await invoke(withBody(loadEvent('rest-pod-v1.json'), podReview(before, { operation: 'UPDATE', name: 'web', subResource: 's'.repeat(20_000), oldObject: before })));
    expect(obs.logs().filter((l) => l['message'] === 'admission reviewed').at(-1)?.['subResource']).toBe(`${'s'.repeat(512)}...`);
  });

  it("names the rules' source and version (an SSM parameter's) on the review line, usual or a warning", async () => {
    const versioned: RulesProvider = { current: () => Promise.resolve({ ok: true, rewriter: example.rewriter, source: 'ssm:/image-rewriter/rules', version: '7' }) };
    const { invoke, obs } = setup({ rules: versioned });
    await invoke(loadEvent('rest-pod-v1.json'));
    const review = eventReview(loadEvent('rest-pod-v1beta1-demo.json'));
    (at(review, 'request', 'object', 'spec', 'containers') as JsonObject[]).push({ name: 'bad', image: 'Not/A:Valid' });
    await invoke(withBody(loadEvent('rest-pod-v1beta1-demo.json'), review));
    const reviewed = obs.logs().filter((l) => l['message'] === 'admission reviewed');
    expect(reviewed.map((l) => [l['level'], l['rules'], l['rulesVersion']])).toEqual([
      ['INFO', 'ssm:/image-rewriter/rules', '7'],
      ['WARN', 'ssm:/image-rewriter/rules', '7'],
    ]);
  });

  it.each(eventNames())('%s: neither the token nor the body appear in the output', async (name) => {
    const { invoke, obs } = setup();
    const event = loadEvent(name);
    await invoke(event);
    const out = obs.text();
    expect(out).not.toContain(EVENT_TOKEN);
    expect(out).not.toContain('terminationMessagePath');
    expect(out).not.toContain('kube-apiserver-admission');
    if (typeof event['body'] === 'string' && event['body'].length > 0) expect(out).not.toContain(event['body'].slice(0, 40));
  });

  it('flushes one EMF document per invocation', async () => {
    const { invoke, obs } = setup();
    await invoke(loadEvent('rest-pod-v1.json'));
    expect(obs.emf()).toHaveLength(1);
    expect(reviewDocs(obs)).toEqual([
      expect.objectContaining({ service: 'image-rewriter', Outcome: 'patched', Reviews: 1, Rewrites: 3 }),
    ]);
    const main = reviewDocs(obs)[0];
    expect(at(main, '_aws', 'CloudWatchMetrics', 0)).toEqual({
      Namespace: 'ImageRewriter',
      Dimensions: [['service', 'Outcome']],
      Metrics: [{ Name: 'Reviews', Unit: 'Count' }, { Name: 'Rewrites', Unit: 'Count' }],
    });

    await invoke(loadEvent('rest-wrong-token.json'));
    await invoke(loadEvent('rest-bad-body.json'));
    await invoke(loadEvent('rest-healthz.json'));
    expect(reviewDocs(obs).map((d) => d['Outcome'])).toEqual(['patched', 'unauthorized', 'bad_request']);
  });

  it.each([
    ['unchanged', (r: JsonObject) => { (at(r, 'request', 'object', 'spec', 'containers', 0) as JsonObject)['image'] = 'quay.io/x/y:1'; }],
    ['skipped', (r: JsonObject) => { (r['request'] as JsonObject)['operation'] = 'CONNECT'; }],
  ])('counts a review whose outcome is %s', async (outcome, change) => {
    const { invoke, obs } = setup();
    const review = eventReview(loadEvent('rest-pod-v1beta1-demo.json'));
    change(review);
    const result = await invoke(withBody(loadEvent('rest-pod-v1beta1-demo.json'), review));
    expect(answerResponse(result)).not.toHaveProperty('patch');
    expect(reviewDocs(obs)).toEqual([expect.objectContaining({ Outcome: outcome, Reviews: 1 })]);
    expect(reviewDocs(obs)[0]).not.toHaveProperty('Rewrites');
  });

  it('logs and counts invalid images and malformed fields', async () => {
    const { invoke, obs } = setup();
    const review = eventReview(loadEvent('rest-pod-v1beta1-demo.json'));
    const containers = at(review, 'request', 'object', 'spec', 'containers') as JsonObject[];
    containers.push({ name: 'bad', image: 'Not/A:Valid@Image' }, { name: 'weird', image: 42 });
    await invoke(withBody(loadEvent('rest-pod-v1beta1-demo.json'), review));
    expect(reviewDocs(obs)).toEqual([expect.objectContaining({ Outcome: 'patched', InvalidImages: 1, Rewrites: 1 })]);
    const reviewed = obs.logs().filter((l) => l['message'] === 'admission reviewed');
    expect(reviewed).toEqual([
      expect.objectContaining({
        level: 'WARN',
        invalid: 1,
        invalidImages: [{ container: 'bad', image: 'Not/A:Valid@Image', error: expect.any(String) }],
        skippedFields: [{ pointer: '/spec/containers/2/image', problem: expect.any(String) }],
      }),
    ]);
  });

  it('logs a review whose only problem is one malformed field as a warning, with the field', async () => {
    const { invoke, obs } = setup();
    const review = eventReview(loadEvent('rest-pod-v1beta1-demo.json'));
    (at(review, 'request', 'object', 'spec', 'containers') as JsonObject[]).push({ name: 'weird', image: 42 });
    await invoke(withBody(loadEvent('rest-pod-v1beta1-demo.json'), review));
    expect(obs.logs().filter((l) => l['message'] === 'admission reviewed')).toEqual([
      expect.objectContaining({ level: 'WARN', outcome: 'patched', invalid: 0, skippedFields: [{ pointer: '/spec/containers/1/image', problem: expect.any(String) }] }),
    ]);
  });

  it('logs the cold start once', async () => {
    const { invoke, obs } = setup();
    await invoke(loadEvent('rest-pod-v1.json'));
    await invoke(loadEvent('rest-pod-v1.json'));
    expect(obs.logs().filter((l) => l['message'] === 'cold start')).toHaveLength(1);
  });

  it('adds the Lambda context to the log lines', async () => {
    const { invoke, obs } = setup();
    const context = {
      callbackWaitsForEmptyEventLoop: true,
      functionName: 'image-rewriter',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:ap-southeast-1:123456789012:function:image-rewriter',
      memoryLimitInMB: '256',
      awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      logGroupName: '/aws/lambda/image-rewriter',
      logStreamName: '2026/11/28/[$LATEST]abcdef',
      getRemainingTimeInMillis: () => 5000,
    } as Context; // without the deprecated callbacks
    await invoke(loadEvent('rest-pod-v1.json'), context);
    expect(obs.logs().find((l) => l['message'] === 'admission reviewed')).toMatchObject({
      function_name: 'image-rewriter',
      function_request_id: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
    });
  });
});

describe('a caller without a Lambda context', () => {
  it.each([undefined, null])('answers the review with context %p (no 500)', async (context) => {
    const { invoke, obs } = setup();
    const result = await invoke(loadEvent('rest-pod-v1.json'), context);
    expect(result.statusCode).toBe(200);
    expect(answerResponse(result)).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    expect(obs.logs().filter((l) => l['level'] === 'ERROR')).toEqual([]);
  });

  it.each([undefined, null])('logs no context fields with context %p after an invocation that had one', async (context) => {
    const { invoke, obs } = setup();
    await invoke(loadEvent('rest-pod-v1.json'), { functionName: 'image-rewriter', awsRequestId: 'first-request' } as Context);
    await invoke(loadEvent('rest-pod-v1.json'), context);
    const reviewed = obs.logs().filter((l) => l['message'] === 'admission reviewed');
    expect(reviewed).toHaveLength(2);
    expect(reviewed[0]).toMatchObject({ function_request_id: 'first-request' });
    for (const key of ['function_request_id', 'function_name', 'cold_start']) expect(reviewed[1]).not.toHaveProperty(key);
  });
});

describe('parseEvent', () => {
  it('reads the three shapes', () => {
    expect(parseEvent(loadEvent('rest-pod-v1.json'))).toMatchObject({ shape: 'rest', method: 'POST', path: `/mutate/${EVENT_TOKEN}`, pathToken: EVENT_TOKEN, base64: false });
    expect(parseEvent(loadEvent('httpapi-pod-v1.json'))).toMatchObject({ shape: 'v2', method: 'POST', pathToken: EVENT_TOKEN, sourceIp: '203.0.113.10' });
    expect(parseEvent(loadEvent('function-url-pod-v1.json'))).toMatchObject({ shape: 'v2', method: 'POST', pathToken: undefined, path: `/mutate/${EVENT_TOKEN}` });
    expect(parseEvent(loadEvent('rest-pod-v1-base64.json'))).toMatchObject({ base64: true });
  });

  it('recognizes 2.0 by requestContext.http and falls back to its path', () => {
    const e = loadEvent('function-url-pod-v1.json');
    delete e['version'];
    delete e['rawPath'];
    expect(parseEvent(e)).toMatchObject({ shape: 'v2', path: `/mutate/${EVENT_TOKEN}` });
  });
});
