/**
 * One bounded HTTPS exchange with a registry: at most `maxRedirects` redirects (GET and HEAD only,
 * never to plain http, the Authorization header dropped when the origin changes), a body read up to
 * `maxBodyBytes` and refused past it, and everything cut by the caller's AbortSignal (the review's
 * deadline). Failures are `RegistryHttpError`s with a short `kind` a warning can show (`tls`, `dns`,
 * `refused`, ...), never a hang.
 *
 * node:https rather than fetch: it takes a `ca` and a `lookup` per request (the tests use both:
 * their own CA, and a resolver that fails), and it lets the body be cut at a byte count.
 * Registries are trusted through Node's defaults (its bundled Mozilla list, NODE_EXTRA_CA_CERTS) and
 * the operating system's store (./trust.ts).
 */
import type { LookupFunction } from 'node:net';
import type { Agent } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { SecureContext } from 'node:tls';
import { registryContext } from './trust.js';

export type HttpFailure = 'tls' | 'dns' | 'refused' | 'reset' | 'timeout' | 'too-large' | 'redirects' | 'protocol';

/** A request that did not get a usable answer; `kind` says why in a word, `message` in a sentence. */
export class RegistryHttpError extends Error {
  override readonly name = 'RegistryHttpError';
  readonly kind: HttpFailure;
  constructor(kind: HttpFailure, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}

export interface HttpOptions {
  /** CA certificates (PEM) trusted instead of the defaults and the store's: the tests' CA. */
  readonly ca?: string | undefined;
  /** DNS lookup (tests inject failures). */
  readonly lookup?: LookupFunction | undefined;
  readonly agent?: Agent | undefined;
}

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** Bodies longer than this are refused (`too-large`); 0 reads none. */
  readonly maxBodyBytes: number;
  readonly maxRedirects: number;
  readonly signal: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The URL that answered (after redirects). */
  readonly url: URL;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

function classify(e: unknown, url: URL): RegistryHttpError {
  if (e instanceof RegistryHttpError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? '';
  const host = url.host;
  const name = (e as Error | undefined)?.name ?? '';
  if (name === 'AbortError' || code === 'ABORT_ERR') return new RegistryHttpError('timeout', `no answer from ${host} within the deadline`, { cause: e });
  if (TLS_CODES.test(code)) return new RegistryHttpError('tls', `TLS error with ${host} (${code})`, { cause: e });
  // OpenSSL's "wrong version number": the first bytes back were not TLS, most often a registry
  // that speaks plain HTTP (a kind cluster's local registry), which the kubelet may pull from.
  if (code === 'EPROTO') {
    const plain = /wrong version number|packet length too long|http request/i.test((e as Error | undefined)?.message ?? '');
    return new RegistryHttpError('tls', `TLS error with ${host} (EPROTO${plain ? ': it does not answer in TLS; registries are checked over HTTPS only' : ''})`, { cause: e });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NODATA') {
    return new RegistryHttpError('dns', `cannot resolve ${url.hostname} (${code})`, { cause: e });
  }
  if (code === 'ECONNREFUSED') return new RegistryHttpError('refused', `connection refused by ${host}`, { cause: e });
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE') return new RegistryHttpError('reset', `connection to ${host} reset`, { cause: e });
  const text = code === '' ? String((e as Error | undefined)?.message ?? e).slice(0, 120) : code;
  return new RegistryHttpError('protocol', `cannot talk to ${host} (${text})`, { cause: e });
}

/** An unread body is drained (so that its connection is reused) up to this much, then cut. */
const DRAIN_BYTES = 64 * 1024;
const DRAIN_MS = 1000;

function drain(res: IncomingMessage): void {
  let size = 0;
  const timer = setTimeout(() => {
    res.destroy();
  }, DRAIN_MS);
  timer.unref();
  res.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > DRAIN_BYTES) res.destroy();
  });
  res.on('close', () => {
    clearTimeout(timer);
  });
  res.on('error', () => undefined);
  res.resume();
}

type Https = typeof import('node:https');
interface Transport {
  readonly request: Https['request'];
  /** The trusted CAs with the store's (./trust.ts); undefined: Node's own. */
  readonly context: SecureContext | undefined;
}
let transport: Promise<Transport> | undefined;
/**
 * node:https, loaded at the first existence check: with its graph (tls, net, http, streams) it is
 * a good part of a cold start's module loading, and a configuration without `verify` never needs it
 * (docs/performance.md, "Cold start"). The CAs are read then too, once.
 */
