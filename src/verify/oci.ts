/**
 * Does an OCI registry have a manifest? `HEAD /v2/<name>/manifests/<reference>` (a `GET` when
 * platforms are wanted, to read the index, or when the registry answers the HEAD 405) with the
 * Accept headers of OCI and Docker manifests and indexes, and the distribution token flow
 * (docs/verify.md):
 * - a 401 with `WWW-Authenticate: Bearer realm=...,service=...` gets a token from the realm for
 *   `repository:<name>:pull` (anonymously, or with the registry's credentials as basic auth) and
 *   retries with it; tokens are kept per registry and scope until they expire;
 * - a 401 with `Basic` retries with the credentials when there are some;
 * - a 401 from another host the registry redirected to is answered with that host's own challenge
 *   and credentials (never the registry's), and that host asked again directly.
 * 200 is present (unless it is a web page: text/*), 404 missing (unless it is a web page:
 * text/html); anything else is an error (the rule's onUnreachable decides).
 */
import { type HttpOptions, type HttpResponse, RegistryHttpError, send } from './http.js';
import type { TtlCache } from './cache.js';
import { ACCEPT, configPlatform, lackReason, manifestShape, type Platform } from './platform.js';
import type { RegistryTarget } from './target.js';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

export type CheckOutcome =
  | { readonly status: 'present' }
  | { readonly status: 'missing'; readonly reason: string }
  | {
      readonly status: 'error';
      readonly reason: string;
      /**
       * The registry answered, for this repository only (a refusal, 401/403; an ECR pull-through
       * cache whose upstream failed): it is up, so its circuit breaker does not count this as a
       * failure (one private repository, or one cache's upstream, must not cut the checks of all
       * the other repositories of the same registry).
       */
      readonly answered?: true;
    };

/** Credentials for a registry host; `unavailable` says why none could be read (shown on a 401). */
export interface CredentialLookup {
  readonly credentials: RegistryCredentials | undefined;
  readonly unavailable?: string;
}

export interface OciDeps extends HttpOptions {
  readonly credentials: (registry: string, signal: AbortSignal) => Promise<CredentialLookup>;
  /** Bearer tokens by `registry scope`. */
  readonly tokens: TtlCache<string>;
}

/** Manifests are at most 4 MiB in the distribution registry; so are the configs read here. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_TOKEN_BYTES = 64 * 1024;
export const MAX_REDIRECTS = 3;
/** A token without `expires_in` lasts 60 s (the distribution token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
/** Tokens are dropped this long before they expire. */
const TOKEN_MARGIN_MS = 5000;

