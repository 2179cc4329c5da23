/**
 * A JSON List (`kubectl get -A -o json`) is rendered item by item (src/manifests/json-list.ts),
 * not parsed whole: the same bytes, changes, warnings and errors as the whole-document path, which
 * the same List takes when a YAML comment before it makes it not JSON. A yaml-level problem in an
 * item (a duplicate key) sends it down the whole-document path, whose error it gets; and a List
 * larger than maxDocumentChars is rendered when its items are not.
 */
import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import type { DecideOptions } from '../../src/core/manifest.js';
import { renderManifests, type RenderResult } from '../../src/manifests/render.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom(
  'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n  - {name: hub, match: docker.io/library, replace: mirror.example.com/hub, imagePullSecrets: [hub-pull]}\n  - {name: quay, match: quay.io, replace: mirror.example.com/quay, namespaces: [team-a]}\n',
);
const OPTIONS: DecideOptions = { annotate: false, scope: 'all' };
const render = (text: string, options: Partial<DecideOptions> = {}): RenderResult => renderManifests(text, { rewriter, ...OPTIONS, ...options });

/** The same text through the whole-document path: a comment first, so that it is not JSON. */
function whole(text: string, options: Partial<DecideOptions> = {}): RenderResult {
  const r = render(`# whole\n${text}`, options);
  return r.ok ? { ...r, output: r.output.slice('# whole\n'.length) } : r;
}

const pod = (name: string, image: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'team-a' },
  spec: { containers: [{ name: 'a', image }], ...extra },
});

describe('a JSON List, item by item', () => {
  const image = fc.constantFrom('gcr.io/app:1', 'nginx:1.27', 'quay.io/x/y@sha256:' + 'a'.repeat(64), 'asia.gcr.io/done:2', 'gcr.io/Bad:1', 'registry.example.com/own');
  const item = fc.record({
    kind: fc.constantFrom('Pod', 'Deployment', 'ConfigMap'),
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
    namespace: fc.option(fc.constantFrom('team-a', 'team-b'), { nil: undefined }),
    images: fc.array(image, { minLength: 1, maxLength: 3 }),
    secrets: fc.boolean(),
  });
  const toObject = (i: { kind: string; name: string; namespace: string | undefined; images: string[]; secrets: boolean }): Record<string, unknown> => {
    const spec = { containers: i.images.map((img, n) => ({ name: `c${n}`, image: img })), ...(i.secrets ? { imagePullSecrets: [] } : {}) };
    const metadata = { name: i.name, ...(i.namespace === undefined ? {} : { namespace: i.namespace }) };
    if (i.kind === 'Pod') return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
    if (i.kind === 'Deployment') return { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec: { template: { spec } } };
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { image: i.images[0] } };
  };

  it('gives the bytes, changes and warnings of the whole-document path', () => {
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 6 }),
        fc.constantFrom(undefined, 0, 2, 4, '\t'),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom('', '---\n', '\ufeff'),
        (items, space, crlf, annotate, prefix) => {
          let text = `${prefix}${JSON.stringify({ apiVersion: 'v1', items: items.map(toObject), kind: 'List', metadata: { resourceVersion: '' } }, null, space)}\n`;
          if (crlf) text = text.replace(/\n/g, '\r\n');
          const r = render(text, { annotate });
          expect(r.ok).toBe(true);
          if (prefix !== '\ufeff') expect(r).toEqual(whole(text, { annotate }));
          else {
            // A byte order mark cannot follow the comment: the same text without it, and the mark kept.
            const w = whole(text.slice(1), { annotate });
            expect(r).toEqual(w.ok ? { ...w, output: `\ufeff${w.output}` } : w);
          }
          // A typed list, as the API server answers (items without apiVersion and kind), likewise.
          const typed = `${JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: items.map(toObject).filter((o) => o['kind'] === 'Pod').map(({ metadata, spec }) => ({ metadata, spec })) }, null, space)}\n`;
          expect(render(typed, { annotate })).toEqual(whole(typed, { annotate }));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('numbers the documents around it as the whole-document path does', () => {
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod('a', 'gcr.io/a'), pod('b', 'gcr.io/Bad')] }, null, 2);
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec:\n  containers: [{name: a, image: gcr.io/y}]\n';
    const r = render(`${yaml}---\n${list}\n---\n${yaml}`);
    const w = render(`${yaml}---\n# whole\n${list}\n---\n${yaml}`);
    expect(r).toEqual(w.ok ? { ...w, output: w.output.replace('# whole\n', '') } : w);
    expect(r.ok && r.changes.map((c) => `${c.document} ${c.pointer}`)).toEqual(['1 /spec/containers/0/image', '2 /items/0/spec/containers/0/image', '3 /spec/containers/0/image']);
    expect(r.ok && r.warnings.map((c) => `${c.document} ${c.pointer}`)).toEqual(['2 /items/1/spec/containers/0/image']);
  });

  it('names a broken item as the whole-document path does', () => {
    const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod('a', 'gcr.io/a'), pod('b', 5 as unknown as string)] }, null, 2);
    const r = render(text);
    expect(r).toEqual({ ok: false, error: 'document 1 (line 1, column 1): Pod team-a/b: /items/1/spec/containers/0/image is a number, not a string' });
    expect(whole(text)).toEqual(r);
    expect(render(JSON.stringify({ kind: 'List', items: [pod('a', 'gcr.io/a'), 3] }))).toEqual({ ok: false, error: 'document 1 (line 1, column 1): /items/1 is a number, not a Kubernetes object (a mapping with apiVersion and kind)' });
  });

  it('a duplicate key (JSON.parse takes the last one, YAML refuses it): the whole-document path and its error', () => {
    const text = `{"apiVersion": "v1", "kind": "List", "items": [\n${JSON.stringify(pod('a', 'gcr.io/a'))},\n{"kind": "Pod", "kind": "Pod"}]}\n`;
    const r = render(text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/^document 1 \(line 3, column \d+\): Map keys must be unique/);
    expect(render(`{"apiVersion": "v1", "kind": "List", "items": [], "items": []}`)).toMatchObject({ ok: false, error: expect.stringMatching(/Map keys must be unique/) });
  });

  it('a document with items that is not a List is one object, as before', () => {
    const text = JSON.stringify({ apiVersion: 'example.com/v1', kind: 'IPAllowList', metadata: { name: 'x' }, items: ['10.0.0.0/8'] });
    expect(render(text)).toEqual({ ok: true, output: text, changes: [], warnings: [] });
    const cm = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, items: [pod('a', 'gcr.io/a')] });
    expect(render(cm)).toEqual({ ok: true, output: cm, changes: [], warnings: [] });
  });

  it('is bounded by its largest item, not by its size: a List far over maxDocumentChars is rendered', () => {
    const items = Array.from({ length: 200 }, (_, i) => pod(`p${i}`, 'gcr.io/app:1'));
    const text = `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items })}\n`;
    expect(text.length).toBeGreaterThan(4 * 4096);
    const r = renderManifests(text, { rewriter, ...OPTIONS, maxDocumentChars: 4096 });
    expect(r.ok && r.output).toBe(text.replaceAll('gcr.io/app', 'asia.gcr.io/app'));
    const big = `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod('big', 'gcr.io/app:1', { note: 'x'.repeat(5000) })] })}\n`;
    expect(renderManifests(big, { rewriter, ...OPTIONS, maxDocumentChars: 4096 })).toMatchObject({ ok: false, error: expect.stringMatching(/^the document at line 1, column \d+ is 0\.0 MiB, more than render can hold/) });
  });

  // The List's values, output and changes take up to HEAP_PER_LIST_CHAR times its text: a List of
  // small items past that, or any JSON document too long for the check above, is refused before
  // JSON.parse reads it whole (a 38 MB ConfigMap under a 200 MB heap: out of memory, exit 134).
  it.each([
    ['a List of small items', `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: 2000 }, (_, i) => pod(`p${i}`, 'gcr.io/app:1')) })}\n`],
    ['a document that is not a List', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`k${i}`, 'v'])) })],
  ])('%s too large for the heap even so is refused, before JSON.parse reads it', (_name, text) => {
    const parse = jest.spyOn(JSON, 'parse');
    try {
      const r = renderManifests(text, { rewriter, ...OPTIONS, maxDocumentChars: 4096 });
      expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/^the document at line 1, column 1 is 0\.\d MiB, more than render can hold/) });
      expect(parse.mock.calls.map(([arg]) => arg.length).filter((n) => n > 4096)).toEqual([]);
    } finally {
      parse.mockRestore();
    }
  });
});

