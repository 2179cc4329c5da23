/**
 * The HTTPS server's options: what a caller may set, the defaults, and their check into one
 * resolved value the other serve modules read (so a new limit is one field here, one use there).
 */
import { getHeapStatistics } from 'node:v8';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Log } from '../observability/log.js';
import type { CallerExchange } from './known-callers.js';

/** The Lambda handler as the server calls it: a REST proxy event in, a proxy result out. */
export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** Every time bound of the server, in milliseconds. */
export interface ServerTimeouts {
  /** The TLS handshake must finish within this (a client that never finishes it is cut off). */
  readonly handshakeMs: number;
  /** The request headers must arrive within this. */
  readonly headersMs: number;
  /** The whole request (headers and body) must arrive within this; else 408 and close. */
  readonly requestMs: number;
  /** A connection with no traffic at all for this long is destroyed. */
  readonly idleSocketMs: number;
  /**
   * An idle keep-alive connection is closed after this (Node adds 1 s; a request begun by then has
   * headersMs more to arrive). Longer than the client keeps one: see DEFAULT_TIMEOUTS.
   */
  readonly keepAliveMs: number;
  /** The handler must answer within this; else 504, as API Gateway does after its 29 s. */
  readonly handlerMs: number;
  /** After an early answer (413, 404), how long the rest of the body is read and dropped so the client sees the answer. */
  readonly lingerMs: number;
  /** `close()` waits this long for in-flight requests, then closes every connection. */
  readonly shutdownMs: number;
  /**
   * A large review waits at most this long for the memory of the reviews before it (review-memory.ts);
   * then 503. Past the API server's timeoutSeconds (5 s by default, 30 at most) it has gone anyway, and
   * a review whose client went away stops waiting at once.
   */
  readonly memoryWaitMs: number;
  /** How often Node checks the header and request deadlines (its default, 30 s, is too coarse). */
  readonly checkIntervalMs: number;
}

const DEFAULT_TIMEOUTS: ServerTimeouts = {
  handshakeMs: 10_000,
  headersMs: 10_000,
  requestMs: 30_000,
  idleSocketMs: 60_000,
  // Past the 90 s the API server's HTTP client (Go's IdleConnTimeout, set by client-go through
  // apimachinery's SetOldTransportDefaults) keeps an idle connection, so the client always closes
  // it first. A server that closes first races the client: a review written to the connection as
  // the close crosses it fails (reset or EOF; Go retries no POST once written) and the API server
  // applies the failurePolicy (measured with such a Go client: docs/reliability.md).
  keepAliveMs: 120_000,
  handlerMs: 29_000,
  lingerMs: 2_000,
  shutdownMs: 10_000,
  memoryWaitMs: 10_000,
  checkIntervalMs: 1_000,
};

/** Lambda's synchronous invocation payload limit: a bigger request could never reach the real handler. */
export const DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 512;
const DEFAULT_CERTIFICATE_POLL_MS = 10_000;

