/**
 * `serve --workers N`: every core used, with node:cluster. The primary process forks N workers, each
 * running the whole single-process `serve` (src/cli/serve.ts: its own rules file watch, its own
 * certificate reloads, its own graceful shutdown) on the one listening socket the primary shares
 * with them. The primary only supervises:
 *
 * - start: one worker first (a bad configuration fails once, with its exit code and one report),
 *   then the others; the `listening` line is printed once, when every worker listens;
 * - a worker that dies while serving is replaced: at once if it lived a second or more, else after
 *   1, 2, 4... up to 60 s while replacements keep dying that soon (restartDelay);
 * - the last good rules: it keeps the latest rules document a worker loaded, and gives it to a
 *   replacement whose rules file has no good rules at its start (RulesGoodMessage);
 * - the callers that showed the token: each worker's are told to the others (./serve-callers.ts);
 * - SIGTERM, SIGINT or SIGHUP: every worker is told to shut down gracefully; the primary exits 0 once all
 *   have exited 0 (1 otherwise; a worker still alive after WORKER_STOP_DEADLINE_MS is killed). A
 *   worker whose primary disappears shuts down as well.
 *
 * Log lines (each tagged `worker`) have one writer, the primary: each worker's stderr is a pipe of
 * its own, read by the primary (logRelay), which writes whole lines to its stderr, in order per
 * worker, its own lines through the same writer. Workers writing to the shared stderr themselves
 * interleaved there: a line over PIPE_BUF (4 KiB: an `admission reviewed` line listing many long
 * rewrites) took several writes, and another worker's landed between them. What the relay costs
 * the primary goes mostly by the number of writes it reads, so a worker writes its lines every
 * LOG_FLUSH_MS (batchedLines in ./serve.ts), not every turn of its event loop. The relay is
 * ./log-relay.ts.
 */
import cluster, { type Worker } from 'node:cluster';
import { type LogRelay, logRelay } from './log-relay.js';
import { primaryCallers } from './serve-callers.js';
import { EXIT, type Io } from './common.js';
import { MAX_RULES_DOCUMENT_BYTES } from '../config/rules-text.js';
import type { SharedRules } from '../config/sources.js';
import { createObservability } from '../observability/telemetry.js';
import { workerHeapArgs } from './memory-limit.js';

/**
 * The variable that gives each worker the text of the token's source (`--token-file`,
 * `WEBHOOK_TOKEN_PARAMETER`, `WEBHOOK_TOKEN_SECRET_ARN`) as the primary read it at start: the token
 * is read once (README), and a worker started later (a replacement) must not take a token the
 * source got since, while the others answer with the old one (every other call 401).
 */
export const TOKEN_TEXT_ENV = 'IMAGE_REWRITER_TOKEN_TEXT';

/**
 * Set (to `1`) in the environment of a worker started while the others serve (a replacement): the
 * plain text the CLI prints when it cannot start is then written as JSON log lines (workerIo), since
 * it lands in the log of a running serve.
 */
export const REPLACEMENT_ENV = 'IMAGE_REWRITER_REPLACEMENT';

/**
 * Set (to the port the first worker listens on) in the environment of every replacement, once
 * `--listen` asked for port 0: the workers share the socket the primary bound on a free port, and
 * the primary closes it when the last of them dies; a replacement listening on port 0 again got
 * another free port, and the one serve announced refused every connection from then on. With it, a
 * replacement that gets another port binds this one instead (ServerOptions.announcedPort).
 */
export const LISTEN_PORT_ENV = 'IMAGE_REWRITER_LISTEN_PORT';

/** The port of a worker's `listening` line, or undefined. */
function listeningPort(line: string): number | undefined {
  try {
    const port: unknown = (JSON.parse(line) as Record<string, unknown>)['port'];
    return typeof port === 'number' && Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined;
  } catch {
    return undefined;
  }
}

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

