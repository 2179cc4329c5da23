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
 * The SDK is loaded with import() at the first ECR check, so it is never loaded unless a rule
 * verifies an ECR target (the Lambda bundle's static imports must not include it: scripts/build.mjs).
 */
import type { ECRClient } from '@aws-sdk/client-ecr';
import { lacking, manifestShape, MEDIA_TYPES } from './platform.js';
import type { CheckOutcome } from './oci.js';
import type { EcrTarget } from './target.js';

/** Failure codes that say the image is not there. */
const MISSING_CODES = new Set(['ImageNotFound', 'ImageTagDoesNotMatchDigest', 'ImageReferencedByManifestList']);
/** Exceptions that say the repository is not there. */
const MISSING_EXCEPTIONS = new Set(['RepositoryNotFoundException']);

const describe = (t: EcrTarget): string => `${t.registry}/${t.repository}${t.digest === undefined ? `:${t.tag ?? 'latest'}` : `@${t.digest}`}`;

/** Check one ECR target; throws for errors of the SDK other than "not found" (the caller classifies them). */
export async function checkEcr(target: EcrTarget, platforms: readonly string[], signal: AbortSignal, client: ECRClient): Promise<CheckOutcome> {
  const imageId = target.digest === undefined ? { imageTag: target.tag ?? 'latest' } : { imageDigest: target.digest };
  const { BatchGetImageCommand } = await import('./sdk-ecr.js');
  let out;
  try {
    out = await client.send(
      new BatchGetImageCommand({ registryId: target.registryId, repositoryName: target.repository, imageIds: [imageId], acceptedMediaTypes: Object.values(MEDIA_TYPES) }),
      { abortSignal: signal },
    );
  } catch (e) {
    const name = (e as Error | undefined)?.name ?? '';
    if (MISSING_EXCEPTIONS.has(name)) return { status: 'missing', reason: `${target.registry} has no repository ${target.repository}` };
    throw e;
  }
  const image = out.images?.[0];
  if (image === undefined) {
    const failure = out.failures?.[0];
    const code = failure?.failureCode ?? 'no image';
    if (MISSING_CODES.has(code) || failure === undefined) return { status: 'missing', reason: `not found in ${target.registry} (${code})` };
    // The failures of a pull-through cache's upstream (UpstreamUnavailable...), not of ECR.
    return { status: 'error', reason: `ECR could not answer for ${describe(target)} (${code})`, answered: true };
  }
  if (platforms.length === 0) return { status: 'present' };
  const shape = manifestShape(image.imageManifest ?? '', image.imageManifestMediaType);
  if (shape.kind !== 'index') {
    // A single-platform image: ECR returns no config here; asking for the config blob would need
    // GetDownloadUrlForLayer and a download, so the platform cannot be confirmed.
    return { status: 'missing', reason: `not a multi-platform index in ${target.registry} (wanted ${platforms.join(', ')})` };
  }
  const lack = lacking(shape.platforms, platforms);
  return lack.length > 0 ? { status: 'missing', reason: `${target.registry} lacks platform ${lack.join(', ')}` } : { status: 'present' };
}
