/**
 * The addresses of the callers that showed the token, each known for a while after it last did:
 * what lets a connection that has sent nothing yet from such an address wait as that caller's idle
 * connections do (holdSpare in ./connections.ts). With `serve --workers` each worker accepts its
 * own connections from the shared socket, so the spare connection of the API server can be held by
 * a worker that never saw that caller's token: the processes tell each other the addresses (through
 * the primary: src/cli/serve-callers.ts) over a `tell` function this module batches and bounds.
 *
 * Bounded whatever a caller does: at most MAX_KNOWN_CALLERS addresses (the least recently seen go
 * first), each told again at most once per `refreshMs` however many requests it sends, and at most
 * one message per SHARE_INTERVAL_MS with at most MAX_KNOWN_CALLERS entries.
 */

/** An address and for how many more milliseconds it is known: what the processes tell each other. */
export type SharedCaller = readonly [address: string, ttlMs: number];

/** How a process tells the others of addresses and hears theirs (ServerOptions.callerExchange). */
export interface CallerExchange {
  readonly tell: (callers: readonly SharedCaller[]) => void;
  /** Calls `learn` with what the others tell, from now on; returns the function that stops it. */
  readonly listen: (learn: (callers: readonly SharedCaller[]) => void) => () => void;
}

/** The most addresses kept: the API server has one per replica (a few), each a few dozen bytes. */
export const MAX_KNOWN_CALLERS = 256;
/** The longest address accepted from another process (an IPv6 address with its zone fits). */
const MAX_ADDRESS_LENGTH = 64;
/**
 * How long addresses wait to be told, in one message: well under the headers timeout (10 s) that
 * a spare connection accepted by another worker reaches, and one message where a burst of new
 * addresses would be many.
 */
export const SHARE_INTERVAL_MS = 200;

interface Entry {
  expiresAt: number;
  /** When it was last put in a message (undefined: never), for the rate of `refreshMs`. */
  toldAt: number | undefined;
}

/** The entries of a message from another process that can be used; the rest (and past MAX_KNOWN_CALLERS) left out. */
export function parseSharedCallers(value: unknown): SharedCaller[] {
  if (!Array.isArray(value)) return [];
  const out: SharedCaller[] = [];
  for (const item of value.slice(0, MAX_KNOWN_CALLERS) as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2) continue;
    const [address, ttlMs] = item as unknown[];
    if (typeof address !== 'string' || address === '' || address.length > MAX_ADDRESS_LENGTH) continue;
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) continue;
    out.push([address, ttlMs]);
  }
  return out;
}

export interface KnownCallersOptions {
  /** How long an address stays known after it was last seen (or told: at most this). */
  readonly ttlMs: number;
  /** An address seen again is told again once this long has passed since it last was, not before. */
  readonly refreshMs: number;
  /** Where the addresses to tell go; without it nothing is told (one process). */
  readonly tell?: ((callers: readonly SharedCaller[]) => void) | undefined;
  /** The monotonic clock, in ms (tests). */
  readonly now?: (() => number) | undefined;
}

/** The known callers of one process (a worker, the primary, or `serve` alone). */
export class KnownCallers {
  /** In the order last seen or told: the first is the one to drop when full. */
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: KnownCallersOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** This process saw `address` show the token: known for ttlMs from now, and told (at most once per refreshMs). */
  seen(address: string): void {
    this.put(address, this.options.ttlMs, true);
  }

  /**
   * Addresses another process told: known as long as it said (at most ttlMs); with `relay` (the
   * primary) told on to the others, each at most once per refreshMs.
   */
  learn(callers: readonly SharedCaller[], relay = false): void {
    for (const [address, ttlMs] of callers) this.put(address, Math.min(ttlMs, this.options.ttlMs), relay);
  }

  /** True while `address` is known. */
  knows(address: string): boolean {
    const entry = this.entries.get(address);
    if (entry === undefined) return false;
    if (entry.expiresAt > this.now()) return true;
    this.entries.delete(address);
    return false;
  }

  /** Every address known now, with how long it still is: what a process that starts later is given. */
  snapshot(): SharedCaller[] {
    const t = this.now();
    const out: SharedCaller[] = [];
    for (const [address, { expiresAt }] of this.entries) if (expiresAt > t) out.push([address, Math.ceil(expiresAt - t)]);
    return out;
  }

  /** How many addresses are kept (expired ones included until dropped). */
  get size(): number {
    return this.entries.size;
  }

  /** Stop the pending message (at shutdown). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private put(address: string, ttlMs: number, tell: boolean): void {
    const t = this.now();
    const entry = this.entries.get(address);
    const expiresAt = Math.max(entry?.expiresAt ?? 0, t + ttlMs);
    let toldAt = entry?.toldAt;
    const due = toldAt === undefined || t - toldAt >= this.options.refreshMs;
    if (tell && this.options.tell !== undefined && due) {
      toldAt = t;
      this.pending.add(address);
      this.schedule();
    }
    // Moved to the end: the least recently seen address is the first.
    if (entry !== undefined) this.entries.delete(address);
    else if (this.entries.size >= MAX_KNOWN_CALLERS) {
      // Not told either: what is pending is always known (at most MAX_KNOWN_CALLERS, the latest).
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) {
        this.entries.delete(oldest.value);
        this.pending.delete(oldest.value);
      }
    }
    this.entries.set(address, { expiresAt, toldAt });
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, SHARE_INTERVAL_MS);
    this.timer.unref();
  }

  private flush(): void {
    const { tell } = this.options;
    const t = this.now();
    const out: SharedCaller[] = [];
    for (const address of this.pending) {
      const entry = this.entries.get(address);
      if (entry !== undefined && entry.expiresAt > t) out.push([address, Math.ceil(entry.expiresAt - t)]);
    }
    this.pending.clear();
    if (out.length > 0) tell?.(out);
  }
}
