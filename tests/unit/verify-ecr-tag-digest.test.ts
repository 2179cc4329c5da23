/**
 * The ECR check of an image pinned as `tag@digest` (src/verify/ecr.ts; docs/verify.md, "Pull-through
 * cache prefixes"): asked by tag first, since a pull-through cache fills from a request by tag and
 * never from one by digest; present only when the tag's image has the pinned digest; else asked by
 * digest as a digest-only image is. Against a mocked client simulating such a cache, a moved tag,
 * the answers of a request by tag that leave the digest to decide, and the deadline shared by the
 * two requests.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { BatchGetImageCommand, type BatchGetImageCommandInput, type BatchGetImageCommandOutput, ECRClient, RepositoryNotFoundException } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { createVerifier, type Verifier } from '../../src/verify/verifier.js';

const ecr = mockClient(ECRClient);
beforeEach(() => {
  ecr.reset();
});

const ECR_HOST = '123456789012.dkr.ecr.us-west-2.amazonaws.com';
const REPO = 'docker-hub/library/nginx';
const PINNED = `sha256:${'d'.repeat(64)}`;
const OTHER = `sha256:${'e'.repeat(64)}`;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const INDEX = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ digest: 'sha256:a', platform: { os: 'linux', architecture: 'amd64' } }] });
const none = () => Promise.resolve({ credentials: undefined });
const verifier = (deadlineMs?: number): Verifier => createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), ...(deadlineMs === undefined ? {} : { deadlineMs }) });
const awsError = (name: string): Error => Object.assign(new Error(`${name} message`), { name });
/** The image ids of each BatchGetImage sent, in order. */
const asked = (): unknown[] => ecr.commandCalls(BatchGetImageCommand).map((c) => c.args[0].input.imageIds);
const BY_TAG = [{ imageTag: '1.27' }];
const BY_DIGEST = [{ imageDigest: PINNED }];

/**
 * An ECR pull-through cache as docs/verify.md describes it: a request by tag imports the upstream
 * image the tag names (`upstream`: tag -> digest) and answers with it; a request by digest (with a
 * tag in the same id too) answers only from what was imported, and imports nothing.
 */
function pullThroughCache(upstream: Readonly<Record<string, string>>): Set<string> {
  const cached = new Set<string>();
  const image = (imageDigest: string, imageTag?: string) => ({ imageId: { imageDigest, ...(imageTag === undefined ? {} : { imageTag }) }, imageManifest: INDEX, imageManifestMediaType: OCI_INDEX });
  ecr.on(BatchGetImageCommand).callsFake((input: BatchGetImageCommandInput): BatchGetImageCommandOutput => {
    const meta = { $metadata: {} };
    const [id] = input.imageIds ?? [];
    if (id?.imageTag !== undefined && id.imageDigest === undefined) {
      const digest = upstream[id.imageTag];
      if (digest !== undefined) {
        cached.add(digest);
        return { ...meta, images: [image(digest, id.imageTag)], failures: [] };
      }
    } else if (id?.imageDigest !== undefined && cached.has(id.imageDigest)) {
      return { ...meta, images: [image(id.imageDigest)], failures: [] };
    }
    return { ...meta, images: [], failures: [{ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }] };
  });
  return cached;
}