/**
 * The last good rules, shared (SharedRules): every worker tells the primary the text of each rules
 * document it loads (`rules-good`, when it changed; at most MAX_RULES_DOCUMENT_BYTES, the most a
 * valid one has), and the primary keeps the latest told, one copy. A replacement whose rules file
 * (or SSM parameter) gives no good rules at its start (made invalid, or unreadable, since the others
 * loaded it) asks for it (`rules-fallback-request`) and serves it, validated again, until the file is valid again;
 * without it, it could not start, and once every worker had died nothing listened.
 */
interface RulesGoodMessage {
  readonly kind: 'rules-good';
  readonly source: string;
  readonly text: string;
}
interface RulesFallbackRequest {
  readonly kind: 'rules-fallback-request';
}
/** The primary's answer: no `text` when it has none. */
interface RulesFallbackMessage {
  readonly kind: 'rules-fallback';
  readonly source?: string;
  readonly text?: string;
}
/** How long a replacement waits for the primary's answer (it answers at once; past this, it starts without). */
const RULES_FALLBACK_TIMEOUT_MS = 2000;

/** A failed send (the other side is gone) is nothing to report: the callback takes its error. */
const ignore = (): void => undefined;

const rulesText = (source: unknown, text: unknown): { source: string; text: string } | undefined =>
  typeof source === 'string' && typeof text === 'string' && Buffer.byteLength(text) <= MAX_RULES_DOCUMENT_BYTES ? { source, text } : undefined;

/** The primary's last good rules text for `source`, asked over the IPC channel; undefined when it has none or does not answer in `timeoutMs`. */
function askLastGood(source: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const done = (text?: string): void => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(text);
    };
    const onMessage = (m: unknown): void => {
      if (!isMessage<RulesFallbackMessage>(m, 'rules-fallback')) return;
      const given = rulesText(m.source, m.text);
      done(given?.source === source ? given.text : undefined);
    };
    const timer = setTimeout(done, timeoutMs);
    process.on('message', onMessage);
    const request: RulesFallbackRequest = { kind: 'rules-fallback-request' };
    if (process.send === undefined) done();
    else process.send(request, undefined, {}, (e: Error | null) => { if (e !== null) done(); });
  });
}

/**
 * A worker's side of the shared rules: what it loads goes to the primary (once per text); a
 * replacement (`REPLACEMENT_ENV`) may ask for the last good text. The first workers never ask: an
 * invalid file at start still fails the start (exit 2).
 */
export function workerRules(io: Io, timeoutMs = RULES_FALLBACK_TIMEOUT_MS): SharedRules {
  let told: string | undefined;
  const loaded = (source: string, text: string): void => {
    if (text === told || rulesText(source, text) === undefined) return;
    told = text;
    const message: RulesGoodMessage = { kind: 'rules-good', source, text };
    process.send?.(message, undefined, {}, ignore);
  };
  return io.env[REPLACEMENT_ENV] === '1' ? { loaded, lastGood: (source) => askLastGood(source, timeoutMs) } : { loaded };
}

/**
 * The `worker` of the primary's own log lines. A number, as the workers' are (1, 2...): a log store
 * that types a field by its first value (Elasticsearch and OpenSearch's dynamic mapping) refused
 * every line of the other type, and with `"primary"` beside numbers it dropped the primary's lines
 * (`worker exited; starting another`, `metrics not collected`) from an index a worker's line began.
 */
export const PRIMARY_WORKER = 0;

/**
 * A worker that dies before it has served this long (one that never listened: at once) is replaced
 * after this delay, doubled for each such death in a row (no crash loop); one that served longer is
 * replaced at once. Counted from its listening, not its start: a replacement that cannot start but
 * takes over a second to fail (a loaded node, rules read from SSM) was replaced at once, every time.
 */
export const RESTART_DELAY_MS = 1000;
export const MAX_RESTART_DELAY_MS = 60_000;
const SETTLED_MS = RESTART_DELAY_MS;

