/**
 * `render`'s memory grows with its input by a small figure per object, for a JSON List (one
 * document: `kubectl get pods -A -o json`) as for multi-document YAML: the live heap (after a real
 * collection) while the objects are decided and once the result is made, for N objects and for 4N.
 * Before the List was rendered item by item, its whole syntax tree was alive then: each small Pod
 * added about 30 KB (200 times its text; 200,000 Pods did not fit in node's 4 GB heap). A ratio of
 * two runs, neither a time nor an absolute figure.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { renderManifests } from '../../src/manifests/render.js';
import { APPLY } from '../../src/verify/policy.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom(readFileSync(join(FIXTURES, 'render', 'rules.yaml'), 'utf8'));
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * The largest live heap (above what was live before) while `source` is rendered: sampled after a
 * collection at every `every`-th planned rewrite (render's `check` hook, called while the objects
 * are decided, after each document or List has been read) and once the result is made.
 */
function peakHeap(source: string, every: number): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  let peak = 0;
  let calls = 0;
  const sample = (): void => {
    gc();
    peak = Math.max(peak, process.memoryUsage().heapUsed - before);
  };
  const r = renderManifests(source, {
    rewriter,
    annotate: false,
    scope: 'all',
    check: () => {
      if (++calls % every === 0) sample();
      return APPLY;
    },
  });
  sample();
  expect(r.ok && r.changes.length).toBe(calls);
  return peak;
}

const pod = (i: number): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}`, namespace: `ns${i % 50}` }, spec: { containers: [{ image: `gcr.io/app${i % 7}:1`, name: 'a' }] } });
/** kubectl's List, written compactly (`jq -c .`): the most objects per byte, 140 bytes each. */
const jsonList = (n: number): string => `${JSON.stringify({ apiVersion: 'v1', items: Array.from({ length: n }, (_, i) => pod(i)), kind: 'List', metadata: { resourceVersion: '' } })}\n`;
/** The same List as kubectl prints it in YAML (`-o yaml`: items at column 0), rendered item by item too. */
const yamlList = (n: number): string =>
  `apiVersion: v1\nitems:\n${Array.from({ length: n }, (_, i) => `- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p${i}\n    namespace: ns${i % 50}\n  spec:\n    containers:\n    - image: gcr.io/app${i % 7}:1\n      name: a\n`).join('')}kind: List\nmetadata:\n  resourceVersion: ""\n`;
const yamlDocuments = (n: number): string =>
  Array.from({ length: n }, (_, i) => `---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p${i}\n  namespace: ns${i % 50}\nspec:\n  containers:\n  - name: a\n    image: gcr.io/app${i % 7}:1\n`).join('');

const N = 2000;

describe('render memory per object (N and 4N objects, every image rewritten)', () => {
  it.each([
    ['a JSON List', jsonList],
    ['a YAML List', yamlList],
    ['multi-document YAML', yamlDocuments],
  ])('%s: each object adds about a KB, not tens', (_name, make) => {
    const [small, large] = [make(N), make(4 * N)];
    const [a, b] = [peakHeap(small, N / 8), peakHeap(large, N / 2)];
    const perObject = (b - a) / (3 * N);
    // Measured (docs/performance.md): 1.2 KB per object of the List (the items' values, what
    // changes, the output), 0.5 KB per YAML document; 15 KB for the List before (30 KB at its end).
    expect(perObject).toBeLessThan(3 * 1024);
    // Proportional to the input: 8 times it at most, never the 100 to 200 times of a syntax tree.
    expect(b - a).toBeLessThan(16 * (large.length - small.length));
  });
});
