/**
 * Shared by the `serve` tests: a handler that answers 200 `{"status":"ok"}`, a server started with
 * it on 127.0.0.1 and a free port, and a log that can be awaited line by line (the tests wait for
 * events, never for fixed times).
 */
import type { LogEntry } from '../../src/observability/log.js';
import { type ProxyHandler, type RunningServer, type ServerOptions, startServer } from '../../src/serve/server.js';
import type { TestPki } from './tls.js';

/** Answers every request 200 `{"status":"ok"}`. */
export const ok: ProxyHandler = () => Promise.resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{"status":"ok"}' });

/** `serve` with `ok` on 127.0.0.1, a free port and the test PKI's server certificate; `options` override those. */
export function startOkServer(pki: TestPki, options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  return startServer({ handler: ok, certFile: pki.server.certFile, keyFile: pki.server.keyFile, host: '127.0.0.1', port: 0, ...options });
}

export interface LogRecorder {
  /** Pass as the server's `log`. */
  readonly log: (e: LogEntry) => void;
  /** Every line so far. */
  readonly entries: LogEntry[];
  /** The next line (from now on) that matches. */
  next(pred: (e: LogEntry) => boolean): Promise<LogEntry>;
}

/** A log that can be awaited: `next(pred)` resolves on the next matching line. */
export function recorder(): LogRecorder {
  const entries: LogEntry[] = [];
  const waiters: { pred: (e: LogEntry) => boolean; resolve: (e: LogEntry) => void }[] = [];
  return {
    entries,
    log: (e) => {
      entries.push(e);
      for (const w of [...waiters]) {
        if (w.pred(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    },
    next: (pred) => new Promise((resolve) => waiters.push({ pred, resolve })),
  };
}
