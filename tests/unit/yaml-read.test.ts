/**
 * Repeated mapping keys are found in linear time (src/config/yaml-read.ts), with the
 * errors the yaml package's own, quadratic check gives: a manifest with a mapping of 40,000 keys
 * (a ConfigMap's `data`, a Pod's annotations; 460 KiB as YAML or JSON) held `render` for 20 s.
 */
import { describe, expect, it } from '@jest/globals';
import { Composer, LineCounter, Parser, parseAllDocuments } from 'yaml';
import { fileObjects } from '../../src/cli/audit-input.js';
import { readYaml } from '../../src/config/yaml-document.js';
import { addDuplicateKeyErrors } from '../../src/config/yaml-read.js';
import { renderManifests } from '../../src/manifests/render.js';
import { rewriterFrom } from '../helpers/rules.js';
import { cpuMs } from '../helpers/timing.js';

const CASES = [
  'a: 1\na: 2\n',
  'a: 1\nb: 2\n',
  '{a: 1, a: 2}',
  '1: x\n1.0: y\n',
  '0x10: 1\n16: 2\n',
  '.nan: 1\n.nan: 2\n',
  '~: 1\n: 2\n',
  'true: 1\nTrue: 2\n',
  '"a": 1\na: 2\n',
  '&k a: 1\n&j a: 2\n',
  '? a\n: 1\n? a\n: 2\n',
  '? [a]\n: 1\n? [a]\n: 2\n',
  '{? a, ? a}',
  '[a: 1, a: 2]',
  'x: &a {p: 1}\ny: &b {q: 1}\nz:\n  <<: *a\n  <<: *b\n',
  'a:\n  b: 1\n  b: 2\nc: 1\nc: 3\n',
  'a: [1, {x: 1, x: 2}]\n- a: 1\n  a: 2\n',
  'a: 1\na: 2\nb: [\n',
  'a: 1\n b: bad\na: 2\n',
  'a: 1\n--- \na: 1\na: 1\n',
];

interface Errors {
  readonly errors: readonly { code: string; pos: readonly number[]; message: string; linePos?: unknown }[];
}
const summary = (docs: readonly Errors[]): unknown => docs.map((d) => d.errors.map((e) => [e.code, e.pos, e.message.split('\n')[0], e.linePos]));

describe('addDuplicateKeyErrors', () => {
  it.each(CASES)('%j: the errors the yaml package gives', (text) => {
    const options = { keepSourceTokens: true, merge: true, logLevel: 'error' } as const;
    const theirs = [...new Composer({ ...options, uniqueKeys: true }).compose(new Parser().parse(text))];
    const ours = [...new Composer({ ...options, uniqueKeys: false }).compose(new Parser().parse(text))];
    for (const doc of ours) addDuplicateKeyErrors(doc);
    expect(summary(ours)).toEqual(summary(theirs));
    // With prettyErrors: the same first line (`... at line L, column C:`) and position.
    const lineCounter = new LineCounter();
    const pretty = parseAllDocuments(text, { merge: true, logLevel: 'error', uniqueKeys: false, lineCounter });
    for (const doc of pretty) addDuplicateKeyErrors(doc, lineCounter);
    expect(summary(pretty)).toEqual(summary(parseAllDocuments(text, { merge: true, logLevel: 'error' })));
  });
});

describe('a mapping of many keys', () => {
  const rewriter = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');
  const configMap = (n: number, last = ''): string =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n${Array.from({ length: n }, (_, i) => `  k${i}: v`).join('\n')}\n${last}` +
    '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: gcr.io/x\n';
  // CPU time, which a loaded machine does not stretch (tests/helpers/timing.ts).
  const seconds = (f: () => void): number => cpuMs(f) / 1000;

  it('costs render, audit -f and a rules document a time linear in the keys (8 times the keys: under 24 times the time)', () => {
    const N = 4000;
    const render = (n: number) => (): void => {
      const r = renderManifests(configMap(n), { rewriter, annotate: false, scope: 'all' });
      expect(r.ok && r.changes.map((c) => c.to)).toEqual(['asia.gcr.io/x']);
    };
    render(N)();
    const small = seconds(render(N));
    const large = seconds(render(8 * N));
    // Before: 0.3 s and 12 s (the package compared each key with every key before it).
    expect(large / Math.max(small, 0.01)).toBeLessThan(24);
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', data: Object.fromEntries(Array.from({ length: 8 * N }, (_, i) => [`k${i}`, 'v'])) });
    expect(seconds(render(8 * N))).toBeLessThan(Math.max(24 * small, 2));
    expect(seconds(() => {
      expect(renderManifests(json, { rewriter, annotate: false, scope: 'all' }).ok).toBe(true);
    })).toBeLessThan(Math.max(24 * small, 2));
    const io = { stdout: () => undefined, stderr: () => undefined, env: {}, readStdin: () => Promise.resolve('') };
    expect(seconds(() => {
      expect(fileObjects(configMap(8 * N), io, 'x').objects).toHaveLength(2);
    })).toBeLessThan(Math.max(24 * small, 2));
    const rules = `rules: []\n${Array.from({ length: 8 * N }, (_, i) => `k${i}: v`).join('\n')}\n`;
    expect(seconds(() => {
      expect(readYaml(rules).ok).toBe(true);
    })).toBeLessThan(Math.max(24 * small, 2));
  });

  it('still refuses a key repeated among them, at its line', () => {
    const r = renderManifests(configMap(20_000, '  k19999: again\n'), { rewriter, annotate: false, scope: 'all' });
    expect(!r.ok && r.error).toBe('document 1 (line 20006, column 3): Map keys must be unique');
  });
});
