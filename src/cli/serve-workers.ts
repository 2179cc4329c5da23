/**
 * `serve --workers N`: every core used, with node:cluster. The primary process forks N workers, each
 * running the whole single-process `serve` (src/cli/serve.ts: its own rules file watch, its own
 * certificate reloads, its own graceful shutdown) on the one listening socket the primary shares
 * with them. The primary only supervises:
 *
 * - start: one worker first (a bad configuration fails once, with its exit code and one report),
 *   then the others; the `listening` line is printed once, when every worker listens;
 * - a worker that dies while serving is replaced (after a second if it lived less than one);
 * - SIGTERM or SIGINT: every worker is told to shut down gracefully; the primary exits 0 once all
 *   have exited 0 (1 otherwise). A worker whose primary disappears shuts down as well.
 *
 * Workers write their log lines to the shared stderr themselves, each line tagged `worker`, in
 * writes of whole lines of at most PIPE_BUF bytes so that lines of two workers never interleave.
 */
import cluster, { type Worker } from 'node:cluster';
import { EXIT, type Io } from './common.js';
import { createObservability } from '../observability/telemetry.js';

/** What a worker tells the primary. */
interface WorkerMessage {
  readonly kind: 'stdout';
  readonly text: string;
}
/** What the primary tells a worker. */
interface PrimaryMessage {
  readonly kind: 'shutdown';
  readonly signal: string;
}

/** Writes to a pipe of at most this many bytes are atomic (POSIX PIPE_BUF on Linux). */
export const ATOMIC_WRITE_BYTES = 4096;

/**
 * A worker that dies sooner than this after its start is replaced after this delay, doubled for
 * each such death in a row (no crash loop); one that lived longer is replaced at once.
 */
export const RESTART_DELAY_MS = 1000;
export const MAX_RESTART_DELAY_MS = 60_000;
const SETTLED_MS = RESTART_DELAY_MS;

/**
 * How long to wait before replacing a worker that lived `livedMs`, after `quickDeaths` workers in a
 * row died before they settled. A replacement that cannot start (its rules file became invalid or
 * was deleted while the others serve on with the rules they have) then retries at 1, 2, 4... up to
 * 60 s, each retry one log line, instead of every second until the file is fixed.
 */
export function restartDelay(livedMs: number, quickDeaths: number): number {
  if (livedMs >= SETTLED_MS) return 0;
  return Math.min(RESTART_DELAY_MS * 2 ** Math.min(quickDeaths, 16), MAX_RESTART_DELAY_MS);
}

const isMessage = <T extends { kind: string }>(m: unknown, kind: T['kind']): m is T => typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === kind;

/**
 * `write` split into writes of whole lines of at most `max` bytes (a longer line goes alone), so
 * that concurrent writers to one pipe never interleave inside a line.
 */
export function lineAtomicWriter(write: (s: string) => void, max = ATOMIC_WRITE_BYTES): (s: string) => void {
  return (s) => {
    const size = Buffer.byteLength(s);
    if (size <= max) {
      write(s);
      return;
    }
    // A busy worker's batch holds many lines: ASCII text (every log line, in practice) is cut at
    // newlines found by search, character and byte offsets being the same. Measured on 4.5 to 18 KiB
    // batches: 0.05 to 0.09 µs per line, against about 1.6 µs per line for the general path below.
    if (size === s.length) {
      writeAsciiLines(write, s, max);
      return;
    }
    let chunk = '';
    let bytes = 0;
    for (const line of s.split(/(?<=\n)/)) {
      const n = Buffer.byteLength(line);
      if (bytes > 0 && bytes + n > max) {
        write(chunk);
        chunk = '';
        bytes = 0;
      }
      chunk += line;
      bytes += n;
    }
    if (chunk !== '') write(chunk);
  };
}

/** `lineAtomicWriter` for text of one byte per character: the same writes, without splitting into lines. */
function writeAsciiLines(write: (s: string) => void, s: string, max: number): void {
  let start = 0;
  while (s.length - start > max) {
    // The last line ending that fits; else the first line alone (it is longer than max).
    let end = s.lastIndexOf('\n', start + max - 1);
    if (end < start) end = s.indexOf('\n', start);
    if (end === -1) break;
    write(s.slice(start, end + 1));
    start = end + 1;
  }
  if (start < s.length) write(start === 0 ? s : s.slice(start));
}

/** The Io of a worker: stdout goes to the primary, stderr in whole lines. */
export function workerIo(io: Io): Io {
  return {
    ...io,
    stdout: (text) => {
      const message: WorkerMessage = { kind: 'stdout', text };
      process.send?.(message);
    },
    stderr: lineAtomicWriter(io.stderr),
  };
}

/** Resolves with the signal (or `disconnect`) that should shut this worker down. */
export function workerStop(): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      resolve(why);
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      done(signal);
    };
    const onMessage = (m: unknown): void => {
      if (isMessage<PrimaryMessage>(m, 'shutdown')) done(m.signal);
    };
    const onDisconnect = (): void => {
      done('disconnect');
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
  });
}

