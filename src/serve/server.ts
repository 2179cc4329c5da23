/**
 * The local HTTPS adapter (DESIGN.md "thin adapters"): each request becomes an API Gateway REST
 * proxy event for the same handler the Lambda runs, and the handler's result is written back. It is
 * the stand-in for API Gateway in the end-to-end tests, the local development server, and the way
 * to run the webhook inside a cluster, so it is built to face hostile clients.
 *
 * Routes: `/mutate` and `/mutate/<token>` (resource `/mutate/{token}`, `pathParameters.token`) go
 * to the handler with whatever method they came with (it answers 405 to anything but POST);
 * `GET`/`HEAD /healthz` goes to it as a `GET /healthz` event (503 from the server itself while
 * shutting down); anything else is a 404 JSON answer here. Bodies that are not UTF-8 are sent
 * base64 with `isBase64Encoded`, as API Gateway does for binary media types.
 *
 * - TLS 1.2 or newer only; plain HTTP on the port just gets the connection closed.
 * - The certificate and key are reloaded when their files change (fs.watch on their folders plus a
 *   periodic poll, because Kubernetes Secret volumes swap a `..data` symlink); a pair that does not
 *   load is logged and the current one kept.
 * - Every phase is bounded: TLS handshake, request headers, the whole request, socket inactivity,
 *   keep-alive idleness, the handler itself (504 like API Gateway), the body size (413), the number
 *   of connections, and shutdown.
 * - Graceful shutdown: stop accepting, let in-flight requests finish (bounded), close idle
 *   keep-alive connections, then resolve.
 *
 * Logs are structured objects through an injected function; never bodies, never the token (the
 * request path carries it, so only the route's resource is logged).
 */
import { isUtf8 } from 'node:buffer';
import { X509Certificate, createHash, createPrivateKey, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import { type AddressInfo, type DropArgument, Server as NetServer, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { SecureVersion, TLSSocket } from 'node:tls';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { type FileWatch, watchFiles } from '../config/file-watch.js';
import type { Log, LogEntry, LogLevel } from '../observability/log.js';

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
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number;
  /** The handler must answer within this; else 504, as API Gateway does after its 29 s. */
  readonly handlerMs: number;
  /** After an early answer (413, 404), how long the rest of the body is read and dropped so the client sees the answer. */
  readonly lingerMs: number;
  /** `close()` waits this long for in-flight requests, then closes every connection. */
  readonly shutdownMs: number;
  /** How often Node checks the header and request deadlines (its default, 30 s, is too coarse). */
  readonly checkIntervalMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = {
  handshakeMs: 10_000,
  headersMs: 10_000,
  requestMs: 30_000,
  idleSocketMs: 60_000,
  keepAliveMs: 15_000,
  handlerMs: 29_000,
  lingerMs: 2_000,
  shutdownMs: 10_000,
  checkIntervalMs: 1_000,
};

/** Lambda's synchronous invocation payload limit: a bigger request could never reach the real handler. */
export const DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 512;
export const DEFAULT_CERTIFICATE_POLL_MS = 10_000;
/** At shutdown, how long a connection accepted before it has to send its first request. */
export const NEW_CONNECTION_GRACE_MS = 1_000;
export const MIN_TLS_VERSION: SecureVersion = 'TLSv1.2';
/**
 * The cipher suites offered: TLS 1.3's, and for TLS 1.2 only ECDHE key exchange with AEAD ciphers
 * (Mozilla's "intermediate" list). Node's default list ends in `HIGH`, which lets a TLS 1.2 client
 * pick static-RSA key exchange (no forward secrecy) or CBC with SHA-1 MACs.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface ServerOptions {
  readonly handler: ProxyHandler;
  readonly certFile: string;
  readonly keyFile: string;
  /** Address to bind; undefined binds every interface (like `:8443`). */
  readonly host?: string | undefined;
  /** 0 picks a free port (read it from the result). */
  readonly port: number;
  readonly maxBodyBytes?: number | undefined;
  readonly maxConnections?: number | undefined;
  readonly timeouts?: Partial<ServerTimeouts> | undefined;
  /** How often the certificate files are checked besides fs.watch events. */
  readonly certificatePollMs?: number | undefined;
  /** requestContext.stage of the events (default "local"). */
  readonly stage?: string | undefined;
  readonly log?: Log | undefined;
}

export interface RunningServer {
  /** The bound address (`127.0.0.1`, `::`). */
  readonly address: string;
  readonly port: number;
  /** Graceful shutdown; idempotent (every call returns the same promise). */
  close(): Promise<void>;
}

/** Thrown by `startServer` when it cannot start (certificate unusable, address in use). */
export class ServeError extends Error {
  override readonly name = 'ServeError';
}

/** The routes the server forwards to the handler; every other path is a 404 here. */
export interface Route {
  readonly resource: '/mutate' | '/mutate/{token}' | '/healthz';
  readonly pathParameters: Readonly<Record<string, string>> | null;
}

function routeOf(path: string): Route | undefined {
  if (path === '/mutate') return { resource: '/mutate', pathParameters: null };
  if (path === '/healthz') return { resource: '/healthz', pathParameters: null };
  const m = /^\/mutate\/([^/]+)$/.exec(path);
  if (m?.[1] === undefined) return undefined;
  let token: string;
  try {
    token = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  return { resource: '/mutate/{token}', pathParameters: { token } };
}

// ---------------------------------------------------------------------------------------------
// Certificates

interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

interface CertificateInfo {
  readonly subject: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly validTo: string;
  readonly expired: boolean;
}

type PairCheck = { readonly ok: true; readonly info: CertificateInfo } | { readonly ok: false; readonly reason: string };

/** Check that a certificate and key are PEM, belong together and make a TLS context. */
function checkKeyPair(pair: KeyPair, now: number): PairCheck {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pair.cert);
  } catch (e) {
    return { ok: false, reason: `certificate file does not hold a PEM certificate (${(e as Error).message})` };
  }
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (e) {
    return { ok: false, reason: `private key file does not hold a PEM private key (${(e as Error).message})` };
  }
  if (!x509.checkPrivateKey(key)) return { ok: false, reason: 'the private key does not belong to the certificate' };
  try {
    createSecureContext({ cert: pair.cert, key: pair.key, minVersion: MIN_TLS_VERSION, ciphers: TLS_CIPHERS });
  } catch (e) {
    return { ok: false, reason: `cannot make a TLS context (${(e as Error).message})` };
  }
  return {
    ok: true,
    info: {
      subject: x509.subject.replace(/\n/g, ', '),
      serialNumber: x509.serialNumber,
      fingerprint256: x509.fingerprint256,
      validTo: x509.validTo,
      expired: Date.parse(x509.validTo) < now,
    },
  };
}