describe('ECR targets pinned as tag@digest', () => {
  it('fill a pull-through cache: asked by tag first, present when the tag has the pinned digest (a digest-only image is asked by digest, once, as before)', async () => {
    const cached = pullThroughCache({ '1.27': PINNED });
    const v = verifier();
    // Digest only: one request, by digest, which fills nothing.
    expect((await v.verify([{ image: `${ECR_HOST}/${REPO}@${PINNED}`, platforms: [] }])).verdicts[0]).toMatchObject({ status: 'missing', reason: expect.stringMatching(/^not found in 123456789012\.dkr\.ecr\.us-west-2\.amazonaws\.com \(ImageNotFound\)$/) });
    expect(asked()).toEqual([BY_DIGEST]);
    expect(cached.size).toBe(0);
    // tag@digest: one request, by tag; it fills the cache, and the platforms are read from its index.
    const { verdicts, stats } = await v.verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: ['linux/amd64'] }]);
    expect(verdicts[0]).toEqual({ status: 'present', cached: false });
    expect(stats).toMatchObject({ checks: 1, missing: 0, errors: 0 });
    expect(asked()).toEqual([BY_DIGEST, BY_TAG]);
    expect([...cached]).toEqual([PINNED]);
    // The digest-only image is there now (the kubelet's pull by digest finds it).
    expect((await verifier().verify([{ image: `${ECR_HOST}/${REPO}@${PINNED}`, platforms: [] }])).verdicts[0]?.status).toBe('present');
    expect(asked()).toEqual([BY_DIGEST, BY_TAG, BY_DIGEST]);
  });

  it('reads the platforms from the answer by tag, and caches the verdict under the tag@digest image', async () => {
    pullThroughCache({ '1.27': PINNED });
    const v = verifier();
    const image = `${ECR_HOST}/${REPO}:1.27@${PINNED}`;
    const first = await v.verify([{ image, platforms: ['linux/amd64'] }, { image, platforms: ['linux/arm64'] }]);
    expect(first.verdicts[0]?.status).toBe('present');
    expect(first.verdicts[1]).toMatchObject({ status: 'missing', reason: `${ECR_HOST} lacks platform linux/arm64` });
    expect(asked()).toEqual([BY_TAG, BY_TAG]);
    expect((await v.verify([{ image, platforms: ['linux/amd64'] }])).stats).toMatchObject({ checks: 1, cacheHits: 1 });
    expect(asked()).toHaveLength(2);
  });

  it('does not say the tag moved when the pin is one platform\'s manifest of the index the tag names (QA-53)', async () => {
    const listing = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ digest: PINNED, platform: { os: 'linux', architecture: 'amd64' } }] });
    ecr.on(BatchGetImageCommand).callsFake((input: BatchGetImageCommandInput): BatchGetImageCommandOutput => {
      const [id] = input.imageIds ?? [];
      if (id?.imageTag !== undefined) return { $metadata: {}, images: [{ imageId: { imageDigest: OTHER, imageTag: id.imageTag }, imageManifest: listing, imageManifestMediaType: OCI_INDEX }], failures: [] };
      return { $metadata: {}, images: [], failures: [{ imageId: id, failureCode: 'ImageNotFound' }] };
    });
    const { verdicts } = await verifier().verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }]);
    // Before: "its tag 1.27 now points at sha256:eee...", though the tag still names that index.
    expect(verdicts[0]).toMatchObject({ status: 'missing', reason: `not found in ${ECR_HOST} (ImageNotFound); its tag 1.27 names an index (${OTHER}) that lists it` });
  });

  it('asks by digest when the tag moved: present when the cache holds the pinned digest, else missing, saying where the tag points now', async () => {
    const cached = pullThroughCache({ '1.27': OTHER });
    const image = `${ECR_HOST}/${REPO}:1.27@${PINNED}`;
    const missing = await verifier().verify([{ image, platforms: [] }]);
    expect(missing.verdicts[0]).toMatchObject({ status: 'missing', reason: `not found in ${ECR_HOST} (ImageNotFound); its tag 1.27 now points at ${OTHER}` });
    expect(asked()).toEqual([BY_TAG, BY_DIGEST]);
    cached.add(PINNED);
    expect((await verifier().verify([{ image, platforms: [] }])).verdicts[0]?.status).toBe('present');
    expect(asked()).toEqual([BY_TAG, BY_DIGEST, BY_TAG, BY_DIGEST]);
  });

  it.each<[string, () => void]>([
    ['the tag not found (ImageNotFound)', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).resolves({ images: [], failures: [{ imageId: BY_TAG[0], failureCode: 'ImageNotFound' }] })],
    ['AccessDeniedException (a role without ecr:BatchImportUpstreamImage)', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).rejects(awsError('AccessDeniedException'))],
    ['UnableToGetUpstreamImageException (the upstream failed)', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).rejects(awsError('UnableToGetUpstreamImageException'))],
    ['the failure code UpstreamUnavailable', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).resolves({ failures: [{ imageId: BY_TAG[0], failureCode: 'UpstreamUnavailable' }] })],
    ['an answer without the image id', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).resolves({ images: [{ imageManifest: '{}' }] })],
  ])('leaves the verdict to the digest after %s', async (_what, arrangeTag) => {
    ecr.on(BatchGetImageCommand, { imageIds: BY_DIGEST }).resolves({ images: [{ imageId: { imageDigest: PINNED }, imageManifest: '{}' }] });
    arrangeTag();
    expect((await verifier().verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }])).verdicts[0]).toEqual({ status: 'present', cached: false });
    expect(asked()).toEqual([BY_TAG, BY_DIGEST]);
  });

  it.each<[string, () => void, RegExp]>([
    ['the failure code UpstreamTooManyRequests', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).resolves({ failures: [{ imageId: BY_TAG[0], failureCode: 'UpstreamTooManyRequests' }] }), /\(UpstreamTooManyRequests\)/],
    ['UnableToGetUpstreamImageException', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).rejects(awsError('UnableToGetUpstreamImageException')), /\(UnableToGetUpstreamImageException\)/],
    ['AccessDeniedException', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).rejects(awsError('AccessDeniedException')), /\(AccessDeniedException\)/],
  ])('is unreachable, as the tag alone would be, when the request by tag got %s and the digest is not there', async (_what, arrangeTag, reason) => {
    // docs/verify.md: upstream failures count as unreachable, not missing (onMissing: deny must not
    // refuse a Pod because Docker Hub rate-limited the cache's import).
    ecr.on(BatchGetImageCommand, { imageIds: BY_DIGEST }).resolves({ images: [], failures: [{ imageId: BY_DIGEST[0], failureCode: 'ImageNotFound' }] });
    arrangeTag();
    const { verdicts, stats } = await verifier().verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(reason) });
    expect(verdicts[0]?.status === 'unreachable' && verdicts[0].reason).toMatch(/not found by digest \(ImageNotFound\)/);
    expect(stats).toMatchObject({ missing: 0, errors: 1 });
    expect(asked()).toEqual([BY_TAG, BY_DIGEST]);
  });

  it("does not open the registry's breaker when failed imports leave tag@digest images unreachable, one after another (ECR answered)", async () => {
    ecr.on(BatchGetImageCommand, { repositoryName: REPO, imageIds: BY_DIGEST }).resolves({ images: [], failures: [{ imageId: BY_DIGEST[0], failureCode: 'ImageNotFound' }] });
    ecr.on(BatchGetImageCommand, { repositoryName: REPO, imageIds: BY_TAG }).rejects(awsError('UnableToGetUpstreamImageException'));
    ecr.on(BatchGetImageCommand, { repositoryName: 'team/app' }).resolves({ images: [{ imageId: { imageDigest: PINNED }, imageManifest: '{}' }] });
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(new ECRClient({ region: 'us-west-2' })), breakerFailures: 2 });
    for (let i = 0; i < 3; i++) expect((await v.verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }])).verdicts[0]?.status).toBe('unreachable');
    expect((await v.verify([{ image: `${ECR_HOST}/team/app:1@${PINNED}`, platforms: [] }])).verdicts[0]).toEqual({ status: 'present', cached: false });
  });

  it('is missing when the tag is not found either, and by digest no repository after a failed import is unreachable', async () => {
    ecr.on(BatchGetImageCommand, { imageIds: BY_DIGEST }).resolves({ images: [], failures: [{ imageId: BY_DIGEST[0], failureCode: 'ImageNotFound' }] });
    ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).resolves({ images: [], failures: [{ imageId: BY_TAG[0], failureCode: 'ImageNotFound' }] });
    expect((await verifier().verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }])).verdicts[0]).toMatchObject({ status: 'missing' });
    ecr.reset();
    ecr.on(BatchGetImageCommand, { imageIds: BY_DIGEST }).rejects(new RepositoryNotFoundException({ message: 'no repo', $metadata: {} }));
    ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).resolves({ failures: [{ imageId: BY_TAG[0], failureCode: 'UpstreamUnavailable' }] });
    expect((await verifier().verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }])).verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/\(UpstreamUnavailable\).*has no repository/) });
  });

  it.each<[string, () => void, string, RegExp]>([
    // Already retried by the SDK: a second request would fail alike (one failure for the breaker, as before).
    ['ThrottlingException', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).rejects(awsError('ThrottlingException')), 'unreachable', /^ECR in us-west-2 failed \(ThrottlingException\)$/],
    ['a refused connection', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).rejects(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'unreachable', /\(ECONNREFUSED\)$/],
    // No repository by tag (none was created for the cache): none by digest either.
    ['RepositoryNotFoundException', () => ecr.on(BatchGetImageCommand, { imageIds: BY_TAG }).rejects(new RepositoryNotFoundException({ message: 'no repo', $metadata: {} })), 'missing', /has no repository docker-hub\/library\/nginx$/],
  ])('ends the check at the answer by tag for %s', async (_what, arrangeTag, status, reason) => {
    ecr.on(BatchGetImageCommand, { imageIds: BY_DIGEST }).resolves({ images: [{ imageId: { imageDigest: PINNED }, imageManifest: '{}' }] });
    arrangeTag();
    expect((await verifier().verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }])).verdicts[0]).toMatchObject({ status, reason: expect.stringMatching(reason) });
    expect(asked()).toEqual([BY_TAG]);
  });
});