const loadTransport = (): Promise<Transport> =>
  (transport ??= Promise.all([import('node:https'), import('node:tls')]).then(([https, tls]) => ({ request: https.request, context: registryContext(tls) })));

/**
 * Failures of a request sent on a kept-alive connection that the registry had closed meanwhile:
 * reset before any answer. Its idle timeout passed (a Lambda environment frozen past it keeps such
 * connections in Node's pool), and the request was never seen: it is sent again once, on a new
 * connection, as Node's documentation advises (http.ClientRequest's `reusedSocket`). Such a
 * reset was an unreachable registry: the rewrite left out (onUnreachable) and the breaker counting.
 */
const staleConnection = new WeakSet<RegistryHttpError>();

function once({ request, context }: Transport, req: HttpRequest, url: URL, headers: Readonly<Record<string, string>>, options: HttpOptions, fresh = false): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let answered = false;
    const fail = (e: unknown): void => {
      if (settled) return;
      settled = true;
      const error = classify(e, url);
      if (error.kind === 'reset' && !answered && r?.reusedSocket === true) staleConnection.add(error);
      reject(error);
    };
    let r: ReturnType<typeof request> | undefined;
    // Node.js opens the connection even for a request whose signal has aborted: a check cut by
    // the deadline while it read its credentials would connect only to drop the connection.
    if (req.signal.aborted) {
      fail(req.signal.reason);
      return;
    }
    try {
      r = request(url, {
        method: req.method,
        headers,
        signal: req.signal,
        // The caller's CAs replace every other (the tests' own CA), else the defaults and the store's.
        ...(options.ca !== undefined ? { ca: options.ca } : context === undefined ? {} : { secureContext: context }),
        ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
        // A retry after a stale connection: a new one, not another from the pool.
        ...(fresh ? { agent: false } : options.agent === undefined ? {} : { agent: options.agent }),
      });
    } catch (e) {
      fail(e);
      return;
    }
    r.on('error', fail);
    r.on('response', (res) => {
      answered = true;
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      // A redirect's or an error's body (any status from 300) is not read: only its status and headers matter.
      const wanted = status >= 300 || req.method === 'HEAD' ? 0 : req.maxBodyBytes;
      const declared = Number(res.headers['content-length']);
      if (wanted > 0 && Number.isFinite(declared) && declared > wanted) {
        res.destroy();
        fail(new RegistryHttpError('too-large', `the answer of ${url.host} is larger than ${wanted} bytes`));
        return;
      }
      if (wanted === 0) {
        // Only the status and headers are used: answered now, not when the body ends (a 404 or a
        // 401 whose body trickled, or never ended, was cut by the deadline: unreachable, and a
        // failure of the registry, instead of missing). The body is drained for the connection's
        // reuse, within DRAIN_BYTES and DRAIN_MS.
        settled = true;
        resolve({ status, headers: res.headers, body: Buffer.alloc(0), url });
        drain(res);
        return;
      }
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > wanted) {
          res.destroy();
          fail(new RegistryHttpError('too-large', `the answer of ${url.host} is larger than ${wanted} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', fail);
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks), url });
      });
    });
    r.end();
  });
}

/** Send the request, following redirects within the limits. Throws `RegistryHttpError`. */
export async function send(req: HttpRequest, options: HttpOptions = {}): Promise<HttpResponse> {
  let url = req.url;
  let headers = req.headers;
  const https = await loadTransport();
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'https:') throw new RegistryHttpError('protocol', `refusing to call ${url.host} over ${url.protocol.replace(':', '')}: registries are reached over HTTPS`);
    const res = await once(https, req, url, headers, options).catch((e: unknown) => {
      if (!(e instanceof RegistryHttpError) || !staleConnection.has(e) || req.signal.aborted) throw e;
      return once(https, req, url, headers, options, true);
    });
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || location === undefined) return res;
    if (hop >= req.maxRedirects) throw new RegistryHttpError('redirects', `more than ${req.maxRedirects} redirects from ${req.url.host}`);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch (e) {
      throw new RegistryHttpError('protocol', `${url.host} redirected to an invalid URL`, { cause: e });
    }
    if (next.origin !== url.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
    }
    url = next;
  }
}
