/**
 * The layout of docs/design.md, checked: the import graph of src/ has no cycle (static, dynamic and
 * type-only imports all count), each layer imports only the layers below it, and no source file
 * grows past the size a reader can hold.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';

const SRC = join(REPO_ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)'(\.{1,2}\/[^']+)'/g;

/** Module (path relative to src/) -> the modules it imports (relative imports only). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(IMPORT)].map((m) => relative(SRC, normalize(join(dirname(file), (m[1] ?? '').replace(/\.js$/, '.ts')))));
    graph.set(relative(SRC, file), [...new Set(targets)]);
  }
  return graph;
}

/** Every cycle's strongly connected component (Tarjan), as sorted module lists. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, indices.get(w) ?? 0));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

/** The layers of docs/design.md, lowest first; a module may import its own layer and those below. */
const LAYERS = [['core'], ['observability'], ['config', 'verify', 'manifests'], ['lambda', 'serve'], ['cli']] as const;
const layerOf = (module: string): number => LAYERS.findIndex((names) => names.some((n) => module.startsWith(`${n}/`)));

describe('the architecture of src/', () => {
  const graph = importGraph();

  it('has modules to check (the scan works)', () => {
    expect(graph.size).toBeGreaterThan(10);
    expect(graph.get('lambda/main.ts')?.length ?? 0).toBeGreaterThan(0);
  });

  it('the cycle finder finds a planted cycle', () => {
    const planted = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]);
    expect(cycles(planted)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('every module sits in a folder of a layer', () => {
    expect([...graph.keys()].filter((m) => layerOf(m) < 0)).toEqual([]);
  });

  it('docs/design.md has a row for every folder of src/ (its map of the code)', () => {
    const design = readFileSync(join(REPO_ROOT, 'docs', 'design.md'), 'utf8');
    const rows = new Set([...design.matchAll(/^\| `src\/([a-z-]+)\/` \|/gm)].map((m) => m[1]));
    const folders = LAYERS.flat();
    expect(folders.filter((f) => !rows.has(f))).toEqual([]);
    expect([...rows].filter((r) => !(folders as readonly string[]).includes(r ?? ''))).toEqual([]);
  });

  it('every section a comment in src/ cites (docs/design.md, "Data paths") is a heading of that document', () => {
    const headings = new Map<string, string[]>();
    const headingsOf = (doc: string): string[] => {
      let found = headings.get(doc);
      if (found === undefined) {
        found = [...readFileSync(join(REPO_ROOT, doc), 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((m) => (m[1] ?? '').toLowerCase());
        headings.set(doc, found);
      }
      return found;
    };
    const cited = sourceFiles(SRC).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\b((?:docs\/[a-z-]+|README)\.md), "([^"]+)"/g)].map((m) => ({ file: relative(SRC, f), doc: m[1] ?? '', section: (m[2] ?? '').replace(/\s*\n\s*(?:\*|\/\/)?\s*/g, ' ') })));
    expect(cited.length).toBeGreaterThan(5);
    expect(cited.filter((c) => !headingsOf(c.doc).some((h) => h.includes(c.section.toLowerCase())))).toEqual([]);
  });

  it('no layer imports a higher one (core imports only core)', () => {
    const upward = [...graph].flatMap(([from, targets]) => targets.filter((to) => layerOf(to) > layerOf(from)).map((to) => `${from} -> ${to}`));
    expect(upward).toEqual([]);
  });

  it("the AWS SDK's code is imported only by the modules that re-export the operations called (the bundle keeps only those)", () => {
    // Type-only imports cost nothing at run time; a value import or import() of a client package
    // elsewhere would bring every operation of the client into the bundle (docs/performance.md, fourteenth pass).
    const SDK_VALUE_IMPORT = /(?:\bimport\s*\(\s*|\b(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s*)'@aws-sdk\//g;
    const importers = sourceFiles(SRC)
      .filter((f) => [...readFileSync(f, 'utf8').matchAll(SDK_VALUE_IMPORT)].length > 0)
      .map((f) => relative(SRC, f))
      .sort();
    // The deploy-time token function is built apart, with the runtime's SDK (template.yaml).
    expect(importers).toEqual(['config/sdk-secrets-manager.ts', 'config/sdk-ssm.ts', 'lambda/token-resource.ts', 'verify/sdk-ecr.ts']);
  });

  it('no source file is longer than 500 lines', () => {
    const long = sourceFiles(SRC)
      .map((f) => ({ file: relative(SRC, f), lines: readFileSync(f, 'utf8').split('\n').length }))
      .filter((f) => f.lines > 500);
    expect(long).toEqual([]);
  });
});
