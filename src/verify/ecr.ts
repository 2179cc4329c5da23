/**
 * Does an Amazon ECR private repository have an image? `BatchGetImage` with the function's role
 * (what a pull calls first), which also returns the manifest for the `platforms` check.
 *
 * Pull-through cache prefixes: BatchGetImage is the call that fills the cache. Its documented
 * failures (`UnableToGetUpstreamImageException`, failure codes `UpstreamAccessDenied`,
 * `UpstreamTooManyRequests`, `UpstreamUnavailable`) only exist because it reaches upstream, and the
 * user guide has ECR create the repository and cache the image on the first pull; so with
 * `ecr:BatchImportUpstreamImage` (and `ecr:CreateRepository` for a new repository) the check warms
 * the mirror and answers present. Without those permissions the image is reported missing and the
 * rule's onMissing keeps the original (safe either way). Upstream failures are errors (onUnreachable),
 * not "missing". docs/verify.md says what was verified and what was not.
 *
 * A cache fills from a request by tag, not from one by digest, even when the reference has a tag
 * too (docs/verify.md, "Amazon ECR", on pull-through cache prefixes). So an image pinned as
 * `tag@digest` is asked by tag first, and is present when the tag's image has the pinned digest
 * (the kubelet pulls that digest); otherwise it is asked by digest, as a digest-only image is
 * (checkTagged).
 *
 * The SDK is loaded with import() at the first ECR check, so it is never loaded unless a rule
 * verifies an ECR target (the Lambda bundle's static imports must not include it: scripts/build.mjs).
 */
import type { BatchGetImageCommandOutput, ECRClient, Image, ImageIdentifier } from '@aws-sdk/client-ecr';
import { lackReason, manifestShape, MEDIA_TYPES } from './platform.js';
import type { CheckOutcome } from './oci.js';
import type { EcrTarget } from './target.js';

/** Failure codes that say the image is not there. */
const MISSING_CODES = new Set(['ImageNotFound', 'ImageTagDoesNotMatchDigest', 'ImageReferencedByManifestList']);
/** Exceptions that say the repository is not there. */
const MISSING_EXCEPTIONS = new Set(['RepositoryNotFoundException']);
/**
 * Errors of a request by tag that are answers about this repository (as the verifier's ECR_ANSWERS),
 * after which the digest may still be there: the role may not import the tag (no
 * `ecr:BatchImportUpstreamImage`) or the upstream failed, while the cache holds the digest.
 */
const TAG_ANSWERS = new Set(['AccessDeniedException', 'UnableToGetUpstreamImageException', 'InvalidParameterException']);

const describe = (t: EcrTarget): string => `${t.registry}/${t.repository}${t.digest === undefined ? `:${t.tag ?? 'latest'}` : `@${t.digest}`}`;
const nameOf = (e: unknown): string => (e as Error | undefined)?.name ?? '';

/** One BatchGetImage of one image id; "no such repository" is an answer, other errors are thrown. */
async function batchGet(target: EcrTarget, imageId: ImageIdentifier, signal: AbortSignal, client: ECRClient): Promise<BatchGetImageCommandOutput | CheckOutcome> {
  const { BatchGetImageCommand } = await import('./sdk-ecr.js');
  try {
    return await client.send(
      new BatchGetImageCommand({ registryId: target.registryId, repositoryName: target.repository, imageIds: [imageId], acceptedMediaTypes: Object.values(MEDIA_TYPES) }),
      { abortSignal: signal },
    );
  } catch (e) {
    if (MISSING_EXCEPTIONS.has(nameOf(e))) return { status: 'missing', reason: `${target.registry} has no repository ${target.repository}` };
    throw e;
  }
}

const isOutcome = (out: BatchGetImageCommandOutput | CheckOutcome): out is CheckOutcome => 'status' in out;

/** The image ECR returned, judged for the wanted platforms. */
function judge(image: Image, target: EcrTarget, platforms: readonly string[]): CheckOutcome {
  if (platforms.length === 0) return { status: 'present' };
  const shape = manifestShape(image.imageManifest ?? '', image.imageManifestMediaType);
  if (shape.kind !== 'index') {
    // A single-platform image: ECR returns no config here; asking for the config blob would need
    // GetDownloadUrlForLayer and a download, so the platform cannot be confirmed.
    return { status: 'missing', reason: `not a multi-platform index in ${target.registry} (wanted ${platforms.join(', ')})` };
  }
  const reason = lackReason(target.registry, shape.platforms, platforms);
  return reason !== undefined ? { status: 'missing', reason } : { status: 'present' };
}

/**
 * Check one ECR target; throws for errors of the SDK other than "not found" (the caller classifies them).
 * `budgetMs`: what is left of the check's deadline (`signal` aborts then), shared by the two
 * requests of a `tag@digest` image.
 */
