/**
 * Bounded waiting: poll a probe until it yields a value, with a short first interval that backs
 * off (a loaded machine answers late; a fast one should not wait a fixed time), failing with what
 * was awaited and the last thing the probe said.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

export interface EventuallyOptions {
  readonly timeoutMs: number;
  /** First interval (default 100 ms); doubles up to `maxIntervalMs` (default 1 s). */
  readonly intervalMs?: number;
  readonly maxIntervalMs?: number;
  /** Checked before each attempt: a reason to give up early (e.g. the process under test exited). */
  readonly abortIf?: () => string | undefined;
}

/** What a probe returns: a value when done, or why not yet. */
export type Probe<T> = () => Promise<{ readonly done: true; readonly value: T } | { readonly done: false; readonly why: string }>;

export const done = <T>(value: T): { readonly done: true; readonly value: T } => ({ done: true, value });
export const notYet = (why: string): { readonly done: false; readonly why: string } => ({ done: false, why });

/** Poll `probe` until it is done; throws WaitTimeoutError naming `what` after `timeoutMs`. */
export async function eventually<T>(what: string, options: EventuallyOptions, probe: Probe<T>): Promise<T> {
  const started = performance.now();
  const deadline = started + options.timeoutMs;
  let interval = options.intervalMs ?? 100;
  const maxInterval = options.maxIntervalMs ?? 1000;
  let attempts = 0;
  for (;;) {
    const abort = options.abortIf?.();
    if (abort !== undefined) throw new Error(`gave up waiting for ${what}: ${abort}`);
    attempts++;
    const result = await probe();
    if (result.done) return result.value;
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new WaitTimeoutError(`timed out after ${seconds(performance.now() - started)} (${attempts} attempts) waiting for ${what}; last: ${result.why}`);
    }
    await sleep(Math.min(interval, left));
    interval = Math.min(interval * 2, maxInterval);
  }
}

/** `1.23 s` */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
