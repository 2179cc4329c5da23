/**
 * Re-reads files when they may have changed: fs.watch on their folders plus a periodic poll. Used
 * for the rules file (`serve --config`) and for serve's certificate and key.
 */
import { type FSWatcher, watch } from 'node:fs';
import type { Log } from '../observability/log.js';

export interface FileWatch {
  /** Run `check` now (serialized with the watch and the poll). */
  check(): Promise<void>;
  close(): void;
}

/**
 * Calls `check` when files may have changed: on fs.watch events in their folders (debounced, since
 * one update makes several events) and every `pollMs` (fs.watch misses changes on some volumes, and
 * a Kubernetes Secret or ConfigMap volume swaps a `..data` symlink). Checks never overlap; a request
 * that arrives during a check runs one more check after it. `check` must not reject.
 */
export function watchFiles(files: readonly string[], check: () => Promise<void>, options: { readonly pollMs: number; readonly log: Log; readonly what: string }): FileWatch {
  const { log, what } = options;
  const watchers: FSWatcher[] = [];
  let closed = false;
  let requested = 0;
  let running: Promise<void> | undefined;
  let debounce: NodeJS.Timeout | undefined;

  const run = (): Promise<void> => {
    requested++;
    running ??= (async () => {
      let handled = -1;
      while (handled !== requested && !closed) {
        handled = requested;
        await check();
      }
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  const schedule = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void run(), 100);
    debounce.unref();
  };
  // node:path only here, not imported at load: the Lambda bundle, whose inline rules watch no file,
  // would otherwise create its module at every cold start.
  const path = process.getBuiltinModule('node:path');
  for (const dir of new Set(files.map((f) => path.dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, schedule);
      w.on('error', (e) => {
        log({ level: 'warn', msg: `${what} folder watch failed; polling only`, dir, reason: e.message });
        w.close();
      });
      watchers.push(w);
    } catch (e) {
      log({ level: 'warn', msg: `cannot watch the ${what} folder; polling only`, dir, reason: (e as Error).message });
    }
  }
  const poll = setInterval(() => void run(), options.pollMs);
  poll.unref();
  return {
    check: run,
    close: () => {
      closed = true;
      for (const w of watchers) w.close();
      clearInterval(poll);
      clearTimeout(debounce);
    },
  };
}

