/**
 * src/manifests/aliasing.ts at kubectl's exact limits, in the unit suite: each pair of documents
 * differs by one alias, the first read by kubectl (sigs.k8s.io/yaml, go-yaml v2), the second refused
 * as an alias bomb. The limits were found with kubectl's reader (tests/integration/yaml-oracle.integration.ts
 * builds it); a count off by one node per alias, or a share off by a little, moves them.
 */
import { describe, expect, it } from '@jest/globals';
import { composeOne, RenderError, toJson } from '../../src/manifests/documents.js';
import { parseTokens } from '../../src/config/yaml-read.js';
import { renderManifests } from '../../src/manifests/render.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');
const HEAD = ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: c}'];
const BOMB = 'excessive aliasing: its aliases expand to more than kubectl reads (an alias bomb)';

/** 300 scalars, then `uses` aliases of a mapping that merges one anchor (`*b`) or a list of two (`[*b, *c]`). */
function mergingAnchor(merge: 'one' | 'list', uses: number): string {
  const anchored = `m: &m {<<: ${merge === 'list' ? '[*b, *c]' : '*b'}, y: [${Array.from({ length: 300 }, () => 'x').join(', ')}]}`;
  return [...HEAD, 'b: &b {p: 1}', 'c: &c {q: 1}', anchored, 'filler:', ...Array.from({ length: 300 }, (_, i) => `- f${i}`), 'uses:', ...Array.from({ length: uses }, () => '- *m'), ''].join('\n');
}

/** 150,000 scalars, then `uses` aliases of a 1,001-node list: about 980,000 nodes, where the share allowed has fallen to 85%. */
function fallingShare(uses: number): string {
  return [...HEAD, 'filler:', ...Array.from({ length: 150_000 }, (_, i) => `- f${i}`), `a: &a [${Array.from({ length: 1000 }, () => 'x').join(', ')}]`, 'uses:', ...Array.from({ length: uses }, () => '- *a'), ''].join('\n');
}

/** What render and audit -f say of the document: read, or the reason it is refused. */
function verdict(text: string): string {
  const doc = composeOne([...parseTokens(text)]);
  if (doc === undefined) return 'no document';
  try {
    toJson(doc);
    return 'read';
  } catch (e) {
    if (e instanceof RenderError) return e.message;
    throw e;
  }
}

describe('aliases of an anchor that holds a merge key, at kubectl\'s limit', () => {
  it.each([
    ['one alias', 298, 'one' as const],
    ['a list of aliases', 293, 'list' as const],
  ])('merging %s: render reads %i uses, and refuses one more as kubectl does', (_what, limit, merge) => {
    const read = renderManifests(mergingAnchor(merge, limit), { rewriter, annotate: false, scope: 'all' });
    expect(read.ok && read.output).toBe(mergingAnchor(merge, limit));
    const refused = renderManifests(mergingAnchor(merge, limit + 1), { rewriter, annotate: false, scope: 'all' });
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.error).toMatch(new RegExp(`^document 1 \\(line ${limit + 309}, column 3\\): ${BOMB.replace(/[()]/g, '\\$&')}$`));
  });
});

/** 200 mappings that merge a list of one alias (`<<: [*c]`, a list go-yaml does not decode as a node), then `uses` aliases of a 301-node list. */
function mergeLists(uses: number): string {
  return [...HEAD, 'c: &c {q: 1}', `a: &a [${Array.from({ length: 300 }, () => 'x').join(', ')}]`, 'merges:', ...Array.from({ length: 200 }, () => '- {<<: [*c]}'), 'uses:', ...Array.from({ length: uses }, () => '- *a'), ''].join('\n');
}

describe('merge keys of lists outside anchors, before kubectl\'s limit', () => {
  it('render reads 349 aliases after 200 of them, and refuses 350 as kubectl does', () => {
    const read = renderManifests(mergeLists(349), { rewriter, annotate: false, scope: 'all' });
    expect(read.ok && read.output).toBe(mergeLists(349));
    expect(renderManifests(mergeLists(350), { rewriter, annotate: false, scope: 'all' })).toEqual({ ok: false, error: `document 1 (line 557, column 3): ${BOMB}` });
  });
});

describe('the share of aliases allowed between 400,000 and 4,000,000 nodes', () => {
  it('reads 831 aliases of a 1,001-node list after 150,000 scalars, and refuses 832 as kubectl does', () => {
    expect([verdict(fallingShare(831)), verdict(fallingShare(832))]).toEqual(['read', BOMB]);
  }, 60_000);
});