async function readPair(certFile: string, keyFile: string): Promise<KeyPair | { readonly error: string }> {
  try {
    const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    return { cert, key };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { error: `cannot read ${err.path ?? 'the certificate files'}: ${err.code ?? err.message}` };
  }
}

const digest = (pair: KeyPair): string => createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');

/**
 * Watches the certificate and key files; when their content changes and the new pair loads, it is
 * handed to `apply`; when it does not, the reason is logged once and the current pair stays.
 */
function reloadCertificates(
  initial: KeyPair,
  files: { readonly certFile: string; readonly keyFile: string },
  apply: (pair: KeyPair) => void,
  options: { readonly pollMs: number; readonly log: Log },
): FileWatch {
  const { log } = options;
  let current = initial;
  let lastFailed: string | undefined;
  const failed = (id: string, reason: string): void => {
    if (lastFailed === id) return;
    lastFailed = id;
    log({ level: 'error', msg: 'certificate reload failed; keeping the current certificate', reason });
  };
  const check = async (): Promise<void> => {
    const read = await readPair(files.certFile, files.keyFile);
    if ('error' in read) {
      failed(read.error, read.error);
      return;
    }
    if (read.cert.equals(current.cert) && read.key.equals(current.key)) {
      lastFailed = undefined;
      return;
    }
    const id = digest(read);
    const checked = checkKeyPair(read, Date.now());
    if (!checked.ok) {
      failed(id, checked.reason);
      return;
    }
    try {
      apply(read);
    } catch (e) {
      failed(id, (e as Error).message);
      return;
    }
    current = read;
    lastFailed = undefined;
    log({ level: checked.info.expired ? 'warn' : 'info', msg: 'certificate reloaded', ...checked.info });
  };
  return watchFiles([files.certFile, files.keyFile], check, { ...options, what: 'certificate' });
}

// ---------------------------------------------------------------------------------------------
// Requests

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** Headers the handler may not set: the server owns the connection and the framing. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'te', 'trailer', 'proxy-connection']);

