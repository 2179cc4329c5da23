/**
 * The budget of the fuzz targets (tests/fuzz/*.fuzz.test.ts), read from the environment, and the
 * one way they register a property.
 *
 * - Default (CI, `npm test`): each property runs its small `runs`, so the whole folder stays well
 *   under a minute on a loaded 2-core machine.
 * - `FUZZ_RUNS=N`: every property runs N cases.
 * - `FUZZ_SECONDS=S` (the long run, `npm run fuzz:long`): the target (one file) runs for S seconds,
 *   shared between its properties by their `share`, with no limit on the number of cases (or at most
 *   FUZZ_RUNS when both are set).
 * - `FUZZ_SEED=n` replays a run; `FUZZ_REPORT=FILE` appends one JSON line per property (target,
 *   property, cases, seconds, failed, seed) for docs/reliability.md.
 *
 * A failure throws fast-check's report (seed, path and the shrunk counterexample): paste it into a
 * regression test.
 */
import { appendFileSync } from 'node:fs';
import { it } from '@jest/globals';
import fc from 'fast-check';

const int = (name: string): number | undefined => {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
};

const FIXED_RUNS = int('FUZZ_RUNS');
const SECONDS = int('FUZZ_SECONDS');
const SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED']);
const REPORT = process.env['FUZZ_REPORT'];

/** True in the long run: properties are bounded by time, not by count. */
export const LONG = SECONDS !== undefined;

/** Scale a size for the long run (bigger inputs when there is time for them). */
export const scale = (short: number, long: number): number => (LONG ? long : short);

export interface PropertyOptions {
  /** Cases in the default (CI) budget. */
  readonly runs: number;
  /** Part of the target's time in the long run (default 1). */
  readonly share?: number;
}

/** The properties of one target (one file); `property` registers a jest test per property. */
export function fuzzTarget(target: string): { property: <Ts>(name: string, make: () => fc.IRawProperty<Ts>, options: PropertyOptions) => void } {
  let totalShare = 0;
  return {
    property<Ts>(name: string, make: () => fc.IRawProperty<Ts>, options: PropertyOptions) {
      const share = options.share ?? 1;
      totalShare += share;
      const timeoutMs = LONG ? (SECONDS ?? 0) * 1000 + 120_000 : 120_000;
      it(
        name,
        async () => {
          const limitMs = SECONDS === undefined ? undefined : Math.round((SECONDS * 1000 * share) / totalShare);
          const params: fc.Parameters<Ts> = {
            numRuns: limitMs === undefined ? (FIXED_RUNS ?? options.runs) : (FIXED_RUNS ?? Number.MAX_SAFE_INTEGER),
            ...(limitMs === undefined ? {} : { plugins: [fc.interruptAfterTimeLimit(limitMs, { failOnInterrupt: false })] }),
            ...(SEED === undefined ? {} : { seed: SEED }),
          };
          const started = performance.now();
          const details: fc.RunDetails<Ts> = await fc.check(make(), params);
          const seconds = Math.round((performance.now() - started) / 100) / 10;
          if (REPORT !== undefined) {
            const line = { target, property: name, cases: details.numRuns, skipped: details.numSkips, seconds, failed: details.failed, seed: details.seed };
            appendFileSync(REPORT, `${JSON.stringify(line)}\n`);
          }
          if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `${target}: ${name} failed`);
        },
        timeoutMs,
      );
    },
  };
}
