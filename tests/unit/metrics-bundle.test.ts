/**
 * Where prom-client (`serve --metrics-listen`) may be: nowhere in the Lambda, in the bundle
 * scripts/build.mjs makes or in src/ as SAM's build (template.yaml) bundles it from
 * src/lambda/main.ts; in the CLI's bundle only in chunks that the import() of
 * src/cli/serve-metrics.ts alone reaches, so that `serve` without the flag loads none of it.
 * Both bundles are built here as scripts/build.mjs builds them (split, metafile), into memory.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import type { Metafile } from 'esbuild';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { bundleMetafile } from '../helpers/bundle-metafile.js';

const PROM = 'node_modules/prom-client/';


/** The outputs one output loads with it: itself and the chunks it imports statically. */
function staticClosure(meta: Metafile, root: string): Set<string> {
  const files = new Set([root]);
  for (const path of files) for (const i of meta.outputs[path]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) files.add(i.path);
  return files;
}

const promInputs = (meta: Metafile, outputs: Iterable<string>): string[] => [...outputs].flatMap((o) => Object.keys(meta.outputs[o]?.inputs ?? {})).filter((i) => i.includes(PROM));

let lambda: Metafile;
let cli: Metafile;

beforeAll(async () => {
  [lambda, cli] = await Promise.all([bundleMetafile('src/lambda/main.ts'), bundleMetafile('src/cli/bin.ts', { external: ['@kubernetes/client-node'] })]);
}, 60_000);

describe('prom-client in the bundles', () => {
  it('is in no file of the Lambda bundle', () => {
    expect(Object.keys(lambda.outputs).length).toBeGreaterThan(3);
    expect(promInputs(lambda, Object.keys(lambda.outputs))).toEqual([]);
  });

  it('is in the CLI bundle, only in what the import() of src/cli/serve-metrics.ts loads', () => {
    const outputs = Object.keys(cli.outputs).filter((o) => o.endsWith('.js'));
    const entryOf = (source: string): string | undefined => outputs.find((o) => cli.outputs[o]?.entryPoint === source);
    const metricsChunk = entryOf('src/cli/serve-metrics.ts');
    const serveChunk = entryOf('src/cli/serve.ts');
    expect([metricsChunk, serveChunk].every((c) => c !== undefined)).toBe(true);
    // The control: the metrics chunk does hold it.
    expect(promInputs(cli, staticClosure(cli, metricsChunk ?? '')).length).toBeGreaterThan(5);
    const main = outputs.find((o) => cli.outputs[o]?.entryPoint === 'src/cli/bin.ts') ?? '';
    const otherWaysIn = [main, ...outputs.filter((o) => cli.outputs[o]?.entryPoint !== undefined && o !== metricsChunk)];
    expect(otherWaysIn).toContain(serveChunk);
    for (const root of otherWaysIn) expect({ root, prom: promInputs(cli, staticClosure(cli, root)) }).toEqual({ root, prom: [] });
    // serve reaches it by import() alone.
    expect([...new Set(cli.outputs[serveChunk ?? '']?.imports.filter((i) => i.path === metricsChunk).map((i) => i.kind))]).toEqual(['dynamic-import']);
  });

  it('is imported by no module of src/ the Lambda entry reaches, by import or import() (SAM builds from src/)', () => {
    const src = join(REPO_ROOT, 'src');
    const reached = new Set(['lambda/main.ts']);
    const importers: string[] = [];
    for (const module of reached) {
      const text = readFileSync(join(src, module), 'utf8');
      if (/['"]prom-client['"]/.test(text)) importers.push(module);
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)'(\.{1,2}\/[^']+)'/g)) {
        const target = relative(src, normalize(join(dirname(join(src, module)), m[1] ?? '')));
        // A .js import names its .ts source, but for the generated validator, which is JavaScript.
        reached.add(existsSync(join(src, target.replace(/\.js$/, '.ts'))) ? target.replace(/\.js$/, '.ts') : target);
      }
    }
    expect(reached.size).toBeGreaterThan(20);
    expect(importers).toEqual([]);
    // The control: the scan finds the importer on the CLI's side.
    const all = readdirSync(join(src, 'observability')).filter((f) => /['"]prom-client['"]/.test(readFileSync(join(src, 'observability', f), 'utf8')));
    expect(all).toEqual(['prometheus.ts']);
  });
});
