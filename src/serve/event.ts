/**
 * API Gateway emulation, request side: the routes the server forwards, and the REST proxy event and
 * Lambda context the handler gets for a request, as API Gateway and Lambda would build them
 * (docs/design.md, "Architecture: one pure core, thin adapters").
 */
import { isUtf8 } from 'node:buffer';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';

/** The routes the server forwards to the handler; every other path is a 404 here. */
export interface Route {
  readonly resource: '/mutate' | '/mutate/{token}' | '/healthz';
  readonly pathParameters: Readonly<Record<string, string>> | null;
}

/** The route of a request path, or undefined (a 404); a token that is not valid percent-encoding is no route. */
export function routeOf(path: string): Route | undefined {
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

/** `target[key] = value` as an own property, even for `__proto__` (an assignment would set the prototype). */
function put<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * API Gateway REST semantics: `headers` holds the last value of a repeated header, `multiValueHeaders` all of them.
 * Built in one pass over the raw list, without an intermediate Map (this runs on every request).
 */
function headersOf(raw: readonly string[]): { headers: Record<string, string>; multi: Record<string, string[]> } {
  const headers: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    const value = raw[i + 1] ?? '';
    const list = Object.hasOwn(multi, name) ? multi[name] : undefined;
    if (list === undefined) put(multi, name, [value]);
    else list.push(value);
    put(headers, name, value);
  }
  return { headers, multi };
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

/**
 * The Lambda context of one invocation whose handler has `budgetMs` from now. Its remaining time is
 * counted on the monotonic clock: on the wall clock, a step of NTP during the call made it hours
 * too long, or 0.
 */
export function lambdaContext(requestId: string, budgetMs: number): Context {
  const deadline = performance.now() + budgetMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'image-rewriter-serve',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:image-rewriter-serve',
    memoryLimitInMB: '128',
    awsRequestId: requestId,
    logGroupName: '/local/image-rewriter-serve',
    logStreamName: 'serve',
    getRemainingTimeInMillis: () => Math.max(0, Math.round(deadline - performance.now())),
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the Context type has the deprecated callbacks; a promise handler never calls them
    done: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- as done
    fail: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- as done
    succeed: () => undefined,
  };
}
