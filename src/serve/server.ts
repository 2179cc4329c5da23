/**
 * The local HTTPS adapter's lifecycle: start the server (options checked, certificate loaded,
 * address bound), wire its parts together, and stop it gracefully. Each request becomes an API
 * Gateway REST proxy event for the same handler the Lambda runs (docs/design.md, "Architecture: one
 * pure core, thin adapters"). It is the stand-in for API Gateway in the end-to-end tests, the local
 * development server, and the way to run the webhook inside a cluster, so it is built to face
 * hostile clients.
 *
 * Routes: `/mutate` and `/mutate/<token>` (resource `/mutate/{token}`, `pathParameters.token`) go
 * to the handler with whatever method they came with (it answers 405 to anything but POST);
 * `GET`/`HEAD /healthz` goes to it as a `GET /healthz` event (503 from the server itself while
 * shutting down); anything else is a 404 JSON answer here. Bodies that are not UTF-8 are sent
 * base64 with `isBase64Encoded`, as API Gateway does for binary media types.
 *
 * - TLS 1.2 or newer only; plain HTTP on the port just gets the connection closed.
 * - The certificate and key are reloaded when their files change (certificates.ts).
 * - Every phase is bounded: TLS handshake, request headers, the whole request, socket inactivity,
 *   keep-alive idleness, the handler itself (504 like API Gateway), the body size (413), the number
 *   of connections, the memory of the reviews in flight (review-memory.ts), and shutdown.
 * - Graceful shutdown (connections.ts): stop accepting, let in-flight requests finish (bounded),
 *   close idle keep-alive connections, then resolve.
 *
 * Logs are structured objects through an injected function; never bodies, never the token (the
 * request path carries it, so only the route's resource is logged).
 *
 * The parts: options.ts (options and defaults), certificates.ts, connections.ts (with
 * known-callers.ts: the callers that showed the token), requests.ts (one request), review-memory.ts
 * (the memory of the reviews in flight), body.ts, event.ts and response.ts (API Gateway emulation),
 * log-throttle.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:https';
import { describeSystemError } from '../config/system-error.js';
import { loadKeyPair, reloadCertificates, tlsOptions } from './certificates.js';
import { Connections } from './connections.js';
import { KnownCallers } from './known-callers.js';
import { throttled } from './log-throttle.js';
import { type ResolvedOptions, ServeError, type ServerOptions, resolveOptions } from './options.js';
import { requestListener } from './requests.js';
import { ReviewMemory } from './review-memory.js';

// The serve command and the tests start the server through this module.
export { DEFAULT_MAX_BODY_BYTES, ServeError } from './options.js';
export type { ProxyHandler, ServerOptions } from './options.js';

export interface RunningServer {
  /** The bound address (`127.0.0.1`, `::`). */
  readonly address: string;
  readonly port: number;
  /** Graceful shutdown; idempotent (every call returns the same promise). */
  close(): Promise<void>;
}

/** Client-provoked log lines (failed handshakes, drops, protocol errors): at most this many per message per window. */
const NOISY_LINES_PER_WINDOW = 20;
const NOISY_WINDOW_MS = 10_000;

function listenOn(server: Server, host: string | undefined, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(new ServeError(`cannot listen on ${host ?? '*'}:${port}: ${describeSystemError(e)}`, { cause: e }));
    };
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

async function listen(server: Server, o: ResolvedOptions): Promise<void> {
  await listenOn(server, o.host, o.port);
  // A --workers replacement of port 0 (ServerOptions.announcedPort): another port means the shared
  // socket was closed with the last worker holding it; whether it still was could not be known
  // before asking (the primary sees the workers' deaths one by one, while this one starts).
  if (o.announcedPort === undefined || (server.address() as AddressInfo).port === o.announcedPort) return;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  await listenOn(server, o.host, o.announcedPort);
}

/**
 * Start the HTTPS server. Resolves once it listens; rejects with a `ServeError` when an option is
 * invalid, the certificate pair does not load or the address cannot be bound.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const o = resolveOptions(options);
  const { log, timeouts: t } = o;
  const initial = await loadKeyPair(o, log);

  // An address stays known as long as an idle connection of its caller is kept, and is told to
  // the other workers again at most once per headersMs while it keeps showing the token.
  const callers = new KnownCallers({ ttlMs: t.keepAliveMs + t.headersMs, refreshMs: t.headersMs, tell: o.callerExchange?.tell });
  const connections = new Connections(
    { maxConnections: o.maxConnections, maxConnectionsPerClient: o.maxConnectionsPerClient, headersMs: t.headersMs, keepAliveMs: t.keepAliveMs, shutdownMs: t.shutdownMs },
    log,
    throttled(log, NOISY_LINES_PER_WINDOW, NOISY_WINDOW_MS),
    callers,
  );
  const onRequest = requestListener({
    handler: o.handler,
    authorize: o.authorize,
    tooLarge: o.tooLarge,
    overloaded: o.overloaded,
    stage: o.stage,
    timeouts: t,
    maxBodyBytes: o.maxBodyBytes,
    bodyBudget: { left: o.maxBodyBytesInFlight },
    reviewMemory: new ReviewMemory(o.reviewMemoryBytes),
    discardBytes: o.discardBytes,
    log,
    draining: () => connections.draining,
    trusted: (req) => {
      connections.trust(req);
    },
  });
  const server: Server = createServer(
    {
      ...tlsOptions(initial),
      handshakeTimeout: t.handshakeMs,
      // Node requires headersTimeout <= requestTimeout.
      headersTimeout: Math.min(t.headersMs, t.requestMs),
      requestTimeout: t.requestMs,
      keepAliveTimeout: t.keepAliveMs,
      connectionsCheckingInterval: t.checkIntervalMs,
      maxHeaderSize: 16 * 1024,
      noDelay: true,
    },
    (req, res) => {
      if (connections.requestStarted(req, res)) void onRequest(req, res);
    },
  );
  // `Expect: 100-continue`: without this listener Node answers 100 Continue as soon as the head is
  // in, inviting the body before the token, the route and the size are checked; the request
  // listener sends it only when it is about to read the body.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (connections.requestStarted(req, res)) void onRequest(req, res, true);
  });
  server.maxHeadersCount = 100;
  server.setTimeout(t.idleSocketMs);
  connections.attach(server);

  // Heard before listening: a replacement worker is given the addresses known so far at once.
  const stopHearing = o.callerExchange?.listen((told) => {
    callers.learn(told);
  });
  try {
    await listen(server, o);
  } catch (e) {
    stopHearing?.();
    throw e;
  }
  server.on('error', (e) => {
    log({ level: 'error', msg: 'server error', reason: e.message });
  });
  const reloader = reloadCertificates(
    initial,
    o,
    (pair) => {
      server.setSecureContext(tlsOptions(pair));
    },
    { pollMs: o.certificatePollMs, log, loaded: o.certificateLoaded },
  );

  const bound = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closed === undefined) {
      reloader.close();
      stopHearing?.();
      callers.close();
      closed = connections.drain(server);
    }
    return closed;
  };
  return { address: bound.address, port: bound.port, close };
}
