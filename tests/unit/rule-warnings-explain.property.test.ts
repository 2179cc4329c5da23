/**
 * The load-time warnings that say a rule does nothing ("is never used", "rewrites nothing",
 * "matches nothing": src/core/rule-reach.ts, src/core/rule-warnings.ts, src/core/rules.ts) against
 * `explain` (the rewriter itself), on random documents of the rules people write: `match` prefixes
 * with and without ports and paths, catch-all regexes (`(.+)`, `([^:]+)`), a host's regex with
 * and without its `/` (`gcr\.io/(.*)`, `gcr\.io(.*)`, `gcr\.io(/.*)?`), named groups, classes,
 * alternations, optional ports; replaces with and without groups; rules limited to namespaces;
 * excludes. A warning is contradicted when some image (hosts with and without ports, deep paths,
 * tags, digests, and what the rules make of them) is rewritten by the rule it names, in some
 * namespace: a user told so deletes a working rule. Found (each now a row of rules.test.ts): a
 * regex whose tail may take a port (`gcr\.io(.*)`) next to `([^:]+)`; a regex rule limited to
 * namespaces that takes its own results there; a rule that rewrites an image named like its result;
 * an exclude deeper than where the results start; a match rule behind `(.+)` -> one fixed name, or
 * behind a match rule limited to namespaces that keeps its results; a rule behind one that matches
 * its own results and leaves those that start as they do (`(.+)` -> `mirror.example.com/gcr/$1`),
 * or that takes them again to a name it leaves (`([a-z0-9.-]+)(:[0-9]+)?/(.+)` -> `.../gcr/$1`).
 * Fixed seed: the same 1,500 documents each run (about 1,280 load, 530 warn), a few seconds;
 * WARNING_RUNS=5000 with WARNING_SEED=7, 21 and 99 ran clean.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseRules } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/schema.js';

const MATCH_PREFIXES = ['gcr.io', 'gcr.io/team', 'registry:5000', 'registry:5000/team', 'quay.io', 'docker.io/library', 'docker.io', 'mirror.example.com', 'localhost:5000'] as const;
const MATCH_REPLACES = ['mirror.example.com/gcr', 'mirror.example.com', 'asia.gcr.io', 'registry:5000/m', 'm.example.com:5000', 'quay.io/mirror'] as const;
/** Regexes, each with the group references its replaces may use. */
const REGEXES: readonly { readonly src: string; readonly refs: readonly string[] }[] = [
  { src: '(.+)', refs: ['$1'] },
  { src: '(.*)', refs: ['$1'] },
  { src: '([^:]+)', refs: ['$1'] },
  { src: '(?<rest>.+)', refs: ['$<rest>', '$1'] },
  { src: 'gcr\\.io/(.*)', refs: ['$1'] },
  { src: 'gcr\\.io/(.+)', refs: ['$1'] },
  { src: 'gcr\\.io(.*)', refs: ['$1'] },
  { src: 'gcr\\.io(/.*)?', refs: ['$1'] },
  { src: 'gcr\\.io(/.*)', refs: ['$1'] },
  { src: 'gcr\\.io/(?<p>[a-z0-9._/-]+)', refs: ['$<p>'] },
  { src: 'gcr\\.io/team/[a-z]+', refs: [] },
  { src: '(gcr|quay)\\.io/(.*)', refs: ['$1', '$2'] },
  { src: '(?:gcr|quay)\\.io/(.*)', refs: ['$1'] },
  { src: '[a-z]+\\.io/(.*)', refs: ['$1'] },
  { src: '([a-z0-9.-]+)(:[0-9]+)?/(.+)', refs: ['$1', '$2', '$3'] },
  { src: 'registry:5000/(.*)', refs: ['$1'] },
  { src: 'registry(:[0-9]+)?/(.+)', refs: ['$1', '$2'] },
  { src: 'mirror\\.example\\.com/(.*)', refs: ['$1'] },
  { src: 'mirror\\.example\\.com(.*)', refs: ['$1'] },
  { src: 'm\\.example\\.com(:[0-9]+)?/(.+)', refs: ['$1', '$2'] },
  { src: 'docker\\.io/library/(.*)', refs: ['$1'] },
  { src: '(localhost|[a-z]+\\.example\\.com)(:5000)?/(.*)', refs: ['$1', '$2', '$3'] },
  { src: 'quay\\.io/team/(.*)', refs: ['$1'] },
  { src: '^gcr\\.io/(.*)$', refs: ['$1'] },
  // Spelled otherwise than names are (a capital, a port's zero): "matches nothing".
  { src: 'GCR\\.io/(.*)', refs: ['$1'] },
  { src: 'registry:05000/(.*)', refs: ['$1'] },
];
/** Replace templates; `G` is a group reference of the regex, `H` another. */
const REGEX_REPLACES = ['mirror.example.com/G', 'm.example.comG', 'mirror.example.com/gcr/G', 'registry:5000/m/G', 'mirror.example.com/fixed', 'mirror.example.com/G/H', 'm.example.comH/G', 'gcr.io/G', 'mirror.example.com:5000/G'] as const;
const SCOPES = ['', '', '', '', ', namespaces: [a]', ', excludeNamespaces: [b]', ', namespaces: [a, b], excludeNamespaces: [b]'] as const;
const EXCLUDES = [[], [], [], ['mirror.example.com'], ['gcr.io/team'], ['registry:5000'], ['m.example.com:5000', 'gcr.io/team/app']] as const;

