/**
 * npm scripts that are shell one-liners in package.json, run by `sh` as npm runs them, with a
 * stand-in for the tools they call: they must hold on the paths contributors have (a TMPDIR with a
 * space in it), not only on CI's.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../helpers/fixtures.js';

const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const scratch = mkdtempSync(join(tmpdir(), 'image-rewriter-npm-scripts-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('npm run fuzz:long', () => {
  // Before, it ended with `cat ${FUZZ_REPORT:-...}` unquoted: with TMPDIR="/tmp/my dir" it read
  // "/tmp/my" and "dir/image-rewriter-fuzz.jsonl" and failed after the whole run.
  it('prints the report of every target from a TMPDIR with a space in it, and exits 0 when each passed', () => {
    const tmp = join(scratch, 'my tmp');
    const bin = join(scratch, 'bin');
    mkdirSync(tmp, { recursive: true });
    mkdirSync(bin, { recursive: true });
    // jest: one report line per target, as tests/fuzz/budget.ts appends them.
    writeFileSync(join(bin, 'jest'), '#!/bin/sh\nfor a in "$@"; do t=$a; done\necho "{\\"target\\":\\"$t\\"}" >>"$FUZZ_REPORT"\n', { mode: 0o755 });
    const r = spawnSync('sh', ['-c', scripts['fuzz:long'] ?? ''], { encoding: 'utf8', cwd: REPO_ROOT, env: { PATH: `${bin}${delimiter}${process.env['PATH'] ?? ''}`, TMPDIR: tmp, FUZZ_SECONDS: '1' } });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout.trim().split('\n')).toEqual(['reference', 'rules', 'review', 'handler'].map((t) => `{"target":"tests/fuzz/${t}.fuzz.test.ts"}`));
  });
});
