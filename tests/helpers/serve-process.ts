/**
 * `image-rewriter serve` as a process (a CLI bundled by tests/helpers/cli-bundle.ts), for the tests
 * that run it with its workers: the port of its listening line, its stdout and stderr, its JSON log
 * lines (awaited one by one: the tests wait for events, never for fixed times); and `withServe`,
 * which hands one to a test's scenario and then, passed or failed, kills it and waits for its exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { TEST_ENV } from './fixtures.js';
import { childrenOf } from './processes.js';

export type LogLine = Record<string, unknown>;

export interface Served {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly logs: LogLine[];
  /** Resolves with the first line written after this call for which `pred` holds. */
  readonly next: (pred: (l: LogLine) => boolean) => Promise<LogLine>;
  /** Resolves with the first line for which `pred` holds, written before this call or after. */
  readonly first: (pred: (l: LogLine) => boolean) => Promise<LogLine>;
  /** The port of its listening line (its first line on stdout); rejects when it exits first. */
  readonly port: Promise<number>;
  /** SIGTERM, then its exit code. */
  readonly stop: () => Promise<number | null>;
}

export interface ServeOptions {
  /** The bundled CLI. */
  readonly cli: string;
  /** serve's arguments. */
  readonly args: readonly string[];
  /** Added to the test environment (TEST_ENV, log level INFO). */
  readonly env?: Readonly<Record<string, string>>;
  /** node's own arguments, before the CLI's (`--import` a loader hook). */
  readonly nodeArgs?: readonly string[];
}

/** `node CLI serve ARGS`, its stderr read as JSON log lines (a line that is not JSON, mixed from two workers, throws). */
export function startServe({ cli, args, env = {}, nodeArgs = [] }: ServeOptions): Served {
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...TEST_ENV, POWERTOOLS_LOG_LEVEL: 'INFO', ...env } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stdout = '';
  let stderr = '';
  let pending = '';
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines.filter((l) => l.startsWith('{'))) {
      const v = JSON.parse(line) as LogLine; // a line mixed from two workers would throw here
      logs.push(v);
      for (const w of [...waiters]) {
        if (w.pred(v)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(v);
        }
      }
    }
  });
  const port = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      if (stdout.includes('\n')) resolve((JSON.parse(stdout.split('\n')[0] ?? '') as { port: number }).port);
    });
    void exited.then((code) => {
      reject(new Error(`serve exited early (${String(code)}): ${stderr.slice(0, 2000)}`));
    });
  });
  port.catch(() => undefined);
  return {
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    logs,
    next: (pred) => new Promise((resolve) => waiters.push({ pred, resolve })),
    first: (pred) => {
      const seen = logs.find(pred);
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    port,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Unless it has exited: SIGKILL to `child` and to the workers it still has; then its exit, awaited. */
export async function killAndWait(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    let workers: number[] = [];
    try {
      workers = childrenOf(child.pid ?? 0);
    } catch {
      // ended meanwhile
    }
    child.kill('SIGKILL');
    for (const pid of workers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended with its primary
      }
    }
  }
  await exited;
}

/** `scenario` run on `serve` started with `options`; then, whatever the scenario did or threw, serve killed and awaited. */
export async function withServe<T>(options: ServeOptions, scenario: (s: Served) => Promise<T>): Promise<T> {
  const s = startServe(options);
  try {
    return await scenario(s);
  } finally {
    await killAndWait(s.child, s.exited);
  }
}
