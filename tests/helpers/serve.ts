/**
 * Shared by the `serve` tests: a handler that answers 200 `{"status":"ok"}`, a server started with
 * it on 127.0.0.1 and a free port (or the hooks of a test file that shares one), and a log that can
 * be awaited line by line (the tests wait for events, never for fixed times).
 */
import { afterAll, beforeAll } from '@jest/globals';
import type { LogEntry } from '../../src/observability/log.js';
import { type ProxyHandler, type RunningServer, type ServerOptions, startServer } from '../../src/serve/server.js';
import { createTestPki, type TestPki } from './tls.js';

/** Answers every request 200 `{"status":"ok"}`. */
export const ok: ProxyHandler = () => Promise.resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{"status":"ok"}' });

/** `serve` with `ok` on 127.0.0.1, a free port and the test PKI's server certificate; `options` override those. */
export function startOkServer(pki: TestPki, options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  return startServer({ handler: ok, certFile: pki.server.certFile, keyFile: pki.server.keyFile, host: '127.0.0.1', port: 0, ...options });
}

export interface OkServerSetup {
  /** The test PKI the server serves with (read it inside tests and hooks only). */
  readonly pki: TestPki;
  /** The server (read it inside tests and hooks only). */
  readonly server: RunningServer;
}

/**
 * Registers the hooks of a test file's shared server: a test PKI and `startOkServer` with `options`
 * before the file's tests, the server closed and the PKI removed after.
 */
export function useOkServer(options: Partial<ServerOptions> = {}): OkServerSetup {
  let pki: TestPki | undefined;
  let server: RunningServer | undefined;
  beforeAll(async () => {
    pki = await createTestPki();
    server = await startOkServer(pki, options);
  });
  afterAll(async () => {
    await server?.close();
    await pki?.remove();
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is used before beforeAll started it`);
    return value;
  };
  return {
    get pki() {
      return started(pki, 'the test PKI');
    },
    get server() {
      return started(server, 'the server');
    },
  };
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
