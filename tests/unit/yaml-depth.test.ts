/**
 * Collections nested deeper than MAX_NESTING are an error at the first one too deep, before the
 * yaml package composes them (src/config/yaml-read.ts). The package composes recursively and
 * catches its own stack overflow; at that edge V8 sometimes had to compile a regular expression
 * and ended the process instead (`FATAL ERROR: RegExpCompiler Allocation failed`, exit 134):
 * tests/unit/audit.test.ts's 100,000-level input crashed its whole jest worker in 3 of 8 runs.
 * Checked here: every reader (a rules document, render, audit -f) refuses MAX_NESTING + 1 levels
 * at the line and column of the collection too deep, in flow and block style, and reads
 * MAX_NESTING levels and long shallow texts (many `{`, long indentation) as before.
 */
import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { fileObjects } from '../../src/cli/audit-input.js';
import { readYaml } from '../../src/config/yaml-document.js';
import { MAX_NESTING, parseAllDocumentsUnique, parseDocumentUnique, TOO_DEEP } from '../../src/config/yaml-read.js';
import { renderManifests } from '../../src/manifests/render.js';
import { runSnippet } from '../helpers/cli-bundle.js';
import { captureIo } from '../helpers/io.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom('rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');

/** `n` collections inside one another as the value of `x`, in each style, and where the (MAX_NESTING + 1)th starts when `x:` is at depth 1. */
const STYLES = {
  'flow sequences': (n) => ({ text: `x: ${'['.repeat(n)}${']'.repeat(n)}\n`, line: 1, col: 4 + MAX_NESTING - 1 }),
  'flow mappings': (n) => ({ text: `x: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`, line: 1, col: 4 + 4 * (MAX_NESTING - 1) }),
  'block mappings': (n) => ({ text: `x:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')} v\n`, line: MAX_NESTING + 1, col: MAX_NESTING + 1 }),
  'compact block sequences': (n) => ({ text: `x:\n${'- '.repeat(n)}v\n`, line: 2, col: 1 + 2 * (MAX_NESTING - 1) }),
} satisfies Record<string, (n: number) => { text: string; line: number; col: number }>;

