/**
 * The tool builds `npm run demo` and `npm run test:e2e` start with (hack/k8s/build.sh,
 * hack/registry/build.sh through hack/lib/go-build.sh) on a machine without Go and with nothing
 * cached: a newcomer's first run. They must say that Go is what is missing, not leave a trail of
 * "go: command not found", and leave nothing half-made in the cache. And on macOS's tools (BSD mv,
 * no nproc): a build publishes its tree in the cache there too (hack/lib/publish-dir.sh).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

describe('tool builds when the Go module proxy fails', () => {
  /** A PATH with a `go` whose module fetch (`go list -deps`) fails `fails` times like a proxy's 502, and a `sleep` that only records its argument. */
  function fakeGo(name: string, fails: number): { env: Record<string, string>; sleeps: () => string[]; fetches: () => number } {
    const dir = join(scratch, name);
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const tool of [...TOOLS, 'chmod', 'mv']) {
      const found = which(tool);
      if (found !== undefined) symlinkSync(found, join(bin, tool));
    }
    // The bash on this PATH through env: a #! line cannot name a path with a space in it (a TMPDIR's).
    const script = (body: string): string => `#!/usr/bin/env bash\n${body}\n`;
    writeFileSync(join(bin, 'sleep'), script(`echo "$1" >>"${dir}/sleeps"`), { mode: 0o755 });
    writeFileSync(
      join(bin, 'go'),
      script(`[[ $1 == -C ]] && shift 2
case $1 in
  list) echo x >>"${dir}/fetches"
        if (( $(wc -l <"${dir}/fetches") <= ${String(fails)} )); then echo "go: reading https://proxy.golang.org/x/@v/v1.mod: 502 Bad Gateway" >&2; exit 1; fi ;;
  build) while [[ $# -gt 0 && $1 != -o ]]; do shift; done; printf '#!/bin/sh\\n' >"$2" ;;
esac`),
      { mode: 0o755 },
    );
    symlinkSync(which('wc') ?? '/usr/bin/wc', join(bin, 'wc'));
    const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : []);
    return {
      env: { PATH: bin, HOME: dir, IMAGE_REWRITER_CACHE: join(dir, 'cache') },
      sleeps: () => lines(join(dir, 'sleeps')),
      fetches: () => lines(join(dir, 'fetches')).length,
    };
  }

  const run = (script: string, env: Record<string, string>) => spawnSync(join(env['PATH'] ?? '', 'bash'), [join(REPO_ROOT, script)], { env, encoding: 'utf8', timeout: 30_000 });

  // Before, one 502 of the proxy failed the build, and with it a cold CI run.
  it('hack/registry/build.sh fetches the modules again after a failure, and builds', () => {
    const go = fakeGo('proxy-hiccup', 1);
    const r = run('hack/registry/build.sh', go.env);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('build-registry: failed (attempt 1 of 3), again in 15 s: go -C ');
    expect(go.sleeps()).toEqual(['15']);
    const bin = r.stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(bin).toMatch(/\/registry-v[\d.]+\/registry$/);
    accessSync(bin, constants.X_OK);
  });

  it('hack/registry/build.sh gives up after 3 fetches, and leaves no binary in the cache', () => {
    const go = fakeGo('proxy-down', 99);
    const r = run('hack/registry/build.sh', go.env);
    expect(r.status).not.toBe(0);
    expect(go.fetches()).toBe(3);
    expect(go.sleeps()).toEqual(['15', '45']);
    expect(r.stderr).toContain('build-registry: failed 3 times, giving up: go -C ');
    const cache = go.env['IMAGE_REWRITER_CACHE'] ?? '';
    expect(readdirSync(cache).flatMap((d) => readdirSync(join(cache, d)))).toEqual([]);
  });
});

