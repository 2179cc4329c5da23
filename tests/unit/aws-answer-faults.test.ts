/**
 * AWS answers that go wrong on the way (a proxy or a broken endpoint between the function and
 * SSM, Secrets Manager or ECR), through the real SDK clients against an HTTP server on 127.0.0.1:
 * headers then a body that stalls or trickles past the read's bound, a 500 without a body, an HTML
 * error page, and JSON of the right shape with values of the wrong type. What must hold: the
 * failure is named for what it was (the bound, the status), in one line, and a value that is not
 * a string is a failed read with a reason, never a TypeError.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ECRClient } from '@aws-sdk/client-ecr';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { resolveToken, ssmRules } from '../../src/config/sources.js';
import { errorDetail, readTokenText } from '../../src/config/token.js';
import { createCredentialsSource } from '../../src/verify/credentials.js';
import { createVerifier } from '../../src/verify/verifier.js';
import { captureObservability } from '../helpers/events.js';

type Fault =
  /** A 200 whose body trickles a byte every 200 ms (and never ends within the bound). */
  | 'drip'
  /** A 200's headers, then nothing. */
  | 'stall'
  | 'empty500'
  | 'html502'
  /** `body` as a 200 JSON answer. */
  | { readonly body: unknown }
  /** `page` (not JSON) as the answer, with `status`. */
  | { readonly status: number; readonly page: string }
  /** A 503 asking to be tried again after `retryAfter` seconds (a throttling proxy), with `body` (JSON, or none). */
  | { readonly retryAfter: string; readonly body: string };

let fault: Fault = 'stall';
let requests = 0;
let server: Server | undefined;
let endpoint = '';
const open = new Set<ServerResponse>();

function answer(req: IncomingMessage, res: ServerResponse): void {
  requests++;
  open.add(res);
  res.on('close', () => open.delete(res));
  req.resume();
  const json = { 'content-type': 'application/x-amz-json-1.1' };
  if (fault === 'drip' || fault === 'stall') {
    res.writeHead(200, { ...json, 'content-length': '4096' });
    res.flushHeaders();
    if (fault === 'stall') return;
    const timer = setInterval(() => {
      res.write(' ');
    }, 200);
    res.on('close', () => { clearInterval(timer); });
  } else if (fault === 'empty500') {
    res.writeHead(500, { 'content-length': '0' }).end();
  } else if (fault === 'html502') {
    res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body><h1>502 Bad Gateway</h1></body></html>');
  } else if ('retryAfter' in fault) {
    const type = fault.body === '' ? {} : json;
    res.writeHead(503, { ...type, 'retry-after': fault.retryAfter, 'content-length': String(Buffer.byteLength(fault.body)) }).end(fault.body);
  } else if ('page' in fault) {
    res.writeHead(fault.status, { 'content-type': 'text/html' }).end(fault.page);
  } else {
    res.writeHead(200, json).end(JSON.stringify(fault.body));
  }
}

beforeAll(async () => {
  const s = createServer(answer);
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise<void>((resolve) => {
    if (server === undefined) resolve();
    else server.close(() => {
      resolve();
    });
  });
});

const client = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } } as const;
const ssm = (): SSMClient => new SSMClient({ ...client, endpoint });
const secretsManager = (): SecretsManagerClient => new SecretsManagerClient({ ...client, endpoint });
const clients = { ssm: () => Promise.resolve(ssm()), secretsManager: () => Promise.resolve(secretsManager()) };
const BOUND_MS = 400;
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The one `cannot read the rules parameter` line of a read of the rules parameter under `f`, and what the read gave. */
async function rulesRead(f: Fault) {
  fault = f;
  requests = 0;
  const obs = captureObservability();
  const provider = ssmRules({ client: ssm(), name: '/ir/rules', ttlSeconds: 60, timeoutMs: BOUND_MS, env: {}, ...obs });
  const state = await provider.current();
  const lines = obs.logs().filter((l) => l['message'] === 'cannot read the rules parameter');
  expect(lines).toHaveLength(1);
  return { state, line: lines[0] ?? {}, requests };
}

