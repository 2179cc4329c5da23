/**
 * stdin opened on a directory (`render --check < manifests/`, meant as `-f`): Node reads it as
 * empty, and `render --check` and `audit -f -` passed (exit 0) on manifests they never read. Each
 * command that reads stdin now refuses it, with the exit code of an error, as `-f DIR` does.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { bundleCli } from '../helpers/cli-bundle.js';
import { FIXTURES } from '../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-stdin-dir-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const rules = join(FIXTURES, 'valid-demo.yaml');

async function run(cli: string, args: string[], stdin: number | 'ignore'): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: [stdin, 'pipe', 'pipe'], env: {} });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, out, err };
}

describe('stdin that is a directory', () => {
  const refused = 'error: stdin is a directory: give one file (-f FILE, or < FILE) or a pipe (kustomize build DIR | ...)\n';
  it.each([
    ['render --check', ['render', '--check', '--config', rules], 2],
    ['render', ['render', '--config', rules, '-f', '-'], 2],
    ['audit -f -', ['audit', '--config', rules, '-f', '-'], 2],
    ['explain -', ['explain', '--config', rules, '-'], 1],
  ])('%s: refused with an error, not read as empty', async (_name, args, code) => {
    const cli = await bundleCli(join(dir, 'cli.mjs'));
    const fd = openSync(FIXTURES, 'r');
    try {
      expect(await run(cli, args, fd)).toEqual({ code, out: '', err: refused });
    } finally {
      closeSync(fd);
    }
  }, 60_000);

  it('stdin that is empty is still read as empty (render --check: nothing would change, with its warning)', async () => {
    const cli = await bundleCli(join(dir, 'cli.mjs'));
    expect(await run(cli, ['render', '--check', '--config', rules], 'ignore')).toEqual({
      code: 0,
      out: '',
      err: 'warning: the input has no manifests: nothing was checked (did the command before render fail? see set -o pipefail)\nrender --check: no image would change\n',
    });
  }, 60_000);
});
