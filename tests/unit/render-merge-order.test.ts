/**
 * A merge key (`<<`) after a key that it brings in again. YAML's merge (the `yaml` package, which
 * `render` and `audit -f` read with) keeps what came first; kubectl's reader (sigs.k8s.io/yaml:
 * go-yaml v2) applies the entries in order, and the merged value wins. `image: mirror/app:1` then
 * `<<: {image: gcr.io/app:1}` passed `render --check` and `audit -f` while kubectl applied
 * gcr.io/app:1; the same for two merges that bring in one key. Such a mapping is refused (exit 2,
 * its line); merges kubectl reads as YAML does (first in their mapping, or of other keys) are not,
 * and an image one brings in is written out after it.
 */
import { describe, expect, it } from '@jest/globals';
import { main } from '../../src/cli/main.js';
import { parseAllDocumentsUnique } from '../../src/config/yaml-read.js';
import { captureIo } from '../helpers/io.js';

const RULES = 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n';

async function run(args: string[], stdin: string): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo({ REWRITE_RULES: RULES }, stdin);
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

const pod = (container: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nx: &up {image: gcr.io/app:1}\ny: &pol {imagePullPolicy: Always}\nspec:\n  containers:\n  - name: a\n${container}`;

describe('a merge key kubectl reads otherwise than YAML', () => {
  it.each([
    ['after the key it brings in', pod('    image: asia.gcr.io/app:1\n    <<: *up\n'), 'line 11, column 5'],
    ['an inline mapping after the key', pod('    image: asia.gcr.io/app:1\n    <<: {image: gcr.io/app:2}\n'), 'line 11, column 5'],
    ['after a merge that brings in the same key', pod('    <<: {image: asia.gcr.io/app:1}\n    <<: *up\n'), 'line 11, column 5'],
    ['in a flow mapping', pod('').replace('  - name: a\n', '  - {name: a, image: asia.gcr.io/app:1, <<: *up}\n'), 'line 9, column 41'],
  ])('%s: render, render --check and audit -f refuse it (exit 2)', async (_name, text, where) => {
    for (const command of [['render'], ['render', '--check'], ['audit', '-o', 'json']]) {
      const r = await run([...command, '-f', '-'], text);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toContain('the merge key (<<) brings in "image", which its mapping has before it: kubectl (YAML 1.1, go-yaml) takes the merged value');
      expect(r.err).toContain(where);
    }
  });
});

describe('merge keys kubectl reads as YAML does', () => {
  it.each([
    ['first in the mapping, the key after it', pod('    <<: *up\n    image: gcr.io/app:3\n'), 'asia.gcr.io/app:3'],
    ['after keys it does not bring in', pod('    image: gcr.io/app:3\n    <<: *pol\n'), 'asia.gcr.io/app:3'],
  ])('%s: rendered', async (_name, text, image) => {
    const r = await run(['render', '-f', '-'], text);
    expect(r).toEqual({ code: 0, out: text.replace('gcr.io/app:3', image), err: '' });
  });

  // An image a merge key brings in is written out after it, in the mapping that merges it, where it
  // wins in YAML's merge and in kubectl's (tests/e2e/render-kubectl.e2e.ts reads it back with kubectl).
  it.each([
    ['an alias', pod('    <<: *up\n'), pod('    <<: *up\n    image: asia.gcr.io/app:1\n')],
    ['a list of merges, the first wins in both', pod('').replace('  - name: a\n', '  - <<: [{image: gcr.io/app:3}, *up]\n    name: b\n'), pod('').replace('  - name: a\n', '  - <<: [{image: gcr.io/app:3}, *up]\n    name: b\n    image: asia.gcr.io/app:3\n')],
    ['a flow mapping', pod('').replace('  - name: a\n', '  - {name: a, <<: *up}\n'), pod('').replace('  - name: a\n', '  - {name: a, <<: *up, "image": "asia.gcr.io/app:1"}\n')],
    ['a container that is itself an anchor', `apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  initContainers:\n  - &c {name: a, image: gcr.io/x:1}\n  containers:\n  - <<: *c\n    name: b\n`, `apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  initContainers:\n  - &c {name: a, image: asia.gcr.io/x:1}\n  containers:\n  - <<: *c\n    name: b\n    image: asia.gcr.io/x:1\n`],
    ['a container that another list holds as an alias of it (one image for both)', `apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nx: &up {image: gcr.io/x:1}\nspec:\n  initContainers:\n  - &c\n    <<: *up\n    name: a\n  containers:\n  - *c\n`, `apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nx: &up {image: gcr.io/x:1}\nspec:\n  initContainers:\n  - &c\n    <<: *up\n    name: a\n    image: asia.gcr.io/x:1\n  containers:\n  - *c\n`],
  ])('an image reached through a merge key (%s): written out after it', async (_name, text, out) => {
    const r = await run(['render', '-f', '-'], text);
    expect(r).toEqual({ code: 0, out, err: '' });
    expect(await run(['render', '-f', '-'], out)).toEqual({ code: 0, out, err: '' });
  });

  it('audit -f: a top-level merge key is not taken for two `kubectl get -o yaml` outputs run together', async () => {
    const r = await run(['audit', '-f', '-'], 'apiVersion: v1\nkind: List\nitems: []\nd: &d {kind: List}\n<<: *d\n');
    expect(r.code).toBe(2);
    expect(r.err).toContain('the merge key (<<) brings in "kind"');
    expect(r.err).not.toContain('kubectl get -o yaml` outputs need');
  });

  it('two merges of different keys, and a merge of a key written after it', () => {
    const docs = parseAllDocumentsUnique('a: &a {p: 1}\nb: &b {q: 1}\nc:\n  <<: *a\n  <<: *b\n  p: 2\n', { merge: true });
    expect(docs.map((d) => d.errors.length)).toEqual([0]);
  });
});
