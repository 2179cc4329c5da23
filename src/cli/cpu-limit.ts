/**
 * The CPUs available to this process, for `serve --workers`' default: the CPUs it may run on
 * (`os.availableParallelism()`: its affinity), at most its cgroups' CPU limit. A container's CPU
 * limit (Kubernetes `resources.limits.cpu`, `docker run --cpus`) is a cgroup quota, which Node 20's
 * `availableParallelism()` does not read and later versions ignore under one CPU: a Pod limited to
 * one CPU on a 32-CPU node would otherwise fork 32 workers, each with its own heap, into its memory
 * limit.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** A file's text, or undefined when it cannot be read. */
export type ReadText = (path: string) => string | undefined;

export const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** `root + path` and every folder above it up to `root`. */
function upTo(root: string, path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  return parts.map((_, i) => `${root}/${parts.slice(0, parts.length - i).join('/')}`).concat(root);
}

/** quota / period of a cgroup folder (v2 `cpu.max`, v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`); undefined without a limit. */
function folderLimit(dir: string, v2: boolean, read: ReadText): number | undefined {
  const [quota, period] = v2 ? (read(`${dir}/cpu.max`) ?? '').trim().split(/\s+/) : [read(`${dir}/cpu.cfs_quota_us`)?.trim(), read(`${dir}/cpu.cfs_period_us`)?.trim()];
  const q = /^\d+$/.test(quota ?? '') ? Number(quota) : Number.NaN;
  const p = /^\d+$/.test(period ?? '') ? Number(period) : Number.NaN;
  return q > 0 && p > 0 ? q / p : undefined;
}

/**
 * The smallest limit of a cgroup controller over this process's cgroup and the cgroups above it,
 * as `folderLimit` reads a folder's (undefined: none there), or undefined when none has one. cgroup
 * v2 (`0::/path` in /proc/self/cgroup) and v1 (the controller's line). A folder that cannot be read
 * is skipped: in a container without its own cgroup namespace the path names the host's folders,
 * and the container's own cgroup is the mount's root. Shared with the memory limit (memory-limit.ts).
 */
export function smallestCgroupLimit(controller: string, folderLimit: (dir: string, v2: boolean) => number | undefined, read: ReadText = readText): number | undefined {
  let limit: number | undefined;
  for (const line of (read('/proc/self/cgroup') ?? '').split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line.trim());
    if (m === null) continue;
    const controllers = m[1] ?? '';
    const v2 = controllers === '';
    if (!v2 && !controllers.split(',').includes(controller)) continue;
    for (const dir of upTo(v2 ? '/sys/fs/cgroup' : `/sys/fs/cgroup/${controllers}`, m[2] ?? '/')) {
      const l = folderLimit(dir, v2);
      if (l !== undefined && (limit === undefined || l < limit)) limit = l;
    }
  }
  return limit;
}

/** The CPU limit of this process's cgroup and the cgroups above it (the smallest), in CPUs, or undefined when none has one. */
export function cgroupCpuLimit(read: ReadText = readText): number | undefined {
  return smallestCgroupLimit('cpu', (dir, v2) => folderLimit(dir, v2, read), read);
}

/** The CPUs available to this process: its affinity's, at most its CPU limit in whole CPUs (at least 1). */
export function availableCpus(read: ReadText = readText, parallelism: number = availableParallelism()): number {
  const limit = cgroupCpuLimit(read);
  return limit === undefined ? parallelism : Math.max(1, Math.min(parallelism, Math.floor(limit)));
}
