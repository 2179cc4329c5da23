/**
 * The server's connections: which are open, which finished TLS, how many requests each has had and
 * has in flight; the connection-level events (limits, failed handshakes, protocol errors); and the
 * graceful shutdown that drains them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { type DropArgument, Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Log } from '../observability/log.js';
import type { KnownCallers } from './known-callers.js';

/** At shutdown, how long every connection has to send one more request (a new one: its first). */
const NEW_CONNECTION_GRACE_MS = 1_000;

/**
 * After a 408, 400 or 431, how long the client gets to read it before its socket is destroyed. A
 * client that never reads keeps a TLS socket open (and its connection slot taken) until the idle
 * timeout, about 70 s, otherwise: a small burst locked serve out for over a minute.
 */
const CLIENT_ERROR_LINGER_MS = 1_000;

/**
 * Requests one connection may have in flight (received, not yet answered); a connection past it is
 * closed. HTTP/1.1 lets a client pipeline thousands of requests in one write and never read an
 * answer: Node parses and serves every one it has read, and holds each answer for the client. A few
 * hundred such connections to /healthz (no token needed) multiplied serve's memory and held a
 * health check for seconds (docs/performance.md, "Figures behind the comments"). The API server
 * sends one request at a time on a connection.
 */
export const MAX_PIPELINED_REQUESTS = 16;


/**
 * The TLS alerts a client sends when it does not trust the server's certificate (bad_certificate,
 * certificate_expired, certificate_unknown, unknown_ca), as OpenSSL names them in the error's code.
 */
const DISTRUST_ALERT = /_ALERT_(?:BAD_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|UNKNOWN_CA)$/;
const DISTRUST_HINT =
  "the client does not trust this server's certificate: the webhook configuration's caBundle must be the CA that signed --tls-cert-file, and the certificate must name the host the client calls (SERVICE.NAMESPACE.svc) and be current";

/** A connection past its TLS handshake. */
interface Secured {
  readonly socket: TLSSocket;
  inFlight: number;
  served: number;
  /** Set once a request on it was a `/mutate` request with the token (or no token is required): see awaitNext. */
  trusted: boolean;
  /** Set while the connection has answered everything and waits for its next request (see requestStarted). */
  idle?: NodeJS.Timeout | undefined;
  /** The connection's latest request (the only one whose body may still be arriving). */
  last?: IncomingMessage | undefined;
  /** A protocol error after requests still being answered: its answer, sent once they are (clientError). */
  failed?: ClientErrorStatus | undefined;
}

interface ClientErrorStatus {
  readonly status: number;
  readonly text: string;
}

export interface ConnectionLimits {
  readonly maxConnections: number;
  /**
   * Connections one client address may hold (by default half of maxConnections): one client cannot
   * take every slot, while the API server's few addresses (its replicas) still get plenty.
   */
  readonly maxConnectionsPerClient: number;
  /** Bounds the grace new connections get at shutdown to send their first request. */
  readonly headersMs: number;
  /** With headersMs, how long an answered connection that showed the token may go without a new request. */
  readonly keepAliveMs: number;
  readonly shutdownMs: number;
}

/** The status line Node would send for a protocol error, by its code. */
function clientErrorStatus(code: string | undefined): ClientErrorStatus {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, text: 'Request Header Fields Too Large' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, text: 'Request Timeout' };
  return { status: 400, text: 'Bad Request' };
}

/**
 * Owns the connection state of one server. `attach` subscribes to the server's connection events;
 * `requestStarted` counts each request; `drain` is the graceful shutdown.
 */
