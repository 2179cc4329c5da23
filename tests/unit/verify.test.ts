/**
 * The parts of the existence check that need no network: ECR through a mocked SDK client
 * (aws-sdk-client-mock: found, not found, throttling, access denied, pull-through upstream
 * failures, platforms), registry credentials from Secrets Manager or SSM (formats, a read that
 * fails and is retried later), the bounded TTL cache, targets, challenges and platforms.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { runInNewContext } from 'node:vm';
import { BatchGetImageCommand, ECRClient, ECRServiceException, InvalidParameterException, LimitExceededException, RepositoryNotFoundException, ServerException } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { Breakers } from '../../src/verify/breaker.js';
import { TtlCache } from '../../src/verify/cache.js';
import { createCredentialsSource, parseCredentials, REFRESH_MS, registryKey, RETRY_MS } from '../../src/verify/credentials.js';
import { parseChallenge } from '../../src/verify/oci.js';
import { configPlatform, lackReason, lacking, manifestShape, parsePlatform } from '../../src/verify/platform.js';
import { targetOf } from '../../src/verify/target.js';
import { createVerifier, ecrClients } from '../../src/verify/verifier.js';

const ecr = mockClient(ECRClient);
const secrets = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);
beforeEach(() => {
  ecr.reset();
  secrets.reset();
  ssm.reset();
});

const ECR_HOST = '123456789012.dkr.ecr.us-west-2.amazonaws.com';
const none = () => Promise.resolve({ credentials: undefined });
const ecrVerifier = () => createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })) });
const awsError = (name: string): Error => Object.assign(new Error(`${name} message`), { name });
/** An error ECR's model does not declare (throttling, access denied), as the SDK builds it from the answer. */
const unmodeled = (name: string, httpStatusCode: number): Error => new ECRServiceException({ name, $fault: 'client', message: `${name} message`, $metadata: { httpStatusCode } });
const INDEX = JSON.stringify({ schemaVersion: 2, manifests: [{ digest: 'sha256:a', platform: { os: 'linux', architecture: 'amd64' } }, { digest: 'sha256:b', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }] });