describe('the rules parameter', () => {
  it.each<[string, Fault]>([
    ['a body that trickles past the bound', 'drip'],
    ['headers, then a body that never comes', 'stall'],
  ])('%s: the bound (AbortError), not a reset connection, one request', async (_, f) => {
    const { state, line, requests: seen } = await rulesRead(f);
    expect(line).toMatchObject({ errorCode: 'AbortError', detail: `no answer within ${BOUND_MS} ms (Request aborted)` });
    expect(state).toEqual({ ok: false, reason: 'rules parameter /ir/rules could not be read (AbortError)' });
    expect(seen).toBe(1);
  });

  it('a 500 without a body is named by its status (the SDK says only Unknown: UnknownError)', async () => {
    const { line, state } = await rulesRead('empty500');
    expect(line).toMatchObject({ errorCode: 'HTTP 500', detail: 'UnknownError' });
    expect(state).toEqual({ ok: false, reason: 'rules parameter /ir/rules could not be read (HTTP 500)' });
  });

  it('an HTML error page: named by its status, the detail one line, without the SDK\'s advice on a second one', async () => {
    const { line, state } = await rulesRead('html502');
    expect(line['errorCode']).toBe('HTTP 502');
    expect(line['detail']).toMatch(/^Unexpected token '<', .* is not valid JSON$/);
    expect(state).toEqual({ ok: false, reason: 'rules parameter /ir/rules could not be read (HTTP 502)' });
  });

  it.each<[string, number, string, RegExp]>([
    ['a redirect page', 300, 'HTTP 300', /^Unexpected token '<', .* is not valid JSON$/],
    ['a 200 that is no JSON', 200, 'SyntaxError', /^Unexpected token '<', .* is not valid JSON \(HTTP 200\)$/],
  ])('%s: the code names the status unless it says success; then the detail does', async (_, status, code, detail) => {
    const { line, state } = await rulesRead({ status, page: '<html><body>not JSON</body></html>' });
    expect(line['errorCode']).toBe(code);
    expect(line['detail']).toMatch(detail);
    expect(state).toEqual({ ok: false, reason: `rules parameter /ir/rules could not be read (${code})` });
  });

  // The SDK waits out the Retry-After (up to 5 s) before it tries again; the bound cut that wait,
  // and the log said only "no answer within", as if SSM had not answered. One request either way.
  it.each<[string, string, string]>([
    ['with an AWS error', '{"__type":"ServiceUnavailable","message":"slow down"}', 'ServiceUnavailable (HTTP 503): slow down'],
    ['without a body', '', 'HTTP 503: UnknownError'],
  ])('a 503 whose Retry-After outlasts the bound (%s): the 503, then the bound', async (_, body, said) => {
    const { line, state, requests: seen } = await rulesRead({ retryAfter: '2', body });
    // The abort's own words in brackets are the SDK's ("Request aborted"; under jest, another realm's, the signal's reason).
    expect(line['errorCode']).toBe('AbortError');
    expect(String(line['detail'])).toMatch(new RegExp(`^${escape(said)}, then no answer within ${BOUND_MS} ms \\([^)]+\\)$`));
    expect(state).toEqual({ ok: false, reason: 'rules parameter /ir/rules could not be read (AbortError)' });
    expect(seen).toBe(1);
  });

  it.each<[string, unknown]>([
    ['a number', 42],
    ['an object', { rules: [] }],
  ])('a Value that is %s is a failed read, not a document', async (_, value) => {
    const { state, line } = await rulesRead({ body: { Parameter: { Name: '/ir/rules', Value: value, Version: 3 } } });
    expect(line).toMatchObject({ errorCode: 'SourceError', detail: 'parameter /ir/rules has a value that is not a string' });
    expect(state.ok).toBe(false);
  });
});

