/**
 * For the tests that compare two costs measured in the same run (a ratio, never a wall-clock
 * threshold): the least disturbed of a few timings.
 */

/** The smallest of `runs` timings of `f`, in milliseconds (the least disturbed by the rest of the machine). */
export function fastest(runs: number, f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    f();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}