describe('ECR targets', () => {
  it('asks BatchGetImage for the tag, or for the digest when there is one', async () => {
    ecr.on(BatchGetImageCommand).resolves({ images: [{ imageManifest: '{}', imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json' }] });
    const digest = `sha256:${'b'.repeat(64)}`;
    const { verdicts } = await ecrVerifier().verify([
      { image: `${ECR_HOST}/mirror/nginx:1.27`, platforms: [] },
      { image: `${ECR_HOST}/mirror/nginx:1.27@${digest}`, platforms: [] },
      { image: `${ECR_HOST}/mirror/nginx`, platforms: [] },
    ]);
    expect(verdicts.map((v) => v.status)).toEqual(['present', 'present', 'present']);
    expect(ecr).toHaveReceivedCommandWith(BatchGetImageCommand, { registryId: '123456789012', repositoryName: 'mirror/nginx', imageIds: [{ imageTag: '1.27' }] });
    expect(ecr).toHaveReceivedCommandWith(BatchGetImageCommand, { imageIds: [{ imageDigest: digest }] });
    expect(ecr).toHaveReceivedCommandWith(BatchGetImageCommand, { imageIds: [{ imageTag: 'latest' }] });
  });

  it.each<[string, () => void, string, RegExp]>([
    ['ImageNotFound', () => ecr.on(BatchGetImageCommand).resolves({ images: [], failures: [{ failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }] }), 'missing', /not found in 123456789012\.dkr\.ecr\.us-west-2\.amazonaws\.com \(ImageNotFound\)/],
    ['no image and no failure', () => ecr.on(BatchGetImageCommand).resolves({}), 'missing', /not found/],
    ['RepositoryNotFoundException', () => ecr.on(BatchGetImageCommand).rejects(new RepositoryNotFoundException({ message: 'no repo', $metadata: {} })), 'missing', /has no repository mirror\/nginx/],
    ['ThrottlingException', () => ecr.on(BatchGetImageCommand).rejects(awsError('ThrottlingException')), 'unreachable', /ECR in us-west-2 failed \(ThrottlingException\)/],
    // As the SDK deserializes errors ECR's model does not declare, and the modeled ones.
    ['ThrottlingException (as the SDK throws it)', () => ecr.on(BatchGetImageCommand).rejects(unmodeled('ThrottlingException', 400)), 'unreachable', /^ECR in us-west-2 failed \(ThrottlingException\)$/],
    ['AccessDeniedException (as the SDK throws it)', () => ecr.on(BatchGetImageCommand).rejects(unmodeled('AccessDeniedException', 400)), 'unreachable', /^ECR in us-west-2 failed \(AccessDeniedException\)$/],
    ['ServerException', () => ecr.on(BatchGetImageCommand).rejects(new ServerException({ message: 'boom', $metadata: { httpStatusCode: 500 } })), 'unreachable', /^ECR in us-west-2 failed \(ServerException\)$/],
    ['LimitExceededException', () => ecr.on(BatchGetImageCommand).rejects(new LimitExceededException({ message: 'limit', $metadata: { httpStatusCode: 400 } })), 'unreachable', /\(LimitExceededException\)$/],
    ['a refused connection (a socket error, named by its code)', () => ecr.on(BatchGetImageCommand).rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), 'unreachable', /^ECR in us-west-2 failed \(ECONNREFUSED\)$/],
    ['a socket error of another realm (not instanceof Error here)', () => ecr.on(BatchGetImageCommand).rejects(Object.assign(runInNewContext('new Error("read ECONNRESET")') as Error, { code: 'ECONNRESET' })), 'unreachable', /^ECR in us-west-2 failed \(ECONNRESET\)$/],
    ['an unknown host', () => ecr.on(BatchGetImageCommand).rejects(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' })), 'unreachable', /\(ENOTFOUND\)$/],
    ['an error whose code is not a code', () => ecr.on(BatchGetImageCommand).rejects(Object.assign(new Error('x'), { code: 'not a code: <script>' })), 'unreachable', /^ECR in us-west-2 failed \(Error\)$/],
    ['the deadline (AbortError)', () => ecr.on(BatchGetImageCommand).rejects(Object.assign(new Error('aborted'), { name: 'AbortError' })), 'unreachable', /^no answer from ECR in us-west-2 within the deadline$/],
    ['AccessDeniedException', () => ecr.on(BatchGetImageCommand).rejects(awsError('AccessDeniedException')), 'unreachable', /AccessDeniedException/],
    ['UnableToGetUpstreamImageException (pull-through)', () => ecr.on(BatchGetImageCommand).rejects(awsError('UnableToGetUpstreamImageException')), 'unreachable', /UnableToGetUpstreamImageException/],
    ['UpstreamUnavailable (pull-through)', () => ecr.on(BatchGetImageCommand).resolves({ failures: [{ failureCode: 'UpstreamUnavailable' }] }), 'unreachable', /could not answer .* \(UpstreamUnavailable\)/],
  ])('%s', async (_what, arrange, status, reason) => {
    arrange();
    const { verdicts, stats } = await ecrVerifier().verify([{ image: `${ECR_HOST}/mirror/nginx:1.27`, platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status, reason: expect.stringMatching(reason) });
    expect(stats).toMatchObject({ checks: 1, missing: status === 'missing' ? 1 : 0, errors: status === 'unreachable' ? 1 : 0 });
  });

  it('does not open the breaker on AccessDeniedException (one repository the role may not read)', async () => {
    ecr.on(BatchGetImageCommand, { repositoryName: 'private' }).rejects(unmodeled('AccessDeniedException', 400));
    ecr.on(BatchGetImageCommand, { repositoryName: 'open' }).resolves({ images: [{ imageManifest: '{}' }] });
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), breakerFailures: 2 });
    for (let i = 0; i < 3; i++) expect((await v.verify([{ image: `${ECR_HOST}/private:${i}`, platforms: [] }])).verdicts[0]?.status).toBe('unreachable');
    expect((await v.verify([{ image: `${ECR_HOST}/open:1`, platforms: [] }])).verdicts[0]?.status).toBe('present');
  });

  it('does not open the breaker when a pull-through cache\'s upstream fails (ECR itself answered)', async () => {
    ecr.on(BatchGetImageCommand, { repositoryName: 'docker-hub/library/nginx' }).rejects(awsError('UnableToGetUpstreamImageException'));
    ecr.on(BatchGetImageCommand, { repositoryName: 'quay/app' }).resolves({ failures: [{ failureCode: 'UpstreamTooManyRequests' }] });
    ecr.on(BatchGetImageCommand, { repositoryName: 'team/app' }).resolves({ images: [{ imageManifest: '{}' }] });
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), breakerFailures: 2 });
    for (const repo of ['docker-hub/library/nginx', 'quay/app', 'docker-hub/library/nginx']) {
      expect((await v.verify([{ image: `${ECR_HOST}/${repo}:1`, platforms: [] }])).verdicts[0]?.status).toBe('unreachable');
    }
    expect((await v.verify([{ image: `${ECR_HOST}/team/app:1`, platforms: [] }])).verdicts[0]?.status).toBe('present');
  });

  it('does not open the breaker on InvalidParameterException (a repository name ECR does not allow, which a Pod may send)', async () => {
    // ECR's names allow one separator between components (`a_b`, `a-b`); image references allow
    // `a__b` and `a--b` too, so a Pod's image can make a target ECR refuses with a 400.
    const invalid = new InvalidParameterException({ message: "Invalid parameter at 'repositoryName' failed to satisfy constraint", $metadata: { httpStatusCode: 400 } });
    ecr.on(BatchGetImageCommand, { repositoryName: 'mirror/a__b' }).rejects(invalid);
    ecr.on(BatchGetImageCommand, { repositoryName: 'mirror/a--b' }).rejects(invalid);
    ecr.on(BatchGetImageCommand, { repositoryName: 'mirror/nginx' }).resolves({ images: [{ imageManifest: '{}' }] });
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), breakerFailures: 2 });
    for (const repo of ['mirror/a__b', 'mirror/a--b', 'mirror/a__b']) {
      expect((await v.verify([{ image: `${ECR_HOST}/${repo}:1`, platforms: [] }])).verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/InvalidParameterException/) });
    }
    // Before: the third refusal had opened the breaker, and every other image of the registry was unreachable.
    expect((await v.verify([{ image: `${ECR_HOST}/mirror/nginx:1`, platforms: [] }])).verdicts[0]?.status).toBe('present');
  });

  it('does not open the breaker on the upstream failure codes of a pull-through cache, one after another, and names the image as asked', async () => {
    // BatchGetImage's `failures` (not an exception): ECR answered; only the cache's upstream failed.
    const digest = `sha256:${'c'.repeat(64)}`;
    ecr.on(BatchGetImageCommand, { repositoryName: 'quay/app' }).resolves({ failures: [{ failureCode: 'UpstreamUnavailable' }] });
    ecr.on(BatchGetImageCommand, { repositoryName: 'ghcr/app' }).resolves({ failures: [{ failureCode: 'UpstreamAccessDenied' }] });
    ecr.on(BatchGetImageCommand, { repositoryName: 'team/app' }).resolves({ images: [{ imageManifest: '{}' }] });
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), breakerFailures: 2 });
    const verdicts = [];
    for (const image of [`${ECR_HOST}/quay/app:1`, `${ECR_HOST}/ghcr/app@${digest}`, `${ECR_HOST}/quay/app:2`]) verdicts.push((await v.verify([{ image, platforms: [] }])).verdicts[0]);
    expect(verdicts).toEqual([
      { status: 'unreachable', reason: `ECR could not answer for ${ECR_HOST}/quay/app:1 (UpstreamUnavailable)` },
      { status: 'unreachable', reason: `ECR could not answer for ${ECR_HOST}/ghcr/app@${digest} (UpstreamAccessDenied)` },
      { status: 'unreachable', reason: `ECR could not answer for ${ECR_HOST}/quay/app:2 (UpstreamUnavailable)` },
    ]);
    expect((await v.verify([{ image: `${ECR_HOST}/team/app:1`, platforms: [] }])).verdicts[0]?.status).toBe('present');
  });

  it('does not open the breaker on UnableToGetUpstreamImageException one after another (a cache whose upstream is down)', async () => {
    ecr.on(BatchGetImageCommand, { repositoryName: 'docker-hub/library/nginx' }).rejects(awsError('UnableToGetUpstreamImageException'));
    ecr.on(BatchGetImageCommand, { repositoryName: 'team/app' }).resolves({ images: [{ imageManifest: '{}' }] });
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), breakerFailures: 2 });
    for (let i = 0; i < 3; i++) expect((await v.verify([{ image: `${ECR_HOST}/docker-hub/library/nginx:${i}`, platforms: [] }])).verdicts[0]?.status).toBe('unreachable');
    expect((await v.verify([{ image: `${ECR_HOST}/team/app:1`, platforms: [] }])).verdicts[0]?.status).toBe('present');
  });

  it("closes the breaker on a probe answered missing: the registry answered, and its other images are asked again", async () => {
    let clock = 0;
    ecr.on(BatchGetImageCommand, { repositoryName: 'flaky' }).rejects(awsError('ThrottlingException'));
    ecr.on(BatchGetImageCommand, { repositoryName: 'gone' }).resolves({ images: [], failures: [{ failureCode: 'ImageNotFound' }] });
    ecr.on(BatchGetImageCommand, { repositoryName: 'team/app' }).resolves({ images: [{ imageManifest: '{}' }] });
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), now: () => clock, breakerFailures: 1, breakerOpenMs: 1000 });
    expect((await v.verify([{ image: `${ECR_HOST}/flaky:1`, platforms: [] }])).verdicts[0]?.status).toBe('unreachable');
    expect((await v.verify([{ image: `${ECR_HOST}/team/app:1`, platforms: [] }])).verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/is failing/) });
    clock = 1000;
    expect((await v.verify([{ image: `${ECR_HOST}/gone:1`, platforms: [] }])).verdicts[0]?.status).toBe('missing');
    expect((await v.verify([{ image: `${ECR_HOST}/team/app:1`, platforms: [] }])).verdicts[0]?.status).toBe('present');
  });

  it('asks for the manifest in the index media types too, so a multi-platform image comes back as its index', async () => {
    ecr.on(BatchGetImageCommand).resolves({ images: [{ imageManifest: INDEX, imageManifestMediaType: 'application/vnd.oci.image.index.v1+json' }] });
    expect((await ecrVerifier().verify([{ image: `${ECR_HOST}/a:1`, platforms: ['linux/arm64'] }])).verdicts[0]?.status).toBe('present');
    const accepted = ecr.commandCalls(BatchGetImageCommand)[0]?.args[0].input.acceptedMediaTypes;
    expect(accepted).toEqual(expect.arrayContaining(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']));
  });

  it('checks platforms in the index BatchGetImage returns', async () => {
    ecr.on(BatchGetImageCommand).resolves({ images: [{ imageManifest: INDEX, imageManifestMediaType: 'application/vnd.oci.image.index.v1+json' }] });
    const { verdicts } = await ecrVerifier().verify([
      { image: `${ECR_HOST}/a:1`, platforms: ['linux/arm64'] },
      { image: `${ECR_HOST}/a:1`, platforms: ['linux/arm64', 'windows/amd64'] },
    ]);
    expect(verdicts[0]?.status).toBe('present');
    expect(verdicts[1]).toMatchObject({ status: 'missing', reason: expect.stringMatching(/lacks platform windows\/amd64/) });
  });

  it('checks a Windows build in the index BatchGetImage returns, and names the builds it has', async () => {
    const windows = JSON.stringify({
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ digest: 'sha256:a', platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.6414' } }],
    });
    ecr.on(BatchGetImageCommand).resolves({ images: [{ imageManifest: windows, imageManifestMediaType: 'application/vnd.oci.image.index.v1+json' }] });
    const { verdicts } = await ecrVerifier().verify([
      { image: `${ECR_HOST}/a:1`, platforms: ['windows(10.0.17763)/amd64'] },
      { image: `${ECR_HOST}/a:1`, platforms: ['windows(10.0.20348)/amd64'] },
    ]);
    expect(verdicts[0]?.status).toBe('present');
    expect(verdicts[1]).toMatchObject({ status: 'missing', reason: `${ECR_HOST} (its windows/amd64 builds: 10.0.17763.6414) lacks platform windows(10.0.20348)/amd64` });
  });

  it('counts a single-platform image as missing when platforms are wanted', async () => {
    ecr.on(BatchGetImageCommand).resolves({ images: [{ imageManifest: '{"config":{"digest":"sha256:c"}}' }] });
    const { verdicts } = await ecrVerifier().verify([{ image: `${ECR_HOST}/a:1`, platforms: ['linux/amd64'] }]);
    expect(verdicts[0]).toMatchObject({ status: 'missing', reason: expect.stringMatching(/not a multi-platform index/) });
  });

  it('caches present for minutes and missing for seconds, errors not at all', async () => {
    let clock = 0;
    ecr.on(BatchGetImageCommand, { imageIds: [{ imageTag: 'here' }] }).resolves({ images: [{}] }).on(BatchGetImageCommand, { imageIds: [{ imageTag: 'gone' }] }).resolves({ failures: [{ failureCode: 'ImageNotFound' }] }).on(BatchGetImageCommand, { imageIds: [{ imageTag: 'err' }] }).rejects(awsError('ServerException'));
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), now: () => clock, positiveTtlMs: 60_000, negativeTtlMs: 5000, breakerFailures: 100 });
    const batch = [`${ECR_HOST}/a:here`, `${ECR_HOST}/a:gone`, `${ECR_HOST}/a:err`].map((image) => ({ image, platforms: [] }));
    await v.verify(batch);
    clock = 1000;
    const second = await v.verify(batch);
    expect(second.stats).toMatchObject({ checks: 3, cacheHits: 2, missing: 1, errors: 1 });
    expect(second.verdicts[0]).toEqual({ status: 'present', cached: true });
    clock = 10_000;
    const third = await v.verify(batch);
    expect(third.stats.cacheHits).toBe(1);
    expect(ecr.commandCalls(BatchGetImageCommand)).toHaveLength(3 + 1 + 2);
  });

  it('asks once for the same target twice in one review', async () => {
    ecr.on(BatchGetImageCommand).resolves({ images: [{}] });
    const { verdicts, stats } = await ecrVerifier().verify([{ image: `${ECR_HOST}/a:1`, platforms: [] }, { image: `${ECR_HOST}/a:1`, platforms: [] }]);
    expect(verdicts).toHaveLength(2);
    expect(stats.checks).toBe(1);
    expect(ecr.commandCalls(BatchGetImageCommand)).toHaveLength(1);
  });

  it('asks once for an image wanted twice with its platforms in another order, and counts one cache hit for it in the next review', async () => {
    ecr.on(BatchGetImageCommand).resolves({ images: [{ imageManifest: INDEX, imageManifestMediaType: 'application/vnd.oci.image.index.v1+json' }] });
    const v = ecrVerifier();
    const batch = [{ image: `${ECR_HOST}/a:1`, platforms: ['linux/arm64', 'linux/amd64'] }, { image: `${ECR_HOST}/a:1`, platforms: ['linux/amd64', 'linux/arm64'] }];
    expect((await v.verify(batch)).stats).toMatchObject({ checks: 1, cacheHits: 0 });
    expect((await v.verify(batch)).stats).toMatchObject({ checks: 1, cacheHits: 1 });
    expect(ecr.commandCalls(BatchGetImageCommand)).toHaveLength(1);
  });

  it('builds one client per region, with import(), and builds again after a failure', async () => {
    const clients = ecrClients(1);
    const a = await clients('us-west-2');
    expect(await clients('us-west-2')).toBe(a);
    const b = await clients('ap-southeast-1');
    expect(b).not.toBe(a);
    expect(await b.config.region()).toBe('ap-southeast-1');
  });

  it('keeps the clients of at most maxRegions regions: one more drops them all', async () => {
    const clients = ecrClients(2);
    const first = await clients('us-west-2');
    await clients('eu-west-1');
    expect(await clients('us-west-2')).toBe(first);
    await clients('ap-southeast-1');
    expect(await clients('us-west-2')).not.toBe(first);
  });
});

