/**
 * Rules at scale and namespace globs: work that grows with the number of rules or with the shape of
 * a glob stays near-linear. Costs are compared with a baseline measured in the same run (a small
 * document, a short glob), never with wall-clock thresholds.
 *
 * Regression tests: the shadow check compared every pair of rules (9,000 rules took 31 s to load),
 * each image was tested against every rule in turn (10 ms per image with 9,000 regex rules), and a
 * namespace glob became a backtracking regex (`*a*a*a*a*a*a*a*a*b` ran for minutes on a 60-character
 * namespace).
 */
import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { validateDocument } from '../../src/config/load.js';
import { namespaceLimitedRules } from '../../src/core/explain.js';
import { formatIssue } from '../../src/config/schema.js';
import { globMatcher, literalPrefix } from '../../src/core/patterns.js';
import { MAX_TRIED_REGEX_RULES } from '../../src/core/rule-warnings.js';
import { makeRewriter, MAX_RULES, type Rewriter } from '../../src/core/rules.js';
import { TEST_ENV } from '../helpers/fixtures.js';
import { regexSourceArb } from '../helpers/regex-differential.js';
import { fastest, leastRatio } from '../helpers/timing.js';

const matchRules = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `m${i}`, match: `registry${i}.example.com/team${i % 7}`, replace: `mirror.example.com/m${i}` }));
const regexRules = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `r${i}`, regex: `reg${i}\\.example\\.com/(.*)`, replace: `mirror.example.com/r${i}/$1` }));

const load = (rules: unknown[]): Rewriter => {
  const r = validateDocument({ rules }, TEST_ENV);
  if (!r.ok) throw new Error(JSON.stringify(r.issues.slice(0, 3)));
  return r.rewriter;
};

