/**
 * jest globalSetup (jest.e2e.config.js). Jest loads this file through Node's own module resolver,
 * which cannot follow the `.js` specifiers of the TypeScript harness, so the harness entry
 * (jest-global.ts) is bundled with esbuild first (as scripts/run-ts.mjs does for scripts) and the
 * bundle imported; global-teardown.ts finds the same module through a global.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, stop as stopEsbuild } from 'esbuild';
import type * as JestGlobal from './jest-global.js';

export const HARNESS_KEY = Symbol.for('image-rewriter.e2e.harness');

export default async function globalSetup(_globalConfig: unknown, projectConfig: { readonly rootDir: string }): Promise<void> {
  const root = projectConfig.rootDir;
  const outfile = join(root, 'node_modules', '.cache', 'image-rewriter', 'e2e-jest-global.mjs');
  await build({
    entryPoints: [join(root, 'tests', 'e2e', 'harness', 'jest-global.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  // esbuild's service process would otherwise live as long as jest.
  await stopEsbuild();
  const harness = (await import(pathToFileURL(outfile).href)) as typeof JestGlobal;
  (globalThis as Record<symbol, unknown>)[HARNESS_KEY] = harness;
  await harness.setup(root);
}
