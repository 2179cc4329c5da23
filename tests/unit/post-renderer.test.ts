/**
 * helm/image-rewriter/post-renderer.sh: how IMAGE_REWRITER names the command it runs (README, Helm).
 * A command with arguments is split on spaces; the path of the command itself is taken whole, so a
 * checkout whose path has a space in it can be named (before, only the split form existed).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../helpers/fixtures.js';

const SCRIPT = join(REPO_ROOT, 'helm', 'image-rewriter', 'post-renderer.sh');
const scratch = mkdtempSync(join(tmpdir(), 'image-rewriter-post-renderer-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** A stand-in for dist/cli.js in `dir`: prints its arguments, one a line. */
function fakeCli(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const cli = join(dir, 'cli.js');
  writeFileSync(cli, '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
  return cli;
}

const run = (imageRewriter: string, cwd = scratch): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync('sh', [SCRIPT, '--config=/abs/rules.yaml'], { cwd, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', IMAGE_REWRITER: imageRewriter } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('helm/image-rewriter/post-renderer.sh', () => {
  it('runs IMAGE_REWRITER as a command with arguments ("sh path/to/cli.js")', () => {
    // Relative: the split form cannot name a path with a space, and TMPDIR may have one.
    fakeCli(join(scratch, 'plain'));
    expect(run('sh plain/cli.js')).toEqual({ status: 0, stdout: 'render\n--config=/abs/rules.yaml\n', stderr: '' });
  });

  it.each([
    ['a space', 'My Projects/image-rewriter/dist'],
    ['non-ASCII letters and a space', 'qa 80/dépôt/dist'],
  ])('runs IMAGE_REWRITER as the path of the command, whole, with %s in it', (_what, sub) => {
    const cli = fakeCli(join(scratch, sub));
    expect(run(cli)).toEqual({ status: 0, stdout: 'render\n--config=/abs/rules.yaml\n', stderr: '' });
  });
});
