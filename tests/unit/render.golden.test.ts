/**
 * Golden pairs for `render`: tests/fixtures/render/<case>.in.(yaml|json) rendered with
 * tests/fixtures/render/rules.yaml must give <case>.out.(yaml|json) byte for byte
 * (UPDATE_GOLDEN=1 rewrites the .out files). Each output differs from its input only in lines
 * that carry an image (or, for the cases where the webhook adds them, in added lines), and
 * rendering the output again changes nothing.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { DecideOptions } from '../../src/core/manifest.js';
import { renderManifests } from '../../src/manifests/render.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';

const DIR = join(FIXTURES, 'render');
const rewriter = rewriterFrom(readFileSync(join(DIR, 'rules.yaml'), 'utf8'));

/** Options per case (default: no annotation, all kinds, no --namespace). */
const OPTIONS: Readonly<Record<string, Partial<DecideOptions>>> = {
  annotate: { annotate: true },
  namespace: { namespace: 'team-a' },
};
/** Cases whose output adds lines (annotations, imagePullSecrets) besides changing image lines. */
const ADDS_LINES = new Set(['annotate', 'crlf', 'pull-secrets']);

const cases = readdirSync(DIR)
  .filter((f) => /\.in\.(yaml|json)$/.test(f))
  .map((f) => ({ name: f.replace(/\.in\.(yaml|json)$/, ''), input: f, output: f.replace('.in.', '.out.') }));

function render(text: string, name: string): string {
  const r = renderManifests(text, { rewriter, annotate: false, scope: 'all', ...OPTIONS[name] });
  if (!r.ok) throw new Error(r.error);
  return r.output;
}

describe('render golden pairs', () => {
  it('has the cases', () => {
    expect(cases.map((c) => c.name)).toEqual(expect.arrayContaining(['anchors', 'annotate', 'comments-quoting', 'crlf', 'list', 'multi-doc', 'namespace', 'opt-out', 'pull-secrets', 'image-volumes']));
  });

  it.each(cases)('$input -> $output', ({ name, input, output }) => {
    const source = readFileSync(join(DIR, input), 'utf8');
    const rendered = render(source, name);
    if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(join(DIR, output), rendered);
    expect(rendered).toBe(readFileSync(join(DIR, output), 'utf8'));
    // Idempotent: the webhook leaves an already rewritten object alone, and so does render.
    expect(render(rendered, name)).toBe(rendered);
  });

  it.each(cases.filter((c) => !ADDS_LINES.has(c.name)))('$input: only the lines of images change', ({ name, input }) => {
    const source = readFileSync(join(DIR, input), 'utf8');
    const rendered = render(source, name);
    expect(rendered).not.toBe(source);
    // Lines that name an image (or hold a block scalar's text), and nothing else, differ.
    const other = (text: string): string[] => text.split('\n').filter((line) => !/image|gcr\.io|quay\.io/.test(line));
    expect(other(rendered)).toEqual(other(source));
  });

  it('renders a document with no change byte for byte, whatever it holds', () => {
    const source = '%YAML 1.2\n---\n# only a comment\n...\n--- !!map\n? apiVersion\n: v1\nkind: Secret\n---\n\n';
    expect(render(source, '')).toBe(source);
  });
});
