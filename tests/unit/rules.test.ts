/** The rewrite semantics of docs/design.md, one table row per case. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import { parseRules } from '../../src/config/load.js';
import { parseRulesAsync } from '../../src/config/load-async.js';
import { formatIssue } from '../../src/config/schema.js';
import { explainImage } from '../../src/core/explain.js';
import { hasPathPrefix } from '../../src/core/matched-name.js';
import { slashedRegexProblem } from '../../src/core/regex-slash.js';
import { HOST_FROM_GROUP_WARNING, MEMO_MAX_ENTRIES } from '../../src/core/rules.js';
import { rewriterFrom } from '../helpers/rules.js';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

const rules = rewriterFrom(`
rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: bitnami
    match: docker.io/bitnami
    replace: mirror.example.com/bitnami
  - name: hub
    match: docker.io
    replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub
  - name: quay
    regex: 'quay\\.io/(?<org>[^/]+)/(.+)'
    replace: mirror.example.com/quay/$<org>/$2
  - name: port
    match: registry.local:5000
    replace: registry.internal:5000/mirror
  - name: team-only
    match: ghcr.io
    replace: ghcr-mirror.example.com
    namespaces: ["team-*"]
    excludeNamespaces: ["team-secret"]
  - name: not-secret
    match: public.ecr.aws
    replace: ecr-mirror.example.com
    excludeNamespaces: ["team-secret"]
exclude:
  - docker.io/library/busybox
  - gcr.io/distroless
`);

const ECR = '123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub';

describe('rewrite', () => {
  it.each([
    { why: 'the demo', image: 'gcr.io/nginx', want: 'asia.gcr.io/nginx', rule: 'gcr' },
    { why: 'path boundary: a longer host is not matched', image: 'gcr.io.evil.example/x', want: 'gcr.io.evil.example/x', rule: '' },
    { why: 'path boundary: a subdomain is not matched', image: 'eu.gcr.io/x', want: 'eu.gcr.io/x', rule: '' },
    { why: 'a rewritten image is not matched again (idempotent)', image: 'asia.gcr.io/nginx', want: 'asia.gcr.io/nginx', rule: '' },
    { why: 'Docker Hub namespace prefix', image: 'bitnami/redis:7.2', want: 'mirror.example.com/bitnami/redis:7.2', rule: 'bitnami' },
    { why: 'namespace boundary: bitnamilegacy is not bitnami', image: 'bitnamilegacy/redis:7.2', want: `${ECR}/bitnamilegacy/redis:7.2`, rule: 'hub' },
    { why: 'short name gets library/', image: 'nginx', want: `${ECR}/library/nginx`, rule: 'hub' },
    { why: 'never adds :latest', image: 'nginx', want: `${ECR}/library/nginx`, rule: 'hub' },
    { why: 'docker.io spelled out', image: 'docker.io/library/nginx:1.27', want: `${ECR}/library/nginx:1.27`, rule: 'hub' },
    { why: 'legacy index.docker.io', image: 'index.docker.io/library/nginx:1.27', want: `${ECR}/library/nginx:1.27`, rule: 'hub' },
    { why: 'tag kept', image: 'gcr.io/proj/app:v1.2.3', want: 'asia.gcr.io/proj/app:v1.2.3', rule: 'gcr' },
    { why: 'digest kept', image: `gcr.io/proj/app@${DIGEST}`, want: `asia.gcr.io/proj/app@${DIGEST}`, rule: 'gcr' },
    { why: 'tag and digest both kept', image: `gcr.io/proj/app:1.2@${DIGEST}`, want: `asia.gcr.io/proj/app:1.2@${DIGEST}`, rule: 'gcr' },
    { why: 'excluded by exact name', image: 'busybox:1.36', want: 'busybox:1.36', rule: '' },
    { why: 'exclusion is on a path boundary', image: 'busyboxplus:1', want: `${ECR}/library/busyboxplus:1`, rule: 'hub' },
    { why: 'excluded by prefix', image: 'gcr.io/distroless/static:nonroot', want: 'gcr.io/distroless/static:nonroot', rule: '' },
    { why: 'regex groups, named and numbered', image: 'quay.io/coreos/etcd:v3.5', want: 'mirror.example.com/quay/coreos/etcd:v3.5', rule: 'quay' },
    { why: 'regex is anchored to the whole name', image: 'quay.io/single', want: 'quay.io/single', rule: '' },
    { why: 'regex does not match a look-alike host', image: 'notquay.io/a/b', want: `notquay.io/a/b`, rule: '' },
    { why: 'registry with a port', image: 'registry.local:5000/team/app:1', want: 'registry.internal:5000/mirror/team/app:1', rule: 'port' },
    { why: 'same host, other port is not matched', image: 'registry.local:5001/team/app:1', want: 'registry.local:5001/team/app:1', rule: '' },
    { why: 'a port written with leading zeros is that port', image: 'registry.local:05000/team/app:1', want: 'registry.internal:5000/mirror/team/app:1', rule: 'port' },
    { why: 'leading zeros do not make another port match', image: 'registry.local:050001/team/app', want: 'registry.local:050001/team/app', rule: '' },
    { why: ':0443 is :443, the default', image: 'gcr.io:0443/proj/app:1', want: 'asia.gcr.io/proj/app:1', rule: 'gcr' },
    { why: 'excluded whatever the zeros before the port', image: 'gcr.io:00443/distroless/static', want: 'gcr.io:00443/distroless/static', rule: '' },
    { why: 'a port of zeros only is left as written', image: 'gcr.io:000/proj/app', want: 'gcr.io:000/proj/app', rule: '' },
    { why: 'namespace-scoped rule without a namespace', image: 'ghcr.io/org/app', want: 'ghcr.io/org/app', rule: '' },
    // Only excludeNamespaces: an image reviewed without a namespace is in none of them.
    { why: 'rule that only excludes namespaces, without a namespace', image: 'public.ecr.aws/org/app', want: 'ecr-mirror.example.com/org/app', rule: 'not-secret' },
  ])('$why: $image', ({ image, want, rule }) => {
    expect(explainImage(rules, image)).toEqual({ image, rewritten: want, rule });
  });

  it.each([
    { ns: 'team-a', want: 'ghcr-mirror.example.com/org/app', rule: 'team-only' },
    { ns: 'team-secret', want: 'ghcr.io/org/app', rule: '' },
    { ns: 'default', want: 'ghcr.io/org/app', rule: '' },
  ])('namespace scoping in $ns', ({ ns, want, rule }) => {
    expect(explainImage(rules, 'ghcr.io/org/app', ns)).toEqual({ image: 'ghcr.io/org/app', rewritten: want, rule });
  });

  it.each([
    { image: '', kind: 'NameEmpty' },
    { image: 'NGINX', kind: 'NameContainsUppercase' },
    { image: 'nginx:', kind: 'ReferenceInvalidFormat' },
    { image: 'gcr.io/app:bad tag', kind: 'ReferenceInvalidFormat' },
    { image: 'registry.example.com/team/payments-service:1.0 ', kind: 'ReferenceInvalidFormat' },
    { image: `gcr.io/app@sha256:${'A'.repeat(64)}`, kind: 'DigestInvalidFormat' },
    { image: 'a'.repeat(64), kind: 'IdentifierNotAllowed' },
  ])('an invalid image is reported and left exactly as it is: "$image"', ({ image, kind }) => {
    const r = rules.rewrite(image);
    expect(r.kind).toBe('invalid');
    if (r.kind !== 'invalid') return;
    expect(r.image).toBe(image);
    expect(r.error.length).toBeGreaterThan(0);
    const e = explainImage(rules, image);
    expect(e.rewritten).toBe(image);
    expect(e.rule).toBe('');
    expect(e.error).toBe(r.error);
    expect(kind.length).toBeGreaterThan(0);
  });

  it('returns an unchanged image byte for byte (familiar form kept)', () => {
    const image = 'eu.gcr.io/x/y:1';
    const r = rules.rewrite(image);
    expect(r).toEqual({ kind: 'unchanged', image, reason: 'no-match' });
  });

  it('rejects a result that is too long to be a valid reference and leaves the image alone', () => {
    const long = rewriterFrom(`rules:\n  - name: long\n    match: gcr.io\n    replace: mirror.example.com/${'a'.repeat(200)}\n`);
    const image = `gcr.io/${'b'.repeat(60)}`;
    const r = long.rewrite(image);
    expect(r.kind).toBe('rejected');
    expect(explainImage(long, image)).toEqual({
      image,
      rewritten: image,
      rule: '',
      error: expect.stringContaining('repository name must not be more than 255 characters') as unknown as string,
    });
  });

  it('rejects a result that a later rule would rewrite again (reinvocation stays idempotent)', () => {
    const chain = rewriterFrom(`
rules:
  - name: first
    match: gcr.io
    replace: mirror.example.com/gcr
  - name: second
    match: mirror.example.com
    replace: other.example.com
`);
    const r = chain.rewrite('gcr.io/app');
    expect(r.kind).toBe('rejected');
    if (r.kind === 'rejected') expect(r.error).toContain('rule "second" would rewrite again');
    expect(chain.rewrite('mirror.example.com/gcr/app').kind).toBe('rewritten');
  });

  it.each([
    { what: 'a catch-all', rule: "regex: '(.+)'\n    replace: mirror.example.com/$1", image: 'nginx:1.27', want: 'mirror.example.com/docker.io/library/nginx:1.27' },
    { what: 'named groups', rule: "regex: '(?<host>[^/]+)/(?<path>.+)'\n    replace: mirror.example.com/$<host>/$<path>", image: 'gcr.io/team/app:1', want: 'mirror.example.com/gcr.io/team/app:1' },
    { what: 'a path inside the same registry', rule: "regex: 'docker\\.io/(.+)'\n    replace: docker.io/mirror/$1", image: 'bitnami/redis:7', want: 'docker.io/mirror/bitnami/redis:7' },
  ])('a rule that matches its own results ($what) rewrites an image once and leaves its results and its target alone', ({ rule, image, want }) => {
    // "Mirror everything" without an `exclude` of the mirror: each result starts as the rule's
    // results do, so the rule leaves it (reinvocation changes nothing); before, every result was
    // refused as "rewritten again" and the rule rewrote nothing.
    const rw = rewriterFrom(`rules:\n  - name: all\n    ${rule}\n`);
    expect(rw.rewrite(image)).toMatchObject({ kind: 'rewritten', rewritten: want, rule: { name: 'all' } });
    expect(rw.rewrite(want)).toEqual({ kind: 'unchanged', image: want, reason: 'at-target' });
    const digest = `${image.replace(/:[^:/]+$/, '')}@sha256:${'a'.repeat(64)}`;
    const once = rw.rewrite(digest);
    expect(once.kind === 'rewritten' && once.rewritten.endsWith(`@sha256:${'a'.repeat(64)}`)).toBe(true);
    if (once.kind === 'rewritten') expect(rw.rewrite(once.rewritten)).toMatchObject({ kind: 'unchanged', reason: 'at-target' });
    expect(explainImage(rw, want)).toEqual({ image: want, rewritten: want, rule: '' });
  });

  it('a rule that matches its own results still refuses a result another rule would then rewrite', () => {
    // The result is left by the rule itself, but an earlier rule takes it: not idempotent, refused as before.
    const rw = rewriterFrom(`
rules:
  - name: m
    regex: 'mirror\\.example\\.com/(.*)'
    replace: other.example.com/$1
  - name: all
    regex: '(.+)'
    replace: mirror.example.com/$1
`);
    const r = rw.rewrite('gcr.io/app:1');
    expect(r).toMatchObject({ kind: 'rejected', rule: { name: 'all' } });
    if (r.kind === 'rejected') expect(r.error).toContain('which rule "m" would rewrite again');
    // A rule that matches its own results whose result another rule takes after it has left it
    // (an exclude-like shape: the second rule is reached only when the first leaves the image).
    const shortened = rewriterFrom(`
rules:
  - name: shorten
    regex: 'mirror\\.example\\.com/old/(.+)'
    replace: mirror.example.com/$1
`);
    // Not the rule's own results (they do not start with old/): applied as before.
    expect(shortened.rewrite('mirror.example.com/old/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.example.com/app:1' });
  });

  it.each([
    { what: '(.+)', regex: '(.+)' },
    { what: '([^:]+), the README\'s catch-all without ports', regex: '([^:]+)' },
  ])('applies an earlier rule whose result a later "mirror everything" rule ($what) leaves at its target', ({ regex }) => {
    // A specific rule before the catch-all, both writing to the same mirror: the catch-all leaves
    // every image that already starts as its results do, so the earlier rule's result is stable
    // under reinvocation. Before, every such result was refused as "rewritten again" and the
    // earlier rule rewrote nothing (each of its images left upstream, with a warning per Pod).
    const rw = rewriterFrom(`
rules:
  - name: gcr
    match: gcr.io
    replace: mirror.example.com/gcr
  - name: all
    regex: '${regex}'
    replace: mirror.example.com/$1
`);
    expect(rw.rewrite('gcr.io/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.example.com/gcr/app:1', rule: { name: 'gcr' } });
    expect(rw.rewrite('mirror.example.com/gcr/app:1')).toMatchObject({ kind: 'unchanged', reason: 'at-target' });
    expect(explainImage(rw, 'gcr.io/app:1')).toEqual({ image: 'gcr.io/app:1', rewritten: 'mirror.example.com/gcr/app:1', rule: 'gcr' });
    expect(rw.rewrite('nginx:1.27')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.example.com/docker.io/library/nginx:1.27', rule: { name: 'all' } });
    // check-config no longer says the earlier rule "rewrites nothing".
    const checked = parseRules(`rules:\n  - {name: gcr, match: gcr.io, replace: mirror.example.com/gcr}\n  - {name: all, regex: '${regex}', replace: 'mirror.example.com/$1'}\n`, {});
    expect(checked.ok && checked.warnings.map(formatIssue)).toEqual([]);
    // A result outside the catch-all's target is still taken again by it: refused, as before.
    const elsewhere = rewriterFrom(`
rules:
  - name: gcr
    match: gcr.io
    replace: other.example.com/gcr
  - name: all
    regex: '${regex}'
    replace: mirror.example.com/$1
`);
    const r = elsewhere.rewrite('gcr.io/app:1');
    expect(r).toMatchObject({ kind: 'rejected', rule: { name: 'gcr' } });
    if (r.kind === 'rejected') expect(r.error).toContain('which rule "all" would rewrite again');
  });

  it('refuses, not leaves, an image a rule whose results start with a group would rewrite again (no target to be at)', () => {
    // `$1/m/$2`: its results share no literal start, so no image is "at its target"; each would be rewritten at every reinvocation.
    const rw = rewriterFrom("rules:\n  - name: all\n    regex: '([^/]+)/(.+)'\n    replace: $1/m/$2\n");
    for (const image of ['gcr.io/app:1', 'gcr.io/m/app:1']) {
      const r = rw.rewrite(image);
      expect(r).toMatchObject({ kind: 'rejected', rule: { name: 'all' } });
      if (r.kind === 'rejected') expect(r.error).toContain('which rule "all" would rewrite again');
    }
  });

  it('applies a result that a later rule only respells (same registry: reinvocation leaves it as it is)', () => {
    // The second rule maps each name it takes to another spelling of the same name (a `:443`, an
    // upper-case host): on reinvocation the result is "identical", so the first rewrite is stable.
    for (const respell of ['match: mirror.example.com\n    replace: mirror.example.com:443', "regex: 'mirror\\.example\\.com/(.+)'\n    replace: MIRROR.example.com/$1"]) {
      const chain = rewriterFrom(`
rules:
  - name: first
    match: gcr.io
    replace: mirror.example.com/gcr
  - name: respell
    ${respell}
`);
      expect(chain.rewrite('mirror.example.com/gcr/app:1')).toMatchObject({ kind: 'unchanged', reason: 'identical' });
      expect(explainImage(chain, 'gcr.io/app:1')).toEqual({ image: 'gcr.io/app:1', rewritten: 'mirror.example.com/gcr/app:1', rule: 'first' });
    }
  });

  it('does not warn that a rule rewrites nothing when a later regex rule only respells its results', () => {
    const loaded = parseRules(`
rules:
  - name: first
    match: gcr.io
    replace: mirror.example.com/gcr
  - name: respell
    regex: 'mirror\\.example\\.com/(.+)'
    replace: MIRROR.example.com/$1
`, {});
    expect(loaded.ok && loaded.warnings.map(formatIssue)).toEqual([]);
  });

  it('rejects a regex result whose name reads as a name and a tag (the tag is kept exactly, none is added)', () => {
    const tagged = rewriterFrom(`rules:\n  - name: colon\n    regex: 'gcr\\.io/([a-z]+)'\n    replace: 'mirror.example.com:$1'\n`);
    expect(tagged.rewrite('gcr.io/app')).toMatchObject({
      kind: 'rejected',
      candidate: 'mirror.example.com:app',
      error: 'rule "colon" produced "mirror.example.com:app", whose tag or digest is not the image\'s own: "mirror.example.com:app" is not an image name',
    });
    expect(tagged.rewrite(`gcr.io/app@${DIGEST}`)).toMatchObject({ kind: 'rejected', candidate: `mirror.example.com:app@${DIGEST}` });
    expect(explainImage(tagged, 'gcr.io/app')).toMatchObject({ image: 'gcr.io/app', rewritten: 'gcr.io/app', rule: '' });
  });

  it('refuses at load a regex replace whose own text gives every result a tag or a digest', () => {
    // Past a `/` of the template's text a `:` can only start a tag, and an `@` starts a digest
    // anywhere: the image's own tag and digest are appended, so every result would be refused.
    for (const [replace, what, sample] of [
      ['asia.gcr.io/$1:v2', 'tag', 'asia.gcr.io/x:v2'],
      ['asia.gcr.io/mirror/$1:latest', 'tag', 'asia.gcr.io/mirror/x:latest'],
      [`asia.gcr.io/$1@${DIGEST}`, 'digest', `asia.gcr.io/x@${DIGEST}`],
    ] as const) {
      const r = parseRules(`rules:\n  - name: a\n    regex: 'gcr\\.io/(.+)'\n    replace: '${replace}'\n`, {});
      expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([
        `rules[0].replace: gives every result a ${what} of its own (with every group set to "x" it gives "${sample}"); write the name only: the image's own tag and digest are kept`,
      ]);
    }
    // A `:` before the template's first `/` may be a host's port, its path from a group: checked per result.
    expect(parseRules(`rules:\n  - name: a\n    regex: 'gcr\\.io/(.+)'\n    replace: 'mirror.example.com:$1'\n`, {}).ok).toBe(true);
  });

  it('treats a rule whose result equals the input as no change', () => {
    const same = rewriterFrom(`rules:\n  - name: same\n    regex: '(gcr\\.io/.*)'\n    replace: $1\n`);
    expect(same.rewrite('gcr.io/app:1')).toEqual({ kind: 'unchanged', image: 'gcr.io/app:1', reason: 'identical' });
  });

  it('first matching rule wins', () => {
    const r = rewriterFrom(`
rules:
  - name: specific
    match: docker.io/library/nginx
    replace: nginx-mirror.example.com/nginx
  - name: general
    match: docker.io
    replace: hub-mirror.example.com
`);
    expect(explainImage(r, 'nginx:1').rule).toBe('specific');
    expect(explainImage(r, 'redis:7').rule).toBe('general');
  });

  it('answers correctly past the memo bound, and the same way twice', () => {
    const images = Array.from({ length: MEMO_MAX_ENTRIES + 100 }, (_, i) => `gcr.io/app-${i}:1`);
    for (const image of images) expect(explainImage(rules, image).rewritten).toBe(`asia.${image}`);
    for (const image of images.slice(0, 50)) expect(rules.rewrite(image)).toEqual(rules.rewrite(image));
  });

  it('does not remember namespaces no API server sends: 300 reviews with 100 KB namespaces leave the heap as it was', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Each namespace a string of its own (as JSON.parse makes them), not a slice of a shared one.
    const namespace = (i: number): string => Buffer.from(`team-${String(i)}-`.padEnd(100_000, 'x')).toString('latin1');
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 300; i++) {
      expect(rules.rewrite(`ghcr.io/o/app-${String(i)}:1`, { namespace: namespace(i) })).toMatchObject({ kind: 'rewritten', rewritten: `ghcr-mirror.example.com/o/app-${String(i)}:1` });
    }
    gc();
    // Before the bound, every key held its namespace: 30 MB here, gigabytes with megabyte namespaces.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(5_000_000);
    expect(rules.rewrite('ghcr.io/o/app:1', { namespace: 'team-a' })).toBe(rules.rewrite('ghcr.io/o/app:1', { namespace: 'team-a' }));
  });

  it(`remembers at most ${MEMO_MAX_ENTRIES} answers: the oldest is forgotten first, the next one still remembered`, () => {
    const fresh = rewriterFrom(`rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n`);
    const first = fresh.rewrite('gcr.io/app-0:1');
    const second = fresh.rewrite('gcr.io/app-1:1');
    expect(fresh.rewrite('gcr.io/app-0:1')).toBe(first);
    for (let i = 2; i <= MEMO_MAX_ENTRIES; i++) fresh.rewrite(`gcr.io/app-${String(i)}:1`);
    // One answer past the bound: the first is forgotten (an unbounded memo would hold every image ever seen).
    expect(fresh.rewrite('gcr.io/app-1:1')).toBe(second);
    const again = fresh.rewrite('gcr.io/app-0:1');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  it('is immutable', () => {
    expect(Object.isFrozen(rules)).toBe(true);
    expect(Object.isFrozen(rules.rules)).toBe(true);
    expect(Object.isFrozen(rules.rules[0])).toBe(true);
  });
});

describe('environment substitution', () => {
  const doc = `rules:\n  - name: ecr\n    match: docker.io\n    replace: \${env:AWS_ACCOUNT_ID}.dkr.ecr.\${env:AWS_REGION}.amazonaws.com/hub\n`;
  it.each([
    { region: 'us-west-2', want: '111122223333.dkr.ecr.us-west-2.amazonaws.com/hub/library/nginx' },
    { region: 'ap-southeast-1', want: '111122223333.dkr.ecr.ap-southeast-1.amazonaws.com/hub/library/nginx' },
  ])('one document, each region its own ECR: $region', ({ region, want }) => {
    const r = rewriterFrom(doc, { AWS_ACCOUNT_ID: '111122223333', AWS_REGION: region });
    expect(explainImage(r, 'nginx').rewritten).toBe(want);
  });

  it('names every unset variable', () => {
    const r = parseRules(doc, {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map(formatIssue)).toEqual([
      'rules[0].replace: environment variable AWS_ACCOUNT_ID is not set (used as ${env:AWS_ACCOUNT_ID})',
      'rules[0].replace: environment variable AWS_REGION is not set (used as ${env:AWS_REGION})',
    ]);
  });

  it('never substitutes a variable that may hold a credential, nor shows its value', () => {
    const secrets = { AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjEXAMPLE', WEBHOOK_TOKEN: 'token-0123456789abcdef' };
    for (const name of Object.keys(secrets)) {
      for (const doc of [`rules:\n  - name: a\n    match: gcr.io\n    replace: \${env:${name}}.m.example.com/x\n`, `rules:\n  - name: a\n    regex: 'gcr\\.io/(.*)'\n    replace: m.example.com/\${env:${name}}/$1\n`]) {
        const r = parseRules(doc, secrets);
        expect(r.ok).toBe(false);
        if (r.ok) continue;
        expect(r.issues.map(formatIssue)).toEqual([`rules[0].replace: environment variable ${name} may hold a credential and is never substituted (used as \${env:${name}})`]);
      }
    }
  });

  it('never substitutes a credential whose word is not a whole component (PGPASSWORD, APP_SECRETS...), nor shows its value', () => {
    const names = ['PGPASSWORD', 'MYSQL_PWD', 'APP_SECRETS', 'SECRETKEY', 'DOCKER_AUTH_CONFIG', 'GITHUB_PAT', 'DB_PASS', 'ENCRYPTION_KEY', 'MY_APIKEY', 'SESSIONTOKEN', 'SENTRY_DSN', 'PRIVATEKEY_PEM'];
    for (const name of names) {
      const r = parseRules(`rules:\n  - name: a\n    match: gcr.io\n    replace: \${env:${name}}\n`, { [name]: 'hunter2-value' });
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      const text = r.issues.map(formatIssue);
      expect(text).toEqual([`rules[0].replace: environment variable ${name} may hold a credential and is never substituted (used as \${env:${name}})`]);
      expect(text.join('\n')).not.toContain('hunter2');
    }
    // The variables the README and the template use are still substituted.
    const ok = rewriterFrom('rules:\n  - name: a\n    match: gcr.io\n    replace: ${env:MIRROR}.${env:AWS_REGION}.${env:AWS_URL_SUFFIX}/${env:AWS_ACCOUNT_ID}\n', { MIRROR: 'm', AWS_REGION: 'us-west-2', AWS_URL_SUFFIX: 'amazonaws.com', AWS_ACCOUNT_ID: '111122223333' });
    expect(explainImage(ok, 'gcr.io/x').rewritten).toBe('m.us-west-2.amazonaws.com/111122223333/x');
  });

  it('does not clash with regex group references', () => {
    const r = rewriterFrom(`rules:\n  - name: q\n    regex: 'quay\\.io/(.*)'\n    replace: quay.\${env:AWS_REGION}.example.com/$1\n`);
    expect(explainImage(r, 'quay.io/org/app').rewritten).toBe('quay.us-west-2.example.com/org/app');
  });

  const ghcr = `rules:\n  - name: ghcr\n    regex: 'ghcr\\.io/(?<rest>.+)'\n    replace: \${env:MIRROR}/ghcr/$<rest>\n`;
  it('takes a variable\'s value as plain text, never as group references', () => {
    expect(explainImage(rewriterFrom(ghcr, { MIRROR: 'm.example.com' }), 'ghcr.io/a/b').rewritten).toBe('m.example.com/ghcr/a/b');
    for (const value of ['m.example.com/$1', 'm.example.com/$<rest>', 'm.example.com/${env:OTHER}']) {
      const r = parseRules(ghcr, { MIRROR: value, OTHER: 'x' });
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      // The value is text in the result, which then cannot be an image name.
      expect(r.issues.map(formatIssue)).toEqual([`rules[0].replace: can never yield a valid image name (with every group set to "x" it gives "${value}/ghcr/x")`]);
    }
  });

  it('accepts a host written in capitals and followed directly by a group that starts the path (hosts are case-insensitive)', () => {
    for (const [doc, env] of [
      [`rules:\n  - name: u\n    regex: 'gcr\\.io(/.*)'\n    replace: 'Mirror.Example.com$1'\n`, {}],
      [`rules:\n  - name: u\n    regex: 'gcr\\.io(.*)'\n    replace: '\${env:ACR}$1'\n`, { ACR: 'MyRegistry.azurecr.io' }],
    ] as const) {
      const r = parseRules(doc, env);
      expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
      if (r.ok) expect(explainImage(r.rewriter, 'gcr.io/team/app:1').rewritten).toMatch(/^[A-Za-z.]+\/team\/app:1$/);
    }
  });

  it('still reads group references next to a variable', () => {
    const doc = `rules:\n  - name: q\n    regex: 'quay\\.io/([^/]+)/(.+)'\n    replace: \${env:MIRROR}/$1-\${env:SUFFIX}/$2\n`;
    expect(explainImage(rewriterFrom(doc, { MIRROR: 'm.example.com/q', SUFFIX: 'v2' }), 'quay.io/org/app').rewritten).toBe('m.example.com/q/org-v2/app');
  });
});

describe('every problem at once, in a rule refused for another field', () => {
  const problems = (doc: string, env: Record<string, string> = {}): string[] => {
    const r = parseRules(doc, env);
    return r.ok ? [] : r.issues.map(formatIssue);
  };

  it('reports the replacement of a rule with a typo in another field, or a match spelled otherwise', () => {
    expect(problems('rules:\n  - name: a\n    match: gcr.io\n    replace: mirror/x\n    colour: red\n  - name: b\n    match: GCR.IO\n    replace: ${env:UNSET_MIRROR}/g\n')).toEqual([
      'rules[0].colour: unknown field (known fields: name, match, regex, replace, namespaces, excludeNamespaces, imagePullSecrets, verify, onMissing, onUnreachable, platforms)',
      'rules[0].replace: "mirror/x" does not start with a registry host, so the kubelet would pull "mirror/x/..." from Docker Hub (docker.io/mirror/x/...); write the host, e.g. "mirror.example.com"',
      'rules[1].match: registry hosts are compared in lower case and without ":443" (the port HTTPS uses anyway); write "gcr.io"',
      'rules[1].replace: environment variable UNSET_MIRROR is not set (used as ${env:UNSET_MIRROR})',
    ]);
  });

  it('names a // comment in a JSON document (YAML reads it and the next key as one key)', () => {
    expect(problems('{\n  // the demo\n  "rules": [{"name": "a", /* x */ "match": "gcr.io", "replace": "asia.gcr.io"}]\n}\n')).toEqual([
      'rules: is required',
      '["// the demo \\"rules\\""]: unknown field (known fields: rules, exclude, allowOptOut; a comment? JSON has none, and YAML writes them with #)',
    ]);
  });

  it('says what YAML made of a scalar written for another type: a number, text for a boolean, an empty value', () => {
    const text = 'rules:\n  - name: 2024\n    match: gcr.io\n    replace:\n    verify: yes\n  - name: b\n    match: quay.io\n    replace: q.example.com\nexclude: [1.10]\nallowOptOut: "false"\n';
    expect(problems(text)).toEqual([
      'rules[0].name: must be a string, not a number: put the value in quotes',
      'rules[0].replace: must be a string, and is empty (null)',
      'rules[0].verify: must be a boolean: true or false, without quotes (YAML 1.2 reads yes, no, on and off as text)',
      'exclude[0]: must be a string, not a number: put the value in quotes',
      'allowOptOut: must be a boolean: true or false, without quotes (YAML 1.2 reads yes, no, on and off as text)',
    ]);
  });

  it('quotes a name, a namespace or a platform refused for its form (an invisible character in it as \\uXXXX), not a Secret name', () => {
    const text = 'rules:\n  - name: "gcr\\u200b"\n    match: gcr.io\n    replace: asia.gcr.io\n    excludeNamespaces: [kube-]\n    imagePullSecrets: [Harbor]\n    verify: true\n    platforms: [Linux/AMD64]\n';
    expect(problems(text)).toEqual([
      'rules[0].name: "gcr\\u200b" must be letters, digits, "-", "_" or "." (starting and ending with a letter or digit): U+200B at character 4, not printable ASCII (a look-alike or invisible character copied with it?)',
      'rules[0].excludeNamespaces[0]: "kube-" must be a namespace name, "*" and "?" allowed (its "*" forgotten? "kube-*")',
      'rules[0].imagePullSecrets[0]: must be a Secret name',
      'rules[0].platforms[0]: "Linux/AMD64" must be os/architecture[/variant] (the os with its version as os(osversion) for a Windows build), like linux/amd64, linux/arm64/v8 or windows(10.0.20348)/amd64',
    ]);
  });

  it.each([['https://robot:s3cr3t-t0ken@mirror.example.com/hub'], ['robot:s3cr3t-t0ken@mirror.example.com'], ['user@mirror.example.com/x']])(
    "never quotes a match rule's replace with an \"@\" before its first \"/\" (%s): a URL's credentials (QA-44)",
    (replace) => {
      const out = problems(`rules:\n  - name: hub\n    match: docker.io\n    replace: '${replace}'\n`);
      expect(out).toEqual(['rules[0].replace: is not a valid image name prefix (registry host, then optional /path; the value is not shown: an "@" before its first "/" may be a URL\'s credentials)']);
    },
  );

  it.each([["https://robot:s3cr3t-t0ken@mirror.example.com/$1"], ["robot:s3cr3t-t0ken@mirror.example.com/$1"]])("never quotes a regex rule's replace with an \"@\" before its first \"/\" (%s) (QA-44)", (replace) => {
    const out = problems(`rules:\n  - name: hub\n    regex: 'docker\\.io/(.*)'\n    replace: '${replace}'\n`);
    expect(out).toEqual(['rules[0].replace: is not a valid image name prefix (registry host, then optional /path; the value is not shown: an "@" before its first "/" may be a URL\'s credentials)']);
  });

  it("still names a digest written in a match rule's replace, after its path", () => {
    expect(problems('rules:\n  - name: hub\n    match: docker.io\n    replace: mirror.example.com/app@sha256:0123456789012345678901234567890123456789012345678901234567890123\n')[0]).toContain('gives every result a digest of its own');
  });

  it('never quotes what was written as a Secret name: it may be the token itself, pasted in the wrong place (QA-44)', () => {
    const token = 'ghp_R4nd0mT0k3nV4lu3F0rTh3T3st0nly';
    const text = `rules:\n  - name: gh\n    match: ghcr.io\n    replace: mirror.example.com/ghcr\n    imagePullSecrets: [${token}]\n`;
    expect(problems(text)).toEqual(['rules[0].imagePullSecrets[0]: must be a Secret name']);
  });

  it('names a key written without the space after its colon in a flow mapping (or JSON5), which YAML reads as one key', () => {
    expect(problems("rules:\n  - {name:gcr, match: gcr.io, replace: 'asia.gcr.io'}\n")).toEqual([
      'rules[0].name: is required',
      'rules[0]["name:gcr"]: unknown field: "name" without a space after its colon, which YAML reads as one key; write "name: gcr"',
    ]);
    expect(problems("{rules: [{name: gcr, match:'gcr.io', replace: asia.gcr.io}]}\n")).toEqual([
      'rules[0]["match:\'gcr.io\'"]: unknown field: "match" without a space after its colon, which YAML reads as one key; write "match: \'gcr.io\'"',
      'rules[0]: needs one of "match" or "regex"',
    ]);
  });

  it('says how to write a list given one value or a mapping (rules as a map of names, exclude as one prefix)', () => {
    expect(problems('rules:\n  gcr:\n    match: gcr.io\n    replace: asia.gcr.io\nexclude: gcr.io/distroless\n')).toEqual([
      'rules: must be a list, not a mapping: start each entry with "- "',
      'exclude: must be a list, even of one entry: write it in brackets ([a]) or on lines starting with "- "',
    ]);
  });

  it('says what a prefix (a match, an exclude, a replace) written as a URL, a glob, with a tag or a trailing slash should be', () => {
    const text = "rules:\n  - {name: a, match: 'https://gcr.io/', replace: 'https://m.example.com/a/'}\n  - {name: b, match: 'quay.io/*', replace: m.example.com/b}\n  - {name: c, match: '*.gcr.io', replace: m.example.com/c}\nexclude: ['docker.io/library/nginx:1.27', 'ghcr.io/org/']\n";
    expect(problems(text)).toEqual([
      'rules[0].match: "https://gcr.io/" is not a valid image name prefix (registry host, then optional /path): no scheme, write "gcr.io"',
      'rules[1].match: "quay.io/*" is not a valid image name prefix (registry host, then optional /path): a prefix takes every name under it, without a wildcard: write "quay.io"',
      'rules[2].match: "*.gcr.io" is not a valid image name prefix (registry host, then optional /path): a prefix takes no wildcards (it names one host, then a path); for several hosts write one per host, or a regex rule',
      'exclude[0]: "docker.io/library/nginx:1.27" is not a valid image name prefix (registry host, then optional /path): a prefix is a name without its tag (rules see names alone, and keep the tag): write "docker.io/library/nginx"',
      'exclude[1]: "ghcr.io/org/" is not a valid image name prefix (registry host, then optional /path): without the trailing "/", write "ghcr.io/org"',
      // The replace of a rule the schema refused is checked after the schema's problems.
      'rules[0].replace: "https://m.example.com/a/" is not a valid image name prefix: no scheme, write "m.example.com/a"',
    ]);
  });

  it("says that a regex rule's template written as a URL has a scheme no name has", () => {
    // It said only 'can never yield a valid image name (with every group set to "x" it gives "https://m.example.com/x")'.
    expect(problems("rules:\n  - {name: a, regex: 'gcr\\.io/(.*)', replace: 'https://m.example.com/$1'}\n")).toEqual([
      'rules[0].replace: "https://m.example.com/..." starts with a URL\'s scheme, which no image name has: no scheme, write the template without "https://"',
    ]);
  });

  it('says that ${env:NAME} is substituted in replace only, for a match or an exclude that has one', () => {
    // It said only "is not a valid image name prefix".
    expect(problems("rules:\n  - {name: a, match: '${env:MIRROR_HOST}', replace: m.example.com/a}\nexclude: ['${env:MIRROR_HOST}/x']\n")).toEqual([
      'rules[0].match: "${env:MIRROR_HOST}" is not a valid image name prefix (registry host, then optional /path): ${env:NAME} is replaced in replace only; write the prefix itself',
      'exclude[0]: "${env:MIRROR_HOST}/x" is not a valid image name prefix (registry host, then optional /path): ${env:NAME} is replaced in replace only; write the prefix itself',
    ]);
  });

  it("says at once what is wrong with the spelling a replace's hint gives, when that is refused too", () => {
    // It said 'no scheme, write "mirror/x"', and "mirror/x" was then refused as a Docker Hub name.
    expect(problems("rules:\n  - {name: a, match: gcr.io, replace: 'https://mirror/x'}\n  - {name: b, match: quay.io, replace: 'mirror/'}\n")).toEqual([
      'rules[0].replace: "https://mirror/x" is not a valid image name prefix: no scheme, write "mirror/x"; but "mirror/x" does not start with a registry host, so the kubelet would pull "mirror/x/..." from Docker Hub (docker.io/mirror/x/...); write the host, e.g. "mirror.example.com"',
      'rules[1].replace: "mirror/" is not a valid image name prefix: without the trailing "/", write "mirror"; but "mirror" does not start with a registry host, so the kubelet would pull "mirror/..." from Docker Hub (docker.io/mirror/...); write the host, e.g. "mirror.example.com"',
    ]);
  });

  it('names a YAML merge key (<<: *anchor), which rules documents do not read, rather than calling it an unknown field alone', () => {
    const text = 'rules:\n  - &hub\n    name: hub\n    match: docker.io\n    replace: mirror.example.com/hub\n  - <<: *hub\n    name: quay\n    match: quay.io\n';
    expect(problems(text)).toEqual([
      'rules[1].replace: is required',
      'rules[1]["<<"]: unknown field: a YAML merge key (<<: *anchor), which rules documents do not read (YAML 1.2 has none); write the fields out in each rule',
    ]);
  });

  it('checks a regex rule\'s template against its groups, and a match rule\'s replacement against its prefix', () => {
    expect(problems('rules:\n  - name: a\n    regex: "gcr\\\\.io/(.*)"\n    replace: x.io/$2\n    colour: red\n  - name: b\n    match: gcr.io\n    replace: gcr.io/m\n    verify: "yes"\n')).toEqual([
      'rules[0].colour: unknown field (known fields: name, match, regex, replace, namespaces, excludeNamespaces, imagePullSecrets, verify, onMissing, onUnreachable, platforms)',
      'rules[0].replace: $2 refers to a group the regex does not have (it has 1)',
      'rules[1].verify: must be a boolean: true or false, without quotes (YAML 1.2 reads yes, no, on and off as text)',
      'rules[1].replace: "gcr.io/m" is inside "gcr.io", so this rule would match its own result and rewrite it again on every reinvocation',
    ]);
  });

  it('says once that a regex rule\'s template has a "$" that starts nothing, however many it has', () => {
    expect(problems('rules:\n  - name: a\n    regex: "gcr\\\\.io/(.*)"\n    replace: m.io/$$/$1$\n')).toEqual([
      'rules[0].replace: a "$" must start a group reference ($1, $<name>) or ${env:NAME}',
    ]);
  });

  it('reads two digits after a "$" (not JavaScript\'s $1 then 0 when there is no group 10), and says how to write that', () => {
    expect(problems('rules:\n  - name: a\n    regex: "gcr\\\\.io/(.*)"\n    replace: m.example.com/v$10\n')).toEqual([
      'rules[0].replace: $10 refers to a group the regex does not have (it has 1); for $1 followed by "0", write $010',
    ]);
    expect(explainImage(rewriterFrom('rules:\n  - name: a\n    regex: "gcr\\\\.io/(.*)"\n    replace: m.example.com/v$010\n'), 'gcr.io/app').rewritten).toBe('m.example.com/vapp0');
  });

  it('reads $<name> for every group name a regex may have, "$" and non-ASCII letters included', () => {
    const doc = "rules:\n  - name: a\n    regex: 'gcr\\.io/(?<$org>[^/]+)/(?<r\u00e9po>.+)'\n    replace: m.example.com/$<$org>/x-$<r\u00e9po>\n";
    expect(problems(doc)).toEqual([]);
    expect(explainImage(rewriterFrom(doc), 'gcr.io/team/app:1').rewritten).toBe('m.example.com/team/x-app:1');
    expect(problems("rules:\n  - name: a\n    regex: 'gcr\\.io/(?<$org>.+)'\n    replace: m.example.com/$<$other>\n")).toEqual([
      'rules[0].replace: $<$other> refers to a named group the regex does not have',
    ]);
  });

  it('says nothing more of a replacement that is fine, or that only its regex could judge', () => {
    expect(problems('rules:\n  - name: a\n    match: GCR.IO\n    replace: m.example.com/${env:M}\n  - name: b\n    regex: "(a+)+"\n    replace: mirror/$1\n', { M: 'g' })).toEqual([
      'rules[0].match: registry hosts are compared in lower case and without ":443" (the port HTTPS uses anyway); write "gcr.io"',
      'rules[1].regex: nests a repetition inside a repetition (like (a+)+), which can backtrack exponentially',
    ]);
  });

  it('quotes a match or exclude prefix that is no image name, so that a stray space or tab shows', () => {
    // QA-21: `match: "gcr.io "` was reported as `rules[0].match: is not a valid image name prefix
    // (...)`, with nothing to show that the trailing space was the problem.
    expect(problems('rules:\n  - name: a\n    match: "gcr.io "\n    replace: m.example.com/g\nexclude: ["gcr.io/Bad Path", "quay.io\\t"]\n')).toEqual([
      'rules[0].match: "gcr.io " is not a valid image name prefix (registry host, then optional /path): a space at character 7',
      'exclude[0]: "gcr.io/Bad Path" is not a valid image name prefix (registry host, then optional /path): a space at character 11',
      'exclude[1]: "quay.io\t" is not a valid image name prefix (registry host, then optional /path): a tab at character 8',
    ]);
    // Not a value with an "@": a URL with its credentials stays out of every message.
    expect(problems('rules:\n  - name: a\n    match: "https://u:hunter2@gcr.io"\n    replace: m.example.com/g\n')).toEqual([
      'rules[0].match: is not a valid image name prefix (registry host, then optional /path; the value is not shown: an "@" may be a URL\'s credentials)',
    ]);
  });

  it.each([
    ['a Cyrillic o', 'match', 'd\u043ecker.io', 'rules[0].match: "d\u043ecker.io" is not a valid image name prefix (registry host, then optional /path): U+043E at character 2, not printable ASCII (a look-alike or invisible character copied with it?)'],
    ['a fullwidth g', 'match', '\uff47cr.io', 'rules[0].match: "\uff47cr.io" is not a valid image name prefix (registry host, then optional /path): U+FF47 at character 1, not printable ASCII (a look-alike or invisible character copied with it?)'],
    ['a zero-width space', 'match', 'gcr.io\u200b', 'rules[0].match: "gcr.io\\u200b" is not a valid image name prefix (registry host, then optional /path): U+200B at character 7, not printable ASCII (a look-alike or invisible character copied with it?)'],
    ['a no-break space in replace', 'replace', 'asia.gcr.io\u00a0', 'rules[0].replace: "asia.gcr.io\\u00a0" is not a valid image name prefix: U+00A0 at character 12, not printable ASCII (a look-alike or invisible character copied with it?)'],
  ])('names the code point and place of %s in a prefix, which the quoted value does not show', (_what, field, value, message) => {
    const rule = { name: 'a', match: 'gcr.io', replace: 'm.example.com/g', [field]: value };
    expect(problems(`rules:\n  - ${JSON.stringify(rule)}\n`)).toEqual([message]);
  });

  it('names the place of a look-alike or invisible character in a rule name or a namespace', () => {
    const doc = 'rules:\n  - name: "gcr\u200b"\n    match: gcr.io\n    replace: m.example.com/g\n    namespaces: ["d\u0435v", "prod "]\n';
    expect(problems(doc)).toEqual([
      'rules[0].name: "gcr\\u200b" must be letters, digits, "-", "_" or "." (starting and ending with a letter or digit): U+200B at character 4, not printable ASCII (a look-alike or invisible character copied with it?)',
      'rules[0].namespaces[0]: "d\u0435v" must be a namespace name, "*" and "?" allowed: U+0435 at character 2, not printable ASCII (a look-alike or invisible character copied with it?)',
      'rules[0].namespaces[1]: "prod " must be a namespace name, "*" and "?" allowed: a space at character 5',
    ]);
  });

  it('names the place of a look-alike in a regex rule\'s replace that can never yield a valid name', () => {
    expect(problems('rules:\n  - name: a\n    regex: gcr\\.io/(.*)\n    replace: asi\u0430.gcr.io/$1\n')).toEqual([
      'rules[0].replace: can never yield a valid image name (with every group set to "x" it gives "asi\u0430.gcr.io/x"): U+0430 at character 4, not printable ASCII (a look-alike or invisible character copied with it?)',
    ]);
  });

  it('reports a replacement without a group reference that no rule may have, whatever its pattern', () => {
    // The README's own typo (`matchh`): the rule has no pattern, but "mirror/gcr" is wrong as a
    // match rule's replace and as a regex rule's alike; it was reported only once the typo was fixed.
    expect(problems('rules:\n  - name: a\n    matchh: gcr.io\n    replace: mirror/gcr\n  - name: b\n    match: gcr.io\n    regex: x\n    replace: m.example.com/x:1\n  - name: c\n    regex: "(a+)+"\n    replace: m.example.com/X\n')).toEqual([
      'rules[0].matchh: unknown field (did you mean "match"?)',
      'rules[0]: needs one of "match" or "regex"',
      'rules[0].replace: "mirror/gcr" does not start with a registry host, so the kubelet would pull "mirror/gcr/..." from Docker Hub (docker.io/mirror/gcr/...); write the host, e.g. "mirror.example.com"',
      'rules[1]: has both "match" and "regex"; use one',
      'rules[1].replace: "m.example.com/x:1" gives every result a tag of its own; write the name only: the image\'s own tag and digest are kept',
      'rules[2].regex: nests a repetition inside a repetition (like (a+)+), which can backtrack exponentially',
      'rules[2].replace: "m.example.com/X" is not a valid image name prefix: its path must be lower case',
    ]);
  });

  it('says what a rule written as one line of text needs', () => {
    expect(problems('rules:\n  - gcr.io -> asia.gcr.io\n')).toEqual(['rules[0]: must be a mapping, not the text "gcr.io -> asia.gcr.io": a rule is "name:", "match:" (or "regex:") and "replace:", each on its own line under its "- "']);
  });

  it('says a rule refused for a missing field also lacks its match or regex (and its verify)', () => {
    expect(problems('rules:\n  - name: a\n  - {}\n  - name: c\n    match: gcr.io\n    regex: x\n  - name: d\n    match: gcr.io\n    onMissing: keep\n  - [x]\n')).toEqual([
      'rules[0].replace: is required',
      'rules[0]: needs one of "match" or "regex"',
      'rules[1].name: is required',
      'rules[1].replace: is required',
      'rules[1]: needs one of "match" or "regex"',
      'rules[2].replace: is required',
      'rules[2]: has both "match" and "regex"; use one',
      'rules[3].replace: is required',
      'rules[3].onMissing: applies only with "verify: true"',
      'rules[4]: must be a mapping',
    ]);
  });
});