/**
 * How long to wait before replacing a worker that served `livedMs`, after `quickDeaths` workers in a
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
 * The Io of a worker: stdout goes to the primary as a message, stderr is its own pipe to the primary
 * (logRelay). In a replacement (`REPLACEMENT_ENV`), text that is not log lines (`error: ...` when it
 * cannot start, the rules' warnings) becomes one JSON line (`worker cannot start` with the text as
 * `reason`, else `worker start notes`); log lines, JSON already, pass as they are.
 */
export function workerIo(io: Io, id: number): Io {
  const replacementStderr = (): ((text: string) => void) => {
    const { logger } = createObservability({ sink: (line) => { io.stderr(`${line}\n`); }, keys: { worker: id } });
    return (text) => {
      if (text.startsWith('{')) io.stderr(text);
      else if (text.startsWith('error: ')) logger.error('worker cannot start', { reason: text.slice('error: '.length).trimEnd() });
      else logger.warn('worker start notes', { text: text.trimEnd() });
    };
  };
  // Only a replacement needs the logger: the first workers' start keeps the CLI's plain report.
  const stderr = io.env[REPLACEMENT_ENV] === '1' ? replacementStderr() : io.stderr;
  return {
    ...io,
    stderr,
    stdout: (text) => {
      const message: WorkerMessage = { kind: 'stdout', text };
      process.send?.(message);
    },
  };
}

/**
 * The signals that shut `serve` down gracefully (in-flight requests finish). SIGHUP too: without a
 * handler Node ends the process at once, cutting the calls in flight without a line logged, where a
 * hangup (a closed terminal, an operator's `kill -HUP` meant as a reload) asks no such thing; rules
 * and certificates need no signal (serve follows their files), and a restart reads the token again.
 */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * How long the primary waits for its workers once told to shut down. A worker's own shutdown ends
 * its last connections after the server's `shutdownMs` (10 s, src/serve/options.ts); one still
 * alive 10 s after that is stuck (stopped, or its event loop blocked) and is killed, with a line
 * naming it and exit code 1: a SIGTERM always ends `serve`, not only the kubelet's SIGKILL at the
 * end of the Pod's grace period (docs/reliability.md).
 */
export const WORKER_STOP_DEADLINE_MS = 20_000;

/** Resolves with the signal (or `disconnect`) that should shut this worker down. */
export function workerStop(): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string): void => {
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
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
    for (const signal of STOP_SIGNALS) process.once(signal, onSignal);
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
  });
}

interface Started {
  readonly worker: Worker;
  /** The worker's first stdout text (its `listening` line), or its exit code if it exited first. */
  readonly ready: Promise<{ readonly listening: string } | { readonly exitCode: number }>;
  readonly exited: Promise<number>;
  /** Resolves once the worker's stderr has closed and all of it went to the writer. */
  readonly logged: Promise<void>;
  /** The signal that killed the worker (SIGKILL: the OOM killer, `kill -9`), once it has exited; else undefined. */
  readonly killedBy: () => string | undefined;
  /**
   * When it was forked, on the monotonic clock (`performance.now()`): on the wall clock a step back
   * made a worker of days a quick death (a negative `livedMs`, its replacement delayed and backed off).
   */
  readonly startedAt: number;
  /** When its `listening` line came (monotonic clock, as `startedAt`), once it has. */
  readonly listeningAt: () => number | undefined;
}

