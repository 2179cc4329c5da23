/**
 * The Go peer-like baseline of section 4 (bench/go-webhook: a standard-library Go HTTPS mutating
 * webhook with one prefix rule), built with the local Go toolchain into
 * <tool cache>/go-webhook-<hash of its source>/ (the cache and pattern of hack/'s tool builds:
 * built once, reused), and the check of its answers. It needs nothing from the module proxy. When
 * there is no `go`, or the build fails, section 4 runs without it and says why.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Variant, Workload } from './workloads.js';

/** The one rule the Go webhook applies (one of the bench rules: gcr.io -> asia.gcr.io). */
export const GO_RULE = { from: 'gcr.io/', to: 'asia.gcr.io/' } as const;

/**
 * The tool cache, as hack/'s scripts name it: IMAGE_REWRITER_CACHE, else $XDG_CACHE_HOME/image-rewriter,
 * else ~/.cache/image-rewriter; a variable set but empty counts as unset, as the shell's `:-` has it.
 */
export function toolCache(env: NodeJS.ProcessEnv, home: string): string {
  const set = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  return set('IMAGE_REWRITER_CACHE') ?? join(set('XDG_CACHE_HOME') ?? join(home, '.cache'), 'image-rewriter');
}

/** The Go webhook's binary, built if needed; or why there is none. */
export function goPeerBinary(repoRoot: string, progress: (s: string) => void): { path: string } | { problem: string } {
  const dir = join(repoRoot, 'bench', 'go-webhook');
  const hash = createHash('sha256')
    .update(readFileSync(join(dir, 'main.go')))
    .update(readFileSync(join(dir, 'go.mod')))
    .digest('hex')
    .slice(0, 16);
  const out = join(toolCache(process.env, homedir()), `go-webhook-${hash}`);
  const binary = join(out, 'go-webhook');
  if (existsSync(binary)) return { path: binary };
  const go = ['go', '/usr/local/go/bin/go'].find((g) => {
    try {
      execFileSync(g, ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (go === undefined) return { problem: 'no go toolchain' };
  progress('https: building the Go peer baseline (bench/go-webhook, once)');
  try {
    mkdirSync(out, { recursive: true });
    execFileSync(go, ['build', '-o', `${binary}.tmp`, '.'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-buildvcs=false' }, timeout: 600_000 });
    renameSync(`${binary}.tmp`, binary);
    return { path: binary };
  } catch (e) {
    return { problem: `go build failed: ${(e as Error).message.slice(0, 200)}` };
  }
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why the Go webhook's `answer` to `variant` of `w` is wrong, or undefined. */
export function goAnswerProblem(w: Workload, variant: Variant, answer: unknown): string | undefined {
  const response = isRecord(answer) ? answer['response'] : undefined;
  if (!isRecord(response) || response['uid'] !== variant.uid || response['allowed'] !== true) return 'go: not an allowed AdmissionReview with the uid';
  const seen = { containers: 0, initContainers: 0 };
  const want: { op: string; path: string; value: string }[] = [];
  for (const k of w.containers) {
    const index = seen[k.list]++;
    const image = `${k.repository}:${k.tag}${variant.suffix}`;
    if (image.startsWith(GO_RULE.from)) want.push({ op: 'replace', path: `/spec/${k.list}/${String(index)}/image`, value: GO_RULE.to + image.slice(GO_RULE.from.length) });
  }
  // The Go webhook lists init containers first, as the pod spec does.
  want.sort((a, b) => Number(b.path.includes('/initContainers/')) - Number(a.path.includes('/initContainers/')));
  const patch = typeof response['patch'] === 'string' ? Buffer.from(response['patch'], 'base64').toString('utf8') : '[]';
  return patch === JSON.stringify(want) ? undefined : `go: patch ${patch}, want ${JSON.stringify(want)}`;
}
