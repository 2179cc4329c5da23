/**
 * Adversarial canary audit of the promise "never the request body, never the webhook token, never
 * registry credentials or any other secret in logs, metrics (EMF), admission warnings, audit
 * annotations, error messages, HTTP answers or CLI output" (docs: DESIGN "Observability contract",
 * README "Logs and metrics"). Distinctive strings are planted in every input a stranger, a cluster
 * user, a registry or an API server controls, and every byte each adapter writes is searched for
 * them (also base64- and URL-encoded, in any case).
 *
 * What may appear, by design, and is therefore never planted where it would be asked not to show:
 * - the images of the object (rewritten, invalid or withheld ones: warnings, the original-images
 *   annotation, auditAnnotations and the review's log line name them), the container names, and
 *   the object's identity (uid, kind, namespace, name) on the review's log line;
 * - for `render`, stdout is the manifests themselves (every byte but the images unchanged);
 * - the values of the rules document itself in check-config's errors (a regex, a replace), which
 *   are configuration, not secrets (an unknown field's value is never quoted: checked here).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseRules } from '../../src/config/load.js';
import { fixedRules } from '../../src/config/sources.js';
import { createHandler } from '../../src/lambda/handler.js';
import { main } from '../../src/cli/main.js';
import { createCredentialsSource } from '../../src/verify/credentials.js';
import { createVerifier } from '../../src/verify/verifier.js';
import { captureObservability, type JsonObject, loadEvent } from '../helpers/events.js';
import { type Route, startFakeRegistry, type FakeRegistry, noAws } from '../helpers/fake-registry.js';
import { captureIo } from '../helpers/io.js';
import { podReview } from '../helpers/admission-review.js';
import { startServeCli } from '../helpers/serve-cli.js';
import { createTestPki, httpsRequest, type TestPki } from '../helpers/tls.js';

jest.setTimeout(60_000);

/** The webhook token of every adapter here: valid characters, distinctive. */
const TOKEN = 'CANARY-TOKEN-7f3a-0123456789abcdef';
/** Registry credentials (verify) and the bearer token a registry's token service hands out. */
const REG_USER = 'canary-user-7f3a';
const REG_PASSWORD = 'CANARY-REGPASS-7f3a';
const REG_BEARER = 'CANARY-REGBEARER-7f3a';
/** The kubeconfig's credentials (audit). */
const KUBE_TOKEN = 'CANARY-KUBETOKEN-7f3a';
const KUBE_PASSWORD = 'CANARY-KUBEPASS-7f3a';
const KUBE_EXEC_TOKEN = 'CANARY-KUBEEXEC-7f3a';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Every form in which `secret` would count as leaked. */
function forms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), b64(secret)];
}

/** The secrets of `secrets` found in `text` (case-insensitive), with their form. */
function leaked(text: string, secrets: readonly string[]): string[] {
  const lower = text.toLowerCase();
  const found: string[] = [];
  for (const s of secrets) for (const f of forms(s)) if (lower.includes(f.toLowerCase())) found.push(f);
  // A prefix long enough to say it is a copy (a JSON parser's excerpt cuts a secret short).
  const prefix = /canary-[a-z]+/gi;
  for (const m of text.matchAll(prefix)) if (secrets.some((s) => s.toLowerCase().startsWith(m[0].toLowerCase()))) found.push(m[0]);
  return [...new Set(found)];
}

function expectClean(what: string, text: string, secrets: readonly string[]): void {
  expect({ what, leaked: leaked(text, secrets) }).toEqual({ what, leaked: [] });
}

const RULES_YAML = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n';
const rewriter = (yaml: string) => {
  const r = parseRules(yaml, {});
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.rewriter;
};

// ---------------------------------------------------------------------------------------------
// The request body
// ---------------------------------------------------------------------------------------------

/** Body canaries, one per field a Pod and its review carry that is neither an image nor the object's identity. */
const BODY = {
  annotation: 'CANARY-BODY-annot',
  annotationKey: 'canary-body-annotkey',
  label: 'CANARY-BODY-label',
  env: 'CANARY-BODY-envvalue',
  command: 'CANARY-BODY-command',
  args: 'CANARY-BODY-args',
  workingDir: 'CANARY-BODY-workdir',
  secretVolume: 'canary-body-secretname',
  user: 'CANARY-BODY-username',
  extra: 'CANARY-BODY-extra',
  old: 'CANARY-BODY-oldobject',
  probe: 'CANARY-BODY-probe',
  pullSecret: 'canary-body-pullsecret',
} as const;
const BODY_SECRETS = Object.values(BODY);

