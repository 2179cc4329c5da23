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

/** The longest registry host (with its port) an image can name: 253 (the longest DNS name) + `:65535`. */
export const MAX_DOMAIN_LENGTH = 253 + 6;

/**
 * The longest image that can be a valid reference here: a host of MAX_DOMAIN_LENGTH, `/`, a path of
 * NAME_TOTAL_LENGTH_MAX, `:` and a tag of 128, `@` and the longest digest go-digest accepts
 * (`sha512:` and 128 hex digits). A longer image is refused before it is parsed.
 */
export const MAX_REFERENCE_LENGTH = MAX_DOMAIN_LENGTH + 1 + NAME_TOTAL_LENGTH_MAX + 1 + 128 + 1 + 'sha512:'.length + 128;

/** Docker Hub's other host names: an image naming one of them pulls from Docker Hub (docker.io). */
const DOCKER_HUB_HOSTS: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * The name rules and excludes see: the normalized name with its registry host spelled one way, so
 * that spellings of the same registry cannot slip past a rule or an exclude. Host names are
 * case-insensitive (`GCR.io` is `gcr.io`), `:443` is the port an HTTPS registry is reached on
 * anyway (`gcr.io:443` is `gcr.io`), and Docker Hub's hosts are `docker.io` (with its `library/`
 * for one-component paths, as the normalizer gives `docker.io/nginx`). docs/design.md, "Rewrite
 * semantics".
 */
export function matchedName(ref: Pick<NamedReference, 'domain' | 'path'>): string {
  const host = matchedHost(ref.domain);
  if (host !== DEFAULT_DOMAIN) return host === ref.domain ? nameOf(ref) : nameOf({ domain: host, path: ref.path });
  return nameOf({ domain: DEFAULT_DOMAIN, path: ref.path.includes('/') ? ref.path : `library/${ref.path}` });
}

/** A registry host as `matchedName` spells it: lower case, no `:443`, Docker Hub's hosts `docker.io`. */
export function matchedHost(domain: string): string {
  let host = domain.toLowerCase();
  if (host.endsWith(':443')) host = host.slice(0, -4);
  return DOCKER_HUB_HOSTS.has(host) ? DEFAULT_DOMAIN : host;
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
