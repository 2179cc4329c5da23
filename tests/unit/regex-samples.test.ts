/** The names a regex rule matches, made from its source for the load-time checks (src/core/regex-samples.ts). */
import { describe, expect, it } from '@jest/globals';
import { parseRules } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/schema.js';
import { regexSamples } from '../../src/core/regex-samples.js';
import { regexRewrittenAgainWarnings, type RuleSamples } from '../../src/core/rule-warnings.js';
import { anchoredRuleSource } from '../../src/core/rules.js';

/** The names of `source` its own regex matches, each with the groups it matched. */
const names = (source: string, limit = 8): string[] => {
  const re = new RegExp(anchoredRuleSource(source));
  return regexSamples(source, (name) => re.exec(name)?.slice(1).join('|'), limit).map((s) => s.name);
};

describe('regexSamples', () => {
  it('gives names with an optional group present and absent, and with each branch of an alternation', () => {
    expect(names('registry\\.example\\.com(:[0-9]+)?/(.+)')).toEqual(expect.arrayContaining(['registry.example.com:5000/x', 'registry.example.com/x']));
    const hosts = names('(localhost|[a-z]+\\.example\\.com)/([a-z0-9]+)/(.+)', 2).map((n) => n.slice(0, n.indexOf('/')));
    expect(hosts).toEqual(['localhost', 'x.example.com']);
  });

  it('gives only normalized names (a host first, lower case, no empty component)', () => {
    for (const name of names('(.*)/(.*)', 8)) expect(name).toMatch(/^[a-z0-9.-]+(?::[0-9]+)?(?:\/[a-z0-9._-]+)+$/);
    expect(names('GCR\\.io/(.*)')).toEqual([]);
  });

  it('reads counted and lazy repetitions, escapes, word boundaries and anchors', () => {
    expect(names('gcr\\.io/[a-z]{2,3}/(.*)')[0]).toBe('gcr.io/xx/x');
    expect(names('gcr\\.io/a{2}/(.+?)')[0]).toBe('gcr.io/aa/x');
    expect(names('^\\bgcr\\.io\\/\\x61(\\w+)$')).toEqual(['gcr.io/ax', 'gcr.io/a5000', 'gcr.io/ax_x']);
    expect(names('gcr\\.io/(?<rest>[^/]+)(?:/(.*))?')).toEqual(expect.arrayContaining(['gcr.io/x', 'gcr.io/x/x']));
  });

  it('gives no names for what it does not read, nor for what no name can be', () => {
    // Sources that are no regex (refused at load before): read as nothing.
    for (const source of ['gcr\\.io/(a))', 'gcr\\.io/[a-z', 'gcr\\.io/(a', '*a', 'a\\1']) expect(regexSamples(source, () => 'y', 2)).toEqual([]);
    expect(names('gcr\\.io/(?=a)(.*)')).toEqual([]);
    expect(names('gcr\\.io/a{100000000}(.*)')).toEqual([]);
  });

  it('gives no names, and does not throw, for groups nested too deep for its stack', () => {
    // The load failed ("cannot be read: Maximum call stack size exceeded") on 1,200 nested groups,
    // which the regex check accepts.
    const deep = `x\\.io/${'('.repeat(20_000)}a${')'.repeat(20_000)}`;
    expect(regexSamples(deep, () => 'y', 2)).toEqual([]);
    const doc = `rules:\n  - name: r\n    regex: 'x\\.io/${'('.repeat(1200)}a${')'.repeat(1200)}'\n    replace: 'mirror.example.com/m/$1'\n`;
    const r = parseRules(doc, {});
    expect(r.ok ? [] : r.issues.map(formatIssue).filter((i) => i.startsWith('(document)'))).toEqual([]);
  });
});

describe('regexRewrittenAgainWarnings', () => {
  it('makes the samples only of rules whose results some rule may take (making them runs the regex, which compiles it)', () => {
    const loaded = parseRules("rules:\n  - {name: a, regex: 'reg1\\.example\\.com/(.*)', replace: 'mirror.example.com/a/$1'}\n  - {name: b, regex: 'mirror\\.example\\.com/(.*)', replace: 'other.example.com/$1'}\n  - {name: c, match: gcr.io, replace: asia.gcr.io}\n", {});
    if (!loaded.ok) throw new Error('rules did not compile');
    const made: string[] = [];
    const samples = new Map<number, RuleSamples>(
      [
        [0, 'mirror.example.com/a/'],
        [1, 'other.example.com/'],
      ].map(([index, start]) => [
        Number(index),
        {
          start: String(start),
          first: () => {
            made.push(String(start));
            return [{ name: 'reg1.example.com/x', out: `${String(start)}x` }];
          },
          more: () => [{ name: 'reg1.example.com/x', out: `${String(start)}y` }],
        },
      ]),
    );
    const warnings = regexRewrittenAgainWarnings(loaded.rewriter.rules, samples, loaded.rewriter);
    // Rule b takes what a gives; no rule takes other.example.com/...: its samples are never made.
    expect(made).toEqual(['mirror.example.com/a/']);
    expect(warnings.map((w) => w.message)).toEqual([expect.stringContaining('rule "a" rewrites nothing: rule "b" (rules[1])')]);
  });
});
