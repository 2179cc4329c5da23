/**
 * The existence check against a real OCI registry (CNCF Distribution, tests/helpers/registry.ts)
 * on 127.0.0.1 with TLS, in its three authentication modes: anonymous, htpasswd (basic), and token
 * (bearer from a token server, anonymously or with credentials). Images and a multi-platform index
 * are pushed with plain distribution API calls first, and Windows indexes of one and two builds.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCredentialsSource } from '../../src/verify/credentials.js';
import type { RegistryCredentials } from '../../src/verify/oci.js';
import { createVerifier, type Verifier } from '../../src/verify/verifier.js';
import { type RegistryAuth, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
afterAll(async () => {
  await pki.remove();
});

const noAws = (): Promise<never> => Promise.reject(new Error('no AWS in this test'));

/** A verifier trusting the test CA, with `creds` for the registry (as read from a secret). */
function verifierFor(creds: RegistryCredentials | undefined): Verifier {
  const credentials = creds === undefined ? createCredentialsSource({ kind: 'none' }, { ssm: noAws, secretsManager: noAws, now: Date.now }) : () => Promise.resolve({ credentials: creds });
  return createVerifier({ credentials, ecr: noAws, http: { ca: pki.ca }, deadlineMs: 10_000 });
}

describe.each<{ auth: RegistryAuth; anonymousPull: boolean; withCredentials: boolean }>([
  { auth: 'none', anonymousPull: true, withCredentials: false },
  { auth: 'htpasswd', anonymousPull: false, withCredentials: true },
  { auth: 'token', anonymousPull: false, withCredentials: true },
  { auth: 'token', anonymousPull: true, withCredentials: false },
])('a registry with auth $auth (anonymous pull: $anonymousPull, credentials: $withCredentials)', ({ auth, anonymousPull, withCredentials }) => {
  let registry: TestRegistry;
  let image: string;
  let index: { reference: string; digest: string };
  beforeAll(async () => {
    registry = await startRegistry({ pki, auth, anonymousPull });
    image = (await registry.pushImage('team/app', '1.0', 'linux/amd64')).reference;
    index = await registry.pushIndex('library/multi', '2.0', ['linux/amd64', 'linux/arm64']);
  });
  afterAll(async () => {
    await registry.stop();
  });
  const creds = (): RegistryCredentials | undefined => {
    if (!withCredentials) return undefined;
    const [username = '', password = ''] = Object.entries(registry.users)[0] ?? [];
    return { username, password };
  };

  it('finds a tag, an index by tag and by digest, and answers missing for the rest', async () => {
    const verifier = verifierFor(creds());
    const { verdicts, stats } = await verifier.verify([
      { image, platforms: [] },
      { image: index.reference, platforms: [] },
      { image: `${registry.host}/library/multi@${index.digest}`, platforms: [] },
      { image: `${registry.host}/team/app:2.0`, platforms: [] },
      { image: `${registry.host}/team/absent:1.0`, platforms: [] },
    ]);
    expect(verdicts.map((v) => v.status)).toEqual(['present', 'present', 'present', 'missing', 'missing']);
    expect(stats).toMatchObject({ checks: 5, cacheHits: 0, missing: 2, errors: 0 });
  });

  it('checks platforms in an index and in a single image', async () => {
    const verifier = verifierFor(creds());
    const { verdicts } = await verifier.verify([
      { image: index.reference, platforms: ['linux/amd64', 'linux/arm64'] },
      { image: index.reference, platforms: ['linux/s390x'] },
      { image, platforms: ['linux/amd64'] },
      { image, platforms: ['linux/arm64'] },
    ]);
    expect(verdicts.map((v) => v.status)).toEqual(['present', 'missing', 'present', 'missing']);
    expect(verdicts[1]).toMatchObject({ reason: expect.stringContaining('lacks platform linux/s390x') });
  });

  it('checks a Windows build in an index of two builds, in one of one build, and in a single image', async () => {
    // What a Windows base image index lists: one entry per build (ltsc2019, ltsc2022); a mirror
    // that copied only the ltsc2019 build; a single-platform image of the ltsc2022 build.
    const both = await registry.pushIndex('windows/servercore', 'ltsc', ['windows(10.0.17763.6414)/amd64', 'windows(10.0.20348.2700)/amd64']);
    const ltsc2019 = await registry.pushIndex('windows/servercore', 'ltsc2019', ['windows(10.0.17763.6414)/amd64']);
    const single = await registry.pushImage('windows/app', 'ltsc2022', 'windows(10.0.20348.2700)/amd64');
    const { verdicts } = await verifierFor(creds()).verify([
      { image: both.reference, platforms: ['windows(10.0.17763)/amd64', 'windows(10.0.20348)/amd64'] },
      { image: ltsc2019.reference, platforms: ['windows/amd64'] },
      { image: ltsc2019.reference, platforms: ['windows(10.0.20348)/amd64'] },
      { image: single.reference, platforms: ['windows(10.0.20348)/amd64'] },
      { image: single.reference, platforms: ['windows(10.0.17763)/amd64'] },
    ]);
    expect(verdicts.map((v) => v.status)).toEqual(['present', 'present', 'missing', 'present', 'missing']);
    expect(verdicts[2]).toMatchObject({ reason: `${registry.host} (its windows/amd64 builds: 10.0.17763.6414) lacks platform windows(10.0.20348)/amd64` });
    expect(verdicts[4]).toMatchObject({ reason: `${registry.host} (its windows/amd64 builds: 10.0.20348.2700) lacks platform windows(10.0.17763)/amd64` });
  });

  it('answers a second review from the cache', async () => {
    const verifier = verifierFor(creds());
    await verifier.verify([{ image, platforms: [] }]);
    const again = await verifier.verify([{ image, platforms: [] }]);
    expect(again.verdicts).toEqual([{ status: 'present', cached: true }]);
    expect(again.stats.cacheHits).toBe(1);
  });

  if (auth !== 'none') {
    it('is refused without credentials where they are required, or with wrong ones', async () => {
      const wrong = verifierFor({ username: 'pusher', password: 'wrong' });
      const { verdicts } = await wrong.verify([{ image, platforms: [] }]);
      expect(verdicts[0]?.status).toBe('unreachable');
      if (!withCredentials) return;
      const anonymous = verifierFor(undefined);
      const r = await anonymous.verify([{ image, platforms: [] }]);
      expect(r.verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/refused/) });
    });
  }

  if (auth === 'token') {
    it('reuses its bearer token for the same repository', async () => {
      const verifier = verifierFor(creds());
      const before = registry.tokenRequests();
      await verifier.verify([{ image, platforms: [] }]);
      await verifier.verify([{ image: `${registry.host}/team/app:other`, platforms: [] }]);
      expect(registry.tokenRequests() - before).toBe(1);
    });
  }
});