export class Connections {
  /** Every accepted TCP connection, TLS finished or not. */
  private readonly sockets = new Set<Socket>();
  /** Open connections by client address. */
  private readonly perClient = new Map<string, number>();
  /** Connections past the TLS handshake (keyed by socket). */
  private readonly secured = new Map<object, Secured>();
  private closing = false;
  /** During shutdown, connections accepted before it may finish TLS and send a first request until this is set. */
  private graceOver = false;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly log: Log,
    /** For lines a client can provoke at will. */
    private readonly noisy: Log,
    /** The addresses that showed the token, here or (with --workers) in another worker (holdSpare). */
    private readonly callers: KnownCallers,
  ) {}

  /** True once `drain` was called: every answer then ends its connection. */
  get draining(): boolean {
    return this.closing;
  }

  /** Subscribe to the server's connection events and apply the connection limit. */
  attach(server: Server): void {
    server.maxConnections = this.limits.maxConnections;
    server.on('connection', (socket: Socket) => {
      this.accepted(socket);
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      // Anyone can fail a handshake (a scanner, plain HTTP): INFO. A client that refuses this
      // certificate is most likely the API server with a caBundle that did not sign it: WARN.
      const distrusted = err.code !== undefined && DISTRUST_ALERT.test(err.code);
      this.noisy({
        level: distrusted ? 'warn' : 'info',
        msg: 'tls handshake failed',
        code: err.code,
        reason: err.message.split('\n')[0],
        sourceIp: socket.remoteAddress,
        ...(distrusted ? { hint: DISTRUST_HINT } : {}),
      });
    });
    server.on('drop', (data?: DropArgument) => {
      this.noisy({ level: 'warn', msg: 'connection dropped: too many connections', maxConnections: this.limits.maxConnections, sourceIp: data?.remoteAddress });
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      this.securedConnection(socket);
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.clientError(err, socket);
    });
  }

  /**
   * Count a request on its connection until its response closes. False when the request must not be
   * served: its connection had MAX_PIPELINED_REQUESTS in flight already, and is closed.
   */
  requestStarted(req: IncomingMessage, res: ServerResponse): boolean {
    const conn = this.secured.get(req.socket);
    if (conn === undefined) return true;
    if (conn.inFlight >= MAX_PIPELINED_REQUESTS) {
      if (!req.socket.destroyed) {
        this.noisy({ level: 'warn', msg: 'connection closed: too many pipelined requests', maxPipelined: MAX_PIPELINED_REQUESTS, sourceIp: req.socket.remoteAddress });
        req.socket.destroy();
      }
      return false;
    }
    conn.inFlight++;
    conn.served++;
    conn.last = req;
    clearTimeout(conn.idle);
    res.once('close', () => {
      conn.inFlight--;
      if (conn.inFlight > 0) return;
      conn.last = undefined;
      if (conn.failed === undefined) this.awaitNext(conn);
      else this.refuse(conn.socket, conn.failed);
    });
    return true;
  }

  /**
   * Mark the connection of `req` as one of a caller with the token (a `/mutate` request the token
   * check let through): it keeps its keep-alive time between requests (awaitNext).
   */
  trust(req: IncomingMessage): void {
    const conn = this.secured.get(req.socket);
    if (conn !== undefined) conn.trusted = true;
    const address = req.socket.remoteAddress;
    if (address !== undefined) this.callers.seen(address);
  }

  /**
   * Bound the wait for a connection's next request. Node's keep-alive timeout restarts on every byte
   * received, and blank lines between requests (allowed) start none, so the headers timeout never
   * starts either: two bytes every few seconds held a connection slot forever. A request that starts
   * within keepAliveMs must have its headers in within headersMs: a connection with none after both
   * is closed (re-armed while its last answer is still being written to a slow reader). The long
   * keep-alive time is for the API server, whose client keeps an idle connection 90 s
   * (options.ts); a connection that never showed the token (health checks, 404s) gets headersMs,
   * as one that sends nothing at all does: each stranger's connection held its slot for 130 s
   * after one `GET /healthz`, and two addresses holding half the slots each locked the API server out.
   */
  private awaitNext(conn: Secured): void {
    if (conn.socket.destroyed) return;
    const { keepAliveMs, headersMs } = this.limits;
    const wait = conn.trusted ? keepAliveMs + headersMs : headersMs;
    conn.idle = setTimeout(() => {
      if (conn.inFlight > 0 || conn.socket.destroyed) return;
      if (conn.socket.writableLength > 0) {
        this.awaitNext(conn);
        return;
      }
      this.noisy({ level: 'info', msg: 'connection closed: no request after its keep-alive time', sourceIp: conn.socket.remoteAddress });
      conn.socket.destroy();
    }, wait);
    conn.idle.unref();
  }

  private accepted(socket: Socket): void {
    const client = socket.remoteAddress ?? '';
    const open = this.perClient.get(client) ?? 0;
    const cap = this.limits.maxConnectionsPerClient;
    if (open >= cap) {
      this.noisy({ level: 'warn', msg: 'connection dropped: too many connections from one client', perClient: cap, sourceIp: client });
      socket.destroy();
      return;
    }
    this.perClient.set(client, open + 1);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left <= 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
    });
  }

  private securedConnection(socket: TLSSocket): void {
    if (this.closing && this.graceOver) {
      socket.destroy();
      return;
    }
    const conn: Secured = { socket, inFlight: 0, served: 0, trusted: false };
    this.secured.set(socket, conn);
    socket.once('close', () => {
      clearTimeout(conn.idle);
      this.secured.delete(socket);
    });
  }

  /** A protocol error (bad request line, header overflow, request timeout): what Node does without a listener, plus a log line. */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    // A failed handshake is reported here too, and was logged as such by tlsClientError.
    const conn = this.secured.get(socket);
    if (conn === undefined) {
      socket.destroy();
      return;
    }
    // Reported once: the parser reports each later chunk of the same connection again.
    if (conn.failed !== undefined) return;
    // It is a TLSSocket; the Duplex type just does not say so.
    const { remoteAddress } = socket as Partial<Pick<Socket, 'remoteAddress'>>;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && this.holdSpare(conn)) return;
    const failed = clientErrorStatus(err.code);
    this.noisy({ level: 'info', msg: 'bad request from client', code: err.code, status: failed.status, sourceIp: remoteAddress });
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // Pipelined requests read in full before the bad bytes are still being answered: their answers
    // go first, in order (RFC 9112, 9.3.2), and this one after the last of them. Written now, it
    // reached the client as the answer to the first of them, whose own answer was lost.
    if (conn.inFlight > 0 && conn.last?.complete === true) {
      conn.failed = failed;
      return;
    }
    this.refuse(socket, failed);
  }

  /**
   * At Node's headers timeout: keep a connection that has sent nothing yet, from an address that
   * showed the token, as long as an idle one of that caller (awaitNext). The
   * API server's client dials more connections than a burst ends up using and keeps the spare ones
   * idle for up to 90 s; closed (with a 408) 10 s after they opened, one was now and then picked for
   * a review at that moment, which then got the 408 as its answer and was refused or admitted
   * unrewritten (docs/reliability.md, "Faults, as counts"). Strangers' connections still get headersMs.
   * Showed it: on a connection held here, or to this process or (with --workers) another worker
   * within the last keepAliveMs + headersMs (./known-callers.ts): each worker accepts its own
   * connections, and the one that showed the token is as often another worker's.
   */
  private holdSpare(conn: Secured): boolean {
    const { socket } = conn;
    if (this.closing || conn.served > 0 || socket.bytesRead > 0) return false;
    const address = socket.remoteAddress;
    if (address === undefined || !(this.callers.knows(address) || this.holdsTrusted(address))) return false;
    const { keepAliveMs, headersMs } = this.limits;
    // Node's own idle timeout of the socket (idleSocketMs) would close it first.
    socket.setTimeout(keepAliveMs + headersMs);
    clearTimeout(conn.idle);
    conn.idle = setTimeout(() => {
      if (conn.served > 0 || socket.bytesRead > 0 || socket.destroyed) return;
      this.noisy({ level: 'info', msg: 'connection closed: no request after its keep-alive time', sourceIp: address });
      socket.destroy();
    }, keepAliveMs);
    conn.idle.unref();
    return true;
  }

  /** True when a connection from `address` here showed the token. */
  private holdsTrusted(address: string): boolean {
    for (const other of this.secured.values()) if (other.trusted && other.socket.remoteAddress === address) return true;
    return false;
  }

  /** Answer a protocol error and close the connection, destroying it if the client does not read the answer in time. */
  private refuse(socket: Duplex, { status, text }: ClientErrorStatus): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    const timer = setTimeout(() => {
      socket.destroy();
    }, CLIENT_ERROR_LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
    });
  }

  /**
   * Graceful shutdown: stop listening, let in-flight requests finish, give every connection a short
   * grace to send one more request (answered with Connection: close), then end idle keep-alive
   * connections and destroy new ones that sent none; after `shutdownMs` every remaining
   * connection is closed. Resolves when the server has stopped.
   */
  drain(server: Server): Promise<void> {
    const { log } = this;
    const { shutdownMs, headersMs } = this.limits;
    return new Promise<void>((resolve) => {
      this.closing = true;
      log({ level: 'info', msg: 'shutting down', connections: this.sockets.size, shutdownMs });
      const deadline = setTimeout(() => {
        log({ level: 'warn', msg: 'shutdown deadline reached; closing the remaining connections', connections: this.sockets.size });
        server.closeAllConnections();
        for (const s of this.sockets) s.destroy();
      }, shutdownMs);
      deadline.unref();
      const grace = setTimeout(() => {
        this.graceOver = true;
        for (const conn of this.secured.values()) {
          if (conn.served === 0) conn.socket.destroy();
          // end(), not destroy(): the last answer may still be in the socket's buffer.
          else if (conn.inFlight === 0) conn.socket.end();
        }
      }, Math.min(headersMs, NEW_CONNECTION_GRACE_MS));
      grace.unref();
      // Stop listening without https.Server#close, which would also destroy every connection with
      // no request being parsed, new ones included: a client whose first request was still on the
      // wire would get a reset for a request it sent before the shutdown. Keep-alive connections
      // between two requests are not ended now either (as Go's Shutdown does): a busy client sends
      // its next request as soon as it has read an answer, so under load about half of them have
      // one on the wire, which ending them would lose (4 to 6 per SIGTERM with 8 busy clients).
      // Every connection gets NEW_CONNECTION_GRACE_MS: a request in it is answered with
      // Connection: close and its connection closes after the answer; at the end of the grace,
      // connections that never sent one are destroyed and idle keep-alive ones ended.
      NetServer.prototype.close.call(server, () => {
        clearTimeout(deadline);
        clearTimeout(grace);
        log({ level: 'info', msg: 'stopped' });
        resolve();
      });
    });
  }
}
