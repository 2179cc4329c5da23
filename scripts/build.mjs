// Bundles the two stable entry points (DESIGN.md): dist/handler.js for Lambda, dist/cli.js for humans and tests.
// One module format (ESM), one bundler run. The Lambda bundle leaves the AWS SDK v3 out: the
// nodejs22.x runtime provides it, and a 0.3 MB bundle starts faster than a 1 MB one (locally the
// SDK resolves from node_modules, where package.json pins it).
import { build } from 'esbuild';
import { chmod, readFile } from 'node:fs/promises';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'none',
  minify: true,
  keepNames: true,
  metafile: true,
  define: { __IMAGE_REWRITER_VERSION__: JSON.stringify(pkg.version) },
  // Some CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
};
const entries = [
  { in: 'src/lambda.ts', out: 'dist/handler.js', external: ['@aws-sdk/*'] },
  { in: 'src/cli-main.ts', out: 'dist/cli.js', banner: '#!/usr/bin/env node\n' },
];
for (const e of entries) {
  await build({
    ...common,
    entryPoints: [e.in],
    external: e.external ?? [],
    outfile: e.out,
    banner: { js: (e.banner ?? '') + common.banner.js },
  });
  if (e.banner) await chmod(e.out, 0o755);
}
