/**
 * The webhook's CEL matchCondition never excludes an object the engine would rewrite: generated
 * rules (match prefixes and regexes, Docker Hub ones included) and generated objects (Pods and
 * workloads, images written in every form the kubelet accepts: short names, docker.io,
 * index.docker.io, registry-1.docker.io, hosts in any case and with `:443`, ports with leading zeros), the expression evaluated by a real CEL implementation (@marcbachmann/cel-js).
 * It also never fails to evaluate (a failing condition makes the API server skip the webhook).
 */
import { describe, expect, it } from '@jest/globals';
import { evaluate } from '@marcbachmann/cel-js';
import fc from 'fast-check';
import { imageRegex, matchableImages, matchConditionExpression, type Scope } from '../../src/core/match-conditions.js';
import { literalPrefix } from '../../src/core/patterns.js';
import type { Rewriter } from '../../src/core/rules.js';
import { path, reference, tag } from '../helpers/arbitraries.js';
import { fixture, fixtureNames, TEST_ENV } from '../helpers/fixtures.js';
import { ECR_RULES_YAML, registryRulesYaml, rewriterFrom } from '../helpers/rules.js';
import { findImages, workloadTypeOfKind } from '../../src/core/workload.js';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A rules document from generated prefixes: match rules and regex rules over them. */
const rulesDocument = fc
  .array(
    fc.tuple(
      fc.oneof(
        reference.map((r) => `${r.domain}/${r.path}`.split('/').slice(0, 1 + (r.path.length % 3)).join('/')),
        fc.constantFrom('docker.io', 'docker.io/library', 'docker.io/library/nginx', 'docker.io/team', 'gcr.io', 'quay.io/org', 'localhost:5000'),
      ),
      fc.constantFrom('match', 'regex-rest', 'regex-component', 'regex-optional', 'regex-port'),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((rules) => {
    const lines = rules.map(([prefix, kind], i) => {
      const head = `  - name: r${i}\n`;
      switch (kind) {
        case 'match':
          return `${head}    match: '${prefix}'\n    replace: mirror.example.com/r${i}\n`;
        case 'regex-rest':
          return `${head}    regex: '${escape(prefix)}/(.+)'\n    replace: mirror.example.com/r${i}/$1\n`;
        case 'regex-component':
          return `${head}    regex: '${escape(prefix)}(/[a-z0-9]+)?/([^/]+)'\n    replace: mirror.example.com/r${i}/$2\n`;
        case 'regex-optional':
          return `${head}    regex: '${escape(prefix)}x?/(.+)'\n    replace: mirror.example.com/r${i}/$1\n`;
        case 'regex-port': {
          // A literal prefix that ends inside the port (`localhost:5`): images write it with zeros too.
          const host = (prefix.split('/')[0] ?? '').replace(/:[0-9]+$/, '');
          return `${head}    regex: '${escape(host)}:5[0-9]*/(.+)'\n    replace: mirror.example.com/r${i}/$1\n`;
        }
      }
    });
    return `rules:\n${lines.join('')}`;
  });

/**
 * A registry host as a user may spell it, all meaning the same registry to the engine: as it is,
 * in upper or mixed case, with an explicit `:443` (when it has no port), with zeros before its
 * port's digits (`:0443` when it has none).
 */
const spelled = (host: string, spelling: number): string => {
  const cased = spelling % 3 === 1 ? host.toUpperCase() : spelling % 3 === 2 ? Array.from(host, (c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('') : host;
  const hasPort = /:[0-9]+$/.test(host);
  if (spelling >= 6) {
    const zeros = '0'.repeat(spelling - 5);
    return hasPort ? cased.replace(/:([0-9]+)$/, `:${zeros}$1`) : `${cased}:${zeros}443`;
  }
  return spelling >= 3 && !hasPort ? `${cased}:443` : cased;
};

/**
 * An image in one of the forms a user writes: the host spelled any way the engine reads as the
 * same registry; Docker Hub names also short or with index.docker.io, registry-1.docker.io or
 * registry.hub.docker.com.
 */
const image = fc.tuple(reference, fc.nat({ max: 4 }), fc.option(tag, { nil: undefined }), fc.nat({ max: 8 })).map(([r, form, t, spelling]) => {
  const suffix = r.tag === undefined && t === undefined ? '' : `:${r.tag ?? t ?? ''}`;
  if (r.domain !== 'docker.io') return `${spelled(r.domain, spelling)}/${r.path}${suffix}`;
  const path = r.path;
  switch (form) {
    case 0:
      return `${spelled('docker.io', spelling)}/${path}${suffix}`;
    case 1:
      return `${spelled('index.docker.io', spelling)}/${path}${suffix}`;
    case 2:
      return `${spelled(spelling % 2 === 0 ? 'registry-1.docker.io' : 'registry.hub.docker.com', spelling)}/${path}${suffix}`;
    case 3:
      return `library/${path.split('/')[0] ?? 'x'}${suffix}`;
    default:
      return `${path}${suffix}`;
  }
});
/** Images that some rules match, by construction. */
const nearImage = fc.tuple(fc.constantFrom('nginx', 'library/nginx', 'team/app', 'docker.io/team/app', 'gcr.io/p/app', 'GCR.IO/p/app', 'gcr.io:443/p/app', 'Docker.IO:443/team/app', 'registry-1.docker.io/library/nginx', 'registry.hub.docker.com/library/nginx', 'quay.io/org/x', 'Quay.io:443/org/x', 'localhost:5000/a', 'gcr.io:0443/p/app', 'GCR.IO:00443/p/app', 'Docker.IO:0443/team/app', 'registry-1.docker.io:0443/library/nginx', 'Quay.io:0443/org/x', 'localhost:05000/a', 'LocalHost:0005000/a', 'localhost:050/a'), path, fc.boolean()).map(([p, rest, extend]) => (extend ? `${p}/${rest}` : p));
const anyImage = fc.oneof(image, nearImage, fc.constantFrom('', 'UPPER/Case', 'a b'));

type Obj = Record<string, unknown>;
/** A volume: an image volume (its reference one of the images), or another type (no image). */
const volume = fc.option(anyImage, { nil: undefined }).map((reference) => (reference === undefined ? { emptyDir: {} } : { image: { reference, pullPolicy: 'IfNotPresent' } }));
const podSpec = fc
  .record({
    containers: fc.array(anyImage, { maxLength: 3 }),
    initContainers: fc.array(anyImage, { maxLength: 2 }),
    ephemeralContainers: fc.array(anyImage, { maxLength: 1 }),
    volumes: fc.array(volume, { maxLength: 2 }),
  })
  .map(({ volumes, ...lists }) => {
    const spec: Obj = {};
    for (const [list, images] of Object.entries(lists)) if (images.length > 0) spec[list] = images.map((img, i) => ({ name: `c${i}`, image: img }));
    if (volumes.length > 0) spec['volumes'] = volumes.map((v, i) => ({ name: `v${i}`, ...v }));
    return spec;
  });

/** The images the engine sees in a pod spec (the containers', then the image volumes'). */
const POD = workloadTypeOfKind('', 'Pod');
const imagesOf = (spec: Obj): string[] => (POD === undefined ? [] : findImages({ spec }, POD).images.map((f) => f.image));

/** A kind, where its pod spec goes, and the images the engine would see. */
const objects = fc.tuple(fc.constantFrom('Pod', 'Deployment', 'CronJob', 'PodTemplate'), podSpec).map(([kind, spec]): { kind: string; object: Obj; images: string[] } => {
  const images = imagesOf(spec);
  switch (kind) {
    case 'Pod':
      return { kind, object: { metadata: { name: 'p' }, spec }, images };
    case 'Deployment':
      return { kind, object: { metadata: { name: 'd' }, spec: { template: { spec } } }, images };
    case 'CronJob':
      return { kind, object: { spec: { jobTemplate: { spec: { template: { spec } } } } }, images };
    default:
      return { kind, object: { template: { spec } }, images };
  }
});

const rewrites = (rewriter: Rewriter, images: readonly string[]): boolean => images.some((img) => rewriter.rewrite(img, { namespace: 'default' }).kind === 'rewritten');

function condition(rewriter: Rewriter, scope: Scope, object: Obj): boolean {
  const expr = matchConditionExpression(rewriter.rules, scope);
  if (expr === undefined) return true;
  const result: unknown = evaluate(expr, { object });
  expect(typeof result).toBe('boolean');
  return result === true;
}

describe('matchConditions never exclude an object the engine would rewrite', () => {
  it('generated rules and objects (scope all)', () => {
    fc.assert(
      fc.property(rulesDocument, objects, (doc, { object, images }) => {
        const rewriter = rewriterFrom(doc, TEST_ENV);
        if (rewrites(rewriter, images)) expect(condition(rewriter, 'all', object)).toBe(true);
        else condition(rewriter, 'all', object);
      }),
      { numRuns: 400 },
    );
  });

  it('generated rules and Pods (scope pods)', () => {
    fc.assert(
      fc.property(rulesDocument, podSpec, (doc, spec) => {
        const rewriter = rewriterFrom(doc, TEST_ENV);
        const images = imagesOf(spec);
        if (rewrites(rewriter, images)) expect(condition(rewriter, 'pods', { spec })).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  const fixtures = fixtureNames(/^valid-.*\.ya?ml$/).map((name) => ({ name, rewriter: rewriterFrom(fixture(name), TEST_ENV) }));
  it.each(fixtures)('$name', ({ rewriter }) => {
    fc.assert(
      fc.property(objects, ({ object, images }) => {
        if (rewrites(rewriter, images)) expect(condition(rewriter, 'all', object)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('what the condition leaves out', () => {
  const rewriter = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: mirror.example.com/gcr\n');
  it.each<[string, Obj, boolean]>([
    ['a Pod with a gcr.io image', { spec: { containers: [{ image: 'gcr.io/p/app:1' }] } }, true],
    ['a Pod with an init container from gcr.io', { spec: { containers: [{ image: 'nginx' }], initContainers: [{ image: 'gcr.io/x' }] } }, true],
    ['a Pod with Docker Hub images only', { spec: { containers: [{ image: 'nginx' }, { image: 'docker.io/team/app' }] } }, false],
    ['a Pod with a quay.io image only', { spec: { containers: [{ image: 'quay.io/x/y' }] } }, false],
    ['a Pod with a gcr.io image whose port has leading zeros', { spec: { containers: [{ image: 'gcr.io:0443/p/app:1' }] } }, true],
    ['a Pod with a quay.io image whose port has leading zeros', { spec: { containers: [{ image: 'quay.io:0443/x/y' }] } }, false],
    ['a Pod without containers', { spec: {} }, false],
    ['a container without an image', { spec: { containers: [{ name: 'x' }] } }, false],
    ['a Pod with an image volume from gcr.io', { spec: { containers: [{ image: 'nginx' }], volumes: [{ name: 'cfg', configMap: { name: 'c' } }, { name: 'data', image: { reference: 'gcr.io/p/data:1' } }] } }, true],
    ['a Deployment with an image volume from gcr.io', { spec: { template: { spec: { containers: [{ image: 'nginx' }], volumes: [{ name: 'data', image: { reference: 'GCR.IO:443/p/data' } }] } } } }, true],
    ['a CronJob with an image volume from gcr.io', { spec: { jobTemplate: { spec: { template: { spec: { volumes: [{ name: 'data', image: { reference: 'gcr.io/p/data' } }] } } } } } }, true],
    ['a Pod with an image volume from quay.io only', { spec: { containers: [{ image: 'nginx' }], volumes: [{ name: 'data', image: { reference: 'quay.io/x/y' } }] } }, false],
    ['volumes of other types', { spec: { containers: [{ image: 'nginx' }], volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'data', image: {} }] } }, false],
    ['no spec at all', { metadata: {} }, false],
  ])('%s: %s', (_what, object, expected) => {
    expect(condition(rewriter, 'all', object)).toBe(expected);
  });

  it('sends everything with a Docker Hub rule to short names, and nothing is left to filter with a catch-all regex', () => {
    const hub = rewriterFrom('rules:\n  - name: hub\n    match: docker.io\n    replace: mirror.example.com/hub\n');
    expect(condition(hub, 'pods', { spec: { containers: [{ image: 'nginx' }] } })).toBe(true);
    expect(condition(hub, 'pods', { spec: { containers: [{ image: 'quay.io/x/y' }] } })).toBe(false);
    const any = rewriterFrom("rules:\n  - name: any\n    regex: '([^/]+)/(.+)'\n    replace: all.example.com/$1/$2\n");
    expect(matchConditionExpression(any.rules, 'pods')).toBeUndefined();
  });

  it('a group closed before a top-level `|`: the other branch is rewritten, and the condition sends its images', () => {
    // `gcr\.io/(a)|quay\.io/(.*)`: the `|` is outside the group, which ends before it; read as
    // inside, the literal start `gcr.io/` left quay.io out of the rewrite and of the condition.
    const two = rewriterFrom("rules:\n  - name: two\n    regex: 'gcr\\.io/(a)|quay\\.io/(.*)'\n    replace: mirror.example.com/$1$2\n");
    expect(two.rewrite('quay.io/team/app')).toMatchObject({ kind: 'rewritten', rewritten: 'mirror.example.com/team/app' });
    expect(condition(two, 'pods', { spec: { containers: [{ image: 'quay.io/team/app' }] } })).toBe(true);
    expect(literalPrefix('gcr\\.io/(a)|quay\\.io/(.*)')).toBe('');
    expect(literalPrefix('gcr\\.io/(a|b)(c)/(.*)')).toBe('gcr.io/');
  });

  it('sends an IPv6 host written with :443 (the engine drops it) to a prefix with a path', () => {
    const v6 = rewriterFrom("rules:\n  - name: v6\n    match: '[fc00::1]/team'\n    replace: mirror.example.com/v6\n");
    for (const image of ['[fc00::1]:443/team/app', '[FC00::1]:443/team/app:1', '[fc00::1]:0443/team/app']) {
      expect(v6.rewrite(image).kind).toBe('rewritten');
      expect(condition(v6, 'pods', { spec: { containers: [{ image }] } })).toBe(true);
    }
    expect(condition(v6, 'pods', { spec: { containers: [{ image: '[fc00::1]:5000/team/app' }] } })).toBe(false);
  });

  it('sends a port written with leading zeros (Go reads :05000 as 5000) to a prefix with that port', () => {
    const port = rewriterFrom("rules:\n  - name: p\n    match: 'registry.local:5000/team'\n    replace: mirror.example.com/p\n  - name: r\n    regex: 'localhost:5[0-9]*/(.+)'\n    replace: mirror.example.com/r/$1\n");
    for (const image of ['registry.local:05000/team/app', 'Registry.Local:0005000/team/app:1', 'localhost:05000/a', 'localhost:005/a']) {
      expect(port.rewrite(image).kind).toBe('rewritten');
      expect(condition(port, 'pods', { spec: { containers: [{ image }] } })).toBe(true);
    }
    expect(condition(port, 'pods', { spec: { containers: [{ image: 'registry.local:050001/team/app' }] } })).toBe(false);
  });

  it('scope pods looks at the Pod spec only', () => {
    expect(condition(rewriter, 'pods', { spec: { template: { spec: { containers: [{ image: 'gcr.io/x' }] } } } })).toBe(false);
    expect(condition(rewriter, 'all', { spec: { template: { spec: { containers: [{ image: 'gcr.io/x' }] } } } })).toBe(true);
    const volume = { volumes: [{ name: 'data', image: { reference: 'gcr.io/x' } }] };
    expect(condition(rewriter, 'pods', { spec: volume })).toBe(true);
    expect(condition(rewriter, 'pods', { spec: { template: { spec: volume } } })).toBe(false);
    expect(condition(rewriter, 'all', { spec: { template: { spec: volume } } })).toBe(true);
  });
});

describe("within the API server's CEL limits", () => {
  // Sixty ECR prefixes (one per account and team), as a platform team's rules may have.
  const ecr = rewriterFrom(ECR_RULES_YAML);
  const pod = (images: readonly string[]): Obj => ({ spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } });

  it.each<Scope>(['pods', 'all'])('the expression stays under the 100,000 code points the API server accepts (scope %s)', (scope) => {
    const expr = matchConditionExpression(ecr.rules, scope);
    expect(expr).toBeDefined();
    expect(Array.from(expr ?? '').length).toBeLessThanOrEqual(100_000);
  });

  it('an object with more images than the cost limit lets it match is sent without matching them', () => {
    // cel-go: s.matches(re) costs ceil((1 + size(s)) * 0.1) * ceil(size(re) * 0.25); the limit per call is 1,000,000.
    const re = imageRegex(ecr.rules) ?? '';
    const most = matchableImages(re);
    expect(most).toBeGreaterThan(0);
    expect(most * Math.ceil(257 * 0.1) * Math.ceil(Array.from(re).length * 0.25)).toBeLessThanOrEqual(1_000_000);
    const upstream = (n: number): string[] => Array.from({ length: n }, (_, i) => `quay.io/some-organisation/some-application-name:v1.2.3-build${i}`);
    // 100 images the rules leave alone: matching each against the regex would cost ~1.5 million,
    // the condition would fail, and the API server would skip the webhook for the Pod.
    expect(condition(ecr, 'pods', pod(upstream(100)))).toBe(true);
    expect(condition(ecr, 'pods', pod([...upstream(100), 'gcr.io/x/y:1']))).toBe(true);
    // Up to the bound, images are matched: nothing to rewrite, nothing sent.
    expect(condition(ecr, 'pods', pod(upstream(most)))).toBe(false);
    expect(condition(ecr, 'pods', pod([...upstream(most - 1), 'gcr.io/x/y:1']))).toBe(true);
    // An image too long to match cheaply is sent.
    expect(condition(ecr, 'pods', pod([`quay.io/${'a'.repeat(300)}`]))).toBe(true);
    // Image volumes count among the images matched; volumes of other types do not.
    const volumes = (images: readonly string[]): Obj[] => images.map((reference, i) => ({ name: `v${i}`, image: { reference } }));
    const tmp = Array.from({ length: 2 * most }, (_, i) => ({ name: `tmp${i}`, emptyDir: {} }));
    expect(condition(ecr, 'pods', { spec: { containers: [], volumes: [...tmp, ...volumes(upstream(most))] } })).toBe(false);
    expect(condition(ecr, 'pods', { spec: { containers: [{ name: 'c', image: 'quay.io/x/y' }], volumes: volumes(upstream(most)) } })).toBe(true);
    expect(condition(ecr, 'pods', { spec: { volumes: [...tmp, ...volumes(['gcr.io/x/y:1'])] } })).toBe(true);
  });

  // cel-go's cost of an image volume besides its match, evaluated twice (size, then exists): the
  // filter (18) and the map to {'image': reference} (45, a list and a map built), and exists' own.
  const IMAGE_VOLUME_COST = 2 * (18 + 45) + 10;
  it.each([
    ['sixty ECR prefixes', ecr],
    ['gcr.io', rewriterFrom('rules:\n  - {name: g, match: gcr.io, replace: mirror.example.com/g}\n')],
    ['the shortest regex (a host and port)', rewriterFrom('rules:\n  - {name: a, match: "a:1", replace: mirror.example.com/a}\n')],
  ])('as many image volumes as are matched stay within the cost limit: %s', (_name, rewriter) => {
    // 5,101 image volumes of 250 characters cost cel-go 1,000,005 with "a:1": the API server skipped the webhook.
    const re = imageRegex(rewriter.rules) ?? '';
    expect(matchableImages(re) * (Math.ceil(257 * 0.1) * Math.ceil(Array.from(re).length * 0.25) + IMAGE_VOLUME_COST)).toBeLessThanOrEqual(1_000_000);
  });

  it('a Pod of 16,000 image volumes is sent without the volumes being looked at one by one', () => {
    // Turning each into an image cost cel-go about 63: 16,000 of them (a 700 KB Pod) ran out of
    // cost before size() could say there were too many, and the API server skipped the webhook
    // for a Pod whose container pulls gcr.io.
    // Joining lists costs cel-go nothing per item; reading a volume's image is what costs.
    let reads = 0;
    const volumes = Array.from({ length: 16_000 }, (_, i) => ({
      name: `v${i}`,
      get image(): Obj {
        reads++;
        return { reference: 'q' };
      },
    }));
    for (const scope of ['pods', 'all'] as const) {
      reads = 0;
      expect(condition(ecr, scope, { spec: { containers: [{ name: 'c', image: 'gcr.io/x' }], volumes } })).toBe(true);
      expect(reads).toBeLessThan(100);
    }
  });

  it('leaves no condition when the rules are too many for one the API server accepts', () => {
    const many = rewriterFrom(registryRulesYaml(1500));
    expect(matchConditionExpression(many.rules, 'all')).toBeUndefined();
  });
});

describe('literalPrefix, as the matchCondition reads a regex rule', () => {
  it.each([
    ['gcr\\.io/(.*)', 'gcr.io/'],
    ['^quay\\.io/org/([^/]+)', 'quay.io/org/'],
    ['docker\\.io/library/(nginx|redis)', 'docker.io/library/'],
    ['gcr\\.iox?/(.+)', 'gcr.io'],
    ['a+b', ''],
    ['gcr\\.io/a|quay\\.io/b', ''],
    ['([a-z]+)\\.gcr\\.io/(.*)', ''],
    ['[a|b]x', ''],
    ['(a|b)/x', ''],
    ['gcr\\.io\\d', 'gcr.io'],
    // A counted repetition may be absent too ({0,1}); a hyphen, escaped or not, is literal.
    ['gcr\\.io/team-a{0,1}/(.*)', 'gcr.io/team-'],
    ['gcr\\.io/team\\-a/(.*)', 'gcr.io/team-a/'],
    // An escaped parenthesis opens no group, and one in a class neither: the `|` after them is top-level.
    ['gcr\\.io/a\\(|quay\\.io/.*', ''],
    ['gcr\\.io/[ab(]x|quay\\.io/.*', ''],
  ])('%s -> %s', (source, prefix) => {
    expect(literalPrefix(source)).toBe(prefix);
  });
});
