/**
 * The primary's one writer of log lines for `serve --workers` (./serve-workers.ts): each worker's
 * stderr pipe relayed in whole lines, batched into at most one write per LOG_FLUSH_MS, paused while
 * the primary's stderr is full; and the flush schedule a worker's own batched lines use too
 * (batchedLines in ./serve.ts).
 */
import type { Readable } from 'node:stream';

/** The longest line kept whole: a worker's text without a newline past this is written out, ended by one. */
export const MAX_LINE_BYTES = 1024 * 1024;
/**
 * Whole lines are written at most once per this many ms (at once after a quiet spell, held at most
 * this long while they keep coming), or when this many bytes wait: a write to a pipe that wakes its
 * reader costs tens of µs when the cores are busy, and at 3,000 requests a second the workers'
 * batches came one or two requests each.
 */
export const LOG_FLUSH_MS = 5;
export const LOG_FLUSH_BYTES = 64 * 1024;
const NEWLINE = Buffer.from('\n');

/**
 * When a writer of batched lines writes (batchedLines in ./serve.ts, logRelay below): at the next
 * turn after a quiet spell, then at most once per `holdMs` while lines keep coming (every turn
 * without `holdMs`). `request` after queueing; `done` from the writer's flush, whatever started
 * it (the timer, or a batch past LOG_FLUSH_BYTES), which cancels what is still scheduled.
 */
export function flushSchedule(flush: () => void, holdMs?: number): { readonly request: () => void; readonly done: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Immediate | undefined;
  let last = Number.NEGATIVE_INFINITY;
  return {
    request: () => {
      if (timer !== undefined || soon !== undefined) return;
      const wait = holdMs === undefined ? 0 : last + holdMs - performance.now();
      if (wait <= 0) soon = setImmediate(flush);
      else timer = setTimeout(flush, wait);
    },
    done: () => {
      clearTimeout(timer);
      clearImmediate(soon);
      timer = undefined;
      soon = undefined;
      if (holdMs !== undefined) last = performance.now();
    },
  };
}

export interface LogRelay {
  /** The primary's own text (whole lines). */
  readonly write: (text: string) => void;
  /** Relays `stream` (a worker's stderr) until it closes; resolves once its last bytes are handed to the writer. */
  readonly relay: (stream: Readable) => Promise<void>;
}

/**
 * The one writer of `out` (the primary's stderr): every chunk a worker's stream gives is queued up
 * to its last newline, the rest kept until that line's newline comes (or the stream ends: then it is
 * queued with a newline added, a worker killed mid-line, never glued to another's line). Chunks, not
 * lines: no per-line work. The queue goes out in one write, at most one per LOG_FLUSH_MS, or at LOG_FLUSH_BYTES.
 * While `out` is full (a slow log reader) the workers' streams are paused: the primary holds about a
 * chunk and an unfinished line per worker, and a worker's lines wait in the worker (its stderr's
 * buffer, as they waited for the shared pipe), up to MAX_LOG_BACKLOG_BYTES (./serve.ts): past it
 * they are dropped and counted.
 */
export function logRelay(out: NodeJS.WritableStream): LogRelay {
  const streams = new Set<Readable>();
  let queue: Buffer[] = [];
  let queued = 0;
  let full = false;
  const schedule = flushSchedule(() => {
    flush();
  }, LOG_FLUSH_MS);
  const flush = (): void => {
    schedule.done();
    const data = queue.length === 1 ? queue[0] : Buffer.concat(queue, queued);
    queue = [];
    queued = 0;
    if (data === undefined || data.length === 0 || out.write(data) || full) return;
    full = true;
    for (const s of streams) s.pause();
    out.once('drain', () => {
      full = false;
      for (const s of streams) s.resume();
    });
  };
  const push = (data: Buffer): void => {
    queue.push(data);
    queued += data.length;
    if (queued >= LOG_FLUSH_BYTES) flush();
    else schedule.request();
  };
  const relay = (stream: Readable): Promise<void> =>
    new Promise((resolve) => {
      streams.add(stream);
      if (full) stream.pause();
      let tail: Buffer | undefined;
      stream.on('data', (chunk: Buffer) => {
        const end = chunk.lastIndexOf(10) + 1;
        if (end === 0) {
          tail = tail === undefined ? chunk : Buffer.concat([tail, chunk]);
          if (tail.length > MAX_LINE_BYTES) {
            push(Buffer.concat([tail, NEWLINE]));
            tail = undefined;
          }
          return;
        }
        push(tail === undefined ? chunk.subarray(0, end) : Buffer.concat([tail, chunk.subarray(0, end)]));
        tail = end < chunk.length ? chunk.subarray(end) : undefined;
      });
      // A read error ends the stream as its end does ('close' follows either).
      stream.on('error', () => undefined);
      stream.once('close', () => {
        streams.delete(stream);
        if (tail !== undefined) push(Buffer.concat([tail, NEWLINE]));
        tail = undefined;
        flush();
        resolve();
      });
    });
  return { write: (text) => { push(Buffer.from(text)); }, relay };
}
