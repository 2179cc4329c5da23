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

/**
 * The least of up to `attempts` ratios `measure()` gives, stopping at the first below `bound`.
 * A cost that grows the wrong way (quadratic instead of linear) is above the bound every time; a
 * ratio pushed over it by the rest of the machine (other jest workers, a GC pause in one timing)
 * is measured again instead of failing the test. The caller still asserts the result.
 */
export function leastRatio(bound: number, measure: () => number, attempts = 3): number {
  let least = Infinity;
  for (let i = 0; i < attempts && least >= bound; i++) least = Math.min(least, measure());
  return least;
}
