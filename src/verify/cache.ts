/**
 * A bounded map whose entries expire: the verdicts of existence checks (positive for minutes,
 * negative for seconds) and the registries' bearer tokens. Least recently used entries go first
 * when it is full (a read counts: with only sets counting, the few targets every Pod names went as
 * soon as a burst of distinct images, hostile or not, filled it, and each was asked of its registry
 * again); expired entries are dropped when read.
 *
 * Hand-written (a Map keeps insertion order, so about twenty lines do it): the Lambda bundle is
 * parsed at every cold start, and the one feature needed (per-entry TTL on an injected clock, a
 * size bound) does not justify a dependency.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly expires: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    if (e.expires <= this.now()) return undefined;
    // Set again: a Map keeps insertion order, so this makes it the most recently used.
    this.entries.set(key, e);
    return e.value;
  }

  /** Keep `value` for `ttlMs` (nothing is kept for 0 or less). */
  set(key: string, value: V, ttlMs: number): void {
    this.entries.delete(key);
    if (ttlMs <= 0 || this.maxEntries <= 0) return;
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expires: this.now() + ttlMs });
  }

  get size(): number {
    return this.entries.size;
  }
}
