/**
 * Container image references, parsed exactly as the kubelet and containerd parse them: a port of
 * Go's github.com/distribution/reference v0.6.0 (Parse, ParseNormalizedNamed, ParseNamed,
 * ParseDockerRef, ParseAnyReference, Familiar*) with go-digest v1.0.0's digest validation. Both
 * are under the Apache License 2.0; the ported parts keep it, and the bundles carry the notice
 * (dist/THIRD-PARTY-NOTICES; docs/design.md, "What we ship").
 *
 * Written by hand because no npm package passes that package's vectors without catastrophic regex
 * backtracking (one took seconds on a 13-character input). The grammar below is Go's current one:
 * every repetition is separated by a character the repeated atom cannot match (`-+` separators,
 * `.` between domain labels, `/` between path components), so the JS regexes run in linear time.
 *
 * Pure: no I/O. Expected failures are return values (`Result`), never exceptions.
 */

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const LOCALHOST = 'localhost';
/** Maximum length of the repository path (without the domain), as in distribution/reference v0.6.0. */
export const NAME_TOTAL_LENGTH_MAX = 255;

export type ReferenceErrorKind =
  | 'NameEmpty'
  | 'NameTooLong'
  | 'NameContainsUppercase'
  | 'NameNotCanonical'
  | 'ReferenceInvalidFormat'
  | 'TagInvalidFormat'
  | 'DigestInvalidFormat'
  | 'DigestInvalidLength'
  | 'DigestUnsupported'
  | 'IdentifierNotAllowed';

const MESSAGES: Readonly<Record<ReferenceErrorKind, string>> = {
  NameEmpty: 'repository name must have at least one component',
  NameTooLong: `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`,
  NameContainsUppercase: 'repository name must be lowercase',
  NameNotCanonical: 'repository name must be canonical',
  ReferenceInvalidFormat: 'invalid reference format',
  TagInvalidFormat: 'invalid tag format',
  DigestInvalidFormat: 'invalid checksum digest format',
  DigestInvalidLength: 'invalid checksum digest length',
  DigestUnsupported: 'unsupported digest algorithm',
  IdentifierNotAllowed: 'invalid repository name, cannot specify 64-byte hexadecimal strings',
};

/** The one error type of this module; `kind` mirrors the Go sentinel error. */
export class InvalidReferenceError extends Error {
  override readonly name = 'InvalidReferenceError';
  readonly kind: ReferenceErrorKind;
  readonly input: string;
  constructor(kind: ReferenceErrorKind, input: string, detail?: string) {
    super(detail ?? MESSAGES[kind]);
    this.kind = kind;
    this.input = input;
  }
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: InvalidReferenceError };

