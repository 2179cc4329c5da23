/** Bundle the CLI as scripts/build.mjs does, into a scratch file, so process-level tests need no prior build. */
import { build } from 'esbuild';
import { join } from 'node:path';
import { REPO_ROOT } from './fixtures.js';

export async function bundleCli(outfile: string): Promise<string> {
  return bundleScript(join(REPO_ROOT, 'src', 'cli', 'bin.ts'), outfile);
}

/** Any entry point (a test's process script) bundled the same way. */
export async function bundleScript(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'silent',
  });
  return outfile;
}