function canaryPod(images: { name: string; image: unknown }[]): JsonObject {
  return {
    metadata: { name: 'web', namespace: 'default', annotations: { a: BODY.annotation, [BODY.annotationKey]: 'v' }, labels: { l: BODY.label } },
    spec: {
      imagePullSecrets: [{ name: BODY.pullSecret }],
      volumes: [{ name: 'v', secret: { secretName: BODY.secretVolume } }],
      containers: images.map((c) => ({
        ...c,
        env: [{ name: 'PASSWORD', value: BODY.env }],
        command: ['/bin/sh', '-c', BODY.command],
        args: [BODY.args],
        workingDir: `/${BODY.workingDir}`,
        readinessProbe: { httpGet: { path: `/${BODY.probe}`, port: 80, httpHeaders: [{ name: 'Authorization', value: BODY.probe }] } },
      })),
    },
  };
}

function canaryReview(images: { name: string; image: unknown }[], request: JsonObject = {}): JsonObject {
  return podReview(canaryPod(images), {
    userInfo: { username: BODY.user, groups: ['system:authenticated'], extra: { 'authentication.kubernetes.io/credential-id': [BODY.extra] } },
    oldObject: { metadata: { annotations: { o: BODY.old } } },
    ...request,
  });
}

/** A REST proxy event to `/mutate/<token>` with `body`. */
function restEvent(body: string | null | undefined, extra: JsonObject = {}, token: string = TOKEN): JsonObject {
  const event = loadEvent('rest-pod-v1.json');
  return {
    ...event,
    path: `/mutate/${token}`,
    pathParameters: { token },
    body,
    isBase64Encoded: false,
    ...extra,
  };
}

async function lambda(event: unknown, token: string | undefined = TOKEN, yaml = RULES_YAML) {
  const obs = captureObservability();
  const handler = createHandler({ rules: fixedRules(rewriter(yaml), 'canary rules'), token, logger: obs.logger, metrics: obs.metrics });
  const result = await handler(event);
  return { result, obs, all: `${obs.text()}\n${JSON.stringify(result)}\n${result.body}` };
}

const VALID_IMAGES = [
  { name: 'app', image: 'gcr.io/app:1' },
  { name: 'side', image: 'nginx:1.27' },
];

describe('Lambda handler: canaries in the request body', () => {
  it('a valid review with canaries in every non-image field: none in the answer, warnings, annotations, logs or EMF', async () => {
    const { result, obs, all } = await lambda(restEvent(JSON.stringify(canaryReview(VALID_IMAGES))));
    expect(result.statusCode).toBe(200);
    expect(obs.emf().length).toBe(1);
    expectClean('valid review', all, [...BODY_SECRETS, TOKEN]);
  });

  it.each([
    ['an invalid image', [{ name: 'app', image: 'gcr.io/UPPER/x' }]],
    ['an overlong image', [{ name: 'app', image: `gcr.io/${'a'.repeat(300_000)}` }]],
    ['an image that is not a string', [{ name: 'app', image: { password: 'CANARY-BODY-imgobj' } }]],
    ['a rewrite to an invalid reference', [{ name: 'app', image: `gcr.io/${'x'.repeat(300)}:1` }]],
  ])('%s: reported without the rest of the body', async (_what, images) => {
    const { result, all } = await lambda(restEvent(JSON.stringify(canaryReview(images))));
    expect(result.statusCode).toBe(200);
    expectClean('problem review', all, [...BODY_SECRETS, 'CANARY-BODY-imgobj', TOKEN]);
  });

  it('a base64 body and a dry run: the same', async () => {
    const text = JSON.stringify(canaryReview(VALID_IMAGES, { dryRun: true }));
    const { result, all } = await lambda(restEvent(b64(text), { isBase64Encoded: true }));
    expect(result.statusCode).toBe(200);
    expectClean('base64', all, [...BODY_SECRETS, TOKEN]);
  });

  const C = 'CANARY-BODY-malformed';
  const valid = JSON.stringify(canaryReview(VALID_IMAGES));
  const malformed: [string, JsonObject][] = [
    ['truncated JSON', restEvent(valid.slice(0, valid.indexOf(BODY.env) + 8))],
    ['trailing garbage', restEvent(`${valid} ${C}`)],
    ['a JSON string', restEvent(JSON.stringify(C))],
    ['unquoted word', restEvent(`{"apiVersion": ${C}}`)],
    ['apiVersion canary', restEvent(JSON.stringify({ apiVersion: C, kind: 'AdmissionReview', request: { uid: 'u' } }))],
    ['kind canary', restEvent(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: C, request: { uid: 'u' } }))],
    ['request a string', restEvent(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: C }))],
    ['uid an object', restEvent(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: { s: C } } }))],
    ['uid overlong', restEvent(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `${C}${'u'.repeat(100_000)}`, kind: 5 } }))],
    ['control characters', restEvent(`{"apiVersion":"\u0000${C}"`)],
    ['byte order mark then garbage', restEvent(`\uFEFF${C}`)],
    ['invalid base64', restEvent(`${C}!!`, { isBase64Encoded: true })],
    ['base64 of garbage', restEvent(b64(`{${C}`), { isBase64Encoded: true })],
    ['base64 of gzip', restEvent(gzipSync(Buffer.from(valid)).toString('base64'), { isBase64Encoded: true })],
    ['base64 of bytes that are not UTF-8', restEvent(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(C)]).toString('base64'), { isBase64Encoded: true })],
    ['over the size limit', restEvent(`${C}${' '.repeat(7 * 1024 * 1024)}`)],
    ['body an object', { ...restEvent(null), body: canaryReview(VALID_IMAGES) }],
    ['the review itself as the event', { ...canaryReview(VALID_IMAGES), kind: 'AdmissionReview' }],
    ['an event of no known shape', { what: C, headers: { authorization: C } }],
  ];
  it.each(malformed)('%s: a fixed message, nothing of the body anywhere', async (_what, event) => {
    const { result, all } = await lambda(event);
    expect([200, 400]).toContain(result.statusCode);
    expectClean('malformed', all, [...BODY_SECRETS, C, TOKEN]);
  });
});

