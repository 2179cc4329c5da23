/**
 * The memory the reviews one server handles at once may take: each review is charged a multiple of
 * its body's bytes from a budget (by default half the process's V8 heap limit, which follows
 * `--max-old-space-size` and, without it, the container's memory limit), and a large review that does
 * not fit waits, in order of arrival, for the ones before it to be answered. A review of tens of
 * thousands of rewritten containers takes many times its body while it is handled (the parsed
 * object, the patch operations, their text, its base64, the answer written to the socket), and the
 * per-worker body budget bounds only the bytes read: a few such reviews at once took a worker past
 * its container's memory limit (docs/reliability.md, "Memory under large reviews").
 *
 * Small reviews (at most SMALL_REVIEW_BYTES) never wait: they are charged, so that large ones wait
 * behind them, but go at once. A large review goes at once when no other large one is held, however
 * large: a review no budget could hold is served alone rather than refused.
 */

/** Bytes a review is charged for each byte of its body (docs/reliability.md, "Memory under large reviews"). */
export const REVIEW_MEMORY_PER_BODY_BYTE = 40;
/** A review of at most this many bytes never waits for memory (the usual review is a few KiB). */
export const SMALL_REVIEW_BYTES = 64 * 1024;

interface Waiter {
  readonly cost: number;
  readonly admit: () => void;
}

/** A budget of bytes shared by the reviews in flight; `take` resolves once a review may run. */
export class ReviewMemory {
  readonly #total: number;
  #held = 0;
  /** How many large reviews hold part of the budget. */
  #large = 0;
  readonly #queue: Waiter[] = [];

  constructor(total: number) {
    this.#total = total;
  }

  /** Bytes the reviews in flight are charged for (tests and the log line of a refusal). */
  get held(): number {
    return this.#held;
  }

  /** Reviews waiting for memory. */
  get waiting(): number {
    return this.#queue.length;
  }

  #fits(cost: number): boolean {
    return this.#large === 0 || this.#held + cost <= this.#total;
  }

  #hold(cost: number, large: boolean): () => void {
    this.#held += cost;
    if (large) this.#large++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#held -= cost;
      if (large) this.#large--;
      this.#next();
    };
  }

  #next(): void {
    for (let w = this.#queue[0]; w !== undefined && this.#fits(w.cost); w = this.#queue[0]) {
      this.#queue.shift();
      w.admit();
    }
  }

  /**
   * Hold the memory of a review of `bodyBytes`: resolves with the function that gives it back (call
   * it once the answer is written), or undefined when it waited `waitMs` without room, or `cancel`
   * (the client went away) was called first.
   */
  take(bodyBytes: number, waitMs: number, cancelled: (cancel: () => void) => void): Promise<(() => void) | undefined> {
    const cost = bodyBytes * REVIEW_MEMORY_PER_BODY_BYTE;
    const large = bodyBytes > SMALL_REVIEW_BYTES;
    if (!large || (this.#queue.length === 0 && this.#fits(cost))) return Promise.resolve(this.#hold(cost, large));
    return new Promise((resolve) => {
      const leave = (): void => {
        clearTimeout(timer);
        const i = this.#queue.indexOf(waiter);
        if (i === -1) return;
        this.#queue.splice(i, 1);
        resolve(undefined);
        // The reviews behind it may fit now.
        this.#next();
      };
      const waiter: Waiter = {
        cost,
        admit: () => {
          clearTimeout(timer);
          resolve(this.#hold(cost, large));
        },
      };
      const timer = setTimeout(leave, waitMs);
      timer.unref();
      this.#queue.push(waiter);
      cancelled(leave);
    });
  }
}
