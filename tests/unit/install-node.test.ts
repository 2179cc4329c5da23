/**
 * hack/node/install-node.sh, without the network: `npm` on PATH is a stand-in that packs a tarball
 * of our own (or fails), so what is checked is the script's own part: a tarball whose sha512 is not
 * the one hack/node/node.lock pins is refused and leaves nothing in the cache; an install whose
 * stamp matches is reused without calling npm; a stale stamp is replaced. On a machine without
 * util-linux's `flock` (macOS: npm test runs there too), a stand-in that takes no lock is on PATH:
 * what is checked here is not the lock.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../helpers/fixtures.js';

const SCRIPT = join(REPO_ROOT, 'hack', 'node', 'install-node.sh');
const lock = readFileSync(join(REPO_ROOT, 'hack', 'node', 'node.lock'), 'utf8');
const VERSION = /^version (\S+)$/m.exec(lock)?.[1] ?? '';
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x64';
const INTEGRITY = new RegExp(`^${ARCH} (\\S+)$`, 'm').exec(lock)?.[1] ?? '';

const scratch = mkdtempSync(join(tmpdir(), 'image-rewriter-install-node-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const hasFlock = (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, 'flock')));

/** A directory with an `npm` that runs `body` (a shell script), first on PATH; and a `flock` where the machine has none. */
function fakeNpm(name: string, body: string): string {
  const bin = join(scratch, name);
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'npm'), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, 'npm'), 0o755);
  if (!hasFlock) writeFileSync(join(bin, 'flock'), '#!/bin/sh\n', { mode: 0o755 });
  return bin;
}

/** An install as the script leaves it, stamped with `integrity`; returns its node's path. */
function installed(cache: string, integrity: string): string {
  const dir = join(cache, `node-v${VERSION}-linux-${ARCH}`);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'bin', 'node'), '#!/bin/sh\n');
  chmodSync(join(dir, 'bin', 'node'), 0o755);
  writeFileSync(join(dir, '.image-rewriter-integrity'), `${integrity}\n`);
  return join(dir, 'bin', 'node');
}

function install(cache: string, npmDir: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', env: { PATH: `${npmDir}:${process.env['PATH'] ?? ''}`, IMAGE_REWRITER_CACHE: cache } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('hack/node/install-node.sh', () => {
  it('pins one version and an integrity for each architecture', () => {
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(lock).toMatch(/^x64 sha512-[A-Za-z0-9+/]{86}==$/m);
    expect(lock).toMatch(/^arm64 sha512-[A-Za-z0-9+/]{86}==$/m);
  });

  it('refuses a tarball whose sha512 is not the pinned one, and leaves nothing in the cache', () => {
    const cache = join(scratch, 'cache-refused');
    // A tarball with a bin/node in it, but not the registry's: its integrity differs.
    const npm = fakeNpm(
      'npm-forged',
      `mkdir -p package/bin && printf '#!/bin/sh\\necho v${VERSION}\\n' > package/bin/node && chmod +x package/bin/node && echo x > package/LICENSE && tar -czf node-linux-${ARCH}-${VERSION}.tgz package && rm -r package`,
    );
    const r = install(cache, npm);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`node-linux-${ARCH}-${VERSION}.tgz has integrity sha512-`);
    expect(r.stderr).toContain(`hack/node/node.lock pins ${INTEGRITY}: refused`);
    expect(r.stdout).toBe('');
    expect(readdirSync(cache).filter((f) => !f.endsWith('.lock'))).toEqual([]);
  });

  it('reuses an install whose stamp is the pinned integrity, without calling npm', () => {
    const cache = join(scratch, 'cache-present');
    const node = installed(cache, INTEGRITY);
    const r = install(cache, fakeNpm('npm-fails', 'echo "npm must not run" >&2; exit 9'));
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `${node}\n` });
  });

  it('fetches again over a stamp of another integrity, and keeps the old tree while the new one is refused', () => {
    const cache = join(scratch, 'cache-stale');
    const dir = dirname(dirname(installed(cache, 'sha512-stale')));
    const r = install(cache, fakeNpm('npm-called', 'touch "$IMAGE_REWRITER_CACHE/npm-was-called"; exit 3'));
    expect(r.code).not.toBe(0);
    expect(existsSync(join(cache, 'npm-was-called'))).toBe(true);
    expect(readFileSync(join(dir, '.image-rewriter-integrity'), 'utf8')).toBe('sha512-stale\n');
    expect(readdirSync(cache).filter((f) => f.startsWith('.node-v') && !f.endsWith('.lock'))).toEqual([]);
  });
});