type BodyResult =
  | { readonly kind: 'ok'; readonly body: Buffer }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'aborted' };

/** Read the body up to `limit` bytes; stop keeping it as soon as it is (or is declared) larger. */
function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve({ kind: 'too-large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (r: BodyResult): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        done({ kind: 'too-large' });
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = (): void => {
      done({ kind: 'ok', body: Buffer.concat(chunks, size) });
    };
    const onAbort = (): void => {
      done({ kind: 'aborted' });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
}

/**
 * After an answer sent before the body was read (413, 404), read and drop the rest so the client
 * gets to read the answer instead of a reset (and a keep-alive connection stays usable); a client
 * that sends more than `limit` bytes after the answer, or is still sending after `lingerMs`, is cut off.
 */
function discardRest(req: IncomingMessage, limit: number, lingerMs: number): void {
  if (req.complete) return;
  let dropped = 0;
  const cut = (): void => {
    req.socket.destroy();
  };
  const timer = setTimeout(cut, lingerMs);
  timer.unref();
  const stop = (): void => {
    clearTimeout(timer);
  };
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > limit) {
      stop();
      cut();
    }
  });
  req.once('end', stop);
  req.once('close', stop);
  req.resume();
}

/** API Gateway REST semantics: `headers` holds the last value of a repeated header, `multiValueHeaders` all of them. */
function headersOf(raw: readonly string[]): { headers: Record<string, string>; multi: Record<string, string[]> } {
  const multi = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    const value = raw[i + 1] ?? '';
    const list = multi.get(name);
    if (list === undefined) multi.set(name, [value]);
    else list.push(value);
  }
  // Object.fromEntries defines own properties, so a header named __proto__ stays a plain key.
  return {
    headers: Object.fromEntries([...multi].map(([k, v]) => [k, v[v.length - 1] ?? ''])),
    multi: Object.fromEntries(multi),
  };
}

function queryOf(search: string): { single: Record<string, string> | null; multi: Record<string, string[]> | null } {
  if (search === '') return { single: null, multi: null };
  const multi = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(search)) {
    const list = multi.get(k);
    if (list === undefined) multi.set(k, [v]);
    else list.push(v);
  }
  if (multi.size === 0) return { single: null, multi: null };
  return {
    single: Object.fromEntries([...multi].map(([k, v]) => [k, v[v.length - 1] ?? ''])),
    multi: Object.fromEntries(multi),
  };
}

export interface EventParts {
  readonly method: string;
  readonly path: string;
  readonly search: string;
  readonly route: Route;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly requestId: string;
  readonly requestTimeEpoch: number;
  readonly sourceIp: string;
  readonly userAgent: string | undefined;
  readonly stage: string;
  readonly protocol: string;
}

/** The REST proxy event API Gateway would send for this request. */
export function toProxyEvent(p: EventParts): APIGatewayProxyEvent {
  const { headers, multi } = headersOf(p.rawHeaders);
  const query = queryOf(p.search);
  const utf8 = isUtf8(p.body);
  return {
    resource: p.route.resource,
    path: p.path,
    httpMethod: p.method,
    headers,
    multiValueHeaders: multi,
    queryStringParameters: query.single,
    multiValueQueryStringParameters: query.multi,
    pathParameters: p.route.pathParameters === null ? null : { ...p.route.pathParameters },
    stageVariables: null,
    body: p.body.length === 0 ? null : utf8 ? p.body.toString('utf8') : p.body.toString('base64'),
    isBase64Encoded: p.body.length > 0 && !utf8,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: p.protocol,
      httpMethod: p.method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: p.sourceIp,
        user: null,
        userAgent: p.userAgent ?? null,
        userArn: null,
      },
      path: `/${p.stage}${p.path}`,
      stage: p.stage,
      requestId: p.requestId,
      requestTimeEpoch: p.requestTimeEpoch,
      resourceId: 'local',
      resourcePath: p.route.resource,
    },
  };
}

function lambdaContext(requestId: string, deadline: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'image-rewriter-serve',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:image-rewriter-serve',
    memoryLimitInMB: '128',
    awsRequestId: requestId,
    logGroupName: '/local/image-rewriter-serve',
    logStreamName: 'serve',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    // The deprecated callbacks are part of the Context type; a promise handler never calls them.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    done: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    fail: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    succeed: () => undefined,
  };
}

