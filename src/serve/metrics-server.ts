/**
 * The plain HTTP server of `serve --metrics-listen`: `GET /metrics` answers the Prometheus text
 * that `collect` gives (with its content type), `HEAD /metrics` the same without the body (RFC 9110,
 * 9.3.2: probes use it), 404 any other path, 405 any other method; 503 when
 * `collect` fails (a worker that does not answer: src/cli/serve-metrics.ts bounds the wait). No TLS
 * and no token: what it tells is counts, and a scraper is another Pod, which a NetworkPolicy admits
 * or not (README, "Metrics for Prometheus"). Apart from the webhook's server, so that a scraper never
 * takes one of its connection slots, and loaded only with the flag. Anyone who reaches the port
 * can send requests, so each is bounded: connections (in all and per client), the time a request
 * takes to arrive, the requests a connection has unanswered, and collections (scrapes at the same
 * time share one).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describeSystemError } from '../config/system-error.js';
import type { Log } from '../observability/log.js';
import { ServeError } from './options.js';

const METRICS_PATH = '/metrics';

/** Scrapers are few (a Prometheus or two per replica); more connections than this are refused. */
const MAX_CONNECTIONS = 16;
/**
 * Connections one client address may hold: a Prometheus keeps one per target. Without it, one
 * client holding 16 idle connections (nothing sent) refused every scrape until the server timed
 * them out, and again as soon as it reconnected.
 */
export const MAX_CONNECTIONS_PER_CLIENT = 4;
/** A scrape's request is a line and a few headers: it must be in within this. */
const REQUEST_MS = 10_000;
/** How often connections are checked against REQUEST_MS (Node's default, 30 s, held them 40 s). */
const CHECK_MS = 1000;
/**
 * Requests one connection may have unanswered; a connection past it is closed. A scraper sends one
 * at a time. Node parses and serves every request pipelined in one write and holds each answer for
 * a client that never reads: thousands of `GET /metrics` in a few writes each asked every worker
 * for its registry, and the workers' backlog of answers grew their memory past the chart's limit
 * and held the webhook's health checks for tens of seconds, long after the client had gone (as
 * src/serve/connections.ts bounds the webhook's own connections).
 */
export const MAX_REQUESTS_IN_FLIGHT_PER_CONNECTION = 4;
/** An answered connection is closed when no request comes within this (Node's default). */
const KEEP_ALIVE_MS = 5000;
/**
 * How long an answered connection may go without a new request, whatever it sends. Node's keep-alive
 * timeout restarts on every byte, and blank lines between requests start no request (nor its
 * headers timeout): a client that sent one scrape and then two bytes every few seconds held its slot
 * for good, and four such clients kept Prometheus out (src/serve/connections.ts bounds the webhook's
 * own connections the same way).
 */
const IDLE_CONNECTION_MS = KEEP_ALIVE_MS + REQUEST_MS;

export interface MetricsText {
  readonly contentType: string;
  readonly text: string;
}

export interface MetricsServerOptions {
  /** Undefined binds every interface. */
  readonly host: string | undefined;
  /** 0 picks a free port (read it from the result). */
  readonly port: number;
  readonly collect: () => Promise<MetricsText>;
  readonly log: Log;
  /** How long an answered connection may go without a new request (default IDLE_CONNECTION_MS; tests shorten it). */
  readonly idleMs?: number;
}

export interface RunningMetricsServer {
  readonly address: string;
  readonly port: number;
  /** Stops listening and closes every connection (a scrape cut short is retried at the next interval); idempotent. */
  close(): Promise<void>;
}

function answer(res: ServerResponse, status: number, text: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

/** Starts the server; rejects with a `ServeError` when the address cannot be bound. */
export function startMetricsServer(options: MetricsServerOptions): Promise<RunningMetricsServer> {
  const { log, idleMs = IDLE_CONNECTION_MS } = options;
  // Scrapes at the same time share one collection: with workers, each asks every one of them.
  let collecting: Promise<MetricsText> | undefined;
  const collect = (): Promise<MetricsText> => {
    collecting ??= options.collect().finally(() => {
      collecting = undefined;
    });
    return collecting;
  };
  /** Each connection's unanswered requests, and once it has none, the timer that closes it (IDLE_CONNECTION_MS). */
  const connections = new Map<Socket, { unanswered: number; idle?: NodeJS.Timeout | undefined }>();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const { socket } = req;
    const conn = connections.get(socket);
    if (conn === undefined || conn.unanswered >= MAX_REQUESTS_IN_FLIGHT_PER_CONNECTION) {
      socket.destroy();
      return;
    }
    conn.unanswered++;
    clearTimeout(conn.idle);
    res.once('close', () => {
      conn.unanswered--;
      if (conn.unanswered > 0 || socket.destroyed) return;
      conn.idle = setTimeout(() => {
        socket.destroy();
      }, idleMs);
      conn.idle.unref();
    });
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) {
      answer(res, 404, 'not found: GET /metrics\n');
      return;
    }
    // HEAD is answered as GET (collected, so a failing collection is its 503 too); Node sends no body for it.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      answer(res, 405, 'method not allowed: GET /metrics\n', { Allow: 'GET, HEAD' });
      return;
    }
    collect().then(
      (m) => {
        res.writeHead(200, { 'Content-Type': m.contentType });
        res.end(m.text);
      },
      (e: unknown) => {
        const reason = e instanceof Error ? e.message : String(e);
        log({ level: 'warn', msg: 'metrics not collected', reason });
        answer(res, 503, `metrics not collected: ${reason}\n`);
      },
    );
  };
  const server = createServer({ requestTimeout: REQUEST_MS, headersTimeout: REQUEST_MS, keepAliveTimeout: KEEP_ALIVE_MS, connectionsCheckingInterval: CHECK_MS, maxHeaderSize: 16 * 1024 }, onRequest);
  server.maxConnections = MAX_CONNECTIONS;
  const sockets = new Set<Socket>();
  const perClient = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const client = socket.remoteAddress ?? '';
    const open = perClient.get(client) ?? 0;
    if (open >= MAX_CONNECTIONS_PER_CLIENT) {
      socket.destroy();
      return;
    }
    perClient.set(client, open + 1);
    sockets.add(socket);
    connections.set(socket, { unanswered: 0 });
    socket.once('close', () => {
      sockets.delete(socket);
      clearTimeout(connections.get(socket)?.idle);
      connections.delete(socket);
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
    });
  });
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(new ServeError(`--metrics-listen: cannot listen on ${options.host ?? '*'}:${String(options.port)}: ${describeSystemError(e)}`, { cause: e }));
    };
    server.once('error', onError);
    server.listen({ port: options.port, host: options.host }, () => {
      server.off('error', onError);
      server.on('error', (e) => {
        log({ level: 'error', msg: 'metrics server error', reason: e.message });
      });
      const bound = server.address() as AddressInfo;
      let closed: Promise<void> | undefined;
      resolve({
        address: bound.address,
        port: bound.port,
        close: () => {
          closed ??= new Promise((done) => {
            server.close(() => {
              done();
            });
            for (const s of sockets) s.destroy();
          });
          return closed;
        },
      });
    });
  });
}
