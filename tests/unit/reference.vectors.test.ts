/**
 * The Go package's own test vectors, ported as table tests for src/core/reference.ts.
 *
 * Sources (the module zips as published, not a branch head):
 * - github.com/distribution/reference v0.6.0: reference_test.go (TestReferenceParse,
 *   TestDomainAndPath, TestParseNamed), normalize_test.go (TestValidateReferenceName,
 *   TestValidateRemoteName, TestParseRepositoryInfo, TestParseReferenceWithTagAndDigest,
 *   TestInvalidReferenceComponents, TestParseAnyReference, TestNormalizedSplitHostname,
 *   TestParseDockerRef) and regexp_test.go (TestDomainRegexp, TestFullNameRegexp,
 *   TestReferenceRegexp, TestIdentifierRegexp).
 * - github.com/opencontainers/go-digest v1.0.0 (the version reference v0.6.0 requires):
 *   digest_test.go (TestParseDigest).
 * Each Go expectation is kept as written there: domain, name/path, tag, digest, String(), familiar
 * forms and, where the Go test names one, the error. Where a Go test only asserts "err != nil", the
 * row also names the kind that v0.6.0 actually returns (marked "kind from v0.6.0"). Rows in the
 * "derived" tables are not Go test cases; each follows from the v0.6.0 / go-digest v1.0.0 source
 * lines cited beside it.
 *
 * Go error -> ReferenceErrorKind:
 *   ErrNameEmpty -> NameEmpty; ErrNameTooLong -> NameTooLong; ErrNameContainsUppercase and
 *   ParseNormalizedNamed's "repository name (x) must be lowercase" -> NameContainsUppercase;
 *   ErrNameNotCanonical -> NameNotCanonical; ErrReferenceInvalidFormat -> ReferenceInvalidFormat;
 *   ErrTagInvalidFormat -> TagInvalidFormat; go-digest ErrDigestInvalidFormat / ErrDigestInvalidLength /
 *   ErrDigestUnsupported -> DigestInvalidFormat / DigestInvalidLength / DigestUnsupported;
 *   "cannot specify 64-byte hexadecimal strings" -> IdentifierNotAllowed.
 *
 * Left out, because we do not port what they test: TestWithNameFailure, TestWithTag, TestWithDigest
 * (WithName/WithTag/WithDigest builders; WithName also rejects tagged input that Parse accepts),
 * TestSerialization (JSON Field), TestMatchError and TestMatch (FamiliarMatch), TestReferenceSorting
 * (sort_test.go), FuzzParseNormalizedNamed (fuzz_test.go), regexp_bench_test.go, and go-digest's
 * algorithm, verifier and digester tests (hashing, not parsing). From TestInvalidReferenceComponents
 * the WithTag/WithDigest checks are kept as the grammar checks those functions make.
 *
 * Note on the name length: v0.6.0 Parse checks len(repo.path) > 255 (reference.go:209), the path
 * only, not domain + path. Its own vectors rely on that ("example.com/" + 255 × "a" is valid).
 */
import { describe, expect, it } from '@jest/globals';
import {
  familiarName,
  familiarString,
  grammar,
  nameOf,
  parse,
  parseAnyReference,
  parseDockerRef,
  parseNamed,
  parseNormalizedNamed,
  referenceString,
  validateDigest,
  type DigestReference,
  type NamedReference,
  type ReferenceErrorKind,
  type Result,
} from '../../src/core/reference.js';

// --- helpers ----------------------------------------------------------------------------------

function unwrap<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`unexpected ${r.error.kind} for ${JSON.stringify(r.error.input)}: ${r.error.message}`);
  return r.value;
}

/** Everything the Go tests look at on a named reference. */
interface Seen {
  readonly domain: string;
  readonly path: string;
  readonly name: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
  readonly string: string;
  readonly familiarName: string;
  readonly familiarString: string;
}
interface Failed {
  readonly error: ReferenceErrorKind;
}
type Outcome = Seen | Failed;
/** What a row expects: the error kind, or the subset of `Seen` the Go test checks. */
type Expected = Failed | Partial<Seen>;

function seen(v: NamedReference): Seen {
  return {
    domain: v.domain,
    path: v.path,
    name: nameOf(v),
    tag: v.tag,
    digest: v.digest,
    string: referenceString(v),
    familiarName: familiarName(v),
    familiarString: familiarString(v),
  };
}

function outcome(r: Result<NamedReference>): Outcome {
  return r.ok ? seen(r.value) : { error: r.error.kind };
}

function isDigestOnly(v: NamedReference | DigestReference): v is DigestReference {
  return !('path' in v);
}

/** What Go's equalReference compares: the reference type and its fields. */
type AnyFields =
  | { readonly digestOnly: string }
  | Pick<NamedReference, 'domain' | 'path' | 'tag' | 'digest'>;

function anyFields(v: NamedReference | DigestReference): AnyFields {
  return isDigestOnly(v) ? { digestOnly: v.digest } : { domain: v.domain, path: v.path, tag: v.tag, digest: v.digest };
}

function anyOutcome(r: Result<NamedReference | DigestReference>): Outcome | { readonly digestOnly: string } {
  if (!r.ok) return { error: r.error.kind };
  return isDigestOnly(r.value) ? { digestOnly: r.value.digest } : seen(r.value);
}

const SHA256_F = `sha256:${'f'.repeat(64)}`;
const SHA256_BE = 'sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912';
const SHA256_DBCC = 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c';
const SHA256_E669 = 'sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582';

// --- distribution/reference v0.6.0: reference_test.go ----------------------------------------

