/**
 * The Lambda's verifier (src/lambda/lazy-verifier.ts): the existence checks' code is loaded at the
 * first check, once; a load that fails answers every request unreachable and is tried again.
 */
import { describe, expect, it } from '@jest/globals';
import { readSettings } from '../../src/config/settings.js';
import { lazyVerifier } from '../../src/lambda/lazy-verifier.js';
import type { Verifier, VerifyRequest } from '../../src/verify/verifier.js';

const settings = readSettings({ REWRITE_RULES: '{"rules":[]}', WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' }).verify;
const clients = { ssm: () => Promise.reject(new Error('no SSM here')), secretsManager: () => Promise.reject(new Error('no Secrets Manager here')) };
/** Not a reference: the verifier answers it without any I/O. */
const requests: VerifyRequest[] = [{ image: 'Not A Reference', platforms: [] }];

const fake: Verifier = {
  verify: (rs) => Promise.resolve({ verdicts: rs.map(() => ({ status: 'present', cached: false })), stats: { checks: rs.length, cacheHits: 0, missing: 0, errors: 0, latencyMs: 1 } }),
};

describe('lazyVerifier', () => {
  it('loads the existence checks at the first check, once', async () => {
    let loads = 0;
    const verifier = lazyVerifier(settings, clients, () => {
      loads++;
      return Promise.resolve({ verifierFor: () => fake });
    });
    expect(loads).toBe(0);
    await Promise.all([verifier.verify(requests), verifier.verify(requests)]);
    expect((await verifier.verify(requests)).verdicts).toEqual([{ status: 'present', cached: false }]);
    expect(loads).toBe(1);
  });

  it('answers unreachable when the code cannot be loaded, and tries again at the next check', async () => {
    let loads = 0;
    const verifier = lazyVerifier(settings, clients, () => {
      loads++;
      return loads === 1 ? Promise.reject(new Error('chunk missing')) : Promise.resolve({ verifierFor: () => fake });
    });
    const failed = await verifier.verify([...requests, { image: 'b.example.com/x:1', platforms: [] }]);
    expect(failed.verdicts).toEqual([
      { status: 'unreachable', reason: 'the existence check could not be loaded (chunk missing)' },
      { status: 'unreachable', reason: 'the existence check could not be loaded (chunk missing)' },
    ]);
    expect(failed.stats).toMatchObject({ checks: 2, errors: 2 });
    expect((await verifier.verify(requests)).verdicts).toEqual([{ status: 'present', cached: false }]);
    expect(loads).toBe(2);
  });

  it('by default loads the real verifier (src/verify/setup.ts)', async () => {
    const result = await lazyVerifier(settings, clients).verify(requests);
    expect(result.verdicts).toEqual([{ status: 'unreachable', reason: expect.stringContaining('cannot check Not A Reference') }]);
  });
});
