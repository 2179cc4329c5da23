/** `webhook-config --service NAMESPACE/NAME[:PORT] --token TOKEN`: clientConfig.service for `serve` behind a Service, every error, and nothing else differing from --url. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EXIT, main } from '../../src/cli/main.js';
import { type MutatingWebhookConfiguration, shellQuote, WebhookConfigError, webhookConfiguration, type WebhookConfigOptions } from '../../src/cli/webhook-config.js';
import { captureIo } from '../helpers/io.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

const TOKEN = '0123456789abcdef0123';
const SERVICE = 'image-rewriter/image-rewriter';
const URL_OK = `https://a1b2c3d4e5.execute-api.us-west-2.amazonaws.com/Prod/mutate/${TOKEN}`;

let pki: TestPki;
let scratch: string;
let rulesFile: string;
beforeAll(async () => {
  pki = await createTestPki();
  scratch = await mkdtemp(join(tmpdir(), 'webhook-config-service-'));
  rulesFile = join(scratch, 'rules.yaml');
  await writeFile(rulesFile, 'allowOptOut: false\nrules:\n  - {name: gcr, match: gcr.io, replace: mirror.example.com/gcr}\n');
});
afterAll(async () => {
  await pki.remove();
  await rm(scratch, { recursive: true, force: true });
});

/**
 * The configuration with each webhook's clientConfig left out, and the Service's own namespace
 * (image-rewriter) from the namespaces never sent: what must not differ between --url and --service.
 */
function withoutClientConfig(config: MutatingWebhookConfiguration): unknown {
  return {
    ...config,
    webhooks: config.webhooks.map((w) => ({
      ...w,
      clientConfig: 'left out',
      namespaceSelector: { matchExpressions: w.namespaceSelector.matchExpressions.map((e) => ({ ...e, values: e.values?.filter((v) => v !== 'image-rewriter') })) },
    })),
  };
}

function problemsOf(options: WebhookConfigOptions): readonly string[] {
  try {
    webhookConfiguration(options);
  } catch (e) {
    if (e instanceof WebhookConfigError) return e.problems;
    throw e;
  }
  throw new Error('no problem reported');
}

