/**
 * The label selector evaluator (src/core/label-selector.ts) against the semantics of
 * k8s.io/apimachinery: labels.Requirement.Matches (In needs the key; NotIn and DoesNotExist hold
 * without it; Exists needs it), LabelSelectorAsSelector (matchLabels are In of one value, all
 * requirements ANDed, an empty selector matches everything, In/NotIn need values and
 * Exists/DoesNotExist take none, any other operator is an error), and the partial evaluation
 * audit uses for a namespace known only by name.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { labelsOf, parseSelector, requirementMatches, type Requirement, type Selector, selectorMatches } from '../../src/core/label-selector.js';

const labels = (o: Record<string, string> = {}): Map<string, string> => new Map(Object.entries(o));

function selector(value: unknown): Selector {
  const parsed = parseSelector(value);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed.selector;
}

describe('requirementMatches: labels.Requirement.Matches', () => {
  const cases: [Requirement, Record<string, string>, boolean][] = [
    [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }, { env: 'prod' }, true],
    [{ key: 'env', operator: 'In', values: ['prod'] }, { env: 'dev' }, false],
    [{ key: 'env', operator: 'In', values: ['prod'] }, {}, false], // In: a missing key never matches
    [{ key: 'env', operator: 'In', values: [''] }, { env: '' }, true], // the empty value is a value
    [{ key: 'env', operator: 'NotIn', values: ['prod'] }, { env: 'dev' }, true],
    [{ key: 'env', operator: 'NotIn', values: ['prod'] }, { env: 'prod' }, false],
    [{ key: 'env', operator: 'NotIn', values: ['prod'] }, {}, true], // NotIn: a missing key matches
    [{ key: 'env', operator: 'Exists', values: [] }, { env: '' }, true],
    [{ key: 'env', operator: 'Exists', values: [] }, {}, false],
    [{ key: 'env', operator: 'DoesNotExist', values: [] }, {}, true],
    [{ key: 'env', operator: 'DoesNotExist', values: [] }, { env: 'x' }, false],
  ];
  it.each(cases)('%j on %j: %s', (r, ls, expected) => {
    expect(requirementMatches(r, labels(ls))).toBe(expected);
  });
});

describe('parseSelector and selectorMatches: LabelSelectorAsSelector', () => {
  it('an empty or absent selector matches everything (the API server defaults a webhook\'s to {})', () => {
    for (const v of [undefined, null, {}, { matchLabels: {}, matchExpressions: [] }, { matchLabels: null, matchExpressions: null }]) {
      expect(selectorMatches(selector(v), labels())).toBe(true);
      expect(selectorMatches(selector(v), labels({ a: 'b' }))).toBe(true);
    }
  });

  it('matchLabels: every key present with that value', () => {
    const s = selector({ matchLabels: { app: 'web', tier: 'front' } });
    expect(selectorMatches(s, labels({ app: 'web', tier: 'front', extra: 'x' }))).toBe(true);
    expect(selectorMatches(s, labels({ app: 'web' }))).toBe(false);
    expect(selectorMatches(s, labels({ app: 'web', tier: 'back' }))).toBe(false);
  });

  it('matchLabels and matchExpressions are ANDed', () => {
    const s = selector({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'image-rewriter.io/skip', operator: 'NotIn', values: ['true'] }] });
    expect(selectorMatches(s, labels({ app: 'web' }))).toBe(true);
    expect(selectorMatches(s, labels({ app: 'web', 'image-rewriter.io/skip': 'true' }))).toBe(false);
    expect(selectorMatches(s, labels({ 'image-rewriter.io/skip': 'false' }))).toBe(false);
  });

  it('what webhook-config writes: kube-system and opted-out namespaces are not selected', () => {
    const s = selector({
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
        { key: 'image-rewriter.io/skip', operator: 'NotIn', values: ['true'] },
      ],
    });
    expect(selectorMatches(s, labels({ 'kubernetes.io/metadata.name': 'shop' }))).toBe(true);
    expect(selectorMatches(s, labels({ 'kubernetes.io/metadata.name': 'kube-system' }))).toBe(false);
    expect(selectorMatches(s, labels({ 'kubernetes.io/metadata.name': 'quiet', 'image-rewriter.io/skip': 'true' }))).toBe(false);
    // Only the name known: the name cannot rule out "shop", it does rule out kube-system.
    const byName = (key: string): boolean => key === 'kubernetes.io/metadata.name';
    expect(selectorMatches(s, labels({ 'kubernetes.io/metadata.name': 'shop' }), byName)).toBe(true);
    expect(selectorMatches(s, labels({ 'kubernetes.io/metadata.name': 'kube-system' }), byName)).toBe(false);
  });

  it('refuses what the API server refuses, saying where', () => {
    const problem = (v: unknown): string => {
      const p = parseSelector(v);
      return 'problem' in p ? p.problem : '(none)';
    };
    expect(problem({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] })).toBe('matchExpressions[0]: In needs at least one value');
    expect(problem({ matchExpressions: [{ key: 'a', operator: 'NotIn' }] })).toBe('matchExpressions[0]: NotIn needs at least one value');
    expect(problem({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })).toBe('matchExpressions[0]: Exists takes no values');
    expect(problem({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] })).toBe('matchExpressions[0].operator is not one of In, NotIn, Exists, DoesNotExist: Gt');
    expect(problem({ matchExpressions: [{ operator: 'Exists' }] })).toBe('matchExpressions[0].key is missing');
    expect(problem({ matchExpressions: [{ key: 'a', operator: 'In', values: [1] }] })).toBe('matchExpressions[0].values is not a list of strings');
    expect(problem({ matchLabels: { a: 1 } })).toBe('matchLabels.a is not a string');
    expect(problem({ matchExpressions: {} })).toBe('matchExpressions is not a list');
    expect(problem('a=b')).toBe('is not a label selector (a mapping)');
  });

  it('agrees with a direct reading of the rules on generated selectors and labels', () => {
    const key = fc.constantFrom('a', 'b', 'c');
    const value = fc.constantFrom('x', 'y', '');
    const requirement = fc.oneof(
      fc.record({ key, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.array(value, { minLength: 1, maxLength: 2 }) }),
      fc.record({ key, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const), values: fc.constant([] as string[]) }),
    );
    fc.assert(
      fc.property(fc.array(requirement, { maxLength: 4 }), fc.dictionary(key, value), (expressions, ls) => {
        const has = (k: string): boolean => Object.hasOwn(ls, k);
        const expected = expressions.every((r) =>
          r.operator === 'In' ? has(r.key) && r.values.includes(ls[r.key] ?? '')
          : r.operator === 'NotIn' ? !has(r.key) || !r.values.includes(ls[r.key] ?? '')
          : r.operator === 'Exists' ? has(r.key)
          : !has(r.key),
        );
        expect(selectorMatches(selector({ matchExpressions: expressions }), labels(ls))).toBe(expected);
      }),
    );
  });
});

describe('labelsOf', () => {
  it('the string labels of metadata.labels; anything else is no label', () => {
    expect([...labelsOf({ metadata: { labels: { a: 'b', n: 1, z: null } } })]).toEqual([['a', 'b']]);
    expect(labelsOf({ metadata: {} }).size).toBe(0);
    expect(labelsOf(null).size).toBe(0);
  });
});