describe('tool builds with the tools macOS has (BSD mv, without -T; no nproc)', () => {
  /** A PATH with a `go` that "builds" (an empty script per binary), an `mv` that refuses -T as BSD mv does, and no nproc. */
  function macTools(name: string): Record<string, string> {
    const dir = join(scratch, name);
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const tool of [...TOOLS, 'chmod', 'du', 'cut', 'ls', 'head', 'getconf', 'cksum']) {
      const found = which(tool);
      if (found !== undefined) symlinkSync(found, join(bin, tool));
    }
    // The bash on this PATH through env: a #! line cannot name a path with a space in it (a TMPDIR's).
    const script = (body: string): string => `#!/usr/bin/env bash\n${body}\n`;
    const realMv = which('mv') ?? '/bin/mv';
    writeFileSync(join(bin, 'mv'), script(`for a in "$@"; do [[ $a == -T ]] && { echo "mv: illegal option -- T" >&2; exit 64; }; done\nexec ${realMv} "$@"`), { mode: 0o755 });
    writeFileSync(
      join(bin, 'go'),
      script(`[[ $1 == -C ]] && shift 2
case $1 in
  env) echo go1.26.0 ;;
  list) if [[ $2 == -m ]]; then echo v0.36.2; fi ;;
  build) for ((i = 1; i < $#; i++)); do j=$((i + 1)); [[ \${!i} == -ldflags ]] && echo "\${!j}" >>"$HOME/ldflags"; done
         while [[ $# -gt 0 && $1 != -o ]]; do shift; done; out=$2; shift 2
         while [[ $1 == -* ]]; do shift; done
         if [[ $out == */ ]]; then for p in "$@"; do printf '#!/bin/sh\\n' >"$out\${p##*/}"; chmod +x "$out\${p##*/}"; done
         else printf '#!/bin/sh\\n' >"$out"; chmod +x "$out"; fi ;;
esac`),
      { mode: 0o755 },
    );
    return { PATH: bin, HOME: dir, IMAGE_REWRITER_CACHE: join(dir, 'cache') };
  }
  const run = (env: Record<string, string>, script: string, args: readonly string[] = []) => spawnSync(join(env['PATH'] ?? '', 'bash'), [join(REPO_ROOT, script), ...args], { env, encoding: 'utf8', timeout: 30_000 });

  // Before, the tree was published with GNU `mv -T` (and `nproc` gave go build -p): on macOS a cold
  // build of npm run demo ran to the end, then failed with "cannot publish".
  it.each([
    ['hack/k8s/build.sh', [], /\/k8s-v[\d.]+-etcd-v[\d.]+\/bin$/, ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl']],
    ['hack/helm/build.sh', ['3'], /\/helm-v3\.[\d.]+-\d+\/bin\/helm$/, []],
  ])('%s builds and publishes its tree, and reuses it the next time', (script, args, printed, binaries) => {
    const env = macTools(`mac-${script.split('/')[1] ?? ''}`);
    const r = run(env, script, args);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.not.stringMatching(/illegal option|nproc|cannot publish/) });
    const out = r.stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(out).toMatch(printed);
    for (const b of binaries) accessSync(join(out, b), constants.X_OK);
    if (binaries.length === 0) accessSync(out, constants.X_OK);
    const cache = env['IMAGE_REWRITER_CACHE'] ?? '';
    expect(readdirSync(cache).filter((d) => d.startsWith('.'))).toEqual([]);
    const again = run(env, script, args);
    expect({ status: again.status, stdout: again.stdout }).toEqual({ status: 0, stdout: r.stdout });
    expect(again.stderr).toContain('cached: ');
  });

  // Before, Helm 3 was built without the release Makefile's k8sVersion flags: its `helm template`
  // checked a chart's kubeVersion against v1.20.0 (deploy/chart/image-rewriter/Chart.yaml needs 1.30),
  // and the cache key was the version alone, so a machine with that binary cached kept it.
  it.each([
    [3, ['pkg/lint/rules', 'pkg/chartutil'].map((p) => `-X helm.sh/helm/v3/${p}.k8sVersionMajor=1 -X helm.sh/helm/v3/${p}.k8sVersionMinor=36`).join(' ')],
    [4, ''],
  ])('hack/helm/build.sh %i: the ldflags of a Helm release (Helm 3: the default Kubernetes version, 1.36 of client-go v0.36.x; Helm 4 reads it at run time), and a new build when the script changes', (major, k8s) => {
    const env = macTools(`mac-helm-flags-${String(major)}`);
    const repo = join(env['HOME'] ?? '', 'repo');
    for (const dir of ['helm', 'lib']) cpSync(join(REPO_ROOT, 'hack', dir), join(repo, 'hack', dir), { recursive: true });
    const script = join(repo, 'hack', 'helm', 'build.sh');
    const build = () => spawnSync(join(env['PATH'] ?? '', 'bash'), [script, String(major)], { env, encoding: 'utf8', timeout: 30_000 });
    const first = build();
    expect(first.status).toBe(0);
    const ldflags = readFileSync(join(env['HOME'] ?? '', 'ldflags'), 'utf8');
    expect(ldflags).toMatch(new RegExp(`^-s -w -X helm\\.sh/helm/v${String(major)}/internal/version\\.version=v${String(major)}\\.\\d+\\.\\d+${k8s === '' ? '' : ` ${k8s}`}\n$`));
    writeFileSync(script, `${readFileSync(script, 'utf8')}# another flag\n`);
    const second = build();
    expect(second.status).toBe(0);
    expect(second.stderr).not.toContain('cached: ');
    const [a, b] = [first, second].map((r) => r.stdout.trimEnd().split('\n').at(-1) ?? '');
    expect(b).not.toBe(a);
    accessSync(a ?? '', constants.X_OK);
    accessSync(b ?? '', constants.X_OK);
  });

  it.each([
    ['before publish_dir looks', false],
    ['between its look and its rename (BSD and GNU mv then move the tree into it)', true],
  ])('publish_dir, when another build published first %s: fails, and leaves that tree as it was', (_when, race) => {
    const dir = join(scratch, `publish-race-${String(race)}`);
    mkdirSync(join(dir, '.tmp.1', 'bin'), { recursive: true });
    writeFileSync(join(dir, '.tmp.1', 'bin', 'ours'), '');
    const theirs = 'mkdir -p "$2/bin" && : >"$2/bin/theirs"';
    const body = [
      `source ${JSON.stringify(join(REPO_ROOT, 'hack', 'lib', 'publish-dir.sh'))}`,
      race ? `mv() { ${theirs}; command mv "$@"; }` : theirs,
      'publish_dir "$1" "$2"; echo "status $?"',
    ].join('\n');
    const r = spawnSync('bash', ['-c', body, 'x', join(dir, '.tmp.1'), join(dir, 'dest')], { encoding: 'utf8' });
    expect(r.stdout).toBe('status 1\n');
    expect(readdirSync(join(dir, 'dest'), { recursive: true }).sort()).toEqual(['bin', join('bin', 'theirs')]);
  });
});
