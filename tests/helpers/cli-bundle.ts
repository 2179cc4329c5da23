/** Bundle the CLI as scripts/build.mjs does, into a scratch file, so process-level tests need no prior build. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
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

/** How a child process of runSnippet ended, and what it wrote on stdout. */
export interface SnippetRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
}

/**
 * A TypeScript snippet (importing the repository's modules by paths from its root,
 * `./src/config/regex-check.ts`) bundled by esbuild and run in a child node with `nodeArgs`, killed
 * after `timeout` ms: for what must not run in the test's own process (a regex that could hang it,
 * an input that once aborted V8, a small heap).
 */
export async function runSnippet(contents: string, options: { readonly timeout: number; readonly nodeArgs?: readonly string[] }): Promise<SnippetRun> {
  const dir = mkdtempSync(join(tmpdir(), 'snippet-'));
  try {
    const outfile = join(dir, 'child.mjs');
    await build({
      stdin: { contents, resolveDir: REPO_ROOT, loader: 'ts' },
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      // Some CommonJS dependencies call require(): give the ES module bundle one.
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    const r = spawnSync(process.execPath, [...(options.nodeArgs ?? []), outfile], { timeout: options.timeout, killSignal: 'SIGKILL', encoding: 'utf8' });
    return { status: r.status, signal: r.signal, stdout: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The CLI split into chunks as scripts/build.mjs builds dist/cli.js (each command, and
 * `serve --metrics-listen`'s prom-client, in chunks of their own under cli-chunks/), into `dir`:
 * for tests of what a process loads. Returns the entry's path.
 */
export async function bundleCliSplit(dir: string): Promise<string> {
  await build({
    entryPoints: [join(REPO_ROOT, 'src', 'cli', 'bin.ts')],
    outdir: dir,
    entryNames: 'cli',
    chunkNames: 'cli-chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    splitting: true,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    mainFields: ['module', 'main'],
    external: ['@kubernetes/client-node'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'silent',
  });
  return join(dir, 'cli.mjs');
}