type RuleCase =
  | { readonly kind: 'match'; readonly prefix: string; readonly replace: string; readonly scope: string }
  | { readonly kind: 'regex'; readonly regex: (typeof REGEXES)[number]; readonly replace: string; readonly g: number; readonly h: number; readonly scope: string };
interface DocCase {
  readonly rules: readonly RuleCase[];
  readonly exclude: readonly string[];
}

const ruleArb: fc.Arbitrary<RuleCase> = fc.oneof(
  fc.record({ kind: fc.constant('match' as const), prefix: fc.constantFrom(...MATCH_PREFIXES), replace: fc.constantFrom(...MATCH_REPLACES), scope: fc.constantFrom(...SCOPES) }),
  fc.record({ kind: fc.constant('regex' as const), regex: fc.constantFrom(...REGEXES), replace: fc.constantFrom(...REGEX_REPLACES), g: fc.nat(2), h: fc.nat(2), scope: fc.constantFrom(...SCOPES) }),
);
const docArb: fc.Arbitrary<DocCase> = fc.record({ rules: fc.array(ruleArb, { minLength: 1, maxLength: 5 }), exclude: fc.constantFrom(...EXCLUDES) });

function documentOf(d: DocCase): string {
  const lines = d.rules.map((r, i) => {
    if (r.kind === 'match') return `  - {name: r${i}, match: '${r.prefix}', replace: '${r.replace}'${r.scope}}\n`;
    const ref = (k: number): string => r.regex.refs[k % Math.max(r.regex.refs.length, 1)] ?? '';
    const replace = r.replace.replace('G', ref(r.g)).replace('H', ref(r.g + 1 + r.h));
    return `  - {name: r${i}, regex: '${r.regex.src}', replace: '${replace}'${r.scope}}\n`;
  });
  return `rules:\n${lines.join('')}${d.exclude.length === 0 ? '' : `exclude: [${d.exclude.join(', ')}]\n`}`;
}

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const HOSTS = ['gcr.io', 'gcr.io:5000', 'eu.gcr.io', 'quay.io', 'registry:5000', 'registry', 'registry.example.com', 'localhost', 'localhost:5000', 'mirror.example.com', 'mirror.example.com:5000', 'm.example.com', 'm.example.com:5000', 'asia.gcr.io', 'docker.io', 'x.example.com:5000'];
const PATHS = ['app', 'team/app', 'team/a/b/c', 'library/nginx', 'gcr/app', 'm/app', 'fixed'];
/** Images that reach each rule of the vocabulary: hosts with and without ports, deep paths, tags, digests, Docker Hub's short names. */
const SUFFIXES = ['', ':1.2', `@${DIGEST}`, `:1.2@${DIGEST}`];
const BASE_IMAGES = [
  // Each name once, with a tag, a digest, both or neither in turn (rules see the name alone).
  ...HOSTS.flatMap((host, i) => PATHS.map((path, j) => `${host}/${path}${SUFFIXES[(i + j) % SUFFIXES.length] ?? ''}`)),
  ...['nginx', 'nginx:1.27', 'bitnami/redis', 'gcr.io', 'registry:5000', 'mirror.example.com'],
];
const NAMESPACES = [undefined, 'a', 'b', 'c'] as const;
const NOTHING = /^rules\[\d+\][^:]*: (?:warning: )?rule "(r\d+)" (is never used|rewrites nothing|matches nothing)/;

