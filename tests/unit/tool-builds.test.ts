/**
 * The tool builds `npm run demo` and `npm run test:e2e` start with (hack/k8s/build.sh,
 * hack/registry/build.sh through hack/lib/go-build.sh) on a machine without Go and with nothing
 * cached: a newcomer's first run. They must say that Go is what is missing, not leave a trail of
 * "go: command not found", and leave nothing half-made in the cache.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../helpers/fixtures.js';

/** The commands the scripts run before they would call go, found on the current PATH. */
const TOOLS = ['bash', 'dirname', 'date', 'sed', 'awk', 'mkdir', 'mktemp', 'rm', 'cat', 'tail'];

function which(tool: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const scratch = mkdtempSync(join(tmpdir(), 'image-rewriter-tool-builds-'));
/** A PATH with those tools and no go, whatever this machine has installed. */
const binDir = join(scratch, 'bin');
mkdirSync(binDir);
for (const tool of TOOLS) {
  const found = which(tool);
  if (found !== undefined) symlinkSync(found, join(binDir, tool));
}

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function runWithoutGo(script: string, cache: string, args: readonly string[] = []): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(binDir, 'bash'), [join(REPO_ROOT, script), ...args], {
    env: { PATH: binDir, HOME: scratch, IMAGE_REWRITER_CACHE: cache },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tool builds without Go and without a cache', () => {
  it('hack/k8s/build.sh says Go is needed, and leaves the cache empty', () => {
    const cache = join(scratch, 'cache-k8s');
    const r = runWithoutGo('hack/k8s/build.sh', cache);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hack\/k8s\/build\.sh: k8s-v[\d.]+-etcd-v[\d.]+ is not in the cache \(.+\) and building it needs Go 1\.\d+[.\d]* or newer \(https:\/\/go\.dev\/dl\/\); go is not on PATH\n$/);
    expect(r.stderr).not.toContain('command not found');
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });

  it('hack/k8s/build.sh 1.32 (the oldest version the e2e suite runs against) says Go is needed for its own pinned version', () => {
    const cache = join(scratch, 'cache-k8s-old');
    const r = runWithoutGo('hack/k8s/build.sh', cache, ['1.32']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hack\/k8s\/build\.sh: k8s-v1\.32\.\d+-etcd-v3\.5\.\d+ is not in the cache \(.+\) and building it needs Go 1\.\d+[.\d]* or newer \(https:\/\/go\.dev\/dl\/\); go is not on PATH\n$/);
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });

  it('hack/k8s/build.sh with a minor that is not pinned says which are, exit 2', () => {
    const cache = join(scratch, 'cache-k8s-unpinned');
    const r = runWithoutGo('hack/k8s/build.sh', cache, ['1.29']);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
    expect(r.stderr).toMatch(/^hack\/k8s\/build\.sh: Kubernetes 1\.29 is not pinned \(no hack\/k8s\/v1\.29\/go\.mod\); pinned: (v1\.\d+ )*v1\.32 (v1\.\d+ )*and the default \(no argument\)\n$/);
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });

  it('hack/registry/build.sh says Go is needed, and leaves the cache empty', () => {
    const cache = join(scratch, 'cache-registry');
    const r = runWithoutGo('hack/registry/build.sh', cache);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^build-registry: .+\/registry-v[\d.]+\/registry is not built yet and building it needs Go 1\.\d+[.\d]* or newer \(https:\/\/go\.dev\/dl\/\); go is not on PATH\n$/);
    expect(r.stderr).not.toContain('command not found');
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });
});