function fork(logs: LogRelay, env: Readonly<Record<string, string>> | undefined): Started {
  const worker = cluster.fork(env);
  const stderr = worker.process.stderr;
  const logged = stderr === null ? Promise.resolve() : logs.relay(stderr);
  let killedBy: string | undefined;
  const exited = new Promise<number>((resolve) => {
    worker.once('exit', (code: unknown, signal: unknown) => {
      // The code is null (whatever the typings say) when a signal killed the worker.
      if (typeof signal === 'string') killedBy = signal;
      resolve(typeof code === 'number' ? code : EXIT.failure);
    });
  });
  let listeningAt: number | undefined;
  const ready = new Promise<{ listening: string } | { exitCode: number }>((resolve) => {
    worker.on('message', (m: unknown) => {
      if (!isMessage<WorkerMessage>(m, 'stdout')) return;
      listeningAt ??= performance.now();
      resolve({ listening: m.text });
    });
    void exited.then((exitCode) => {
      resolve({ exitCode });
    });
  });
  return { worker, ready, exited, logged, killedBy: () => killedBy, startedAt: performance.now(), listeningAt: () => listeningAt };
}

/**
 * The primary of `serve --workers N` (N >= 2), forking `entry` (the CLI script and its arguments) as
 * workers. `stop` resolves with the signal to shut down on; `stderr` is the primary's, written by it alone.
 * Returns the exit code (a worker's when the start fails, else 0 after a clean shutdown) once every
 * worker's stderr has closed and all of it went to `stderr`: no last lines lost. `events.workerExited`
 * is told of each worker that died while serving (the primary's metrics count them).
 */
export async function runPrimary(workers: number, io: Io, stop: Promise<string>, entry: { readonly exec: string; readonly args: readonly string[]; readonly env?: Readonly<Record<string, string>> }, stderr: NodeJS.WritableStream = process.stderr, events: { readonly workerExited?: () => void } = {}): Promise<number> {
  // The kernel spreads the connections: each worker accepts from the shared listening socket. With
  // node:cluster's round-robin, the primary accepted them and handed each to a worker, keeping it
  // until the worker said it took it; a worker killed in between (the OOM killer, a busy event loop
  // widening the window) never said so, and the connection stayed with the primary, never answered
  // nor closed: the API server's call hung until its timeoutSeconds (one per kill with a client
  // making new connections; docs/reliability.md). A connection no worker has accepted now waits in
  // the socket's queue for any worker alive. Set before setupPrimary, which fixes it.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // Each worker's stderr a pipe of its own, read by logRelay; stdin and stdout shared as before.
  // Each worker's heap its share of the container's memory limit (./memory-limit.ts).
  const heapArgs = workerHeapArgs(workers, io.env, process.execArgv);
  cluster.setupPrimary({ exec: entry.exec, args: [...entry.args], execArgv: [...process.execArgv, ...heapArgs], stdio: [0, 1, 'pipe', 'ipc'] });
  const logs = logRelay(stderr);
  const relaying = new Set<Promise<void>>();
  // The workers share the callers that showed the token (./serve-callers.ts).
  const callers = primaryCallers();
  const code = await supervise(workers, io, stop, logs, entry.env, { ...events, heapArgs }, (logged) => {
    relaying.add(logged);
    void logged.then(() => relaying.delete(logged));
  }).finally(callers.close);
  await Promise.all(relaying);
  return code;
}