interface Started {
  readonly worker: Worker;
  /** The worker's first stdout text (its `listening` line), or its exit code if it exited first. */
  readonly ready: Promise<{ readonly listening: string } | { readonly exitCode: number }>;
  readonly exited: Promise<number>;
  /** The signal that killed the worker (SIGKILL: the OOM killer, `kill -9`), once it has exited; else undefined. */
  readonly killedBy: () => string | undefined;
  readonly startedAt: number;
}

function fork(): Started {
  const worker = cluster.fork();
  let killedBy: string | undefined;
  const exited = new Promise<number>((resolve) => {
    worker.once('exit', (code: unknown, signal: unknown) => {
      // The code is null (whatever the typings say) when a signal killed the worker.
      if (typeof signal === 'string') killedBy = signal;
      resolve(typeof code === 'number' ? code : EXIT.failure);
    });
  });
  const ready = new Promise<{ listening: string } | { exitCode: number }>((resolve) => {
    worker.on('message', (m: unknown) => {
      if (isMessage<WorkerMessage>(m, 'stdout')) resolve({ listening: m.text });
    });
    void exited.then((exitCode) => {
      resolve({ exitCode });
    });
  });
  return { worker, ready, exited, killedBy: () => killedBy, startedAt: Date.now() };
}

/**
 * The primary of `serve --workers N` (N >= 2), forking `entry` (the CLI script and its arguments) as
 * workers. `stop` resolves with the signal to shut down on.
 * Returns the exit code: a worker's when the start fails, else 0 after a clean shutdown.
 */
export async function runPrimary(workers: number, io: Io, stop: Promise<string>, entry: { readonly exec: string; readonly args: readonly string[] }): Promise<number> {
  cluster.setupPrimary({ exec: entry.exec, args: [...entry.args] });
  const { logger } = createObservability({ sink: (line) => { io.stderr(`${line}\n`); }, keys: { worker: 'primary' } });
  const live = new Set<Started>();
  let stopping = false;
  /** Workers are replaced only once all have started: a failed start is the start's to report. */
  let serving = false;
  /** Workers in a row that died before they settled (SETTLED_MS). */
  let quickDeaths = 0;

  const startOne = (): Started => {
    const s = fork();
    live.add(s);
    void s.exited.then((code) => {
      live.delete(s);
      if (stopping || !serving) return;
      const lived = Date.now() - s.startedAt;
      const signal = s.killedBy();
      const delay = restartDelay(lived, quickDeaths);
      quickDeaths = lived >= SETTLED_MS ? 0 : quickDeaths + 1;
      logger.error('worker exited; starting another', { workerId: s.worker.id, code, ...(signal === undefined ? {} : { signal }), livedMs: lived, startInMs: delay });
      // A shutdown that began while the replacement waited must not start it (it would serve on
      // with nobody to stop it, and the primary would wait for it forever).
      setTimeout(() => {
        if (!stopping) startOne();
      }, delay);
    });
    return s;
  };
  const shutdown = async (signal: string): Promise<number> => {
    stopping = true;
    const message: PrimaryMessage = { kind: 'shutdown', signal };
    const pending = [...live];
    for (const s of pending) {
      // Told once it listens for the message: a worker still starting (a replacement, or one of the
      // first) would drop a message sent before that and serve on. Its `listening` line comes after
      // it listens (workerStop() is set up before the server starts); one that exits first is not told.
      void s.ready.then((r) => {
        if (!('listening' in r) || !s.worker.isConnected()) return;
        // The callback takes the error of a channel that closed meanwhile (it is exiting), which
        // would otherwise be an 'error' event on the worker.
        s.worker.send(message, undefined, () => undefined);
      });
    }
    const codes = await Promise.all(pending.map((s) => s.exited));
    return codes.every((c) => c === 0) ? EXIT.ok : EXIT.failure;
  };

  // One worker first: a configuration it cannot start with fails once, with its code.
  const first = startOne();
  const firstReady = await Promise.race([first.ready, stop.then((signal) => ({ signal }))]);
  if ('signal' in firstReady) return shutdown(firstReady.signal);
  if ('exitCode' in firstReady) {
    stopping = true;
    return firstReady.exitCode === 0 ? EXIT.failure : firstReady.exitCode;
  }
  const others = Array.from({ length: workers - 1 }, startOne);
  const all = await Promise.race([Promise.all(others.map((s) => s.ready)), stop.then((signal) => ({ signal }))]);
  if ('signal' in all) return shutdown(all.signal);
  const failed = all.find((r): r is { exitCode: number } => 'exitCode' in r);
  if (failed !== undefined) {
    await shutdown('SIGTERM');
    return failed.exitCode === 0 ? EXIT.failure : failed.exitCode;
  }
  serving = true;
  io.stdout(firstReady.listening);
  logger.info('workers listening', { workers });
  return shutdown(await stop);
}