// ---------------------------------------------------------------------------------------------
// The token, the URL and the headers
// ---------------------------------------------------------------------------------------------

describe('Lambda handler: the token, the path, the query and the headers', () => {
  const body = JSON.stringify(canaryReview(VALID_IMAGES));
  const QUERY = 'CANARY-QUERY-7f3a';
  const HEADER = 'CANARY-HEADER-7f3a';
  const near = [
    ['one character more', `${TOKEN}x`],
    ['one character less', TOKEN.slice(0, -1)],
    ['another case', TOKEN.toLowerCase()],
    ['the last character changed', `${TOKEN.slice(0, -1)}0`],
    ['overlong', `${TOKEN}${'A'.repeat(200_000)}`],
    ['odd characters', `${TOKEN}%2F\n\u202e\u0000`],
    ['two tokens, comma', `${TOKEN},CANARY-OTHER-7f3a-0123456789`],
    ['two tokens, reversed', `CANARY-OTHER-7f3a-0123456789,${TOKEN}`],
    ['empty', ''],
  ] as const;

  it('the right token, with canaries in the query and headers: 200, none of them written', async () => {
    const event = restEvent(body, {
      path: `/mutate/${TOKEN}`,
      queryStringParameters: { t: QUERY },
      multiValueQueryStringParameters: { t: [QUERY] },
      headers: { Authorization: `Bearer ${HEADER}`, Cookie: `s=${HEADER}`, 'X-Token': TOKEN },
      multiValueHeaders: { Authorization: [`Bearer ${HEADER}`] },
    });
    const { result, all } = await lambda(event);
    expect(result.statusCode).toBe(200);
    expectClean('right token', all, [...BODY_SECRETS, TOKEN, QUERY, HEADER]);
  });

  it.each(near)('%s: 401, and neither the configured nor the presented token is written', async (_what, presented) => {
    for (const event of [restEvent(body, {}, presented), restEvent(body, { pathParameters: null, path: `/mutate/${presented}` })]) {
      const { result, obs, all } = await lambda(event);
      expect(result.statusCode).toBe(401);
      expect(obs.logs().some((l) => l['message'] === 'request rejected')).toBe(true);
      expectClean('near token', all, [...BODY_SECRETS, TOKEN, 'CANARY-OTHER-7f3a']);
    }
  });

  it('HTTP API and Function URL events, a wrong method and /healthz with the token in the query', async () => {
    const v2 = loadEvent('httpapi-pod-v1.json');
    const events = [
      { ...v2, rawPath: `/mutate/${TOKEN}x`, pathParameters: { token: `${TOKEN}x` }, rawQueryString: `t=${QUERY}`, headers: { authorization: HEADER }, body },
      { ...v2, rawPath: `/mutate/${TOKEN}`, pathParameters: { token: TOKEN }, rawQueryString: `t=${QUERY}`, headers: { authorization: HEADER }, body },
      restEvent(body, { httpMethod: 'PUT' }),
      restEvent(null, { httpMethod: 'GET', path: '/healthz', pathParameters: null, queryStringParameters: { token: TOKEN } }),
    ];
    for (const event of events) {
      const { all } = await lambda(event);
      expectClean('v2/method/health', all, [...BODY_SECRETS, TOKEN, QUERY, HEADER]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Registry credentials (verify), from SSM and Secrets Manager, against registries that echo them
// ---------------------------------------------------------------------------------------------

describe('verify: registry credentials and a registry that echoes them', () => {
  const ssm = mockClient(SSMClient);
  const sm = mockClient(SecretsManagerClient);
  let pki: TestPki;
  let registry: FakeRegistry;
  let auth: FakeRegistry;
  beforeAll(async () => {
    pki = await createTestPki('qa8-canary-');
    registry = await startFakeRegistry(pki);
    auth = await startFakeRegistry(pki);
  });
  afterAll(async () => {
    await registry.stop();
    await auth.stop();
    await pki.remove();
  });
  beforeEach(() => {
    ssm.reset();
    sm.reset();
  });

  const SECRETS = [REG_PASSWORD, `${REG_USER}:${REG_PASSWORD}`, REG_BEARER, TOKEN, ...BODY_SECRETS];
  const echo = (req: IncomingMessage): string => `${req.headers.authorization ?? ''} ${REG_BEARER} ${REG_PASSWORD}`;

  const routes: Record<string, Route> = {
    'a 401 Basic, then a 403 whose body and challenge echo the credentials': (req, res) => {
      res.writeHead(req.headers.authorization === undefined ? 401 : 403, { 'www-authenticate': `Basic realm="${echo(req)}"`, 'content-type': 'text/plain' });
      res.end(echo(req));
    },
    'a 500 echoing the Authorization header': (req, res) => {
      if (req.headers.authorization === undefined) { res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end(); return; }
      res.writeHead(500, { 'content-type': 'text/plain', 'x-echo': echo(req) }).end(echo(req));
    },
    'a 404 web page echoing the credentials': (req, res) => {
      if (req.headers.authorization === undefined) { res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end(); return; }
      res.writeHead(404, { 'content-type': 'text/html' }).end(`<html>${echo(req)}</html>`);
    },
    'a 200 web page echoing the credentials': (req, res) => {
      if (req.headers.authorization === undefined) { res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end(); return; }
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<html>${echo(req)}</html>`);
    },
    'a redirect to another origin with the credentials in its query': (req, res) => {
      if (req.headers.authorization === undefined) { res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end(); return; }
      res.writeHead(307, { location: `https://localhost:${auth.port}/v2/x/manifests/1?auth=${encodeURIComponent(echo(req))}` }).end();
    },
    'a bearer realm with a user and password in its URL, whose token service refuses': (_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="https://u:${REG_PASSWORD}@${auth.host}/token?pw=${REG_PASSWORD}",service="s"` }).end();
    },
    'a token service that answers a bearer token, then the registry refuses it': (req, res) => {
      if (req.headers.authorization?.startsWith('Bearer ') === true) { res.writeHead(403, { 'content-type': 'text/plain' }).end(echo(req)); return; }
      res.writeHead(401, { 'www-authenticate': `Bearer realm="https://${auth.host}/token",service="s"` }).end();
    },
    'a token service that answers something that is not JSON, echoing': (_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="https://${auth.host}/notjson",service="s"` }).end();
    },
    'a token service that answers 500, echoing': (_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="https://${auth.host}/fail",service="s"` }).end();
    },
  };

  const authRoute: Route = (req, res, url) => {
    if (url.pathname === '/token') {
      if (url.searchParams.has('pw')) { res.writeHead(401, { 'content-type': 'text/plain' }).end(echo(req)); return; }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: REG_BEARER, expires_in: 300 }));
    } else if (url.pathname === '/notjson') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"token": ${echo(req)}`);
    } else if (url.pathname === '/fail') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(echo(req));
    } else {
      res.writeHead(401, { 'www-authenticate': `Basic realm="${echo(req)}"` }).end(echo(req));
    }
  };

  const credentialValue = (host: string): string => JSON.stringify({ auths: { [host]: { auth: b64(`${REG_USER}:${REG_PASSWORD}`) } } });

  async function review(source: 'ssm' | 'secret', onMissing: 'keep' | 'deny', onUnreachable: 'keep' | 'rewrite') {
    const yaml = `rules:\n  - name: gcr\n    match: gcr.io\n    replace: ${registry.host}/mirror\n    verify: true\n    onMissing: ${onMissing}\n    onUnreachable: ${onUnreachable}\n`;
    const credentials = createCredentialsSource(source === 'ssm' ? { kind: 'ssm', name: '/registry/creds' } : { kind: 'secret', secretId: 'registry-creds' }, {
      ssm: () => Promise.resolve(new SSMClient({ region: 'us-east-1' })),
      secretsManager: () => Promise.resolve(new SecretsManagerClient({ region: 'us-east-1' })),
      now: () => performance.now(),
    });
    const verifier = createVerifier({ credentials, ecr: noAws, http: { ca: pki.ca }, deadlineMs: 3000 });
    const obs = captureObservability();
    const handler = createHandler({ rules: fixedRules(rewriter(yaml), 'canary rules'), token: TOKEN, logger: obs.logger, metrics: obs.metrics, verifier });
    const result = await handler(restEvent(JSON.stringify(canaryReview([{ name: 'app', image: 'gcr.io/app:1' }]))));
    return { result, all: `${obs.text()}\n${result.body}\n${Buffer.from(result.body, 'utf8').toString()}`, obs };
  }

  it.each(Object.keys(routes))('%s: no credential, bearer token or body in any output', async (name) => {
    registry.route = routes[name] ?? (() => undefined);
    auth.route = authRoute;
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: credentialValue(registry.host) } });
    sm.on(GetSecretValueCommand).resolves({ SecretString: credentialValue(registry.host) });
    for (const source of ['ssm', 'secret'] as const) {
      for (const [m, u] of [['keep', 'keep'], ['deny', 'rewrite']] as const) {
        const { result, all } = await review(source, m, u);
        expect(result.statusCode).toBe(200);
        expectClean(`${name} ${source} ${m}`, all, SECRETS);
      }
    }
  });

  const unreadable: [string, () => void][] = [
    ['a value that is not JSON', () => ssm.on(GetParameterCommand).resolves({ Parameter: { Value: `{"${registry.host}": ${REG_PASSWORD}` } })],
    ['a value with an entry of neither shape', () => ssm.on(GetParameterCommand).resolves({ Parameter: { Value: JSON.stringify({ [registry.host]: { user: REG_USER, pass: REG_PASSWORD } }) } })],
    ['a flat value', () => ssm.on(GetParameterCommand).resolves({ Parameter: { Value: JSON.stringify({ username: REG_USER, password: REG_PASSWORD }) } })],
    ['an SDK error whose message quotes the value', () => ssm.on(GetParameterCommand).rejects(Object.assign(new Error(`bad value ${REG_PASSWORD}`), { name: 'ValidationException' }))],
    ['an overlong value', () => ssm.on(GetParameterCommand).resolves({ Parameter: { Value: `${REG_PASSWORD}${' '.repeat(70_000)}` } })],
  ];
  it.each(unreadable)('credentials that cannot be used (%s): the refusal says why, never the value', async (_what, arrange) => {
    registry.route = routes['a 401 Basic, then a 403 whose body and challenge echo the credentials'] ?? (() => undefined);
    arrange();
    const { all } = await review('ssm', 'deny', 'keep');
    expect(all).toContain('/registry/creds');
    expectClean('unreadable credentials', all, SECRETS);
  });
});