describe('the deadline of a tag@digest check', () => {
  /** A client whose requests by tag never answer (a slow import), those by digest answering `digest`. */
  function slowByTag(digest: 'present' | 'missing' | 'never'): { client: ECRClient; calls: { ids: unknown; at: number; abortedAt?: number }[] } {
    const calls: { ids: unknown; at: number; abortedAt?: number }[] = [];
    const started = performance.now();
    const send = (command: BatchGetImageCommand, options: { abortSignal: AbortSignal }): Promise<BatchGetImageCommandOutput> => {
      const call: { ids: unknown; at: number; abortedAt?: number } = { ids: command.input.imageIds, at: performance.now() - started };
      calls.push(call);
      if (command.input.imageIds?.[0]?.imageTag === undefined && digest === 'present') return Promise.resolve({ $metadata: {}, images: [{ imageId: { imageDigest: PINNED }, imageManifest: '{}' }] });
      if (command.input.imageIds?.[0]?.imageTag === undefined && digest === 'missing') return Promise.resolve({ $metadata: {}, images: [], failures: [{ imageId: { imageDigest: PINNED }, failureCode: 'ImageNotFound' }] });
      return new Promise((_resolve, reject) => {
        options.abortSignal.addEventListener('abort', () => {
          call.abortedAt = performance.now() - started;
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        });
      });
    };
    // A stand-in for the client: only `send`, which checkEcr calls, honouring the abort signal as the SDK does.
    return { client: { send } as unknown as ECRClient, calls };
  }

  it('gives the request by tag half of the deadline, then asks by digest with the rest', async () => {
    const { client, calls } = slowByTag('present');
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(client), deadlineMs: 1000 });
    const { verdicts, stats } = await v.verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }]);
    expect(verdicts[0]).toEqual({ status: 'present', cached: false });
    expect(calls.map((c) => c.ids)).toEqual([BY_TAG, BY_DIGEST]);
    // Cut at about 500 ms (timers may fire late on a busy machine, never early), well before the deadline.
    expect(calls[0]?.abortedAt).toBeGreaterThanOrEqual(450);
    expect(stats.latencyMs).toBeLessThan(1000);
  });

  it('is unreachable when the request by tag was cut (a slow import) and the digest is not there yet, as the tag alone would be', async () => {
    const { client, calls } = slowByTag('missing');
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(client), deadlineMs: 400 });
    const { verdicts } = await v.verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/no answer by tag within \d+ ms.*not found by digest \(ImageNotFound\)/) });
    expect(calls.map((c) => c.ids)).toEqual([BY_TAG, BY_DIGEST]);
  });

  it('is unreachable at the deadline when neither request answers', async () => {
    const { client, calls } = slowByTag('never');
    const v = createVerifier({ credentials: none, ecr: () => Promise.resolve(client), deadlineMs: 400 });
    const { verdicts } = await v.verify([{ image: `${ECR_HOST}/${REPO}:1.27@${PINNED}`, platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/deadline/) });
    expect(calls.map((c) => c.ids)).toEqual([BY_TAG, BY_DIGEST]);
  });
});
