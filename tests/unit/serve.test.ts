/**
 * `serve` over real TLS: each request becomes the REST proxy event API Gateway would send, the
 * handler's result comes back as HTTP, the same AdmissionReviews as the Lambda handler in-process
 * (a dry run's too, logged and counted as a dry run), and the limits (body size, handler time,
 * malformed results) answer like API Gateway.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Agent } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseRules } from '../../src/config/load.js';
import { fixedRules } from '../../src/config/sources.js';
import { createHandler, type WebhookHandler } from '../../src/lambda/handler.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import type { LogEntry } from '../../src/observability/log.js';
import { lambdaContext, toProxyEvent } from '../../src/serve/event.js';
import { type ProxyHandler, type RunningServer, startServer } from '../../src/serve/server.js';
import { captureObservability, type Captured, EVENT_TOKEN, eventNames, eventReview, type JsonObject, loadEvent } from '../helpers/events.js';
import { createTestPki, httpsRequest, type TestPki, untilClosed } from '../helpers/tls.js';

const MAX_BODY = 64 * 1024;
const HANDLER_MS = 2000;

let pki: TestPki;
let fake: RunningServer;
let real: RunningServer;
let realHandler: WebhookHandler;
let realObs: Captured;
const serveLogs: LogEntry[] = [];
const seen: APIGatewayProxyEvent[] = [];
let behaviour: ProxyHandler;

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** Like the real handler in outline: health, 405 for non-POST, else an echo of what it got. */
const echo: ProxyHandler = (event) => {
  if (event.path === '/healthz') return Promise.resolve(json(200, { status: 'ok' }));
  if (event.httpMethod !== 'POST') return Promise.resolve(json(405, { message: 'method not allowed' }, { Allow: 'POST' }));
  return Promise.resolve(json(200, { bytes: event.body === null ? 0 : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8').length }));
};

beforeAll(async () => {
  pki = await createTestPki();
  fake = await startServer({
    handler: (event, context) => {
      seen.push(event);
      return behaviour(event, context);
    },
    certFile: pki.server.certFile,
    keyFile: pki.server.keyFile,
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: MAX_BODY,
    timeouts: { handlerMs: HANDLER_MS, lingerMs: 5000 },
    log: (e) => serveLogs.push(e),
  });
  const rules = parseRules(EXAMPLE_RULES, {});
  if (!rules.ok) throw new Error('example rules invalid');
  realObs = captureObservability();
  realHandler = createHandler({ rules: fixedRules(rules.rewriter, 'example'), token: EVENT_TOKEN, logger: realObs.logger, metrics: realObs.metrics });
  real = await startServer({
    handler: (event) => realHandler(event),
    certFile: pki.server.certFile,
    keyFile: pki.server.keyFile,
    host: '127.0.0.1',
    port: 0,
    log: (e) => serveLogs.push(e),
  });
});

afterAll(async () => {
  await Promise.all([fake.close(), real.close()]);
  await pki.remove();
});

beforeEach(() => {
  seen.length = 0;
  behaviour = echo;
});

const call = (options: { method?: string; path: string; headers?: Record<string, string | string[]>; body?: string | Buffer; agent?: Agent }) =>
  httpsRequest({ port: fake.port, ca: pki.ca, ...options });

function onlyEvent(): APIGatewayProxyEvent {
  expect(seen).toHaveLength(1);
  const [event] = seen;
  if (event === undefined) throw new Error('no event');
  return event;
}

describe('the same answers as the Lambda handler', () => {
  const restEvents = eventNames().filter((n) => n.startsWith('rest-'));

  it.each(restEvents)('%s: status and body equal the handler called in-process', async (name) => {
    const event = loadEvent(name);
    const expected = await realHandler(loadEvent(name));
    const body = typeof event['body'] === 'string' ? Buffer.from(event['body'], event['isBase64Encoded'] === true ? 'base64' : 'utf8') : undefined;
    const answer = await httpsRequest({
      port: real.port,
      ca: pki.ca,
      method: String(event['httpMethod']),
      path: String(event['path']),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
    });
    expect(answer.status).toBe(expected.statusCode);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual(JSON.parse(expected.body));
  });

  it('answers the demo AdmissionReview with the demo rewrite', async () => {
    const event = loadEvent('rest-pod-v1beta1-demo.json');
    const answer = await httpsRequest({ port: real.port, ca: pki.ca, method: 'POST', path: `/mutate/${EVENT_TOKEN}`, body: String(event['body']) });
    const review = JSON.parse(answer.body) as { apiVersion: string; response: { allowed: boolean; patch: string } };
    expect(review.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(review.response.allowed).toBe(true);
    expect(Buffer.from(review.response.patch, 'base64').toString('utf8')).toContain('asia.gcr.io/nginx:latest');
  });

  it('answers a dry run (kubectl diff) exactly as the same request without it, logs it with dryRun and counts it under dryrun', async () => {
    const post = (dryRun: boolean): Promise<{ status: number; body: string }> => {
      const review = eventReview(loadEvent('rest-pod-v1.json'));
      (review['request'] as JsonObject)['dryRun'] = dryRun;
      return httpsRequest({ port: real.port, ca: pki.ca, method: 'POST', path: `/mutate/${EVENT_TOKEN}`, body: JSON.stringify(review) });
    };
    const real1 = await post(false);
    const before = realObs.lines.length;
    const dry = await post(true);
    expect(dry.status).toBe(200);
    expect(dry.body).toBe(real1.body);
    const lines = realObs.lines.slice(before);
    expect(lines.find((l) => l['message'] === 'admission reviewed')).toMatchObject({ outcome: 'patched', dryRun: true, rewrites: 3 });
    expect(lines.find((l) => l['message'] === 'admission reviewed')).not.toHaveProperty('rule1');
    expect(lines.filter((l) => '_aws' in l)).toEqual([expect.objectContaining({ Outcome: 'dryrun', Reviews: 1 })]);
    expect(lines.find((l) => '_aws' in l)).not.toHaveProperty('Rewrites');
  });

  it('never logs the token or the body', () => {
    const serveText = JSON.stringify(serveLogs);
    expect(serveText).not.toContain(EVENT_TOKEN);
    expect(serveText).not.toContain('gcr.io/nginx');
    expect(realObs.text()).not.toContain(EVENT_TOKEN);
    expect(serveLogs.some((l) => l.msg === 'request' && l['resource'] === '/mutate/{token}')).toBe(true);
  });
});

describe('request -> REST proxy event', () => {
  it('translates method, path, token, query, headers and body as API Gateway does', async () => {
    const answer = await call({
      method: 'POST',
      path: '/mutate/tok-en%2Fx?x=1&x=2&y=3',
      headers: { 'Content-Type': 'application/json', 'X-Custom': ['a', 'b'], 'User-Agent': 'kube-apiserver-admission' },
      body: '{"kind":"AdmissionReview"}',
    });
    expect(answer.status).toBe(200);
    const event = onlyEvent();
    expect(event).toMatchObject({
      resource: '/mutate/{token}',
      path: '/mutate/tok-en%2Fx',
      httpMethod: 'POST',
      pathParameters: { token: 'tok-en/x' },
      queryStringParameters: { x: '2', y: '3' },
      multiValueQueryStringParameters: { x: ['1', '2'], y: ['3'] },
      stageVariables: null,
      body: '{"kind":"AdmissionReview"}',
      isBase64Encoded: false,
    });
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.headers['x-custom']).toBe('b');
    expect(event.multiValueHeaders['x-custom']).toEqual(['a', 'b']);
    expect(Object.keys(event.headers).every((k) => k === k.toLowerCase())).toBe(true);
    expect(event.requestContext).toMatchObject({
      httpMethod: 'POST',
      stage: 'local',
      path: '/local/mutate/tok-en%2Fx',
      resourcePath: '/mutate/{token}',
      protocol: 'HTTP/1.1',
      identity: { sourceIp: '127.0.0.1', userAgent: 'kube-apiserver-admission' },
    });
    expect(event.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.headers['x-request-id']).toBe(event.requestContext.requestId);
    expect(Math.abs(event.requestContext.requestTimeEpoch - Date.now())).toBeLessThan(60_000);
  });

  it('sends POST /mutate without path parameters', async () => {
    await call({ method: 'POST', path: '/mutate', body: '{}' });
    expect(onlyEvent()).toMatchObject({ resource: '/mutate', path: '/mutate', pathParameters: null, queryStringParameters: null, multiValueQueryStringParameters: null });
  });

  it('sends a body that is not UTF-8 as base64', async () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x80, 0x7d]);
    const answer = await call({ method: 'POST', path: '/mutate', body: bytes });
    expect(JSON.parse(answer.body)).toEqual({ bytes: 6 });
    const event = onlyEvent();
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(bytes);
  });

  it('sends an empty body as null', async () => {
    await call({ method: 'POST', path: '/mutate' });
    expect(onlyEvent()).toMatchObject({ body: null, isBase64Encoded: false });
  });

  it('forwards GET /healthz, and HEAD /healthz as a GET', async () => {
    const get = await call({ path: '/healthz' });
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body)).toEqual({ status: 'ok' });
    const head = await call({ method: 'HEAD', path: '/healthz' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(seen.map((e) => [e.httpMethod, e.path, e.resource])).toEqual([
      ['GET', '/healthz', '/healthz'],
      ['GET', '/healthz', '/healthz'],
    ]);
  });

  it('keeps a header named __proto__ as a plain key', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: fake.port, ca: pki.ca });
    const closed = untilClosed(socket);
    socket.end('POST /mutate HTTP/1.1\r\nHost: localhost\r\n__proto__: x\r\nConstructor: y\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    const { data } = await closed;
    expect(data.toString('utf8')).toMatch(/^HTTP\/1\.1 200/);
    const event = onlyEvent();
    expect(Object.getPrototypeOf(event.headers)).toBe(Object.prototype);
    expect(Object.hasOwn(event.headers, '__proto__')).toBe(true);
    expect(event.headers['__proto__']).toBe('x');
    expect(event.headers.constructor).toBe('y');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});

