/**
 * One HTTPS request through the server: route it, answer early what never reaches the handler,
 * read the body, run the handler under its deadline, write its answer, and log one line.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { UNAUTHORIZED_REASON } from '../config/token-check.js';
import type { Log, LogEntry, LogLevel } from '../observability/log.js';
import { discardRest, readBody } from './body.js';
import { lambdaContext, type Route, routeOf, toProxyEvent } from './event.js';
import type { ProxyHandler, ServerTimeouts } from './options.js';
import { sendJson, writeResult } from './response.js';
import type { ReviewMemory } from './review-memory.js';

/** What a request needs from the server around it. */
export interface RequestSettings {
  readonly handler: ProxyHandler;
  /** The token check done before the body is read (ServerOptions.authorize). */
  readonly authorize: ((pathToken: string) => boolean) | undefined;
  /** Told of each `/mutate` request refused for its body's size (ServerOptions.tooLarge). */
  readonly tooLarge?: (() => void) | undefined;
  /** Told of each `/mutate` request refused because no memory came free for it in time (ServerOptions.overloaded). */
  readonly overloaded?: (() => void) | undefined;
  readonly stage: string;
  readonly timeouts: Pick<ServerTimeouts, 'handlerMs' | 'lingerMs' | 'memoryWaitMs'>;
  readonly maxBodyBytes: number;
  /** Body bytes the requests being served may still announce, shared by all (ServerOptions.maxBodyBytesInFlight). */
  readonly bodyBudget: { left: number };
  /** The memory the reviews being handled are charged for (review-memory.ts); absent: not bounded. */
  readonly reviewMemory?: ReviewMemory | undefined;
  /** After an early answer, how much of the rest of the body is read and dropped. */
  readonly discardBytes: number;
  readonly log: Log;
  /** True while the server shuts down: every answer then ends its connection. */
  readonly draining: () => boolean;
  /** Told of each `/mutate` request the token check let through (its connection keeps its keep-alive time: connections.ts). */
  readonly trusted?: ((req: IncomingMessage) => void) | undefined;
}

interface Outcome {
  readonly status: number;
  readonly responseBytes?: number;
  readonly requestBytes?: number;
  readonly level?: LogLevel;
  readonly reason?: string;
}

type HandlerOutcome =
  | { readonly kind: 'result'; readonly value: APIGatewayProxyResult }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'timeout' };

/** The request's facts for its event and its log line. */
interface RequestFacts {
  readonly requestId: string;
  readonly requestTimeEpoch: number;
  readonly startedAt: number;
  readonly method: string;
  readonly path: string;
  readonly search: string;
  readonly route: Route | undefined;
  readonly sourceIp: string;
  /**
   * The client sent `Expect: 100-continue` and holds its body until told to send it: 100 Continue is
   * written only when the body is about to be read; an answer before that closes the connection (the
   * body the head announced never comes, so the connection cannot carry another request).
   */
  readonly expectsContinue: boolean;
}

/** `scheme://authority` of a request target in absolute form (RFC 9112, 3.2.2). */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The request target in origin form (`/path?query`). A server must accept the absolute form too
 * (`POST https://host/mutate/TOKEN HTTP/1.1`, RFC 9112, 3.2.2): Node passes it on as it came, and
 * every such request was a 404.
 */