describe('errorDetail of a read the bound cut after an attempt failed', () => {
  const cut = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
  it.each<[string, unknown, string]>([
    ['a socket error (no HTTP status)', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1'],
    ['an AWS error with its status', Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }), 'ThrottlingException (HTTP 400): Rate exceeded'],
    ['an answer named by its status', Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 503 } }), 'HTTP 503: UnknownError'],
  ])('%s, then the bound', (_, before, said) => {
    expect(errorDetail(cut, 3000, before)).toBe(`${said}, then no answer within 3000 ms (Request aborted)`);
    // Without an attempt before it, or for an error that is not the bound's, as before.
    expect(errorDetail(cut, 3000)).toBe('no answer within 3000 ms (Request aborted)');
    expect(errorDetail(new Error('denied'), 3000, before)).toBe('denied');
  });
});

describe('the webhook token', () => {
  it.each<[string, Fault]>([
    ['a body that trickles past the bound', 'drip'],
    ['headers, then a body that never comes', 'stall'],
  ])('%s: the bound, not a reset connection', async (_, f) => {
    fault = f;
    await expect(resolveToken({ kind: 'ssm', name: '/ir/token' }, clients, BOUND_MS)).rejects.toMatchObject({
      name: 'SourceError',
      message: `cannot read the webhook token from SSM parameter /ir/token (AbortError): no answer within ${BOUND_MS} ms (Request aborted)`,
    });
  });

  it.each<[string, { readonly kind: 'ssm'; readonly name: string } | { readonly kind: 'secret'; readonly secretId: string }]>([
    ['SSM', { kind: 'ssm', name: '/ir/token' }],
    ['Secrets Manager', { kind: 'secret', secretId: 'token' }],
  ])('%s answering 503 with a Retry-After that outlasts the bound: the 503, then the bound', async (_, setting) => {
    fault = { retryAfter: '2', body: '{"__type":"ServiceUnavailable","message":"slow down"}' };
    const from = setting.kind === 'ssm' ? `SSM parameter ${setting.name}` : `secret ${setting.secretId}`;
    await expect(resolveToken(setting, clients, BOUND_MS)).rejects.toMatchObject({
      name: 'SourceError',
      message: expect.stringMatching(new RegExp(`^${escape(`cannot read the webhook token from ${from} (AbortError): ServiceUnavailable (HTTP 503): slow down, then no answer within ${BOUND_MS} ms (`)}[^)]+\\)$`)),
    });
  });

  it.each<[string, { readonly kind: 'ssm'; readonly name: string } | { readonly kind: 'secret'; readonly secretId: string }, unknown]>([
    ['an SSM Value that is a number', { kind: 'ssm', name: '/ir/token' }, { Parameter: { Name: '/ir/token', Value: 42 } }],
    ['an SSM Value that is a list', { kind: 'ssm', name: '/ir/token' }, { Parameter: { Name: '/ir/token', Value: ['a'] } }],
    ['a SecretString that is an object', { kind: 'secret', secretId: 'token' }, { Name: 'token', SecretString: { token: 'x' } }],
  ])('%s: a SourceError saying so, not a TypeError', async (_, setting, body) => {
    fault = { body };
    const from = setting.kind === 'ssm' ? `SSM parameter ${setting.name}` : `secret ${setting.secretId}`;
    await expect(resolveToken(setting, clients, BOUND_MS)).rejects.toMatchObject({ name: 'SourceError', message: `the webhook token in ${from} is not a string` });
    // serve --workers reads the text once for its workers: none, as for a read that failed.
    expect(await readTokenText(setting, clients, BOUND_MS)).toBeUndefined();
  });
});

describe('the existence checks', () => {
  it('registry credentials whose answer stalls after its headers: the bound, not a reset connection', async () => {
    fault = 'stall';
    const source = createCredentialsSource({ kind: 'secret', secretId: 'registry-creds' }, { ...clients, now: () => performance.now() });
    // The read's own bound is 3 s; the check's signal waits longer.
    const first = await source('r.example.com', AbortSignal.timeout(10_000));
    expect(first).toEqual({ credentials: undefined, unavailable: 'cannot read secret registry-creds (AbortError)' });
  }, 15_000);

  // As for the token and the rules: a value that is no string is a failed read saying so (an array
  // holding one JSON string was taken as the credentials, an object said "not JSON").
  it.each<[string, unknown]>([
    ['a number', 42],
    ['an object', { auths: {} }],
    ['a list holding the JSON', ['{"r.example.com":{"username":"u","password":"p"}}']],
  ])('registry credentials whose value is %s: unavailable, the reason saying it is no string', async (_, value) => {
    fault = { body: { Parameter: { Name: '/creds', Value: value } } };
    const source = createCredentialsSource({ kind: 'ssm', name: '/creds' }, { ...clients, now: () => performance.now() });
    expect(await source('r.example.com', AbortSignal.timeout(10_000))).toEqual({ credentials: undefined, unavailable: 'cannot read SSM parameter /creds (the value is not a string)' });
  });

  it('an ECR answer that trickles past the deadline: unreachable for the deadline, one request', async () => {
    fault = 'drip';
    requests = 0;
    const v = createVerifier({ credentials: () => Promise.resolve({ credentials: undefined }), ecr: () => Promise.resolve(new ECRClient({ ...client, endpoint })), deadlineMs: BOUND_MS });
    const { verdicts } = await v.verify([{ image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1', platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: `no answer within the ${BOUND_MS} ms deadline` });
    expect(requests).toBe(1);
  });

  it.each<[string, 'ecr' | 'credentials']>([
    ['ECR', 'ecr'],
    ['registry credentials', 'credentials'],
  ])('%s answering 500 without a body: the reason names the status (the SDK says only Unknown)', async (_, what) => {
    fault = 'empty500';
    if (what === 'credentials') {
      const source = createCredentialsSource({ kind: 'secret', secretId: 'registry-creds' }, { ...clients, now: () => performance.now() });
      expect(await source('r.example.com', AbortSignal.timeout(10_000))).toEqual({ credentials: undefined, unavailable: 'cannot read secret registry-creds (HTTP 500)' });
      return;
    }
    const v = createVerifier({ credentials: () => Promise.resolve({ credentials: undefined }), ecr: () => Promise.resolve(new ECRClient({ ...client, endpoint })), deadlineMs: 10_000 });
    const { verdicts } = await v.verify([{ image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1', platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: 'ECR in us-east-1 failed (HTTP 500)' });
  }, 15_000);

  // An answer that is no JSON: named by its status when it is no success (a proxy's error page, a
  // redirect), and as the SDK names it (SyntaxError) when the status says success.
  it.each<[string, number, string]>([
    ['a 502 error page', 502, 'HTTP 502'],
    ['a 403 error page', 403, 'HTTP 403'],
    ['a 300 page', 300, 'HTTP 300'],
    ['a 200 that is no JSON', 200, 'SyntaxError'],
  ])('ECR and the registry credentials answering %s: the reason names its status (SyntaxError for a success)', async (_, status, code) => {
    fault = { status, page: '<html><body><h1>not JSON</h1></body></html>' };
    const source = createCredentialsSource({ kind: 'secret', secretId: 'registry-creds' }, { ...clients, now: () => performance.now() });
    expect(await source('r.example.com', AbortSignal.timeout(10_000))).toEqual({ credentials: undefined, unavailable: `cannot read secret registry-creds (${code})` });
    const v = createVerifier({ credentials: () => Promise.resolve({ credentials: undefined }), ecr: () => Promise.resolve(new ECRClient({ ...client, endpoint })), deadlineMs: 10_000 });
    const { verdicts } = await v.verify([{ image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1', platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: `ECR in us-east-1 failed (${code})` });
  }, 15_000);
});
