/**
 * The "rewrites nothing" warning for a `match` rule whose results another rule takes again
 * (src/core/rule-warnings.ts), against the rewriter itself: documents of a `match` rule, a regex
 * rule of many shapes (open ones it decides, and others: classes, alternations, deeper or other
 * literals, identity replacements), maybe a rule that keeps some results and an exclude, in any
 * order. Sound: when it warns, no image the rule matches is rewritten by it, in any namespace.
 * And it decides the open shapes: an unscoped open regex that takes every result, with nothing
 * in the way, is warned about.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseRules } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/schema.js';
import { openRegex } from '../../src/core/rule-reach.js';

const PREFIXES = ['k8s.gcr.io', 'quay.io/team'] as const;
const TARGETS = ['registry.k8s.io', 'registry.k8s.io/sub', 'mirror.example.com/quay'] as const;
/** Tails: the first group, when there is one, is what `$1` names. */
const TAILS = ['.*', '.+', '(.*)', '(.+)', '(?<r>.+)', '(?:.+)', '(/.*)?', '(?:/.+)?', '(\\/.+)?', '([a-z]+)', '(pause|coredns)', 'pause', '(.+)/(.+)', '(.*)x'] as const;
const escape = (s: string): string => s.replace(/\./g, '\\.');
const hasGroup = (tail: string): boolean => /\((?!\?:)/.test(tail);

interface Case {
  readonly prefix: string;
  readonly target: string;
  /** Where the literal is cut from `target/` (past its end: more text after it). */
  readonly cut: number;
  readonly extra: string;
  readonly tail: string;
  readonly identity: boolean;
  readonly scoped: boolean;
  readonly keep: 'none' | 'before' | 'after';
  readonly exclude: 'none' | 'target' | 'deeper' | 'other';
  readonly regexFirst: boolean;
}

const cases = fc.record<Case>({
  prefix: fc.constantFrom(...PREFIXES),
  target: fc.constantFrom(...TARGETS),
  cut: fc.nat(30),
  extra: fc.constantFrom('', '2', 'pause/', 'sub/'),
  tail: fc.constantFrom(...TAILS),
  // Mostly without what gets in the way, so that a good share of the documents warn.
  identity: fc.constantFrom(false, false, false, true),
  scoped: fc.constantFrom(false, false, false, true),
  keep: fc.constantFrom('none', 'none', 'none', 'before', 'after'),
  exclude: fc.constantFrom('none', 'none', 'none', 'target', 'deeper', 'other'),
  regexFirst: fc.boolean(),
});

function documentOf(c: Case): { doc: string; literal: string } {
  const dir = `${c.target}/`;
  const literal = c.cut >= dir.length ? dir + c.extra : dir.slice(0, c.cut);
  const group = hasGroup(c.tail) ? '$1' : '';
  // An identity replacement gives back what the literal and the group matched (for the open tails).
  const replace = c.identity ? `${literal}${group}` : `other.example.com/m${group === '' ? '' : `/${group}`}`;
  const regex = `  - {name: re, regex: '${escape(literal)}${c.tail}', replace: '${replace}'${c.scoped ? ', namespaces: [a]' : ''}}\n`;
  const match = `  - {name: m, match: ${c.prefix}, replace: ${c.target}}\n`;
  const keep = `  - {name: keep, regex: '${escape(c.target)}/pause', replace: ${c.target}/pause}\n`;
  const rules = c.regexFirst ? [regex, match] : [match, regex];
  if (c.keep === 'before') rules.unshift(keep);
  if (c.keep === 'after') rules.push(keep);
  const exclude = { none: '', target: `exclude: [${c.target}]\n`, deeper: `exclude: [${c.target}/pause]\n`, other: 'exclude: [other.example.com]\n' }[c.exclude];
  return { doc: `rules:\n${rules.join('')}${exclude}`, literal };
}

/** Images the `match` rule matches: paths of one and two components, and the prefix itself when it can be a name. */
const imagesOf = (prefix: string): string[] => [`${prefix}/pause:3.9`, `${prefix}/a/b:1`, `${prefix}/x`, ...(prefix.includes('/') ? [`${prefix}:1`] : [])];

describe('rewrittenAgainWarnings with regex rules', () => {
  it('never warns about a rule that rewrites something', () => {
    fc.assert(
      fc.property(cases, (c) => {
        const { doc } = documentOf(c);
        const r = parseRules(doc, {});
        if (!r.ok) return;
        const warned = r.warnings.map(formatIssue).some((w) => w.includes('rule "m" rewrites nothing'));
        if (!warned) return;
        for (const image of imagesOf(c.prefix)) {
          for (const namespace of [undefined, 'a', 'b']) {
            const out = r.rewriter.rewrite(image, { namespace });
            expect(out.kind === 'rewritten' && out.rule.name === 'm' ? `${doc}${image} in ${String(namespace)}: ${out.rewritten}` : '').toBe('');
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('warns about every rule whose results an unscoped open regex takes, with nothing in the way', () => {
    fc.assert(
      fc.property(cases, (c) => {
        const { doc, literal } = documentOf(c);
        const shape = openRegex(`${escape(literal)}${c.tail}`);
        const r = parseRules(doc, {});
        if (!r.ok || shape === undefined || c.scoped || c.identity || c.keep === 'before' || c.exclude === 'target' || c.exclude === 'deeper') return;
        // The regex takes every result when each image the rule matches is refused for it.
        const outs = imagesOf(c.prefix).map((image) => r.rewriter.rewrite(image));
        const takesAll = outs.every((o) => o.kind === 'rejected' && o.error.includes('would rewrite again'));
        const warned = r.warnings.map(formatIssue).some((w) => w.includes('rule "m" rewrites nothing'));
        if (takesAll) expect(`${doc} warned: ${String(warned)}`).toBe(`${doc} warned: true`);
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['gcr\\.io/(.*)', { literal: 'gcr.io/', tail: 'any' }],
    ['gcr\\.io/(?<rest>.+)', { literal: 'gcr.io/', tail: 'some' }],
    ['gcr\\.io(?:\\/.*)?', { literal: 'gcr.io', tail: 'path' }],
    ['(.+)', { literal: '', tail: 'some' }],
    ['gcr\\.io/(.+)/(.+)', undefined],
    ['gcr\\.io/[a-z]+', undefined],
    ['gcr\\.io|quay\\.io/(.+)', undefined],
    ['gcr.io/(.+)', undefined],
    ['gcr\\.ios?/(.+)', undefined],
    ['gcr\\.io/(.+))', undefined],
  ] as const)('openRegex(%s)', (source, want) => {
    expect(openRegex(source)).toEqual(want);
  });
});