describe('a List within a List (kubectl apply flattens it: the webhook sees its items)', () => {
  it('render rewrites the images of the inner items too', () => {
    const rules = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');
    const pod = (name: string, image: string): unknown => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image }] } });
    const list = (items: unknown[]): unknown => ({ apiVersion: 'v1', kind: 'List', items });
    const text = `${JSON.stringify(list([list([pod('a', 'gcr.io/a:1')]), pod('b', 'gcr.io/b:1')]), null, 2)}\n`;
    const r = renderManifests(text, { rewriter: rules, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(text.replace(/gcr\.io/g, 'asia.gcr.io'));
    expect(r.ok && r.changes.map((c) => c.pointer)).toEqual(['/items/0/items/0/spec/containers/0/image', '/items/1/spec/containers/0/image']);
  });
});

describe('maxDocumentChars, at its bounds', () => {
  it('renders a document of exactly maxDocumentChars', () => {
    const text = `${JSON.stringify(pod('a', 'gcr.io/app:1'))}\n`;
    const r = renderManifests(text, { rewriter, ...OPTIONS, maxDocumentChars: text.length });
    expect(r.ok && r.output).toBe(text.replace('gcr.io/app', 'asia.gcr.io/app'));
  });

  it('refuses a List of small items that must be parsed whole after all (a List within it) when the List is over it', () => {
    // Each item is under the bound, so the List passed the first check; the whole-document path it
    // then takes holds the whole List's tree: refused as any document that large.
    const inner = { apiVersion: 'v1', kind: 'List', items: [pod('in', 'gcr.io/app:1')] };
    const text = `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [inner, ...Array.from({ length: 10 }, (_, i) => pod(`p${i}`, 'gcr.io/app:1'))] })}\n`;
    const max = 1000;
    expect(text.length).toBeGreaterThan(max);
    expect(renderManifests(text, { rewriter, ...OPTIONS, maxDocumentChars: max })).toMatchObject({ ok: false, error: expect.stringMatching(/^the document at line 1, column 1 is 0\.0 MiB, more than render can hold/) });
    expect(render(text)).toMatchObject({ ok: true });
  });
});
