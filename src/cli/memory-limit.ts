/**
 * The V8 heap each `serve --workers` worker gets from its container's memory limit. Node.js sizes a
 * process's heap from the memory limit of its cgroup as if it were alone in it, and each worker did
 * so: two workers and the primary could together
 * hold more than the limit, and the OOM killer ended a worker with every review it held
 * (docs/reliability.md, "Memory under large reviews"). The primary gives each worker its share
 * instead (`--max-old-space-size`), so that V8 collects before the kernel kills; the reviews each
 * worker handles at once are bounded by that heap (src/serve/review-memory.ts).
 */
import { totalmem } from 'node:os';
import { type ReadText, readText, smallestCgroupLimit } from './cpu-limit.js';

const MIB = 1024 * 1024;
/** What the primary holds, left out of the workers' shares (measured: docs/reliability.md). */
export const PRIMARY_RESERVE_MIB = 64;
/** What a worker holds besides its old space (young generation, code, buffers, TLS): room enough, measured (docs/reliability.md). */
export const WORKER_OVERHEAD_MIB = 64;
/** The least old space a worker is given: enough for one review of an object at the API server's limit (docs/reliability.md). */
export const MIN_WORKER_OLD_SPACE_MIB = 96;

/**
 * The memory limit of this process's cgroup and those above it (the smallest), in bytes, or
 * undefined when none has one below the machine's memory: cgroup v2 (`memory.max`) and v1 (the
 * `memory` controller's `memory.limit_in_bytes`).
 */
export function cgroupMemoryLimit(read: ReadText = readText, machine: number = totalmem()): number | undefined {
  return smallestCgroupLimit(
    'memory',
    (dir, v2) => {
      const text = (read(`${dir}/${v2 ? 'memory.max' : 'memory.limit_in_bytes'}`) ?? '').trim();
      const l = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      return l > 0 && l < machine ? l : undefined;
    },
    read,
  );
}

/** Whether node's own arguments or NODE_OPTIONS already size the old space: the operator's choice stays. */
export function heapSizeGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => /^--max[-_]old[-_]space[-_]size(=|$)/.test(a));
}

/**
 * Each worker's old space in MiB for `workers` workers in a memory limit of `limitBytes`: the limit
 * less the primary's reserve, shared, less a worker's overhead; at least MIN_WORKER_OLD_SPACE_MIB.
 */
export function workerOldSpaceMib(limitBytes: number, workers: number): number {
  const share = Math.floor((limitBytes / MIB - PRIMARY_RESERVE_MIB) / workers) - WORKER_OVERHEAD_MIB;
  return Math.max(MIN_WORKER_OLD_SPACE_MIB, share);
}

/**
 * The node arguments to add to each worker's (`--max-old-space-size`), or none: without a memory
 * limit, or when the operator sized the heap (`heapSizeGiven`).
 */
export function workerHeapArgs(workers: number, env: Readonly<Record<string, string | undefined>>, execArgv: readonly string[], read: ReadText = readText, machine: number = totalmem()): string[] {
  if (heapSizeGiven(execArgv, env['NODE_OPTIONS'])) return [];
  const limit = cgroupMemoryLimit(read, machine);
  return limit === undefined ? [] : [`--max-old-space-size=${String(workerOldSpaceMib(limit, workers))}`];
}