describe('many rules', () => {
  it('loading 16 times more rules costs far less than 16^2 times more (the shadow check is indexed)', () => {
    // Linear: about 16; the pairwise check it replaces: about 256.
    expect(leastRatio(64, () => fastest(1, () => load(matchRules(6400))) / fastest(3, () => load(matchRules(400))))).toBeLessThan(64);
  });

  it.each([
    {
      what: 'that start with a group',
      make: (n: number) => Array.from({ length: n }, (_, i) => ({ name: `g${i}`, regex: `(?:reg${i})\\.example\\.com/(.*)`, replace: `mirror.example.com/g${i}/$1` })),
    },
    {
      what: 'that share their literal prefix with their results',
      make: (n: number) => Array.from({ length: n }, (_, i) => ({ name: `s${i}`, regex: `registry\\.corp\\.example/(?:old${i})/(.*)`, replace: `registry.corp.example/new${i}/$1` })),
    },
    {
      // Never tested on a sample (rewritten in no namespace), but gathered and sorted for each.
      what: 'limited to namespaces',
      make: (n: number) =>
        Array.from({ length: n }, (_, i) => ({ name: `n${i}`, regex: `(?:reg${i})\\.example\\.com/(.*)`, replace: `mirror.example.com/n${i}/$1`, namespaces: ['team-*'] })),
    },
  ])('loading 16 times more regex rules $what costs far less than 16^2 times more', ({ make }) => {
    // The check for regex rules that rewrite nothing rewrites each rule's samples like images, and
    // an image is tried against every regex rule without a literal prefix, or with one it starts
    // with: every sample against every rule. 10,000 rules that start with a group took 146 s to
    // load (Lambda's init has 10 s), 4,000 in-registry ones 12 s.
    expect(leastRatio(64, () => fastest(1, () => load(make(4000))) / fastest(3, () => load(make(250))))).toBeLessThan(64);
    // Said once, with what to do about it.
    const r = validateDocument({ rules: make(4000) }, TEST_ENV);
    expect(r.ok && r.warnings.map(formatIssue).filter((w) => w.includes('rewrite nothing was skipped'))).toEqual([
      'rules: the check for regex rules that rewrite nothing was skipped: their results would be tried against too many regex rules (a regex that starts with a group, a class or "." is tried for every image, one that starts with literal text for every image that starts with it); start each regex with the literal text of the names it matches',
    ]);
    // With a few of them, the check is made.
    const few = validateDocument(
      { rules: [{ name: 'm', regex: 'mirror\\.example\\.com/(.*)', replace: 'other.example.com/$1' }, { name: 'all', regex: '(.+)', replace: 'mirror.example.com/$1' }, ...make(10)] },
      TEST_ENV,
    );
    expect(few.ok && few.warnings.map(formatIssue).some((w) => w.startsWith('rules[1].replace: rule "all" rewrites nothing: rule "m"'))).toBe(true);
  });

  it.each([
    { what: 'that start with a group', start: 'every image', make: (n: number) => Array.from({ length: n }, (_, i) => ({ name: `g${i}`, regex: `([a-z]+)${i}\\.example\\.com/(.*)`, replace: `mirror.example.com/g${i}/$1/$2` })) },
    {
      what: 'that share a literal prefix',
      start: 'an image whose name starts with "gcr.io/"',
      make: (n: number) => Array.from({ length: n }, (_, i) => ({ name: `s${i}`, regex: `gcr\\.io/([a-z]+)${i}/(.*)`, replace: `mirror.example.com/s${i}/$1/$2` })),
    },
  ])('warns when one name is tried against more than MAX_TRIED_REGEX_RULES regex rules $what (each costs the image a test, at admission)', ({ start, make }) => {
    // 10,000 of them: 17 ms per image seen for the first time, a Pod of 300 past timeoutSeconds,
    // and nothing said at load but that a load-time check was skipped.
    const tried = (rules: unknown[]): string[] => {
      const r = validateDocument({ rules: [...rules, ...matchRules(50)] }, TEST_ENV);
      return r.ok ? r.warnings.map(formatIssue).filter((w) => w.includes('regex rules one by one')) : ['not ok'];
    };
    expect(tried(make(MAX_TRIED_REGEX_RULES))).toEqual([]);
    expect(tried(make(MAX_TRIED_REGEX_RULES + 1))).toEqual([
      `rules: ${start} is tried against ${String(MAX_TRIED_REGEX_RULES + 1)} regex rules one by one, more than ${String(MAX_TRIED_REGEX_RULES)}: each image seen for the first time then costs milliseconds, and a Pod of a few hundred of them can take longer than the webhook's timeoutSeconds; start each regex with the literal text of the names it matches, or write it as a match rule`,
    ]);
  });

  it('tries the regex rules of one literal prefix in their order as they are: nothing copied or sorted per image', () => {
    // 8,000 regex rules on `gcr\\.io/`, limited to namespaces: each new image's candidates were
    // copied and sorted, 3.6 to 7 ms per image though none of them applies there.
    const shared = Array.from({ length: 2000 }, (_, i) => ({ name: `s${i}`, regex: `gcr\\.io/(.*)`, replace: `mirror.example.com/s${i}/$1`, namespaces: [`ns${i}`] }));
    const rewriter = load([...shared, { name: 'other', regex: 'quay\\.io/(.*)', replace: 'mirror.example.com/q/$1' }]);
    const sort = jest.spyOn(Array.prototype, 'sort');
    try {
      expect(rewriter.rewrite('gcr.io/a/b:1', { namespace: 'ns1999' })).toMatchObject({ kind: 'rewritten', rule: { name: 's1999' }, rewritten: 'mirror.example.com/s1999/a/b:1' });
      expect(rewriter.rewrite('gcr.io/a/c:1', { namespace: 'elsewhere' })).toMatchObject({ kind: 'unchanged' });
      expect(sort).not.toHaveBeenCalled();
      // Two lists (the rules without a literal prefix, and those of `gcr.io/`): merged in rule order.
      const both = load([{ name: 'any', regex: '([a-z]+)\\.io/(x.*)', replace: 'mirror.example.com/any/$1/$2' }, ...shared.slice(0, 3)]);
      expect(both.rewrite('gcr.io/xa:1', { namespace: 'ns2' })).toMatchObject({ rule: { name: 'any' } });
      expect(both.rewrite('gcr.io/a:1', { namespace: 'ns2' })).toMatchObject({ rule: { name: 's2' } });
    } finally {
      sort.mockRestore();
    }
  });

  it('finds the rule limited to namespaces that would take an image (explain, render, audit) by prefix, not by trying each', () => {
    // 8,000 rules limited to namespaces: explain - took 2 ms per image, render and audit alike.
    const limited = [
      ...Array.from({ length: 1000 }, (_, i) => ({ name: `m${i}`, match: `registry${i}.example.com`, replace: `mirror.example.com/m${i}`, namespaces: [`ns${i}`] })),
      ...Array.from({ length: 1000 }, (_, i) => ({ name: `r${i}`, regex: `reg${i}\\.example\\.com/(.*)`, replace: `mirror.example.com/r${i}/$1`, namespaces: [`ns${i}`] })),
      { name: 'late', regex: '([a-z]+)\\.example\\.org/(.*)', replace: 'mirror.example.com/late/$1/$2', namespaces: ['x'] },
    ];
    const real = load(limited);
    let applied = 0;
    const rules = real.rules.map((rule) => ({ ...rule, apply: (name: string) => (applied++, rule.apply(name)) }));
    const limitedRule = namespaceLimitedRules({ ...real, rules, rewrite: (image, context) => real.rewrite(image, context) });
    expect(limitedRule?.('registry999.example.com/a/b:1')?.name).toBe('m999');
    expect(limitedRule?.('reg7.example.com/a:1')?.name).toBe('r7');
    expect(limitedRule?.('team.example.org/a:1')?.name).toBe('late');
    expect(limitedRule?.('quay.io/a:1')).toBeUndefined();
    // Only the rules whose prefix or literal text the name has (and the one without any) are tried.
    expect(applied).toBeLessThanOrEqual(8);
  });

  it('tests the rules of one prefix limited to namespaces once per namespace, not once per image', () => {
    // 8,000 `match: gcr.io` rules, each limited to its own namespace: every one was tested for each
    // image of a Pod in another namespace (400 images: 628 ms; 1,000 rules 8.5 ms).
    const rules = [
      ...Array.from({ length: 2000 }, (_, i) => ({ name: `m${i}`, match: 'gcr.io', replace: `mirror.example.com/m${i}`, namespaces: [`ns${i}`] })),
      ...Array.from({ length: 2000 }, (_, i) => ({ name: `r${i}`, regex: 'quay\\.io/(.*)', replace: `mirror.example.com/r${i}/$1`, namespaces: [`ns${i}`] })),
      { name: 'gcr', match: 'gcr.io', replace: 'mirror.example.com/gcr' },
    ];
    const real = load(rules);
    let tested = 0;
    const rewriter = makeRewriter(real.rules.map((rule) => ({ ...rule, appliesToNamespace: (ns: string | undefined) => (tested++, rule.appliesToNamespace(ns)) })), [], true);
    const rewriteMany = (namespace: string): void => {
      for (let i = 0; i < 100; i++) {
        expect(rewriter.rewrite(`gcr.io/a/b${i}:1`, { namespace })).toMatchObject({ rule: { name: namespace === 'ns7' ? 'm7' : 'gcr' } });
        expect(rewriter.rewrite(`quay.io/a/b${i}:1`, { namespace })).toMatchObject(namespace === 'ns7' ? { rule: { name: 'r7' } } : { kind: 'unchanged' });
      }
    };
    rewriteMany('default');
    rewriteMany('ns7');
    // Each rule once per namespace, and a few more for the rule found; 200 images each: 800,000.
    expect(tested).toBeLessThan(2 * 4001 + 2000);
  });

  it('shadowed rules are still reported, by the earliest rule that shadows them', () => {
    const r = validateDocument(
      {
        rules: [
          { name: 'a', match: 'gcr.io/team', replace: 'm.example.com/a' },
          { name: 'scoped', match: 'gcr.io', replace: 'm.example.com/s', namespaces: ['x'] },
          { name: 'b', match: 'gcr.io', replace: 'm.example.com/b' },
          { name: 'c', match: 'gcr.io/team/app', replace: 'm.example.com/c' },
          { name: 'd', match: 'gcr.io/teamx', replace: 'm.example.com/d' },
          { name: 'e', regex: 'quay\\.io/(.*)', replace: 'm.example.com/e/$1' },
          { name: 'f', regex: 'quay\\.io/(.*)', replace: 'm.example.com/f/$1' },
        ],
      },
      TEST_ENV,
    );
    expect(r.ok && r.warnings.map(formatIssue)).toEqual([
      'rules[3]: rule "c" is never used: rule "a" (rules[0]) matches everything it matches and comes first',
      'rules[4]: rule "d" is never used: rule "b" (rules[2]) matches everything it matches and comes first',
      'rules[6]: rule "f" is never used: rule "e" (rules[5]) matches everything it matches and comes first',
    ]);
  });

  it.each([
    { what: 'match rules', make: matchRules },
    { what: 'regex rules', make: regexRules },
  ])('rewriting an image with 16 times more $what costs about the same', ({ make }) => {
    const images = Array.from({ length: 300 }, (_, i) => `unknown${i}.example.org/x/y:1`);
    // Images never seen before on every run (each of the three runs too): the memo would answer repeats.
    let round = 0;
    const cost = (rewriter: Rewriter) => fastest(3, () => {
      round++;
      for (const image of images) rewriter.rewrite(`${image}${round}`);
    });
    const small = load(make(300));
    const large = load(make(4800));
    const ratio = leastRatio(6, () => cost(large) / cost(small));
    process.stdout.write(`16 times more ${make === regexRules ? 'regex' : 'match'} rules: ${ratio.toFixed(2)}x per image\n`);
    // Tested one by one: about 16 (and more: 9,000 regex rules cost 10 ms per image).
    expect(ratio).toBeLessThan(6);
    // And the right rule still wins.
    const hit = make === regexRules ? 'reg4000.example.com/a/b:1' : 'registry4000.example.com/team3/b:1';
    expect(large.rewrite(hit)).toMatchObject({ kind: 'rewritten', rule: { name: make === regexRules ? 'r4000' : 'm4000' } });
  });

  it('rewriting an image with 128 times more exclusions costs about the same (they are looked up by prefix)', () => {
    const excludes = (n: number) => Array.from({ length: n }, (_, i) => `excluded${i}.example.com/team${i % 7}`);
    const rules = [{ name: 'all', regex: '([a-z0-9]+)\\.example\\.(com|org)/(.*)', replace: 'mirror.example.net/$1/$3' }];
    const loadWith = (n: number): Rewriter => {
      const r = validateDocument({ rules, exclude: excludes(n) }, TEST_ENV);
      if (!r.ok) throw new Error(JSON.stringify(r.issues.slice(0, 3)));
      return r.rewriter;
    };
    // Images never seen before on every run: the memo would answer repeats without the exclusions.
    let round = 0;
    const cost = (rewriter: Rewriter) => fastest(3, () => {
      round++;
      for (let i = 0; i < 300; i++) rewriter.rewrite(`unknown${i}.example.org/x/y:${round}`);
    });
    const small = loadWith(300);
    const large = loadWith(38_400);
    // Tested one by one: tens of times more (40,000 exclusions held a review of 2,000 images for 8 s).
    expect(leastRatio(6, () => cost(large) / cost(small))).toBeLessThan(6);
    // And still exactly on a path boundary.
    expect(large.rewrite('excluded4000.example.com/team3')).toMatchObject({ kind: 'unchanged', reason: 'excluded' });
    expect(large.rewrite('excluded4000.example.com/team3/app:1')).toMatchObject({ kind: 'unchanged', reason: 'excluded' });
    expect(large.rewrite('excluded4000.example.com/team33/app:1')).toMatchObject({ kind: 'rewritten' });
    expect(large.rewrite('excluded4000.example.com/app:1')).toMatchObject({ kind: 'rewritten' });
  });

  it('rewriting the images of one namespace with 128 times more namespace globs on a rule costs about the same', () => {
    const loadWith = (n: number): Rewriter =>
      load([{ name: 'scoped', match: 'gcr.io', replace: 'mirror.example.com/gcr', namespaces: [...Array.from({ length: n }, (_, i) => `team${i}-*`), 'shop'] }]);
    let round = 0;
    const cost = (rewriter: Rewriter) => fastest(3, () => {
      round++;
      for (let i = 0; i < 300; i++) rewriter.rewrite(`gcr.io/app${i}:${round}`, { namespace: 'shop' });
    });
    const small = loadWith(300);
    const large = loadWith(38_400);
    // Every glob tested for every image: tens of times more.
    expect(leastRatio(6, () => cost(large) / cost(small))).toBeLessThan(6);
    // And each namespace still gets its own answer.
    expect(large.rewrite('gcr.io/a:1', { namespace: 'shop' })).toMatchObject({ kind: 'rewritten' });
    expect(large.rewrite('gcr.io/a:1', { namespace: 'other' })).toMatchObject({ kind: 'unchanged' });
    expect(large.rewrite('gcr.io/a:1', { namespace: 'team4000-x' })).toMatchObject({ kind: 'rewritten' });
    expect(large.rewrite('gcr.io/a:1')).toMatchObject({ kind: 'unchanged' });
  });

  it(`exactly ${MAX_RULES} rules are accepted`, () => {
    const r = validateDocument({ rules: matchRules(MAX_RULES) }, TEST_ENV);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.rewriter.rules).toHaveLength(MAX_RULES);
  });

  it(`more than ${MAX_RULES} rules are refused with a clear error`, () => {
    const r = validateDocument({ rules: matchRules(MAX_RULES + 1) }, TEST_ENV);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues).toContainEqual({ path: ['rules'], severity: 'error', message: `has ${MAX_RULES + 1} rules; at most ${MAX_RULES} are allowed (docs/reliability.md)` });
  });

  it(`more than ${MAX_RULES} rules, one of them invalid: the limit is reported with the rest, with the document's own count`, () => {
    // The limit was checked on the rules valid on their own only: 10,001 rules with one typo said
    // nothing of it (the next check-config did), and 10,002 with one typo said "has 10001 rules".
    const tooMany = (n: number): unknown[] => matchRules(n).map((r, i) => (i === 5 ? { name: r.name, matchh: r.match, replace: r.replace } : r));
    for (const n of [MAX_RULES + 1, MAX_RULES + 2]) {
      const r = validateDocument({ rules: tooMany(n) }, TEST_ENV);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      const messages = r.issues.map(formatIssue);
      expect(messages).toContain(`rules: has ${n} rules; at most ${MAX_RULES} are allowed (docs/reliability.md)`);
      expect(messages).toContain('rules[5].matchh: unknown field (did you mean "match"?)');
      expect(messages.filter((m) => m.includes('at most'))).toHaveLength(1);
    }
  });

  it('the first matching rule wins, whatever mix of match and regex rules (against testing every rule in order)', () => {
    const rule = fc.oneof(
      fc.record({ kind: fc.constant('match'), host: fc.constantFrom('a.io', 'a.io/x', 'a.io/x/y', 'b.io', 'b.io/x') }),
      fc.record({ kind: fc.constant('regex'), host: fc.constantFrom('a\\.io/(.*)', 'a\\.io/x/(.*)', '(.*)/y', 'b\\.io/x', '([a-z.]+)/x/y', 'a\\.(io)/x/y') }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(rule, fc.boolean()), { minLength: 1, maxLength: 8 }), (specs) => {
        const rules = specs.map(([s, scoped], i) => ({
          name: `r${i}`,
          [s.kind]: s.host,
          replace: s.kind === 'match' ? `m${i}.example.com` : `m${i}.example.com/z`,
          ...(scoped ? { namespaces: ['prod-*'] } : {}),
        }));
        const r = validateDocument({ rules }, TEST_ENV);
        if (!r.ok) return;
        for (const name of ['a.io/x/y', 'a.io/x', 'a.io/q', 'b.io/x', 'b.io/x/y', 'c.io/x/y']) {
          for (const namespace of ['prod-a', 'dev', undefined]) {
            const expected = r.rewriter.rules.find((x) => x.appliesToNamespace(namespace) && x.apply(name) !== undefined);
            const got = r.rewriter.rewrite(name, { namespace });
            if (got.kind === 'rewritten' || got.kind === 'rejected') expect(got.rule.name).toBe(expected?.name);
            else if (got.kind === 'unchanged' && got.reason === 'no-match') expect(expected).toBeUndefined();
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a regex rule only ever matches names that start with its literal prefix', () => {
    fc.assert(
      fc.property(regexSourceArb, fc.array(fc.constantFrom('a', 'b', '/', '.', '-', ':', 'k', 'c', '0', '1', '_', '<', '>', '{', '}'), { maxLength: 10 }), (source, tail) => {
        let re: RegExp;
        try {
          // The source alone too, as the load requires: `1)?(?:` fits in the anchoring (`^(?:1)?(?:)$`)
          // and matches "", but is refused as a rule (a flaky counterexample, about 1 in 100,000 runs).
          new RegExp(source);
          re = new RegExp(`^(?:${source})$`);
        } catch {
          return;
        }
        const prefix = literalPrefix(source);
        // Subjects that share the source's own characters, so that some of them match.
        const plain = source.replace(/[\\()[\]{}?*+|^$.]/g, '');
        for (const s of [plain, `${plain}${tail.join('')}`, tail.join(''), plain.slice(1)]) {
          if (re.test(s)) expect(s.startsWith(prefix)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
    expect(literalPrefix('gcr\\.io/(.*)')).toBe('gcr.io/');
    expect(literalPrefix('ab?c')).toBe('a');
    expect(literalPrefix('a\\.b|c')).toBe('');
    expect(literalPrefix('docker\\.io/library/(nginx|redis)')).toBe('docker.io/library/');
    expect(literalPrefix('a\\cb')).toBe('a');
    expect(literalPrefix('^gcr\\.io/(.*)$')).toBe('gcr.io/');
  });

  it('a regex rule only ever matches names that start with its literal prefix: strings drawn from the regex itself', () => {
    // Subjects made from the regex (fast-check's stringMatching; not for lookarounds and
    // backreferences, which the subjects above cover), so that most of them match, through any
    // group, class or alternation of the source.
    let drawn = 0;
    fc.assert(
      fc.property(fc.tuple(fc.array(fc.constantFrom('a', 'k', '/', '\\.', '-', '_', 'b{0,1}', '(a)', '(|b)', '|'), { maxLength: 5 }), regexSourceArb), fc.integer(), ([start, rest], seed) => {
        // A literal start, so that there is a prefix to get wrong, and what may end it.
        const source = `${start.join('')}${rest}`;
        let re: RegExp;
        let samples: string[];
        try {
          new RegExp(source);
          re = new RegExp(`^(?:${source})$`);
          samples = fc.sample(fc.stringMatching(re, { size: 'small' }), { numRuns: 10, seed });
        } catch {
          return;
        }
        const prefix = literalPrefix(source);
        for (const s of samples.filter((x) => re.test(x))) {
          drawn++;
          expect({ source, s, starts: s.startsWith(prefix) }).toEqual({ source, s, starts: true });
        }
      }),
      { numRuns: 3000 },
    );
    expect(drawn).toBeGreaterThan(1000);
  });

  it('looks an anchored regex rule up by its literal text too: 4,000 of them are not each tried on every image, and the load makes its check', () => {
    // Each was tried on every image (no literal past its `^`), and the check for rules that
    // rewrite nothing was skipped for 10,000 of them.
    const anchored = Array.from({ length: 4000 }, (_, i) => ({ name: `a${i}`, regex: `^reg${i}\\.example\\.com/(.*)$`, replace: `mirror.example.com/a${i}/$1` }));
    const r = validateDocument({ rules: [...anchored, { name: 'all', regex: '^mirror\\.example\\.com/(.+)$', replace: 'other.example.com/$1' }] }, TEST_ENV);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const warnings = r.warnings.map(formatIssue);
    expect(warnings.filter((w) => w.includes('was skipped'))).toEqual([]);
    expect(warnings.filter((w) => w.includes('rewrites nothing'))).toHaveLength(4000);
    expect(r.rewriter.rewrite('reg7.example.com/x')).toMatchObject({ kind: 'rejected', rule: { name: 'a7' } });
  });
});

describe('namespace globs', () => {
  const reference = (glob: string, name: string): boolean =>
    new RegExp(`^${glob.replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(name);

  it('match exactly what the glob means (against the regex they replaced, on small inputs)', () => {
    const unit = fc.constantFrom('a', 'b', '-', '0');
    fc.assert(
      fc.property(fc.array(fc.oneof(unit, fc.constantFrom('*', '?')), { maxLength: 7 }), fc.array(unit, { maxLength: 9 }), (g, n) => {
        const glob = g.join('');
        const name = n.join('');
        expect(globMatcher(glob)(name)).toBe(reference(glob, name));
      }),
      { numRuns: 5000 },
    );
  });

  it('a glob of many stars on a long namespace answers (a backtracking regex ran for minutes)', () => {
    const glob = `${'*a'.repeat(8)}*b`;
    const rewriter = load([{ name: 'r', match: 'gcr.io', replace: 'm.example.com', namespaces: [glob] }]);
    expect(rewriter.rewrite('gcr.io/x', { namespace: 'a'.repeat(60) })).toMatchObject({ kind: 'unchanged', reason: 'no-match' });
    expect(rewriter.rewrite('gcr.io/x', { namespace: `${'a'.repeat(60)}b` })).toMatchObject({ kind: 'rewritten' });
    // Bounded work: the cost on a 100 times longer namespace is about 100 times the cost (not C(n, 8)).
    const short = fastest(5, () => globMatcher(glob)('a'.repeat(600)));
    const long = fastest(5, () => globMatcher(glob)('a'.repeat(60_000)));
    expect(long / Math.max(short, 0.001)).toBeLessThan(2000);
  });
});