export interface ServerOptions {
  readonly handler: ProxyHandler;
  readonly certFile: string;
  readonly keyFile: string;
  /** Address to bind; undefined binds every interface (like `:8443`). */
  readonly host?: string | undefined;
  /** 0 picks a free port (read it from the result). */
  readonly port: number;
  /**
   * With port 0, in a `serve --workers` worker: the port serve announced. The worker joins the
   * socket the workers share; when that socket is gone (every worker holding it died and the
   * primary closed it), port 0 gives another free port, and this one is bound instead.
   */
  readonly announcedPort?: number | undefined;
  readonly maxBodyBytes?: number | undefined;
  /**
   * The most body bytes all requests together may have announced and not yet been answered for
   * (default 8 x maxBodyBytes); a request past it is answered 503 before its body is read.
   */
  readonly maxBodyBytesInFlight?: number | undefined;
  /**
   * The bytes the reviews in flight may be charged for together, each REVIEW_MEMORY_PER_BODY_BYTE
   * times its body (review-memory.ts); default half the V8 heap limit (`heap_size_limit`).
   */
  readonly reviewMemoryBytes?: number | undefined;
  readonly maxConnections?: number | undefined;
  /** Connections one client address may hold (default half of maxConnections, at least 1). */
  readonly maxConnectionsPerClient?: number | undefined;
  readonly timeouts?: Partial<ServerTimeouts> | undefined;
  /** How often the certificate files are checked besides fs.watch events. */
  readonly certificatePollMs?: number | undefined;
  /** requestContext.stage of the events (default "local"). */
  readonly stage?: string | undefined;
  readonly log?: Log | undefined;
  /**
   * Checks the path token of `/mutate` requests before their body is read: a wrong one is answered
   * 401 at once and its connection closed, so unauthenticated clients never get a body buffered.
   * Undefined: every request reaches the handler, which checks the token itself.
   */
  readonly authorize?: ((pathToken: string) => boolean) | undefined;
  /**
   * Told of each authorized `/mutate` request refused for its body's size (413) before the handler
   * runs: `serve` counts it as the Lambda counts the 400 it answers for a body too large.
   */
  readonly tooLarge?: (() => void) | undefined;
  /** Told of each authorized `/mutate` request refused because no memory for it came free in time (503). */
  readonly overloaded?: (() => void) | undefined;
  /**
   * Told when the certificate served changes: at start, and at each reload that takes, with when
   * it expires (epoch ms): `serve --metrics-listen`'s expiry gauge.
   */
  readonly certificateLoaded?: ((validToMs: number) => void) | undefined;
  /**
   * With `serve --workers`: how this worker tells the others the addresses that showed the token,
   * and hears theirs (./known-callers.ts); without it they are this process's alone.
   */
  readonly callerExchange?: CallerExchange | undefined;
}

/** Thrown by `startServer` when it cannot start (bad option, certificate unusable, address in use). */
export class ServeError extends Error {
  override readonly name = 'ServeError';
}

/** The options with every default applied and every bound checked. */
export interface ResolvedOptions {
  readonly handler: ProxyHandler;
  readonly certFile: string;
  readonly keyFile: string;
  readonly host: string | undefined;
  readonly port: number;
  readonly announcedPort: number | undefined;
  readonly timeouts: ServerTimeouts;
  readonly maxBodyBytes: number;
  readonly maxBodyBytesInFlight: number;
  readonly reviewMemoryBytes: number;
  /** After an early answer, a client may finish sending up to this much, which is read and dropped. */
  readonly discardBytes: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  readonly certificatePollMs: number;
  readonly stage: string;
  readonly log: Log;
  readonly authorize: ((pathToken: string) => boolean) | undefined;
  readonly tooLarge: (() => void) | undefined;
  readonly overloaded: (() => void) | undefined;
  readonly certificateLoaded: ((validToMs: number) => void) | undefined;
  readonly callerExchange: CallerExchange | undefined;
}

function positiveInteger(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new ServeError(`${name} must be a positive integer (got ${v})`);
  return v;
}

/** Apply the defaults and check every number; a bad one is a `ServeError` naming it. */
export function resolveOptions(options: ServerOptions): ResolvedOptions {
  const timeouts: ServerTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  for (const [k, v] of Object.entries(timeouts)) positiveInteger(`timeouts.${k}`, v as number);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const maxConnections = positiveInteger('maxConnections', options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
  const certificatePollMs = positiveInteger('certificatePollMs', options.certificatePollMs ?? DEFAULT_CERTIFICATE_POLL_MS);
  return {
    handler: options.handler,
    authorize: options.authorize,
    tooLarge: options.tooLarge,
    overloaded: options.overloaded,
    certificateLoaded: options.certificateLoaded,
    callerExchange: options.callerExchange,
    certFile: options.certFile,
    keyFile: options.keyFile,
    host: options.host,
    port: options.port,
    announcedPort: options.announcedPort,
    timeouts,
    maxBodyBytes,
    maxBodyBytesInFlight: positiveInteger('maxBodyBytesInFlight', options.maxBodyBytesInFlight ?? 8 * maxBodyBytes),
    reviewMemoryBytes: positiveInteger('reviewMemoryBytes', options.reviewMemoryBytes ?? Math.floor(getHeapStatistics().heap_size_limit / 2)),
    discardBytes: 2 * maxBodyBytes,
    maxConnections,
    maxConnectionsPerClient: positiveInteger('maxConnectionsPerClient', options.maxConnectionsPerClient ?? Math.max(1, Math.floor(maxConnections / 2))),
    certificatePollMs,
    stage: options.stage ?? 'local',
    log: options.log ?? (() => undefined),
  };
}