export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * `Bearer realm="https://auth.example/token",service="registry"` -> scheme and parameters (RFC 7235).
 * A 401 may carry several challenges (several headers, which Node joins with ", ", or one list):
 * the Bearer one is taken when there is one, as the token flow works with and without
 * credentials, else the first (containerd likewise skips a Basic challenge it cannot answer).
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined) return undefined;
  const text = header.slice(0, 4096);
  const challenges: Challenge[] = [];
  const schemeRe = /\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)(?=\s|,|$)\s*/y;
  const paramRe = /([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?\s*/y;
  let pos = 0;
  for (let m = schemeRe.exec(text); m !== null; schemeRe.lastIndex = pos, m = schemeRe.exec(text)) {
    const params: Record<string, string> = {};
    paramRe.lastIndex = schemeRe.lastIndex;
    let p: RegExpExecArray | null;
    while ((p = paramRe.exec(text)) !== null) {
      const key = p[1] ?? '';
      const quoted: string | undefined = p[2];
      const bare: string | undefined = p[3];
      params[key.toLowerCase()] = quoted === undefined ? (bare ?? '') : quoted.replace(/\\(.)/g, '$1');
      pos = paramRe.lastIndex;
    }
    pos = Math.max(pos, schemeRe.lastIndex);
    challenges.push({ scheme: (m[1] ?? '').toLowerCase(), params });
    if (pos >= text.length) break;
  }
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges[0];
}

const basic = (c: RegistryCredentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;

/**
 * The token service refused the request (401/403): like the registry's own refusal, an answer about
 * this scope (a private repository, or credentials it does not accept), not a failure of the registry.
 */
type TokenAnswer = { readonly token: string; readonly ttlMs: number } | { readonly refused: string };

async function fetchToken(challenge: Challenge, scope: string, creds: RegistryCredentials | undefined, signal: AbortSignal, deps: OciDeps): Promise<TokenAnswer> {
  const realm = challenge.params['realm'];
  if (realm === undefined || realm === '') throw new RegistryHttpError('protocol', 'the registry asked for a bearer token without a realm');
  let url: URL;
  try {
    url = new URL(realm);
  } catch (e) {
    throw new RegistryHttpError('protocol', 'the registry named an invalid token realm', { cause: e });
  }
  const service = challenge.params['service'];
  if (service !== undefined) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (creds !== undefined) headers['authorization'] = basic(creds);
  const res = await send({ method: 'GET', url, headers, maxBodyBytes: MAX_TOKEN_BYTES, maxRedirects: MAX_REDIRECTS, signal }, deps);
  if (res.status === 401 || res.status === 403) return { refused: `the token service ${url.host} refused the ${creds === undefined ? 'anonymous ' : ''}request (${res.status})` };
  if (res.status !== 200) throw new RegistryHttpError('protocol', `the token service ${url.host} answered ${res.status}`);
  let doc: unknown;
  try {
    doc = JSON.parse(res.body.toString('utf8'));
  } catch (e) {
    throw new RegistryHttpError('protocol', `the token service ${url.host} answered something that is not JSON`, { cause: e });
  }
  const rec = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
  const token = rec['token'] ?? rec['access_token'];
  if (typeof token !== 'string' || token === '' || token.length > MAX_TOKEN_BYTES) throw new RegistryHttpError('protocol', `the token service ${url.host} answered without a token`);
  const expires = typeof rec['expires_in'] === 'number' && rec['expires_in'] > 0 ? rec['expires_in'] : DEFAULT_TOKEN_SECONDS;
  return { token, ttlMs: Math.min(expires, 3600) * 1000 - TOKEN_MARGIN_MS };
}

function manifestUrl(target: RegistryTarget, path: 'manifests' | 'blobs', ref: string): URL {
  return new URL(`${target.base}/v2/${target.repository}/${path}/${encodeURIComponent(ref).replace(/%3A/g, ':')}`);
}

/**
 * How a challenge was answered: with `host`'s registry credentials, or anonymously. A refusal says
 * which, since "refused access (401)" alone reads the same for a password the registry refuses and
 * for an entry the lookup never found (a host key written otherwise).
 */
interface Asked {
  readonly host: string;
  readonly withCredentials: boolean;
  /** A 401 whose challenge is neither Bearer nor Basic (none at all, `Negotiate`): no credentials could answer it. */
  readonly unanswerable?: string;
}

/**
 * The answer of the registry once authorized (or not), or the refusal of its token service (or a
 * challenge the deadline cut while the credentials were read): an answer for this repository, not a
 * failure of the registry.
 */
type Authorized =
  | { readonly res: HttpResponse; readonly unavailable: string | undefined; readonly asked?: Asked }
  | { readonly refused: string; readonly unavailable: string | undefined };

/** The repository a registry API URL names (`/v2/<name>/manifests/<reference>`, or `blobs`). */
const API_PATH = /^\/v2\/(.+)\/(?:manifests|blobs)\/[^/]+$/;

/**
 * Answer the challenge of a 401 from `host` (the registry, or a host it redirected to) for `scope`,
 * with `host`'s own credentials, and ask again with what it gets (`again`).
 */
async function answerChallenge(res: HttpResponse, host: string, scope: string, again: (authorization: string) => Promise<HttpResponse>, signal: AbortSignal, deps: OciDeps): Promise<Authorized> {
  const header: string | string[] | undefined = res.headers['www-authenticate'];
  const challenge = parseChallenge(typeof header === 'string' ? header : header?.[0]);
  const lookup = await deps.credentials(host, signal);
  // The deadline passed while the credentials were read (a cold start's slow Secrets Manager or SSM
  // read): the host had answered its challenge at once, so this is no failure of it (a request now,
  // with the signal aborted, would read "no answer from HOST" and count against its breaker).
  if (signal.aborted) return { refused: `${host} asked for authentication (${res.status}); the deadline passed while the registry credentials were read`, unavailable: lookup.unavailable };
  const asked: Asked = { host, withCredentials: lookup.credentials !== undefined };
  if (challenge?.scheme === 'bearer') {
    const answer = await fetchToken(challenge, scope, lookup.credentials, signal, deps);
    if ('refused' in answer) return { refused: answer.refused, unavailable: lookup.unavailable };
    deps.tokens.set(`${host} ${scope}`, answer.token, answer.ttlMs);
    return { res: await again(`Bearer ${answer.token}`), unavailable: lookup.unavailable, asked };
  }
  if (challenge?.scheme === 'basic' && lookup.credentials !== undefined) {
    const answered = await again(basic(lookup.credentials));
    // Accepted: the host's next checks send the credentials with their first request (basicKey).
    if (answered.status !== 401) deps.tokens.set(basicKey(host), 'basic', BASIC_MS);
    return { res: answered, unavailable: lookup.unavailable, asked };
  }
  // No challenge credentials can answer: saying "no registry credentials" would send the operator to
  // the secret's host keys, when the entry was found and the host asked for nothing it can take.
  const unanswerable = challenge === undefined ? 'none' : challenge.scheme === 'basic' ? undefined : challenge.scheme;
  return { res, unavailable: lookup.unavailable, asked: { host, withCredentials: false, ...(unanswerable === undefined ? {} : { unanswerable }) } };
}

/**
 * A host whose Basic challenge its credentials answered is sent them with the first request of its
 * next checks for this long, as containerd's authorizer does once a host has challenged it: without
 * it each check cost an anonymous request answered 401, then the same request again. Kept with the
 * bearer tokens (a key no scope has); a host that stops taking them answers 401 and is challenged
 * again as before.
 */
const BASIC_MS = 5 * 60_000;
const basicKey = (host: string): string => `${host} basic`;

/** A GET or HEAD with the token flow. */
async function authorizedSend(target: RegistryTarget, url: URL, method: 'GET' | 'HEAD', accept: string, signal: AbortSignal, deps: OciDeps, maxBodyBytes = method === 'GET' ? MAX_MANIFEST_BYTES : 0): Promise<Authorized> {
  const scope = `repository:${target.repository}:pull`;
  const request = (to: URL, authorization: string | undefined): Promise<HttpResponse> =>
    send({ method, url: to, headers: { accept, ...(authorization === undefined ? {} : { authorization }) }, maxBodyBytes, maxRedirects: MAX_REDIRECTS, signal }, deps);
  const cached = deps.tokens.get(`${target.registry} ${scope}`);
  let authorization = cached === undefined ? undefined : `Bearer ${cached}`;
  let sentBasic = false;
  if (authorization === undefined && deps.tokens.get(basicKey(target.registry)) !== undefined) {
    const credentials = (await deps.credentials(target.registry, signal)).credentials;
    if (credentials !== undefined) {
      authorization = basic(credentials);
      sentBasic = true;
    }
  }
  const res = await request(url, authorization);
  // A refusal of the credentials sent ahead (403: the account may not pull) says so, as after a challenge.
  if (res.status !== 401) return { res, unavailable: undefined, ...(sentBasic && res.url.origin === url.origin ? { asked: { host: target.registry, withCredentials: true } } : {}) };
  if (res.url.origin === url.origin) return answerChallenge(res, target.registry, scope, (authorization) => request(url, authorization), signal, deps);
  // A 401 from a host the registry redirected to is that host's challenge (registry.k8s.io sends its
  // manifest requests to an Artifact Registry, which wants a token even for anonymous pulls):
  // answered as containerd answers it, for the repository that host's URL names and with that host's
  // own credentials (the registry's never reach its realm), and that URL asked again directly (the
  // redirect would drop the token). Its token is kept for that host.
  const there = res.url;
  const name = API_PATH.exec(there.pathname)?.[1];
  if (name === undefined) return { res, unavailable: undefined };
  const thereScope = `repository:${name}:pull`;
  const token = deps.tokens.get(`${there.host} ${thereScope}`);
  const retried = token === undefined ? res : await request(there, `Bearer ${token}`);
  if (retried.status !== 401 || retried.url.origin !== there.origin) return { res: retried, unavailable: undefined };
  return answerChallenge(retried, there.host, thereScope, (authorization) => request(there, authorization), signal, deps);
}

/** The media type of an answer's Content-Type, in lower case, without its parameters. */
function mediaTypeOf(res: HttpResponse): string {
  return (res.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The registry's answer when it is a 200, else the outcome it makes. */
function answerOf(answer: Authorized, target: RegistryTarget): { readonly ok: true; readonly res: HttpResponse } | { readonly ok: false; readonly outcome: CheckOutcome } {
  const why = answer.unavailable === undefined ? '' : `; registry credentials unavailable: ${answer.unavailable}`;
  if ('refused' in answer) return { ok: false, outcome: { status: 'error', reason: `${answer.refused}${why}`, answered: true } };
  const { res } = answer;
  if (res.status === 200) return { ok: true, res };
  if (res.status === 404) {
    // A registry's 404 is its JSON error or nothing; a web page is a host that is no registry (a
    // mistyped mirror, a proxy's error page), whose "missing" would make `onMissing: deny` refuse
    // every Pod the rule sends there.
    if (mediaTypeOf(res) === 'text/html') return { ok: false, outcome: { status: 'error', reason: `${target.registry} answered 404 with a web page (text/html), not a registry's answer` } };
    return { ok: false, outcome: { status: 'missing', reason: `not found in ${target.registry}` } };
  }
  if (res.status === 401 || res.status === 403) {
    // Which request was refused (after a challenge was answered; a first answer of 403 is left as it
    // is), told at the reason's end, which is what a warning cut to its length keeps.
    const asked = answer.asked;
    const how =
      asked === undefined
        ? ''
        : asked.withCredentials
          ? ` with the registry credentials for ${asked.host}: wrong, or without pull access`
          : asked.unanswerable !== undefined
            ? ` to an anonymous request: ${asked.host} asked for no Bearer or Basic authentication (challenge: ${asked.unanswerable.slice(0, 40)})`
            : ` to an anonymous request${answer.unavailable === undefined ? `: no registry credentials for ${asked.host}` : ''}`;
    return { ok: false, outcome: { status: 'error', reason: `${target.registry} refused access (${res.status})${how}${why}`, answered: true } };
  }
  return { ok: false, outcome: { status: 'error', reason: `${target.registry} answered ${res.status}` } };
}

/** Check one target; throws `RegistryHttpError` when the registry cannot be talked to. */
export async function checkOci(target: RegistryTarget, platforms: readonly string[], signal: AbortSignal, deps: OciDeps): Promise<CheckOutcome> {
  const url = manifestUrl(target, 'manifests', target.reference);
  let answer = await authorizedSend(target, url, platforms.length > 0 ? 'GET' : 'HEAD', ACCEPT, signal, deps);
  // A registry that does not allow HEAD on manifests (405) still serves the pull's GET: ask again
  // with GET, as containerd does, rather than call the image unreachable. Its body is not read: the
  // status and Content-Type answer, as the HEAD's would have.
  if ('res' in answer && answer.res.status === 405 && platforms.length === 0) answer = await authorizedSend(target, url, 'GET', ACCEPT, signal, deps, 0);
  const manifest = answerOf(answer, target);
  if (!manifest.ok) return manifest.outcome;
  const { res } = manifest;
  // A web server's catch-all page (a host that is no registry, a proxy's login page) answers 200
  // too; a registry answers a manifest in its media type, never in text.
  const mediaType = mediaTypeOf(res);
  if (mediaType.startsWith('text/')) return { status: 'error', reason: `${target.registry} answered a web page (${mediaType}), not a manifest` };
  if (platforms.length === 0) return { status: 'present' };
  // From here the registry has answered for this repository (a manifest it cannot be read by, a
  // config blob it lacks): unusable for this image, but no sign that the registry is down, so
  // these are `answered` and never open its breaker for the other images it serves.
  const ct = res.headers['content-type'];
  const shape = manifestShape(res.body.toString('utf8'), ct);
  let have: readonly Platform[];
  switch (shape.kind) {
    case 'index':
      have = shape.platforms;
      break;
    case 'image': {
      if (shape.configDigest === undefined) return { status: 'error', reason: `${target.registry} answered a manifest without a config`, answered: true };
      let sent: Authorized;
      try {
        sent = await authorizedSend(target, manifestUrl(target, 'blobs', shape.configDigest), 'GET', '*/*', signal, deps);
      } catch (e) {
        // The registry has just answered the manifest: a blob it sends where the check cannot follow
        // (a storage redirect to plain http, a CDN that fails) is about this image, and counting it
        // opened the breaker for every other repository of a registry that answers them all.
        if (!(e instanceof RegistryHttpError)) throw e;
        return { status: 'error', reason: `the config blob of a manifest ${target.registry} has: ${e.message}`, answered: true };
      }
      const blob = answerOf(sent, target);
      if (!blob.ok) return blob.outcome.status === 'missing' ? { status: 'error', reason: `${target.registry} lacks the config blob of a manifest it has`, answered: true } : blob.outcome;
      const p = configPlatform(blob.res.body.toString('utf8'));
      have = p === undefined ? [] : [p];
      break;
    }
    case 'unknown':
      return { status: 'error', reason: `${target.registry} answered a manifest that is not an OCI or Docker manifest`, answered: true };
  }
  const reason = lackReason(target.registry, have, platforms);
  if (reason !== undefined) return { status: 'missing', reason };
  return { status: 'present' };
}