describe('Docker Hub hosts in a prefix', () => {
  it.each([
    ['index.docker.io', 'names are normalized to docker.io; write "docker.io"'],
    ['index.docker.io/bitnami/redis', 'names are normalized to docker.io; write "docker.io/bitnami/redis"'],
    ['registry-1.docker.io/library', 'names are normalized to docker.io; write "docker.io/library"'],
    ['registry.hub.docker.com/library', 'names are normalized to docker.io; write "docker.io/library"'],
    ['index.docker.io:0443/bitnami/redis', 'names are normalized to docker.io; write "docker.io/bitnami/redis"'],
    // One component: the image index.docker.io/nginx is docker.io/library/nginx, the org is docker.io/nginx.
    ['index.docker.io/nginx', 'names are normalized to docker.io; write "docker.io/library/nginx" for the image nginx, or "docker.io/nginx" for the images under nginx/'],
  ])('%s: %s', (prefix, message) => {
    const r = parseRules(`rules:\n  - {name: hub, match: '${prefix}', replace: m.example.com/hub}\n`, {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map(formatIssue)).toEqual([`rules[0].match: ${message}`]);
  });
});

describe('a match rule whose replace is inside its own prefix', () => {
  it.each([
    ['gcr.io', 'gcr.io/mirror', '"gcr.io/mirror" is inside "gcr.io"'],
    ['gcr.io', 'GCR.io/mirror', '"GCR.io/mirror" (compared as "gcr.io/mirror") is inside "gcr.io"'],
    ['gcr.io', 'gcr.io:443/mirror', '"gcr.io:443/mirror" (compared as "gcr.io/mirror") is inside "gcr.io"'],
    ['gcr.io', 'gcr.io:0443/mirror', '"gcr.io:0443/mirror" (compared as "gcr.io/mirror") is inside "gcr.io"'],
    ['registry.local:5000', 'registry.local:05000/mirror', '"registry.local:05000/mirror" (compared as "registry.local:5000/mirror") is inside "registry.local:5000"'],
    ['docker.io', 'index.docker.io/mirror', '"index.docker.io/mirror" (compared as "docker.io/mirror") is inside "docker.io"'],
    ['docker.io/library', 'registry-1.docker.io/library/m', '"registry-1.docker.io/library/m" (compared as "docker.io/library/m") is inside "docker.io/library"'],
  ])('match %s, replace %s: refused at load (every result would be rejected)', (match, replace, message) => {
    const r = parseRules(`rules:\n  - name: r\n    match: ${match}\n    replace: ${replace}\n`, {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map(formatIssue)).toEqual([`rules[0].replace: ${message}, so this rule would match its own result and rewrite it again on every reinvocation`]);
  });

  // One document deployed to every region (`${env:AWS_REGION}` in replace): in the region the rule
  // points at, its replace is its prefix. That region's stack was refused (deploy:regions stopped
  // before deploying anywhere, a Lambda reading it fell open with no rules).
  it('accepts a replace equal to the prefix (an ECR-to-ECR pull-through cache in its own region): it rewrites nothing', () => {
    const doc = [
      'rules:',
      '  - name: ecr-regional',
      '    match: 111111111111.dkr.ecr.us-east-1.amazonaws.com',
      '    replace: ${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.amazonaws.com',
      '  - name: hub',
      '    match: docker.io',
      '    replace: 111111111111.dkr.ecr.us-east-1.amazonaws.com/docker-hub',
      '',
    ].join('\n');
    const r = parseRules(doc, { AWS_ACCOUNT_ID: '111111111111', AWS_REGION: 'us-east-1' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.warnings).toEqual([]);
    expect(r.rewriter.rewrite('111111111111.dkr.ecr.us-east-1.amazonaws.com/team/app:1')).toMatchObject({ kind: 'unchanged', image: '111111111111.dkr.ecr.us-east-1.amazonaws.com/team/app:1' });
    expect(r.rewriter.rewrite('nginx:1')).toMatchObject({ kind: 'rewritten', rewritten: '111111111111.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1', rule: { name: 'hub' } });
    const elsewhere = parseRules(doc, { AWS_ACCOUNT_ID: '111111111111', AWS_REGION: 'eu-west-1' });
    expect(elsewhere.ok).toBe(true);
    if (!elsewhere.ok) return;
    expect(elsewhere.rewriter.rewrite('111111111111.dkr.ecr.us-east-1.amazonaws.com/team/app:1')).toMatchObject({ kind: 'rewritten', rewritten: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/team/app:1' });
  });

  it('accepts a replace on another port or another host', () => {
    for (const replace of ['gcr.io:5000/mirror', 'asia.gcr.io', 'gcr.io.example.com/m']) {
      expect(parseRules(`rules:\n  - name: r\n    match: gcr.io\n    replace: ${replace}\n`, {}).ok).toBe(true);
    }
  });
});

describe('a regex rule\'s result must start with a registry host (the kubelet would pull it from Docker Hub)', () => {
  it('is refused at load when the template\'s first component is its own text', () => {
    for (const replace of ['mirror/$1', 'mirror', 'mirror/$1-team']) {
      const r = parseRules(`rules:\n  - name: r\n    regex: 'docker\\.io/library/(.*)'\n    replace: '${replace}'\n`, {});
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.issues.map(formatIssue)).toEqual([expect.stringMatching(/^rules\[0\]\.replace: "[^"]*" does not start with a registry host, so the kubelet would pull/)]);
    }
  });

  it.each([
    ['a match rule', "match: gcr.io\n    replace: 'Mirror'", 'Mirror'],
    ['a match rule, with a path', "match: gcr.io\n    replace: 'MIRROR/gcr'", 'MIRROR/gcr'],
    ['a regex rule', "regex: 'gcr\\.io/(.*)'\n    replace: 'Mirror/$1'", 'Mirror'],
  ])('%s whose replace starts with one label in capitals is refused as a host in capitals, not as Docker Hub (the grammar reads `MIRROR/x` as host MIRROR)', (_kind, fields, replace) => {
    const r = parseRules(`rules:\n  - name: r\n    ${fields}\n`, {});
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([
      `rules[0].replace: "${replace}" starts with "${replace.split('/')[0] ?? ''}", a registry host only because of its capitals (in lower case, "${(replace.split('/')[0] ?? '').toLowerCase()}" would be a Docker Hub name); write the host in lower case, with a dot or a port, e.g. "${(replace.split('/')[0] ?? '').toLowerCase()}.example.com"`,
    ]);
    expect(explainImage(rewriterFrom('rules:\n  - name: hub\n    match: docker.io\n    replace: hub.example.com\n'), `${replace.split('/')[0] ?? ''}/x`)).toMatchObject({ rule: '' });
  });

  it.each([
    ['the group alone', "'$1/$2'", 'x/x'],
    ['text, then the group', "'mir$1/$2'", 'mirx/x'],
  ])('warns at load that a rule rewrites nothing when no result has a host (%s: a group of letters never writes a "." or a ":")', (_what, replace, out) => {
    const doc = `rules:\n  - name: r\n    regex: 'gcr\\.io/([a-z]+)/(.*)'\n    replace: ${replace}\n`;
    const r = parseRules(doc, {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.warnings.map(formatIssue)).toEqual([
      `rules[0].replace: rule "r" rewrites nothing: no result it gives starts with a registry host, a first component with a "." or a ":", or localhost (it gives "${out}" for "gcr.io/x/x"), and a result without one (a Docker Hub name) is left unchanged at admission; write the host in the replace, e.g. "mirror.example.com/${replace.slice(1, -1)}"`,
    ]);
    // What the warning says: every image the regex matches is left as it is.
    expect(r.rewriter.rewrite('gcr.io/team/app:1')).toMatchObject({ kind: 'rejected' });
  });

  it('gives no such warning when a group can write a host (a class with ".")', () => {
    const r = parseRules(`rules:\n  - name: r\n    regex: '([a-z.]+)\\.example\\.com/(.*)'\n    replace: $1/$2\n`, {});
    expect(r.ok ? r.warnings : ['not ok']).toEqual([]);
  });

  it('leaves the image alone, with the reason, when a group gives a first component that is not a host', () => {
    const r = rewriterFrom(`rules:\n  - name: r\n    regex: '([a-z.]+)\\.example\\.com/(.*)'\n    replace: $1/$2\n`);
    expect(r.rewrite('team.example.com/app:1')).toMatchObject({ kind: 'rejected', error: 'rule "r" produced "team/app:1", which does not start with a registry host: the kubelet would pull it from Docker Hub' });
    expect(r.rewrite('a.team.example.com/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'a.team/app:1' });
  });

  it('leaves the image alone when a group puts a "/" before the host text the template ends its host with (the Pod would choose the host, and verify would ask it)', () => {
    const r = rewriterFrom(`rules:\n  - name: r\n    regex: '(.*)\\.gcr\\.io/(.*)'\n    replace: '$1.mirror.example.com/$2'\n    verify: true\n`);
    expect(r.rewrite('eu.gcr.io/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'eu.mirror.example.com/app:1' });
    for (const [image, candidate] of [
      ['evil.example:8443/x.gcr.io/app:1', 'evil.example:8443/x.mirror.example.com/app:1'],
      ['169.254.169.254/x.gcr.io/latest', '169.254.169.254/x.mirror.example.com/latest'],
      ['localhost/a.gcr.io/b', 'localhost/a.mirror.example.com/b'],
    ] as const) {
      expect(r.rewrite(image)).toMatchObject({
        kind: 'rejected',
        candidate,
        error: `rule "r" produced "${candidate}", whose registry host does not end in ".mirror.example.com" as its replace writes it: a group put a "/" into the host`,
      });
    }
    // A host written whole, then a group: the group may add a port or the path, never to the host.
    const appended = rewriterFrom(`rules:\n  - name: a\n    regex: 'gcr\\.io(.*)'\n    replace: 'mirror.example.com$1'\n`);
    expect(appended.rewrite('gcr.io/team/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.example.com/team/app:1' });
    expect(appended.rewrite('gcr.io:5000/team/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.example.com:5000/team/app:1' });
    expect(appended.rewrite('gcr.io.evil.example/app:1')).toMatchObject({
      kind: 'rejected',
      candidate: 'mirror.example.com.evil.example/app:1',
      error: 'rule "a" produced "mirror.example.com.evil.example/app:1", whose registry host is not "mirror.example.com" as its replace writes it: a group added to the host',
    });
    // So must `localhost` and a host with its port (no dot to tell them complete).
    for (const host of ['localhost', 'registry:5000']) {
      const whole = rewriterFrom(`rules:\n  - name: w\n    regex: 'gcr\\.io(.*)'\n    replace: '${host}$1'\n`);
      expect(whole.rewrite('gcr.io/team/app:1')).toMatchObject({ kind: 'rewritten', rewritten: `${host}/team/app:1` });
      expect(whole.rewrite('gcr.io.evil.example/app:1')).toMatchObject({ kind: 'rejected' });
      expect(whole.rewrite('gcr.io0/app:1')).toMatchObject({ kind: 'rejected' });
    }
    // A host the template leaves open for a group to complete (`mirror.$1`) is the rule's own choice.
    const open = rewriterFrom(`rules:\n  - name: o\n    regex: '([a-z]+)\\.gcr\\.io/(.*)'\n    replace: 'mirror.$1/$2'\n`);
    expect(open.rewrite('eu.gcr.io/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.eu/app:1' });
    // The host's text is compared as the template writes it (capitals, :443): the result's host comes from that same text.
    const spelled = rewriterFrom(`rules:\n  - name: s\n    regex: '(.*)\\.gcr\\.io/(.*)'\n    replace: '$1.Mirror.Example.com:443/$2'\n`);
    expect(spelled.rewrite('eu.gcr.io/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'eu.Mirror.Example.com:443/app:1' });
    expect(spelled.rewrite('evil.example/x.gcr.io/app:1')).toMatchObject({ kind: 'rejected' });
    // A host from a group after the host's text (a port, then the path) is the rule's own choice.
    const port = rewriterFrom(`rules:\n  - name: p\n    regex: 'registry\\.corp:(.*)'\n    replace: 'mirror.corp:$1'\n`);
    expect(port.rewrite('registry.corp:5000/team/app:1')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.corp:5000/team/app:1' });
  });

  it('keeps a host written with ${env:NAME} and followed directly by a group to that host (the ECR host of the README)', () => {
    const env = { AWS_ACCOUNT_ID: '123456789012', AWS_REGION: 'us-west-2', AWS_URL_SUFFIX: 'amazonaws.com' };
    const ecr = rewriterFrom(`rules:\n  - name: e\n    regex: 'gcr\\.io(.*)'\n    replace: '\${env:AWS_ACCOUNT_ID}.dkr.ecr.\${env:AWS_REGION}.\${env:AWS_URL_SUFFIX}$1'\n`, env);
    expect(ecr.rewrite('gcr.io/team/app:1')).toMatchObject({ kind: 'rewritten', rewritten: '123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:1' });
    expect(ecr.rewrite('gcr.io.evil.example/app:1')).toMatchObject({
      kind: 'rejected',
      candidate: '123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.example/app:1',
      error: expect.stringContaining('whose registry host is not "123456789012.dkr.ecr.us-west-2.amazonaws.com" as its replace writes it') as unknown as string,
    });
    // With verify, such a host is the rule's own: no warning that the Pod names the host asked.
    const verified = parseRules(`rules:\n  - name: v\n    regex: 'gcr\\.io(.*)'\n    replace: 'mirror.\${env:AWS_URL_SUFFIX}$1'\n    verify: true\n`, env);
    expect(verified.ok && verified.warnings.map((w) => w.message)).toEqual([]);
  });

  it('leaves the image alone when a result has no path after its host (a one-component name is Docker Hub\'s)', () => {
    const r = rewriterFrom(`rules:\n  - name: r\n    regex: 'gcr\\.io/([a-z]+)'\n    replace: '$1.example.com'\n`);
    expect(r.rewrite('gcr.io/app:1')).toMatchObject({ kind: 'rejected', error: 'rule "r" produced "app.example.com:1", which does not start with a registry host: the kubelet would pull it from Docker Hub' });
    expect(r.rewrite('gcr.io/app')).toMatchObject({ kind: 'rejected', candidate: 'app.example.com' });
  });

  it('is refused at load when the template is all text and has no path after its host', () => {
    const r = parseRules(`rules:\n  - name: r\n    regex: 'quay\\.io/nginx'\n    replace: 'nginx.example.com'\n`, {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map(formatIssue)).toEqual([
      'rules[0].replace: "nginx.example.com" has no path after its host, so the kubelet would pull it from Docker Hub (docker.io/library/nginx.example.com); write the repository too, e.g. "nginx.example.com/app"',
    ]);
    expect(parseRules(`rules:\n  - name: r\n    regex: 'quay\\.io/nginx'\n    replace: 'nginx.example.com/nginx'\n`, {}).ok).toBe(true);
  });
});

describe('validation warnings', () => {
  it.each([
    ['a zero-width space after a group', 'gcr\\.io/(.*)\u200b', 'U+200B at character 13, not printable ASCII (a look-alike or invisible character copied with it?)'],
    ['a trailing space', 'gcr\\.io/(.*) ', 'a space at character 13'],
    ['a Cyrillic o in an alternative', '(?:quay|d\u043ecker)\\.io/(.*)', 'U+043E at character 10, not printable ASCII (a look-alike or invisible character copied with it?)'],
  ])('warns about a regex holding %s past its literal start, which no name holds', (_what, regex, where) => {
    const r = parseRules(`rules:\n  - ${JSON.stringify({ name: 'r', regex, replace: 'mirror.example.com/x/$1' })}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([`rules[0].regex: rule "r": its regex holds ${where}, which no name holds; remove it`.replace('\u200b', '\\u200b')]);
  });

  it('does not warn about a space or a look-alike inside a character class, or written as an escape', () => {
    const r = parseRules(`rules:\n  - ${JSON.stringify({ name: 'r', regex: 'gcr\\.io/([^ /\u200b]+)/x\\u0020?(.*)', replace: 'mirror.example.com/x/$1/$2' })}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
  });
  it.each([
    {
      why: 'a narrower prefix after a broader one',
      doc: 'rules:\n  - {name: all, match: docker.io, replace: a.example.com}\n  - {name: nginx, match: docker.io/library/nginx, replace: b.example.com}\n',
      want: 'rules[1]: rule "nginx" is never used: rule "all" (rules[0]) matches everything it matches and comes first',
    },
    {
      // check-config said "ok"; every image the regex names was taken by the prefix rule before it.
      why: 'a regex rule whose literal start an earlier prefix rule covers',
      doc: "rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n  - {name: team, regex: 'gcr\\.io/team/(.*)', replace: mirror.example.com/team/$1}\n",
      want: 'rules[1]: rule "team" is never used: rule "gcr" (rules[0]) matches everything it matches and comes first',
    },
    {
      why: 'a regex rule whose literal start ends inside a component under an earlier prefix rule',
      doc: "rules:\n  - {name: lib, match: docker.io/library, replace: mirror.example.com/lib}\n  - {name: ng, regex: 'docker\\.io/library/ng(.*)', replace: other.example.com/ng$1}\n",
      want: 'rules[1]: rule "ng" is never used: rule "lib" (rules[0]) matches everything it matches and comes first',
    },
    {
      why: 'a prefix rule under an earlier regex rule that takes every name after its literal start',
      doc: "rules:\n  - {name: gcr, regex: 'gcr\\.io/(.*)', replace: asia.gcr.io/$1}\n  - {name: team, match: gcr.io/team, replace: mirror.example.com/team}\n",
      want: 'rules[1]: rule "team" is never used: rule "gcr" (rules[0]) matches everything it matches and comes first',
    },
    {
      why: 'a prefix rule under an earlier regex rule of a host and an optional path',
      doc: "rules:\n  - {name: quay, regex: 'quay\\.io(/.*)?', replace: mirror.example.com/quay$1}\n  - {name: q, match: quay.io, replace: other.example.com/q}\n",
      want: 'rules[1]: rule "q" is never used: rule "quay" (rules[0]) matches everything it matches and comes first',
    },
    {
      why: 'a regex rule whose literal start an earlier regex rule takes whole',
      doc: "rules:\n  - {name: gcr, regex: 'gcr\\.io/(.+)', replace: asia.gcr.io/$1}\n  - {name: team, regex: 'gcr\\.io/team/([a-z]+)', replace: mirror.example.com/team/$1}\n",
      want: 'rules[1]: rule "team" is never used: rule "gcr" (rules[0]) matches everything it matches and comes first',
    },
    {
      why: 'the same regex twice',
      doc: "rules:\n  - {name: a, regex: 'x\\.io/(.*)', replace: a.example.com/$1}\n  - {name: b, regex: 'x\\.io/(.*)', replace: b.example.com/$1}\n",
      want: 'rules[1]: rule "b" is never used: rule "a" (rules[0]) matches everything it matches and comes first',
    },
    {
      // check-config said "ok"; every k8s.gcr.io image was then left alone at admission.
      why: 'a prefix rule whose every result another rule would rewrite again (so none is applied)',
      doc: 'rules:\n  - {name: legacy, match: k8s.gcr.io, replace: registry.k8s.io}\n  - {name: k8s, match: registry.k8s.io, replace: mirror.example.com/k8s}\n',
      want: 'rules[0].replace: rule "legacy" rewrites nothing: rule "k8s" (rules[1]) matches every name it produces ("registry.k8s.io/..."), and a result that a rule would rewrite again is not applied; write the final target',
    },
    {
      // "Mirror everything" behind a rule that takes the mirror's names: check-config said "ok"; at
      // admission every image was left alone. (Alone, the rule leaves its own results: rewritten once.)
      why: 'a regex rule whose every result an earlier rule would rewrite again',
      doc: "exclude: [other.example.com]\nrules:\n  - {name: m, regex: 'mirror\\.example\\.com/(.*)', replace: other.example.com/$1}\n  - {name: everything, regex: '(.+)', replace: mirror.example.com/$1}\n",
      want: 'rules[1].replace: rule "everything" rewrites nothing: rule "m" (rules[0]) matches what it produces (it gives "mirror.example.com/x.x/x" for "x.x/x"), and a result that a rule would rewrite again is not applied; narrow the regex, or exclude the target',
    },
    {
      why: 'a regex rule whose results a later rule would rewrite again',
      doc: "rules:\n  - {name: quay, regex: 'quay\\.io/(.+)', replace: mirror.example.com/quay/$1}\n  - {name: mirror, match: mirror.example.com, replace: other.example.com/m}\n",
      want: 'rules[0].replace: rule "quay" rewrites nothing: rule "mirror" (rules[1]) matches what it produces (it gives "mirror.example.com/quay/x" for "quay.io/x"), and a result that a rule would rewrite again is not applied; narrow the regex, or exclude the target',
    },
    {
      why: 'a regex rule whose group starts the path, and whose results a later rule would rewrite again',
      doc: "rules:\n  - {name: gcr, regex: 'gcr\\.io(/.*)', replace: mirror.example.com$1}\n  - {name: m, regex: 'mirror\\.example\\.com/(.*)', replace: other.example.com/$1}\n",
      want: 'rules[0].replace: rule "gcr" rewrites nothing: rule "m" (rules[1]) matches what it produces (it gives "mirror.example.com/x" for "gcr.io/x"), and a result that a rule would rewrite again is not applied; narrow the regex, or exclude the target',
    },
    {
      // check-config said "ok"; no image under gcr.io was ever rewritten.
      why: 'a prefix rule an exclude covers',
      doc: 'exclude: [gcr.io]\nrules:\n  - {name: team, match: gcr.io/team, replace: mirror.example.com/team}\n',
      want: 'rules[0]: rule "team" is never used: exclude "gcr.io" covers every name it matches',
    },
    {
      why: 'a regex rule whose literal start an exclude covers',
      doc: "exclude: [docker.io/library]\nrules:\n  - {name: lib, regex: 'docker\\.io/library/ng(.*)', replace: mirror.example.com/ng$1}\n",
      want: 'rules[0]: rule "lib" is never used: exclude "docker.io/library" covers every name it matches',
    },
    {
      // check-config said "ok": a `|` in a group was read as one that may start another branch.
      why: 'a regex rule with an alternation in a group, whose literal start an exclude covers',
      doc: "exclude: [gcr.io/team]\nrules:\n  - {name: team, regex: 'gcr\\.io/team/(app|web)', replace: mirror.example.com/team/$1}\n",
      want: 'rules[0]: rule "team" is never used: exclude "gcr.io/team" covers every name it matches',
    },
    { why: 'no rules', doc: 'rules: []\n', want: 'rules: no rules: nothing will be rewritten' },
    {
      // check-config --strict said "ok"; the rule applies in no namespace.
      why: 'a rule whose namespaces its excludeNamespaces all exclude',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, namespaces: [shop, team-a], excludeNamespaces: [shop, "team-*"]}\n',
      want: 'rules[0].excludeNamespaces: rule "gcr" is never used: its excludeNamespaces exclude every namespace its namespaces name ("shop" by "shop", "team-a" by "team-*")',
    },
    {
      why: 'a rule whose namespaces glob is excluded as written',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, namespaces: ["team-*"], excludeNamespaces: ["team-*"]}\n',
      want: 'rules[0].excludeNamespaces: rule "gcr" is never used: its excludeNamespaces exclude every namespace its namespaces name ("team-*" by "team-*")',
    },
    {
      why: 'a rule whose many namespaces its excludeNamespaces all exclude (the first three named)',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, namespaces: [a, b, c, d, e], excludeNamespaces: [a, b, c, d, e]}\n',
      want: 'rules[0].excludeNamespaces: rule "gcr" is never used: its excludeNamespaces exclude every namespace its namespaces name ("a" by "a", "b" by "b", "c" by "c", 2 more)',
    },
    {
      // check-config said "ok"; a namespace name is a DNS label of at most 63 characters.
      why: 'a namespaces entry longer than any namespace name',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, namespaces: [shop, nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn]}\n',
      want: 'rules[0].namespaces[1]: rule "gcr": "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn" is 64 characters, longer than a namespace name can be (63), so it matches no namespace',
    },
    {
      why: 'an excludeNamespaces entry longer than any namespace name',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, excludeNamespaces: [nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn]}\n',
      want: 'rules[0].excludeNamespaces[0]: rule "gcr": "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn" is 64 characters, longer than a namespace name can be (63), so it matches no namespace',
    },
    {
      why: 'a namespaces entry far longer than any namespace name, quoted up to 80 characters',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, namespaces: [nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn]}\n',
      want: 'rules[0].namespaces[0]: rule "gcr": "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn..." is 100 characters, longer than a namespace name can be (63), so it matches no namespace',
    },
    {
      why: 'a rule that excludes every namespace by a glob of stars',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, excludeNamespaces: ["**"]}\n',
      want: 'rules[0].excludeNamespaces: rule "gcr" rewrites nothing at admission: its excludeNamespaces exclude every namespace ("**"); only render applies it, to objects without a namespace and without --namespace',
    },
    {
      why: 'a rule limited to namespaces that excludes every namespace (said once)',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, namespaces: [a], excludeNamespaces: ["*"]}\n',
      want: 'rules[0].excludeNamespaces: rule "gcr" rewrites nothing at admission: its excludeNamespaces exclude every namespace ("*"); only render applies it, to objects without a namespace and without --namespace',
    },
    {
      why: 'a rule that excludes every namespace',
      doc: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, excludeNamespaces: [a, "*"]}\n',
      want: 'rules[0].excludeNamespaces: rule "gcr" rewrites nothing at admission: its excludeNamespaces exclude every namespace ("*"); only render applies it, to objects without a namespace and without --namespace',
    },
    {
      // CRI-O's parser (containers/image) has no IPv6 hosts: every Pod rewritten to it failed there.
      why: 'a replace whose registry is an IPv6 address',
      doc: "rules:\n  - {name: hub, match: docker.io, replace: '[fd00::1]:5000/hub'}\n",
      want: 'rules[0].replace: "[fd00::1]:5000/hub" names its registry by an IPv6 address: the kubelet and containerd pull such images, but CRI-O and Podman refuse them as invalid references (InvalidImageName); on CRI-O nodes give the registry a host name',
    },
    {
      why: 'a regex rule\'s template whose registry is an IPv6 address',
      doc: "rules:\n  - {name: quay, regex: 'quay\\.io/(.+)', replace: '[fd00::1]/quay/$1'}\n",
      want: 'rules[0].replace: "[fd00::1]/quay/$1" names its registry by an IPv6 address: the kubelet and containerd pull such images, but CRI-O and Podman refuse them as invalid references (InvalidImageName); on CRI-O nodes give the registry a host name',
    },
    {
      // Any host:port the webhook reaches was probed for whoever may create Pods, and the warning
      // told them "connection refused", "not TLS" or "cannot resolve": check-config said "ok".
      why: 'a verify rule whose replace takes its registry host from a group',
      doc: "rules:\n  - {name: keep-host, regex: '(?<host>[^/]+)/team/(?<rest>.+)', replace: '$<host>/mirror/$<rest>', verify: true}\n",
      want: `rules[0].verify: ${HOST_FROM_GROUP_WARNING}`,
    },
    {
      // check-config said "ok"; no index entry has a variant "10.0.20348": every check missing,
      // every Pod denied with onMissing: deny (a Windows build is an entry's os.version).
      why: 'a verify rule whose platform gives a Windows build as its variant',
      doc: 'rules:\n  - {name: win, match: mcr.microsoft.com, replace: mirror.example.com/mcr, verify: true, onMissing: deny, platforms: [windows/amd64/10.0.20348]}\n',
      want: 'rules[0].platforms[0]: "windows/amd64/10.0.20348": 10.0.20348 is a Windows build, not a variant: an index gives the build as an entry\'s os.version, and no entry has that variant, so every check of rule "win" would find the target missing; write windows(10.0.20348)/amd64 (an entry of that build then counts), or windows/amd64 (one of any build)',
    },
    {
      // The build with its revision as the variant: the hint gives the build containerd compares.
      why: 'a verify rule whose platform gives a Windows build and revision as its variant',
      doc: 'rules:\n  - {name: win, match: mcr.microsoft.com, replace: mirror.example.com/mcr, verify: true, platforms: [windows/amd64/10.0.17763.6414]}\n',
      want: 'rules[0].platforms[0]: "windows/amd64/10.0.17763.6414": 10.0.17763.6414 is a Windows build, not a variant: an index gives the build as an entry\'s os.version, and no entry has that variant, so every check of rule "win" would find the target missing; write windows(10.0.17763)/amd64 (an entry of that build then counts), or windows/amd64 (one of any build)',
    },
    {
      // An index entry's os.version is a build (10.0.20348.2700); a release name matches none.
      why: 'a verify rule whose platform gives an OS version that is no Windows build',
      doc: 'rules:\n  - {name: win, match: mcr.microsoft.com, replace: mirror.example.com/mcr, verify: true, platforms: [windows(ltsc2022)/amd64, windows(10.0)/amd64, windows(v10.0.20348)/amd64]}\n',
      want: [
        'rules[0].platforms[0]: "windows(ltsc2022)/amd64": ltsc2022 is not a Windows build (major.minor.build, what an entry\'s os.version begins with), so every check of rule "win" would find the target missing; write the build, like windows(10.0.17763)/amd64 for ltsc2019, windows(10.0.20348)/amd64 for ltsc2022',
        'rules[0].platforms[1]: "windows(10.0)/amd64": 10.0 is not a Windows build (major.minor.build, what an entry\'s os.version begins with), so every check of rule "win" would find the target missing; write the build, like windows(10.0.17763)/amd64 for ltsc2019, windows(10.0.20348)/amd64 for ltsc2022',
        'rules[0].platforms[2]: "windows(v10.0.20348)/amd64": v10.0.20348 is not a Windows build (major.minor.build, what an entry\'s os.version begins with), so every check of rule "win" would find the target missing; write the build, like windows(10.0.17763)/amd64 for ltsc2019, windows(10.0.20348)/amd64 for ltsc2022',
      ],
    },
    {
      // containerd's Parse takes it, so the document is valid; but no Linux index entry carries an
      // os.version, which the check compares as written.
      why: 'a verify rule whose platform gives an OS version on another OS than Windows',
      doc: 'rules:\n  - {name: hub, match: docker.io, replace: mirror.example.com/hub, verify: true, platforms: [linux(5.15)/arm64/v8]}\n',
      want: 'rules[0].platforms[0]: "linux(5.15)/arm64/v8": 5.15 is an OS version, which the check compares with an entry\'s os.version as written, though only Windows images carry one and only a Windows node compares it, so every check of rule "hub" would find the target missing; write linux/arm64/v8',
    },
    {
      why: 'a verify rule whose platform names an OS no image is built for',
      doc: 'rules:\n  - {name: hub, match: docker.io, replace: mirror.example.com/hub, verify: true, platforms: [linux/amd64, lnux/arm64]}\n',
      want: 'rules[0].platforms[1]: "lnux/arm64": no image is built for the OS "lnux", so every check of rule "hub" would find the target missing; write it as an image index names it (linux/amd64, linux/arm64/v8, windows/amd64, windows(10.0.20348)/amd64)',
    },
    {
      // containerd knows amd64 v1 to v4, arm v5 to v8, arm64 v8 and v9 (with a minor): with deny, a
      // v9 amd64 entry denied every Pod, though the document was valid.
      why: 'a verify rule whose platform names a variant no image of its architecture has',
      doc: 'rules:\n  - {name: hub, match: docker.io, replace: mirror.example.com/hub, verify: true, platforms: [linux/amd64/v9, linux/arm/v9, linux/arm64/v7, linux/x86_64/v5, linux/ppc64le/power9]}\n',
      want: [
        'rules[0].platforms[0]: "linux/amd64/v9": no image is built for the amd64 variant "v9" (v1 to v4), so every check of rule "hub" would find the target missing; write linux/amd64/v2, or linux/amd64 (any variant)',
        'rules[0].platforms[1]: "linux/arm/v9": no image is built for the arm variant "v9" (v5 to v8), so every check of rule "hub" would find the target missing; write linux/arm/v7, or linux/arm (any variant)',
        'rules[0].platforms[2]: "linux/arm64/v7": no image is built for the arm64 variant "v7" (v8, v8.1 to v8.9, v9, v9.1 to v9.9), so every check of rule "hub" would find the target missing; write linux/arm64/v8, or linux/arm64 (any variant)',
        'rules[0].platforms[3]: "linux/x86_64/v5": no image is built for the x86_64 variant "v5" (v1 to v4), so every check of rule "hub" would find the target missing; write linux/x86_64/v2, or linux/x86_64 (any variant)',
      ],
    },
    {
      why: 'a verify rule whose platform names an architecture no image is built for',
      doc: 'rules:\n  - {name: hub, match: docker.io, replace: mirror.example.com/hub, verify: true, platforms: [linux/amd46]}\n',
      want: 'rules[0].platforms[0]: "linux/amd46": no image is built for the architecture "amd46", so every check of rule "hub" would find the target missing; write it as an image index names it (linux/amd64, linux/arm64/v8, windows/amd64, windows(10.0.20348)/amd64)',
    },
    {
      // check-config said "ok"; an ECR pull-through cache of Docker Hub has nginx as
      // docker-hub/library/nginx only, so every official image rewritten so failed to pull.
      why: 'a rule that drops the library/ of official images on their way to a private ECR',
      doc: 'rules:\n  - {name: hub, match: docker.io/library, replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub}\n',
      want: 'rules[0].replace: rule "hub" rewrites docker.io/library/nginx to 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/nginx: an ECR pull-through cache of Docker Hub has it only as .../library/nginx (an official image keeps its library/), so such Pods would fail to pull; for a pull-through cache write match: docker.io and replace: <registry>/<cache prefix> (normalized names have library/ for official images only), or ignore this if these repositories are not a pull-through cache',
    },
    {
      why: 'a regex rule, and a rule for one official image, that drop its library/ (dual-stack ECR host)',
      doc: "rules:\n  - {name: pg, match: docker.io/library/postgres, replace: 123456789012.dkr-ecr.eu-west-1.on.aws/docker-hub/postgres}\n  - {name: hub, regex: 'docker\\.io/library/(.+)', replace: '123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/$1'}\n",
      want: [
        'rules[0].replace: rule "pg" rewrites docker.io/library/postgres to 123456789012.dkr-ecr.eu-west-1.on.aws/docker-hub/postgres: an ECR pull-through cache of Docker Hub has it only as .../library/postgres (an official image keeps its library/), so such Pods would fail to pull; for a pull-through cache write match: docker.io and replace: <registry>/<cache prefix> (normalized names have library/ for official images only), or ignore this if these repositories are not a pull-through cache',
        'rules[1].replace: rule "hub" rewrites docker.io/library/nginx to 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/nginx: an ECR pull-through cache of Docker Hub has it only as .../library/nginx (an official image keeps its library/), so such Pods would fail to pull; for a pull-through cache write match: docker.io and replace: <registry>/<cache prefix> (normalized names have library/ for official images only), or ignore this if these repositories are not a pull-through cache',
      ],
    },
    {
      why: 'a rule that gives every Docker Hub image a library/ on its way to a private ECR',
      doc: 'rules:\n  - {name: hub, match: docker.io, replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/library}\n',
      want: 'rules[0].replace: rule "hub" rewrites docker.io/bitnami/redis to 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/library/bitnami/redis: an ECR pull-through cache of Docker Hub has it only as .../bitnami/redis (library/ is for official images alone), so such Pods would fail to pull; for a pull-through cache write match: docker.io and replace: <registry>/<cache prefix> (normalized names have library/ for official images only), or ignore this if these repositories are not a pull-through cache',
    },
  ])('$why', ({ doc, want }) => {
    const r = parseRules(doc, {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.warnings.map(formatIssue)).toEqual(typeof want === 'string' ? [want] : want);
    expect(r.warnings.every((w) => w.severity === 'warning')).toBe(true);
  });

  it.each([
    ['match: docker.io, the pull-through cache preset', 'match: docker.io, replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub'],
    ['official images with their library/', 'match: docker.io/library, replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/library'],
    ['one official image with its library/', 'match: docker.io/library/nginx, replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/library/nginx'],
    ['a Docker Hub organization', 'match: docker.io/bitnami, replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/bitnami'],
    ['a registry other than ECR', 'match: docker.io/library, replace: mirror.example.com/docker-hub'],
    ['an ECR prefix other than docker-hub (repositories filled by hand)', 'match: docker.io/library, replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/dockerhub'],
    ['ECR Public, no private ECR', 'match: docker.io/library, replace: public.ecr.aws/docker/library/x'],
  ])('gives no ECR library/ warning for %s', (_why, fields) => {
    const r = parseRules(`rules:\n  - {name: hub, ${fields}}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
  });

  it('gives no warning for WebAssembly images as Docker builds them (wasi/wasm, docker buildx build --platform wasi/wasm)', () => {
    const r = parseRules('rules:\n  - {name: hub, match: docker.io, replace: mirror.example.com/hub, verify: true, platforms: [wasi/wasm, wasip1/wasm]}\n', {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
  });

  it.each([['windows()/amd64'], ['windows(10.0.20348/amd64'], ['windows/amd64(10.0.20348)'], ['windows(10.0.20348)'], ['(10.0.20348)/amd64']])('refuses the platform %s, not os[(osversion)]/architecture[/variant] as containerd parses it', (platform) => {
    const r = parseRules(`rules:\n  - {name: win, match: mcr.microsoft.com, replace: mirror.example.com/mcr, verify: true, platforms: ["${platform}"]}\n`, {});
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([`rules[0].platforms[0]: "${platform}" must be os/architecture[/variant] (the os with its version as os(osversion) for a Windows build), like linux/amd64, linux/arm64/v8 or windows(10.0.20348)/amd64`]);
  });

  it('gives no warning for platforms images are built for, in containerd\'s spellings too', () => {
    const platforms = '[linux/amd64, linux/arm64/v8, linux/arm/v7, linux/x86_64, linux/aarch64, linux/armhf, windows/amd64, linux/amd64/v3, linux/s390x, linux/ppc64le, linux/riscv64, linux/386, darwin/arm64, macos/arm64, linux/armel, linux/arm/6, linux/arm/v5, linux/arm/v8, linux/arm64/v8.2, linux/arm64/v9, linux/aarch64/8, linux/amd64/v1, linux/amd64/v4, "windows(10.0.20348)/amd64", "windows(10.0.17763.6414)/amd64"]';
    const r = parseRules(`rules:\n  - {name: hub, match: docker.io, replace: mirror.example.com/hub, verify: true, platforms: ${platforms}}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
  });

  it.each([
    ['a prefix rule deeper than the regex\'s literal start', '  - {name: team, match: gcr.io/team, replace: asia.gcr.io/team}\n', 'gcr\\.io/te(.*)'],
    ['a prefix rule that continues the literal start\'s last component', '  - {name: team, match: gcr.io/team, replace: asia.gcr.io/team}\n', 'gcr\\.io/team[a-z]*/(.*)'],
    ['a prefix rule limited to namespaces', '  - {name: gcr, match: gcr.io, replace: asia.gcr.io, namespaces: [a]}\n', 'gcr\\.io/(.*)'],
    ['a prefix rule after the regex rule', '', 'gcr\\.io/(.*)', '  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n'],
    ['an earlier regex rule of a class', '  - {name: gcr, regex: \'gcr\\.io/([a-z]+)\', replace: asia.gcr.io/$1}\n', 'gcr\\.io/team/(.*)'],
    ['an earlier regex rule that takes names longer than its literal only', '  - {name: gcr, regex: \'gcr\\.io/team(.+)\', replace: asia.gcr.io/$1}\n', 'gcr\\.io/team(.*)'],
    ['an earlier regex rule of a host and an optional path, and a longer host', '  - {name: q, regex: \'quay\\.io(/.*)?\', replace: asia.gcr.io/q$1}\n', 'quay\\.io\\.example\\.com/(.*)'],
  ])('does not say a regex rule is never used for %s', (_why, before, regex, after = '') => {
    const r = parseRules(`rules:\n${before}  - {name: r, regex: '${regex}', replace: mirror.example.com/$1}\n${after}`, {});
    expect(r.ok && r.warnings.map(formatIssue).filter((w) => w.includes('never used'))).toEqual([]);
  });

  it.each([
    ['one of its namespaces is not excluded', 'namespaces: [shop, web], excludeNamespaces: [shop]'],
    ['a glob that an exclude covers only in part', 'namespaces: ["team-*"], excludeNamespaces: [team-a]'],
    ['excludes only', 'excludeNamespaces: ["team-*", "?"]'],
    // A glob of namespaces is not a name: "a?" takes "ab" but not "abc", which "a*" names.
    ['its namespaces glob is taken by an exclude glob only as text', 'namespaces: ["a*"], excludeNamespaces: ["a?"]'],
  ])('does not say a rule limited to namespaces is never used when %s', (_why, fields) => {
    const r = parseRules(`rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, ${fields}}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
  });

  // Globs are tried against names within a budget for the whole document (100,000 tries; a 1 MiB
  // document may hold some 100,000 namespaces and as many globs), past it exact entries alone decide.
  it('tries globs of excludeNamespaces within one budget for the whole document, past it decides by exact entries only', () => {
    const rule = (name: string, host: string): string => {
      const namespaces = Array.from({ length: 300 }, (_, i) => `n${i}`);
      const excludes = [...Array.from({ length: 199 }, (_, i) => `x${i}`), 'n*'];
      return `  - {name: ${name}, match: ${host}, replace: mirror.example.com/${name}, namespaces: [${namespaces.join(', ')}], excludeNamespaces: [${excludes.map((e) => JSON.stringify(e)).join(', ')}]}\n`;
    };
    // 300 x 200 = 60,000 tries each: the first within the budget, the second past what is left of it.
    const r = parseRules(`rules:\n${rule('a', 'gcr.io')}${rule('b', 'quay.io')}`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([
      'rules[0].excludeNamespaces: rule "a" is never used: its excludeNamespaces exclude every namespace its namespaces name ("n0" by "n*", "n1" by "n*", "n2" by "n*", 297 more)',
    ]);
  });

  it.each([
    ['the later rule is limited to namespaces', '  - {name: k8s, match: registry.k8s.io, replace: mirror.example.com/k8s, excludeNamespaces: [x]}\n'],
    // The exclude makes the second rule useless, which is said, but the first rule's results apply.
    ['the results are excluded', '  - {name: k8s, match: registry.k8s.io, replace: mirror.example.com/k8s}\nexclude: [registry.k8s.io]\n', ['rules[1]: rule "k8s" is never used: exclude "registry.k8s.io" covers every name it matches']],
    ['the other rule matches only deeper names', '  - {name: k8s, match: registry.k8s.io/pause, replace: mirror.example.com/k8s}\n'],
    // Some of its results (registry.k8s.io/pause/...) are excluded, so those are applied.
    ['an exclude covers some of the results', '  - {name: k8s, match: registry.k8s.io, replace: mirror.example.com/k8s}\nexclude: [registry.k8s.io/pause]\n'],
  ])('does not warn about rewriting again when %s', (_why, more, want: readonly string[] = []) => {
    const r = parseRules(`rules:\n  - {name: legacy, match: k8s.gcr.io, replace: registry.k8s.io}\n${more}`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual(want);
  });

  it.each([
    // check-config said "ok"; the image registry:05000/app is registry:5000/app to the rules, which the regex never matched.
    ['registry:05000/(.*)', 'no name starts with "registry:05000": a registry host is compared as the kubelet reads it (a port without its leading zeros, no ":443", Docker Hub\'s hosts as docker.io), "registry:5000" here; write "registry:5000/(.*)"', 'registry:05000/app'],
    ['reg\\.example\\.com:05[0-9]+/(.*)', 'no name starts with "reg.example.com:05": a registry host is compared as the kubelet reads it (a port without its leading zeros, no ":443", Docker Hub\'s hosts as docker.io), "reg.example.com:5" here; write "reg\\.example\\.com:5[0-9]+/(.*)"', 'reg.example.com:0500/app'],
    ['ghcr\\.io:443/(.*)', 'no name starts with "ghcr.io:443": a registry host is compared as the kubelet reads it (a port without its leading zeros, no ":443", Docker Hub\'s hosts as docker.io), "ghcr.io" here; write "ghcr\\.io/(.*)"', 'ghcr.io:443/app'],
    ['index\\.docker\\.io/(.*)', 'no name starts with "index.docker.io": a registry host is compared as the kubelet reads it (a port without its leading zeros, no ":443", Docker Hub\'s hosts as docker.io), "docker.io" here; write "docker\\.io/(.*)"', 'index.docker.io/team/app'],
    // check-config said "ok"; the image GCR.io/app is gcr.io/app to the rules.
    ['GCR\\.io/(.*)', 'no name has the capitals of "GCR.io/" (a registry host is compared in lower case, and a path is lower case); write "gcr\\.io/(.*)"', 'GCR.io/app'],
    ['^Quay\\.io/(.*)$', 'no name has the capitals of "Quay.io/" (a registry host is compared in lower case, and a path is lower case); write "^quay\\.io/(.*)$"', 'quay.io/app'],
    ['bitnami/(.*)', 'no name starts with "bitnami/": a name starts with its registry host (docker.io/library/nginx); write "docker\\.io/bitnami/(.*)"', 'bitnami/redis'],
    // Capitals in a first component that is no host in lower case either: the spelling given was "bitnami/(.*)", which warned in turn.
    ['Bitnami/(.*)', 'no name has the capitals of "Bitnami/" (a registry host is compared in lower case, and a path is lower case); write "docker\\.io/bitnami/(.*)"', 'bitnami/redis'],
    // Capitals of a host spelled otherwise in lower case too: the spelling given was "index\.docker\.io/(.*)", "registry:05000/(.*)", which warned in turn.
    ['Index\\.docker\\.io/(.*)', 'no name has the capitals of "Index.docker.io/" (a registry host is compared in lower case, and a path is lower case); write "docker\\.io/(.*)"', 'index.docker.io/team/app'],
    ['^Registry:05000/(.*)$', 'no name has the capitals of "Registry:05000/" (a registry host is compared in lower case, and a path is lower case); write "^registry:5000/(.*)$"', 'registry:05000/app'],
    ['GCR\\.io:443/Team/(.*)', 'no name has the capitals of "GCR.io:443/Team/" (a registry host is compared in lower case, and a path is lower case); write "gcr\\.io/team/(.*)"', 'gcr.io/team/app'],
  ])('warns that a regex rule %s, spelled otherwise than names are compared, matches nothing, and how to write it', (regex, why, image) => {
    const r = parseRules(`rules:\n  - {name: r, regex: '${regex}', replace: 'mirror.example.com/$1'}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([`rules[0].regex: rule "r" matches nothing: ${why}`]);
    if (!r.ok) return;
    expect(explainImage(r.rewriter, image)).toMatchObject({ rewritten: image, rule: '' });
    // The spelling it gives matches that image.
    const fixed = /write "(.*)"$/.exec(why)?.[1] ?? '';
    const again = parseRules(`rules:\n  - {name: r, regex: '${fixed}', replace: 'mirror.example.com/$1'}\n`, {});
    expect(again.ok && again.warnings).toEqual([]);
    if (again.ok) expect(explainImage(again.rewriter, image)).toMatchObject({ rule: 'r' });
  });

  it.each([
    // A regex of one component: check-config said "ok", and the rule rewrote nothing.
    ['nginx', 'no name is "nginx": a name starts with its registry host (docker.io/library/nginx); write "docker\\.io/library/nginx"', 'nginx:1.27'],
    ['^nginx$', 'no name is "nginx": a name starts with its registry host (docker.io/library/nginx); write "^docker\\.io/library/nginx$"', 'nginx'],
    ['NGINX', 'no name has the capitals of "NGINX" (a registry host is compared in lower case, and a path is lower case); write "docker\\.io/library/nginx"', 'nginx'],
    // A host alone: meant with its path, not as Docker Hub's image "gcr.io".
    ['gcr\\.io', 'no name is "gcr.io": a name has a path after its registry host; write "gcr\\.io/(.*)"', 'gcr.io/app'],
    ['^GCR\\.io$', 'no name has the capitals of "GCR.io" (a registry host is compared in lower case, and a path is lower case); write "^gcr\\.io/(.*)$"', 'gcr.io/app'],
    ['Index\\.Docker\\.IO', 'no name has the capitals of "Index.Docker.IO" (a registry host is compared in lower case, and a path is lower case); write "docker\\.io/(.*)"', 'index.docker.io/team/app'],
    // A host with its port alone: check-config said "ok", and for Registry:5000 told to write registry:5000, which matched nothing either.
    ['localhost', 'no name is "localhost": a name has a path after its registry host; write "localhost/(.*)"', 'localhost/app'],
    ['registry:5000', 'no name is "registry:5000": a name has a path after its registry host; write "registry:5000/(.*)"', 'registry:5000/app'],
    ['^localhost:5000$', 'no name is "localhost:5000": a name has a path after its registry host; write "^localhost:5000/(.*)$"', 'localhost:5000/app'],
    ['gcr\\.io:443', 'no name is "gcr.io:443": a name has a path after its registry host; write "gcr\\.io/(.*)"', 'gcr.io/app'],
    ['Registry:05000', 'no name has the capitals of "Registry:05000" (a registry host is compared in lower case, and a path is lower case); write "registry:5000/(.*)"', 'registry:5000/app'],
  ])('warns that a regex rule of one component (%s) matches nothing, and how to write it', (regex, why, image) => {
    const r = parseRules(`rules:\n  - {name: r, regex: '${regex}', replace: 'mirror.example.com/nginx'}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([`rules[0].regex: rule "r" matches nothing: ${why}`]);
    if (!r.ok) return;
    expect(explainImage(r.rewriter, image)).toMatchObject({ rewritten: image, rule: '' });
    const fixed = /write "(.*)"$/.exec(why)?.[1] ?? '';
    const again = parseRules(`rules:\n  - {name: r, regex: '${fixed}', replace: 'mirror.example.com/nginx'}\n`, {});
    expect(again.ok && again.warnings).toEqual([]);
    if (again.ok) expect(explainImage(again.rewriter, image)).toMatchObject({ rule: 'r' });
  });

  it.each([
    // check-config --strict said "ok"; explain showed such a rule rewrote nothing, since rules see names without tag or digest.
    ['docker\\.io/library/nginx:1\\.27', 'docker.io/library/nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['gcr\\.io/app@sha256:(.*)', 'gcr.io/app@sha256:', `gcr.io/app@sha256:${'0'.repeat(64)}`],
    ['^localhost:5000/team/app:v(.*)', 'localhost:5000/team/app:v', 'localhost:5000/team/app:v1'],
    // An `@` and no `:` after the host: the digest's algorithm left to the group.
    ['^gcr\\.io/app@(.*)', 'gcr.io/app@', `gcr.io/app@sha256:${'0'.repeat(64)}`],
    // Capitals too: the tag is what to fix first, and said alone (lower case, it would still match nothing).
    ['GCR\\.io/app:1\\.27', 'GCR.io/app:1.27', 'gcr.io/app:1.27'],
  ])('warns that a regex rule naming a tag or digest (%s) matches nothing', (regex, literal, image) => {
    const r = parseRules(`rules:\n  - {name: r, regex: '${regex}', replace: 'mirror.example.com/x'}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([
      `rules[0].regex: rule "r" matches nothing: no name has the tag or digest of "${literal}" (rules see the name alone, the tag and digest are kept as they are); match the name, whatever its tag`,
    ]);
    if (r.ok) expect(explainImage(r.rewriter, image)).toMatchObject({ rewritten: image, rule: '' });
  });

  it.each([
    // check-config --strict said "ok" for a regex whose literal start holds a character no name has.
    ['gcr\\.io/ app(.*)', ' ', 'gcr.io/ '],
    ['gcr\\.io/team\\+x/(.*)', '+', 'gcr.io/team+'],
    ['quay\\.io/café/(.*)', 'é', 'quay.io/café'],
    ['ghcr\\.io/org/#app', '#', 'ghcr.io/org/#'],
    // Capitals too: said alone (lower case, it would still match nothing).
    ['Quay\\.io/café/(.*)', 'é', 'Quay.io/café'],
  ])('warns that a regex rule whose literal start holds %j matches nothing', (regex, char, literal) => {
    const r = parseRules(`rules:\n  - {name: r, regex: '${regex}', replace: 'mirror.example.com/x'}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([
      `rules[0].regex: rule "r" matches nothing: no name has the character ${JSON.stringify(char)} of "${literal}" (names are letters, digits, ".", "_", "-" and "/", with a host's ":port")`,
    ]);
  });

  it.each([
    // check-config --strict said "ok": without the u flag V8 reads these braces as text, which no name holds.
    ['gcr\\.io/team-a{,2}/(.*)', '{,2}', 'write {0,2} for "at most 2"', 'gcr.io/team-aa/app'],
    ['gcr\\.io/(.*){', '{', 'remove it, or write a repetition as {n}, {n,} or {n,m} after what it repeats', 'gcr.io/app'],
    ['gcr\\.io/(.*)}', '}', 'remove it, or write a repetition as {n}, {n,} or {n,m} after what it repeats', 'gcr.io/app'],
    ['gcr\\.io/[\\]{]?x{abc}/(.*)', '{abc}', 'remove it, or write a repetition as {n}, {n,} or {n,m} after what it repeats', 'gcr.io/x/app'],
    ['gcr\\.io/${env:AWS_REGION}/(.*)', '{env:AWS_REGION}', '${env:NAME} is replaced in replace only', 'gcr.io/us-west-2/app'],
  ])('warns that a brace V8 reads as text in %s makes that part of the regex match nothing', (regex, brace, write, image) => {
    const r = parseRules(`rules:\n  - {name: r, regex: '${regex}', replace: 'mirror.example.com/x/$1'}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([
      `rules[0].regex: rule "r": "${brace}" is read as text (rules are compiled without flags: a brace that does not make {n}, {n,} or {n,m} stands for itself), and no name holds a brace, so that part of the regex matches nothing; ${write}`,
    ]);
    if (r.ok) expect(explainImage(r.rewriter, image)).toMatchObject({ rewritten: image, rule: '' });
  });

  it.each(['gcr\\.io/x{2}(.*)', 'gcr\\.io/x{2,}(.*)', 'gcr\\.io/x{2,3}?(.*)', 'gcr\\.io/[{}]?(.*)', 'gcr\\.io/\\{?(.*)', 'gcr\\.io/[^]{2}(.*)', 'gcr\\.io/(?<n>[a-z]{1,5})/(.*)', 'gcr\\.io/[\\]{}]?(.*)'])('does not warn about braces that make a repetition, are escaped or are in a class: %s', (regex) => {
    const r = parseRules(`rules:\n  - {name: r, regex: '${regex}', replace: 'mirror.example.com/x/$1'}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
  });

  it.each(['[\\[]?gcr\\.io/(.*)', '\\[::1\\]:5000/team/(.*)', 'gcr\\.io/a_b__c-d\\.e/(.*)', 'localhost:5000/(.*)', 'gcr\\.io/ ?app/(.*)', 'gcr\\.io/x\\d+/(.*)', 'gcr\\.io/#*(.*)', 'gcr\\.io/team\\+?x/(.*)', 'gcr\\.io/team\\#{0,1}x/(.*)', 'gcr\\.io/(?:a|b)/(.*)', ' |gcr\\.io/(.*)'])('does not warn about a regex whose literal start holds only characters of names: %s', (regex) => {
    const r = parseRules(`rules:\n  - {name: r, regex: '${regex}', replace: 'mirror.example.com/x/$1'}\n`, {});
    // A space is said apart, wherever it is (the warning that the regex holds one, tested below).
    expect(r.ok && r.warnings.map(formatIssue).filter((w) => !w.includes('its regex holds a space'))).toEqual([]);
  });

  it.each(['reg\\.example\\.com:0/(.*)', '[A-Za-z]+\\.example\\.org/(.*)', '(GCR|gcr)\\.io/(.*)', 'registry:0[0-9]*/(.*)'])('does not warn about a regex rule whose spelling is not decided by its literal start: %s', (regex) => {
    const r = parseRules(`rules:\n  - {name: r, regex: '${regex}', replace: 'mirror.example.com/x/$1'}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
  });

  it.each([
    // check-config said nothing, where `$1/$2` was warned about: the Pod names any host on that port.
    ['a fixed port', '$1:5000/$2'],
    ['a domain of one label', '$1.com/$2'],
    ['a text any host may end with', '$1example.com/$2'],
    ['a domain of one label and a port', '$1.com:5000/$2'],
  ])('warns about a verify rule whose host is a group then %s (the Pod chooses the host the check asks)', (_why, replace) => {
    const r = parseRules(`rules:\n  - {name: q, regex: '(quay\\.io|ghcr\\.io)/(.+)', replace: '${replace}', verify: true}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([`rules[0].verify: ${HOST_FROM_GROUP_WARNING}`]);
  });

  it.each([
    ['a host written whole', 'mirror.example.com/quay-$1/$2'],
    ['a host that ends with the template\'s own domain and a port', '$1.mirror.example.com:5000/$2'],
    ['a host that ends with a text of the template\'s own domain', '$1-mirror.example.com/$2'],
    ['a host that ends with the template\'s own domain', '$1.mirror.example.com/$2'],
    ['a host written whole and followed by a group', 'mirror.example.com/$1$2'],
  ])('does not warn about a verify rule with %s', (_why, replace) => {
    const r = parseRules(`rules:\n  - {name: q, regex: 'quay\\.io/([a-z]+)/(.+)', replace: '${replace}', verify: true}\n`, {});
    expect(r.ok && r.warnings).toEqual([]);
  });

  it('does not warn about a verify rule whose host is written whole and its port comes from a group, and keeps it to that host', () => {
    // Warned about before as one whose host a group names: the group writes only the port.
    const r = parseRules("rules:\n  - {name: p, regex: 'registry\\.example\\.com:([0-9]+)/(.+)', replace: 'mirror.example.com:$1/$2', verify: true}\n", {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
    if (!r.ok) return;
    expect(explainImage(r.rewriter, 'registry.example.com:5000/a:1')).toEqual({ image: 'registry.example.com:5000/a:1', rewritten: 'mirror.example.com:5000/a:1', rule: 'p' });
  });

  it('does not warn about a regex rule whose host comes from a group when it does not verify (the webhook asks no registry)', () => {
    const r = parseRules("rules:\n  - {name: keep-host, regex: '(?<host>[^/]+)/team/(?<rest>.+)', replace: '$<host>/mirror/$<rest>'}\n", {});
    expect(r.ok && r.warnings).toEqual([]);
  });

  it('does not warn about a regex rule whose group starts the path and whose results no rule takes again', () => {
    // With its group "x", `asia.gcr.iox` (Docker Hub's library/asia.gcr.iox, which the second rule
    // takes) is no result the rule can give. Before, a false warning (and check-config --strict
    // exited 2) for a rule that rewrites gcr.io/nginx.
    const r = parseRules("rules:\n  - {name: gcr, regex: 'gcr\\.io(/.*)', replace: asia.gcr.io$1}\n  - {name: hub, regex: 'docker\\.io/library/(.*)', replace: mirror.example.com/dockerhub/$1}\n", {});
    expect(r.ok && r.warnings).toEqual([]);
    if (r.ok) expect(r.rewriter.rewrite('gcr.io/nginx')).toMatchObject({ kind: 'rewritten', rewritten: 'asia.gcr.io/nginx' });
  });

  it.each([
    // With every group "x", `mirror.example.comx/x`: a Docker Hub name no image gives (the port
    // group is empty or a port), which the rule itself takes again; a false "rewrites nothing".
    ['an optional port group, the host from a group', '([a-z0-9.-]+)(:[0-9]+)?/(.+)', 'mirror.example.com$2/$3', 'gcr.io/a/b', 'mirror.example.com/a/b'],
    ['an optional port group, the host from a group (with a port)', '([a-z0-9.-]+)(:[0-9]+)?/(.+)', 'mirror.example.com$2/$3', 'registry:5000/team/app', 'mirror.example.com:5000/team/app'],
    ['an optional port group after a literal host', 'registry\\.example\\.com(:[0-9]+)?/(.+)', 'mirror.example.com$1/$2', 'registry.example.com:5000/x/y', 'mirror.example.com:5000/x/y'],
    ['an optional port group after a literal host (without one)', 'registry\\.example\\.com(:[0-9]+)?/(.+)', 'mirror.example.com$1/$2', 'registry.example.com/x/y', 'mirror.example.com/x/y'],
  ])('does not warn about a regex rule with %s that rewrites', (_why, regex, replace, image, rewritten) => {
    const r = parseRules(`rules:\n  - {name: optport, regex: '${regex}', replace: '${replace}'}\n`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
    if (r.ok) expect(explainImage(r.rewriter, `${image}:1`)).toEqual({ image: `${image}:1`, rewritten: `${rewritten}:1`, rule: 'optport' });
  });

  it('does not warn about a regex rule of which only one branch of an alternation gives results that it takes again', () => {
    // What `localhost` gives (mirror.example.com/localhost/...) the rule takes again; what the other
    // branch gives, not: it rewrites registry.example.com/team/app. A false "rewrites nothing" before.
    const r = parseRules("rules:\n  - {name: r, regex: '(localhost|[a-z]+\\.example\\.com)/([a-z0-9]+)/(.+)', replace: 'mirror.example.com/$1/$2/$3'}\n", {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
    if (r.ok) expect(explainImage(r.rewriter, 'registry.example.com/team/app')).toEqual({ image: 'registry.example.com/team/app', rewritten: 'mirror.example.com/registry.example.com/team/app', rule: 'r' });
  });

  it.each([
    ['after', "  - {name: all, regex: '([^:]+)', replace: 'mirror.example.com/$1'}\n  - {name: any, regex: 'gcr\\.io(.*)', replace: 'm.example.com$1'}\n"],
    ['before', "  - {name: any, regex: 'gcr\\.io(.*)', replace: 'm.example.com$1'}\n  - {name: all, regex: '([^:]+)', replace: 'mirror.example.com/$1'}\n"],
  ])('does not warn that a regex rule whose tail may take a port rewrites nothing when it comes %s a rule of every name without a port', (_where, rules) => {
    // Its samples had no port (gcr.iox.x/x, whose result `all` takes again), yet it rewrites every
    // image whose host has one, which `all` ([^:]+) never takes. A false "rewrites nothing" before.
    const r = parseRules(`rules:\n${rules}`, {});
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([]);
    if (r.ok) expect(explainImage(r.rewriter, 'gcr.io:5000/app:1')).toEqual({ image: 'gcr.io:5000/app:1', rewritten: 'm.example.com:5000/app:1', rule: 'any' });
  });

  // Found by rule-warnings-explain.property.test.ts: each warned "rewrites nothing", yet explain
  // shows the rule rewriting the image.
  it.each([
    [
      'a regex rule limited to namespaces takes its own results first where it applies (and leaves them)',
      "  - {name: r, regex: '(.+)', replace: 'mirror.example.com/$1', namespaces: [a]}\n  - {name: o, regex: 'mirror\\.example\\.com(.*)', replace: 'mirror.example.com/$1'}\n",
      'gcr.io/app',
      'a',
      'mirror.example.com/gcr.io/app',
    ],
    [
      'a regex rule rewrites an image named like one of its results to a name it leaves',
      "  - {name: r, regex: '(localhost|[a-z]+\\.example\\.com)(:5000)?/(.*)', replace: 'mirror.example.com/$1'}\n",
      'mirror.example.com/app',
      undefined,
      'mirror.example.com/mirror.example.com',
    ],
    [
      'an exclude covers some results of a regex rule (those are never rewritten again)',
      "  - {name: all, regex: '([^:]+)', replace: 'mirror.example.com/$1'}\n  - {name: r, regex: 'registry:5000/(.*)', replace: 'gcr.io/$1'}\nexclude: [gcr.io/team]\n",
      'registry:5000/team/app',
      undefined,
      'gcr.io/team/app',
    ],
    [
      'a later rule takes most results again but leaves those that start as its own do',
      "  - {name: r, regex: 'gcr\\.io/(?<p>[a-z0-9._/-]+)', replace: 'mirror.example.com/$<p>'}\n  - {name: o, regex: '(.+)', replace: 'mirror.example.com/gcr/$1'}\n",
      'gcr.io/gcr/app',
      undefined,
      'mirror.example.com/gcr/app',
    ],
    [
      'a later rule takes its results again to a name it leaves, which it gives too',
      "  - {name: r, regex: 'docker\\.io/library/(.*)', replace: 'mirror.example.com/gcr/$1'}\n  - {name: o, regex: '([a-z0-9.-]+)(:[0-9]+)?/(.+)', replace: 'mirror.example.com/gcr/$1'}\n",
      'mirror.example.com',
      undefined,
      'mirror.example.com/gcr/mirror.example.com',
    ],
    [
      'a match rule gives the one name a later regex rule gives every name (and leaves)',
      "  - {name: r, match: gcr.io, replace: mirror.example.com}\n  - {name: o, regex: '(.+)', replace: 'mirror.example.com/fixed'}\n",
      'gcr.io/fixed',
      undefined,
      'mirror.example.com/fixed',
    ],
    [
      'a later rule takes most results of a match rule again but leaves those that start as its own do',
      "  - {name: r, match: gcr.io, replace: mirror.example.com}\n  - {name: o, regex: '(.+)', replace: 'mirror.example.com/gcr/$1'}\n",
      'gcr.io/gcr/app',
      undefined,
      'mirror.example.com/gcr/app',
    ],
    [
      'a match rule limited to namespaces keeps the results of a match rule where it applies',
      "  - {name: keep, match: mirror.example.com, replace: mirror.example.com, excludeNamespaces: [b]}\n  - {name: r, match: gcr.io, replace: mirror.example.com/gcr}\n  - {name: o, match: mirror.example.com, replace: 'registry:5000/m'}\n",
      'gcr.io/app',
      'c',
      'mirror.example.com/gcr/app',
    ],
  ])('does not warn that a rule rewrites nothing when %s', (_why, rules, image, namespace, rewritten) => {
    const r = parseRules(`rules:\n${rules}`, {});
    expect(r.ok && r.warnings.map(formatIssue).filter((w) => w.includes('rewrites nothing'))).toEqual([]);
    if (r.ok) expect(explainImage(r.rewriter, `${image}:1`, namespace)).toEqual({ image: `${image}:1`, rewritten: `${rewritten}:1`, rule: 'r' });
  });

  it('accepts a regex rule whose template writes a port from a group (refused before: with every group "x" it gave "mirror.example.com:x/x")', () => {
    const r = parseRules("rules:\n  - {name: port, regex: 'registry\\.example\\.com:([0-9]+)/(.*)', replace: 'mirror.example.com:$1/$2'}\n", {});
    expect(r.ok ? r.warnings.map(formatIssue) : r.issues.map(formatIssue)).toEqual([]);
    if (!r.ok) return;
    expect(explainImage(r.rewriter, 'registry.example.com:5000/team/app:1')).toEqual({ image: 'registry.example.com:5000/team/app:1', rewritten: 'mirror.example.com:5000/team/app:1', rule: 'port' });
    // The port as rules see it, without its leading zeros.
    expect(explainImage(r.rewriter, 'registry.example.com:05000/app')).toMatchObject({ rewritten: 'mirror.example.com:5000/app' });
  });

  it('does not warn about a regex rule whose target is excluded, nor about one that does not match what it produces', () => {
    for (const doc of [
      "rules:\n  - {name: everything, regex: '(.+)', replace: mirror.example.com/$1}\nexclude: [mirror.example.com]\n",
      "rules:\n  - {name: quay, regex: 'quay\\.io/(.+)', replace: mirror.example.com/quay/$1}\n",
    ]) {
      const r = parseRules(doc, {});
      expect(r.ok && r.warnings).toEqual([]);
      if (r.ok) expect(r.rewriter.rewrite('quay.io/a/b').kind).toBe('rewritten');
    }
  });

  describe('a prefix rule whose every result a regex rule takes again', () => {
    const legacy = '  - {name: legacy, match: k8s.gcr.io, replace: registry.k8s.io}\n';
    const warning = (name: string, index: number, at = 0): string =>
      `rules[${at}].replace: rule "legacy" rewrites nothing: rule "${name}" (rules[${index}]) matches every name it produces ("registry.k8s.io/..."), and a result that a rule would rewrite again is not applied; write the final target`;
    it.each([
      ['after it: (.+)', `${legacy}  - {name: k8s, regex: 'registry\\.k8s\\.io/(.+)', replace: mirror.example.com/k8s/$1}\n`, warning('k8s', 1)],
      ['before it, a named group: (?<rest>.*)', `  - {name: k8s, regex: 'registry\\.k8s\\.io/(?<rest>.*)', replace: 'mirror.example.com/k8s/$<rest>'}\n${legacy}`, warning('k8s', 0, 1)],
      ['the host or a path under it: (/.*)?', `${legacy}  - {name: k8s, regex: 'registry\\.k8s\\.io(/.*)?', replace: mirror.example.com/k8s$1}\n`, warning('k8s', 1)],
      ['no group: .+', `${legacy}  - {name: k8s, regex: 'registry\\.k8s\\.io/.+', replace: mirror.example.com/k8s/all}\n`, warning('k8s', 1)],
      ['a shorter literal: registry\\.k8s\\.(.+)', `${legacy}  - {name: k8s, regex: 'registry\\.k8s\\.(.+)', replace: mirror.example.com/k8s/$1}\n`, warning('k8s', 1)],
      ['everything: (.+)', `${legacy}  - {name: all, regex: '(.+)', replace: mirror.example.com/$1}\nexclude: [mirror.example.com]\n`, warning('all', 1)],
      // The README's catch-all for names without a port: check-config said "ok".
      ['everything without a port: ([^:]+)', `${legacy}  - {name: all, regex: '([^:]+)', replace: mirror.example.com/$1}\n`, warning('all', 1)],
      ['a literal, then no port: registry\\.k8s\\.io/[^:]*', `${legacy}  - {name: k8s, regex: 'registry\\.k8s\\.io/[^:]*', replace: mirror.example.com/k8s/all}\n`, warning('k8s', 1)],
      ['the earlier of a regex and a prefix rule is named', `${legacy}  - {name: k8s, match: registry.k8s.io, replace: mirror.example.com/k8s}\n  - {name: re, regex: 'registry\\.k8s\\.io/(.+)', replace: other.example.com/k8s/$1}\n`, ['rules[2]: rule "re" is never used: rule "k8s" (rules[1]) matches everything it matches and comes first', warning('k8s', 1)]],
    ])('warns when the regex is %s', (_why, doc, want) => {
      const r = parseRules(`rules:\n${doc}`, {});
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.warnings.map(formatIssue)).toEqual(Array.isArray(want) ? want : [want]);
      // What the warning says: the rule's results are refused.
      expect(r.rewriter.rewrite('k8s.gcr.io/pause:3.9').kind).toBe('rejected');
    });

    it.each([
      ['matches only some names (a class)', "  - {name: k8s, regex: 'registry\\.k8s\\.io/([a-z]+)', replace: mirror.example.com/k8s/$1}\n"],
      ['matches only some names (an alternation)', "  - {name: k8s, regex: 'registry\\.k8s\\.io/(pause|coredns)', replace: mirror.example.com/k8s/$1}\n"],
      ['matches only deeper names', "  - {name: k8s, regex: 'registry\\.k8s\\.io/pause/(.+)', replace: mirror.example.com/k8s/$1}\n"],
      ['matches another host that starts the same', "  - {name: k8s, regex: 'registry\\.k8s\\.io2/(.+)', replace: mirror.example.com/k8s/$1}\n"],
      ['is limited to namespaces', "  - {name: k8s, regex: 'registry\\.k8s\\.io/(.+)', replace: mirror.example.com/k8s/$1, namespaces: [a]}\n"],
      ['gives the name back unchanged', "  - {name: k8s, regex: 'registry\\.k8s\\.io/(.+)', replace: registry.k8s.io/$1}\n"],
      ['has its target excluded', "  - {name: k8s, regex: 'registry\\.k8s\\.io/(.+)', replace: mirror.example.com/k8s/$1}\nexclude: [registry.k8s.io]\n"],
      ['has some of its target excluded', "  - {name: k8s, regex: 'registry\\.k8s\\.io/(.+)', replace: mirror.example.com/k8s/$1}\nexclude: [registry.k8s.io/pause]\n"],
      // registry.k8s.io/pause is kept by the first rule, so legacy does rewrite k8s.gcr.io/pause.
      ['comes after a rule that keeps some results', "  - {name: k8s, regex: 'registry\\.k8s\\.io/(.+)', replace: mirror.example.com/k8s/$1}\n", "  - {name: keep, regex: 'registry\\.k8s\\.io/pause', replace: registry.k8s.io/pause}\n"],
    ])('does not warn when the regex %s', (_why, more, first = '') => {
      const r = parseRules(`rules:\n${first}${legacy}${more}`, {});
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.warnings.map(formatIssue).filter((w) => w.includes('"legacy" rewrites nothing'))).toEqual([]);
    });

    it('a regex that takes no port ([^:]+) takes every name of a host without one, and none of a host with one', () => {
      // The README's catch-all: check-config said "ok" for a rule after it that it shadows, and for
      // a rule whose every result it takes again (each refused at admission).
      const shadowed = parseRules("rules:\n  - {name: all, regex: '([^:]+)', replace: mirror.example.com/$1}\n  - {name: gcr, match: gcr.io, replace: mirror.example.com/gcr}\n  - {name: port, match: 'registry:5000', replace: mirror.example.com/reg}\n  - {name: late, regex: 'quay\\.io/(.*)', replace: mirror.example.com/quay/$1}\n", {});
      expect(shadowed.ok && shadowed.warnings.map(formatIssue)).toEqual([
        'rules[1]: rule "gcr" is never used: rule "all" (rules[0]) matches everything it matches and comes first',
        'rules[3]: rule "late" is never used: rule "all" (rules[0]) matches everything it matches and comes first',
      ]);
      if (!shadowed.ok) return;
      expect(shadowed.rewriter.rewrite('gcr.io/app')).toMatchObject({ rule: { name: 'all' } });
      expect(shadowed.rewriter.rewrite('registry:5000/app')).toMatchObject({ kind: 'rewritten', rule: { name: 'port' } });
      // A prefix rule whose results have a port: the regex takes none of them, the rule rewrites.
      const ported = parseRules("rules:\n  - {name: legacy, match: k8s.gcr.io, replace: 'registry.k8s.io:5000'}\n  - {name: all, regex: '([^:]+)', replace: mirror.example.com/$1}\n", {});
      expect(ported.ok && ported.warnings).toEqual([]);
      if (ported.ok) expect(ported.rewriter.rewrite('k8s.gcr.io/pause:3.9')).toMatchObject({ kind: 'rewritten', rewritten: 'registry.k8s.io:5000/pause:3.9' });
      // Nor a regex rule after it whose names may have a port after its literal: it is used.
      const open = parseRules("rules:\n  - {name: all, regex: '([^:]+)', replace: mirror.example.com/$1}\n  - {name: any, regex: 'gcr\\.io(.*)', replace: 'm.example.com$1'}\n", {});
      expect(open.ok && open.warnings.map(formatIssue).filter((w) => w.includes('never used'))).toEqual([]);
      if (open.ok) expect(open.rewriter.rewrite('gcr.io:5000/app')).toMatchObject({ kind: 'rewritten', rewritten: 'm.example.com:5000/app', rule: { name: 'any' } });
    });

    it('nor about a prefix rule taken again by a prefix rule, when a regex rule before that one keeps some results', () => {
      const doc = `rules:\n  - {name: keep, regex: 'registry\\.k8s\\.io/pause', replace: registry.k8s.io/pause}\n${legacy}  - {name: k8s, match: registry.k8s.io, replace: mirror.example.com/k8s}\n`;
      const r = parseRules(doc, {});
      expect(r.ok && r.warnings).toEqual([]);
      if (r.ok) expect(r.rewriter.rewrite('k8s.gcr.io/pause:3.9')).toMatchObject({ kind: 'rewritten', rewritten: 'registry.k8s.io/pause:3.9', rule: { name: 'legacy' } });
    });

    it('when the prefix can be a whole name, a regex that needs a path after it does not take every result', () => {
      // quay.io/team itself becomes mirror.example.com/quay, which `mirror\.example\.com/quay/(.+)` does not match.
      const doc = "rules:\n  - {name: team, match: quay.io/team, replace: mirror.example.com/quay}\n  - {name: m, regex: 'mirror\\.example\\.com/quay/(.+)', replace: other.example.com/$1}\n";
      const r = parseRules(doc, {});
      expect(r.ok && r.warnings).toEqual([]);
      if (r.ok) expect(r.rewriter.rewrite('quay.io/team:1')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.example.com/quay:1' });
    });
  });

  it('does not warn when the earlier rule is limited to namespaces', () => {
    const r = parseRules('rules:\n  - {name: all, match: docker.io, replace: a.example.com, namespaces: [x]}\n  - {name: nginx, match: docker.io/library/nginx, replace: b.example.com}\n', {});
    expect(r.ok && r.warnings).toEqual([]);
  });
});

describe('hasPathPrefix', () => {
  it.each([
    ['gcr.io', 'gcr.io', true],
    ['gcr.io/x', 'gcr.io', true],
    ['gcr.io.evil/x', 'gcr.io', false],
    ['gcr.iox', 'gcr.io', false],
    ['eu.gcr.io/x', 'gcr.io', false],
    ['gcr', 'gcr.io', false],
  ] as const)('%s under %s: %s', (name, prefix, want) => {
    expect(hasPathPrefix(name, prefix)).toBe(want);
  });
});

describe('a regex written as a JavaScript literal', () => {
  const doc = (regex: string): string => `rules:\n  - name: g\n    regex: '${regex}'\n    replace: asia.gcr.io/$1\n`;
  const never = 'rules[0].regex: starts with "/", which no image name does (a name starts with its registry host: docker.io/library/nginx), so the rule can never match';

  it.each([
    ['/gcr\\.io\\/(.*)/i', `${never}; write the pattern alone, without a regex literal's slashes and flags: "gcr\\.io\\/(.*)"`],
    ['/gcr\\.io/(.*)/', `${never}; write the pattern alone, without a regex literal's slashes and flags: "gcr\\.io/(.*)"`],
    ['\\/gcr\\.io/(.*)', never],
    ['^/gcr\\.io/(.*)', never],
  ])('%s is refused, by the quick check and by the schema alike', async (regex, message) => {
    const sync = parseRules(doc(regex), {});
    const lambda = await parseRulesAsync(doc(regex), {});
    for (const r of [sync, lambda]) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map(formatIssue)).toEqual([message]);
    }
    // With a second problem in the document, both are listed.
    const both = parseRules(`${doc(regex)}  - name: h\n    match: quay.io\n`, {});
    expect(both.ok ? [] : both.issues.map(formatIssue)).toEqual([message, 'rules[1].replace: is required']);
  });

  it('a "/" later in the pattern is the path separator, as ever', () => {
    expect(explainImage(rewriterFrom(doc('gcr\\.io/(.*)')), 'gcr.io/a/b').rewritten).toBe('asia.gcr.io/a/b');
  });

  // Earlier releases loaded these and rewrote with them: a leading "/" that may be absent, or a
  // branch of a top-level "|" that need not start with one, does not keep the rule from matching.
  it.each(['/?gcr\\.io/(.*)', '^/*gcr\\.io/(.*)', '\\/{0,1}gcr\\.io/(.*)', '/{0}gcr\\.io/(.*)', '/{00,1}gcr\\.io/(.*)', '/{0,}gcr\\.io/(.*)', '/x/(.*)|gcr\\.io/(.*)'])(
    '%s may match without a "/": loaded as before, and it rewrites',
    async (regex) => {
      const replace = regex.includes('|') ? 'asia.gcr.io/$1$2' : 'asia.gcr.io/$1';
      const text = `rules:\n  - name: g\n    regex: '${regex}'\n    replace: ${replace}\n`;
      const lambda = await parseRulesAsync(text, {});
      expect(lambda.ok ? [] : lambda.issues.map(formatIssue)).toEqual([]);
      const sync = parseRules(text, {});
      expect(sync.ok ? [] : sync.issues.map(formatIssue)).toEqual([]);
      if (sync.ok) expect(explainImage(sync.rewriter, 'gcr.io/a/b').rewritten).toBe('asia.gcr.io/a/b');
    },
  );

  it('a "/" that must be there at least once is still refused', () => {
    for (const regex of ['/+gcr\\.io/(.*)', '/{1,}gcr\\.io/(.*)', '/{,1}gcr\\.io/(.*)', '/{0,1gcr\\.io/(.*)', '/{0gcr\\.io/(.*)', '/gcr\\.io\\|x/(.*)', '/gcr[|]io/(.*)', '/(?:a|b)gcr\\.io/(.*)']) {
      const r = parseRules(doc(regex), {});
      expect({ regex, issues: r.ok ? [] : r.issues.map(formatIssue) }).toEqual({ regex, issues: [never] });
    }
  });
});

describe('a regex whose first group or class can match only "/"', () => {
  const doc = (regex: string, replace = 'asia.gcr.io/$1'): string => `rules:\n  - name: g\n    regex: '${regex}'\n    replace: ${replace}\n`;
  const never = (first: string): string =>
    `rules[0].regex: starts with "${first}", which matches only "/", and no image name starts with one (a name starts with its registry host: docker.io/library/nginx), so the rule can never match`;

  // A normalized name never starts with "/", so none of these rules ever matched anything. A
  // warning, not an error: releases before the check loaded them, and a refused document leaves a
  // Lambda with no rules at all.
  it.each([
    ['(/)gcr\\.io/(.*)', '(/)'],
    ['[/]gcr\\.io/(.*)', '[/]'],
    ['^(/)gcr\\.io/(.*)', '(/)'],
    ['[\\/]gcr\\.io/(.*)', '[\\/]'],
    ['(?:/)gcr\\.io/(.*)', '(?:/)'],
    ['(?<s>/)gcr\\.io/(.*)', '(?<s>/)'],
    ['(\\/|[/])gcr\\.io/(.*)', '(\\/|[/])'],
    ['((/))gcr\\.io/(.*)', '((/))'],
    ['(/+)gcr\\.io/(.*)', '(/+)'],
    ['(/)+gcr\\.io/(.*)', '(/)'],
    ['(/x)gcr\\.io/(.*)', '(/x)'],
    ['[//]gcr\\.io/(.*)', '[//]'],
  ])('%s is warned about, by the quick check and by the schema alike, and still loads', async (regex, first) => {
    const sync = parseRules(doc(regex), {});
    const lambda = await parseRulesAsync(doc(regex), {});
    for (const r of [sync, lambda]) expect({ regex, ok: r.ok, warnings: r.ok ? r.warnings.map(formatIssue).filter((w) => w.startsWith('rules[0].regex:')) : r.issues.map(formatIssue) }).toEqual({ regex, ok: true, warnings: [never(first)] });
  });

  it('keeps a leading "/" itself an error', () => {
    const r = parseRules(doc('/gcr\\.io/(.*)'), {});
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([expect.stringMatching(/^rules\[0\]\.regex: starts with "\/", which no image name does/)]);
  });

  // A first group or class that may be absent, or may match something else than "/", keeps the
  // rule able to match: loaded as before (a refusal would stop a cold start), and it rewrites.
  it.each([
    '(?:/)?gcr\\.io/(.*)',
    '(?:/)*gcr\\.io/(.*)',
    '(?:/){0,1}gcr\\.io/(.*)',
    '[/]?gcr\\.io/(.*)',
    '(?:/?)gcr\\.io/(.*)',
    '(?:/|)gcr\\.io/(.*)',
    '(?:/|g)cr\\.io/(.*)',
    '[/g]cr\\.io/(.*)',
    '[^/]cr\\.io/(.*)',
    '[!-/g]cr\\.io/(.*)',
    '(?:(?:/)?)gcr\\.io/(.*)',
    '(?:[/]|[g])cr\\.io/(.*)',
    '(?:/)gcr\\.io/(.*)|gcr\\.io/(.*)',
  ])('%s may match without a "/": loaded, and it rewrites', async (regex) => {
    const text = doc(regex, regex.includes(')|') ? 'asia.gcr.io/$1$2' : 'asia.gcr.io/$1');
    const lambda = await parseRulesAsync(text, {});
    expect(lambda.ok ? [] : lambda.issues.map(formatIssue)).toEqual([]);
    const sync = parseRules(text, {});
    expect(sync.ok ? [] : sync.issues.map(formatIssue)).toEqual([]);
    if (sync.ok) expect(explainImage(sync.rewriter, 'gcr.io/a/b').rewritten).toBe('asia.gcr.io/a/b');
  });

  it('reads a few groups deep at most: thousands inside one another are no stack overflow (the schema allows 256)', () => {
    expect(slashedRegexProblem(`${'('.repeat(8)}/${')'.repeat(8)}gcr`)?.message).toMatch(/^starts with "\(+\/\)+", which matches only "\/"/);
    expect(slashedRegexProblem(`${'('.repeat(5000)}/${')'.repeat(5000)}gcr`)).toBeUndefined();
  });

  // The schema refuses these before (they do not compile); read alone, they are let through, never a throw or a loop.
  it.each(['[/', '(/', '([/)', '(?:[/]|[/'])('%s, unclosed, is let through', (source) => {
    expect(slashedRegexProblem(source)).toBeUndefined();
  });
});

describe('namespace entries and the 63 characters of a namespace name', () => {
  it('says nothing of an entry of 63 characters, nor of a longer one with a *', () => {
    const ok = 'n'.repeat(63);
    const glob = `${'n'.repeat(70)}*`;
    const r = parseRules(`rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, namespaces: [${ok}, '${glob}'], excludeNamespaces: ['${glob}']}\n`, {});
    expect(r.ok).toBe(true);
    expect(r.ok ? r.warnings.map(formatIssue) : []).toEqual([]);
  });
});