describe('a document nested deeper than MAX_NESTING', () => {
  it.each(Object.entries(STYLES))('%s: the readers refuse it at the first collection too deep; one level less is read', (_style, make) => {
    const deep = make(MAX_NESTING);
    const fits = make(MAX_NESTING - 1);
    for (const parse of [(t: string) => parseDocumentUnique(t, { prettyErrors: true }), (t: string) => parseAllDocumentsUnique(t, { prettyErrors: true })[0]]) {
      const refused = parse(deep.text);
      expect(refused?.errors.map((e) => [e.message, e.linePos?.[0]])).toEqual([[`${TOO_DEEP} at line ${deep.line}, column ${deep.col}:`, { line: deep.line, col: deep.col }]]);
      // One level less: what the package itself composes, value and no error.
      const read = parse(fits.text);
      expect(read?.errors).toEqual([]);
      expect(read?.toJS()).toEqual(parseAllDocuments(fits.text)[0]?.toJS());
    }
  });

  it('a rules document: an issue at its line and column, not a crash', () => {
    const { text, line, col } = STYLES['flow sequences'](5000);
    const r = readYaml(text.replace('x:', 'rules:'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues).toEqual([{ path: [], position: { line, column: col + 4 }, severity: 'error', message: TOO_DEEP }]);
  });

  it('render: that document named with the reason and where; a manifest MAX_NESTING deep is rendered', () => {
    const pod = (labels: string): string => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: ${labels}\nspec:\n  containers: [{name: a, image: gcr.io/app:1}]\n`;
    const nest = (n: number): string => `${'{a: '.repeat(n)}b${'}'.repeat(n)}`;
    const two = `${pod('{}')}---\n${pod(nest(MAX_NESTING))}`;
    // The labels' value is at depth 3 (under the document's mapping and metadata), so the
    // (MAX_NESTING - 2)th `{` is the first too deep: on line 13, 4 * (MAX_NESTING - 3) after the first.
    expect(renderManifests(two, { rewriter, annotate: false, scope: 'all' })).toEqual({ ok: false, error: `document 2 (line 13, column ${11 + 4 * (MAX_NESTING - 2)}): ${TOO_DEEP}` });
    // MAX_NESTING - 2 of them: MAX_NESTING levels in all.
    const fits = pod(nest(MAX_NESTING - 2));
    const r = renderManifests(fits, { rewriter, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(fits.replace('gcr.io/app', 'asia.gcr.io/app'));
  });

  it('audit -f: the reason and where, exit 2 for the input', () => {
    const io = captureIo();
    const r = fileObjects(STYLES['block mappings'](MAX_NESTING + 10).text, io, 'in.yaml');
    expect(r).toEqual({ objects: [], complete: false });
    expect(io.err()).toBe(`error: in.yaml: neither JSON nor YAML: ${TOO_DEEP} at line ${MAX_NESTING + 1}, column ${MAX_NESTING + 1}\n`);
  });
});

describe('texts that only look deep to the first, cheap look', () => {
  it('many `{` and `[` side by side, and lines indented by hundreds of spaces in a block scalar: read as the package reads them', () => {
    const wide = `items:\n${Array.from({ length: 2 * MAX_NESTING }, (_, i) => `- {name: n${i}, list: [a, b]}`).join('\n')}\n`;
    const indented = `data:\n  script: |\n${Array.from({ length: MAX_NESTING + 5 }, (_, i) => `${' '.repeat(4 + i)}line ${i}`).join('\n')}\n`;
    for (const text of [wide, indented]) {
      const doc = parseDocumentUnique(text, {});
      expect(doc.errors).toEqual([]);
      expect(doc.toJS()).toEqual(parseAllDocuments(text)[0]?.toJS());
    }
  });
});

describe('a text nested a million levels deep', () => {
  it('is refused after parsing MAX_NESTING-odd levels, in a heap of 128 MB (it took 1 GB and more: exit 134)', async () => {
    // The package's parser keeps some 800 bytes per open collection: a rules document of 1 MiB of
    // `[` took 1 GB of heap (a Lambda of 256 MB ended at init, heap out of memory), and render -f or
    // audit -f of 3 MB took 2.7-2.9 GB and 12-21 s. In a child with a small heap: before the fix
    // it was killed (SIGABRT).
    const r = await runSnippet(
      `import { readYaml } from './src/config/yaml-document.ts';
import { fileObjects } from './src/cli/audit-input.ts';
import { renderManifests } from './src/manifests/render.ts';
import { rewriterFrom } from './tests/helpers/rules.ts';
const deep = '['.repeat(1_000_000);
const rules = readYaml('rules: ' + deep);
let err = '';
fileObjects(deep, { stderr: (s) => { err += s; } }, 'in.yaml');
const rewriter = rewriterFrom('rules:\\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\\n');
const render = renderManifests(deep, { rewriter, annotate: false, scope: 'all' });
process.stdout.write(JSON.stringify({ rules: rules.ok ? 'ok' : rules.issues.map((i) => [i.position, i.message]), audit: err, render }));`,
      { timeout: 60_000, nodeArgs: ['--max-old-space-size=128'] },
    );
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    expect(JSON.parse(r.stdout)).toEqual({
      rules: [[{ line: 1, column: 8 + MAX_NESTING - 1 }, TOO_DEEP]],
      audit: `error: in.yaml: neither JSON nor YAML: ${TOO_DEEP} at line 1, column ${MAX_NESTING + 1}\n`,
      render: { ok: false, error: `document 1 (line 1, column ${MAX_NESTING + 1}): ${TOO_DEEP}` },
    });
  });
});