async function supervise(workers: number, io: Io, stop: Promise<string>, logs: LogRelay, env: Readonly<Record<string, string>> | undefined, events: { readonly workerExited?: (() => void) | undefined; readonly heapArgs: readonly string[] }, relayed: (logged: Promise<void>) => void): Promise<number> {
  const { logger } = createObservability({ sink: (line) => { logs.write(`${line}\n`); }, keys: { worker: PRIMARY_WORKER } });
  const live = new Set<Started>();
  let stopping = false;
  /** Workers are replaced only once all have started: a failed start is the start's to report. */
  let serving = false;
  /** Workers in a row that died before they settled (SETTLED_MS). */
  let quickDeaths = 0;
  /** Replacements waiting out their delay: cleared at shutdown, which would otherwise wait for them (up to 60 s). */
  const waiting = new Set<NodeJS.Timeout>();
  /** The latest rules document a worker loaded (RulesGoodMessage): a replacement's when its file gives none. */
  let lastGood: { readonly source: string; readonly text: string } | undefined;

  /** The port the workers listen on (their `listening` line), once they serve. */
  const bound: { port?: number | undefined } = {};
  const startOne = (): Started => {
    // Every replacement is told the port serve announced: it joins the shared socket, or binds the
    // port when the socket was closed with the last worker holding it (a worker whose --listen
    // names a port ignores the variable). Whether the socket is still open is known only when the
    // replacement listens: the deaths of workers killed together reach the primary one by one.
    const port = bound.port === undefined ? {} : { [LISTEN_PORT_ENV]: String(bound.port) };
    // A worker started while the others serve is a replacement (REPLACEMENT_ENV).
    const s = fork(logs, serving ? { ...env, ...port, [REPLACEMENT_ENV]: '1' } : env);
    relayed(s.logged);
    live.add(s);
    s.worker.on('message', (m: unknown) => {
      if (isMessage<RulesGoodMessage>(m, 'rules-good')) {
        lastGood = rulesText(m.source, m.text) ?? lastGood;
      } else if (isMessage<RulesFallbackRequest>(m, 'rules-fallback-request')) {
        const answer: RulesFallbackMessage = { kind: 'rules-fallback', ...lastGood };
        // The callback takes the error of a channel that closed meanwhile.
        s.worker.send(answer, undefined, ignore);
      }
    });
    void s.exited.then((code) => {
      live.delete(s);
      const signal = s.killedBy();
      if (stopping && signal !== undefined) logger.error('worker exited during shutdown', { workerId: s.worker.id, signal });
      if (stopping || !serving) return;
      const lived = Math.round(performance.now() - s.startedAt);
      const listeningAt = s.listeningAt();
      const served = listeningAt === undefined ? 0 : performance.now() - listeningAt;
      const delay = restartDelay(served, quickDeaths);
      quickDeaths = served >= SETTLED_MS ? 0 : quickDeaths + 1;
      // Killed by a signal, it has no exit code (the 1 the primary counts it as is not one it gave).
      // `exitCode`, not `code`: serve's other lines hold a string there (`tls handshake failed`: the
      // error's code), and a log store that types a field by its first value refuses the other type.
      logger.error('worker exited; starting another', { workerId: s.worker.id, ...(signal === undefined ? { exitCode: code } : { signal }), livedMs: lived, startInMs: delay });
      events.workerExited?.();
      // A shutdown that began while the replacement waited must not start it (it would serve on
      // with nobody to stop it, and the primary would wait for it forever).
      const timer = setTimeout(() => {
        waiting.delete(timer);
        if (!stopping) startOne();
      }, delay);
      waiting.add(timer);
    });
    return s;
  };
  const shutdown = async (signal: string): Promise<number> => {
    stopping = true;
    for (const timer of waiting) clearTimeout(timer);
    waiting.clear();
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
    // A worker killed by a signal (the OOM killer; the primary never signals its workers) is not a
    // failed shutdown: killed just before SIGTERM it would have been replaced, and the primary then
    // exited 0; only the order in which the two reached the primary made it exit 1.
    const stuck = new Set<Started>();
    const deadline = setTimeout(() => {
      for (const s of pending) {
        if (s.worker.isDead()) continue;
        stuck.add(s);
        logger.error('worker did not stop in time; killing it', { workerId: s.worker.id, waitedMs: WORKER_STOP_DEADLINE_MS });
        s.worker.process.kill('SIGKILL');
      }
    }, WORKER_STOP_DEADLINE_MS);
    const codes = await Promise.all(pending.map((s) => s.exited.then((c) => (stuck.has(s) ? EXIT.failure : s.killedBy() === undefined ? c : 0))));
    clearTimeout(deadline);
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
  bound.port = listeningPort(firstReady.listening);
  io.stdout(firstReady.listening);
  logger.info('workers listening', { workers, ...(events.heapArgs.length === 0 ? {} : { workerNodeArgs: events.heapArgs }) });
  return shutdown(await stop);
}
