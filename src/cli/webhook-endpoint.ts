/**
 * Where the API server sends the reviews: the webhook's clientConfig, for `webhook-config`
 * (src/cli/webhook-config.ts). Either `--url` (API Gateway, or any https endpoint the control plane
 * reaches) or `--service NAMESPACE/NAME[:PORT]` with `--token` (`serve` behind a Service: the API
 * server resolves the Service itself, where a `*.svc` URL generally does not resolve from a managed
 * control plane such as EKS's). Pure: the API server's checks, said in terms of the flags, made
 * before anything reaches kubectl; and the CA bundle's.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { MIN_TOKEN_LENGTH, TOKEN_CHARS, tokenProblem } from '../config/token-check.js';
import { oneLine } from '../core/json.js';
import { foreignCharacter, foreignNote } from '../core/reference.js';
import { DNS_LABEL_RULE, isDnsLabel, isDnsSubdomain } from './common.js';

/** A name given on the command line, in a message that refuses it: escaped, and where a look-alike or invisible character is. */
export const shownValue = (value: string): string => `${oneLine(value)}${foreignNote(value)}`;

/** The port the API server calls a Service on when none is given (its own default). */
const DEFAULT_SERVICE_PORT = 443;
const MAX_PORT = 65535;
/** The path of `serve`'s route; the token is its last segment. */
const MUTATE_PATH = '/mutate/';

/** clientConfig.service: a Service the API server resolves and calls over TLS, at `NAME.NAMESPACE.svc`. */
export interface ServiceReference {
  readonly namespace: string;
  readonly name: string;
  readonly path: string;
  readonly port: number;
}

export type ClientConfig =
  | { readonly url: string; readonly caBundle?: string }
  | { readonly service: ServiceReference; readonly caBundle?: string };

/**
 * `url` as an error may quote it: up to its host and port, its path left out, since the path
 * ends in the webhook token and errors end up in CI logs (`http://example.com/...`).
 */
function withoutPath(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length);
  const slash = rest.indexOf('/');
  return slash === -1 ? url : `${scheme}${rest.slice(0, slash)}/...`;
}