describe('registry credentials', () => {
  const deps = (now = () => 0) => ({ ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })), secretsManager: () => Promise.resolve(new SecretsManagerClient({ region: 'us-west-2' })), now });
  const signal = () => new AbortController().signal;

  it('reads a Docker config from Secrets Manager once, by registry host', async () => {
    const auths = { auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') }, 'Mirror.Example.com:5000': { username: 'u', password: 'p:q' } } };
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(auths) });
    const source = createCredentialsSource({ kind: 'secret', secretId: 'registry-creds' }, deps());
    expect(await source('docker.io', signal())).toEqual({ credentials: { username: 'hub', password: 'pw' } });
    expect(await source('mirror.example.com:5000', signal())).toEqual({ credentials: { username: 'u', password: 'p:q' } });
    // An image may write its host in any case; the kubelet's lookup does not care either.
    expect(await source('MIRROR.example.com:5000', signal())).toEqual({ credentials: { username: 'u', password: 'p:q' } });
    expect(await source('other.example.com', signal())).toEqual({ credentials: undefined });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
  });

  it("reads a secret named by its ARN in the ARN's region (one secret for the stacks of every region)", async () => {
    const regions: string[] = [];
    secrets.on(GetSecretValueCommand).callsFake(async (_input: unknown, getClient: () => SecretsManagerClient) => {
      const region = await getClient().config.region();
      regions.push(region);
      // Secrets Manager knows a secret only in its own region.
      if (region !== 'eu-west-1') throw awsError('ResourceNotFoundException');
      return { SecretString: '{"r.example.com":{"username":"u","password":"p"}}' };
    });
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry-creds-AbC123';
    const source = createCredentialsSource({ kind: 'secret', secretId: arn }, deps());
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'p' } });
    // A name, or an ARN of the shared client's own region, is read with the shared client.
    for (const secretId of ['registry-creds', 'arn:aws:secretsmanager:us-west-2:123456789012:secret:registry-creds-AbC123']) {
      await createCredentialsSource({ kind: 'secret', secretId }, deps())('r.example.com', signal());
    }
    expect(regions).toEqual(['eu-west-1', 'us-west-2', 'us-west-2']);
    // Outside AWS the shared client may have no region: the ARN's is enough.
    const noRegion = { ...deps(), secretsManager: () => Promise.resolve(new SecretsManagerClient({ region: (): Promise<string> => Promise.reject(new Error('Region is missing')) })) };
    expect(await createCredentialsSource({ kind: 'secret', secretId: arn }, noRegion)('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'p' } });
  });

  it('reads a plain map from an SSM SecureString with decryption', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '{"quay.io":{"username":"a","password":"b"}}' } });
    const source = createCredentialsSource({ kind: 'ssm', name: '/registry/creds' }, deps());
    expect(await source('quay.io', signal())).toEqual({ credentials: { username: 'a', password: 'b' } });
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: '/registry/creds', WithDecryption: true });
  });

  it('goes on anonymously when the secret cannot be read, says why, and reads again after RETRY_MS', async () => {
    let clock = 0;
    secrets.on(GetSecretValueCommand).rejectsOnce(awsError('AccessDeniedException')).resolves({ SecretString: '{"r.example.com":{"username":"u","password":"p"}}' });
    const source = createCredentialsSource({ kind: 'secret', secretId: 's' }, deps(() => clock));
    expect(await source('r.example.com', signal())).toEqual({ credentials: undefined, unavailable: 'cannot read secret s (AccessDeniedException)' });
    expect(await source('r.example.com', signal())).toMatchObject({ credentials: undefined });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    clock = RETRY_MS;
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'p' } });
  });

  it('reads a rotated secret again after REFRESH_MS, using what it read before meanwhile and when that read fails', async () => {
    let clock = 0;
    secrets
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: '{"r.example.com":{"username":"u","password":"old"}}' })
      .rejectsOnce(awsError('ThrottlingException'))
      .resolves({ SecretString: '{"r.example.com":{"username":"u","password":"new"}}' });
    const source = createCredentialsSource({ kind: 'secret', secretId: 's' }, deps(() => clock));
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'old' } });
    clock = REFRESH_MS - 1;
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'old' } });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    // Due: read in the background (it fails); the checks go on with the old credentials.
    clock = REFRESH_MS;
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'old' } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'old' } });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
    clock = REFRESH_MS + RETRY_MS;
    await source('r.example.com', signal());
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'new' } });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 3);
  });

  it('does not make a check wait for a refresh: a read that hangs leaves the checks on what was read before', async () => {
    let clock = 0;
    secrets.on(GetSecretValueCommand).resolvesOnce({ SecretString: '{"r.example.com":{"username":"u","password":"p"}}' }).callsFake(() => new Promise(() => undefined));
    const source = createCredentialsSource({ kind: 'secret', secretId: 's' }, deps(() => clock));
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'p' } });
    clock = REFRESH_MS;
    const started = performance.now();
    expect(await source('r.example.com', AbortSignal.timeout(1000))).toEqual({ credentials: { username: 'u', password: 'p' } });
    expect(performance.now() - started).toBeLessThan(500);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it('does not wait for the read past the caller deadline', async () => {
    secrets.on(GetSecretValueCommand).callsFake(() => new Promise(() => undefined));
    const source = createCredentialsSource({ kind: 'secret', secretId: 's' }, deps());
    const result = await source('r.example.com', AbortSignal.timeout(50));
    expect(result).toEqual({ credentials: undefined, unavailable: 'secret s is still being read' });
  });

  it('reads an entry with both "auth" and "username"/"password" as the kubelet does: "auth" wins', () => {
    const entry = { auth: Buffer.from('node:pulls').toString('base64'), username: 'stale', password: 'old' };
    expect(parseCredentials(JSON.stringify({ auths: { 'r.example.com': entry } })).get('r.example.com')).toEqual({ username: 'node', password: 'pulls' });
    // An empty username (a token as the password), as the kubelet reads it and pulls with it.
    expect(parseCredentials(JSON.stringify({ auths: { 'r.example.com': { auth: Buffer.from(':t0ken:x').toString('base64') } } })).get('r.example.com')).toEqual({ username: '', password: 't0ken:x' });
    // An empty "auth" is none: the username and password are used.
    expect(parseCredentials(JSON.stringify({ auths: { 'r.example.com': { ...entry, auth: '' } } })).get('r.example.com')).toEqual({ username: 'stale', password: 'old' });
  });

  it('skips an entry without credentials, as the kubelet does, and reads the others', () => {
    // What `docker login` writes beside a credsStore (`{}`), and `az acr login` (an identitytoken):
    // one such entry made the whole secret unreadable, every host's checks anonymous.
    const auth = Buffer.from('node:pulls').toString('base64');
    const value = JSON.stringify({ auths: { 'https://index.docker.io/v1/': {}, 'acr.example.io': { identitytoken: 'x' }, 'r.example.com': { auth } }, credsStore: 'desktop' });
    const map = parseCredentials(value);
    expect([...map.keys()]).toEqual(['r.example.com']);
    expect(map.get('r.example.com')).toEqual({ username: 'node', password: 'pulls' });
  });

  it.each([
    ['an auth that is not base64 of user:password', { auth: Buffer.from('nocolon').toString('base64') }],
    ['a username without a password', { username: 'node' }],
    ['a password without a username', { password: 'pulls' }],
  ])('refuses an entry whose credentials cannot be read (%s), though another is good', (_what, entry) => {
    // Skipped, the host's checks went anonymous and a refusal said "no registry credentials" for a
    // host the secret names: the broken entry was never reported.
    const good = { auth: Buffer.from('node:pulls').toString('base64') };
    const value = JSON.stringify({ auths: { 'r.example.com': good, 'mirror.example.com': entry } });
    expect(() => parseCredentials(value)).toThrow(/entry for mirror\.example\.com has credentials that cannot be read/);
    expect(() => parseCredentials(value)).not.toThrow(/nocolon|bm9jb2xvbg/);
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['not an object', '[1]', /not a JSON object/],
    ['an entry without credentials', '{"auths":{"a.io":{"email":"x"}}}', /entry for a\.io has neither/],
    ['too long', `"${'x'.repeat(70_000)}"`, /longer than/],
  ])('refuses a value that is %s, without quoting it', (_what, value, message) => {
    expect(() => parseCredentials(value)).toThrow(message);
  });

  it('reports a malformed secret as unavailable', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"a.io": 1}' });
    const source = createCredentialsSource({ kind: 'secret', secretId: 's' }, deps());
    expect(await source('a.io', signal())).toMatchObject({ unavailable: expect.stringMatching(/cannot read secret s \(the entry for a\.io/) });
  });

  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['https://registry.hub.docker.com', 'docker.io'],
    ['Quay.IO', 'quay.io'],
    ['http://localhost:5000/v2/', 'localhost:5000'],
  ])('registryKey(%s) = %s', (input, key) => {
    expect(registryKey(input)).toBe(key);
  });

  it.each([
    ['after it', ['https://index.docker.io/v1/', 'registry.hub.docker.com']],
    ['before it', ['registry.hub.docker.com', 'https://index.docker.io/v1/']],
    ['after it (registry-1.docker.io)', ['docker.io', 'registry-1.docker.io']],
  ])("keeps Docker Hub's own entry (index.docker.io, as the kubelet uses) when an entry under another of its hosts comes %s", (_when, hosts) => {
    // `docker login registry.hub.docker.com` in CI beside the cluster's pull secret for Docker Hub:
    // the nodes pull docker.io images with the index.docker.io entry, so the check asks with it.
    const value = { auths: Object.fromEntries(hosts.map((h) => [h, h.includes('index') || h === 'docker.io' ? { username: 'hub', password: 'pull' } : { username: 'ci', password: 'push' }])) };
    expect(parseCredentials(JSON.stringify(value)).get('docker.io')).toEqual({ username: 'hub', password: 'pull' });
  });

  it("uses an entry under another of Docker Hub's hosts when there is none under index.docker.io", () => {
    const value = { auths: { 'registry.hub.docker.com': { username: 'ci', password: 'push' }, 'quay.io': { username: 'q', password: 'r' } } };
    expect(parseCredentials(JSON.stringify(value)).get('docker.io')).toEqual({ username: 'ci', password: 'push' });
  });

  it('reads once per REFRESH_MS on a clock far from zero, after a failed read too (not at every check)', async () => {
    let clock = 10 * REFRESH_MS;
    secrets.on(GetSecretValueCommand).rejectsOnce(awsError('ThrottlingException')).resolves({ SecretString: '{"r.example.com":{"username":"u","password":"p"}}' });
    const source = createCredentialsSource({ kind: 'secret', secretId: 's' }, deps(() => clock));
    expect(await source('r.example.com', signal())).toMatchObject({ credentials: undefined, unavailable: 'cannot read secret s (ThrottlingException)' });
    const readAt = (clock += RETRY_MS);
    expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'p' } });
    for (const later of [1000, RETRY_MS, REFRESH_MS - 1]) {
      clock = readAt + later;
      expect(await source('r.example.com', signal())).toEqual({ credentials: { username: 'u', password: 'p' } });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it('needs nothing when none is configured', async () => {
    const source = createCredentialsSource({ kind: 'none' }, deps());
    expect(await source('a.io', signal())).toEqual({ credentials: undefined });
  });
});

