/**
 * Where to ask whether an image exists: the registry host and API base URL, the repository and the
 * manifest reference (the digest when there is one, since the kubelet pulls by digest then, else
 * the tag, else `latest` as the kubelet does), and whether the host is an Amazon ECR private
 * registry (asked through the AWS SDK with the function's role instead of the registry API; its
 * target keeps the tag of a `tag@digest` image too, since a pull-through cache fills by tag only).
 */
import { DEFAULT_DOMAIN, parseNormalizedNamed } from '../core/reference.js';

export interface RegistryTarget {
  readonly kind: 'oci';
  /** The registry as written in the image (`docker.io`, `mirror.example.com:5000`): the key of caches and breakers. */
  readonly registry: string;
  /** `https://<host>`: `registry-1.docker.io` for Docker Hub. */
  readonly base: string;
  readonly repository: string;
  readonly reference: string;
}

export interface EcrTarget {
  readonly kind: 'ecr';
  readonly registry: string;
  readonly registryId: string;
  readonly region: string;
  readonly repository: string;
  /** The tag, `latest` when there is neither tag nor digest; undefined for a digest-only image. */
  readonly tag: string | undefined;
  /** With a tag too (`tag@digest`), the check asks by tag first (src/verify/ecr.ts). */
  readonly digest: string | undefined;
}

export type Target = RegistryTarget | EcrTarget;

/**
 * `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`, and the dual-stack (IPv6) endpoints
 * `<account>.dkr-ecr[-fips].<region>.on.aws`: their registry API wants ECR's own Basic tokens, so
 * they are asked through the SDK too.
 */
const ECR_HOST = /^(\d{12})\.(?:dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|dkr-ecr(?:-fips)?\.([a-z0-9-]+)\.on\.aws)$/;

/** Docker Hub's registry API is not at docker.io. */
const DOCKER_HUB_API = 'registry-1.docker.io';

/** The target of an image, or an error message when the image does not parse. */
export function targetOf(image: string): { ok: true; target: Target } | { ok: false; error: string } {
  const parsed = parseNormalizedNamed(image);
  if (!parsed.ok) return { ok: false, error: parsed.error.message };
  const { domain, path, tag, digest } = parsed.value;
  const ecr = ECR_HOST.exec(domain);
  if (ecr !== null) {
    const [, registryId = '', classic, dualStack] = ecr;
    const region = classic ?? dualStack ?? '';
    return { ok: true, target: { kind: 'ecr', registry: domain, registryId, region, repository: path, tag: digest === undefined ? (tag ?? 'latest') : tag, digest } };
  }
  const host = domain === DEFAULT_DOMAIN ? DOCKER_HUB_API : domain;
  return { ok: true, target: { kind: 'oci', registry: domain, base: `https://${host}`, repository: path, reference: digest ?? tag ?? 'latest' } };
}