type Written = { readonly ok: true; readonly status: number; readonly bytes: number } | { readonly ok: false; readonly problem: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isHeaderValue = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** Translate the handler's result to status, headers and body, as API Gateway does; a malformed result is a problem (502). */
function encodeResult(result: unknown): { status: number; headers: Map<string, string[]>; body: Buffer } | string {
  if (!isRecord(result)) return 'the handler did not return an object';
  const { statusCode, body, isBase64Encoded } = result;
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    return 'the handler returned no valid statusCode';
  }
  if (body !== undefined && body !== null && typeof body !== 'string') return 'the handler returned a body that is not a string';
  const headers = new Map<string, string[]>();
  // API Gateway merges both maps; for a name in both, multiValueHeaders wins.
  const multi = result['multiValueHeaders'];
  if (multi !== undefined && multi !== null) {
    if (!isRecord(multi)) return 'the handler returned multiValueHeaders that is not an object';
    for (const [k, values] of Object.entries(multi)) {
      if (!Array.isArray(values) || !values.every(isHeaderValue)) return `the handler returned a bad value for header ${k}`;
      headers.set(k.toLowerCase(), values.map(String));
    }
  }
  const single = result['headers'];
  if (single !== undefined && single !== null) {
    if (!isRecord(single)) return 'the handler returned headers that is not an object';
    for (const [k, v] of Object.entries(single)) {
      if (!isHeaderValue(v)) return `the handler returned a bad value for header ${k}`;
      if (!headers.has(k.toLowerCase())) headers.set(k.toLowerCase(), [String(v)]);
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
  const text = typeof body === 'string' ? body : '';
  return { status: statusCode, headers, body: isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8') };
}

function writeResult(res: ServerResponse, result: unknown): Written {
  const encoded = encodeResult(result);
  if (typeof encoded === 'string') return { ok: false, problem: encoded };
  try {
    for (const [name, values] of encoded.headers) res.setHeader(name, values.length === 1 ? (values[0] ?? '') : values);
  } catch (e) {
    // Invalid header names or values (control characters) throw here, before anything is sent.
    for (const name of encoded.headers.keys()) res.removeHeader(name);
    return { ok: false, problem: `the handler returned an invalid header (${(e as Error).message})` };
  }
  res.setHeader('content-length', encoded.body.length);
  res.writeHead(encoded.status);
  res.end(encoded.body);
  return { ok: true, status: encoded.status, bytes: encoded.body.length };
}

function sendJson(res: ServerResponse, status: number, message: string): number {
  const body = Buffer.from(JSON.stringify({ message }));
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': body.length });
  res.end(body);
  return body.length;
}

/**
 * At most `max` lines per message per window, for connection-level noise a scanner could flood
 * (failed handshakes, timeouts, drops); then one line says how many were left out.
 */
function throttled(log: Log, max: number, windowMs: number): Log {
  const windows = new Map<string, { start: number; count: number; suppressed: number }>();
  return (entry) => {
    const now = Date.now();
    let w = windows.get(entry.msg);
    if (w === undefined || now - w.start >= windowMs) {
      if (w !== undefined && w.suppressed > 0) log({ level: 'warn', msg: 'log lines suppressed', suppressedMsg: entry.msg, suppressed: w.suppressed, windowMs });
      w = { start: now, count: 0, suppressed: 0 };
      windows.set(entry.msg, w);
    }
    if (w.count < max) {
      w.count++;
      log(entry);
    } else {
      w.suppressed++;
    }
  };
}

function positiveInteger(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new ServeError(`${name} must be a positive integer (got ${v})`);
  return v;
}

/**
 * Start the HTTPS server. Resolves once it listens; rejects with a `ServeError` when the certificate
 * pair does not load or the address cannot be bound.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const log: Log = options.log ?? (() => undefined);
  const noisy = throttled(log, 20, 10_000);
  const t: ServerTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  for (const [k, v] of Object.entries(t)) positiveInteger(`timeouts.${k}`, v as number);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const maxConnections = positiveInteger('maxConnections', options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
  const pollMs = positiveInteger('certificatePollMs', options.certificatePollMs ?? DEFAULT_CERTIFICATE_POLL_MS);
  // After an early answer, a client may finish sending up to this much, which is read and dropped.
  const discardBytes = 2 * maxBodyBytes;
  const stage = options.stage ?? 'local';
  const { handler } = options;

  const initial = await readPair(options.certFile, options.keyFile);
  if ('error' in initial) throw new ServeError(initial.error);
  const checked = checkKeyPair(initial, Date.now());
  if (!checked.ok) throw new ServeError(`${options.certFile}, ${options.keyFile}: ${checked.reason}`);
  log({ level: checked.info.expired ? 'warn' : 'info', msg: 'certificate loaded', ...checked.info });

  const tlsOptions = (pair: KeyPair) => ({
    cert: pair.cert,
    key: pair.key,
    minVersion: MIN_TLS_VERSION,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    ALPNProtocols: ['http/1.1'],
  });

  let closing = false;
  const sockets = new Set<Socket>();

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
      const conn = secured.get(req.socket);
      if (conn !== undefined) {
        conn.inFlight++;
        conn.served++;
        res.once('close', () => {
          conn.inFlight--;
        });
      }
      void onRequest(req, res);
    },
  );
  server.maxConnections = maxConnections;
  server.maxHeadersCount = 100;
  server.setTimeout(t.idleSocketMs);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
    noisy({ level: 'info', msg: 'tls handshake failed', code: err.code, reason: err.message.split('\n')[0], sourceIp: socket.remoteAddress });
  });
  server.on('drop', (data?: DropArgument) => {
    noisy({ level: 'warn', msg: 'connection dropped: too many connections', maxConnections, sourceIp: data?.remoteAddress });
  });
  // Sockets past the TLS handshake, how many requests each has in flight and has had (for shutdown).
  const secured = new Map<object, { readonly socket: TLSSocket; inFlight: number; served: number }>();
  // During shutdown, connections accepted before it may still finish their handshake and send their
  // first request until this is set (see close()).
  let graceOver = false;
  server.on('secureConnection', (socket: TLSSocket) => {
    if (closing && graceOver) {
      socket.destroy();
      return;
    }
    secured.set(socket, { socket, inFlight: 0, served: 0 });
    socket.once('close', () => secured.delete(socket));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // A failed handshake is reported here too, and was logged as such above.
    if (!secured.has(socket)) {
      socket.destroy();
      return;
    }
    // It is a TLSSocket; the Duplex type just does not say so.
    const { remoteAddress } = socket as Partial<Pick<Socket, 'remoteAddress'>>;
    // What Node does without a listener (a bare status line, then close), plus a log line.
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    noisy({ level: 'info', msg: 'bad request from client', code: err.code, status, sourceIp: remoteAddress });
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const statusText = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(`HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = performance.now();
    const requestTimeEpoch = Date.now();
    const requestId = randomUUID();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const search = q === -1 ? '' : url.slice(q + 1);
    const route = routeOf(path);
    const sourceIp = req.socket.remoteAddress ?? '';
    res.setHeader('x-request-id', requestId);
    // While shutting down, every answer ends its connection so nothing stays idle.
    const closeIfDraining = (): void => {
      if (closing) res.setHeader('connection', 'close');
    };
    closeIfDraining();
    const done = (fields: { status: number; responseBytes?: number; requestBytes?: number; level?: LogLevel; reason?: string }): void => {
      // Field by field: an object rest and spread here took V8's generic copy on every request.
      const entry: { -readonly [K in keyof LogEntry]: LogEntry[K] } = {
        level: fields.level ?? 'info',
        msg: 'request',
        requestId,
        method,
        resource: route?.resource ?? '(no route)',
        sourceIp,
        durationMs: Math.round((performance.now() - startedAt) * 10) / 10,
        status: fields.status,
      };
      if (fields.responseBytes !== undefined) entry['responseBytes'] = fields.responseBytes;
      if (fields.requestBytes !== undefined) entry['requestBytes'] = fields.requestBytes;
      if (fields.reason !== undefined) entry['reason'] = fields.reason;
      log(entry);
    };

    if (route === undefined) {
      discardRest(req, discardBytes, t.lingerMs);
      done({ status: 404, responseBytes: sendJson(res, 404, 'Not Found') });
      return;
    }
    if (route.resource === '/healthz' && method !== 'GET' && method !== 'HEAD') {
      discardRest(req, discardBytes, t.lingerMs);
      res.setHeader('allow', 'GET, HEAD');
      done({ status: 405, responseBytes: sendJson(res, 405, 'method not allowed: GET /healthz') });
      return;
    }
    if (closing && route.resource === '/healthz') {
      discardRest(req, discardBytes, t.lingerMs);
      done({ status: 503, responseBytes: sendJson(res, 503, 'shutting down') });
      return;
    }
    const read = await readBody(req, maxBodyBytes);
    if (read.kind === 'aborted') {
      done({ status: 0, level: 'info', reason: 'client closed the connection or timed out before sending the whole body' });
      return;
    }
    if (read.kind === 'too-large') {
      discardRest(req, discardBytes, t.lingerMs);
      done({ status: 413, responseBytes: sendJson(res, 413, `request body is larger than ${maxBodyBytes} bytes`) });
      return;
    }
    const event = toProxyEvent({
      // HEAD /healthz is a GET for the handler; Node leaves the body out of the answer.
      method: route.resource === '/healthz' ? 'GET' : method,
      path,
      search,
      route,
      rawHeaders: req.rawHeaders,
      body: read.body,
      requestId,
      requestTimeEpoch,
      sourceIp,
      userAgent: req.headers['user-agent'],
      stage,
      protocol: `HTTP/${req.httpVersion}`,
    });
    const deadline = Date.now() + t.handlerMs;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => handler(event, lambdaContext(requestId, deadline)))
        .then(
          (value) => ({ kind: 'result' as const, value }),
          (error: unknown) => ({ kind: 'error' as const, error }),
        ),
      new Promise<{ kind: 'timeout' }>((resolve) => {
        timer = setTimeout(() => {
          resolve({ kind: 'timeout' });
        }, t.handlerMs);
        // The connection keeps the process alive while it matters; after a forced shutdown it must not.
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    const requestBytes = read.body.length;
    closeIfDraining();
    if (res.destroyed || req.socket.destroyed) {
      done({ status: 0, requestBytes, reason: 'client went away before the answer' });
      return;
    }
    switch (outcome.kind) {
      case 'timeout':
        done({ status: 504, requestBytes, level: 'error', reason: `handler did not answer within ${t.handlerMs} ms`, responseBytes: sendJson(res, 504, 'Endpoint request timed out') });
        return;
      case 'error': {
        const e = outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
        log({ level: 'error', msg: 'handler threw', requestId, error: e.name, reason: e.message });
        done({ status: 500, requestBytes, level: 'error', responseBytes: sendJson(res, 500, 'Internal server error') });
        return;
      }
      case 'result': {
        const written = writeResult(res, outcome.value);
        if (written.ok) {
          done({ status: written.status, requestBytes, responseBytes: written.bytes });
        } else {
          done({ status: 502, requestBytes, level: 'error', reason: written.problem, responseBytes: sendJson(res, 502, 'Internal server error') });
        }
        return;
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(new ServeError(`cannot listen on ${options.host ?? '*'}:${options.port}: ${e.code ?? e.message}`, { cause: e }));
    };
    server.once('error', onError);
    server.listen({ port: options.port, host: options.host }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (e) => {
    log({ level: 'error', msg: 'server error', reason: e.message });
  });

  const reloader = reloadCertificates(
    initial,
    options,
    (pair) => {
      server.setSecureContext(tlsOptions(pair));
    },
    { pollMs, log },
  );

  const bound = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      reloader.close();
      const inFlight = sockets.size;
      log({ level: 'info', msg: 'shutting down', connections: inFlight, shutdownMs: t.shutdownMs });
      const deadline = setTimeout(() => {
        log({ level: 'warn', msg: 'shutdown deadline reached; closing the remaining connections', connections: sockets.size });
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }, t.shutdownMs);
      deadline.unref();
      const grace = setTimeout(() => {
        graceOver = true;
        for (const conn of secured.values()) if (conn.served === 0) conn.socket.destroy();
      }, Math.min(t.headersMs, NEW_CONNECTION_GRACE_MS));
      grace.unref();
      // Stop listening without https.Server#close, which would also destroy every connection with
      // no request being parsed, new ones included: a client whose first request was still on the
      // wire would get a reset for a request it sent before the shutdown. As Go's Shutdown does,
      // keep-alive connections that already had a request and have none in flight are ended now; new
      // connections get NEW_CONNECTION_GRACE_MS to send theirs; the others close after their answer
      // (it says Connection: close).
      NetServer.prototype.close.call(server, () => {
        clearTimeout(deadline);
        clearTimeout(grace);
        log({ level: 'info', msg: 'stopped' });
        resolve();
      });
      // end(), not destroy(): the last answer may still be in the socket's buffer.
      for (const conn of secured.values()) if (conn.inFlight === 0 && conn.served > 0) conn.socket.end();
    });
    return closed;
  };
  return { address: bound.address, port: bound.port, close };
}