describe('small parts', () => {
  it('TtlCache expires entries and keeps at most maxEntries', () => {
    let clock = 0;
    const c = new TtlCache<number>(2, () => clock);
    c.set('a', 1, 100);
    c.set('b', 2, 100);
    c.set('c', 3, 100);
    expect([c.get('a'), c.get('b'), c.get('c'), c.size]).toEqual([undefined, 2, 3, 2]);
    clock = 100;
    expect(c.get('b')).toBeUndefined();
    c.set('d', 4, 0);
    expect(c.get('d')).toBeUndefined();
  });

  it('TtlCache: a set for 0 ms drops the value kept before and evicts nothing', () => {
    const c = new TtlCache<number>(2, () => 0);
    c.set('a', 1, 100);
    c.set('b', 2, 100);
    c.set('b', 3, 0);
    c.set('c', 4, 0);
    expect([c.get('a'), c.get('b'), c.get('c'), c.size]).toEqual([1, undefined, undefined, 1]);
  });

  it('Breakers: open until openMs has passed, then one probe at a time; a released or failed probe lets the next one try', () => {
    let clock = 0;
    const b = new Breakers(2, 1000, () => clock);
    b.failure('r');
    expect([b.state('r'), b.tryAcquire('r')]).toEqual(['closed', true]);
    b.failure('r');
    clock = 999;
    expect([b.state('r'), b.tryAcquire('r')]).toEqual(['open', false]);
    clock = 1000;
    expect(b.state('r')).toBe('half-open');
    expect([b.tryAcquire('r'), b.tryAcquire('r')]).toEqual([true, false]);
    b.release('r');
    expect(b.tryAcquire('r')).toBe(true);
    b.failure('r');
    expect(b.state('r')).toBe('open');
    clock = 2000;
    expect(b.tryAcquire('r')).toBe(true);
    b.success('r');
    expect([b.state('r'), b.tryAcquire('r'), b.tryAcquire('r')]).toEqual(['closed', true, true]);
  });

  it('Breakers: answeredSince is strictly after the time, for at most maxHosts registries (the least recent forgotten)', () => {
    let clock = 5;
    const b = new Breakers(1, 1000, () => clock, 2);
    b.success('a');
    expect([b.answeredSince('a', 4), b.answeredSince('a', 5), b.answeredSince('z', 0)]).toEqual([true, false, false]);
    clock = 6;
    b.success('b');
    b.success('c');
    expect(['a', 'b', 'c'].map((h) => b.answeredSince(h, 0))).toEqual([false, true, true]);
  });

  it('TtlCache evicts the least recently used entry: one read since the others were set is kept', () => {
    const c = new TtlCache<number>(3, () => 0);
    c.set('hot', 1, 100);
    for (let i = 0; i < 10; i++) {
      c.set(`cold-${String(i)}`, i, 100);
      expect(c.get('hot')).toBe(1);
    }
    expect([c.get('cold-7'), c.get('cold-8'), c.get('cold-9'), c.size]).toEqual([undefined, 8, 9, 3]);
  });

  it.each([
    ['nginx:1.27', { kind: 'oci', registry: 'docker.io', base: 'https://registry-1.docker.io', repository: 'library/nginx', reference: '1.27' }],
    ['mirror.example.com:5000/team/app', { kind: 'oci', registry: 'mirror.example.com:5000', base: 'https://mirror.example.com:5000', repository: 'team/app', reference: 'latest' }],
    [`${ECR_HOST}/a/b:1`, { kind: 'ecr', registryId: '123456789012', region: 'us-west-2', repository: 'a/b', tag: '1' }],
    ['123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/a:1', { kind: 'ecr', region: 'cn-north-1' }],
    ['123456789012.dkr-ecr.eu-west-1.on.aws/a:1', { kind: 'ecr', registryId: '123456789012', region: 'eu-west-1', repository: 'a', tag: '1' }],
    ['123456789012.dkr-ecr-fips.us-east-1.on.aws/a@sha256:' + 'b'.repeat(64), { kind: 'ecr', region: 'us-east-1', tag: undefined, digest: 'sha256:' + 'b'.repeat(64) }],
    // The tag too: a pull-through cache fills from a request by tag only (src/verify/ecr.ts).
    [`${ECR_HOST}/a:1.2@sha256:` + 'b'.repeat(64), { kind: 'ecr', repository: 'a', tag: '1.2', digest: 'sha256:' + 'b'.repeat(64) }],
    ['123456789012.dkr.ecr.us-west-2.on.aws/a:1', { kind: 'oci' }],
  ])('targetOf(%s)', (image, expected) => {
    expect(targetOf(image)).toMatchObject({ ok: true, target: expected });
  });

  it.each([
    ['Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"', { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a:pull' } }],
    ['Basic realm="Registry Realm"', { scheme: 'basic', params: { realm: 'Registry Realm' } }],
    ['Bearer realm=https://a/t, service="x\\"y"', { scheme: 'bearer', params: { realm: 'https://a/t', service: 'x"y' } }],
    ['Bearer', { scheme: 'bearer', params: {} }],
    // Two WWW-Authenticate headers, as Node joins them: the Bearer challenge is the one answered.
    ['Basic realm="r", Bearer realm="https://a/t",service="s"', { scheme: 'bearer', params: { realm: 'https://a/t', service: 's' } }],
    ['Bearer realm="https://a/t", Basic realm="r"', { scheme: 'bearer', params: { realm: 'https://a/t' } }],
    ['Basic realm="r", Negotiate', { scheme: 'basic', params: { realm: 'r' } }],
  ])('parseChallenge(%s)', (header, expected) => {
    expect(parseChallenge(header)).toEqual(expected);
  });

  it('parseChallenge of nothing or garbage', () => {
    expect(parseChallenge(undefined)).toBeUndefined();
    expect(parseChallenge('!!!')).toBeUndefined();
  });

  it('platforms: parsing, arm64 variants, and what an index lacks', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux')).toBeUndefined();
    expect(parsePlatform('Linux/AMD64')).toBeUndefined();
    expect(parsePlatform('linux/arm/v7/extra')).toBeUndefined();
    const shape = manifestShape(INDEX, undefined);
    expect(shape.kind).toBe('index');
    if (shape.kind !== 'index') return;
    expect(lacking(shape.platforms, ['linux/amd64', 'linux/arm64', 'linux/arm64/v8', 'linux/arm/v7', 'bad'])).toEqual(['linux/arm/v7', 'bad']);
    // containerd's defaults: an index entry linux/arm without a variant is what a v7 node pulls;
    // amd64 v1 is amd64. Windows entries carry an os.version, which does not matter here.
    const entries = (ps: readonly object[]): string => JSON.stringify({ mediaType: 'application/vnd.oci.image.index.v1+json', manifests: ps.map((platform) => ({ digest: 'sha256:x', platform })) });
    const other = manifestShape(entries([{ os: 'linux', architecture: 'arm' }, { os: 'linux', architecture: 'amd64', variant: 'v1' }, { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2340' }]), undefined);
    if (other.kind !== 'index') throw new Error(other.kind);
    expect(lacking(other.platforms, ['linux/arm/v7', 'linux/arm', 'linux/amd64', 'linux/amd64/v1', 'windows/amd64', 'linux/arm/v6'])).toEqual(['linux/arm/v6']);
    // A node of a newer variant pulls an older one the index has (containerd): arm/v7 and v8 nodes
    // an arm/v6 image, amd64 v2 to v4 nodes a plain amd64 one; never the other way round.
    const older = manifestShape(entries([{ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'amd64' }]), undefined);
    if (older.kind !== 'index') throw new Error(older.kind);
    expect(lacking(older.platforms, ['linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5', 'linux/amd64/v2', 'linux/amd64/v4', 'linux/amd64', 'linux/arm64'])).toEqual(['linux/arm/v5', 'linux/arm64']);
    const newer = manifestShape(entries([{ os: 'linux', architecture: 'amd64', variant: 'v3' }]), undefined);
    if (newer.kind !== 'index') throw new Error(newer.kind);
    expect(lacking(newer.platforms, ['linux/amd64/v2', 'linux/amd64/v3', 'linux/amd64/v4', 'linux/amd64'])).toEqual(['linux/amd64/v2']);
    // amd64 v1 is plain amd64 on either side: a linux/amd64/v1 node pulls an amd64 entry without a variant.
    const plain = manifestShape(entries([{ os: 'linux', architecture: 'amd64' }]), undefined);
    if (plain.kind !== 'index') throw new Error(plain.kind);
    expect(lacking(plain.platforms, ['linux/amd64/v1', 'linux/amd64/v2'])).toEqual([]);
    // containerd's other spellings of an architecture (platforms.Normalize), wanted or in an index:
    // `linux/x86_64` in a rule is amd64 to a node, not a platform no image has (every Pod denied).
    expect(lacking(other.platforms, ['linux/x86_64', 'linux/x86-64', 'linux/armhf', 'linux/arm/7'])).toEqual([]);
    expect(lacking(older.platforms, ['linux/armel', 'linux/armhf', 'linux/aarch64'])).toEqual(['linux/aarch64']);
    const aliases = manifestShape(entries([{ os: 'linux', architecture: 'aarch64' }, { os: 'linux', architecture: 'x86_64' }, { os: 'linux', architecture: 'i386' }]), undefined);
    if (aliases.kind !== 'index') throw new Error(aliases.kind);
    expect(lacking(aliases.platforms, ['linux/arm64', 'linux/arm64/v8', 'linux/aarch64', 'linux/amd64', 'linux/386', 'linux/i386', 'linux/arm/v7'])).toEqual(['linux/arm/v7']);
    expect(manifestShape('"x"', undefined)).toEqual({ kind: 'unknown' });
    expect(manifestShape('{}', undefined)).toEqual({ kind: 'unknown' });
    expect(manifestShape('{"manifests":[1,{"platform":{"os":"linux"}}]}', 'application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8')).toEqual({ kind: 'index', platforms: [] });
  });

  it("platforms: index entries and wanted platforms read as containerd's platforms.Normalize reads them", () => {
    const entries = (ps: readonly object[]): string => JSON.stringify({ mediaType: 'application/vnd.oci.image.index.v1+json', manifests: ps.map((platform) => ({ digest: 'sha256:x', platform })) });
    const platformsOf = (ps: readonly object[]) => {
      const shape = manifestShape(entries(ps), undefined);
      return shape.kind === 'index' ? shape.platforms : [];
    };
    // An entry in another case, an empty variant (arm64's default, v8), macos (darwin).
    expect(lacking(platformsOf([{ os: 'Linux', architecture: 'AMD64' }, { os: 'linux', architecture: 'arm64', variant: '' }, { os: 'linux', architecture: 'arm', variant: 'V7' }]), ['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7'])).toEqual([]);
    expect(lacking(platformsOf([{ os: 'darwin', architecture: 'arm64' }]), ['macos/arm64', 'darwin/arm64'])).toEqual([]);
    // armel is arm/v6: an index of arm/v7 alone lacks it (a v6 node cannot run v7), armhf (v7) not.
    expect(lacking(platformsOf([{ os: 'linux', architecture: 'arm', variant: 'v7' }]), ['linux/armel', 'linux/armhf'])).toEqual(['linux/armel']);
    // An entry without an os or an architecture provides nothing, and the others still count.
    expect(platformsOf([{ architecture: 'amd64' }, { os: 'linux' }, { os: 'linux', architecture: 'arm64' }])).toEqual([{ os: 'linux', architecture: 'arm64', variant: undefined, osVersion: undefined }]);
    // A variant no node runs, or an architecture without an order of variants: lacking, never an exception.
    expect(lacking(platformsOf([{ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm64', variant: 'v9' }]), ['linux/arm/v9', 'linux/arm64/v8'])).toEqual(['linux/arm/v9', 'linux/arm64/v8']);
  });

  it("platforms: a manifest's own mediaType wins over the Content-Type; an index without a manifests list, or a config that is no object, is unknown", () => {
    const index = { mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ digest: 'sha256:x', platform: { os: 'linux', architecture: 'amd64' } }] };
    expect(manifestShape(JSON.stringify(index), 'application/octet-stream')).toMatchObject({ kind: 'index', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    expect(manifestShape(JSON.stringify({ mediaType: index.mediaType }), undefined)).toEqual({ kind: 'unknown' });
    expect(manifestShape(JSON.stringify({ mediaType: index.mediaType, manifests: {} }), undefined)).toEqual({ kind: 'unknown' });
    expect(manifestShape('{"config":"sha256:x"}', undefined)).toEqual({ kind: 'unknown' });
  });

  it("platforms: the reason names the builds of the wanted OS and architecture only, each once, and nothing for a platform without a build", () => {
    const have = [
      { os: 'linux', architecture: 'amd64', variant: undefined },
      { os: 'windows', architecture: 'amd64', variant: undefined, osVersion: '10.0.17763.6414' },
      { os: 'windows', architecture: 'amd64', variant: undefined, osVersion: '10.0.17763.6414' },
      { os: 'windows', architecture: 'arm64', variant: undefined, osVersion: '10.0.26100.1' },
    ];
    expect(lackReason('r.example', have, ['windows(10.0.20348)/amd64'])).toBe('r.example (its windows/amd64 builds: 10.0.17763.6414) lacks platform windows(10.0.20348)/amd64');
    expect(lackReason('r.example', have, ['linux/arm64'])).toBe('r.example lacks platform linux/arm64');
  });

  it('platforms: an OS version, as containerd writes it (os(osversion)/arch), counts only an entry of its build', () => {
    // containerd's platforms.Parse: `<os>[(<OSVersion>)]/<arch>[/<variant>]`.
    expect(parsePlatform('windows(10.0.20348)/amd64')).toEqual({ os: 'windows', architecture: 'amd64', variant: undefined, osVersion: '10.0.20348' });
    expect(parsePlatform('windows(10.0.20348.2700)/arm64/v8')).toEqual({ os: 'windows', architecture: 'arm64', variant: 'v8', osVersion: '10.0.20348.2700' });
    for (const bad of ['windows()/amd64', 'windows(10.0.20348/amd64', 'windows10.0.20348)/amd64', 'windows/amd64(10.0.20348)', '(10.0.20348)/amd64']) expect(parsePlatform(bad)).toBeUndefined();
    // A Windows index lists one entry per build: ltsc2019 (10.0.17763) and ltsc2022 (10.0.20348).
    const entries = (ps: readonly object[]): string => JSON.stringify({ mediaType: 'application/vnd.oci.image.index.v1+json', manifests: ps.map((platform) => ({ digest: 'sha256:x', platform })) });
    const both = manifestShape(
      entries([
        { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.6414' },
        { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2700' },
        { os: 'linux', architecture: 'amd64' },
      ]),
      undefined,
    );
    if (both.kind !== 'index') throw new Error(both.kind);
    // major.minor.build equal, whatever the revision: a wanted revision is not compared either.
    const builds = ['windows(10.0.17763)/amd64', 'windows(10.0.20348)/amd64', 'windows(10.0.20348.1)/amd64', 'windows(10.0.26100)/amd64', 'windows(10.0.2034)/amd64', 'windows(10.0)/amd64', 'windows(10.0.20348)/arm64', 'windows/amd64'];
    expect(lacking(both.platforms, builds)).toEqual(['windows(10.0.26100)/amd64', 'windows(10.0.2034)/amd64', 'windows(10.0)/amd64', 'windows(10.0.20348)/arm64']);
    // The mirror of the ltsc2019 build only: `windows/amd64` passes, an ltsc2022 node pool's build does not.
    const ltsc2019 = manifestShape(entries([{ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.6414' }, { os: 'windows', architecture: 'amd64' }]), undefined);
    if (ltsc2019.kind !== 'index') throw new Error(ltsc2019.kind);
    expect(lacking(ltsc2019.platforms, ['windows/amd64', 'windows(10.0.17763)/amd64', 'windows(10.0.20348)/amd64'])).toEqual(['windows(10.0.20348)/amd64']);
    expect(lackReason('mirror.example.com', ltsc2019.platforms, ['windows(10.0.20348)/amd64', 'linux/amd64'])).toBe(
      'mirror.example.com (its windows/amd64 builds: 10.0.17763.6414, none given) lacks platform windows(10.0.20348)/amd64, linux/amd64',
    );
    expect(lackReason('mirror.example.com', [], ['windows(10.0.20348)/amd64'])).toBe('mirror.example.com (its windows/amd64 builds: none) lacks platform windows(10.0.20348)/amd64');
    expect(lackReason('mirror.example.com', both.platforms, ['windows(10.0.20348)/amd64', 'linux/amd64'])).toBeUndefined();
    // An OS version on another OS is compared as written: a Linux entry carries none.
    expect(lacking(both.platforms, ['linux(5.15)/amd64', 'linux/amd64'])).toEqual(['linux(5.15)/amd64']);
    // The config blob of a single-platform image gives os.version too.
    expect(configPlatform('{"os":"windows","architecture":"amd64","os.version":"10.0.20348.2700"}')).toEqual({ os: 'windows', architecture: 'amd64', variant: undefined, osVersion: '10.0.20348.2700' });
  });
});
