// Run a TypeScript entry point (benchmarks, demo tooling) without a TS runtime: bundle it with
// esbuild into node_modules/.cache and run it with the same node and arguments.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { basename, join } from 'node:path';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs ENTRY.ts [ARGS...]');
  process.exit(64);
}
const outfile = join('node_modules', '.cache', 'image-rewriter', `${basename(entry, '.ts')}.mjs`);
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'inline',
  logLevel: 'warning',
  packages: 'external',
});
const r = spawnSync(process.execPath, [...process.execArgv, outfile, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
