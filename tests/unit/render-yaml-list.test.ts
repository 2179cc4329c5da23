/**
 * A YAML List in kubectl's layout (`kubectl get -A -o yaml`) is rendered item by item
 * (src/manifests/yaml-list.ts), not parsed whole: the same bytes, changes, warnings and errors as
 * the whole-document path, which the same List takes after a `%YAML 1.2` directive (a text with
 * directives is parsed whole). Any other layout, and an item that does not parse on its own (an
 * alias to another item's anchor), goes down the whole-document path.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { DecideOptions } from '../../src/core/manifest.js';
import { renderManifests, type RenderResult } from '../../src/manifests/render.js';
import { yamlListOf } from '../../src/manifests/yaml-list.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom(
  'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n  - {name: hub, match: docker.io/library, replace: mirror.example.com/hub, imagePullSecrets: [hub-pull]}\n  - {name: quay, match: quay.io, replace: mirror.example.com/quay, namespaces: [team-a]}\n',
);
const OPTIONS: DecideOptions = { annotate: false, scope: 'all' };
const render = (text: string, options: Partial<DecideOptions> & { maxDocumentChars?: number } = {}): RenderResult => renderManifests(text, { rewriter, ...OPTIONS, ...options });

const DIRECTIVE = '%YAML 1.2\n---\n';
/**
 * The same text through the whole-document path: a directive first (in place of a `---` line).
 * Its document starts at line 1 as well; the lines of an error inside it are told back.
 */
function whole(text: string, options: Partial<DecideOptions> = {}): RenderResult {
  const start = /^---\r?\n/.exec(text)?.[0] ?? '';
  const r = render(DIRECTIVE + text.slice(start.length), options);
  if (r.ok) return { ...r, output: start + r.output.slice(DIRECTIVE.length) };
  const shift = start === '' ? 2 : 1;
  return { ok: false, error: r.error.replace(/^(document \d+ \(line )(\d+)/, (m, a: string, line: string) => (line === '1' ? m : a + String(Number(line) - shift))) };
}

/** Both paths agree, and the text did take the item-by-item one. */
function same(text: string, options: Partial<DecideOptions> = {}): RenderResult {
  expect(yamlListOf(text)).toBeDefined();
  const r = render(text, options);
  expect(r).toEqual(whole(text, options));
  return r;
}

const pod = (name: string, image: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'team-a' },
  spec: { containers: [{ name: 'a', image }], ...extra },
});
/** As kubectl prints a List (sigs.k8s.io/yaml: sorted keys, items at column 0). */
const list = (items: unknown[]): string => stringify({ apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } }, { indentSeq: false, sortMapEntries: true });

const image = fc.constantFrom('gcr.io/app:1', 'nginx:1.27', 'quay.io/x/y@sha256:' + 'a'.repeat(64), 'asia.gcr.io/done:2', 'gcr.io/Bad:1', 'registry.example.com/own');
const item = fc.record({
  kind: fc.constantFrom('Pod', 'Deployment', 'ConfigMap'),
  name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
  namespace: fc.option(fc.constantFrom('team-a', 'team-b'), { nil: undefined }),
  images: fc.array(image, { minLength: 1, maxLength: 3 }),
  secrets: fc.constantFrom(undefined, [], [{ name: 'own' }]),
  /** An anchored image and its alias: both in this item, the alias to the item before's anchor, an anchor name every item uses. */
  anchors: fc.constantFrom('none', 'none', 'inside', 'across', 'reused'),
  note: fc.option(fc.constantFrom('one line', 'two\nlines', 'trailing\n', 'keep\n\n', ' leading space\nand "quotes" and \'apostrophes\'', 'a long line that the writer folds over several lines when it is narrow enough', 'a\ttab, so double quoted, on a line long enough to be folded by the writer', '*not an alias, so single quoted, on a line long enough to be folded'), { nil: undefined }),
});
type Item = typeof item extends fc.Arbitrary<infer T> ? T : never;
const toObject = (i: Item, at: number): Record<string, unknown> => {
  const images = { none: i.images, inside: [`@A${at}`, `@R${at}`], across: [`@R${at - 1}`], reused: ['@A', '@R'] }[i.anchors];
  const spec = { containers: images.map((img, n) => ({ name: `c${n}`, image: img })), ...(i.secrets === undefined ? {} : { imagePullSecrets: i.secrets }) };
  const metadata = { name: i.name, ...(i.namespace === undefined ? {} : { namespace: i.namespace }), ...(i.note === undefined ? {} : { annotations: { note: i.note } }) };
  if (i.kind === 'Pod') return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
  if (i.kind === 'Deployment') return { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec: { template: { metadata: { labels: { app: i.name } }, spec } } };
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { image: i.images[0] } };
};
/** A line inserted into the text (after line `at`, modulo their number): a comment at some indentation, a blank line, a comment after the line's text. */
const insertion = fc.record({ at: fc.nat(), what: fc.constantFrom('comment', 'blank', 'after') , indent: fc.nat({ max: 8 }) });