export async function checkEcr(target: EcrTarget, platforms: readonly string[], signal: AbortSignal, client: ECRClient, budgetMs: number): Promise<CheckOutcome> {
  let byTag: AskByDigest | undefined;
  if (target.digest !== undefined && target.tag !== undefined) {
    const answer = await checkTagged(target, target.tag, target.digest, platforms, signal, client, budgetMs);
    if (answer.status !== 'ask by digest') return answer;
    byTag = answer;
  }
  const out = await batchGet(target, target.digest === undefined ? { imageTag: target.tag ?? 'latest' } : { imageDigest: target.digest }, signal, client);
  if (isOutcome(out)) return out.status === 'missing' ? afterTag(out.reason, byTag, target) : out;
  const image = out.images?.[0];
  if (image === undefined) {
    const failure = out.failures?.[0];
    const code = failure?.failureCode ?? 'no image';
    const tagMoved =
      byTag?.movedTo === undefined
        ? ''
        : byTag.listsDigest === true
          ? `; its tag ${target.tag ?? ''} names an index (${byTag.movedTo}) that lists it`
          : `; its tag ${target.tag ?? ''} now points at ${byTag.movedTo}`;
    if (MISSING_CODES.has(code) || failure === undefined) return afterTag(`not found in ${target.registry} (${code})${tagMoved}`, byTag, target);
    // The failures of a pull-through cache's upstream (UpstreamUnavailable...), not of ECR.
    return { status: 'error', reason: `ECR could not answer for ${describe(target)} (${code})`, answered: true };
  }
  return judge(image, target, platforms);
}

/**
 * No verdict by tag; `movedTo`: the digest the tag names now, when it names another; `unanswered`:
 * why the tag got no answer about its image (an upstream failure, access denied, cut by the time).
 */
interface AskByDigest {
  readonly status: 'ask by digest';
  readonly movedTo: string | undefined;
  /** The tag's image is an index listing the pinned digest (a platform's manifest): the tag did not move. */
  readonly listsDigest?: boolean;
  readonly unanswered?: string;
}

/**
 * A digest not there: missing, unless the request by tag got no answer about its image. Then it is
 * what the tag alone would be, an error (onUnreachable): the cache may not hold the digest only
 * because its import failed (Docker Hub's rate limit), and upstream failures are not missing
 * (docs/verify.md, "Amazon ECR").
 */
function afterTag(reason: string, byTag: AskByDigest | undefined, target: EcrTarget): CheckOutcome {
  if (byTag?.unanswered === undefined) return { status: 'missing', reason };
  return { status: 'error', reason: `ECR could not answer for ${target.registry}/${target.repository}:${target.tag ?? ''} (${byTag.unanswered}); ${reason.replace(/^not found in \S+/, 'not found by digest')}`, answered: true };
}

/**
 * The first request for a `tag@digest` image: by tag, the one that fills a pull-through cache.
 * The image is present when the tag's image has the pinned digest (the same manifest, so it serves
 * the platforms check too); a repository not found is missing (none by digest either). Anything
 * else is no verdict, and checkEcr asks by digest as for a digest-only image: the tag not found, an
 * answer about the repository (access denied, an upstream failure: the cache may hold the digest
 * all the same), no answer within half of `budgetMs` (a slow import: should ECR finish it all the
 * same, a later check finds it; the request by digest keeps the other half), or the tag naming another
 * digest now (`movedTo`, which the reason then names). A digest not there after no answer about
 * the tag's image is an error, not missing (afterTag).
 * The deadline (`signal`) and errors of ECR itself (throttling, 5xx, the network, each already
 * retried by the SDK) are thrown: a second request would fail alike, adding load to a failing
 * service, and the check counts once against the circuit breaker, as before.
 * Not one request with both ids: ECR fills a cache from a pull, which asks for one id, and a call
 * that fails as a whole (UnableToGetUpstreamImageException) would lose the other id's answer; moto
 * answers such a request per id but reports a digest it lacks as `imageTag: "null"`, so tests could
 * not tell the answers apart either. A present image costs one request either way; a missing one
 * two, once per negativeTtlMs (the verdict's cache). The log line and metrics count checks, not
 * requests.
 */
async function checkTagged(target: EcrTarget, tag: string, digest: string, platforms: readonly string[], signal: AbortSignal, client: ECRClient, budgetMs: number): Promise<CheckOutcome | AskByDigest> {
  const cut = new AbortController();
  const onAbort = (): void => {
    cut.abort();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(onAbort, Math.max(budgetMs / 2, 0));
  let out;
  try {
    out = await batchGet(target, { imageTag: tag }, cut.signal, client);
  } catch (e) {
    if (signal.aborted || !(cut.signal.aborted || TAG_ANSWERS.has(nameOf(e)))) throw e;
    return { status: 'ask by digest', movedTo: undefined, unanswered: cut.signal.aborted ? `no answer by tag within ${String(Math.round(Math.max(budgetMs / 2, 0)))} ms` : nameOf(e) };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
  if (isOutcome(out)) return out;
  const image = out.images?.find((i) => i.imageId?.imageDigest === digest);
  if (image !== undefined) return judge(image, target, platforms);
  const code = out.failures?.[0]?.failureCode;
  const failed = out.images?.[0] === undefined && code !== undefined && !MISSING_CODES.has(code);
  const named = out.images?.[0];
  const listsDigest = named !== undefined && indexLists(named.imageManifest, digest);
  return { status: 'ask by digest', movedTo: named?.imageId?.imageDigest, ...(listsDigest ? { listsDigest } : {}), ...(failed ? { unanswered: code } : {}) };
}

/** Whether a manifest is an index with an entry of `digest` (a pin of one platform's manifest). */
function indexLists(manifest: string | undefined, digest: string): boolean {
  try {
    const parsed = JSON.parse(manifest ?? '') as { manifests?: unknown };
    return Array.isArray(parsed.manifests) && parsed.manifests.some((m) => (m as { digest?: unknown } | null)?.digest === digest);
  } catch {
    return false;
  }
}