describe('warnings that a rule does nothing, against explain', () => {
  it('never say so of a rule that rewrites some image', () => {
    const stats = { documents: 0, warned: 0, images: 0, kinds: new Map<string, number>() };
    fc.assert(
      fc.property(docArb, (d) => {
        const doc = documentOf(d);
        const loaded = parseRules(doc, {});
        if (!loaded.ok) return;
        stats.documents++;
        const warned = loaded.warnings.map(formatIssue).flatMap((w) => {
          const m = NOTHING.exec(w.replace(/^warning: /, ''));
          if (m === null) return [];
          stats.kinds.set(m[2] ?? '', (stats.kinds.get(m[2] ?? '') ?? 0) + 1);
          return [{ rule: m[1] ?? '', text: w, atAdmission: w.includes('rewrites nothing at admission') }];
        });
        if (warned.length === 0) return;
        stats.warned++;
        // The rules that rewrite some image, in some namespace: the images, then what the rules make
        // of them (a result is an image reinvocation sees).
        const rewrote = new Map<string, string>();
        const seen = new Set<string>();
        let images = BASE_IMAGES;
        for (let round = 0; round < 2; round++) {
          const next: string[] = [];
          for (const image of images) {
            if (seen.has(image)) continue;
            seen.add(image);
            for (const namespace of NAMESPACES) {
              const r = loaded.rewriter.rewrite(image, { namespace });
              if (r.kind === 'rewritten') {
                next.push(r.rewritten);
                // Rules whose excludeNamespaces take every namespace still apply where none is known (render).
                const key = `${r.rule.name}${namespace === undefined ? '@render' : ''}`;
                if (!rewrote.has(key)) rewrote.set(key, `${image} -> ${r.rewritten} in ${namespace ?? '(none)'}`);
              }
              if (r.kind === 'rejected') next.push(r.candidate);
            }
          }
          images = next;
        }
        stats.images += seen.size;
        for (const w of warned) {
          const contradiction = rewrote.get(w.rule) ?? (w.atAdmission ? undefined : rewrote.get(`${w.rule}@render`));
          expect({ doc, warning: w.text, contradiction }).toEqual({ doc, warning: w.text, contradiction: undefined });
        }
      }),
      { numRuns: Number(process.env['WARNING_RUNS'] ?? 1500), seed: Number(process.env['WARNING_SEED'] ?? 114) },
    );
    // A good share of the documents load and warn: the property judges something.
    expect(stats.documents).toBeGreaterThan(1000);
    expect(stats.warned).toBeGreaterThan(150);
    expect(stats.images).toBeGreaterThan(stats.warned * 100);
    // ... of each kind (some 400 never used, 400 rewrites nothing, 140 matches nothing).
    expect([...stats.kinds.keys()].sort()).toEqual(['is never used', 'matches nothing', 'rewrites nothing']);
    expect(Math.min(...stats.kinds.values())).toBeGreaterThan(20);
  });
});
