/**
 * Stack traces of a bundle in source positions (src/observability/stack-map.ts): the bundle is
 * built as scripts/build.mjs builds dist/handler.js (minified, the map a separate file with no
 * sourceMappingURL comment), and an error it logs names the src/ file and line that threw, with and
 * without --enable-source-maps (which SAM adds to the function's NODE_OPTIONS).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { mapStack, mapStackWith, projectPath, readBundleMap } from '../../src/observability/stack-map.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

let dir = '';
let bundle = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stack-map-'));
  bundle = join(dir, 'child.mjs');
  // An invalid token: readSettings (src/config/settings.ts) throws, and the logger writes the error.
  await build({
    stdin: {
      contents: `import { JsonLogger } from './src/observability/json-log.ts';
import { readSettings } from './src/config/settings.ts';
const logger = new JsonLogger({ serviceName: 'test', logLevel: 'INFO', sink: (line) => process.stdout.write(line + '\\n') });
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
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    minify: true,
    keepNames: true,
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
  it('the bundle has no sourceMappingURL comment: Node has no map to parse at load', () => {
    expect(readFileSync(bundle, 'utf8')).not.toContain('sourceMappingURL');
    expect(readBundleMap(pathToFileURL(bundle).href)).toBeDefined();
  });

  it.each([
    ['without flags', ''],
    ['with --enable-source-maps', '--enable-source-maps'],
  ])('an error logged by the bundle names the src/ line that threw (%s)', (_label, options) => {
    const [first, second] = loggedError(options);
    expect(first?.location).toMatch(/^src\/config\/settings\.ts:\d+$/);
    expect(sourceLine(first?.location ?? '')).toContain('throw new SourceError');
    expect(first?.stack).toMatch(/\n {4}at readSettings \(src\/config\/settings\.ts:\d+:\d+\)\n/);
    expect(first?.stack).not.toContain('child.mjs');
    // The map is read once and kept: the second line is mapped the same way.
    expect(second).toEqual(first);
  });

  it.each([
    ['a source of the repository', '../src/lambda/handler.ts', 'src/lambda/handler.ts'],
    ["SAM's build folder", '../../../tmpb17fv94x/src/lambda/main.ts', 'src/lambda/main.ts'],
    ['a project under another src folder', '../../home/me/src/image-rewriter/src/core/rules.ts', 'src/core/rules.ts'],
    ['a dependency', '../../../tmpb17fv94x/node_modules/zod/v4/core/core.js', 'node_modules/zod/v4/core/core.js'],
    ['already relative to the root', 'src/config/load.ts', 'src/config/load.ts'],
    ['anything else', '../../other/file.js', 'other/file.js'],
  ])('a map source from %s is shown from the project root', (_label, source, shown) => {
    expect(projectPath(source)).toBe(shown);
  });

  it('leaves frames of other files, and positions the map does not cover, as they are', () => {
    const map = readBundleMap(pathToFileURL(bundle).href);
    if (map === undefined) throw new Error('no map');
    const url = pathToFileURL(bundle).href;
    const stack = `Error: x\n    at f (node:internal/modules/run_main:1:2)\n    at g (${url}:999:1)\n    at h (/elsewhere/child.mjs:2:10)`;
    expect(mapStackWith(map, stack)).toBe(stack);
  });

  it('a bundle without a map beside it keeps its stacks', () => {
    const lone = join(dir, 'lone.mjs');
    writeFileSync(lone, '');
    expect(readBundleMap(pathToFileURL(lone).href)).toBeUndefined();
    writeFileSync(`${lone}.map`, 'not json');
    expect(readBundleMap(pathToFileURL(lone).href)).toBeUndefined();
    // Run from the sources (as here), there is no map: the stack is the same text.
    const stack = new Error('x').stack ?? '';
    expect(mapStack(stack)).toBe(stack);
  });
});
