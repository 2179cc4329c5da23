/**
 * The existence check's Amazon ECR path (src/verify/ecr.ts, docs/verify.md) against a real AWS API
 * emulator: repositories and images are created in a moto server (CreateRepository, PutImage with
 * OCI manifests and a multi-platform index, their real sha256 digests, which DescribeImages then
 * reports), then the real Lambda entry (src/lambda/main.ts in process, and dist/handler.js under
 * the Runtime Interface Emulator) answers Pods whose rules rewrite to `<account>.dkr.ecr.<region>.amazonaws.com/...` with `verify: true`.
 * The function reaches moto only through AWS_ENDPOINT_URL_ECR, the SDK's own service-specific
 * endpoint variable; the ECR client's region comes from the target's host (us-west-2), not from
 * AWS_REGION (us-east-1).
 *
 * Checked: present tag and digest -> rewritten; a tag@digest image asked by tag, then by digest
 * when the tag moved; absent tag, digest or repository -> the rule's
 * onMissing (keep with a warning saying why, rewrite with a warning, deny with allowed: false);
 * an index lacking a wanted platform -> missing; moto frozen (SIGSTOP) -> onUnreachable at the
 * deadline; moto gone -> onUnreachable, then the circuit breaker.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateRepositoryCommand, DescribeImagesCommand, ECRClient, PutImageCommand } from '@aws-sdk/client-ecr';
import { EVENT_TOKEN, eventReview, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import { awsEnvFor, DUMMY_CREDENTIALS, type Moto, MOTO_REGION, startMoto } from './helpers/moto.js';
import { eventually } from './helpers/processes.js';
import { type Answer, startInProcess, type StartWebhook, startUnderRie, type Webhook } from './helpers/webhook.js';

/** moto's default account: the registry id of everything created without one. */
const ACCOUNT = '123456789012';
/** The targets' region: not the function's AWS_REGION (MOTO_REGION), so the client must take it from the host. */
const REGION = 'us-west-2';
const ECR = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com`;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** A single-platform OCI image manifest (its config and layer are never fetched by the check). */
function imageManifest(arch: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(`config ${arch}`), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(`layer ${arch}`), size: 32 }],
  });
}

const AMD64 = imageManifest('amd64');
/** An index with linux/amd64 only. */
const INDEX = JSON.stringify({
  schemaVersion: 2,
  mediaType: OCI_INDEX,
  manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(AMD64), size: Buffer.byteLength(AMD64), platform: { os: 'linux', architecture: 'amd64' } }],
});
const ABSENT_DIGEST = `sha256:${'0'.repeat(64)}`;

/** One rule per policy, each rewriting gcr.io/<policy>/... to the ECR registry's mirror/... */
const RULES = `rules:
  - name: keep
    match: gcr.io/keep
    replace: ${ECR}/mirror
    verify: true
  - name: rewrite
    match: gcr.io/rewrite
    replace: ${ECR}/mirror
    verify: true
    onMissing: rewrite
    onUnreachable: rewrite
  - name: deny
    match: gcr.io/deny
    replace: ${ECR}/mirror
    verify: true
    onMissing: deny
  - name: both
    match: gcr.io/both
    replace: ${ECR}/mirror
    verify: true
    platforms: [linux/amd64, linux/arm64]
  - name: amd64
    match: gcr.io/amd64
    replace: ${ECR}/mirror
    verify: true
    platforms: [linux/amd64]