// ---------------------------------------------------------------------------------------------
// serve: real TLS
// ---------------------------------------------------------------------------------------------

describe('serve: canaries over HTTPS', () => {
  let pki: TestPki;
  let rules: string;
  let tokenFile: string;
  const level = process.env['POWERTOOLS_LOG_LEVEL'];
  beforeAll(async () => {
    // serve's logger reads the process's level (tests default to SILENT): every line, here.
    process.env['POWERTOOLS_LOG_LEVEL'] = 'DEBUG';
    pki = await createTestPki('qa8-serve-');
    rules = join(pki.dir, 'rules.yaml');
    writeFileSync(rules, RULES_YAML);
    tokenFile = join(pki.dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
  });
  afterAll(async () => {
    process.env['POWERTOOLS_LOG_LEVEL'] = level;
    await pki.remove();
  });
  const flags = (): string[] => ['--config', rules, '--listen', '127.0.0.1:0', '--tls-cert-file', pki.server.certFile, '--tls-private-key-file', pki.server.keyFile, '--workers', '1'];

  it('requests with canaries in the body, the path, the query and the headers: no canary in stderr, stdout or an answer', async () => {
    const io = captureIo({ POWERTOOLS_LOG_LEVEL: 'DEBUG' });
    const serve = await startServeCli([...flags(), '--token-file', tokenFile], io);
    const port = serve.port;
    if (port === undefined) throw new Error(io.err());
    const QUERY = 'CANARY-QUERY-serve';
    const HEADER = 'CANARY-HEADER-serve';
    const body = JSON.stringify(canaryReview(VALID_IMAGES));
    const answers: string[] = [];
    const ask = async (method: string, path: string, payload?: string, headers: Record<string, string> = {}): Promise<void> => {
      const a = await httpsRequest({ port, ca: pki.ca, method, path, ...(payload === undefined ? {} : { body: payload }), headers: { 'content-type': 'application/json', authorization: `Bearer ${HEADER}`, cookie: `s=${HEADER}`, 'x-forwarded-for': HEADER, ...headers } });
      answers.push(`${a.status} ${JSON.stringify(a.headers)} ${a.body}`);
    };
    try {
      await ask('POST', `/mutate/${TOKEN}?t=${QUERY}`, body);
      await ask('POST', `/mutate/${TOKEN}`, body.slice(0, body.indexOf(BODY.env) + 5));
      await ask('POST', `/mutate/${TOKEN}`, `{"apiVersion": "${BODY.annotation}"}`);
      await ask('POST', `/mutate/${TOKEN}`, Buffer.concat([Buffer.from([0xff]), Buffer.from(BODY.label)]).toString('latin1'));
      await ask('POST', `/mutate/${TOKEN}x?t=${QUERY}`, body);
      await ask('POST', `/mutate/${TOKEN.slice(0, -1)}`, body);
      await ask('POST', `/mutate/${encodeURIComponent(`${TOKEN},CANARY-OTHER-7f3a-0123456789`)}`, body);
      await ask('POST', `/mutate/${TOKEN}/${QUERY}`, body);
      await ask('POST', `/${QUERY}/mutate/${TOKEN}`, body);
      await ask('PUT', `/mutate/${TOKEN}`, body);
      await ask('GET', `/healthz?token=${TOKEN}&q=${QUERY}`);
      await ask('POST', `https://u:${QUERY}@127.0.0.1:${port}/mutate/${TOKEN}`, body);
      await ask('POST', `/mutate/${TOKEN}`, body, { 'content-encoding': 'gzip' });
    } finally {
      expect(await serve.stop()).toBe(0);
    }
    expect(answers.length).toBe(13);
    expect(io.err()).toContain('request rejected');
    expectClean('serve output and answers', `${io.err()}\n${io.out()}\n${answers.join('\n')}`, [...BODY_SECRETS, TOKEN, QUERY, HEADER, 'CANARY-OTHER-7f3a']);
  });

  it.each([
    ["a rotation's pair whose second token is too short", `${TOKEN},CANARY-OTH\n`],
    ['three tokens with commas', `${TOKEN},CANARY-OTHER-7f3a-0123456789,CANARY-OTHER-7f3a-9876543210\n`],
    ['a token with a space', `CANARY-TOKEN-7f3a 0123456789abcdef\n`],
    ['a short token', 'CANARY-TOK\n'],
    ['JSON', `{"token": "${TOKEN}"}`],
  ])('a token file that cannot be used (%s): serve refuses to start without quoting it', async (_what, text) => {
    const file = join(pki.dir, 'bad-token');
    writeFileSync(file, text);
    const io = captureIo({});
    const serve = await startServeCli([...flags(), '--token-file', file], io);
    expect(serve.port).toBeUndefined();
    expect(io.err()).toMatch(/token/);
    expectClean('serve token file', `${io.err()}\n${io.out()}`, [TOKEN, 'CANARY-TOK', 'CANARY-OTH']);
  });

  it('WEBHOOK_TOKEN that cannot be used: serve and invoke say why without quoting it', async () => {
    for (const value of [`${TOKEN},CANARY-OTH`, `${TOKEN},${TOKEN}`, 'CANARY-TOK', `${TOKEN}\u0000`]) {
      const io = captureIo({ WEBHOOK_TOKEN: value });
      const serve = await startServeCli(flags(), io);
      expect(serve.port).toBeUndefined();
      const inv = captureIo({ WEBHOOK_TOKEN: value });
      await main(['invoke', '--config', rules, join('events', 'rest-pod-v1.json')], inv);
      expectClean('WEBHOOK_TOKEN', `${io.err()}${io.out()}${inv.err()}${inv.out()}`, [TOKEN, 'CANARY-TOK', 'CANARY-OTH']);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The offline CLI commands
// ---------------------------------------------------------------------------------------------

describe('CLI: invoke, check-config, explain, render, audit -f', () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki('qa8-cli-');
  });
  afterAll(async () => {
    await pki.remove();
  });
  const file = (name: string, text: string): string => {
    const f = join(pki.dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('invoke: an event with canaries in the body, with the right and a wrong token, and a broken event file', async () => {
    const rules = file('rules.yaml', RULES_YAML);
    const body = JSON.stringify(canaryReview(VALID_IMAGES));
    for (const [token, presented] of [[TOKEN, TOKEN], [TOKEN, `${TOKEN}x`], [undefined, TOKEN]] as const) {
      const event = file('event.json', JSON.stringify(restEvent(body, {}, presented)));
      const io = captureIo(token === undefined ? {} : { WEBHOOK_TOKEN: token });
      expect(await main(['invoke', '--config', rules, event], io)).toBe(0);
      expectClean('invoke', `${io.out()}\n${io.err()}`, [...BODY_SECRETS, TOKEN]);
    }
    const broken = file('broken.json', `{"body": "${BODY.env}`);
    const io = captureIo({ WEBHOOK_TOKEN: TOKEN });
    expect(await main(['invoke', '--config', rules, broken], io)).toBe(1);
    expectClean('invoke broken', `${io.out()}\n${io.err()}`, [BODY.env, TOKEN]);
  });

  it('check-config and explain: an unknown field holding a secret is named, its value never printed', async () => {
    const C = 'CANARY-RULES-7f3a';
    const docs = [
      `rules:\n  - name: a\n    match: gcr.io\n    replace: asia.gcr.io\n    password: ${C}\n`,
      `rules:\n  - name: a\n    match: gcr.io\n    replace: asia.gcr.io\n    credentials: {username: u, password: ${C}}\n`,
      `registryCredentials: {auths: {gcr.io: {auth: ${b64(`u:${C}`)}}}}\nrules: []\n`,
      `rules:\n  - name: a\n    match: "https://u:${C}@gcr.io"\n    replace: asia.gcr.io\n`,
      `rules:\n  - name: a\n    match: gcr.io\n    replace: "\${env:MY_TOKEN}/x"\n`,
    ];
    for (const doc of docs) {
      const f = file('bad-rules.yaml', doc);
      for (const args of [['check-config', '--config', f], ['explain', '--config', f, 'gcr.io/x']]) {
        const io = captureIo({ MY_TOKEN: C });
        expect(await main(args, io)).not.toBe(0);
        expect(io.err()).not.toBe('');
        expectClean('check-config', `${io.out()}\n${io.err()}`, [C]);
      }
    }
  });

  it('render and audit -f of manifests holding secrets: stderr never quotes them (render stdout is the manifests)', async () => {
    const rules = file('rules.yaml', RULES_YAML);
    const C = 'CANARY-MANIFEST-7f3a';
    const pod = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {a: ${C}-annot}\nspec:\n  containers:\n  - name: c\n    image: gcr.io/x:1\n    env: [{name: P, value: ${C}-env}]\n`;
    const secret = `apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: ${C}-secret\n`;
    const inputs = [
      `${pod}---\n${secret}`,
      `${secret}---\n${pod}  bad: [\n`,
      `${secret}  password: "${C}-unterminated\n`,
      `${secret}  password: ${C}-dup\n`,
      `${pod}    image: {x: ${C}-img}\n`,
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { p: `${C}-list` } }, { kind: `${C}-kind` }] }),
      `{"apiVersion":"v1","kind":"Secret","stringData":{"password":"${C}-json"`,
    ];
    for (const text of inputs) {
      const f = file('manifests.yaml', text);
      for (const args of [['render', '--config', rules, '-f', f], ['render', '--config', rules, '-f', f, '--check'], ['audit', '--config', rules, '-f', f], ['audit', '--config', rules, '-f', f, '-o', 'json']]) {
        const io = captureIo({});
        await main(args, io);
        expectClean(`${args.join(' ')} stderr`, io.err(), [C]);
        if (args[0] === 'audit' || args.includes('--check')) expectClean(`${args[0]} stdout`, io.out(), [C]);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// audit of a live cluster: an API server (or a proxy in front of it) that echoes credentials
// ---------------------------------------------------------------------------------------------

describe('audit: a Kubernetes API that echoes the credentials it was sent', () => {
  let pki: TestPki;
  let server: Server;
  let port = 0;
  let mode = 'html';
  beforeAll(async () => {
    pki = await createTestPki('qa8-audit-');
    server = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
      const sent = req.headers.authorization ?? '';
      if (mode === 'html') res.writeHead(401, { 'content-type': 'text/html', 'set-cookie': `s=${sent}` }).end(`<html><body>bad credentials: ${sent}</body></html>`);
      else if (mode === 'status') res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 403, message: `credentials ${sent} are not allowed` }));
      else if (mode === 'text') res.writeHead(502, { 'content-type': 'text/plain' }).end(`upstream refused ${sent}`);
      // A proxy that lower-cases the scheme it quotes ("bearer ..."): the credential after it is still one.
      else if (mode === 'lower-scheme') res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 403, message: `credentials ${sent.replace(/^\w+/, (w) => w.toLowerCase())} are not allowed` }));
      else if (mode === 'twice') res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 403, message: `credentials ${sent.replace(/^\S+ /, '')} are not allowed; sent: ${sent.replace(/^\S+ /, '')}` }));
      else if (mode === 'json') res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: sent }));
      // The credential where JSON.parse stops: its excerpt of the text quotes the start of it.
      else res.writeHead(200, { 'content-type': 'application/json' }).end(`{"kind": "PodList", "items": [ ${sent.replace(/^\S+ /, '')}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await pki.remove();
  });

  const kubeconfig = (user: string, url = `https://127.0.0.1:${port}`): string => {
    const f = join(pki.dir, 'kubeconfig');
    writeFileSync(f, `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ${url}\n    certificate-authority: ${pki.caFile}\nusers:\n- name: u\n  user:\n${user}\ncontexts:\n- name: fake\n  context: {cluster: fake, user: u}\ncurrent-context: fake\n`);
    return f;
  };
  const USERS = {
    token: `    token: ${KUBE_TOKEN}`,
    basic: `    username: admin\n    password: ${KUBE_PASSWORD}`,
    // An exec plugin's token (EKS: aws eks get-token): not in the file, sent all the same.
    exec: `    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: /bin/sh\n      args: ["-c", "echo '{\\"apiVersion\\":\\"client.authentication.k8s.io/v1beta1\\",\\"kind\\":\\"ExecCredential\\",\\"status\\":{\\"token\\":\\"${KUBE_EXEC_TOKEN}\\"}}'"]`,
  };
  const SECRETS = [KUBE_TOKEN, KUBE_PASSWORD, `admin:${KUBE_PASSWORD}`, KUBE_EXEC_TOKEN];

  it.each(['html', 'status', 'lower-scheme', 'text', 'json', 'bad-json'])('an answer (%s) that echoes the token or password: the error says what failed, never the credentials', async (m) => {
    mode = m;
    const rules = join(pki.dir, 'rules.yaml');
    writeFileSync(rules, RULES_YAML);
    for (const user of Object.values(USERS)) {
      const io = captureIo({});
      expect(await main(['audit', '--config', rules, '--kubeconfig', kubeconfig(user), '-n', 'x', '--scope', 'pods'], io)).toBe(2);
      expect(io.err()).toMatch(/^error: cannot list pods in namespace x/m);
      expectClean(`audit ${m}`, `${io.out()}\n${io.err()}`, SECRETS);
    }
  });

  it('a Status that quotes the credential of the kubeconfig twice, without its scheme: both are cut', async () => {
    mode = 'twice';
    const rules = join(pki.dir, 'rules.yaml');
    writeFileSync(rules, RULES_YAML);
    // The token and the basic user (their credentials are in the kubeconfig; an exec plugin's token is not).
    for (const user of [USERS.token, USERS.basic]) {
      const io = captureIo({});
      expect(await main(['audit', '--config', rules, '--kubeconfig', kubeconfig(user), '-n', 'x', '--scope', 'pods'], io)).toBe(2);
      expect(io.err()).toMatch(/^error: cannot list pods in namespace x .*: HTTP 403: credentials <redacted> are not allowed; sent: <redacted>$/m);
      expectClean('audit twice', `${io.out()}\n${io.err()}`, SECRETS);
    }
  });

  it('a server URL whose password is the start of the token: the token is cut whole, not its start only', async () => {
    mode = 'html';
    const rules = join(pki.dir, 'rules.yaml');
    writeFileSync(rules, RULES_YAML);
    const io = captureIo({});
    expect(await main(['audit', '--config', rules, '--kubeconfig', kubeconfig(USERS.token, `https://admin:${KUBE_TOKEN.slice(0, 8)}@127.0.0.1:${port}`), '-n', 'x', '--scope', 'pods'], io)).toBe(2);
    expect(io.err()).toMatch(/^error: cannot list pods in namespace x/m);
    expectClean('audit server url, prefix of the token', `${io.out()}\n${io.err()}`, [...SECRETS, KUBE_TOKEN.slice(8)]);
  });

  it('a server URL with a password in it: never printed', async () => {
    mode = 'html';
    const rules = join(pki.dir, 'rules.yaml');
    writeFileSync(rules, RULES_YAML);
    const io = captureIo({});
    expect(await main(['audit', '--config', rules, '--kubeconfig', kubeconfig(USERS.token, `https://admin:${KUBE_PASSWORD}@127.0.0.1:${port}`), '-n', 'x', '--scope', 'pods'], io)).toBe(2);
    expect(io.err()).toContain(`127.0.0.1:${port}`);
    expectClean('audit server url', `${io.out()}\n${io.err()}`, SECRETS);
    // A "%" that starts no escape: the password cannot be URL-decoded, and is cut all the same.
    const odd = captureIo({});
    expect(await main(['audit', '--config', rules, '--kubeconfig', kubeconfig(USERS.token, `https://admin:${KUBE_PASSWORD}%zz@127.0.0.1:${port}`), '-n', 'x', '--scope', 'pods'], odd)).toBe(2);
    expect(odd.err()).toContain(`127.0.0.1:${port}`);
    expectClean('audit server url, undecodable password', `${odd.out()}\n${odd.err()}`, SECRETS);
  });
});
