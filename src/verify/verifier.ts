/**
 * The existence checks of one review, all in parallel under one deadline (docs/verify.md): each
 * target is answered `present`, `missing` (with why) or `unreachable` (with why: the deadline, an
 * error, an open circuit breaker). Verdicts are cached (present for minutes, missing for seconds,
 * errors not at all), bounded in size; a registry that keeps failing is skipped by its breaker (an
 * answer about one repository, a refusal or an ECR pull-through cache's upstream failure, is no
 * failure of the registry). At most `maxConcurrentChecks` checks ask registries at once; the others
 * wait for a slot until their deadline.
 * `verify` never throws and always settles by the deadline (plus a timer tick).
 */
import { setMaxListeners } from 'node:events';
import type { ECRClient } from '@aws-sdk/client-ecr';
import { errorName } from '../config/system-error.js';
import type { VerifyCounts } from '../observability/telemetry.js';
import { Breakers } from './breaker.js';
import { TtlCache } from './cache.js';
import type { CredentialsSource } from './credentials.js';
import { type HttpOptions, RegistryHttpError } from './http.js';
import { type CheckOutcome, checkOci } from './oci.js';
import { type Target, targetOf } from './target.js';

export interface VerifyRequest {
  /** The image the rule would write (the rewrite's target). */
  readonly image: string;
  /** `os[(osversion)]/arch[/variant]` the target must provide (an index lacking one counts as missing). */
  readonly platforms: readonly string[];
}

export type Verdict =
  | { readonly status: 'present'; readonly cached: boolean }
  | { readonly status: 'missing'; readonly reason: string; readonly cached: boolean }
  | { readonly status: 'unreachable'; readonly reason: string };


export interface VerifyResult {
  /** One per request, in order. */
  readonly verdicts: readonly Verdict[];
  /** For the review's log line and metrics. */
  readonly stats: VerifyCounts;
}

export interface Verifier {
  verify(requests: readonly VerifyRequest[]): Promise<VerifyResult>;
}

export const DEFAULTS = {
  deadlineMs: 1500,
  positiveTtlMs: 5 * 60_000,
  negativeTtlMs: 10_000,
  maxCacheEntries: 2000,
  breakerFailures: 3,
  breakerOpenMs: 30_000,
  /**
   * Checks asking registries at once, across reviews. One Pod of thousands of distinct images (anyone
   * who may create Pods can send one) opened as many connections at once: seconds of TLS handshakes
   * held the event loop past the deadline, no check got its answer, and the cut checks opened the
   * registry's breaker for every other review.
   */
  maxConcurrentChecks: 32,
} as const;

export interface VerifierOptions {
  readonly deadlineMs?: number;
  readonly positiveTtlMs?: number;
  readonly negativeTtlMs?: number;
  readonly maxCacheEntries?: number;
  readonly breakerFailures?: number;
  readonly breakerOpenMs?: number;
  readonly maxConcurrentChecks?: number;
  readonly credentials: CredentialsSource;
  /** The ECR client of a region (built only when an ECR target is checked). */
  readonly ecr: (region: string) => Promise<ECRClient>;
  readonly http?: HttpOptions;
  readonly now?: () => number;
}

/**
 * One key per distinct check: the target, and its platforms in any order. The image as written, so
 * `name:tag@digest` and `name@digest` are two keys: on ECR the first is asked by tag first, and may
 * be present (the tag filled a pull-through cache) while the second is missing. Either verdict is
 * about the digest, so present holds for positiveTtlMs; missing for negativeTtlMs only, after which
 * the tag is asked again (it may fill the cache then).
 */
export const requestKey = (r: VerifyRequest): string => (r.platforms.length === 0 ? r.image : `${r.image} ${[...r.platforms].sort().join(',')}`);

/**
 * ECR's errors about one repository, not about ECR: the role may not read it, the upstream of its
 * pull-through cache failed, or the name is one ECR does not allow though image references do
 * (`a__b`, `a--b`: InvalidParameterException), which anyone who may create Pods can send. They do
 * not count against the registry's circuit breaker.
 */
const ECR_ANSWERS = new Set(['AccessDeniedException', 'UnableToGetUpstreamImageException', 'InvalidParameterException']);

/** An error of the SDK or of the network, as a short reason (never a stack, never a body). */
function reasonOf(e: unknown, target: Target): string {
  if (e instanceof RegistryHttpError) return e.message;
  const name = errorName(e);
  // The code alone, not in words (src/config/system-error.ts): a warning keeps this reason's end
  // within its length, and `ECR in us-west-2 failed: connection refused (ECONNREFUSED)` lost its start there.
  if (target.kind === 'ecr') return name === 'AbortError' ? `no answer from ECR in ${target.region} within the deadline` : `ECR in ${target.region} failed (${name})`;
  return `cannot check ${target.registry} (${name})`;
}

