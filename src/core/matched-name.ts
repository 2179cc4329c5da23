/**
 * The name rules and excludes compare: an image's normalized name with its registry host spelled
 * one way (`matchedName`), the same spelling for a `match` rule's replacement (`matchedPrefix`),
 * the path-boundary prefix test both use, and the longest host and image the engine parses.
 * docs/design.md, "Rewrite semantics".
 */
import { DEFAULT_DOMAIN, NAME_TOTAL_LENGTH_MAX, type NamedReference, nameOf, parseNormalizedNamed } from './reference.js';

/** True when `name` equals `prefix` or continues it after a `/`. */
export function hasPathPrefix(name: string, prefix: string): boolean {
  return name === prefix || (name.length > prefix.length && name.startsWith(prefix) && name.charCodeAt(prefix.length) === 0x2f);
}

/**
 * True when one of `prefixes` is a path prefix of the name (`hasPathPrefix`), looked up by path
 * prefix, as `match` rules are: tried one by one, tens of thousands of exclusions held a large
 * review for seconds (docs/performance.md, "Figures behind the comments").
 */
export function pathPrefixTest(prefixes: readonly string[]): (name: string) => boolean {
  const set = new Set(prefixes);
  const lengths = new Set(prefixes.map((p) => p.length));
  return (name) => {
    for (let end = name.length; end > 0; end = name.lastIndexOf('/', end - 1)) {
      if (lengths.has(end) && set.has(name.slice(0, end))) return true;
    }
    return false;
  };
}

/** The longest registry host (with its port) an image can name: 253 (the longest DNS name) + `:65535`. */
export const MAX_DOMAIN_LENGTH = 253 + 6;

/**
 * The longest image that can be a valid reference here: a host of MAX_DOMAIN_LENGTH, `/`, a path of
 * NAME_TOTAL_LENGTH_MAX, `:` and a tag of 128, `@` and the longest digest go-digest accepts
 * (`sha512:` and 128 hex digits). A longer image is refused before it is parsed.
 */
export const MAX_REFERENCE_LENGTH = MAX_DOMAIN_LENGTH + 1 + NAME_TOTAL_LENGTH_MAX + 1 + 128 + 1 + 'sha512:'.length + 128;

/**
 * Docker Hub's host names: an image naming one of them pulls from Docker Hub (docker.io).
 * `registry.hub.docker.com` serves the same registry API (CI tools log in and push there).
 */
export const DOCKER_HUB_HOSTS: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * The name rules and excludes see: the normalized name with its registry host spelled one way, so
 * that spellings of the same registry cannot slip past a rule or an exclude. Host names are
 * case-insensitive (`GCR.io` is `gcr.io`), a port's leading zeros are not part of it (Go's net
 * package, so the kubelet and containerd, reads `gcr.io:0443` as port 443 and `registry:05000` as
 * port 5000), `:443` is the port an HTTPS registry is reached on
 * anyway (`gcr.io:443` is `gcr.io`), and Docker Hub's hosts are `docker.io` (with its `library/`
 * for one-component paths, as the normalizer gives `docker.io/nginx`). docs/design.md, "Rewrite
 * semantics".
 */
export function matchedName(ref: Pick<NamedReference, 'domain' | 'path'>): string {
  const host = matchedHost(ref.domain);
  if (host !== DEFAULT_DOMAIN) return host === ref.domain ? nameOf(ref) : nameOf({ domain: host, path: ref.path });
  return nameOf({ domain: DEFAULT_DOMAIN, path: ref.path.includes('/') ? ref.path : `library/${ref.path}` });
}

/**
 * A registry host as `matchedName` spells it: lower case, its port without leading zeros, no `:443`,
 * Docker Hub's hosts `docker.io`.
 */
export function matchedHost(domain: string): string {
  let host = portWithoutLeadingZeros(domain.toLowerCase());
  if (host.endsWith(':443')) host = host.slice(0, -4);
  return DOCKER_HUB_HOSTS.has(host) ? DEFAULT_DOMAIN : host;
}

/**
 * `host` with the leading zeros of its port dropped (`gcr.io:0443` is `gcr.io:443`, `[::1]:05000`
 * is `[::1]:5000`), as Go's net package reads a port. A port of zeros only (`:0`, `:000`) is left as
 * it is written. A host without a port, or with a port that does not start with `0`, is returned
 * as it is after one search and one character check: this runs on every image.
 */
export function portWithoutLeadingZeros(host: string): string {
  const colon = host.lastIndexOf(':');
  if (colon < 0 || host.charCodeAt(colon + 1) !== 0x30) return host;
  let digits = colon + 1;
  while (host.charCodeAt(digits) === 0x30) digits++;
  if (digits === host.length) return host;
  for (let i = digits; i < host.length; i++) {
    const c = host.charCodeAt(i);
    // Not a port: the `:` is inside an IPv6 address (`[::0a]`).
    if (c < 0x30 || c > 0x39) return host;
  }
  return host.slice(0, colon + 1) + host.slice(digits);
}

/** A `match` rule's `replace` (a host, then optional path) with its host spelled as `matchedName` spells it. */
export function matchedPrefix(replace: string): string {
  const slash = replace.indexOf('/');
  return slash < 0 ? matchedHost(replace) : matchedHost(replace.slice(0, slash)) + replace.slice(slash);
}

/**
 * Whether a rule's output `out` is the normalized name `name` spelled another way (`mirror.example.com:443/x`
 * for `mirror.example.com/x`): such a rule leaves the name as it is ("identical" in compute), so a
 * result it takes is not rewritten again on reinvocation.
 */
export function sameName(out: string, name: string): boolean {
  if (out === name) return true;
  const parsed = parseNormalizedNamed(out);
  return parsed.ok && parsed.value.tag === undefined && parsed.value.digest === undefined && matchedName(parsed.value) === name;
}