/** A named reference. `domain` is '' only for plain `parse` of a name without a domain part. */
export interface NamedReference {
  readonly domain: string;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

/** A digest-only reference (`sha256:<hex>`), produced only by `parseAnyReference`. */
export interface DigestReference {
  readonly digest: string;
}

const ok = <T>(value: T): Result<T> => ({ ok: true, value });

/**
 * An expected failure: a return value, built without a stack trace (capturing one costs more than
 * the whole parse, and a bad image in a pod spec is data, not a bug).
 */
function noStack(kind: ReferenceErrorKind, input: string, detail?: string): InvalidReferenceError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new InvalidReferenceError(kind, input, detail);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
const fail = <T>(kind: ReferenceErrorKind, input: string, detail?: string): Result<T> => ({ ok: false, error: noStack(kind, input, detail) });

// --- grammar (distribution/reference regexp.go, v0.6.0) ---------------------------------------
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;
const identifier = '[a-f0-9]{64}';

const referenceRegexp = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredNameRegexp = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const anchoredIdentifierRegexp = new RegExp(`^${identifier}$`);

/** The Go package's exported regexes, anchored (for tests and for rule validation). */
export const grammar = {
  anchoredDomain: new RegExp(`^${domainAndPort}$`),
  anchoredName: new RegExp(`^${namePat}$`),
  anchoredReference: new RegExp(`^${namePat}(?::${tagPat})?(?:@${digestPat})?$`),
  anchoredTag: new RegExp(`^${tagPat}$`),
  anchoredDigest: new RegExp(`^${digestPat}$`),
  anchoredIdentifier: anchoredIdentifierRegexp,
} as const;

// --- go-digest --------------------------------------------------------------------------------
// Only the algorithms go-digest registers by default (with crypto/sha256 and crypto/sha512 linked).
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const lowerHex = /^[a-f0-9]+$/;
const goDigestRegexp = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** go-digest `Digest.Validate`: undefined when valid. */
export function validateDigest(s: string): InvalidReferenceError | undefined {
  const i = s.indexOf(':');
  if (i <= 0 || i + 1 === s.length) return noStack('DigestInvalidFormat', s);
  const algorithm = s.slice(0, i);
  const encoded = s.slice(i + 1);
  const size = Object.hasOwn(DIGEST_HEX_LENGTH, algorithm) ? DIGEST_HEX_LENGTH[algorithm] : undefined;
  if (size === undefined) {
    return noStack(goDigestRegexp.test(s) ? 'DigestUnsupported' : 'DigestInvalidFormat', s);
  }
  if (encoded.length !== size) return noStack('DigestInvalidLength', s);
  if (!lowerHex.test(encoded)) return noStack('DigestInvalidFormat', s);
  return undefined;
}

/**
 * Where a text holds a character no reference holds (references are printable ASCII): `U+043E at
 * character 2, not printable ASCII (...)`, `a space at character 7` (or a tab), or undefined. Go's message
 * alone ("invalid reference format") does not say that a space, a zero-width space or a Cyrillic
 * look-alike copied with an image is what it refuses, and the text quoted beside it looks right.
 */
export function foreignCharacter(s: string): string | undefined {
  let n = 0;
  for (const c of s) {
    n++;
    if (!/^[!-~]$/.test(c)) return foreignCharacterAt(c, n);
  }
  return undefined;
}

/** foreignCharacter's words after a message's colon (`: U+200B at character 7, ...`), or ''. */
export function foreignNote(s: string): string {
  const foreign = foreignCharacter(s);
  return foreign === undefined ? '' : `: ${foreign}`;
}

/**
 * A parse error as users read it (explain's `error`, the review's warnings and log line): Go's
 * message, which stays as Go words it here (tests/integration/reference-oracle.integration.ts), with
 * foreignCharacter's place of the character that made the format invalid.
 */
export function referenceProblem(error: InvalidReferenceError): string {
  const foreign = error.kind === 'ReferenceInvalidFormat' ? foreignCharacter(error.input) : undefined;
  return foreign === undefined ? error.message : `${error.message}: ${foreign}`;
}

/** The character `c` (not printable ASCII, or a space), the `n`th of a text, as foreignCharacter says it. */
export function foreignCharacterAt(c: string, n: number): string {
  if (c === ' ' || c === '\t') return `a ${c === ' ' ? 'space' : 'tab'} at character ${n}`;
  const code = (c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return `U+${code} at character ${n}, not printable ASCII (a look-alike or invisible character copied with it?)`;
}

// --- parsing ----------------------------------------------------------------------------------

/**
 * Go's strings.ToLower where it can matter here: Go maps each rune by its simple case mapping, JS
 * applies SpecialCasing, which differs for U+0130 (Go: `i`, JS: `i` + U+0307). `İ` is the only
 * non-ASCII rune whose lower case differs that way and is ASCII (the Kelvin sign is `k` in both).
 */
function goToLower(s: string): string {
  return s.replaceAll('\u0130', 'i').toLowerCase();
}

/** Go `Parse`: the strict grammar, no normalization (`nginx` has domain ''). */
export function parse(s: string): Result<NamedReference> {
  const m = referenceRegexp.exec(s);
  if (m === null) {
    if (s === '') return fail('NameEmpty', s);
    if (referenceRegexp.test(goToLower(s))) return fail('NameContainsUppercase', s);
    return fail('ReferenceInvalidFormat', s);
  }
  const name = m[1] ?? '';
  const nm = anchoredNameRegexp.exec(name);
  const domain = nm?.[1] ?? '';
  const path = nm?.[2] ?? name;
  // v0.6.0 limits the repository path, not domain + path (reference.go: len(repo.path)).
  if (path.length > NAME_TOTAL_LENGTH_MAX) return fail('NameTooLong', s);
  const digest = m[3];
  if (digest !== undefined) {
    const err = validateDigest(digest);
    if (err !== undefined) return fail(err.kind, s);
  }
  return ok({ domain, path, tag: m[2], digest });
}

/** distribution/reference `splitDockerDomain`. */
function splitDockerDomain(name: string): [domain: string, remainder: string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemainder = name.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (maybeDomain === LOCALHOST) {
    [domain, remainder] = [maybeDomain, maybeRemainder];
  } else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) {
    [domain, remainder] = [DEFAULT_DOMAIN, maybeRemainder];
  } else if (maybeDomain.includes('.') || maybeDomain.includes(':')) {
    [domain, remainder] = [maybeDomain, maybeRemainder];
  } else if (maybeDomain.toLowerCase() !== maybeDomain) {
    [domain, remainder] = [maybeDomain, maybeRemainder];
  } else {
    [domain, remainder] = [DEFAULT_DOMAIN, name];
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return [domain, remainder];
}

/**
 * Go `ParseNormalizedNamed`: what the kubelet does with a Pod's `image`. `nginx:1.27` becomes
 * domain `docker.io`, path `library/nginx`, tag `1.27`.
 */
export function parseNormalizedNamed(s: string): Result<NamedReference> {
  if (anchoredIdentifierRegexp.test(s)) return fail('IdentifierNotAllowed', s, `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) {
    return fail('NameContainsUppercase', s, `invalid reference format: repository name (${remote}) must be lowercase`);
  }
  const r = parse(`${domain}/${remainder}`);
  if (!r.ok) return fail(r.error.kind, s, r.error.message);
  return r;
}

/** Go `ParseNamed`: accepts only input already in canonical form. */
export function parseNamed(s: string): Result<NamedReference> {
  const r = parseNormalizedNamed(s);
  if (!r.ok) return r;
  if (referenceString(r.value) !== s) return fail('NameNotCanonical', s);
  return r;
}

/** Go `ParseDockerRef`: normalized, `latest` added when untagged, tag dropped when a digest is present. */
export function parseDockerRef(s: string): Result<NamedReference> {
  const r = parseNormalizedNamed(s);
  if (!r.ok) return r;
  const v = r.value;
  if (v.digest !== undefined) return ok({ ...v, tag: undefined });
  return ok({ ...v, tag: v.tag ?? 'latest' });
}

/** Go `ParseAnyReference`: a 64-hex identifier or a digest becomes a digest reference. */
export function parseAnyReference(s: string): Result<NamedReference | DigestReference> {
  if (anchoredIdentifierRegexp.test(s)) return ok({ digest: `sha256:${s}` });
  if (validateDigest(s) === undefined) return ok({ digest: s });
  return parseNormalizedNamed(s);
}

// --- formatting -------------------------------------------------------------------------------

/** Go `Name()`: domain/path, or path alone when there is no domain. */
export function nameOf(ref: Pick<NamedReference, 'domain' | 'path'>): string {
  return ref.domain === '' ? ref.path : `${ref.domain}/${ref.path}`;
}

/** `name` followed by the reference's `:tag` and `@digest`, when it has them. */
export function withTagAndDigest(name: string, ref: Pick<NamedReference, 'tag' | 'digest'>): string {
  return name + (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}

/** Go `String()`: name[:tag][@digest]. */
export function referenceString(ref: NamedReference): string {
  return withTagAndDigest(nameOf(ref), ref);
}

/** Go `FamiliarName`: `docker.io/library/nginx` -> `nginx`. */
export function familiarName(ref: NamedReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return nameOf(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** Go `FamiliarString`. */
export function familiarString(ref: NamedReference): string {
  return withTagAndDigest(familiarName(ref), ref);
}