function originForm(target: string): string {
  if (target.startsWith('/')) return target;
  const authority = ABSOLUTE_FORM.exec(target);
  if (authority === null) return target;
  const rest = target.slice(authority[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

function factsOf(req: IncomingMessage, expectsContinue: boolean): RequestFacts {
  const url = originForm(req.url ?? '/');
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return {
    startedAt: performance.now(),
    requestTimeEpoch: Date.now(),
    requestId: randomUUID(),
    method: req.method ?? 'GET',
    path,
    search: q === -1 ? '' : url.slice(q + 1),
    route: routeOf(path),
    sourceIp: req.socket.remoteAddress ?? '',
    expectsContinue,
  };
}

/** The one log line of a request (never its body, never its path: that may carry the token). */
function logRequest(log: Log, f: RequestFacts, o: Outcome): void {
  const entry: { -readonly [K in keyof LogEntry]: LogEntry[K] } = {
    level: o.level ?? 'info',
    msg: 'request',
    requestId: f.requestId,
    method: f.method,
    resource: f.route?.resource ?? '(no route)',
    sourceIp: f.sourceIp,
    durationMs: Math.round((performance.now() - f.startedAt) * 10) / 10,
    status: o.status,
  };
  if (o.responseBytes !== undefined) entry['responseBytes'] = o.responseBytes;
  if (o.requestBytes !== undefined) entry['requestBytes'] = o.requestBytes;
  if (o.reason !== undefined) entry['reason'] = o.reason;
  log(entry);
}

/** The server's own answer to a request the handler never sees. */
interface Refusal {
  readonly status: number;
  readonly message: string;
  readonly allow?: string;
}

/** The route the request goes to the handler by, or the refusal (unknown path, wrong method, shutting down). */
function routeOrRefusal(f: RequestFacts, draining: boolean): Route | Refusal {
  if (f.route === undefined) return { status: 404, message: 'Not Found' };
  if (f.route.resource !== '/healthz') return f.route;
  if (f.method !== 'GET' && f.method !== 'HEAD') return { status: 405, message: 'method not allowed: GET /healthz', allow: 'GET, HEAD' };
  if (draining) return { status: 503, message: 'shutting down' };
  return f.route;
}

/**
 * Run the handler; a throw is an error outcome, no answer within `handlerMs` a timeout. One promise
 * and one timer per request (this runs on every request).
 */
function invoke(s: RequestSettings, event: Parameters<ProxyHandler>[0], requestId: string): Promise<HandlerOutcome> {
  const { handlerMs } = s.timeouts;
  return new Promise<HandlerOutcome>((resolve) => {
    const timer = setTimeout(() => {
      resolve({ kind: 'timeout' });
    }, handlerMs);
    // The connection keeps the process alive while it matters; after a forced shutdown it must not.
    timer.unref();
    const settle = (outcome: HandlerOutcome): void => {
      clearTimeout(timer);
      resolve(outcome);
    };
    let result: Promise<APIGatewayProxyResult>;
    try {
      result = Promise.resolve(s.handler(event, lambdaContext(requestId, handlerMs)));
    } catch (error) {
      settle({ kind: 'error', error });
      return;
    }
    result.then(
      (value) => {
        settle({ kind: 'result', value });
      },
      (error: unknown) => {
        settle({ kind: 'error', error });
      },
    );
  });
}

/** Write the handler's outcome as the answer: its result, or 504 / 500 / 502 as API Gateway would. */
function answer(s: RequestSettings, res: ServerResponse, f: RequestFacts, outcome: HandlerOutcome, requestBytes: number): Outcome {
  switch (outcome.kind) {
    case 'timeout':
      return { status: 504, requestBytes, level: 'error', reason: `handler did not answer within ${s.timeouts.handlerMs} ms`, responseBytes: sendJson(res, 504, 'Endpoint request timed out') };
    case 'error': {
      const e = outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
      s.log({ level: 'error', msg: 'handler threw', requestId: f.requestId, errorName: e.name, reason: e.message });
      return { status: 500, requestBytes, level: 'error', responseBytes: sendJson(res, 500, 'Internal server error') };
    }
    case 'result': {
      const written = writeResult(res, outcome.value);
      if (written.ok) return { status: written.status, requestBytes, responseBytes: written.bytes };
      return { status: 502, requestBytes, level: 'error', reason: written.problem, responseBytes: sendJson(res, 502, 'Internal server error') };
    }
  }
}

/** Serve one request from its arrival to its answer; returns what is logged about it. */
async function serve(s: RequestSettings, req: IncomingMessage, res: ServerResponse, f: RequestFacts): Promise<Outcome> {
  res.setHeader('x-request-id', f.requestId);
  const closeIfDraining = (): void => {
    if (s.draining()) res.setHeader('connection', 'close');
  };
  closeIfDraining();
  const route = routeOrRefusal(f, s.draining());
  if ('status' in route) {
    if (f.expectsContinue) res.setHeader('connection', 'close');
    discardRest(req, s.discardBytes, s.timeouts.lingerMs);
    if (route.allow !== undefined) res.setHeader('allow', route.allow);
    return { status: route.status, responseBytes: sendJson(res, route.status, route.message) };
  }
  if (route.resource !== '/healthz' && s.authorize !== undefined && !s.authorize(route.pathParameters?.['token'] ?? 'mutate')) {
    // Before the body: a client without the token never gets megabytes buffered for it. The
    // connection is closed after the answer (what is left of the body is dropped, not kept).
    // The same warning line the handler writes on a wrong token, so log queries and alarms work
    // the same behind API Gateway and behind serve.
    s.log({ level: 'warn', msg: 'request rejected', requestId: f.requestId, status: 401, reason: UNAUTHORIZED_REASON, sourceIp: f.sourceIp });
    res.setHeader('connection', 'close');
    discardRest(req, s.discardBytes, s.timeouts.lingerMs);
    return { status: 401, responseBytes: sendJson(res, 401, 'unauthorized') };
  }
  if (route.resource !== '/healthz') s.trusted?.(req);
  if (route.resource === '/healthz') {
    // A health check needs no token, so it gets no body: none is read, buffered or held from the
    // budget (8 strangers announcing the limit on /healthz, and never sending it, held all of it and
    // every admission was answered 503). What a client sends anyway is dropped, bounded.
    if (f.expectsContinue) res.setHeader('connection', 'close');
    discardRest(req, s.discardBytes, s.timeouts.lingerMs);
    return invokeAndAnswer(s, req, res, f, route, Buffer.alloc(0));
  }
  // The body's announced size (at most the limit; the limit when not announced) is held from the
  // budget until the answer, so that many large bodies at once cannot add up past it.
  const declared = Number(req.headers['content-length']);
  const held = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, s.maxBodyBytes) : s.maxBodyBytes;
  if (held > s.bodyBudget.left) {
    res.setHeader('connection', 'close');
    res.setHeader('retry-after', '1');
    discardRest(req, s.discardBytes, s.timeouts.lingerMs);
    return { status: 503, level: 'warn', reason: 'body bytes in flight over the budget', responseBytes: sendJson(res, 503, 'Service Unavailable') };
  }
  s.bodyBudget.left -= held;
  try {
    return await readAndAnswer(s, req, res, f, route);
  } finally {
    s.bodyBudget.left += held;
  }
}

/** Read the body, run the handler on its event and write its outcome. */
async function readAndAnswer(s: RequestSettings, req: IncomingMessage, res: ServerResponse, f: RequestFacts, route: Route): Promise<Outcome> {
  // The memory of a review whose size is announced is held before its body is read: one that waits
  // for it leaves its body with the client (TCP holds it), not in this process (review-memory.ts).
  const declared = Number(req.headers['content-length']);
  const early = s.reviewMemory !== undefined && Number.isSafeInteger(declared) && declared >= 0 && declared <= s.maxBodyBytes;
  if (s.reviewMemory !== undefined && early) {
    const release = await holdMemory(s, s.reviewMemory, res, declared);
    if (typeof release !== 'function') {
      res.setHeader('connection', 'close');
      discardRest(req, s.discardBytes, s.timeouts.lingerMs);
      return refuseForMemory(s, s.reviewMemory, req, res, f, declared);
    }
  }
  const read = await readBody(req, s.maxBodyBytes, f.expectsContinue ? () => { res.writeContinue(); } : undefined);
  if (read.kind === 'aborted') return { status: 0, level: 'info', reason: 'client closed the connection or timed out before sending the whole body' };
  if (read.kind === 'too-large') {
    if (f.expectsContinue && !req.complete) res.setHeader('connection', 'close');
    discardRest(req, s.discardBytes, s.timeouts.lingerMs);
    const message = `request body is larger than ${s.maxBodyBytes} bytes`;
    // A review the API server then admits unchanged (failurePolicy Ignore): a warning and a count, as
    // the handler's own refusal of a body too large (400) has, not only the `request` line at INFO.
    s.log({ level: 'warn', msg: 'request rejected', requestId: f.requestId, status: 413, reason: message });
    s.tooLarge?.();
    return { status: 413, responseBytes: sendJson(res, 413, message) };
  }
  if (s.reviewMemory !== undefined && !early && typeof (await holdMemory(s, s.reviewMemory, res, read.body.length)) !== 'function') {
    return refuseForMemory(s, s.reviewMemory, req, res, f, read.body.length);
  }
  return invokeAndAnswer(s, req, res, f, route, read.body);
}

/**
 * Hold the memory of a review of `bodyBytes` (review-memory.ts) until its answer is written or its
 * connection closes; undefined when none came free within `memoryWaitMs` or the client went away.
 */
async function holdMemory(s: RequestSettings, memory: ReviewMemory, res: ServerResponse, bodyBytes: number): Promise<(() => void) | undefined> {
  const release = await memory.take(bodyBytes, s.timeouts.memoryWaitMs, (cancel) => {
    res.once('close', cancel);
  });
  if (release === undefined) return undefined;
  // The answer's text and its encrypted copy are held until the socket has taken it: 'close' comes
  // once the response is done, or its connection is gone.
  res.once('close', release);
  if (res.destroyed) release();
  return release;
}

/**
 * A review that found no memory in time: 503, so that the API server applies its failurePolicy
 * rather than the worker being killed for its memory with every review it holds.
 */
function refuseForMemory(s: RequestSettings, memory: ReviewMemory, req: IncomingMessage, res: ServerResponse, f: RequestFacts, requestBytes: number): Outcome {
  if (res.destroyed || req.socket.destroyed) return { status: 0, requestBytes, level: 'warn', reason: 'client went away before the answer' };
  const reason = `no memory for the review within ${s.timeouts.memoryWaitMs} ms`;
  s.log({ level: 'warn', msg: 'request rejected', requestId: f.requestId, status: 503, reason, requestBytes, reviewMemoryHeld: memory.held, reviewsWaiting: memory.waiting });
  s.overloaded?.();
  res.setHeader('retry-after', '1');
  return { status: 503, requestBytes, level: 'warn', reason, responseBytes: sendJson(res, 503, 'Service Unavailable') };
}

/** Run the handler on the request's event (with `body`) and write its outcome. */
async function invokeAndAnswer(s: RequestSettings, req: IncomingMessage, res: ServerResponse, f: RequestFacts, route: Route, body: Buffer): Promise<Outcome> {
  const closeIfDraining = (): void => {
    if (s.draining()) res.setHeader('connection', 'close');
  };
  const event = toProxyEvent({
    // HEAD /healthz is a GET for the handler; Node leaves the body out of the answer.
    method: route.resource === '/healthz' ? 'GET' : f.method,
    path: f.path,
    search: f.search,
    route,
    rawHeaders: req.rawHeaders,
    body,
    requestId: f.requestId,
    requestTimeEpoch: f.requestTimeEpoch,
    sourceIp: f.sourceIp,
    userAgent: req.headers['user-agent'],
    stage: s.stage,
    protocol: `HTTP/${req.httpVersion}`,
  });
  const outcome = await invoke(s, event, f.requestId);
  const requestBytes = body.length;
  closeIfDraining();
  // The API server stopped waiting (its timeoutSeconds) and applied its failurePolicy: with Ignore the
  // object was admitted unchanged, though the handler counted the review's outcome (patched...). A
  // warning, so that it shows at LOG_LEVEL=WARN too.
  if (res.destroyed || req.socket.destroyed) return { status: 0, requestBytes, level: 'warn', reason: 'client went away before the answer' };
  return answer(s, res, f, outcome, requestBytes);
}

/**
 * The server's request listener: serves each request and logs one line about it. `expectsContinue`:
 * the request came through the server's `checkContinue` event (`Expect: 100-continue`).
 */
export function requestListener(s: RequestSettings): (req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean) => Promise<void> {
  return async (req, res, expectsContinue = false) => {
    const facts = factsOf(req, expectsContinue);
    logRequest(s.log, facts, await serve(s, req, res, facts));
  };
}