/** Why `url` cannot be a webhook's clientConfig.url (the API server's rules, and no whitespace), or undefined. Never quotes its path. */
export function urlProblem(url: string): string | undefined {
  if (url === '') return '--url must not be empty';
  // A zero-width space or a Cyrillic look-alike as well (not in the \s class): the API server takes
  // the URL, then its calls reach no route (a token that is not the one served) or no host (Go does
  // not IDNA-encode a host). Said where, without the URL: its path is the token.
  const foreign = foreignCharacter(url);
  if (foreign !== undefined) return `--url must not contain spaces or control characters, nor any other character than printable ASCII: ${foreign}`;
  if (!/^https:\/\//i.test(url)) return `--url must be an https:// URL (the API server calls webhooks over TLS only): ${withoutPath(url)}`;
  if (url.includes('#')) return '--url must not have a fragment ("#...")';
  if (url.includes('?')) return '--url must not have a query ("?..."): the webhook token goes in the path, /mutate/<token>';
  // WHATWG URLs forgive things Go's url.Parse (the API server) does not: check the authority as written.
  const authority = url.slice('https://'.length).split('/')[0] ?? '';
  if (authority === '' || authority.startsWith(':')) return `--url must have a host: ${withoutPath(url)}`;
  if (url.includes('\\')) return '--url must not contain a backslash';
  // Go's url.Parse (the API server's check) refuses it ("invalid URL escape"); WHATWG URLs keep it as text.
  if (/%(?![0-9A-Fa-f]{2})/.test(url)) return '--url has a "%" not followed by two hexadecimal digits (an invalid escape, which the API server refuses; write "%" itself as %25)';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--url is not a valid URL: ${withoutPath(url)}`;
  }
  if (authority.includes('@') || parsed.username !== '' || parsed.password !== '') return '--url must not contain a user or password ("user:password@")';
  if (parsed.hostname === '') return '--url must have a host';
  // Go's url.Parse and the API server accept port 0, but no connection reaches it (--service refuses it too).
  if (parsed.port === '0') return `--url port must be a whole number from 1 to 65535: ${withoutPath(url)}`;
  // The stack's APIGatewayURL output with an empty token after it (`${URL}${TOKEN}` when reading the
  // token failed): no route answers it (API Gateway 403, serve 404), and with failurePolicy Ignore
  // every Pod would be admitted unrewritten without a sign.
  if (parsed.pathname.endsWith('/mutate/')) return `--url ends in /mutate/ with no webhook token after it (was the token empty?): ${url}`;
  // A token our endpoints would refuse (too short, a placeholder, a SecureString's ciphertext) is a
  // warning, not an error: urlWarning.
  return undefined;
}

/** A token parameter read during a rotation holds `NEW,OLD` (src/config/token-check.ts): the URL takes NEW. */
const TWO_TOKENS = 'two webhook tokens separated by a comma (NEW,OLD: what the token parameter holds during a rotation)';

/** The segment after the last `/mutate/` of a URL's path, if it has one. */
function tokenAfterMutate(pathname: string): string | undefined {
  const at = pathname.lastIndexOf(MUTATE_PATH);
  return at < 0 ? undefined : pathname.slice(at + MUTATE_PATH.length);
}

/**
 * The warning of `--failure-policy Fail`. The API server's error for a webhook call that got no
 * HTTP answer quotes the URL (`Post "https://.../mutate/<token>?timeout=5s": ...`); with Ignore it
 * goes to the API server's log only, with Fail it is the answer the requester gets, so whoever may
 * create a Pod reads the token whenever the webhook is down or slow (docs/security.md, "The webhook token").
 */
export const FAIL_TOKEN_WARNING =
  '--failure-policy Fail: the API server answers a request whose webhook call failed (a timeout, a refused connection, a TLS error) with an error quoting the webhook URL, its /mutate/<token> included, so whoever may create Pods can read the token then; let only the API server reach the endpoint (AllowedSourceCidrs or a private endpoint; for serve, a NetworkPolicy) and rotate the token if it was shown (docs/security.md)';

/**
 * `webhook-config`'s warnings about where it sends the API server: the URL's token (urlWarning), and
 * with Fail, that a failed call shows the token (FAIL_TOKEN_WARNING) when there is one to show:
 * `--service` always has one, a URL only with a segment after /mutate/ (not `serve
 * --allow-unauthenticated`'s `.../mutate`).
 */
export function endpointWarnings(url: string | undefined, failurePolicy: 'Ignore' | 'Fail' = 'Ignore'): string[] {
  const warnings: string[] = [];
  const tokenWarning = url === undefined ? undefined : urlWarning(url, failurePolicy);
  if (tokenWarning !== undefined) warnings.push(tokenWarning);
  let showsToken = url === undefined;
  try {
    if (url !== undefined) showsToken = (tokenAfterMutate(new URL(url).pathname) ?? '') !== '';
  } catch {
    // not a URL: urlProblem refused it before
  }
  if (failurePolicy === 'Fail' && showsToken) warnings.push(FAIL_TOKEN_WARNING);
  return warnings;
}

/**
 * A warning for a URL the API server can call but our endpoints would refuse: a token after
 * /mutate/ shorter than every adapter accepts, or with other characters (a SecureString's
 * ciphertext read without --with-decryption: "+", "/", "="): every call refused (401 or 403) and,
 * with failurePolicy Ignore, every Pod admitted unrewritten without a sign. Not an error: the URL
 * may name another endpoint, or be a placeholder (`<token>`) edited before it is applied.
 */
export function urlWarning(url: string, failurePolicy: 'Ignore' | 'Fail' = 'Ignore'): string | undefined {
  let token: string | undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
    token = tokenAfterMutate(parsed.pathname);
  } catch {
    return undefined;
  }
  const consequence = `so every call would be refused (401) and, with failurePolicy ${failurePolicy}, every Pod ${failurePolicy === 'Fail' ? 'sent to the webhook refused' : 'admitted unrewritten'}`;
  if (token === undefined) return awsUrlWithoutToken(parsed, consequence);
  if (token.includes(',')) return `${TWO_TOKENS} after /mutate/; put the first alone in the URL, ${consequence}`;
  if (!TOKEN_CHARS.test(token)) {
    return `the webhook token after /mutate/ has characters the Lambda and serve refuse (only A-Z a-z 0-9 . _ ~ -; an SSM SecureString read without --with-decryption is its ciphertext), ${consequence}`;
  }
  if (token.length >= MIN_TOKEN_LENGTH) return undefined;
  return `the webhook token after /mutate/ has ${token.length} characters; the Lambda and serve refuse tokens shorter than ${MIN_TOKEN_LENGTH}, ${consequence}`;
}

/**
 * An AWS endpoint's URL that cannot reach the webhook with its token: the template's API only
 * routes `/mutate/{token}` (any other path gets API Gateway's 403), and the Lambda handler reads
 * the token from the last path segment, so a function URL with no path has none. Other hosts are
 * left alone: they may be a proxy that adds the token, or a `serve` without one.
 */
function awsUrlWithoutToken(url: URL, consequence: string): string | undefined {
  const host = url.hostname.toLowerCase();
  if (/\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(host)) {
    return `the URL is an API Gateway endpoint without /mutate/<token> in its path (the stack's APIGatewayURL output followed by the token), ${consequence.replace('(401)', '(403)')}`;
  }
  if (/\.lambda-url\.[a-z0-9-]+\.on\.aws$/.test(host) && url.pathname.split('/').every((s) => s === '')) {
    return `the URL is a Lambda function URL with no webhook token in its path (/mutate/<token>), ${consequence}`;
  }
  return undefined;
}

const SERVICE_TOKEN_RULE =
  'with --service must be lower-case letters, digits, "-" and "." (starting and ending with a letter or digit, at most 253 characters): the API server refuses any other path segment for a Service (e.g. a token made with openssl rand -hex 32)';
const SERVICE_FORM = '--service must be NAMESPACE/NAME or NAMESPACE/NAME:PORT (e.g. image-rewriter/image-rewriter:443)';

/** `NAMESPACE/NAME[:PORT]` and the token as clientConfig.service, or every problem with them. */
export function parseService(spec: string, token: string | undefined): { readonly service?: ServiceReference; readonly problems: string[] } {
  const problems: string[] = [];
  const m = /^([^/:]*)\/([^/:]*)(?::(.*))?$/.exec(spec);
  const [, namespace = '', name = '', portText] = m ?? [];
  // Digits only: Number() would take " 8443", "0x20fb" and "8e3".
  const port = portText === undefined ? DEFAULT_SERVICE_PORT : /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (m === null) {
    problems.push(`${SERVICE_FORM}: ${oneLine(spec)}`);
  } else {
    for (const [what, value] of [['namespace', namespace], ['name', name]] as const) {
      if (value === '') problems.push(`${SERVICE_FORM}: the ${what} is empty: ${oneLine(spec)}`);
      else if (!isDnsLabel(value)) problems.push(`--service ${what} must be ${DNS_LABEL_RULE}: ${shownValue(value)}`);
    }
    if (!(port >= 1 && port <= MAX_PORT)) problems.push(`--service port must be a whole number from 1 to ${MAX_PORT} (the Service's port, not the container's; default ${DEFAULT_SERVICE_PORT}): ${oneLine(spec)}`);
  }
  const tokenP = serviceTokenProblem(token);
  if (tokenP !== undefined) problems.push(tokenP);
  if (problems.length > 0 || token === undefined) return { problems };
  return { service: { namespace, name, path: `${MUTATE_PATH}${token}`, port }, problems };
}

/**
 * The token `serve` requires as the path's last segment. Missing or empty is refused as --url's
 * `/mutate/` with nothing after it is: no route would answer, and with failurePolicy Ignore every
 * Pod would be admitted unrewritten without a sign. Otherwise the check every adapter makes of a
 * token (serve would refuse to start with one that fails it), which also keeps the path one segment.
 */
function serviceTokenProblem(token: string | undefined): string | undefined {
  if (token === undefined) return `--service needs --token TOKEN: serve's webhook token, which the API server sends as the path's last segment (${MUTATE_PATH}<token>)`;
  if (token.trim() === '') return `--token is empty (was the token empty?): the path would end in ${MUTATE_PATH} with no webhook token after it`;
  if (token.includes(',')) return `--token: ${TWO_TOKENS}; give the first alone`;
  const p = tokenProblem(token);
  if (p !== undefined) return `--token ${p}`;
  // The API server refuses a Service path whose segments are not DNS-1123 subdomains (the URL form
  // has no such rule): a base64url token such as the stack's, with capitals or "_", would be accepted
  // here and the configuration then refused by kubectl apply.
  if (!isDnsSubdomain(token)) return `--token ${SERVICE_TOKEN_RULE}`;
  return undefined;
}

/** The host name the API server checks the endpoint's certificate for. */
export const serviceHost = (s: ServiceReference): string => `${s.name}.${s.namespace}.svc`;

/**
 * The host whose certificate the API server will check against its system trust roots when there
 * is no CA bundle, if it cannot have a publicly trusted certificate (an IP, localhost, a single
 * label, a Service's `NAME.NAMESPACE.svc`); undefined when it can (API Gateway).
 */
export function privateHostWithoutCa(clientConfig: ClientConfig): string | undefined {
  if (clientConfig.caBundle !== undefined) return undefined;
  if ('service' in clientConfig) return serviceHost(clientConfig.service);
  const host = new URL(clientConfig.url).hostname.replace(/^\[|\]$/g, '');
  return isIP(host) !== 0 || host === 'localhost' || !host.includes('.') ? host : undefined;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** A CA bundle must be PEM certificates, at least one, and nothing secret. */
export function caBundleProblem(pem: string): string | undefined {
  if (pem.includes('PRIVATE KEY-----')) return '--ca-bundle holds a private key: give the CA certificate only';
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return '--ca-bundle holds no PEM certificate ("-----BEGIN CERTIFICATE-----")';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (e) {
      return `--ca-bundle certificate ${i + 1} does not parse: ${(e as Error).message}`;
    }
  }
  return undefined;
}