function insert(text: string, edits: readonly { at: number; what: string; indent: number }[]): string {
  const lines = text.split('\n');
  for (const { at, what, indent } of edits) {
    const n = at % lines.length;
    if (what === 'after') {
      if (!/[#"'|>]/.test(lines[n] ?? '')) lines[n] = `${lines[n] ?? ''} # c`;
    } else lines.splice(n + 1, 0, what === 'blank' ? ' '.repeat(indent % 3) : `${' '.repeat(indent)}# c${n}`);
  }
  return lines.join('\n');
}

/** The anchors and aliases of toObject's images written as YAML's. */
const anchored = (text: string): string => text.replace(/"@A(\d*)"/g, '&a$1 gcr.io/app:1').replace(/"@R(-?\d*)"/g, '*a$1');

describe('a YAML List, item by item', () => {
  it('gives the bytes, changes, warnings and errors of the whole-document path (generated Lists)', () => {
    let fast = 0;
    fc.assert(
      fc.property(
        fc.array(item, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        fc.constantFrom(0, 30),
        fc.boolean(),
        fc.boolean(),
        fc.array(insertion, { maxLength: 3 }),
        fc.constantFrom('', '---\n', '# head\n'),
        (items, indentSeq, lineWidth, crlf, annotate, insertions, prefix) => {
          const value = { apiVersion: 'v1', items: items.map((i, at) => toObject(i, at)), kind: 'List', metadata: { resourceVersion: '' } };
          let text = prefix + insert(anchored(stringify(value, { indentSeq, lineWidth, sortMapEntries: true })), insertions);
          if (crlf) text = text.replace(/\n/g, '\r\n');
          if (yamlListOf(text) !== undefined) fast++;
          expect(render(text, { annotate })).toEqual(whole(text, { annotate }));
        },
      ),
      { numRuns: Number(process.env['RUNS'] ?? 300) },
    );
    // Most of them take the item-by-item path (a comment at column 0 or 1 in the items does not).
    expect(fast).toBeGreaterThan(150);
  });


  /** What kubectl prints for `get deploy -A -o yaml`, abridged, with what people add by hand. */
  const KUBECTL = [
    'apiVersion: v1',
    'items:',
    '- apiVersion: apps/v1',
    '  kind: Deployment',
    '  metadata:',
    '    annotations:',
    '      note: |',
    '        a block scalar',
    '        - apiVersion: not an item',
    '      quoted: "a string over',
    '        two lines"',
    '    name: web # a comment after a value',
    '    namespace: team-a',
    '  spec:',
    '    template:',
    '      spec:',
    '        # a comment inside the item',
    '        containers:',
    '        - image: &web gcr.io/web:1',
    '          name: web',
    '        - image: *web',
    '          name: sidecar',
    '        - image: nginx',
    '          name: hub',
    '',
    '- apiVersion: v1',
    '  kind: Pod',
    '  metadata:',
    '    name: plain',
    '    namespace: team-b',
    '  spec:',
    '    containers:',
    '    - image: quay.io/x/y:2',
    '      name: a',
    '    - image: gcr.io/app:3',
    '      name: b',
    '  # a comment at the end of the item',
    'kind: List',
    'metadata:',
    '  resourceVersion: ""',
    '',
  ].join('\n');
  /** The same with its items at column 2 (`  - `), as some writers indent them. */
  const INDENTED = KUBECTL.replace(/\n(- | {2})/g, '\n  $1').replace(/\n {4}(?=kind: List|resourceVersion)/, '\n');

  // Lines deleted, repeated, indented or not, turned into items, anchors, aliases, tabs, open
  // quotes, block scalars, keys at column 0: whichever path each takes, the same result.
  it('gives the whole-document path\'s result for a kubectl List edited at random', () => {
    const edit = fc.record({ at: fc.nat(), op: fc.constantFrom('delete', 'repeat', 'in', 'in2', 'out', 'out2', 'dash', 'anchor', 'alias', 'tab', 'quote', 'block', 'key') });
    fc.assert(
      fc.property(fc.array(edit, { maxLength: 4 }), fc.boolean(), fc.boolean(), fc.boolean(), (edits, crlf, indented, annotate) => {
        const lines = (indented ? INDENTED : KUBECTL).split('\n');
        for (const { at, op } of edits) {
          const n = at % lines.length;
          const l = lines[n] ?? '';
          if (op === 'delete') lines.splice(n, 1);
          else if (op === 'repeat') lines.splice(n, 0, l);
          else if (op === 'key') lines.splice(n, 0, 'x: 1');
          else {
            const change: Record<string, [RegExp, string]> = {
              in: [/^/, ' '],
              in2: [/^/, '  '],
              out: [/^ /, ''],
              out2: [/^ {2}/, ''],
              dash: [/^( *)(\S)/, '$1- $2'],
              anchor: [/: (\S)/, ': &z $1'],
              alias: [/: \S.*$/, ': *z'],
              tab: [/^ /, '\t'],
              quote: [/: (\S)/, ': "$1'],
              block: [/: \S.*$/, ': |'],
            };
            const [from, to] = change[op] ?? [/^/, ''];
            lines[n] = l.replace(from, to);
          }
        }
        const text = crlf ? lines.join('\r\n') : lines.join('\n');
        expect(render(text, { annotate })).toEqual(whole(text, { annotate }));
      }),
      { numRuns: Number(process.env['RUNS'] ?? 300) },
    );
  });

  it.each([
    ['as kubectl prints it', KUBECTL],
    ['with CRLF', KUBECTL.replace(/\n/g, '\r\n')],
    ['with its items indented by 2', INDENTED],
    ['after ---', `---\n${KUBECTL}`],
  ])('%s: the same bytes as the whole-document path, with --annotate and pull secrets too', (_name, text) => {
    expect(same(text)).toMatchObject({ ok: true, changes: [expect.objectContaining({ document: 1, pointer: '/items/0/spec/template/spec/containers/0/image', to: 'asia.gcr.io/web:1' }), expect.anything(), expect.anything(), expect.objectContaining({ pointer: '/items/1/spec/containers/1/image' })] });
    const r = same(text, { annotate: true });
    expect(r.ok && r.output).toContain('image-rewriter');
    expect(r.ok && r.output).toContain('hub-pull');
  });

  it('keeps an alias to the anchor it shares with the image it rewrites, as the whole-document path does', () => {
    const r = same(KUBECTL);
    expect(r.ok && r.output).toContain('- image: &web asia.gcr.io/web:1\n          name: web\n        - image: *web\n');
    expect(r.ok && r.output).toContain('        - image: mirror.example.com/hub/nginx\n          name: hub\n        imagePullSecrets:\n        - name: hub-pull\n');
  });

  it('an alias to another item\'s anchor, or no items: the whole-document path', () => {
    const across = list([pod('a', 'gcr.io/a:1'), pod('b', 'gcr.io/b:1')]).replace('image: gcr.io/a:1', 'image: &a gcr.io/a:1').replace('image: gcr.io/b:1', 'image: *a');
    expect(yamlListOf(across)).toBeDefined();
    const r = same(across);
    expect(r.ok && r.output).toContain('image: &a asia.gcr.io/a:1');
    expect(r.ok && r.output).toContain('image: *a');
    // A document with items that is not a List is one object, as before.
    const allow = 'apiVersion: example.com/v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  spec:\n    containers:\n    - {name: a, image: gcr.io/a}\nkind: Firewall\nmetadata:\n  name: x\n';
    expect(same(allow)).toEqual({ ok: true, output: allow, changes: [], warnings: [] });
    // An empty List is no different.
    const empty = 'apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ""\n';
    expect(yamlListOf(empty)).toBeUndefined();
    expect(render(empty)).toEqual({ ok: true, output: empty, changes: [], warnings: [] });
  });

  it.each([
    ['a comment at column 0 in the items', KUBECTL.replace('- apiVersion: v1', '# the Pod\n- apiVersion: v1')],
    ['a flow sequence', 'apiVersion: v1\nitems: [{apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {containers: [{name: a, image: gcr.io/a}]}}]\nkind: List\n'],
    ['an item that is not a mapping', 'apiVersion: v1\nitems:\n- text\nkind: List\n'],
    ['a tag on an item', 'apiVersion: v1\nitems:\n- !!map\n  kind: Pod\nkind: List\n'],
    ['items that are not at column 0 or 2', KUBECTL.replace(/\n(- | {2})/g, '\n    $1')],
    ['a directive', `%YAML 1.2\n---\n${KUBECTL}`],
    ['a second document', `${KUBECTL}...\n`],
    ['a flow mapping', `{apiVersion: v1,\nitems:\n- kind: Pod\n}\n`],
  ])('%s: the whole-document path', (_name, text) => {
    expect(yamlListOf(text)).toBeUndefined();
  });

  it('numbers documents and names a broken item, its line and its path as the whole-document path does', () => {
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec:\n  containers: [{name: a, image: gcr.io/y}]\n';
    const items = list([pod('a', 'gcr.io/a'), pod('b', 'gcr.io/Bad')]);
    const r = render(`${yaml}---\n${items}---\n${yaml}`);
    expect(r.ok && r.changes.map((c) => `${c.document} ${c.pointer}`)).toEqual(['1 /spec/containers/0/image', '2 /items/0/spec/containers/0/image', '3 /spec/containers/0/image']);
    expect(r.ok && r.warnings.map((c) => `${c.document} ${c.pointer}`)).toEqual(['2 /items/1/spec/containers/0/image']);
    expect(r.ok && r.output).toBe(`${yaml}---\n${items}---\n${yaml}`.replaceAll('gcr.io/y', 'asia.gcr.io/y').replace('gcr.io/a', 'asia.gcr.io/a'));
    const broken = list([pod('a', 'gcr.io/a'), pod('b', 5 as unknown as string)]);
    expect(same(broken)).toEqual({ ok: false, error: 'document 1 (line 1, column 1): Pod team-a/b: /items/1/spec/containers/0/image is a number, not a string' });
    const after = render(`${yaml}---\n${broken}`);
    expect(after).toEqual({ ok: false, error: 'document 2 (line 6, column 1): Pod team-a/b: /items/1/spec/containers/0/image is a number, not a string' });
    // An error only YAML sees in an item (a duplicate key): the whole-document path's, at its line.
    const duplicate = list([pod('a', 'gcr.io/a')]).replace('  kind: Pod\n', '  kind: Pod\n  kind: Pod\n');
    expect(same(duplicate)).toEqual({ ok: false, error: 'document 1 (line 5, column 3): Map keys must be unique' });
  });

  it('is bounded by its largest item, not by its size: a List far over maxDocumentChars is rendered', () => {
    const text = list(Array.from({ length: 200 }, (_, i) => pod(`p${i}`, 'gcr.io/app:1')));
    expect(text.length).toBeGreaterThan(4 * 4096);
    const r = render(text, { maxDocumentChars: 4096 });
    expect(r.ok && r.output).toBe(text.replaceAll('gcr.io/app', 'asia.gcr.io/app'));
    const big = list([pod('big', 'gcr.io/app:1', { note: 'x'.repeat(5000) })]);
    expect(render(big, { maxDocumentChars: 4096 })).toMatchObject({ ok: false, error: expect.stringMatching(/^the document at line 3, column 1 is 0\.0 MiB, more than render can hold/) });
    // Past HEAP_PER_LIST_CHAR, or in another layout, it is one document.
    expect(render(list(Array.from({ length: 2000 }, (_, i) => pod(`p${i}`, 'gcr.io/app:1'))), { maxDocumentChars: 4096 })).toMatchObject({ ok: false, error: expect.stringMatching(/^the document at line 1, column 1 is 0\.\d MiB/) });
    expect(render(`%YAML 1.2\n---\n${text}`, { maxDocumentChars: 4096 })).toMatchObject({ ok: false, error: expect.stringMatching(/^the document at line 1, column 1 is 0\.0 MiB/) });
  });
});

describe('the CLI under a small heap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-yaml-list-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  // 128 MiB of old space (176 MiB of heap) holds a document of 0.7 MiB parsed whole (render's
  // guard refuses a larger one); this List is 0.9 MiB, 6,000 Pods. Item by item it needs a fraction of
  // that: 64 MiB passed alone, but once ran out of heap while the suite loaded both cores.
  it('renders a YAML List that the whole-document path could not hold', async () => {
    const cli = await bundleCli(join(dir, 'cli.mjs'));
    const text = list(Array.from({ length: 6000 }, (_, i) => pod(`p${i}`, `gcr.io/app${i % 7}:1`)));
    writeFileSync(join(dir, 'list.yaml'), text);
    writeFileSync(join(dir, 'rules.yaml'), 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');
    const child = spawn(process.execPath, ['--max-old-space-size=128', cli, 'render', '--config', join(dir, 'rules.yaml'), '-f', join(dir, 'list.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toBe(text.replaceAll('gcr.io/app', 'asia.gcr.io/app'));
  }, 60_000);
});
