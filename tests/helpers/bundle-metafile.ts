/**
 * esbuild's metafile of one entry of src/ bundled as scripts/build.mjs bundles it (ES modules, split,
 * the packages' module builds), nothing written: which inputs and chunks a bundle holds, for the
 * tests that check what a bundle carries (prom-client's place, the third-party notices).
 */
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { REPO_ROOT } from './fixtures.js';

export async function bundleMetafile(entry: string, options: { external?: string[]; alias?: Record<string, string> } = {}): Promise<Metafile> {
  const result = await build({
    entryPoints: [join(REPO_ROOT, entry)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    mainFields: ['module', 'main'],
    splitting: true,
    outdir: join(REPO_ROOT, 'out-never-written'),
    chunkNames: 'chunks/[name]-[hash]',
    external: options.external ?? [],
    alias: options.alias ?? {},
    metafile: true,
    write: false,
    logLevel: 'silent',
    absWorkingDir: REPO_ROOT,
  });
  return result.metafile;
}