describe('webhookConfiguration with a service', () => {
  it('registers the Service at /mutate/<token>, port 443 by default, with no url and no caBundle', () => {
    const config = webhookConfiguration({ service: SERVICE, token: TOKEN });
    expect(config.webhooks.map((w) => w.clientConfig)).toEqual([{ service: { namespace: 'image-rewriter', name: 'image-rewriter', path: `/mutate/${TOKEN}`, port: 443 } }]);
  });

  // The replica still running rewrote the image of serve's new Pods (to a mirror that may lack it,
  // or that is the Harbor those Pods serve): the webhook's own namespace is never sent.
  it("never sends the Service's own namespace, as kube-system, whether or not opting out is allowed", () => {
    for (const allowOptOut of [true, false]) {
      const [webhook] = webhookConfiguration({ service: 'webhooks/rewriter:8443', token: TOKEN, allowOptOut }).webhooks;
      expect(webhook?.namespaceSelector.matchExpressions[0]).toEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'webhooks'] });
    }
    expect(webhookConfiguration({ service: 'kube-system/rewriter', token: TOKEN }).webhooks[0]?.namespaceSelector.matchExpressions[0]?.values).toEqual(['kube-system']);
    expect(webhookConfiguration({ url: URL_OK }).webhooks[0]?.namespaceSelector.matchExpressions[0]?.values).toEqual(['kube-system']);
  });

  it('takes a port, and the CA bundle as --url does', () => {
    const config = webhookConfiguration({ service: 'webhooks/rewriter:8443', token: TOKEN, caBundlePem: pki.ca });
    const [webhook] = config.webhooks;
    expect(webhook?.clientConfig).toEqual({
      service: { namespace: 'webhooks', name: 'rewriter', path: `/mutate/${TOKEN}`, port: 8443 },
      caBundle: Buffer.from(pki.ca, 'utf8').toString('base64'),
    });
    expect(webhookConfiguration({ service: 'a/b:1', token: TOKEN }).webhooks[0]?.clientConfig).toMatchObject({ service: { port: 1 } });
    expect(webhookConfiguration({ service: 'a/b:65535', token: TOKEN }).webhooks[0]?.clientConfig).toMatchObject({ service: { port: 65535 } });
    expect(webhookConfiguration({ service: `${'n'.repeat(63)}/${'s'.repeat(63)}`, token: TOKEN }).webhooks).toHaveLength(1);
    // Tokens the API server takes as a Service path segment: openssl rand -hex 32's, dotted, 253 characters.
    for (const token of ['0f'.repeat(32), 'abc.def-0123456789', 'a'.repeat(253)]) {
      expect(webhookConfiguration({ service: SERVICE, token }).webhooks[0]?.clientConfig).toMatchObject({ service: { path: `/mutate/${token}` } });
    }
  });

  it.each<{ options: Omit<WebhookConfigOptions, 'url' | 'service' | 'token' | 'caBundlePem'>; withCa: boolean }>([
    { options: {}, withCa: false },
    { options: { scope: 'all', timeoutSeconds: 10, name: 'image-rewriter-in-cluster', admissionReviewVersions: ['v1'] }, withCa: false },
    { options: { scope: 'pods', rules: [{ kind: 'match', pattern: 'gcr.io' }], allowOptOut: false }, withCa: true },
    { options: { scope: 'all', rules: [{ kind: 'match', pattern: 'registry.k8s.io' }] }, withCa: true },
  ])('differs from the --url configuration in clientConfig only: $options, CA $withCa', ({ options, withCa }) => {
    const rest = withCa ? { ...options, caBundlePem: pki.ca } : options;
    const byService = webhookConfiguration({ ...rest, service: SERVICE, token: TOKEN });
    const byUrl = webhookConfiguration({ ...rest, url: URL_OK });
    expect(withoutClientConfig(byService)).toEqual(withoutClientConfig(byUrl));
    expect(byService.webhooks[0]?.clientConfig.caBundle).toBe(byUrl.webhooks[0]?.clientConfig.caBundle);
  });

  const label = 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters';
  const form = '--service must be NAMESPACE/NAME or NAMESPACE/NAME:PORT (e.g. image-rewriter/image-rewriter:443)';
  const portRule = "--service port must be a whole number from 1 to 65535 (the Service's port, not the container's; default 443)";
  const serviceToken = '--token with --service must be lower-case letters, digits, "-" and "." (starting and ending with a letter or digit, at most 253 characters): the API server refuses any other path segment for a Service';
  it.each([
    { why: 'neither url nor service', options: {}, message: '--url URL is required (API Gateway: https://<api>.execute-api.<region>.amazonaws.com/Prod/mutate/<token>), or --service NAMESPACE/NAME[:PORT] --token TOKEN for serve behind a Service' },
    { why: 'both url and service', options: { url: URL_OK, service: SERVICE, token: TOKEN }, message: 'give --url or --service, not both' },
    { why: 'a token with a url', options: { url: URL_OK, token: TOKEN }, message: '--token goes with --service: with --url, the token is the last segment of the URL (/mutate/<token>)' },
    { why: 'no token', options: { service: SERVICE }, message: "--service needs --token TOKEN: serve's webhook token, which the API server sends as the path's last segment (/mutate/<token>)" },
    { why: 'an empty token', options: { service: SERVICE, token: '' }, message: '--token is empty (was the token empty?): the path would end in /mutate/ with no webhook token after it' },
    { why: 'a blank token', options: { service: SERVICE, token: ' \n' }, message: '--token is empty (was the token empty?)' },
    {
      why: "a rotation's two tokens",
      options: { service: SERVICE, token: '0123456789abcdef0123,fedcba9876543210fedc' },
      message: '--token: two webhook tokens separated by a comma (NEW,OLD: what the token parameter holds during a rotation); give the first alone',
    },
    { why: 'a short token', options: { service: SERVICE, token: 'abc' }, message: '--token must be at least 16 characters of A-Z a-z 0-9 . _ ~ -' },
    { why: 'a token with a slash', options: { service: SERVICE, token: `${TOKEN}/x` }, message: '--token must be at least 16 characters of A-Z a-z 0-9 . _ ~ -' },
    { why: 'a token with a query', options: { service: SERVICE, token: `${TOKEN}?x=1` }, message: '--token must be at least 16 characters' },
    // The API server's rule for a Service path's segments (DNS-1123 subdomains), which serve's token check allows.
    { why: 'a base64url token with capitals (the stack makes such tokens)', options: { service: SERVICE, token: 'Xk3vQ9zLmN2pR7sT0uWyAb' }, message: serviceToken },
    { why: 'a token with "_"', options: { service: SERVICE, token: 'abcdefgh_ijklmnopq' }, message: serviceToken },
    { why: 'a token with "~"', options: { service: SERVICE, token: 'abcdefgh~ijklmnopq' }, message: serviceToken },
    { why: 'a token starting with "-"', options: { service: SERVICE, token: '-abcdefghijklmnopq' }, message: serviceToken },
    { why: 'a token ending with "."', options: { service: SERVICE, token: 'abcdefghijklmnopq.' }, message: serviceToken },
    { why: 'a token of 254 characters', options: { service: SERVICE, token: 'a'.repeat(254) }, message: serviceToken },
    { why: 'an empty service', options: { service: '', token: TOKEN }, message: `${form}: ` },
    { why: 'no namespace part', options: { service: 'image-rewriter', token: TOKEN }, message: `${form}: image-rewriter` },
    { why: 'three parts', options: { service: 'a/b/c', token: TOKEN }, message: `${form}: a/b/c` },
    { why: 'a URL', options: { service: 'https://image-rewriter.image-rewriter.svc/mutate', token: TOKEN }, message: form },
    { why: 'an empty namespace', options: { service: '/image-rewriter', token: TOKEN }, message: `${form}: the namespace is empty: /image-rewriter` },
    { why: 'an empty name', options: { service: 'image-rewriter/', token: TOKEN }, message: `${form}: the name is empty: image-rewriter/` },
    { why: 'an upper-case namespace', options: { service: 'Image-Rewriter/x', token: TOKEN }, message: `--service namespace ${label}: Image-Rewriter` },
    { why: 'a name with a dot', options: { service: 'ns/image.rewriter', token: TOKEN }, message: `--service name ${label}: image.rewriter` },
    { why: 'a name starting with "-"', options: { service: 'ns/-x', token: TOKEN }, message: `--service name ${label}: -x` },
    { why: 'a name of 64 characters', options: { service: `ns/${'a'.repeat(64)}`, token: TOKEN }, message: `--service name ${label}: ${'a'.repeat(64)}` },
    { why: 'port 0', options: { service: `${SERVICE}:0`, token: TOKEN }, message: `${portRule}: ${SERVICE}:0` },
    { why: 'port 65536', options: { service: `${SERVICE}:65536`, token: TOKEN }, message: `${portRule}: ${SERVICE}:65536` },
    { why: 'a named port', options: { service: `${SERVICE}:https`, token: TOKEN }, message: `${portRule}: ${SERVICE}:https` },
    { why: 'an empty port', options: { service: `${SERVICE}:`, token: TOKEN }, message: `${portRule}: ${SERVICE}:` },
    { why: 'a signed port', options: { service: `${SERVICE}:+443`, token: TOKEN }, message: portRule },
    { why: 'a hex port', options: { service: `${SERVICE}:0x1bb`, token: TOKEN }, message: portRule },
    { why: 'two ports', options: { service: `${SERVICE}:443:8443`, token: TOKEN }, message: portRule },
  ])('refuses $why', ({ options, message }) => {
    const problems = problemsOf(options);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });

  it('lists every problem at once', () => {
    expect(problemsOf({ service: 'NS/x_y:0', timeoutSeconds: 0 })).toEqual([
      `--service namespace ${label}: NS`,
      `--service name ${label}: x_y`,
      `${portRule}: NS/x_y:0`,
      expect.stringContaining('--service needs --token TOKEN'),
      expect.stringContaining('--timeout-seconds must be a whole number from 1 to 30'),
    ]);
  });
});

