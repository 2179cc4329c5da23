/**
 * `serve --workers N`: the workers share the addresses of the callers they saw show the token
 * (src/serve/known-callers.ts), through the primary, over the cluster's IPC channel. Each worker
 * accepts its own connections from the shared socket, and the API server's spare connections (its
 * client dials more than a burst uses and keeps them idle up to 90 s) are held only by a worker
 * that knows the address; one that did not answered them 408 at the headers timeout, and a review
 * written to one at that moment failed (docs/reliability.md, section 8).
 *
 * - A worker tells the primary (`callers`) each address it first sees show the token, and again at
 *   most once per headersMs while it keeps seeing it, in one message per SHARE_INTERVAL_MS at most.
 * - The primary keeps them (bounded, with their expiry) and tells every worker, batched and
 *   bounded the same way; a worker that starts later (a replacement) says it listens
 *   (`callers-ready`) and is given every address known at that moment.
 */
import cluster, { type Worker } from 'node:cluster';
import { type CallerExchange, KnownCallers, parseSharedCallers, type SharedCaller } from '../serve/known-callers.js';

interface CallersMessage {
  readonly kind: 'callers';
  readonly callers: readonly SharedCaller[];
}
interface ReadyMessage {
  readonly kind: 'callers-ready';
}
const isKind = <T extends { kind: string }>(m: unknown, kind: T['kind']): m is T => typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === kind;

/** A failed send (the other side is gone) is nothing to report: the callback takes its error. */
const ignore = (): void => undefined;

/**
 * The longest a worker may say an address stays known (the default keep-alive and headers times
 * are 130 s together): a bound on what the primary keeps, whatever it is told.
 */
const MAX_SHARED_TTL_MS = 10 * 60_000;
/** The primary tells an address on at most once per this (the workers' default headersMs). */
const RELAY_REFRESH_MS = 10_000;

/** A worker's side: what it tells goes to the primary; what the primary tells is learned. */
export function workerCallerExchange(): CallerExchange {
  return {
    tell: (callers) => {
      const message: CallersMessage = { kind: 'callers', callers };
      process.send?.(message, undefined, {}, ignore);
    },
    listen: (learn) => {
      const onMessage = (m: unknown): void => {
        if (isKind<CallersMessage>(m, 'callers')) learn(parseSharedCallers(m.callers));
      };
      process.on('message', onMessage);
      const ready: ReadyMessage = { kind: 'callers-ready' };
      process.send?.(ready, undefined, {}, ignore);
      return () => {
        process.off('message', onMessage);
      };
    },
  };
}

/** The primary's side, from now until `close`: it keeps what the workers tell and tells every worker that listens (`callers-ready`). */
export function primaryCallers(): { readonly close: () => void } {
  const listening = new Set<Worker>();
  const send = (worker: Worker, callers: readonly SharedCaller[]): void => {
    if (!worker.isConnected()) return;
    const message: CallersMessage = { kind: 'callers', callers };
    worker.send(message, undefined, ignore);
  };
  const known = new KnownCallers({
    ttlMs: MAX_SHARED_TTL_MS,
    refreshMs: RELAY_REFRESH_MS,
    tell: (callers) => {
      for (const worker of listening) send(worker, callers);
    },
  });
  const onMessage = (worker: Worker, m: unknown): void => {
    if (isKind<CallersMessage>(m, 'callers')) known.learn(parseSharedCallers(m.callers), true);
    else if (isKind<ReadyMessage>(m, 'callers-ready')) {
      listening.add(worker);
      const now = known.snapshot();
      if (now.length > 0) send(worker, now);
    }
  };
  const onExit = (worker: Worker): void => {
    listening.delete(worker);
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return {
    close: () => {
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
      known.close();
      listening.clear();
    },
  };
}