describe('routes', () => {
  it.each(['/', '/mutate/', '/mutate/a/b', '/mutatex', '/healthz/x', '/MUTATE', '/mutate/%E0%A4%A', '/../mutate'])('answers 404 JSON for %s without calling the handler', async (path) => {
    const answer = await call({ method: 'POST', path, body: '{}' });
    expect(answer.status).toBe(404);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual({ message: 'Not Found' });
    expect(seen).toHaveLength(0);
  });

  it('passes the handler 405 (and its Allow header) through', async () => {
    const answer = await call({ method: 'GET', path: '/mutate/x' });
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('POST');
    expect(onlyEvent().httpMethod).toBe('GET');
  });

  it('answers 405 itself for /healthz with another method than GET', async () => {
    const answer = await call({ method: 'POST', path: '/healthz', body: '{}' });
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('GET, HEAD');
    expect(seen).toHaveLength(0);
  });
});

describe('results -> HTTP, as API Gateway turns them', () => {
  it('merges headers and multiValueHeaders (multi wins), drops hop-by-hop headers, decodes base64 bodies', async () => {
    behaviour = () =>
      Promise.resolve({
        statusCode: 201,
        headers: { 'X-One': 'single', 'X-Both': 'from-headers', Connection: 'upgrade', 'Transfer-Encoding': 'chunked', 'Content-Length': 999 },
        multiValueHeaders: { 'X-Both': ['m1', 'm2'], 'X-Num': [1, true] },
        body: Buffer.from('binary \u00e9').toString('base64'),
        isBase64Encoded: true,
      });
    const answer = await call({ method: 'POST', path: '/mutate', body: '{}' });
    expect(answer.status).toBe(201);
    expect(answer.body).toBe('binary \u00e9');
    expect(answer.headers['x-one']).toBe('single');
    expect(answer.headers['x-both']).toBe('m1, m2');
    expect(answer.headers['x-num']).toBe('1, true');
    expect(answer.headers['transfer-encoding']).toBeUndefined();
    expect(answer.headers['content-length']).toBe(String(Buffer.byteLength('binary \u00e9')));
  });

  it.each([
    { how: 'rejects', fail: (): Promise<APIGatewayProxyResult> => Promise.reject(new Error('secret detail')) },
    {
      how: 'throws before it returns a promise',
      fail: (): Promise<APIGatewayProxyResult> => {
        throw new Error('secret detail');
      },
    },
  ])('answers 500 without details when the handler $how, and keeps serving', async ({ fail }) => {
    behaviour = fail;
    const answer = await call({ method: 'POST', path: '/mutate', body: '{}' });
    expect(answer.status).toBe(500);
    expect(JSON.parse(answer.body)).toEqual({ message: 'Internal server error' });
    expect(answer.body).not.toContain('secret');
    behaviour = echo;
    expect((await call({ method: 'POST', path: '/mutate', body: '{}' })).status).toBe(200);
  });

  it.each([
    { why: 'no statusCode', result: { body: 'x' } },
    { why: 'a statusCode out of range', result: { statusCode: 42, body: '' } },
    { why: 'a body that is not a string', result: { statusCode: 200, body: { a: 1 } } },
    { why: 'a header with a line break', result: { statusCode: 200, headers: { 'X-Evil': 'a\r\nSet-Cookie: x=1' }, body: '' } },
    { why: 'headers that are not an object', result: { statusCode: 200, headers: 'x', body: '' } },
    { why: 'nothing', result: undefined },
  ])('answers 502 for a result with $why', async ({ result }) => {
    behaviour = () => Promise.resolve(result as unknown as APIGatewayProxyResult);
    const answer = await call({ method: 'POST', path: '/mutate', body: '{}' });
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toEqual({ message: 'Internal server error' });
    expect(answer.headers['set-cookie']).toBeUndefined();
  });

  it('answers 504 like API Gateway when the handler does not answer in time, and keeps serving', async () => {
    behaviour = (event) => (event.path === '/mutate/slow' ? new Promise(() => undefined) : echo(event, undefined as never));
    const slow = await call({ method: 'POST', path: '/mutate/slow', body: '{}' });
    expect(slow.status).toBe(504);
    expect(JSON.parse(slow.body)).toEqual({ message: 'Endpoint request timed out' });
    expect((await call({ path: '/healthz' })).status).toBe(200);
  });

  // Regression (QA-37): the API server stopping its wait (timeoutSeconds) fails the review open,
  // while the handler still counts its outcome (patched): the `request` line was the only trace,
  // at INFO, so at LOG_LEVEL=WARN nothing showed the object admitted unchanged.
  it('logs a client that went away before the answer (the API server gave up) as a warning', async () => {
    let finish: () => void = () => undefined;
    behaviour = (event) => new Promise((resolve) => { finish = () => { resolve(json(200, { late: event.path })); }; });
    serveLogs.length = 0;
    const socket = tlsConnect({ host: '127.0.0.1', port: fake.port, ca: pki.ca });
    await new Promise<void>((resolve) => socket.once('secureConnect', () => { resolve(); }));
    socket.write('POST /mutate/gone HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen).toHaveLength(1);
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    finish();
    for (let i = 0; i < 100 && !serveLogs.some((l) => l.msg === 'request'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(serveLogs.find((l) => l.msg === 'request')).toMatchObject({ level: 'warn', status: 0, reason: 'client went away before the answer' });
  });

  it('gives the handler a Lambda-like context with the remaining time', async () => {
    let remaining = -1;
    let requestId = '';
    behaviour = (event, context) => {
      remaining = context.getRemainingTimeInMillis();
      requestId = context.awsRequestId;
      return echo(event, context);
    };
    await call({ method: 'POST', path: '/mutate', body: '{}' });
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(HANDLER_MS);
    expect(requestId).toBe(onlyEvent().requestContext.requestId);
  });
});

describe('body limit', () => {
  const big = Buffer.alloc(MAX_BODY * 2, 0x61);

  it('answers 413 for a declared Content-Length over the limit, without calling the handler', async () => {
    const answer = await call({ method: 'POST', path: '/mutate', body: big });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ message: `request body is larger than ${MAX_BODY} bytes` });
    expect(seen).toHaveLength(0);
  });

  it('answers 413 for a chunked body that grows over the limit', async () => {
    const answer = await new Promise<number>((resolve, reject) => {
      // Chunked: no Content-Length, so the server has to count.
      const req = tlsConnect({ host: '127.0.0.1', port: fake.port, ca: pki.ca }, () => {
        req.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
        for (let i = 0; i < 4; i++) req.write(`${(big.length / 2).toString(16)}\r\n${big.subarray(0, big.length / 2).toString('latin1')}\r\n`);
        req.write('0\r\n\r\n');
      });
      untilClosed(req).then(({ data }) => {
        resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1]));
      }, reject);
    });
    expect(answer).toBe(413);
    expect(seen).toHaveLength(0);
  });

  it('keeps the connection usable after a 413 (up to twice the limit is read and dropped)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca });
    try {
      expect((await call({ method: 'POST', path: '/mutate', body: Buffer.alloc(MAX_BODY + 1024, 0x61), agent })).status).toBe(413);
      expect((await call({ method: 'POST', path: '/mutate', body: '{}', agent })).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('by default keeps an idle connection past the 90 s the API server client keeps one, and says so (Keep-Alive)', async () => {
    // The idle connection itself is kept for real in tests/integration/serve-keepalive.integration.ts.
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca });
    try {
      const answer = await call({ method: 'POST', path: '/mutate', body: '{}', agent });
      expect(answer.status).toBe(200);
      expect(answer.headers['keep-alive']).toBe('timeout=120');
    } finally {
      agent.destroy();
    }
  });

  it('cuts off a client that keeps sending far past the limit, and keeps serving others', async () => {
    const huge = Buffer.alloc(MAX_BODY * 40, 0x61);
    const outcome = await call({ method: 'POST', path: '/mutate', body: huge }).then(
      (a) => a.status,
      (e: unknown) => (e as NodeJS.ErrnoException).code,
    );
    expect([413, 'ECONNRESET', 'EPIPE']).toContain(outcome);
    expect((await call({ path: '/healthz' })).status).toBe(200);
  });

  it('accepts a body of exactly the limit', async () => {
    const answer = await call({ method: 'POST', path: '/mutate', body: Buffer.alloc(MAX_BODY, 0x61) });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ bytes: MAX_BODY });
  });
});

