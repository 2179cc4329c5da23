/**
 * For the tests that compare two costs measured in the same run (a ratio, never a wall-clock
 * threshold): the least disturbed of a few timings, in CPU time.
 *
 * CPU time, not wall time: on a loaded machine (CI's 2 cores shared with other jobs) the scheduler
 * takes the CPU from this process for whole time slices. A short measurement often falls between
 * two of them and the least of its runs is undisturbed, while a long one always loses its share, so
 * a wall-clock ratio of a large to a small input grows with the load (a linear cost measured 27x
 * idle read 130x to 200x with three busy loops beside it). The process's CPU time counts only the
 * time it ran.
 */

/** The CPU time (user + system, all of the process's threads) `f` takes, in milliseconds. */
export function cpuMs(f: () => void): number {
  const started = process.cpuUsage();
  f();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000;
}

/** The smallest of `runs` CPU timings of `f`, in milliseconds (the least disturbed by the rest of the machine). */
export function fastest(runs: number, f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) best = Math.min(best, cpuMs(f));
  return best;
}

/**
 * The least of up to `attempts` ratios `measure()` gives, stopping at the first below `bound`.
 * A cost that grows the wrong way (quadratic instead of linear) is above the bound every time; a
 * ratio pushed over it by something else (a GC pause in one timing, a cache cold after another
 * process ran) is measured again instead of failing the test. The caller still asserts the result.
 */
export function leastRatio(bound: number, measure: () => number, attempts = 3): number {
  let least = Infinity;
  for (let i = 0; i < attempts && least >= bound; i++) least = Math.min(least, measure());
  return least;
}
