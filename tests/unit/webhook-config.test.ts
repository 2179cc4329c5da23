/** `webhook-config`: the MutatingWebhookConfiguration object, the flag validation, and mutating-webhook.yaml kept in sync. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EXIT, main } from '../../src/cli/main.js';
import { OPT_IN_LABEL, OPT_IN_VALUE, SKIP_LABEL, SKIP_VALUE } from '../../src/core/admission.js';
import { WORKLOAD_TYPES, workloadTypeOf } from '../../src/core/workload.js';
import { NOT_DEPLOYMENT_REPLICASET_EXPRESSION } from '../../src/core/match-conditions.js';
import {
  MAX_CA_BUNDLE_BYTES,
  PLACEHOLDER_URL,
  shellQuote,
  WEBHOOK_NAME,
  WebhookConfigError,
  webhookConfiguration,
  type MutatingWebhookConfiguration,
} from '../../src/cli/webhook-config.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

const URL_OK = 'https://a1b2c3d4e5.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123';
const GOLDEN = join(REPO_ROOT, 'mutating-webhook.yaml');

let pki: TestPki;
let scratch: string;
beforeAll(async () => {
  pki = await createTestPki();
  scratch = await mkdtemp(join(tmpdir(), 'webhook-config-'));
});
afterAll(async () => {
  await pki.remove();
  await rm(scratch, { recursive: true, force: true });
});

function only(config: MutatingWebhookConfiguration): MutatingWebhookConfiguration['webhooks'][number] {
  expect(config.webhooks).toHaveLength(1);
  const [webhook] = config.webhooks;
  if (webhook === undefined) throw new Error('no webhook');
  return webhook;
}

describe('webhookConfiguration', () => {
  it('has the fields users of admission webhooks expect', () => {
    const config = webhookConfiguration({ url: URL_OK });
    expect(config.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(config.kind).toBe('MutatingWebhookConfiguration');
    expect(config.metadata.name).toBe('image-rewriter');
    const webhook = only(config);
    expect(webhook).toMatchObject({
      name: 'image-rewriter.image-rewriter.io',
      admissionReviewVersions: ['v1', 'v1beta1'],
      clientConfig: { url: URL_OK },
      failurePolicy: 'Ignore',
      matchPolicy: 'Equivalent',
      reinvocationPolicy: 'IfNeeded',
      sideEffects: 'None',
      timeoutSeconds: 5,
    });
    expect(webhook.clientConfig).not.toHaveProperty('caBundle');
  });

  it('names the webhook with a DNS name of at least three segments', () => {
    expect(WEBHOOK_NAME.split('.').length).toBeGreaterThanOrEqual(3);
    expect(WEBHOOK_NAME).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/);
  });

  it('never sends kube-system, and honours the opt-out label on namespaces and objects', () => {
    const webhook = only(webhookConfiguration({ url: URL_OK }));
    const optOut = { key: SKIP_LABEL, operator: 'NotIn', values: [SKIP_VALUE] };
    expect(SKIP_LABEL).toBe('image-rewriter.io/skip');
    expect(SKIP_VALUE).toBe('true');
    expect(webhook.namespaceSelector.matchExpressions).toEqual([
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
      optOut,
    ]);
    expect(webhook.objectSelector.matchExpressions).toEqual([optOut]);
  });

  it('covers Pods and ephemeral containers only by default (scope pods)', () => {
    const webhook = only(webhookConfiguration({ url: URL_OK }));
    expect(webhook.rules).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods', 'pods/ephemeralcontainers'], scope: 'Namespaced' }]);
    expect(webhook.matchConditions).toBeUndefined();
  });

  it('with scope all, covers Pods, ephemeral containers and every workload with a pod template, on CREATE and UPDATE', () => {
    const webhook = only(webhookConfiguration({ url: URL_OK, scope: 'all' }));
    const covered = webhook.rules.flatMap((r) => {
      expect(r.operations).toEqual(['CREATE', 'UPDATE']);
      expect(r.scope).toBe('Namespaced');
      expect(r.apiVersions).toEqual(['v1']);
      return r.apiGroups.flatMap((g) => r.resources.map((res) => `${g === '' ? 'core' : g}/${res}`));
    });
    // Exactly what the handler rewrites (the core's list), each accepted by workloadTypeOf.
    const rewritten = WORKLOAD_TYPES.flatMap((t) => [t.resource, ...t.subresources.map((s) => `${t.resource}/${s}`)].map((res) => `${t.group === '' ? 'core' : t.group}/${res}`));
    expect(covered.sort()).toEqual(rewritten.sort());
    expect(covered).toContain('core/pods/ephemeralcontainers');
    for (const t of WORKLOAD_TYPES) {
      for (const sub of ['', ...t.subresources]) {
        const gv = { group: t.group, version: 'v1' };
        expect(workloadTypeOf({ ...gv, kind: t.kind }, { ...gv, resource: t.resource }, sub)).toBe(t);
      }
    }
  });

  it('puts the CA bundle in base64 and takes the other options', () => {
    const webhook = only(
      webhookConfiguration({ url: 'https://127.0.0.1:8443/mutate', caBundlePem: pki.ca, timeoutSeconds: 10, name: 'image-rewriter-e2e', admissionReviewVersions: ['v1beta1'] }),
    );
    expect(Buffer.from(webhook.clientConfig.caBundle ?? '', 'base64').toString('utf8')).toBe(pki.ca);
    expect(webhook.timeoutSeconds).toBe(10);
    expect(webhook.admissionReviewVersions).toEqual(['v1beta1']);
    expect(webhookConfiguration({ url: URL_OK, name: 'x.y' }).metadata.name).toBe('x.y');
  });

  it.each([
    { why: 'http', url: 'http://example.com/mutate', message: '--url must be an https:// URL' },
    { why: 'no scheme', url: 'example.com/mutate', message: '--url must be an https:// URL' },
    { why: 'a query', url: 'https://example.com/mutate?token=x', message: '--url must not have a query' },
    { why: 'an empty query', url: 'https://example.com/mutate?', message: '--url must not have a query' },
    { why: 'a fragment', url: 'https://example.com/mutate#x', message: '--url must not have a fragment' },
    { why: 'user info', url: 'https://user:pw@example.com/mutate', message: '--url must not contain a user or password' },
    { why: 'a space', url: 'https://example.com/mu tate', message: '--url must not contain spaces' },
    { why: 'no host', url: 'https:///mutate', message: '--url must have a host' },
    { why: 'only a port', url: 'https://:8443/mutate', message: '--url must have a host' },
    { why: 'a backslash', url: 'https://example.com\\mutate', message: '--url must not contain a backslash' },
    { why: 'a bad port', url: 'https://example.com:99999/mutate', message: '--url is not a valid URL' },
    // The API server takes it; nothing listens there (--service refuses port 0 too).
    { why: 'port 0', url: 'https://example.com:0/mutate/A-Za-z0-9._~0123', message: '--url port must be a whole number from 1 to 65535' },
    // The API server's url.Parse refuses these ("invalid URL escape"): kubectl apply failed on the output.
    { why: 'an invalid escape in the path', url: 'https://example.com/%zz/mutate/A-Za-z0-9._~0123', message: '--url has a "%" not followed by two hexadecimal digits' },
    { why: 'a "%" ending the token', url: 'https://example.com/mutate/A-Za-z0-9._~0123%', message: '--url has a "%" not followed by two hexadecimal digits' },
    { why: 'nothing', url: '', message: '--url must not be empty' },
    { why: 'a DEL character', url: 'https://example.com/mu\u007ftate/A-Za-z0-9._~0123', message: '--url must not contain spaces or control characters' },
    // The API server took them; its calls then carried another token, or looked up no host.
    { why: 'a zero-width space after the token', url: 'https://example.com/mutate/A-Za-z0-9._~0123\u200b', message: '--url must not contain spaces or control characters, nor any other character than printable ASCII: U+200B at character 44, not printable ASCII (a look-alike or invisible character copied with it?)' },
    { why: 'a Cyrillic look-alike in the host', url: 'https://ex\u0430mple.com/mutate/A-Za-z0-9._~0123', message: 'U+0430 at character 11' },
    { why: 'a CRLF file\'s carriage return', url: 'https://example.com/mutate/A-Za-z0-9._~0123\r', message: 'U+000D at character 44' },
    { why: 'a "%" followed by one hexadecimal digit', url: 'https://example.com/%4g/mutate/A-Za-z0-9._~0123', message: '--url has a "%" not followed by two hexadecimal digits' },
    { why: 'an empty user before "@"', url: 'https://@example.com/mutate/A-Za-z0-9._~0123', message: '--url must not contain a user or password' },
    { why: 'an empty token (APIGatewayURL alone)', url: 'https://abc123.execute-api.us-west-2.amazonaws.com/Prod/mutate/', message: '--url ends in /mutate/ with no webhook token after it' },
  ])('rejects a URL with $why', ({ url, message }) => {
    expect(() => webhookConfiguration({ url })).toThrow(WebhookConfigError);
    expect(() => webhookConfiguration({ url })).toThrow(message);
  });

  it.each([
    { why: 'timeout 0', options: { timeoutSeconds: 0 }, message: '--timeout-seconds must be a whole number from 1 to 30' },
    { why: 'timeout 31', options: { timeoutSeconds: 31 }, message: '--timeout-seconds must be a whole number from 1 to 30' },
    { why: 'timeout 2.5', options: { timeoutSeconds: 2.5 }, message: '--timeout-seconds must be a whole number from 1 to 30' },
    { why: 'an upper-case name', options: { name: 'Image-Rewriter' }, message: '--name must be a Kubernetes object name' },
    { why: 'a name ending in "-"', options: { name: 'image-rewriter-' }, message: '--name must be a Kubernetes object name' },
    { why: 'a name with a segment ending in "-"', options: { name: 'image-.rewriter' }, message: '--name must be a Kubernetes object name' },
    { why: 'an unknown review version', options: { admissionReviewVersions: ['v2'] }, message: '"v2" is not one of v1, v1beta1' },
    { why: 'no review version', options: { admissionReviewVersions: [] }, message: 'must list at least one of v1, v1beta1' },
    { why: 'a repeated review version', options: { admissionReviewVersions: ['v1', 'v1'] }, message: 'must not repeat a version' },
    { why: 'a CA bundle without a certificate', options: { caBundlePem: 'hello' }, message: '--ca-bundle holds no PEM certificate' },
    {
      why: 'a CA bundle with a private key',
      options: { caBundlePem: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n' },
      message: '--ca-bundle holds a private key',
    },
    {
      why: 'a CA bundle with a broken certificate',
      options: { caBundlePem: '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n' },
      message: '--ca-bundle certificate 1 does not parse',
    },
  ])('rejects $why', ({ options, message }) => {
    expect(() => webhookConfiguration({ url: URL_OK, ...options })).toThrow(message);
  });

  it.each([1, 30])('takes timeout %i, at a bound of what the API server accepts', (timeoutSeconds) => {
    expect(only(webhookConfiguration({ url: URL_OK, timeoutSeconds })).timeoutSeconds).toBe(timeoutSeconds);
  });

  it('takes a URL whose token after /mutate/ the endpoint accepts, and a path without /mutate/ as it is', () => {
    // The scheme in any case: the API server's url.Parse lower-cases it.
    for (const url of [URL_OK, 'https://abc123.execute-api.us-west-2.amazonaws.com/mutate/mutate/A-Za-z0-9._~0123', 'https://127.0.0.1:8443/inject', 'HTTPS://example.com/mutate/A-Za-z0-9._~0123']) {
      expect(webhookConfiguration({ url }).webhooks[0]?.clientConfig).toEqual({ url });
    }
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      webhookConfiguration({ url: 'http://x', timeoutSeconds: 99, name: 'BAD' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WebhookConfigError);
    expect((error as WebhookConfigError).problems).toHaveLength(3);
  });
});

describe('image-rewriter webhook-config', () => {
  it('prints YAML that parses back to the object, after a header comment', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK], io)).toBe(EXIT.ok);
    const out = io.out();
    expect(out.startsWith('# MutatingWebhookConfiguration for image-rewriter')).toBe(true);
    expect(out).toContain(`# Generated by: image-rewriter webhook-config --url ${URL_OK}\n`);
    expect(out).not.toContain('*a1'); // no YAML aliases: people read and diff this file
    expect(parse(out)).toEqual(webhookConfiguration({ url: URL_OK }));
    expect(io.err()).toBe('');
  });

  it('reads --ca-bundle and takes every flag', async () => {
    const io = captureIo();
    const args = ['webhook-config', '--url', 'https://127.0.0.1:8443/mutate', '--ca-bundle', pki.caFile, '--timeout-seconds', '3', '--name', 'e2e', '--admission-review-versions', 'v1beta1'];
    expect(await main(args, io)).toBe(EXIT.ok);
    expect(parse(io.out())).toEqual(
      webhookConfiguration({ url: 'https://127.0.0.1:8443/mutate', caBundlePem: pki.ca, timeoutSeconds: 3, name: 'e2e', admissionReviewVersions: ['v1beta1'] }),
    );
    expect(io.out()).toContain(`--ca-bundle ${shellQuote(pki.caFile)} --timeout-seconds 3 --name e2e --admission-review-versions v1beta1`);
  });

  it('takes --admission-review-versions with blanks after the commas', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--admission-review-versions', 'v1beta1, v1'], io)).toBe(EXIT.ok);
    expect(only(parse(io.out()) as MutatingWebhookConfiguration).admissionReviewVersions).toEqual(['v1beta1', 'v1']);
  });

  it('takes --timeout-seconds with blanks around it, and writes it without them in the header', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--timeout-seconds', ' 7 '], io)).toBe(EXIT.ok);
    expect(only(parse(io.out()) as MutatingWebhookConfiguration).timeoutSeconds).toBe(7);
    expect(io.out()).toContain(`# Generated by: image-rewriter webhook-config --url ${URL_OK} --timeout-seconds 7\n`);
  });

  it('quotes a flag value in the header for a POSIX shell when it needs it: blanks and quotes survive', async () => {
    const rules = join(scratch, "it's the team rules.yaml");
    await writeFile(rules, 'rules:\n  - {name: gcr, match: gcr.io, replace: mirror.example.com/gcr}\n');
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', rules], io)).toBe(EXIT.ok);
    // As sh reads it back: '...it'\''s the team rules.yaml' (quote, escaped quote, quote).
    const quoted = `'${scratch}/it'\\''s the team rules.yaml'`;
    expect(io.out()).toContain(`# Generated by: image-rewriter webhook-config --url ${URL_OK} --config ${quoted}\n`);
    for (const name of ['team rules.yaml', 'rules-$HOME.yaml', 'rules-`id`.yaml', 'rules;x.yaml']) {
      const file = join(scratch, name);
      await writeFile(file, 'rules:\n  - {name: gcr, match: gcr.io, replace: mirror.example.com/gcr}\n');
      const io2 = captureIo();
      expect(await main(['webhook-config', '--url', URL_OK, '--config', file], io2)).toBe(EXIT.ok);
      expect(io2.out()).toContain(`# Generated by: image-rewriter webhook-config --url ${URL_OK} --config '${file}'\n`);
    }
  });

  it('warns, and still prints it, when the token after /mutate/ is shorter than every endpoint of ours accepts', async () => {
    const io = captureIo();
    const url = 'https://abc123.execute-api.us-west-2.amazonaws.com/Prod/mutate/short';
    expect(await main(['webhook-config', '--url', url], io)).toBe(EXIT.ok);
    expect(io.err()).toContain('warning: the webhook token after /mutate/ has 5 characters; the Lambda and serve refuse tokens shorter than 16');
    expect(parse(io.out())).toEqual(webhookConfiguration({ url }));
  });

  it.each([
    ['30', true],
    ['29', false],
  ])('with --url and --timeout-seconds %s, warns that API Gateway gives up at 29 s: %s', async (seconds, warns) => {
    const io = captureIo();
    const url = 'https://abc123.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123';
    expect(await main(['webhook-config', '--url', url, '--timeout-seconds', seconds], io)).toBe(EXIT.ok);
    expect(io.err().includes(`warning: --timeout-seconds ${seconds}: API Gateway answers 504 after 29 s`)).toBe(warns);
    expect(parse(io.out())).toEqual(webhookConfiguration({ url, timeoutSeconds: Number(seconds) }));
  });

  it.each([
    ["a SecureString's ciphertext (read without --with-decryption)", 'https://abc123.execute-api.us-west-2.amazonaws.com/Prod/mutate/AQICAHh+0123456789/abcdef=='],
    ['a placeholder', 'https://example.com/Prod/mutate/<token>'],
    ['a template placeholder', 'https://example.com/Prod/mutate/{token}'],
  ])('warns, and still prints it, when the token after /mutate/ has characters our endpoints refuse: %s', async (_why, url) => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', url], io)).toBe(EXIT.ok);
    expect(io.err()).toContain('warning: the webhook token after /mutate/ has characters the Lambda and serve refuse (only A-Z a-z 0-9 . _ ~ -; an SSM SecureString read without --with-decryption is its ciphertext)');
    expect(parse(io.out())).toEqual(webhookConfiguration({ url }));
  });

  it('warns, and still prints it, when the URL ends in the two tokens of a rotation (NEW,OLD)', async () => {
    const io = captureIo();
    const url = 'https://abc123.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123,fedcba9876543210fedc';
    expect(await main(['webhook-config', '--url', url], io)).toBe(EXIT.ok);
    expect(io.err()).toContain(
      'warning: two webhook tokens separated by a comma (NEW,OLD: what the token parameter holds during a rotation) after /mutate/; put the first alone in the URL, so every call would be refused (401)',
    );
    expect(parse(io.out())).toEqual(webhookConfiguration({ url }));
  });

  it.each([
    ['an API Gateway stage URL without /mutate/<token>', 'https://abc123.execute-api.us-west-2.amazonaws.com/Prod/', 'an API Gateway endpoint without /mutate/<token>'],
    ['an API Gateway URL in China without a path', 'https://abc123.execute-api.cn-north-1.amazonaws.com.cn', 'an API Gateway endpoint without /mutate/<token>'],
    ['a bare Lambda function URL', 'https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/', 'a Lambda function URL with no webhook token'],
  ])('warns, and still prints it, when an AWS endpoint URL carries no token: %s', async (_why, url, warning) => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', url], io)).toBe(EXIT.ok);
    expect(io.err()).toContain(`warning: the URL is ${warning}`);
    expect(io.err()).toContain('every Pod admitted unrewritten');
    expect(parse(io.out())).toEqual(webhookConfiguration({ url }));
  });

  it.each([
    ['a function URL whose last segment is the token', 'https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/0123456789abcdef0123'],
    ['a proxy of its own, which may add the token', 'https://webhook.example.com/'],
    ['a token of exactly 16 characters, the shortest our endpoints take', 'https://abc123.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef'],
    ['a path with /mutate/ twice: the token is the segment after the last', 'https://abc123.execute-api.us-west-2.amazonaws.com/mutate/mutate/A-Za-z0-9._~0123'],
  ])('does not warn about the token for %s', async (_why, url) => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', url], io)).toBe(EXIT.ok);
    expect(io.err()).not.toContain('token');
  });

  it('warns when an endpoint that cannot have a public certificate has no --ca-bundle', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', 'https://127.0.0.1:8443/mutate'], io)).toBe(EXIT.ok);
    expect(io.err()).toContain('warning: no --ca-bundle');
  });

  it.each([
    ['an IPv4 address', 'https://127.0.0.1:8443/mutate/A-Za-z0-9._~0123', '127.0.0.1'],
    ['an IPv6 address, named without its brackets', 'https://[::1]:8443/mutate/A-Za-z0-9._~0123', '::1'],
    ['localhost', 'https://localhost:8443/mutate/A-Za-z0-9._~0123', 'localhost'],
    ['a single label (a name only a cluster resolves)', 'https://image-rewriter:8443/mutate/A-Za-z0-9._~0123', 'image-rewriter'],
    ['a public name', URL_OK, undefined],
  ])('without --ca-bundle, for %s, warns that the system trust roots check the host: %s', async (_why, url, host) => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', url], io)).toBe(EXIT.ok);
    expect(io.err()).toBe(host === undefined ? '' : `warning: no --ca-bundle: the API server will check ${host}'s certificate against its system trust roots; give the CA that signed it\n`);
  });

  it('checks every certificate of a CA bundle, the second after a good one too', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n';
    expect(() => webhookConfiguration({ url: URL_OK, caBundlePem: `${pki.ca}${broken}` })).toThrow('--ca-bundle certificate 2 does not parse');
    expect(() => webhookConfiguration({ url: URL_OK, caBundlePem: `${pki.ca}${pki.ca}` })).not.toThrow();
  });

  it.each([
    { why: 'no --url', args: [], message: '--url URL is required' },
    { why: 'an http URL', args: ['--url', 'http://example.com/mutate'], message: '--url must be an https:// URL' },
    { why: 'a query in the URL', args: ['--url', `${URL_OK}?x=1`], message: '--url must not have a query' },
    { why: 'a timeout of 0', args: ['--url', URL_OK, '--timeout-seconds', '0'], message: '--timeout-seconds must be a whole number from 1 to 30' },
    { why: 'a timeout of 31', args: ['--url', URL_OK, '--timeout-seconds', '31'], message: '--timeout-seconds must be a whole number from 1 to 30' },
    { why: 'a timeout that is not a number', args: ['--url', URL_OK, '--timeout-seconds', '5s'], message: '--timeout-seconds must be a whole number from 1 to 30: 5s' },
    { why: 'a review version list with a typo', args: ['--url', URL_OK, '--admission-review-versions', 'v1,v1beta'], message: '"v1beta" is not one of v1, v1beta1' },
    { why: 'an unknown flag', args: ['--url', URL_OK, '--timeout', '5'], message: 'unknown option --timeout (did you mean --timeout-seconds?)' },
  ])('exits 64 with a clear message for $why', async ({ args, message }) => {
    const io = captureIo();
    expect(await main(['webhook-config', ...args], io)).toBe(EXIT.usage);
    expect(io.err()).toContain(message);
    expect(io.out()).toBe('');
  });

  it.each([
    ['http://example.com/Prod/mutate/', 'http://example.com/...'],
    ['example.com/Prod/mutate/', 'example.com/...'],
    ['https:///Prod/mutate/', 'https:///...'],
    ['https://example.com:99999/Prod/mutate/', 'https://example.com:99999/...'],
  ])('never quotes the webhook token of a refused --url (%s<token>): errors reach CI logs', async (prefix, shown) => {
    const token = 'sEcReT-tOkEn_0123456789abcdef';
    const io = captureIo();
    expect(await main(['webhook-config', '--url', `${prefix}${token}`], io)).toBe(EXIT.usage);
    expect(io.err()).toContain(`: ${shown}\n`);
    expect(io.err()).not.toContain(token);
  });

  it('exits 64 when --ca-bundle is not a certificate, 1 when it cannot be read', async () => {
    const notPem = join(scratch, 'not.pem');
    await writeFile(notPem, 'hello\n');
    const bad = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--ca-bundle', notPem], bad)).toBe(EXIT.usage);
    expect(bad.err()).toContain('--ca-bundle holds no PEM certificate');
    const missing = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--ca-bundle', join(scratch, 'nope.pem')], missing)).toBe(EXIT.failure);
    expect(missing.err()).toContain('cannot read --ca-bundle');
    expect(missing.err()).toContain('ENOENT');
  });

  // Read whole, --ca-bundle /dev/zero took 0.6 GB and failed on V8's "Invalid string length".
  it('exits 1 on a --ca-bundle larger than any bundle of certificates, without reading it whole', async () => {
    const big = join(scratch, 'big.pem');
    await writeFile(big, '');
    await truncate(big, MAX_CA_BUNDLE_BYTES + 1); // sparse: no disk used
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--ca-bundle', big], io)).toBe(EXIT.failure);
    expect(io.err()).toBe(`error: cannot read --ca-bundle ${big}: larger than ${String(MAX_CA_BUNDLE_BYTES)} bytes, not a bundle of PEM certificates\n`);
  });
});

describe('--config with allowOptOut: false', () => {
  it('selects nothing out by the opt-out label, as the handler rewrites such objects anyway', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'image-rewriter-webhook-config-'));
    const rules = join(dir, 'rules.yaml');
    await writeFile(rules, 'allowOptOut: false\nrules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');
    const io = captureIo();
    expect(await main(['webhook-config', '--url', 'https://a.example/mutate/abcdefabcdefabcdef0123', '--config', rules], io)).toBe(0);
    const doc = parse(io.out()) as { webhooks: { namespaceSelector: { matchExpressions: unknown[] }; objectSelector: { matchExpressions: unknown[] } }[] };
    const webhook = doc.webhooks[0];
    expect(webhook?.namespaceSelector.matchExpressions).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }]);
    expect(webhook?.objectSelector.matchExpressions).toEqual([]);
    expect(io.out()).toContain('Opt out: not allowed by the rules (allowOptOut: false)');
    await rm(dir, { recursive: true, force: true });
  });
});

// Opt-in scoping: a platform team rolls the webhook out namespace by namespace, the namespaces
// labelled image-rewriter.io/rewrite=true only. Without --opt-in nothing changes (mutating-webhook.yaml).
describe('--opt-in', () => {
  const optOut = { key: 'image-rewriter.io/skip', operator: 'NotIn', values: ['true'] };
  const optIn = { key: 'image-rewriter.io/rewrite', operator: 'In', values: ['true'] };
  const kubeSystem = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] };

  it('adds the opt-in label to the namespaceSelector, beside kube-system and the opt-out label; the objectSelector is as before', () => {
    expect(OPT_IN_LABEL).toBe('image-rewriter.io/rewrite');
    expect(OPT_IN_VALUE).toBe('true');
    const webhook = only(webhookConfiguration({ url: URL_OK, optIn: true }));
    expect(webhook.namespaceSelector.matchExpressions).toEqual([kubeSystem, optOut, optIn]);
    expect(webhook.objectSelector.matchExpressions).toEqual([optOut]);
    // false or absent: the selectors of before.
    for (const optInValue of [false, undefined]) expect(webhookConfiguration({ url: URL_OK, optIn: optInValue })).toEqual(webhookConfiguration({ url: URL_OK }));
    // With allowOptOut: false, the opt-in label alone; with --service, its namespace is still left out.
    expect(only(webhookConfiguration({ url: URL_OK, optIn: true, allowOptOut: false })).namespaceSelector.matchExpressions).toEqual([kubeSystem, optIn]);
    expect(only(webhookConfiguration({ service: 'image-rewriter/serve', token: '0123456789abcdef0123', optIn: true })).namespaceSelector.matchExpressions).toEqual([
      { ...kubeSystem, values: ['kube-system', 'image-rewriter'] },
      optOut,
      optIn,
    ]);
  });

  it('says so in the header and in its command line; the rest of the output is the one without it, byte for byte', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--opt-in'], io)).toBe(EXIT.ok);
    const out = io.out();
    expect(parse(out)).toEqual(webhookConfiguration({ url: URL_OK, optIn: true }));
    expect(io.err()).toBe('');
    const without = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK], without)).toBe(EXIT.ok);
    expect(without.out()).not.toMatch(/opt-in|Opt in|image-rewriter\.io\/rewrite/);
    const line = '# Opt in: only namespaces labelled image-rewriter.io/rewrite=true are sent (kubectl label namespace NS image-rewriter.io/rewrite=true).\n';
    const entry = '        - key: image-rewriter.io/rewrite\n          operator: In\n          values:\n            - "true"\n';
    expect(out).toBe(
      without
        .out()
        .replace(`# Generated by: image-rewriter webhook-config --url ${URL_OK}\n`, `# Generated by: image-rewriter webhook-config --url ${URL_OK} --opt-in\n`)
        .replace('kube-system is never sent.\n', `kube-system is never sent.\n${line}`)
        .replace('    objectSelector:\n', `${entry}    objectSelector:\n`),
    );
  });

  it('takes no value', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--opt-in=yes'], io)).toBe(EXIT.usage);
  });

  it('help webhook-config names it', async () => {
    const io = captureIo();
    expect(await main(['help', 'webhook-config'], io)).toBe(EXIT.ok);
    expect(io.out()).toContain('[--failure-policy Ignore|Fail] [--opt-in]');
    expect(io.out()).toContain('--opt-in: only namespaces labelled image-rewriter.io/rewrite=true)');
  });
});

// onMissing: deny refuses an object for certain only with failurePolicy Fail (README, docs/verify.md),
// which the command could not write: the only way was to edit what it prints, which its header says
// not to do. --failure-policy Fail writes it, and the header says what it costs.
describe('--failure-policy', () => {
  it('Ignore by default; Fail when asked, with the cost in the header and the flag in its command line', async () => {
    expect(only(webhookConfiguration({ url: URL_OK })).failurePolicy).toBe('Ignore');
    expect(only(webhookConfiguration({ url: URL_OK, failurePolicy: 'Fail' })).failurePolicy).toBe('Fail');
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--failure-policy', 'Fail'], io)).toBe(EXIT.ok);
    expect((parse(io.out()) as MutatingWebhookConfiguration).webhooks[0]?.failurePolicy).toBe('Fail');
    expect(io.out()).toContain('# Generated by: image-rewriter webhook-config --url https://a1b2c3d4e5.execute-api.us-west-2.amazonaws.com/Prod/mutate/0123456789abcdef0123 --failure-policy Fail\n');
    expect(io.out()).toContain('# failurePolicy Fail: when the webhook is down or slow, the API server refuses what it would send');
    expect(io.out()).not.toContain('fail open');
  });

  // With Fail, the API server's error for a call that got no HTTP answer (a timeout, a refused
  // connection) is the answer the requester gets, and it quotes the URL, token included
  // (docs/security.md, "The webhook token"): whoever may create a Pod can read the token then.
  it.each([
    ['--url', ['--url', URL_OK]],
    ['--service', ['--service', 'image-rewriter/image-rewriter', '--token', '0123456789abcdef0123']],
  ])('Fail warns, for %s, that a failed call shows the token to whoever made the request; Ignore does not', async (_what, endpoint) => {
    const fail = captureIo();
    expect(await main(['webhook-config', ...endpoint, '--failure-policy', 'Fail'], fail)).toBe(EXIT.ok);
    expect(fail.err()).toContain('warning: --failure-policy Fail: the API server answers a request whose webhook call failed (a timeout, a refused connection, a TLS error) with an error quoting the webhook URL, its /mutate/<token> included');
    expect(fail.err()).not.toContain('0123456789abcdef0123');
    const ignore = captureIo();
    expect(await main(['webhook-config', ...endpoint], ignore)).toBe(EXIT.ok);
    expect(ignore.err()).not.toContain('failure-policy');
  });

  // No token to show: serve --allow-unauthenticated's URL ends in /mutate.
  it('Fail does not warn about the token for a URL that carries none', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', 'https://hook.example.com/mutate', '--failure-policy', 'Fail'], io)).toBe(EXIT.ok);
    expect(io.err()).not.toContain('failure-policy Fail');
  });

  it('says what a token the endpoints refuse does under each policy: Pods admitted unrewritten with Ignore, refused with Fail', async () => {
    const url = 'https://hook.example.com/mutate/short';
    const ignore = captureIo();
    expect(await main(['webhook-config', '--url', url], ignore)).toBe(EXIT.ok);
    expect(ignore.err()).toContain('with failurePolicy Ignore, every Pod admitted unrewritten');
    const fail = captureIo();
    expect(await main(['webhook-config', '--url', url, '--failure-policy', 'Fail'], fail)).toBe(EXIT.ok);
    expect(fail.err()).toContain('with failurePolicy Fail, every Pod sent to the webhook refused');
    expect(fail.err()).not.toContain('admitted unrewritten');
  });

  it('refuses any other value', async () => {
    for (const value of ['fail', 'Deny', '']) {
      const io = captureIo();
      expect(await main(['webhook-config', '--url', URL_OK, '--failure-policy', value], io)).toBe(EXIT.usage);
      expect(io.err()).toContain(`--failure-policy must be Ignore or Fail: ${value}`);
    }
  });
});

describe('--scope and --config (matchConditions)', () => {
  it('prints the scope and a matchCondition derived from the rules, and says so in the header', async () => {
    const rules = join(scratch, 'rules.yaml');
    await writeFile(rules, 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: mirror.example.com/gcr\n');
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--scope', 'all', '--config', rules], io)).toBe(EXIT.ok);
    const webhook = only(parse(io.out()) as MutatingWebhookConfiguration);
    expect(webhook.rules.flatMap((r) => r.resources)).toContain('deployments');
    expect(webhook.matchConditions).toEqual([
      { name: 'image-could-be-rewritten', expression: expect.stringContaining("c.image.matches('^(?:[gG][cC][rR]\\\\.[iI][oO])')") },
      { name: 'not-deployment-replicaset', expression: NOT_DEPLOYMENT_REPLICASET_EXPRESSION },
    ]);
    // The condition reads the pod templates the scope sends, not only a Pod's spec.
    expect(webhook.matchConditions?.[0]?.expression).toContain('object.spec.template.spec.containers');
    expect(webhook.matchConditions?.[0]?.expression).toContain('object.spec.jobTemplate.spec.template.spec.containers');
    expect(io.out()).toContain(`--scope all --config ${shellQuote(rules)}`);
    expect(io.out()).toContain('# matchCondition image-could-be-rewritten: only objects with an image the rules could rewrite are sent');
    expect(io.out()).toContain('# Scope all:');
    expect(io.out()).toContain('# matchCondition not-deployment-replicaset: a ReplicaSet a Deployment controls is not sent');
  });

  it('with --scope all, leaves out ReplicaSets a Deployment controls, with or without --config; --scope pods has no such condition', async () => {
    // A rolling update of 8 replicas made 22 calls under --scope all, 13 of them the Deployment
    // controller's updates of its ReplicaSets, each answered unchanged (kube-apiserver 1.37).
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--scope', 'all'], io)).toBe(EXIT.ok);
    expect(only(parse(io.out()) as MutatingWebhookConfiguration).matchConditions).toEqual([{ name: 'not-deployment-replicaset', expression: NOT_DEPLOYMENT_REPLICASET_EXPRESSION }]);
    expect(io.out()).toContain('# matchCondition not-deployment-replicaset: a ReplicaSet a Deployment controls is not sent (the webhook leaves it as its controller made it).\n');
    expect(io.out()).not.toContain('image-could-be-rewritten');
    for (const scope of [undefined, 'pods'] as const) {
      expect(only(webhookConfiguration({ url: URL_OK, scope })).matchConditions).toBeUndefined();
      const rules = [{ kind: 'match' as const, pattern: 'gcr.io' }];
      expect(only(webhookConfiguration({ url: URL_OK, scope, rules })).matchConditions?.map((c) => c.name)).toEqual(['image-could-be-rewritten']);
    }
    const pods = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--scope', 'pods'], pods)).toBe(EXIT.ok);
    expect(pods.out()).not.toContain('not-deployment-replicaset');
    // A rule that matches any image: no rules condition, the ReplicaSet one stays, and the header says both.
    const any = join(scratch, 'any-all.yaml');
    await writeFile(any, "rules:\n  - name: any\n    regex: '([^/]+)/(.+)'\n    replace: all.example.com/$1/$2\n");
    const anyIo = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--scope', 'all', '--config', any], anyIo)).toBe(EXIT.ok);
    expect(only(parse(anyIo.out()) as MutatingWebhookConfiguration).matchConditions?.map((c) => c.name)).toEqual(['not-deployment-replicaset']);
    expect(anyIo.out()).toContain('# No matchCondition image-could-be-rewritten (a rule can match any image, so every object but those ReplicaSets is sent).\n');
  });

  it('makes the conditions of rules that use ${env:...} values this machine lacks (the README\'s ECR rules), as with them set, and says so', async () => {
    const rules = join(scratch, 'rules-ecr.yaml');
    await writeFile(rules, 'rules:\n  - name: hub\n    match: docker.io\n    replace: ${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.${env:AWS_URL_SUFFIX}/docker-hub\n  - name: ghcr\n    match: ghcr.io\n    replace: ${env:MIRROR}/ghcr\n');
    const without = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', rules], without)).toBe(EXIT.ok);
    expect(without.err()).toContain('note: ${env:AWS_ACCOUNT_ID}, ${env:AWS_REGION}, ${env:AWS_URL_SUFFIX}, ${env:MIRROR} not set here: placeholders used (the conditions never depend on replace)');
    const set = captureIo({ AWS_ACCOUNT_ID: '123456789012', AWS_REGION: 'eu-west-1', AWS_URL_SUFFIX: 'amazonaws.com', MIRROR: 'mirror.example.com' });
    expect(await main(['webhook-config', '--url', URL_OK, '--config', rules], set)).toBe(EXIT.ok);
    expect(set.err()).not.toContain('placeholders');
    expect(only(parse(without.out()) as MutatingWebhookConfiguration).matchConditions).toEqual(only(parse(set.out()) as MutatingWebhookConfiguration).matchConditions);
    // A credential's name is refused as everywhere, never given a placeholder.
    await writeFile(rules, 'rules:\n  - name: hub\n    match: docker.io\n    replace: ${env:AWS_SECRET_ACCESS_KEY}.example.com/x\n');
    const secret = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', rules], secret)).toBe(EXIT.invalidConfig);
    expect(secret.err()).toContain('may hold a credential and is never substituted');
  });

  it('gives a placeholder to a variable set blank, and names a variable used twice once', async () => {
    const rules = join(scratch, 'rules-env-twice.yaml');
    await writeFile(rules, 'rules:\n  - name: hub\n    match: docker.io\n    replace: ${env:MIRROR}/hub\n  - name: ghcr\n    match: ghcr.io\n    replace: ${env:MIRROR}/ghcr\n');
    const io = captureIo({ MIRROR: '  ' });
    expect(await main(['webhook-config', '--url', URL_OK, '--config', rules], io)).toBe(EXIT.ok);
    expect(io.err()).toBe('note: ${env:MIRROR} not set here: placeholders used (the conditions never depend on replace)\n');
    expect(only(parse(io.out()) as MutatingWebhookConfiguration).matchConditions).toHaveLength(1);
  });

  it.each(['', ' '])('says --config %j names no rules document', async (file) => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', file], io)).toBe(EXIT.invalidConfig);
    expect(io.err()).toBe('error: --config names no rules document (it is empty)\n');
    expect(io.out()).toBe('');
  });

  it('says that a webhook the condition skips is not reinvoked after another webhook adds an image, and how to order it after', async () => {
    // The API server reinvokes (reinvocationPolicy IfNeeded) only webhooks it called in the first
    // round: a Pod with no rewritable image whose sidecar (gcr.io/...) a webhook of a configuration
    // named after image-rewriter injects keeps that image upstream (checked on kube-apiserver 1.32 and 1.37).
    const rules = join(scratch, 'rules-reinvoked.yaml');
    await writeFile(rules, 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: mirror.example.com/gcr\n');
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', rules], io)).toBe(EXIT.ok);
    expect(io.out()).toContain('# The condition sees the object before the webhooks of configurations named after this one, and the API server never reinvokes a webhook it');
    expect(io.out()).toContain('unless --name sorts this one after theirs');
    const any = join(scratch, 'rules-any.yaml');
    await writeFile(any, 'rules:\n  - name: all\n    regex: (.*)\n    replace: mirror.example.com/$1\n');
    const none = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', any], none)).toBe(EXIT.ok);
    expect(none.out()).not.toContain('never reinvokes');
  });

  it('prints no matchCondition when a rule can match any image', async () => {
    const rules = join(scratch, 'any.yaml');
    await writeFile(rules, "rules:\n  - name: any\n    regex: '([^/]+)/(.+)'\n    replace: all.example.com/$1/$2\n");
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', rules], io)).toBe(EXIT.ok);
    expect(only(parse(io.out()) as MutatingWebhookConfiguration).matchConditions).toBeUndefined();
    expect(io.out()).toContain('# matchConditions: none (a rule can match any image, so every object is sent).\n');
  });

  it('prints the rules document\'s warnings on stderr, like every other command, and the configuration on stdout', async () => {
    const rules = join(scratch, 'shadowed.yaml');
    await writeFile(rules, 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: a.example.com\n  - name: gcr-team\n    match: gcr.io/team\n    replace: b.example.com\n');
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', rules], io)).toBe(EXIT.ok);
    expect(only(parse(io.out()) as MutatingWebhookConfiguration).matchConditions).toHaveLength(1);
    expect(io.err()).toBe('  warning: rules[1]: rule "gcr-team" is never used: rule "gcr" (rules[0]) matches everything it matches and comes first\n');
    const none = join(scratch, 'no-rules.yaml');
    await writeFile(none, 'rules: []\n');
    const io2 = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', none], io2)).toBe(EXIT.ok);
    expect(io2.err()).toContain('warning: rules: no rules: nothing will be rewritten');
    // No rule, nothing to rewrite: no word about images added by other webhooks.
    expect(io2.out()).toContain('# matchConditions: only objects with an image the rules could rewrite are sent');
    expect(io2.out()).not.toContain('reinvokes');
  });

  it('refuses an unknown scope and an invalid rules document', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--scope', 'deployments'], io)).toBe(EXIT.usage);
    expect(io.err()).toContain('--scope must be one of pods, all: deployments');
    const bad = join(scratch, 'bad.yaml');
    await writeFile(bad, 'rules:\n  - name: x\n');
    const io2 = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', bad], io2)).toBe(EXIT.invalidConfig);
    expect(() => webhookConfiguration({ url: URL_OK, scope: 'nodes' as 'pods' })).toThrow(/--scope must be one of pods, all: nodes/);
  });

  it('says a rules document that is not UTF-8 (saved as UTF-16) is not UTF-8', async () => {
    const utf16 = join(scratch, 'utf16.yaml');
    await writeFile(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('rules: []\n', 'utf16le')]));
    const io = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, '--config', utf16], io)).toBe(EXIT.invalidConfig);
    expect(io.out()).toBe('');
    expect(io.err()).toBe(`error: cannot read --config ${utf16}: not UTF-8 text (save the rules document as UTF-8)\n`);
  });
});

describe('mutating-webhook.yaml', () => {
  it('is the output of webhook-config for the placeholder URL (UPDATE_GOLDEN=1 rewrites it)', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--url', PLACEHOLDER_URL], io)).toBe(EXIT.ok);
    if (process.env['UPDATE_GOLDEN'] === '1') await writeFile(GOLDEN, io.out());
    const shipped = await readFile(GOLDEN, 'utf8');
    expect(shipped).toBe(io.out());
  });

  it('has a placeholder the API server accepts as a URL, explained in its header', async () => {
    const shipped = await readFile(GOLDEN, 'utf8');
    const parsed = parse(shipped) as MutatingWebhookConfiguration;
    expect(only(parsed).clientConfig).toEqual({ url: PLACEHOLDER_URL });
    expect(() => webhookConfiguration({ url: PLACEHOLDER_URL })).not.toThrow();
    expect(shipped).toContain('# The URL below is a placeholder.');
  });

  it("tells to append only the token to the stack's APIGatewayURL output, which already ends in /mutate/", async () => {
    const shipped = await readFile(GOLDEN, 'utf8');
    const template = await readFile(join(REPO_ROOT, 'template.yaml'), 'utf8');
    expect(template).toMatch(/APIGatewayURL:[\s\S]*?\/\$\{StageName\}\/mutate\/\n/);
    // Appending "mutate/<token>" to it would register .../mutate/mutate/<token>: API Gateway's 403, and a silent fail-open.
    expect(shipped).not.toMatch(/APIGatewayURL output of the\n# stack, followed by mutate\//);
    expect(shipped).toMatch(/APIGatewayURL output of the\n# stack \(it ends in \/mutate\/\), followed by the webhook token/);
  });
});
