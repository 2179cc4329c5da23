/**
 * A circuit breaker per registry, so a dead mirror costs nothing after a few failures: after
 * `failureThreshold` failures in a row the registry is "open" (checks are answered unreachable at
 * once, without a request) for `openMs`; then one check at a time may try ("half-open"): a success
 * closes the breaker, a failure opens it again for another `openMs`.
 *
 * Hand-written: the libraries (opossum, cockatiel) wrap a function with their own timeouts and
 * events, while here the deadline belongs to the review and a breaker is three numbers per host.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

interface Entry {
  failures: number;
  openUntil: number;
  probing: boolean;
}

export class Breakers {
  private readonly hosts = new Map<string, Entry>();
  /** When each registry last answered a check (at most maxHosts, the least recent forgotten). */
  private readonly answered = new Map<string, number>();

  constructor(
    private readonly failureThreshold: number,
    private readonly openMs: number,
    private readonly now: () => number,
    /** At most this many registries are tracked (the oldest are forgotten). */
    private readonly maxHosts = 256,
  ) {}

  state(host: string): BreakerState {
    const e = this.hosts.get(host);
    if (e === undefined || e.failures < this.failureThreshold) return 'closed';
    return this.now() < e.openUntil ? 'open' : 'half-open';
  }

  /** May a check call this registry now? In half-open state, only one check at a time may. */
  tryAcquire(host: string): boolean {
    const state = this.state(host);
    if (state === 'closed') return true;
    if (state === 'open') return false;
    const e = this.hosts.get(host);
    if (e === undefined || e.probing) return false;
    e.probing = true;
    return true;
  }

  success(host: string): void {
    this.hosts.delete(host);
    this.answered.delete(host);
    if (this.answered.size >= this.maxHosts) {
      const oldest = this.answered.keys().next();
      if (oldest.done !== true) this.answered.delete(oldest.value);
    }
    this.answered.set(host, this.now());
  }

  /** Has the registry answered a check since `time`? Then it is up, whatever one slow check says. */
  answeredSince(host: string, time: number): boolean {
    return (this.answered.get(host) ?? Number.NEGATIVE_INFINITY) > time;
  }

  /** A check that tried ends without a verdict on the registry: another may try (half-open). */
  release(host: string): void {
    const e = this.hosts.get(host);
    if (e !== undefined) e.probing = false;
  }

  failure(host: string): void {
    let e = this.hosts.get(host);
    if (e === undefined) {
      if (this.hosts.size >= this.maxHosts) {
        const oldest = this.hosts.keys().next();
        if (oldest.done !== true) this.hosts.delete(oldest.value);
      }
      e = { failures: 0, openUntil: 0, probing: false };
      this.hosts.set(host, e);
    }
    e.failures++;
    e.probing = false;
    if (e.failures >= this.failureThreshold) e.openUntil = this.now() + this.openMs;
  }
}