const failing = (target: Target): Verdict => ({ status: 'unreachable', reason: `${target.registry} is failing; not asked again for a while` });

/**
 * At most `limit` holders at once; the others wait, each until its signal aborts. A freed slot goes
 * to the reviews with checks waiting in turn (`owner`: one per review), each review's own in order:
 * under `serve` a Pod of hundreds of distinct new targets (anyone who may create Pods can send one)
 * would otherwise hold every slot until its last check, and the checks of every review after it
 * wait behind them (a review of 1024 pushed the next one's check past the default deadline).
 */
function slots(limit: number): { acquire(signal: AbortSignal, owner: object): Promise<boolean>; release(): void } {
  let free = limit;
  // Reviews in the order of their turn; an empty queue is removed, so the first entry always has a waiter.
  const queues = new Map<object, Set<() => void>>();
  return {
    acquire(signal, owner) {
      if (signal.aborted) return Promise.resolve(false);
      if (free > 0) {
        free--;
        return Promise.resolve(true);
      }
      return new Promise((resolve) => {
        let queue = queues.get(owner);
        if (queue === undefined) {
          queue = new Set();
          queues.set(owner, queue);
        }
        const mine = queue;
        const onAbort = (): void => {
          mine.delete(grant);
          if (mine.size === 0 && queues.get(owner) === mine) queues.delete(owner);
          resolve(false);
        };
        const grant = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve(true);
        };
        mine.add(grant);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    release() {
      for (const [owner, queue] of queues) {
        queues.delete(owner);
        const grant = queue.values().next().value;
        if (grant === undefined) continue;
        queue.delete(grant);
        // To the back of the turn: the next review with a check waiting is served next.
        if (queue.size > 0) queues.set(owner, queue);
        grant();
        return;
      }
      free++;
    },
  };
}

export function createVerifier(options: VerifierOptions): Verifier {
  const o = { ...DEFAULTS, ...options };
  const now = options.now ?? (() => performance.now());
  const cache = new TtlCache<{ present: true } | { present: false; reason: string }>(o.maxCacheEntries, now);
  const tokens = new TtlCache<string>(256, now);
  const breakers = new Breakers(o.breakerFailures, o.breakerOpenMs, now);
  const checkSlots = slots(o.maxConcurrentChecks);
  const ociDeps = { ...options.http, credentials: options.credentials, tokens };

  /** `deadlineAt`: when `signal` aborts (on `now`'s clock). */
  const run = async (target: Target, platforms: readonly string[], signal: AbortSignal, deadlineAt: number): Promise<CheckOutcome> => {
    if (target.kind === 'oci') return checkOci(target, platforms, signal, ociDeps);
    const [{ checkEcr }, client] = await Promise.all([import('./ecr.js'), options.ecr(target.region)]);
    // What is left of the deadline: a tag@digest image may take two requests (src/verify/ecr.ts).
    return checkEcr(target, platforms, signal, client, deadlineAt - now());
  };

  /** One distinct target: never rejects. */
  const check = async (req: VerifyRequest, key: string, signal: AbortSignal, owner: object, deadlineAt: number): Promise<Verdict> => {
    const parsed = targetOf(req.image);
    if (!parsed.ok) return { status: 'unreachable', reason: `cannot check ${req.image}: ${parsed.error}` };
    const { target } = parsed;
    // An open breaker answers at once, before the check waits for a slot: with every slot taken by
    // slow checks of other registries it would otherwise wait there until the deadline. Only a peek:
    // the half-open probe is taken once the slot is held (checkTarget), so a probe never waits for one.
    if (breakers.state(target.registry) === 'open') return failing(target);
    if (!(await checkSlots.acquire(signal, owner))) return { status: 'unreachable', reason: `no answer within the ${o.deadlineMs} ms deadline (not asked: ${o.maxConcurrentChecks} other checks were running)` };
    try {
      return await checkTarget(req, key, target, signal, deadlineAt);
    } finally {
      checkSlots.release();
    }
  };

  /** `check` once it holds a slot. */
  const checkTarget = async (req: VerifyRequest, key: string, target: Target, signal: AbortSignal, deadlineAt: number): Promise<Verdict> => {
    if (!breakers.tryAcquire(target.registry)) return failing(target);
    const asked = now();
    let outcome: CheckOutcome;
    try {
      outcome = await run(target, req.platforms, signal, deadlineAt);
    } catch (e) {
      // An answer too large to read was still an answer, for that image: no sign the registry is
      // down, so not counted against it (its breaker would refuse every other image there).
      const answered = (target.kind === 'ecr' && ECR_ANSWERS.has(errorName(e))) || (e instanceof RegistryHttpError && e.kind === 'too-large');
      outcome = { status: 'error', reason: reasonOf(e, target), ...(answered ? { answered: true as const } : {}) };
    }
    switch (outcome.status) {
      case 'present':
        breakers.success(target.registry);
        cache.set(key, { present: true }, o.positiveTtlMs);
        return { status: 'present', cached: false };
      case 'missing':
        breakers.success(target.registry);
        cache.set(key, { present: false, reason: outcome.reason }, o.negativeTtlMs);
        return { status: 'missing', reason: outcome.reason, cached: false };
      case 'error':
        // The registry answered for this repository only: it is up, and its others may be readable.
        if (outcome.answered === true) breakers.success(target.registry);
        // Cut by the deadline soon after it was asked (it waited for a slot): the registry was not
        // given the time to answer, so this says nothing about it.
        // Nor does one the deadline cut after the registry answered other checks since it was asked
        // (a Pod of a thousand images on a loaded process): the registry is up, the wait was ours.
        else if (signal.aborted && (now() - asked < o.deadlineMs / 2 || breakers.answeredSince(target.registry, asked))) breakers.release(target.registry);
        else breakers.failure(target.registry);
        return { status: 'unreachable', reason: outcome.reason };
    }
  };

  /**
   * Checks under way, by key, shared by the reviews that ask while one runs (a ReplicaSet's Pods
   * arrive together): one request to the registry, not one per review. A check is cut by the
   * deadline of the review that starts it (`signal`); a review that joins one late still settles
   * by its own.
   */
  const inflight = new Map<string, Promise<Verdict>>();
  const shared = (req: VerifyRequest, key: string, owner: object, signal: AbortSignal, deadlineAt: number): Promise<Verdict> => {
    const running = inflight.get(key);
    if (running !== undefined) return running;
    const started = check(req, key, signal, owner, deadlineAt).finally(() => {
      inflight.delete(key);
    });
    inflight.set(key, started);
    return started;
  };

  return {
    async verify(requests) {
      const started = now();
      // This review's turn for check slots (the checks it starts; one it joins keeps its starter's).
      const owner = {};
      const keys = requests.map(requestKey);
      const distinct = new Map<string, Verdict | Promise<Verdict>>();
      let cacheHits = 0;
      // One signal for the checks this review starts, aborted at its deadline all at once: the
      // checks waiting for a slot leave the queue before any cut check frees its slot. With a timer
      // per check, each cut check freed its slot before the next check's timer ran, and the slot
      // went to a waiting check about to be cut: every waiting check of a large review opened a
      // connection at the deadline only to drop it, holding the process (docs/performance.md).
      const controller = new AbortController();
      // A listener per waiting check, per request and per credentials read.
      setMaxListeners(0, controller.signal);
      const deadlineAt = started + o.deadlineMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<'deadline'>((resolve) => {
        timer = setTimeout(() => {
          resolve('deadline');
          controller.abort();
        }, o.deadlineMs);
      });
      for (const [i, req] of requests.entries()) {
        const key = keys[i] ?? '';
        if (distinct.has(key)) continue;
        const hit = cache.get(key);
        if (hit !== undefined) {
          cacheHits++;
          distinct.set(key, hit.present ? { status: 'present', cached: true } : { status: 'missing', reason: hit.reason, cached: true });
          continue;
        }
        distinct.set(
          key,
          Promise.race([shared(req, key, owner, controller.signal, deadlineAt), deadline]).then(
            (v): Verdict => (v === 'deadline' ? { status: 'unreachable', reason: `no answer within the ${o.deadlineMs} ms deadline` } : v),
          ),
        );
      }
      const settled = new Map<string, Verdict>();
      try {
        for (const [key, v] of distinct) settled.set(key, await v);
      } finally {
        clearTimeout(timer);
      }
      const verdicts = keys.map((k): Verdict => settled.get(k) ?? { status: 'unreachable', reason: 'not checked' });
      let missing = 0;
      let errors = 0;
      for (const v of settled.values()) {
        if (v.status === 'missing') missing++;
        else if (v.status === 'unreachable') errors++;
      }
      return { verdicts, stats: { checks: settled.size, cacheHits, missing, errors, latencyMs: Math.round((now() - started) * 10) / 10 } };
    },
  };
}

/** ECR clients by region, built with import() on first use (the SDK is not loaded otherwise). */
export function ecrClients(maxRegions = 8): (region: string) => Promise<ECRClient> {
  const clients = new Map<string, Promise<ECRClient>>();
  return (region) => {
    let c = clients.get(region);
    if (c === undefined) {
      if (clients.size >= maxRegions) clients.clear();
      c = import('./sdk-ecr.js').then(({ ECRClient: Client }) => new Client({ region }));
      c.catch(() => clients.delete(region));
      clients.set(region, c);
    }
    return c;
  };
}
