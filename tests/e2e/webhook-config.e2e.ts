/**
 * `webhook-config --service`: the configuration for `serve` behind a Service, put to the real
 * kube-apiserver's validation by a server-side dry-run create (nothing is stored, so the
 * environment's registered webhook stays as it is). The environment has no cluster DNS and no
 * kube-proxy, so the API server calling a Service is not exercised here: what is checked is that
 * every configuration the flags can make is one the API server accepts, as written.
 */
import { describe, expect } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { E2eEnvironment } from './harness/environment.js';
import { KubectlError } from './harness/kubectl.js';
import { scenario } from './harness/scenario.js';

const env = E2eEnvironment.connect();
const { kubectl } = env;

interface Configuration {
  readonly metadata: { readonly name: string };
  readonly webhooks: readonly Record<string, unknown>[];
}

/** `kubectl create --dry-run=server -o json`: what the API server would store, or its refusal. */
async function dryRunCreate(config: Configuration): Promise<Configuration> {
  const result = await kubectl.ok(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(config) });
  return JSON.parse(result.stdout) as Configuration;
}

describe('webhook-config --service against the API server', () => {
  scenario(env, 'the API server accepts --service configurations as written, and refuses what the flags refuse', async () => {
    const token = (await readFile(env.webhook.files.tokenFile, 'utf8')).trim();
    const variants = [
      { spec: 'image-rewriter/image-rewriter', scope: 'pods' as const, port: 443 },
      { spec: 'webhooks/rewriter:8443', scope: 'all' as const, config: env.webhook.files.rules, port: 8443 },
      { spec: `${'n'.repeat(63)}/${'s'.repeat(63)}:65535`, scope: 'all' as const, port: 65535 },
    ];
    for (const [i, v] of variants.entries()) {
      const yaml = await env.configYaml({ service: { spec: v.spec, token }, name: `image-rewriter-service-${i}`, scope: v.scope, ...(v.config === undefined ? {} : { config: v.config }) });
      const generated = parseYaml(yaml) as Configuration;
      const [namespace, rest = ''] = v.spec.split('/');
      expect(generated.webhooks[0]?.['clientConfig']).toEqual({
        service: { namespace, name: rest.split(':')[0], path: `/mutate/${token}`, port: v.port },
        caBundle: Buffer.from(await readFile(env.webhook.files.caCert, 'utf8')).toString('base64'),
      });
      if (v.config !== undefined) expect(generated.webhooks[0]?.['matchConditions']).toHaveLength(1);
      const stored = await dryRunCreate(generated);
      expect(stored.metadata.name).toBe(`image-rewriter-service-${i}`);
      expect(stored.webhooks).toEqual(generated.webhooks);
    }
    // The dry run does validate: what --service refuses, the API server refuses too.
    const base = parseYaml(await env.configYaml({ service: { spec: 'image-rewriter/image-rewriter', token }, name: 'image-rewriter-service-bad' })) as Configuration;
    const withService = (service: Record<string, unknown>): Configuration => ({
      ...base,
      webhooks: base.webhooks.map((w) => ({ ...w, clientConfig: { ...(w['clientConfig'] as Record<string, unknown>), service } })),
    });
    // An empty namespace or name is "Required value" (kube-apiserver 1.37 names the other of the two fields in it).
    const refusals = [
      { service: { namespace: 'image-rewriter', name: 'image-rewriter', path: `/mutate/${token}`, port: 0 }, says: 'webhooks[0].clientConfig.service.port' },
      { service: { namespace: 'image-rewriter', name: 'image-rewriter', path: `/mutate/${token}`, port: 65536 }, says: 'webhooks[0].clientConfig.service.port' },
      { service: { namespace: '', name: 'image-rewriter', path: `/mutate/${token}`, port: 443 }, says: 'Required value' },
      { service: { namespace: 'image-rewriter', name: '', path: `/mutate/${token}`, port: 443 }, says: 'Required value' },
    ];
    for (const { service, says } of refusals) {
      const refused = await dryRunCreate(withService(service)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(KubectlError);
      expect((refused as KubectlError).result.stderr).toContain('webhooks[0].clientConfig.service.');
      expect((refused as KubectlError).result.stderr).toContain(says);
    }
  });
});