interface ParseCase {
  readonly input: string;
  readonly err?: ReferenceErrorKind;
  readonly repository?: string;
  readonly domain?: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** TestReferenceParse: Parse(input); on success String() == input, Name(), Domain(), Tag(), Digest(). */
const referenceParseCases: readonly ParseCase[] = [
  { input: 'test_com', repository: 'test_com' },
  { input: 'test.com:tag', repository: 'test.com', tag: 'tag' },
  { input: 'test.com:5000', repository: 'test.com', tag: '5000' },
  { input: 'test.com/repo:tag', domain: 'test.com', repository: 'test.com/repo', tag: 'tag' },
  { input: 'test:5000/repo', domain: 'test:5000', repository: 'test:5000/repo' },
  { input: 'test:5000/repo:tag', domain: 'test:5000', repository: 'test:5000/repo', tag: 'tag' },
  {
    input: 'test:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    domain: 'test:5000',
    repository: 'test:5000/repo',
    digest: 'sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  },
  {
    input: 'test:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    domain: 'test:5000',
    repository: 'test:5000/repo',
    tag: 'tag',
    digest: 'sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  },
  { input: 'test:5000/repo', domain: 'test:5000', repository: 'test:5000/repo' },
  { input: '', err: 'NameEmpty' },
  { input: ':justtag', err: 'ReferenceInvalidFormat' },
  { input: '@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', err: 'ReferenceInvalidFormat' },
  { input: 'repo@sha256:ffffffffffffffffffffffffffffffffff', err: 'DigestInvalidLength' },
  { input: 'validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', err: 'DigestUnsupported' },
  { input: 'Uppercase:tag', err: 'NameContainsUppercase' },
  // Go: FIXME "Uppercase/lowercase:tag" is handled as a domain-name and passes (see the derived table).
  { input: 'test:5000/Uppercase/lowercase:tag', err: 'NameContainsUppercase' },
  { input: 'lowercase:Uppercase', repository: 'lowercase', tag: 'Uppercase' },
  { input: 'domain/' + 'a'.repeat(256) + ':tag', err: 'NameTooLong' },
  {
    input: 'a/'.repeat(127) + 'a:tag-puts-this-over-max',
    domain: 'a',
    repository: 'a/'.repeat(127) + 'a',
    tag: 'tag-puts-this-over-max',
  },
  { input: 'aa/asdf$$^/aa', err: 'ReferenceInvalidFormat' },
  { input: 'sub-dom1.foo.com/bar/baz/quux', domain: 'sub-dom1.foo.com', repository: 'sub-dom1.foo.com/bar/baz/quux' },
  {
    input: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
    domain: 'sub-dom1.foo.com',
    repository: 'sub-dom1.foo.com/bar/baz/quux',
    tag: 'some-long-tag',
  },
  {
    input: 'b.gcr.io/test.example.com/my-app:test.example.com',
    domain: 'b.gcr.io',
    repository: 'b.gcr.io/test.example.com/my-app',
    tag: 'test.example.com',
  },
  // ☃.com in punycode
  { input: 'xn--n3h.com/myimage:xn--n3h.com', domain: 'xn--n3h.com', repository: 'xn--n3h.com/myimage', tag: 'xn--n3h.com' },
  // 🐳.com in punycode
  {
    input:
      'xn--7o8h.com/myimage:xn--7o8h.com@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    domain: 'xn--7o8h.com',
    repository: 'xn--7o8h.com/myimage',
    tag: 'xn--7o8h.com',
    digest:
      'sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  },
  { input: 'foo_bar.com:8080', repository: 'foo_bar.com', tag: '8080' },
  { input: 'foo/foo_bar.com:8080', domain: 'foo', repository: 'foo/foo_bar.com', tag: '8080' },
  { input: '192.168.1.1', repository: '192.168.1.1' },
  { input: '192.168.1.1:tag', repository: '192.168.1.1', tag: 'tag' },
  { input: '192.168.1.1:5000', repository: '192.168.1.1', tag: '5000' },
  { input: '192.168.1.1/repo', domain: '192.168.1.1', repository: '192.168.1.1/repo' },
  { input: '192.168.1.1:5000/repo', domain: '192.168.1.1:5000', repository: '192.168.1.1:5000/repo' },
  { input: '192.168.1.1:5000/repo:5050', domain: '192.168.1.1:5000', repository: '192.168.1.1:5000/repo', tag: '5050' },
  { input: '[2001:db8::1]', err: 'ReferenceInvalidFormat' },
  { input: '[2001:db8::1]:5000', err: 'ReferenceInvalidFormat' },
  { input: '[2001:db8::1]:tag', err: 'ReferenceInvalidFormat' },
  { input: '[2001:db8::1]/repo', domain: '[2001:db8::1]', repository: '[2001:db8::1]/repo' },
  {
    input: '[2001:db8:1:2:3:4:5:6]/repo:tag',
    domain: '[2001:db8:1:2:3:4:5:6]',
    repository: '[2001:db8:1:2:3:4:5:6]/repo',
    tag: 'tag',
  },
  { input: '[2001:db8::1]:5000/repo', domain: '[2001:db8::1]:5000', repository: '[2001:db8::1]:5000/repo' },
  { input: '[2001:db8::1]:5000/repo:tag', domain: '[2001:db8::1]:5000', repository: '[2001:db8::1]:5000/repo', tag: 'tag' },
  {
    input: '[2001:db8::1]:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    domain: '[2001:db8::1]:5000',
    repository: '[2001:db8::1]:5000/repo',
    digest: 'sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  },
  {
    input: '[2001:db8::1]:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    domain: '[2001:db8::1]:5000',
    repository: '[2001:db8::1]:5000/repo',
    tag: 'tag',
    digest: 'sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  },
  { input: '[2001:db8::]:5000/repo', domain: '[2001:db8::]:5000', repository: '[2001:db8::]:5000/repo' },
  { input: '[::1]:5000/repo', domain: '[::1]:5000', repository: '[::1]:5000/repo' },
  { input: '[fe80::1%eth0]:5000/repo', err: 'ReferenceInvalidFormat' },
  { input: '[fe80::1%@invalidzone]:5000/repo', err: 'ReferenceInvalidFormat' },
  {
    input: 'example.com/' + 'a'.repeat(255) + ':tag',
    domain: 'example.com',
    repository: 'example.com/' + 'a'.repeat(255),
    tag: 'tag',
  },
];

/** The Go test's expectation for a ParseCase row. */
function parseExpectation(tc: ParseCase): Expected {
  if (tc.err !== undefined) return { error: tc.err };
  return { string: tc.input, name: tc.repository ?? '', domain: tc.domain ?? '', tag: tc.tag, digest: tc.digest };
}

/** TestDomainAndPath (via WithName; Parse splits a bare name identically: reference.go:200-207 vs 251-262). */
const domainAndPathCases: readonly { input: string; domain: string; path: string }[] = [
  { input: 'test.com/foo', domain: 'test.com', path: 'foo' },
  { input: 'test_com/foo', domain: '', path: 'test_com/foo' },
  { input: 'test:8080/foo', domain: 'test:8080', path: 'foo' },
  { input: 'test.com:8080/foo', domain: 'test.com:8080', path: 'foo' },
  { input: 'test-com:8080/foo', domain: 'test-com:8080', path: 'foo' },
  { input: 'xn--n3h.com:18080/foo', domain: 'xn--n3h.com:18080', path: 'foo' },
];

/** TestParseNamed. */
const parseNamedCases: readonly { input: string; domain?: string; path?: string; err?: ReferenceErrorKind }[] = [
  { input: 'test.com/foo', domain: 'test.com', path: 'foo' },
  { input: 'test:8080/foo', domain: 'test:8080', path: 'foo' },
  { input: 'test_com/foo', err: 'NameNotCanonical' },
  { input: 'test.com', err: 'NameNotCanonical' },
  { input: 'foo', err: 'NameNotCanonical' },
  { input: 'library/foo', err: 'NameNotCanonical' },
  { input: 'docker.io/library/foo', domain: 'docker.io', path: 'library/foo' },
  // Ambiguous case, parser will add "library/" to foo
  { input: 'docker.io/foo', err: 'NameNotCanonical' },
];

describe('distribution/reference v0.6.0 reference_test.go', () => {
  describe('TestReferenceParse: parse', () => {
    it.each(referenceParseCases)('$input', (tc) => {
      expect(outcome(parse(tc.input))).toMatchObject(parseExpectation(tc));
    });
  });

  describe('TestDomainAndPath: parse of a bare name', () => {
    it.each(domainAndPathCases)('$input', ({ input, domain, path }) => {
      expect(outcome(parse(input))).toMatchObject({ domain, path });
    });
  });

  describe('TestParseNamed: parseNamed', () => {
    it.each(parseNamedCases)('$input', ({ input, domain, path, err }) => {
      const expected: Expected = err === undefined ? { domain: domain ?? '', path: path ?? '' } : { error: err };
      expect(outcome(parseNamed(input))).toMatchObject(expected);
    });
  });
});

// --- distribution/reference v0.6.0: normalize_test.go ----------------------------------------

interface ValidityCase {
  readonly input: string;
  /** undefined: the Go test expects success; otherwise the kind from v0.6.0 (the Go test asserts only err != nil). */
  readonly err?: ReferenceErrorKind;
}

const validRepoNames: readonly string[] = [
  'docker/docker',
  'library/debian',
  'debian',
  'localhost/library/debian',
  'localhost/debian',
  'LOCALDOMAIN/library/debian',
  'LOCALDOMAIN/debian',
  'docker.io/docker/docker',
  'docker.io/library/debian',
  'docker.io/debian',
  'index.docker.io/docker/docker',
  'index.docker.io/library/debian',
  'index.docker.io/debian',
  '127.0.0.1:5000/docker/docker',
  '127.0.0.1:5000/library/debian',
  '127.0.0.1:5000/debian',
  '192.168.0.1',
  '192.168.0.1:80',
  '192.168.0.1:8/debian',
  '192.168.0.2:25000/debian',
  'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
  '[fc00::1]:5000/docker',
  '[fc00::1]:5000/docker/docker',
  '[fc00:1:2:3:4:5:6:7]:5000/library/debian',
  // This test case was moved from invalid to valid since it is valid input
  // when specified with a hostname, it removes the ambiguity from about
  // whether the value is an identifier or repository name
  'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a',
  'Docker/docker',
  'DOCKER/docker',
];

/** TestValidateReferenceName, invalid list (kind from v0.6.0). */
const invalidRepoNames: readonly ValidityCase[] = [
  { input: 'https://github.com/docker/docker', err: 'ReferenceInvalidFormat' },
  { input: 'docker/Docker', err: 'NameContainsUppercase' },
  { input: '-docker', err: 'ReferenceInvalidFormat' },
  { input: '-docker/docker', err: 'ReferenceInvalidFormat' },
  { input: '-docker.io/docker/docker', err: 'ReferenceInvalidFormat' },
  { input: 'docker///docker', err: 'ReferenceInvalidFormat' },
  { input: 'docker.io/docker/Docker', err: 'NameContainsUppercase' },
  { input: 'docker.io/docker///docker', err: 'ReferenceInvalidFormat' },
  { input: '[fc00::1]', err: 'ReferenceInvalidFormat' },
  { input: '[fc00::1]:5000', err: 'ReferenceInvalidFormat' },
  { input: 'fc00::1:5000/debian', err: 'ReferenceInvalidFormat' },
  { input: '[fe80::1%eth0]:5000/debian', err: 'ReferenceInvalidFormat' },
  { input: '[2001:db8:3:4::192.0.2.33]:5000/debian', err: 'ReferenceInvalidFormat' },
  { input: '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', err: 'IdentifierNotAllowed' },
];

const validRepositoryNames: readonly string[] = [
  // Sanity check.
  'docker/docker',
  // Allow 64-character non-hexadecimal names (hexadecimal names are forbidden).
  'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
  // Allow embedded hyphens.
  'docker-rules/docker',
  // Allow multiple hyphens as well.
  'docker---rules/docker',
  // Username doc and image name docker being tested.
  'doc/docker',
  // single character names are now allowed.
  'd/docker',
  'jess/t',
  // Consecutive underscores.
  'dock__er/docker',
];

/** TestValidateRemoteName, invalid list (kind from v0.6.0). */
const invalidRepositoryNames: readonly ValidityCase[] = [
  // Disallow capital letters.
  { input: 'docker/Docker', err: 'NameContainsUppercase' },
  // Only allow one slash.
  { input: 'docker///docker', err: 'ReferenceInvalidFormat' },
  // Disallow 64-character hexadecimal.
  { input: '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', err: 'IdentifierNotAllowed' },
  // Disallow leading and trailing hyphens in namespace.
  { input: '-docker/docker', err: 'ReferenceInvalidFormat' },
  { input: 'docker-/docker', err: 'ReferenceInvalidFormat' },
  { input: '-docker-/docker', err: 'ReferenceInvalidFormat' },
  // Don't allow underscores everywhere (as opposed to hyphens).
  { input: '____/____', err: 'ReferenceInvalidFormat' },
  { input: '_docker/_docker', err: 'ReferenceInvalidFormat' },
  // Disallow consecutive periods.
  { input: 'dock..er/docker', err: 'ReferenceInvalidFormat' },
  { input: 'dock_.er/docker', err: 'ReferenceInvalidFormat' },
  { input: 'dock-.er/docker', err: 'ReferenceInvalidFormat' },
  // No repository.
  { input: 'docker/', err: 'ReferenceInvalidFormat' },
  // namespace too long
  {
    input:
      'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker',
    err: 'NameTooLong',
  },
];

interface RepositoryInfo {
  readonly RemoteName: string;
  readonly FamiliarName: string;
  readonly FullName: string;
  readonly AmbiguousName: string;
  readonly Domain: string;
}

/** TestParseRepositoryInfo: each of FamiliarName, FullName and AmbiguousName (when set) is parsed. */
const repositoryInfo: readonly RepositoryInfo[] = [
  { RemoteName: 'fooo', FamiliarName: 'localhost/fooo', FullName: 'localhost/fooo', AmbiguousName: 'localhost/fooo', Domain: 'localhost' },
  {
    RemoteName: 'fooo/bar',
    FamiliarName: 'localhost/fooo/bar',
    FullName: 'localhost/fooo/bar',
    AmbiguousName: 'localhost/fooo/bar',
    Domain: 'localhost',
  },
  { RemoteName: 'fooo', FamiliarName: 'LOCALDOMAIN/fooo', FullName: 'LOCALDOMAIN/fooo', AmbiguousName: 'LOCALDOMAIN/fooo', Domain: 'LOCALDOMAIN' },
  {
    RemoteName: 'fooo/bar',
    FamiliarName: 'LOCALDOMAIN/fooo/bar',
    FullName: 'LOCALDOMAIN/fooo/bar',
    AmbiguousName: 'LOCALDOMAIN/fooo/bar',
    Domain: 'LOCALDOMAIN',
  },
  { RemoteName: 'fooo/bar', FamiliarName: 'fooo/bar', FullName: 'docker.io/fooo/bar', AmbiguousName: 'index.docker.io/fooo/bar', Domain: 'docker.io' },
  { RemoteName: 'library/ubuntu', FamiliarName: 'ubuntu', FullName: 'docker.io/library/ubuntu', AmbiguousName: 'library/ubuntu', Domain: 'docker.io' },
  { RemoteName: 'nonlibrary/ubuntu', FamiliarName: 'nonlibrary/ubuntu', FullName: 'docker.io/nonlibrary/ubuntu', AmbiguousName: '', Domain: 'docker.io' },
  { RemoteName: 'other/library', FamiliarName: 'other/library', FullName: 'docker.io/other/library', AmbiguousName: '', Domain: 'docker.io' },
  {
    RemoteName: 'private/moonbase',
    FamiliarName: '127.0.0.1:8000/private/moonbase',
    FullName: '127.0.0.1:8000/private/moonbase',
    AmbiguousName: '',
    Domain: '127.0.0.1:8000',
  },
  {
    RemoteName: 'privatebase',
    FamiliarName: '127.0.0.1:8000/privatebase',
    FullName: '127.0.0.1:8000/privatebase',
    AmbiguousName: '',
    Domain: '127.0.0.1:8000',
  },
  {
    RemoteName: 'private/moonbase',
    FamiliarName: 'example.com/private/moonbase',
    FullName: 'example.com/private/moonbase',
    AmbiguousName: '',
    Domain: 'example.com',
  },
  { RemoteName: 'privatebase', FamiliarName: 'example.com/privatebase', FullName: 'example.com/privatebase', AmbiguousName: '', Domain: 'example.com' },
  {
    RemoteName: 'private/moonbase',
    FamiliarName: 'example.com:8000/private/moonbase',
    FullName: 'example.com:8000/private/moonbase',
    AmbiguousName: '',
    Domain: 'example.com:8000',
  },
  {
    RemoteName: 'privatebasee',
    FamiliarName: 'example.com:8000/privatebasee',
    FullName: 'example.com:8000/privatebasee',
    AmbiguousName: '',
    Domain: 'example.com:8000',
  },
  {
    RemoteName: 'library/ubuntu-12.04-base',
    FamiliarName: 'ubuntu-12.04-base',
    FullName: 'docker.io/library/ubuntu-12.04-base',
    AmbiguousName: 'index.docker.io/library/ubuntu-12.04-base',
    Domain: 'docker.io',
  },
  { RemoteName: 'library/foo', FamiliarName: 'foo', FullName: 'docker.io/library/foo', AmbiguousName: 'docker.io/foo', Domain: 'docker.io' },
  { RemoteName: 'library/foo/bar', FamiliarName: 'library/foo/bar', FullName: 'docker.io/library/foo/bar', AmbiguousName: '', Domain: 'docker.io' },
  { RemoteName: 'store/foo/bar', FamiliarName: 'store/foo/bar', FullName: 'docker.io/store/foo/bar', AmbiguousName: '', Domain: 'docker.io' },
  { RemoteName: 'bar', FamiliarName: 'Foo/bar', FullName: 'Foo/bar', AmbiguousName: '', Domain: 'Foo' },
  { RemoteName: 'bar', FamiliarName: 'FOO/bar', FullName: 'FOO/bar', AmbiguousName: '', Domain: 'FOO' },
];

/** The Go loop: refStrings := {FamiliarName, FullName[, AmbiguousName]}, named "<i>/<ref>". */
const repositoryInfoCases = repositoryInfo.flatMap((tc, i) =>
  [tc.FamiliarName, tc.FullName, ...(tc.AmbiguousName === '' ? [] : [tc.AmbiguousName])].map((input) => ({
    title: `${i}/${input}`,
    input,
    tc,
  })),
);

/** TestParseAnyReference: String() == Equivalent; the reference equals Expected, or Parse(Equivalent). */
const parseAnyReferenceCases: readonly { Reference: string; Equivalent: string; ExpectedDigest?: string }[] = [
  { Reference: 'redis', Equivalent: 'docker.io/library/redis' },
  { Reference: 'redis:latest', Equivalent: 'docker.io/library/redis:latest' },
  { Reference: 'docker.io/library/redis:latest', Equivalent: 'docker.io/library/redis:latest' },
  {
    Reference: 'redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    Equivalent: 'docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
  },
  {
    Reference: 'docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    Equivalent: 'docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
  },
  { Reference: 'dmcgowan/myapp', Equivalent: 'docker.io/dmcgowan/myapp' },
  { Reference: 'dmcgowan/myapp:latest', Equivalent: 'docker.io/dmcgowan/myapp:latest' },
  { Reference: 'docker.io/mcgowan/myapp:latest', Equivalent: 'docker.io/mcgowan/myapp:latest' },
  {
    Reference: 'dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    Equivalent: 'docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
  },
  {
    Reference: 'docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    Equivalent: 'docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
  },
  {
    Reference: 'dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    ExpectedDigest: 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    Equivalent: 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
  },
  {
    Reference: 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    ExpectedDigest: 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    Equivalent: 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
  },
  {
    Reference: 'dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9',
    Equivalent: 'docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9',
  },
  { Reference: 'dbcc1', Equivalent: 'docker.io/library/dbcc1' },
];

/** TestNormalizedSplitHostname. */
const normalizedSplitHostnameCases: readonly { input: string; domain: string; path: string }[] = [
  { input: 'test.com/foo', domain: 'test.com', path: 'foo' },
  { input: 'test_com/foo', domain: 'docker.io', path: 'test_com/foo' },
  { input: 'docker/migrator', domain: 'docker.io', path: 'docker/migrator' },
  { input: 'test.com:8080/foo', domain: 'test.com:8080', path: 'foo' },
  { input: 'test-com:8080/foo', domain: 'test-com:8080', path: 'foo' },
  { input: 'foo', domain: 'docker.io', path: 'library/foo' },
  { input: 'xn--n3h.com/foo', domain: 'xn--n3h.com', path: 'foo' },
  { input: 'xn--n3h.com:18080/foo', domain: 'xn--n3h.com:18080', path: 'foo' },
  { input: 'docker.io/foo', domain: 'docker.io', path: 'library/foo' },
  { input: 'docker.io/library/foo', domain: 'docker.io', path: 'library/foo' },
  { input: 'docker.io/library/foo/bar', domain: 'docker.io', path: 'library/foo/bar' },
];

/** TestParseDockerRef: String() == expected, and Parse(expected) succeeds. */
const parseDockerRefCases: readonly { name: string; input: string; expected: string }[] = [
  { name: 'nothing', input: 'busybox', expected: 'docker.io/library/busybox:latest' },
  { name: 'tag only', input: 'busybox:latest', expected: 'docker.io/library/busybox:latest' },
  {
    name: 'digest only',
    input: 'busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582',
    expected: 'docker.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582',
  },
  { name: 'path only', input: 'library/busybox', expected: 'docker.io/library/busybox:latest' },
  { name: 'hostname only', input: 'docker.io/busybox', expected: 'docker.io/library/busybox:latest' },
  { name: 'no tag', input: 'docker.io/library/busybox', expected: 'docker.io/library/busybox:latest' },
  { name: 'no path', input: 'docker.io/busybox:latest', expected: 'docker.io/library/busybox:latest' },
  { name: 'no hostname', input: 'library/busybox:latest', expected: 'docker.io/library/busybox:latest' },
  { name: 'full reference with tag', input: 'docker.io/library/busybox:latest', expected: 'docker.io/library/busybox:latest' },
  { name: 'gcr reference without tag', input: 'gcr.io/library/busybox', expected: 'gcr.io/library/busybox:latest' },
  {
    name: 'both tag and digest',
    input: 'gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582',
    expected: 'gcr.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582',
  },
];

describe('distribution/reference v0.6.0 normalize_test.go', () => {
  describe('TestValidateReferenceName: parseNormalizedNamed', () => {
    it.each(validRepoNames.map((input) => ({ input })))('valid $input', ({ input }) => {
      expect(parseNormalizedNamed(input).ok).toBe(true);
    });
    it.each(invalidRepoNames)('invalid $input', ({ input, err }) => {
      expect(outcome(parseNormalizedNamed(input))).toEqual({ error: err });
    });
  });

  describe('TestValidateRemoteName: parseNormalizedNamed', () => {
    it.each(validRepositoryNames.map((input) => ({ input })))('valid $input', ({ input }) => {
      expect(parseNormalizedNamed(input).ok).toBe(true);
    });
    it.each(invalidRepositoryNames)('invalid $input', ({ input, err }) => {
      expect(outcome(parseNormalizedNamed(input))).toEqual({ error: err });
    });
  });

  describe('TestParseRepositoryInfo: parseNormalizedNamed + familiarName', () => {
    it.each(repositoryInfoCases)('$title', ({ input, tc }) => {
      expect(outcome(parseNormalizedNamed(input))).toMatchObject({
        familiarName: tc.FamiliarName,
        string: tc.FullName,
        domain: tc.Domain,
        path: tc.RemoteName,
      });
    });
  });

  describe('TestParseReferenceWithTagAndDigest', () => {
    const shortRef = 'busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa';
    it(shortRef, () => {
      const ref = unwrap(parseNormalizedNamed(shortRef));
      expect(referenceString(ref)).toBe('docker.io/library/' + shortRef);
      expect(ref.tag).toBe('latest'); // NamedTagged
      expect(ref.digest).toBe('sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa'); // Canonical
      expect(familiarString(ref)).toBe(shortRef);
    });
  });

  describe('TestInvalidReferenceComponents', () => {
    it('parseNormalizedNamed("-foo") fails', () => {
      expect(outcome(parseNormalizedNamed('-foo'))).toEqual({ error: 'ReferenceInvalidFormat' }); // kind from v0.6.0
    });
    it('parseNormalizedNamed("busybox") succeeds', () => {
      expect(parseNormalizedNamed('busybox').ok).toBe(true);
    });
    // WithTag(ref, "-foo") fails on anchoredTagRegexp (reference.go:269).
    it('tag "-foo" is not a tag', () => {
      expect(grammar.anchoredTag.test('-foo')).toBe(false);
    });
    // WithDigest(ref, "foo") fails on anchoredDigestRegexp (reference.go:295).
    it('digest "foo" is not a digest', () => {
      expect(grammar.anchoredDigest.test('foo')).toBe(false);
    });
  });

  describe('TestParseAnyReference: parseAnyReference', () => {
    it.each(parseAnyReferenceCases)('$Reference', ({ Reference, Equivalent, ExpectedDigest }) => {
      const ref = unwrap(parseAnyReference(Reference));
      expect(isDigestOnly(ref) ? ref.digest : referenceString(ref)).toBe(Equivalent);
      const expected = ExpectedDigest === undefined ? anyFields(unwrap(parse(Equivalent))) : { digestOnly: ExpectedDigest };
      expect(anyFields(ref)).toEqual(expected);
    });
  });

  describe('TestNormalizedSplitHostname: parseNormalizedNamed', () => {
    it.each(normalizedSplitHostnameCases)('$input', ({ input, domain, path }) => {
      expect(outcome(parseNormalizedNamed(input))).toMatchObject({ domain, path });
    });
  });

  describe('TestParseDockerRef: parseDockerRef', () => {
    it.each(parseDockerRefCases)('$name: $input', ({ input, expected }) => {
      const output = referenceString(unwrap(parseDockerRef(input)));
      expect(output).toBe(expected);
      expect(parse(output).ok).toBe(true);
    });
  });
});

// --- distribution/reference v0.6.0: regexp_test.go -------------------------------------------

/** TestDomainRegexp: ^DomainRegexp$. */
const domainRegexpCases: readonly { input: string; match: boolean }[] = [
  { input: 'test.com', match: true },
  { input: 'test.com:10304', match: true },
  { input: 'test.com:http', match: false },
  { input: 'localhost', match: true },
  { input: 'localhost:8080', match: true },
  { input: 'a', match: true },
  { input: 'a.b', match: true },
  { input: 'ab.cd.com', match: true },
  { input: 'a-b.com', match: true },
  { input: '-ab.com', match: false },
  { input: 'ab-.com', match: false },
  { input: 'ab.c-om', match: true },
  { input: 'ab.-com', match: false },
  { input: 'ab.com-', match: false },
  { input: '0101.com', match: true }, // TODO(dmcgowan): valid if this should be allowed
  { input: '001a.com', match: true },
  { input: 'b.gbc.io:443', match: true },
  { input: 'b.gbc.io', match: true },
  { input: 'xn--n3h.com', match: true }, // ☃.com in punycode
  { input: 'Asdf.com', match: true }, // uppercase character
  { input: '192.168.1.1:75050', match: true }, // ipv4
  { input: '192.168.1.1:750050', match: true }, // port with more than 5 digits, it will fail on validation
  { input: '[fd00:1:2::3]:75050', match: true }, // ipv6 compressed
  { input: '[fd00:1:2::3]75050', match: false }, // ipv6 wrong port separator
  { input: '[fd00:1:2::3]::75050', match: false }, // ipv6 wrong port separator
  { input: '[fd00:1:2::3%eth0]:75050', match: false }, // ipv6 with zone
  { input: '[fd00123123123]:75050', match: true }, // ipv6 wrong format, will fail in validation
  { input: '[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050', match: true }, // ipv6 long format
  { input: '[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505', match: true }, // ipv6 long format and invalid port, it will fail in validation
  { input: 'fd00:1:2::3:75050', match: false }, // bad ipv6 without square brackets
];

interface RegexpMatch {
  readonly input: string;
  readonly match: boolean;
  readonly subs?: readonly string[];
}

/** TestFullNameRegexp: anchoredNameRegexp; subs are the (domain, remote-name) captures. */
const fullNameRegexpCases: readonly RegexpMatch[] = [
  { input: '', match: false },
  { input: 'short', match: true, subs: ['', 'short'] },
  { input: 'simple/name', match: true, subs: ['simple', 'name'] },
  { input: 'library/ubuntu', match: true, subs: ['library', 'ubuntu'] },
  { input: 'docker/stevvooe/app', match: true, subs: ['docker', 'stevvooe/app'] },
  { input: 'aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb', match: true, subs: ['aa', 'aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb'] },
  { input: 'aa/aa/bb/bb/bb', match: true, subs: ['aa', 'aa/bb/bb/bb'] },
  { input: 'a/a/a/a', match: true, subs: ['a', 'a/a/a'] },
  { input: 'a/a/a/a/', match: false },
  { input: 'a//a/a', match: false },
  { input: 'a', match: true, subs: ['', 'a'] },
  { input: 'a/aa', match: true, subs: ['a', 'aa'] },
  { input: 'a/aa/a', match: true, subs: ['a', 'aa/a'] },
  { input: 'foo.com', match: true, subs: ['', 'foo.com'] },
  { input: 'foo.com/', match: false },
  { input: 'foo.com:8080/bar', match: true, subs: ['foo.com:8080', 'bar'] },
  { input: 'foo.com:http/bar', match: false },
  { input: 'foo.com/bar', match: true, subs: ['foo.com', 'bar'] },
  { input: 'foo.com/bar/baz', match: true, subs: ['foo.com', 'bar/baz'] },
  { input: 'localhost:8080/bar', match: true, subs: ['localhost:8080', 'bar'] },
  { input: 'sub-dom1.foo.com/bar/baz/quux', match: true, subs: ['sub-dom1.foo.com', 'bar/baz/quux'] },
  { input: 'blog.foo.com/bar/baz', match: true, subs: ['blog.foo.com', 'bar/baz'] },
  { input: 'a^a', match: false },
  { input: 'aa/asdf$$^/aa', match: false },
  { input: 'asdf$$^/aa', match: false },
  { input: 'aa-a/a', match: true, subs: ['aa-a', 'a'] },
  { input: 'a/'.repeat(128) + 'a', match: true, subs: ['a', 'a/'.repeat(127) + 'a'] },
  { input: 'a-/a/a/a', match: false },
  { input: 'foo.com/a-/a/a', match: false },
  { input: '-foo/bar', match: false },
  { input: 'foo/bar-', match: false },
  { input: 'foo-/bar', match: false },
  { input: 'foo/-bar', match: false },
  { input: '_foo/bar', match: false },
  { input: 'foo_bar', match: true, subs: ['', 'foo_bar'] },
  { input: 'foo_bar.com', match: true, subs: ['', 'foo_bar.com'] },
  { input: 'foo_bar.com:8080', match: false },
  { input: 'foo_bar.com:8080/app', match: false },
  { input: 'foo.com/foo_bar', match: true, subs: ['foo.com', 'foo_bar'] },
  { input: '____/____', match: false },
  { input: '_docker/_docker', match: false },
  { input: 'docker_/docker_', match: false },
  { input: 'b.gcr.io/test.example.com/my-app', match: true, subs: ['b.gcr.io', 'test.example.com/my-app'] },
  { input: 'xn--n3h.com/myimage', match: true, subs: ['xn--n3h.com', 'myimage'] }, // ☃.com in punycode
  { input: 'xn--7o8h.com/myimage', match: true, subs: ['xn--7o8h.com', 'myimage'] }, // 🐳.com in punycode
  { input: 'example.com/xn--7o8h.com/myimage', match: true, subs: ['example.com', 'xn--7o8h.com/myimage'] }, // 🐳.com in punycode
  { input: 'example.com/some_separator__underscore/myimage', match: true, subs: ['example.com', 'some_separator__underscore/myimage'] },
  { input: 'example.com/__underscore/myimage', match: false },
  { input: 'example.com/..dots/myimage', match: false },
  { input: 'example.com/.dots/myimage', match: false },
  { input: 'example.com/nodouble..dots/myimage', match: false },
  { input: 'example.com/nodouble..dots/myimage', match: false },
  { input: 'docker./docker', match: false },
  { input: '.docker/docker', match: false },
  { input: 'docker-/docker', match: false },
  { input: '-docker/docker', match: false },
  { input: 'do..cker/docker', match: false },
  { input: 'do__cker:8080/docker', match: false },
  { input: 'do__cker/docker', match: true, subs: ['', 'do__cker/docker'] },
  { input: 'b.gcr.io/test.example.com/my-app', match: true, subs: ['b.gcr.io', 'test.example.com/my-app'] },
  {
    input: 'registry.io/foo/project--id.module--name.ver---sion--name',
    match: true,
    subs: ['registry.io', 'foo/project--id.module--name.ver---sion--name'],
  },
  { input: 'Asdf.com/foo/bar', match: true }, // uppercase character in hostname
  { input: 'Foo/FarB', match: false }, // uppercase characters in remote name
];

/** TestReferenceRegexp: ReferenceRegexp; subs are the (name, tag, digest) captures. */
const referenceRegexpCases: readonly RegexpMatch[] = [
  { input: 'registry.com:8080/myapp:tag', match: true, subs: ['registry.com:8080/myapp', 'tag', ''] },
  {
    input: 'registry.com:8080/myapp@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912',
    match: true,
    subs: ['registry.com:8080/myapp', '', 'sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912'],
  },
  {
    input: 'registry.com:8080/myapp:tag2@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912',
    match: true,
    subs: ['registry.com:8080/myapp', 'tag2', 'sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912'],
  },
  { input: 'registry.com:8080/myapp@sha256:badbadbadbad', match: false },
  { input: 'registry.com:8080/myapp:invalid~tag', match: false },
  { input: 'bad_hostname.com:8080/myapp:tag', match: false },
  // localhost treated as name, missing tag with 8080 as tag
  {
    input: 'localhost:8080@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912',
    match: true,
    subs: ['localhost', '8080', 'sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912'],
  },
  {
    input: 'localhost:8080/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912',
    match: true,
    subs: ['localhost:8080/name', '', 'sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912'],
  },
  { input: 'localhost:http/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912', match: false },
  // localhost will be treated as an image name without a host
  {
    input: 'localhost@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912',
    match: true,
    subs: ['localhost', '', 'sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912'],
  },
  { input: 'registry.com:8080/myapp@bad', match: false },
  { input: 'registry.com:8080/myapp@2bad', match: false }, // TODO(dmcgowan): Support this as valid
];

/** TestIdentifierRegexp: anchoredIdentifierRegexp. */
const identifierRegexpCases: readonly { input: string; match: boolean }[] = [
  { input: 'da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821', match: true },
  { input: '7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C', match: false },
  { input: 'da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf', match: false },
  { input: 'sha256:da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821', match: false },
  { input: 'da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482', match: false },
];

describe('distribution/reference v0.6.0 regexp_test.go', () => {
  describe('TestDomainRegexp: grammar.anchoredDomain', () => {
    it.each(domainRegexpCases)('$input -> $match', ({ input, match }) => {
      expect(grammar.anchoredDomain.test(input)).toBe(match);
    });
  });

  describe('TestFullNameRegexp: grammar.anchoredName', () => {
    it.each(fullNameRegexpCases)('$input -> $match', ({ input, match }) => {
      expect(grammar.anchoredName.test(input)).toBe(match);
    });
    // The captures are what Parse stores as domain and path (reference.go:200-207).
    it.each(fullNameRegexpCases.filter((tc) => tc.subs !== undefined))('submatches of $input via parse', ({ input, subs }) => {
      expect(outcome(parse(input))).toMatchObject({ domain: subs?.[0], path: subs?.[1] });
    });
  });

  describe('TestReferenceRegexp: grammar.anchoredReference', () => {
    it.each(referenceRegexpCases)('$input -> $match', ({ input, match }) => {
      expect(grammar.anchoredReference.test(input)).toBe(match);
    });
    // The captures are what Parse stores as name, tag and digest (reference.go:186-231).
    it.each(referenceRegexpCases.filter((tc) => tc.subs !== undefined))('submatches of $input via parse', ({ input, subs }) => {
      const ref = unwrap(parse(input));
      expect([nameOf(ref), ref.tag ?? '', ref.digest ?? '']).toEqual(subs);
    });
  });

  describe('TestIdentifierRegexp: grammar.anchoredIdentifier', () => {
    it.each(identifierRegexpCases)('$input -> $match', ({ input, match }) => {
      expect(grammar.anchoredIdentifier.test(input)).toBe(match);
    });
  });
});

// --- opencontainers/go-digest v1.0.0: digest_test.go -----------------------------------------

/** TestParseDigest: digest.Parse(input) error (nil for the valid rows). */
const parseDigestCases: readonly { input: string; err?: ReferenceErrorKind }[] = [
  { input: 'sha256:e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b' },
  { input: 'sha384:d3fc7881460b7e22e3d172954463dddd7866d17597e7248453c48b3e9d26d9596bf9c4a9cf8072c9d5bad76e19af801d' },
  // empty hex
  { input: 'sha256:', err: 'DigestInvalidFormat' },
  // empty hex
  { input: ':', err: 'DigestInvalidFormat' },
  // just hex
  { input: 'd41d8cd98f00b204e9800998ecf8427e', err: 'DigestInvalidFormat' },
  // not hex
  { input: 'sha256:d41d8cd98f00b204e9800m98ecf8427e', err: 'DigestInvalidLength' },
  // too short
  { input: 'sha256:abcdef0123456789', err: 'DigestInvalidLength' },
  // too short (from different algorithm)
  { input: 'sha512:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789', err: 'DigestInvalidLength' },
  { input: 'foo:d41d8cd98f00b204e9800998ecf8427e', err: 'DigestUnsupported' },
  // repeated separators
  {
    input: 'sha384__foo+bar:d3fc7881460b7e22e3d172954463dddd7866d17597e7248453c48b3e9d26d9596bf9c4a9cf8072c9d5bad76e19af801d',
    err: 'DigestInvalidFormat',
  },
  // ensure that we parse, but we don't have support for the algorithm
  {
    input: 'sha384.foo+bar:d3fc7881460b7e22e3d172954463dddd7866d17597e7248453c48b3e9d26d9596bf9c4a9cf8072c9d5bad76e19af801d',
    err: 'DigestUnsupported',
  },
  {
    input: 'sha384_foo+bar:d3fc7881460b7e22e3d172954463dddd7866d17597e7248453c48b3e9d26d9596bf9c4a9cf8072c9d5bad76e19af801d',
    err: 'DigestUnsupported',
  },
  { input: 'sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564', err: 'DigestUnsupported' },
  { input: 'sha256:E58FCF7418D4390DEC8E8FB69D88C06EC07039D651FEDD3AA72AF9972E7D046B', err: 'DigestInvalidFormat' },
];

describe('opencontainers/go-digest v1.0.0 digest_test.go', () => {
  describe('TestParseDigest: validateDigest', () => {
    it.each(parseDigestCases)('$input', ({ input, err }) => {
      expect(validateDigest(input)?.kind).toBe(err);
    });
  });
});

// --- derived vectors (not Go test cases; each follows from the cited v0.6.0 source) ------------

/** parse: tag grammar, path-length rule, go-digest rules and anchoring, through Parse. */
const derivedParseCases: readonly ParseCase[] = [
  // tag := [\w][\w.-]{0,127} (regexp.go:68): 128 characters at most, first one a word character.
  { input: 'foo:' + 'a'.repeat(128), repository: 'foo', tag: 'a'.repeat(128) },
  { input: 'foo:' + 'a'.repeat(129), err: 'ReferenceInvalidFormat' },
  { input: 'foo:-tag', err: 'ReferenceInvalidFormat' },
  { input: 'foo:.tag', err: 'ReferenceInvalidFormat' },
  { input: 'foo:_tag', repository: 'foo', tag: '_tag' },
  { input: 'foo:1.0-rc.1_b', repository: 'foo', tag: '1.0-rc.1_b' },
  { input: 'foo:invalid~tag', err: 'ReferenceInvalidFormat' },
  // len(repo.path) > 255 (reference.go:209) counts the path only, and the tag not at all.
  { input: 'a/'.repeat(128) + 'a:tag', domain: 'a', repository: 'a/'.repeat(128) + 'a', tag: 'tag' },
  { input: 'a'.repeat(255), repository: 'a'.repeat(255) },
  { input: 'a'.repeat(256), err: 'NameTooLong' },
  { input: 'example.com/' + 'a'.repeat(256), err: 'NameTooLong' },
  { input: 'example.com/' + 'a'.repeat(255) + ':' + 'b'.repeat(128), domain: 'example.com', repository: 'example.com/' + 'a'.repeat(255), tag: 'b'.repeat(128) },
  // An uppercase first component matches domainAndPort (the FIXME in TestReferenceParse): it passes.
  { input: 'Uppercase/lowercase:tag', domain: 'Uppercase', repository: 'Uppercase/lowercase', tag: 'tag' },
  { input: 'Foo/bar', domain: 'Foo', repository: 'Foo/bar' },
  // Lower-casing makes it match, so ErrNameContainsUppercase (reference.go:192-193).
  { input: 'docker/Docker', err: 'NameContainsUppercase' },
  // ... with Go's strings.ToLower, a rune at a time (unicode.ToLower): U+0130 is i, not JS's i + U+0307.
  { input: 'docker/\u0130mage', err: 'NameContainsUppercase' },
  { input: 'example.com/app:\u0130', err: 'NameContainsUppercase' },
  { input: 'example.com/\u212Aube', err: 'NameContainsUppercase' }, // Kelvin sign: k in both
  { input: 'example.com/\u0131mage', err: 'ReferenceInvalidFormat' }, // dotless i: its own lower case
  // go-digest Digest.Validate (digest.go:103) and Algorithm.Validate (algorithm.go:179): exact length, lowercase hex.
  { input: 'foo@sha256:' + 'E'.repeat(64), err: 'DigestInvalidFormat' },
  { input: 'foo@sha256:' + 'f'.repeat(63), err: 'DigestInvalidLength' },
  { input: 'foo@sha256:' + 'f'.repeat(65), err: 'DigestInvalidLength' },
  { input: 'foo@sha512:' + 'f'.repeat(64), err: 'DigestInvalidLength' },
  { input: 'foo@sha384:' + 'f'.repeat(96), repository: 'foo', digest: 'sha384:' + 'f'.repeat(96) },
  { input: 'foo@sha512:' + 'f'.repeat(128), repository: 'foo', digest: 'sha512:' + 'f'.repeat(128) },
  { input: 'foo@md5:' + 'f'.repeat(32), err: 'DigestUnsupported' },
  { input: 'foo@blake3:' + 'f'.repeat(64), err: 'DigestUnsupported' }, // not in go-digest v1.0.0
  // Upper-case algorithm: not registered, and DigestRegexpAnchored wants [a-z0-9] -> invalid format.
  { input: 'foo@SHA256:' + 'f'.repeat(64), err: 'DigestInvalidFormat' },
  // digestPat needs 32+ hex digits (regexp.go:81).
  { input: 'foo@sha256:' + 'f'.repeat(31), err: 'ReferenceInvalidFormat' },
  { input: 'foo@sha256:' + 'f'.repeat(63) + 'g', err: 'ReferenceInvalidFormat' },
  // Go's $ without (?m) is end of text only; no trimming.
  { input: 'nginx\n', err: 'ReferenceInvalidFormat' },
  { input: ' nginx', err: 'ReferenceInvalidFormat' },
  { input: 'registry.example.com/team/payments-service:1.0 ', err: 'ReferenceInvalidFormat' },
  // Backtracking probe from the research note (must fail fast, not hang).
  { input: 'aaaaaaaaaaaaaaaa!', err: 'ReferenceInvalidFormat' },
  { input: 'a'.repeat(5000) + '!', err: 'ReferenceInvalidFormat' },
  // https:// is not a reference.
  { input: 'https://github.com/docker/docker', err: 'ReferenceInvalidFormat' },
  // Plain Parse: localhost without a slash is a name, the port becomes the tag.
  { input: `localhost:8080@${SHA256_BE}`, repository: 'localhost', tag: '8080', digest: SHA256_BE },
  { input: 'localhost:5000', repository: 'localhost', tag: '5000' },
  { input: 'localhost/foo', domain: 'localhost', repository: 'localhost/foo' },
  // IPv6 must be bracketed, without a zone, without embedded IPv4, and with a path.
  { input: '[fc00::1]:5000/docker', domain: '[fc00::1]:5000', repository: '[fc00::1]:5000/docker' },
  { input: 'fc00::1:5000/debian', err: 'ReferenceInvalidFormat' },
  { input: '[2001:db8:3:4::192.0.2.33]:5000/debian', err: 'ReferenceInvalidFormat' },
  { input: '[fc00::1]:5000', err: 'ReferenceInvalidFormat' },
];

interface NormalizedCase {
  readonly input: string;
  readonly expected: Expected;
}

/** parseNormalizedNamed: splitDockerDomain (normalize.go:126-174) and the checks around it. */
const derivedNormalizedCases: readonly NormalizedCase[] = [
  { input: 'nginx', expected: { domain: 'docker.io', path: 'library/nginx', string: 'docker.io/library/nginx', familiarName: 'nginx', familiarString: 'nginx' } },
  {
    input: 'nginx:1.27',
    expected: { domain: 'docker.io', path: 'library/nginx', tag: '1.27', string: 'docker.io/library/nginx:1.27', familiarString: 'nginx:1.27' },
  },
  // localhost is always a domain when followed by a slash.
  { input: 'localhost/foo', expected: { domain: 'localhost', path: 'foo', string: 'localhost/foo', familiarString: 'localhost/foo' } },
  {
    input: 'localhost:5000/foo/bar:1.0',
    expected: { domain: 'localhost:5000', path: 'foo/bar', tag: '1.0', string: 'localhost:5000/foo/bar:1.0', familiarString: 'localhost:5000/foo/bar:1.0' },
  },
  // ... but a bare localhost[:port] is a Docker Hub name (the FIXME in splitDockerDomain).
  { input: 'localhost', expected: { domain: 'docker.io', path: 'library/localhost', string: 'docker.io/library/localhost', familiarString: 'localhost' } },
  {
    input: 'localhost:5000',
    expected: { domain: 'docker.io', path: 'library/localhost', tag: '5000', string: 'docker.io/library/localhost:5000', familiarString: 'localhost:5000' },
  },
  {
    input: `localhost@${SHA256_BE}`,
    expected: { domain: 'docker.io', path: 'library/localhost', tag: undefined, digest: SHA256_BE, string: `docker.io/library/localhost@${SHA256_BE}` },
  },
  {
    input: '192.168.0.1:80',
    expected: { domain: 'docker.io', path: 'library/192.168.0.1', tag: '80', string: 'docker.io/library/192.168.0.1:80', familiarString: '192.168.0.1:80' },
  },
  // index.docker.io is folded into docker.io, with library/ for a single component.
  { input: 'index.docker.io/nginx', expected: { domain: 'docker.io', path: 'library/nginx', string: 'docker.io/library/nginx', familiarName: 'nginx' } },
  { input: 'index.docker.io/fooo/bar:1', expected: { domain: 'docker.io', path: 'fooo/bar', string: 'docker.io/fooo/bar:1', familiarString: 'fooo/bar:1' } },
  // ... but only the exact host: a port or another subdomain is an ordinary registry.
  { input: 'index.docker.io:443/nginx', expected: { domain: 'index.docker.io:443', path: 'nginx', string: 'index.docker.io:443/nginx' } },
  { input: 'registry-1.docker.io/nginx', expected: { domain: 'registry-1.docker.io', path: 'nginx', familiarName: 'registry-1.docker.io/nginx' } },
  // library/ is stripped from the familiar name only when one component follows it.
  { input: 'library/foo/bar', expected: { domain: 'docker.io', path: 'library/foo/bar', familiarName: 'library/foo/bar' } },
  { input: 'docker.io/library/foo', expected: { domain: 'docker.io', path: 'library/foo', familiarName: 'foo' } },
  { input: 'example.com/library/foo', expected: { domain: 'example.com', path: 'library/foo', familiarName: 'example.com/library/foo' } },
  // IPv6
  { input: '[::1]:5000/repo', expected: { domain: '[::1]:5000', path: 'repo', string: '[::1]:5000/repo', familiarString: '[::1]:5000/repo' } },
  { input: '[2001:db8::1]/repo:tag', expected: { domain: '[2001:db8::1]', path: 'repo', tag: 'tag', string: '[2001:db8::1]/repo:tag' } },
  { input: '[2001:db8::1]', expected: { error: 'ReferenceInvalidFormat' } },
  { input: '[2001:db8::1]:5000', expected: { error: 'ReferenceInvalidFormat' } },
  { input: '[fe80::1%eth0]:5000/repo', expected: { error: 'ReferenceInvalidFormat' } },
  // Path length after normalization: library/ counts (reference.go:209 on "docker.io/library/…").
  { input: 'a'.repeat(247), expected: { domain: 'docker.io', path: 'library/' + 'a'.repeat(247) } },
  { input: 'a'.repeat(248), expected: { error: 'NameTooLong' } },
  { input: 'example.com/' + 'a'.repeat(255), expected: { domain: 'example.com', path: 'a'.repeat(255) } },
  { input: 'example.com/' + 'a'.repeat(256), expected: { error: 'NameTooLong' } },
  // The 64-hex check is on the whole input (normalize.go:57), so only a bare identifier is refused.
  { input: 'f'.repeat(64), expected: { error: 'IdentifierNotAllowed' } },
  { input: 'f'.repeat(64) + ':tag', expected: { domain: 'docker.io', path: 'library/' + 'f'.repeat(64), tag: 'tag' } },
  { input: 'f'.repeat(63), expected: { domain: 'docker.io', path: 'library/' + 'f'.repeat(63) } },
  // Remote-name lowercase check (normalize.go:62-71) vs. Parse's own (reference.go:192-193).
  { input: 'docker.io/Foo', expected: { error: 'NameContainsUppercase' } },
  { input: 'FOO', expected: { error: 'NameContainsUppercase' } },
  { input: 'foo:UPPER', expected: { domain: 'docker.io', path: 'library/foo', tag: 'UPPER' } },
  { input: 'Foo/Bar', expected: { error: 'NameContainsUppercase' } },
  // Digest rules through normalization.
  { input: 'foo@sha256:' + 'E'.repeat(64), expected: { error: 'DigestInvalidFormat' } },
  { input: 'foo@sha512:' + 'f'.repeat(64), expected: { error: 'DigestInvalidLength' } },
  { input: 'foo@md5:' + 'f'.repeat(32), expected: { error: 'DigestUnsupported' } },
  {
    input: `busybox:latest@${SHA256_E669}`,
    expected: { domain: 'docker.io', path: 'library/busybox', tag: 'latest', digest: SHA256_E669, familiarString: `busybox:latest@${SHA256_E669}` },
  },
  // Tags
  { input: 'foo:-tag', expected: { error: 'ReferenceInvalidFormat' } },
  { input: 'foo:' + 'a'.repeat(129), expected: { error: 'ReferenceInvalidFormat' } },
  { input: '', expected: { error: 'ReferenceInvalidFormat' } }, // "" becomes "docker.io/library/", which does not match
];

/** parseAnyReference: identifier, then go-digest Parse, then ParseNormalizedNamed (normalize.go:246-255). */
const derivedAnyReferenceCases: readonly { input: string; expected: Expected | { digestOnly: string } }[] = [
  { input: 'sha512:' + 'f'.repeat(128), expected: { digestOnly: 'sha512:' + 'f'.repeat(128) } },
  { input: 'sha384:' + 'f'.repeat(96), expected: { digestOnly: 'sha384:' + 'f'.repeat(96) } },
  { input: SHA256_DBCC, expected: { digestOnly: SHA256_DBCC } },
  // Not a valid digest, so it is read as a familiar name with a tag.
  { input: 'sha256:' + 'f'.repeat(63), expected: { domain: 'docker.io', path: 'library/sha256', tag: 'f'.repeat(63) } },
  { input: 'sha256:' + 'F'.repeat(64), expected: { domain: 'docker.io', path: 'library/sha256', tag: 'F'.repeat(64) } },
  { input: 'md5:' + 'f'.repeat(32), expected: { domain: 'docker.io', path: 'library/md5', tag: 'f'.repeat(32) } },
  // An upper-case 64-hex string is no identifier; as a name it is upper-case.
  { input: 'F'.repeat(64), expected: { error: 'NameContainsUppercase' } },
  { input: '', expected: { error: 'ReferenceInvalidFormat' } },
];

/** parseNamed / parseDockerRef on inputs the Go tests do not cover. */
const derivedParseNamedCases: readonly { input: string; expected: Expected }[] = [
  { input: 'localhost/foo', expected: { domain: 'localhost', path: 'foo' } },
  { input: 'localhost:5000/foo:1.0', expected: { domain: 'localhost:5000', path: 'foo', tag: '1.0' } },
  { input: 'index.docker.io/library/foo', expected: { error: 'NameNotCanonical' } },
  { input: `docker.io/library/foo:tag@${SHA256_F}`, expected: { domain: 'docker.io', path: 'library/foo', tag: 'tag', digest: SHA256_F } },
  { input: 'Foo/bar', expected: { domain: 'Foo', path: 'bar' } },
  { input: 'docker.io/library/Foo', expected: { error: 'NameContainsUppercase' } },
  { input: 'f'.repeat(64), expected: { error: 'IdentifierNotAllowed' } },
];

const derivedDockerRefCases: readonly { input: string; expected: string }[] = [
  { input: 'localhost:5000/foo', expected: 'localhost:5000/foo:latest' },
  { input: 'localhost', expected: 'docker.io/library/localhost:latest' },
  { input: `nginx:1.27@${SHA256_E669}`, expected: `docker.io/library/nginx@${SHA256_E669}` },
  { input: 'index.docker.io/nginx:1.27', expected: 'docker.io/library/nginx:1.27' },
  { input: '[::1]:5000/repo', expected: '[::1]:5000/repo:latest' },
];

/** go-digest v1.0.0 Digest.Validate. */
const derivedDigestCases: readonly { input: string; err?: ReferenceErrorKind }[] = [
  { input: 'sha512:' + 'f'.repeat(128) },
  { input: 'sha384:' + 'f'.repeat(96) },
  { input: 'sha256:' + 'f'.repeat(65), err: 'DigestInvalidLength' },
  { input: 'sha384:' + 'f'.repeat(64), err: 'DigestInvalidLength' },
  { input: 'sha256:' + 'f'.repeat(63) + 'g', err: 'DigestInvalidFormat' }, // right length, not hex
  { input: 'sha256:' + 'F'.repeat(64), err: 'DigestInvalidFormat' },
  { input: 'SHA256:' + 'f'.repeat(64), err: 'DigestInvalidFormat' }, // not registered, fails DigestRegexpAnchored
  { input: 'md5:' + 'f'.repeat(32), err: 'DigestUnsupported' },
  { input: 'blake3:' + 'f'.repeat(64), err: 'DigestUnsupported' }, // registered only in later go-digest
  { input: 'foo:x', err: 'DigestUnsupported' }, // any well-formed unknown algorithm, whatever the length
  { input: 'foo:', err: 'DigestInvalidFormat' },
  { input: ':' + 'f'.repeat(64), err: 'DigestInvalidFormat' },
  { input: 'f'.repeat(64), err: 'DigestInvalidFormat' },
  { input: '', err: 'DigestInvalidFormat' },
  { input: 'sha256:' + 'f'.repeat(64) + '\n', err: 'DigestInvalidLength' },
  { input: 'hasOwnProperty:' + 'f'.repeat(64), err: 'DigestInvalidFormat' }, // upper-case, not registered
  { input: 'constructor:' + 'f'.repeat(64), err: 'DigestUnsupported' }, // not registered
];

/**
 * Error messages, as Go words them (users read them in the review's warnings). Found by the
 * differential test against Go (tests/integration/reference-oracle.integration.ts).
 */
const derivedMessageCases: readonly { parser: 'parseNormalizedNamed' | 'parseNamed' | 'parseDockerRef' | 'parse'; input: string; message: string }[] = [
  // normalize.go:57: fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
  { parser: 'parseNormalizedNamed', input: 'f'.repeat(64), message: `invalid repository name (${'f'.repeat(64)}), cannot specify 64-byte hexadecimal strings` },
  { parser: 'parseDockerRef', input: 'f'.repeat(64), message: `invalid repository name (${'f'.repeat(64)}), cannot specify 64-byte hexadecimal strings` },
  // normalize.go:70: fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", remote)
  { parser: 'parseNormalizedNamed', input: 'Foo:Tag', message: 'invalid reference format: repository name (library/Foo) must be lowercase' },
  { parser: 'parseNormalizedNamed', input: 'Foo/Bar:Tag', message: 'invalid reference format: repository name (Bar) must be lowercase' },
  // reference.go:190-195: the Err* sentinels' own text
  { parser: 'parse', input: '', message: 'repository name must have at least one component' },
  { parser: 'parse', input: 'docker/Docker', message: 'repository name must be lowercase' },
  { parser: 'parse', input: 'a:-', message: 'invalid reference format' },
  { parser: 'parse', input: 'a'.repeat(256), message: 'repository name must not be more than 255 characters' },
  { parser: 'parseNamed', input: 'nginx', message: 'repository name must be canonical' },
  // go-digest digest.go:70-76
  { parser: 'parse', input: 'foo@sha256:' + 'f'.repeat(63), message: 'invalid checksum digest length' },
  { parser: 'parse', input: 'foo@md5:' + 'f'.repeat(32), message: 'unsupported digest algorithm' },
];

/** Grammar edges. */
const derivedGrammarCases: readonly { regexp: keyof typeof grammar; input: string; match: boolean }[] = [
  { regexp: 'anchoredTag', input: 'a'.repeat(128), match: true },
  { regexp: 'anchoredTag', input: 'a'.repeat(129), match: false },
  { regexp: 'anchoredTag', input: '-tag', match: false },
  { regexp: 'anchoredTag', input: '.tag', match: false },
  { regexp: 'anchoredTag', input: '_tag', match: true },
  { regexp: 'anchoredTag', input: 'Tag.1-x_y', match: true },
  { regexp: 'anchoredTag', input: '', match: false },
  { regexp: 'anchoredDigest', input: 'sha256:' + 'F'.repeat(64), match: true }, // [[:xdigit:]]: go-digest rejects it later
  { regexp: 'anchoredDigest', input: 'sha256:' + 'f'.repeat(31), match: false },
  { regexp: 'anchoredDigest', input: 'sha256+b64:' + 'f'.repeat(32), match: true },
  { regexp: 'anchoredDigest', input: '2bad:' + 'f'.repeat(32), match: false },
  { regexp: 'anchoredIdentifier', input: 'f'.repeat(64) + '\n', match: false },
  { regexp: 'anchoredDomain', input: 'localhost:', match: false },
  { regexp: 'anchoredDomain', input: '[]', match: false },
  { regexp: 'anchoredName', input: 'a/b\n', match: false },
  { regexp: 'anchoredReference', input: 'a:b@' + SHA256_F, match: true },
  { regexp: 'anchoredReference', input: 'a@' + SHA256_F + ':b', match: false },
];

describe('derived vectors (distribution/reference v0.6.0 + go-digest v1.0.0 source)', () => {
  describe('parse', () => {
    it.each(derivedParseCases)('$input', (tc) => {
      expect(outcome(parse(tc.input))).toMatchObject(parseExpectation(tc));
    });
  });

  describe('parseNormalizedNamed', () => {
    it.each(derivedNormalizedCases)('$input', ({ input, expected }) => {
      expect(outcome(parseNormalizedNamed(input))).toMatchObject(expected);
    });
  });

  describe('parseAnyReference', () => {
    it.each(derivedAnyReferenceCases)('$input', ({ input, expected }) => {
      expect(anyOutcome(parseAnyReference(input))).toMatchObject(expected);
    });
  });

  describe('parseNamed', () => {
    it.each(derivedParseNamedCases)('$input', ({ input, expected }) => {
      expect(outcome(parseNamed(input))).toMatchObject(expected);
    });
  });

  describe('parseDockerRef', () => {
    it.each(derivedDockerRefCases)('$input', ({ input, expected }) => {
      expect(referenceString(unwrap(parseDockerRef(input)))).toBe(expected);
    });
  });

  describe('validateDigest', () => {
    it.each(derivedDigestCases)('$input', ({ input, err }) => {
      expect(validateDigest(input)?.kind).toBe(err);
    });
  });

  describe('error messages', () => {
    const parsers = { parse, parseNamed, parseNormalizedNamed, parseDockerRef };
    it.each(derivedMessageCases)('$parser $input', ({ parser, input, message }) => {
      const r = parsers[parser](input);
      expect(r.ok ? 'ok' : r.error.message).toBe(message);
    });
  });

  describe('grammar', () => {
    it.each(derivedGrammarCases)('$regexp $input -> $match', ({ regexp, input, match }) => {
      expect(grammar[regexp].test(input)).toBe(match);
    });
  });
});