describe('toProxyEvent', () => {
  it('builds the event without a server', () => {
    const event = toProxyEvent({
      method: 'POST',
      path: '/mutate/t',
      search: '',
      route: { resource: '/mutate/{token}', pathParameters: { token: 't' } },
      rawHeaders: ['Content-Type', 'application/json', 'X-A', '1', 'x-a', '2'],
      body: Buffer.from('{}'),
      requestId: 'id',
      requestTimeEpoch: 1,
      sourceIp: '192.0.2.1',
      userAgent: undefined,
      stage: 'Prod',
      protocol: 'HTTP/1.1',
    });
    const expected: JsonObject = {
      headers: { 'content-type': 'application/json', 'x-a': '2' },
      multiValueHeaders: { 'content-type': ['application/json'], 'x-a': ['1', '2'] },
      body: '{}',
      requestContext: expect.objectContaining({ stage: 'Prod', path: '/Prod/mutate/t', requestId: 'id', requestTimeEpoch: 1 }),
    };
    expect(event).toMatchObject(expected);
  });
});

describe('lambdaContext', () => {
  it('gives whole milliseconds, as Lambda does (AbortSignal.timeout refuses a fraction)', async () => {
    const context = lambdaContext('id', 29_000);
    await new Promise((resolve) => setTimeout(resolve, 3));
    const remaining = context.getRemainingTimeInMillis();
    expect(Number.isInteger(remaining)).toBe(true);
    expect(remaining).toBeLessThan(29_000);
  });

  it.each([
    ['back by an hour', -3_600_000],
    ['forward by an hour', 3_600_000],
  ])('counts the remaining time on the monotonic clock: a wall clock stepped %s changes nothing', (_title, step) => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    try {
      const context = lambdaContext('id', 29_000);
      expect(context.getRemainingTimeInMillis()).toBe(29_000);
      jest.setSystemTime(Date.now() + step);
      jest.advanceTimersByTime(1000);
      expect(context.getRemainingTimeInMillis()).toBe(28_000);
      jest.advanceTimersByTime(30_000);
      expect(context.getRemainingTimeInMillis()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
