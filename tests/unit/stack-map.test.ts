/**
 * Stack traces of a bundle in source positions (src/observability/stack-map.ts): the bundle is
 * built as scripts/build.mjs builds dist/handler.js (minified, split into chunks, each map a
 * separate file with no sourceMappingURL comment), and an error it logs names the src/ file and
 * line that threw, in a chunk loaded with import(), with and without --enable-source-maps (which
 * SAM adds to the function's NODE_OPTIONS).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { mapStack, projectPath } from '../../src/observability/stack-map.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

let dir = '';
let bundle = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stack-map-'));
  bundle = join(dir, 'child.mjs');
  // An invalid token: readSettings (src/config/settings.ts, in a chunk) throws, and the logger writes the error.
  await build({
    stdin: {
      contents: `import { JsonLogger } from './src/observability/json-log.ts';
const logger = new JsonLogger({ serviceName: 'test', logLevel: 'INFO', sink: (line) => process.stdout.write(line + '\\n') });
const { readSettings } = await import('./src/config/settings.ts');
try {
  readSettings({ REWRITE_RULES: '{"rules":[]}', WEBHOOK_TOKEN: 'short' });
} catch (e) {
  logger.error('failed', { error: e });
  logger.error('again', { error: e });
}`,
      resolveDir: REPO_ROOT,
      sourcefile: 'entry.ts',
      loader: 'ts',
    },
    outdir: dir,
    entryNames: 'child',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    minify: true,
    sourcemap: 'external',
    sourcesContent: false,
    logLevel: 'silent',
  });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function loggedError(nodeOptions: string): { location: string; stack: string }[] {
  const r = spawnSync(process.execPath, [bundle], { encoding: 'utf8', env: { PATH: process.env['PATH'], NODE_OPTIONS: nodeOptions } });
  expect(r.status).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { error: { location: string; stack: string } }).error);
}

/** The source line a `file:line` location points to. */
const sourceLine = (location: string): string => {
  const [file, line] = location.split(':');
  return readFileSync(join(REPO_ROOT, file ?? ''), 'utf8').split('\n')[Number(line) - 1] ?? '';
};

describe('stack traces of a bundle', () => {
  it('no file of the bundle names its map: Node has no map to parse at load', () => {
    const files = [bundle, ...readdirSync(join(dir, 'chunks')).map((f) => join(dir, 'chunks', f))];
    expect(files.filter((f) => f.endsWith('.mjs')).length).toBeGreaterThan(1);
    for (const f of files.filter((x) => x.endsWith('.mjs'))) expect(readFileSync(f, 'utf8')).not.toContain('sourceMappingURL');
  });

  it.each([
    ['without flags', ''],
    ['with --enable-source-maps', '--enable-source-maps'],
  ])('an error logged by the bundle names the src/ line that threw, in a chunk (%s)', (_label, options) => {
    const [first, second] = loggedError(options);
    expect(first?.location).toMatch(/^src\/config\/settings\.ts:\d+$/);
    expect(sourceLine(first?.location ?? '')).toContain('throw new SourceError');
    // Minified names (the handler is built without keepNames), at their source positions.
    expect(first?.stack).toMatch(/\n {4}at \S+ \(src\/config\/settings\.ts:\d+:\d+\)\n {4}at /);
    expect(first?.stack).not.toMatch(/\.mjs:\d+/);
    // The map is read once and kept: the second line is mapped the same way.
    expect(second).toEqual(first);
  });

  it.each([
    ['a source of the repository', '../src/lambda/handler.ts', 'src/lambda/handler.ts'],
    ['a chunk', '../../src/config/load.ts', 'src/config/load.ts'],
    ["SAM's build folder", '../../../tmpb17fv94x/src/lambda/main.ts', 'src/lambda/main.ts'],
    ['a project under another src folder', '../../home/me/src/image-rewriter/src/core/rules.ts', 'src/core/rules.ts'],
    ['a dependency', '../../../tmpb17fv94x/node_modules/zod/v4/core/core.js', 'node_modules/zod/v4/core/core.js'],
    ['already relative to the root', 'src/config/load.ts', 'src/config/load.ts'],
    ['anything else', '../../other/file.js', 'other/file.js'],
  ])('a map source from %s is shown from the project root', (_label, source, shown) => {
    expect(projectPath(source)).toBe(shown);
  });

  it('leaves the message, frames of other files, and positions the map does not cover as they are', () => {
    const url = pathToFileURL(bundle).href;
    const lone = join(dir, 'lone.mjs');
    writeFileSync(lone, '');
    const broken = join(dir, 'broken.mjs');
    writeFileSync(broken, '');
    writeFileSync(`${broken}.map`, 'not json');
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    const stack = [
      `Error: see ${url}:2:10`,
      '    at f (node:internal/modules/run_main:1:2)',
      `    at g (${url}:999:1)`,
      `    at h (${lone}:2:10)`,
      `    at ${broken}:1:1`,
      `    at i (${join(dir, 'node_modules', 'x.js')}:1:1)`,
      '    at j (/work/src/config/load.ts:10:3)',
    ].join('\n');
    expect(mapStack(stack)).toBe(stack);
  });
});