`;

/** Create the repositories and images of the scenarios in `moto`. */
async function seed(moto: Moto): Promise<void> {
  const client = (region: string): ECRClient => new ECRClient({ endpoint: moto.url, region, credentials: DUMMY_CREDENTIALS, maxAttempts: 1 });
  const west = client(REGION);
  const east = client(MOTO_REGION);
  // What ECR computes for a pushed manifest: the sha256 of its bytes (moto takes it as given).
  const put = (c: ECRClient, repositoryName: string, imageTag: string, manifest: string, mediaType: string) =>
    c.send(new PutImageCommand({ repositoryName, imageTag, imageManifest: manifest, imageManifestMediaType: mediaType, imageDigest: sha256(manifest) }));
  try {
    await west.send(new CreateRepositoryCommand({ repositoryName: 'mirror/app' }));
    await west.send(new CreateRepositoryCommand({ repositoryName: 'mirror/multi' }));
    await put(west, 'mirror/app', '1.0', AMD64, OCI_MANIFEST);
    await put(west, 'mirror/multi', '2.0-amd64', AMD64, OCI_MANIFEST);
    await put(west, 'mirror/multi', '2.0', INDEX, OCI_INDEX);
    // Same repository name, another region: a target in us-west-2 must not find this tag.
    await east.send(new CreateRepositoryCommand({ repositoryName: 'mirror/app' }));
    await put(east, 'mirror/app', 'east-only', imageManifest('arm64'), OCI_MANIFEST);
    // The premise of the digest scenarios: moto reports the digests ECR would compute.
    const described = await west.send(new DescribeImagesCommand({ repositoryName: 'mirror/multi' }));
    const digests = (described.imageDetails ?? []).map((d) => `${d.imageTags?.join(',') ?? ''} ${d.imageDigest ?? ''}`).sort();
    const expected = [`2.0 ${sha256(INDEX)}`, `2.0-amd64 ${sha256(AMD64)}`];
    if (JSON.stringify(digests) !== JSON.stringify(expected)) throw new Error(`moto describes ${JSON.stringify(digests)}, not ${JSON.stringify(expected)}`);
  } finally {
    west.destroy();
    east.destroy();
  }
}

/** The function's environment: ECR (only) at moto, dummy credentials, the rules, a deadline. */
function functionEnv(moto: Moto, deadlineMs: number): Record<string, string> {
  return {
    ...awsEnvFor(moto.url, 'AWS_ENDPOINT_URL_ECR'),
    REWRITE_RULES: RULES,
    WEBHOOK_TOKEN: EVENT_TOKEN,
    VERIFY_DEADLINE_MS: String(deadlineMs),
  };
}

let pods = 0;
/** events/rest-pod-v1.json with a Pod whose containers c0, c1, ... have `images`. */
function podEvent(images: readonly string[]): JsonObject {
  const event = loadEvent('rest-pod-v1.json');
  const review = eventReview(event);
  const request = review['request'] as JsonObject;
  const pod = request['object'] as JsonObject;
  pods++;
  request['uid'] = `ecr-moto-${pods}`;
  pod['spec'] = { containers: images.map((image, i) => ({ name: `c${i}`, image })) };
  return withBody(event, review);
}

const isRecord = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function responseOf(answer: Answer): JsonObject {
  expect(answer.statusCode).toBe(200);
  const response = answer.body['response'];
  if (!isRecord(response)) throw new Error(`no response in ${JSON.stringify(answer.body)}`);
  return response;
}

/** What an allowed answer did: the image each container ends with, and the warnings. */
function outcome(answer: Answer, images: readonly string[]): { images: string[]; warnings: string[] } {
  const response = responseOf(answer);
  expect(response['allowed']).toBe(true);
  const patch = response['patch'];
  const ops = typeof patch === 'string' ? (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { path: string; value?: unknown }[]) : [];
  const final = images.map((image, i) => {
    const op = ops.find((o) => o.path === `/spec/containers/${i}/image`);
    return typeof op?.value === 'string' ? op.value : image;
  });
  const warnings = response['warnings'];
  return { images: final, warnings: Array.isArray(warnings) ? warnings.filter((w): w is string => typeof w === 'string') : [] };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/**
 * A warning that starts with `start` (after the prefix) and ends with a match of `end`: the reason
 * in between is cut from its start to fit kubectl's line (src/core/warning-text.ts), and ECR
 * hosts are long, so only its end is certain to be there.
 */
const warning = (start: string, end: string): unknown => expect.stringMatching(new RegExp(`^image-rewriter: ${escape(start)}.*${end}$`));

/**
 * The `admission reviewed` line of the review with `uid` (one per review, a denial too); waited for, since
 * under RIE the runtime's output may reach this process after the answer does.
 */
function reviewLine(fn: Webhook, uid: string): Promise<JsonObject> {
  return eventually(`the log line of review ${uid}`, 10_000, () =>
    Promise.resolve(fn.logs().find((l) => l['message'] === 'admission reviewed' && l['uid'] === uid)),
  );
}

/** Call with a Pod of `images`; its uid for the log line. */
async function review(fn: Webhook, images: readonly string[]): Promise<{ answer: Answer; uid: string }> {
  const event = podEvent(images);
  const uid = `ecr-moto-${pods}`;
  return { answer: await fn.call(event), uid };
}

/** A moto server and a function of `start` against it, for one describe block. */
function setUp(start: StartWebhook, deadlineMs: number): { moto: () => Moto; fn: () => Webhook } {
  let moto: Moto | undefined;
  let fn: Webhook | undefined;
  beforeAll(async () => {
    moto = await startMoto();
    await seed(moto);
    fn = await start(functionEnv(moto, deadlineMs));
  });
  afterAll(async () => {
    await fn?.stop();
    await moto?.stop();
  });
  return {
    moto: () => {
      if (moto === undefined) throw new Error('moto did not start (see the error of beforeAll)');
      return moto;
    },
    fn: () => {
      if (fn === undefined) throw new Error('the function did not start (see the error of beforeAll)');
      return fn;
    },
  };
}

/**
 * How a refused connection is named in the reason. Under jest the SDK's retry middleware sees
 * Node's socket error from another realm (not `instanceof Error` in the test's vm context) and
 * wraps it in a new Error without its code; in the bundle under RIE, as in Lambda, the code is kept.
 */
describe.each<[string, StartWebhook, string]>([
  ['src/lambda/main.ts in process', startInProcess, 'Error'],
  ['dist/handler.js under RIE', startUnderRie, 'ECONNREFUSED'],
])('%s with ECR targets in moto', (_label, start, refused) => {
  describe('moto answering', () => {
    // Generous: a loaded machine, and moto's first call of a region loads its backend.
    const { fn } = setUp(start, 10_000);

    it('rewrites to a tag and a digest the repository has', async () => {
      const images = ['gcr.io/keep/app:1.0', `gcr.io/keep/app@${sha256(AMD64)}`, 'gcr.io/deny/app:1.0'];
      const { answer, uid } = await review(fn(), images);
      const { images: final, warnings } = outcome(answer, images);
      expect(final).toEqual([`${ECR}/mirror/app:1.0`, `${ECR}/mirror/app@${sha256(AMD64)}`, `${ECR}/mirror/app:1.0`]);
      expect(warnings.join('\n')).not.toMatch(/unchanged|anyway/);
      expect(await reviewLine(fn(), uid)).toMatchObject({ outcome: 'patched', verifyChecks: 2, verifyMissing: 0, verifyErrors: 0 });
    });

    it('keeps the original of an absent tag, digest, region or repository (onMissing: keep), and says why', async () => {
      const images = ['gcr.io/keep/app:9.9', `gcr.io/keep/app@${ABSENT_DIGEST}`, 'gcr.io/keep/app:east-only', 'gcr.io/keep/nothere:1.0'];
      const { answer, uid } = await review(fn(), images);
      const { images: final, warnings } = outcome(answer, images);
      expect(final).toEqual(images);
      expect(warnings).toContainEqual(warning('left containers[c0] gcr.io/keep/app:9.9 unchanged (rule keep): ', 'west-2\\.amazonaws\\.com \\(ImageNotFound\\)'));
      // (digests are shortened in warnings)
      expect(warnings).toContainEqual(warning('left containers[c1] gcr.io/keep/app@sha256:00000000... unchanged (rule keep): ', '\\(ImageNotFound\\)'));
      expect(warnings).toContainEqual(warning('left containers[c2] gcr.io/keep/app:east-only unchanged (rule keep): ', '\\(ImageNotFound\\)'));
      // RepositoryNotFoundException: missing, not an error.
      expect(warnings).toContainEqual(warning('left containers[c3] gcr.io/keep/nothere:1.0 unchanged (rule keep): ', 'has no repository mirror/nothere'));
      expect(await reviewLine(fn(), uid)).toMatchObject({ verifyChecks: 4, verifyMissing: 4, verifyErrors: 0, withheld: 4 });
    });

    it('asks a tag@digest image by tag first: rewritten when the tag has the digest or, the tag moved, when the digest is there; else kept, naming where the tag points', async () => {
      // moto has no pull-through cache (a request by tag fills one, src/verify/ecr.ts), so what it
      // shows is the rest: its answer by tag carries the digest compared, and a moved tag leaves the
      // verdict to the digest.
      const digestOfTag = sha256(AMD64);
      const images = [`gcr.io/keep/multi:2.0@${sha256(INDEX)}`, `gcr.io/keep/multi:2.0@${digestOfTag}`, `gcr.io/keep/multi:2.0-amd64@${ABSENT_DIGEST}`];
      const { answer, uid } = await review(fn(), images);
      const { images: final, warnings } = outcome(answer, images);
      expect(final).toEqual([`${ECR}/mirror/multi:2.0@${sha256(INDEX)}`, `${ECR}/mirror/multi:2.0@${digestOfTag}`, images[2]]);
      // The warning keeps the reason's end (digests shortened); the log line has all of it.
      expect(warnings.filter((w) => /unchanged|anyway/.test(w))).toEqual([warning('left containers[c2] gcr.io/keep/multi:', `unchanged \\(rule keep\\): .*now points at ${digestOfTag.slice(0, 15)}\\.\\.\\.`)]);
      const line = await reviewLine(fn(), uid);
      expect(line).toMatchObject({ verifyChecks: 3, verifyMissing: 1, verifyErrors: 0, withheld: 1 });
      expect(line['withheldImages']).toEqual([
        expect.objectContaining({ container: 'c2', reason: `not found in ${ECR} (ImageNotFound); its tag 2.0-amd64 now points at ${digestOfTag}` }),
      ]);
    });

    it('rewrites an absent tag anyway with onMissing: rewrite, and warns', async () => {
      const images = ['gcr.io/rewrite/app:9.9'];
      const { answer } = await review(fn(), images);
      const { images: final, warnings } = outcome(answer, images);
      expect(final).toEqual([`${ECR}/mirror/app:9.9`]);
      expect(warnings).toContainEqual(warning('rewrote containers[c0] anyway (rule rewrite): ', '\\(ImageNotFound\\)'));
    });

    it('denies an absent tag with onMissing: deny: allowed false, 403, a message naming the images and why', async () => {
      const { answer, uid } = await review(fn(), ['gcr.io/deny/app:9.9']);
      const response = responseOf(answer);
      expect(response).toMatchObject({ allowed: false, status: { code: 403, reason: 'Forbidden' } });
      expect(response['patch']).toBeUndefined();
      expect((response['status'] as JsonObject)['message']).toBe(
        `image-rewriter denied the request: containers[c0] gcr.io/deny/app:9.9 -> ${ECR}/mirror/app:9.9 (rule deny): not found in ${ECR} (ImageNotFound)`,
      );
      expect(await reviewLine(fn(), uid)).toMatchObject({ level: 'WARN', outcome: 'denied', verifyMissing: 1, denied: expect.stringMatching(/^image-rewriter denied the request: containers\[c0\] gcr\.io\/deny\/app:9\.9 /) });
    });

    it('checks the platforms of the index BatchGetImage returns', async () => {
      const images = ['gcr.io/both/multi:2.0', 'gcr.io/amd64/multi:2.0', 'gcr.io/amd64/multi:2.0-amd64'];
      const { answer } = await review(fn(), images);
      const { images: final, warnings } = outcome(answer, images);
      // linux/arm64 lacking -> missing; linux/amd64 present; a single-platform image cannot be
      // confirmed without downloading its config (src/verify/ecr.ts) -> missing.
      expect(final).toEqual(['gcr.io/both/multi:2.0', `${ECR}/mirror/multi:2.0`, 'gcr.io/amd64/multi:2.0-amd64']);
      expect(warnings).toContainEqual(warning('left containers[c0] gcr.io/both/multi:2.0 unchanged (rule both): ', 'lacks platform linux/arm64'));
      expect(warnings).toContainEqual(warning('left containers[c2] gcr.io/amd64/multi:2.0-amd64 unchanged (rule amd64): ', '\\(wanted linux/amd64\\)'));
    });

    it('answers a repeated target from the cache', async () => {
      const { answer, uid } = await review(fn(), ['gcr.io/keep/app:1.0']);
      expect(outcome(answer, ['gcr.io/keep/app:1.0']).images).toEqual([`${ECR}/mirror/app:1.0`]);
      expect(await reviewLine(fn(), uid)).toMatchObject({ verifyChecks: 1, verifyCacheHits: 1 });
    });
  });

  describe('moto frozen, then gone', () => {
    const DEADLINE_MS = 1000;
    const { moto, fn } = setUp(start, DEADLINE_MS);
    const signalMoto = (signal: NodeJS.Signals): void => {
      const pid = moto().process.child.pid;
      if (pid === undefined) throw new Error('moto has no pid');
      process.kill(-pid, signal);
    };

    it('rewrites while moto answers', async () => {
      const { answer } = await review(fn(), ['gcr.io/keep/app:1.0']);
      expect(outcome(answer, ['gcr.io/keep/app:1.0']).images).toEqual([`${ECR}/mirror/app:1.0`]);
    });

    it('applies onUnreachable at the deadline when moto accepts connections but never answers', async () => {
      // Two distinct targets: two checks, two failures for the breaker.
      const images = ['gcr.io/keep/multi:2.0', 'gcr.io/rewrite/multi:2.0-amd64'];
      signalMoto('SIGSTOP');
      let result;
      try {
        result = await review(fn(), images);
      } finally {
        signalMoto('SIGCONT');
      }
      const { images: final, warnings } = outcome(result.answer, images);
      expect(final).toEqual(['gcr.io/keep/multi:2.0', `${ECR}/mirror/multi:2.0-amd64`]);
      expect(warnings).toContainEqual(warning('left containers[c0] gcr.io/keep/multi:2.0 unchanged (rule keep): ', 'no answer.* within the (1000 ms )?deadline'));
      expect(warnings).toContainEqual(warning('rewrote containers[c1] anyway (rule rewrite): ', 'no answer.* within the (1000 ms )?deadline'));
      const line = await reviewLine(fn(), result.uid);
      expect(line).toMatchObject({ verifyChecks: 2, verifyErrors: 2 });
      // It waited for the deadline (nothing failed fast), and no longer: the SDK itself has no
      // timeout, so without the deadline this review would never be answered. The margin is for
      // a busy machine's timers, not a speed claim.
      expect(line['verifyMs']).toBeGreaterThanOrEqual(DEADLINE_MS * 0.9);
      expect(line['verifyMs']).toBeLessThan(DEADLINE_MS + 5000);
    });

    it('applies onUnreachable when moto is gone, then skips ECR of that region while its breaker is open', async () => {
      await moto().process.stop();
      const images = ['gcr.io/keep/app:2.0'];
      const first = await review(fn(), images);
      expect(outcome(first.answer, images)).toEqual({
        images,
        warnings: [warning('left containers[c0] gcr.io/keep/app:2.0 unchanged (rule keep): ', `(ECR in us-west-2 failed \\(${refused}\\)|no answer.* deadline)`)],
      });
      expect(await reviewLine(fn(), first.uid)).toMatchObject({ verifyErrors: 1 });
      // Three failures in a row open the breaker. The two at the deadline count unless the
      // deadline cut a check soon after it was asked (on a loaded machine, a check that waited to
      // be sent: src/verify/verifier.ts does not blame the registry for that); a refused
      // connection always counts. So the breaker is open after this review or at most two more,
      // each of which was refused, and then the check is skipped.
      const open = warning('left containers[c0] gcr.io/keep/app:3.0 unchanged (rule keep): ', 'failing; not asked again for a while');
      const refusedAgain = warning('left containers[c0] gcr.io/keep/app:3.0 unchanged (rule keep): ', `ECR in us-west-2 failed \\(${refused}\\)`);
      const seen: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const warnings = outcome((await review(fn(), ['gcr.io/keep/app:3.0'])).answer, ['gcr.io/keep/app:3.0']).warnings;
        seen.push(...warnings);
        if (JSON.stringify(warnings).includes('not asked again')) break;
      }
      expect(seen.at(-1)).toEqual(open);
      expect(seen.slice(0, -1)).toEqual(seen.slice(0, -1).map(() => refusedAgain));
    });
  });
});