describe('image-rewriter webhook-config --service', () => {
  it('prints YAML that parses back to the object, says how it was made and which name the certificate needs', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--service', `${SERVICE}:8443`, '--token', TOKEN, '--ca-bundle', pki.caFile], io)).toBe(EXIT.ok);
    const out = io.out();
    expect(parse(out)).toEqual(webhookConfiguration({ service: `${SERVICE}:8443`, token: TOKEN, caBundlePem: pki.ca }));
    expect(out).toContain(`# Generated by: image-rewriter webhook-config --service ${SERVICE}:8443 --token ${TOKEN} --ca-bundle ${shellQuote(pki.caFile)}\n`);
    // No API Gateway in this setup: the timeout line names none.
    expect(out).toContain("# timeoutSeconds: 5.\n");
    expect(out).not.toContain("API Gateway");
    expect(out).toContain('# The API server calls the Service image-rewriter/image-rewriter on port 8443 (at /mutate/<token>), over TLS:\n');
    expect(out).toContain('# the certificate of serve must name image-rewriter.image-rewriter.svc, and caBundle is the CA that signed it.\n');
    expect(out).toContain("# Opt out: label a namespace or an object image-rewriter.io/skip=true. kube-system and image-rewriter (serve's own) are never sent.\n");
    expect(io.err()).toBe('');
  });

  it('takes every other flag as --url does, and prints the same configuration but for clientConfig', async () => {
    const rest = ['--scope', 'all', '--config', rulesFile, '--timeout-seconds', '3', '--name', 'in-cluster', '--admission-review-versions', 'v1', '--ca-bundle', pki.caFile];
    const byService = captureIo();
    expect(await main(['webhook-config', '--service', SERVICE, '--token', TOKEN, ...rest], byService)).toBe(EXIT.ok);
    const byUrl = captureIo();
    expect(await main(['webhook-config', '--url', URL_OK, ...rest], byUrl)).toBe(EXIT.ok);
    const service = parse(byService.out()) as MutatingWebhookConfiguration;
    expect(service.webhooks[0]?.matchConditions?.map((c) => c.name)).toEqual(['image-could-be-rewritten', 'not-deployment-replicaset']);
    expect(service.webhooks[0]?.objectSelector.matchExpressions).toEqual([]);
    expect(withoutClientConfig(service)).toEqual(withoutClientConfig(parse(byUrl.out()) as MutatingWebhookConfiguration));
  });

  it('warns when serve runs in default: that namespace is never sent, so none of its Pods would be rewritten', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--service', 'default/image-rewriter', '--token', TOKEN, '--ca-bundle', pki.caFile], io)).toBe(EXIT.ok);
    expect(io.err()).toContain("warning: serve's namespace default is never sent to the webhook");
    const quiet = captureIo();
    expect(await main(['webhook-config', '--service', SERVICE, '--token', TOKEN, '--ca-bundle', pki.caFile], quiet)).toBe(EXIT.ok);
    expect(quiet.err()).toBe('');
  });

  it('names kube-system once in the header when serve runs there', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--service', 'kube-system/image-rewriter', '--token', TOKEN, '--ca-bundle', pki.caFile], io)).toBe(EXIT.ok);
    expect(io.out()).toContain('# Opt out: label a namespace or an object image-rewriter.io/skip=true. kube-system is never sent.\n');
  });

  it('says nothing of API Gateway for a --timeout-seconds past its 29 s: a Service has no such limit', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--service', SERVICE, '--token', TOKEN, '--ca-bundle', pki.caFile, '--timeout-seconds', '30'], io)).toBe(EXIT.ok);
    expect(io.err()).toBe('');
    expect((parse(io.out()) as MutatingWebhookConfiguration).webhooks[0]?.timeoutSeconds).toBe(30);
  });

  it('warns without --ca-bundle, as for a --url host that cannot have a public certificate', async () => {
    const io = captureIo();
    expect(await main(['webhook-config', '--service', SERVICE, '--token', TOKEN], io)).toBe(EXIT.ok);
    expect(io.err()).toBe("warning: no --ca-bundle: the API server will check image-rewriter.image-rewriter.svc's certificate against its system trust roots; give the CA that signed it\n");
    expect(parse(io.out())).toEqual(webhookConfiguration({ service: SERVICE, token: TOKEN }));
  });

  it.each([
    { why: 'neither --url nor --service', args: ['--token', TOKEN], message: 'error: --url URL is required' },
    { why: '--url and --service', args: ['--url', URL_OK, '--service', SERVICE, '--token', TOKEN], message: 'give --url or --service, not both' },
    { why: '--token with --url', args: ['--url', URL_OK, '--token', TOKEN], message: '--token goes with --service' },
    { why: '--service without --token', args: ['--service', SERVICE], message: '--service needs --token TOKEN' },
    { why: 'an empty --token', args: ['--service', SERVICE, '--token', ''], message: '--token is empty (was the token empty?)' },
    { why: 'a short --token', args: ['--service', SERVICE, '--token', 'secret'], message: '--token must be at least 16 characters' },
    { why: 'an empty --service', args: ['--service', '', '--token', TOKEN], message: '--service must be NAMESPACE/NAME or NAMESPACE/NAME:PORT' },
    { why: 'a --service without a namespace', args: ['--service', 'image-rewriter', '--token', TOKEN], message: '--service must be NAMESPACE/NAME or NAMESPACE/NAME:PORT' },
    { why: 'an invalid namespace', args: ['--service', 'Prod/x', '--token', TOKEN], message: '--service namespace must be a DNS-1123 label' },
    { why: 'an invalid name', args: ['--service', 'ns/x.y', '--token', TOKEN], message: '--service name must be a DNS-1123 label' },
    { why: 'an invalid port', args: ['--service', 'ns/x:70000', '--token', TOKEN], message: '--service port must be a whole number from 1 to 65535' },
    { why: 'a port of more than five digits', args: ['--service', 'ns/x:008443', '--token', TOKEN], message: '--service port must be a whole number from 1 to 65535' },
    { why: '--service twice', args: ['--service', SERVICE, '--service', 'a/b', '--token', TOKEN], message: '--service is given more than once' },
  ])('exits 64 with a clear message for $why', async ({ args, message }) => {
    const io = captureIo();
    expect(await main(['webhook-config', ...args], io)).toBe(EXIT.usage);
    expect(io.err()).toContain(message);
    expect(io.out()).toBe('');
  });

  it('treats --ca-bundle as --url does: 64 when it is not a certificate, 1 when it cannot be read', async () => {
    const notPem = join(scratch, 'not.pem');
    await writeFile(notPem, 'hello\n');
    const bad = captureIo();
    expect(await main(['webhook-config', '--service', SERVICE, '--token', TOKEN, '--ca-bundle', notPem], bad)).toBe(EXIT.usage);
    expect(bad.err()).toContain('--ca-bundle holds no PEM certificate');
    const missing = captureIo();
    expect(await main(['webhook-config', '--service', SERVICE, '--token', TOKEN, '--ca-bundle', join(scratch, 'nope.pem')], missing)).toBe(EXIT.failure);
    expect(missing.err()).toContain('cannot read --ca-bundle');
    expect(missing.out()).toBe('');
  });
});
