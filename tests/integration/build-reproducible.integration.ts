/**
 * `npm run build` is reproducible (docs/design.md, "What we ship"): the same sources built in two
 * directories of different depth, each with its own node_modules as `npm ci` lays it out (a
 * hard-linked copy of the project's), write dist/ byte for byte the same, chunk names included,
 * and nothing in it names the directory it was built in: the maps' sources are relative and stay
 * inside the checkout. The build is run as the Dockerfile's build stage runs it, on package.json,
 * scripts/ and src/ alone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';

let scratch = '';
const checkouts: string[] = [];

/** Every file under `dir`, as paths relative to it, sorted. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'image-rewriter-repro-'));
  const modules = await realpath(join(REPO_ROOT, 'node_modules'));
  for (const dir of [join(scratch, 'a'), join(scratch, 'b', 'deeper', 'checkout')]) {
    await mkdir(dir, { recursive: true });
    for (const from of ['package.json', 'scripts', 'src']) await cp(join(REPO_ROOT, from), join(dir, from), { recursive: true });
    // Hard links where the file system allows them (fast, no space), else a copy.
    try {
      execFileSync('cp', ['-al', modules, join(dir, 'node_modules')]);
    } catch {
      await cp(modules, join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    }
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, encoding: 'utf8' });
    expect({ dir, status: r.status, stderr: r.stderr }).toEqual({ dir, status: 0, stderr: '' });
    checkouts.push(dir);
  }
}, 300_000);
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('writes the same dist/, byte for byte, in two directories', async () => {
    const [a = '', b = ''] = checkouts.map((c) => join(c, 'dist'));
    const names = await files(a);
    expect(names).toEqual(await files(b));
    expect(names).toEqual(expect.arrayContaining(['handler.js', 'cli.js', 'THIRD-PARTY-NOTICES', 'package.json']));
    expect(names.filter((n) => n.startsWith('chunks/')).length).toBeGreaterThan(5);
    const differ: string[] = [];
    for (const name of names) if (!(await readFile(join(a, name))).equals(await readFile(join(b, name)))) differ.push(name);
    expect(differ).toEqual([]);
  });

  it('names no directory of the build machine: every map source is relative and inside the checkout', async () => {
    for (const checkout of checkouts) {
      const dist = join(checkout, 'dist');
      for (const name of await files(dist)) {
        const text = await readFile(join(dist, name), 'utf8');
        expect({ name, leaks: text.includes(scratch) || text.includes(REPO_ROOT) }).toEqual({ name, leaks: false });
        if (!name.endsWith('.map')) continue;
        const sources = (JSON.parse(text) as { sources: string[] }).sources;
        const outside = sources.filter((s) => s.startsWith('/') || relative(checkout, resolve(dirname(join(dist, name)), s)).startsWith('..'));
        expect({ name, outside }).toEqual({ name, outside: [] });
      }
    }
  });
});
