/**
 * `image-rewriter serve`: the webhook as a local HTTPS server (src/serve/server.ts) around the same
 * handler as the Lambda (src/lambda/handler.ts). For the end-to-end tests against a real API server, for
 * local development, and for running in a cluster.
 *
 *   image-rewriter serve --config FILE --listen ADDR --tls-cert-file F --tls-private-key-file F
 *                        [--token-file F | --allow-unauthenticated] [--max-body-bytes N] [--workers N]
 *                        [--metrics-listen ADDR]
 *
 * - ADDR: `127.0.0.1:8443`, `[::1]:8443`, `:8443` (every interface); port 0 picks a free one.
 * - Settings are read like the Lambda's (src/config/settings.ts), --config and --token-file
 *   overriding the variables. The rules are loaded at start (exit 2 when invalid, the first 20
 *   problems listed and the rest counted, as in the log line); a --config file is then followed: a
 *   new valid document replaces the rules, an invalid one is logged (the first 20 problems, the
 *   rest counted in `issuesCut`) and the last good rules stay. With --workers, a worker started
 *   while the others serve (a replacement) whose file is invalid or unreadable then starts with the
 *   last good rules the others loaded (./serve-workers.ts), and follows the file as they do.
 * - Requests must end in /mutate/<token>. Without a token, serve refuses to start unless
 *   --allow-unauthenticated (or WEBHOOK_ALLOW_UNAUTHENTICATED=true) says that is intended.
 * - stdout gets one line, `{"msg":"listening","address":...,"port":...}`, once the server listens;
 *   log lines (JSON) go to stderr.
 * - SIGTERM, SIGINT or SIGHUP: graceful shutdown (in-flight requests finish), then exit 0.
 * - --workers N (default: the CPUs available to the process, at most its CPU limit): N processes serve the one port
 *   (src/cli/serve-workers.ts), each as described above, their log lines written to stderr by the
 *   primary alone (whole lines, up to MAX_LINE_BYTES: 1 MiB); 1 serves in this process.
 * - --metrics-listen ADDR (ADDR as for --listen, another port): Prometheus metrics over plain HTTP,
 *   `GET /metrics`, from this process or, with workers, their sum from the primary
 *   (./serve-metrics.ts, loaded only then). Off by default. A `metrics listening` line says where.
 */
import cluster from 'node:cluster';
import { isIP } from 'node:net';
import { oneLine, terminalLines } from '../core/json.js';
import { foreignNote } from '../core/reference.js';
import { type Command, EXIT, type Io, openCliSources, parseFlags, UsageError } from './common.js';
import { availableCpus } from './cpu-limit.js';
import { lazyAwsClients } from '../config/aws-clients.js';
import { verifierFor } from '../verify/setup.js';
import { createHandler, tokenMatcher } from '../lambda/handler.js';
import { createObservability, flushMetrics, MAX_LISTED, type Metrics, recordOutcome } from '../observability/telemetry.js';
import type { Log } from '../observability/log.js';
import { DEFAULT_MAX_BODY_BYTES, ServeError, startServer } from '../serve/server.js';
import type { RunningMetricsServer } from '../serve/metrics-server.js';
import { MAX_TOKEN_FILE_BYTES, readTokenText } from '../config/token.js';
import { watchTokenFile } from '../config/token-watch.js';
import { type Env, readSettings } from '../config/settings.js';
import type { RulesProvider } from '../config/refresh.js';
import { flushSchedule, LOG_FLUSH_BYTES, LOG_FLUSH_MS } from './log-relay.js';
import { workerCallerExchange } from './serve-callers.js';
import { LISTEN_PORT_ENV, PRIMARY_WORKER, REPLACEMENT_ENV, runPrimary, STOP_SIGNALS, TOKEN_TEXT_ENV, workerIo, workerRules, workerStop } from './serve-workers.js';

/** The largest --max-body-bytes accepted (API Gateway's own payload limit is 10 MB). */
export const MAX_BODY_BYTES_LIMIT = 64 * 1024 * 1024;

/** The most --workers accepted. */
export const MAX_WORKERS = 256;
/**
 * How often serve asks for rules kept in SSM between requests. The provider reads only on
 * `current()` and only when the TTL or a backoff is due (as on Lambda, where nothing runs between
 * invocations); serve runs between requests, so an idle serve notices a bad version (its log line,
 * `image_rewriter_rules_stale`) or a fix on time, not at the next review.
 */
export const SSM_RULES_CHECK_MS = 1000;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  listen: { type: 'string' },
  'tls-cert-file': { type: 'string' },
  'tls-private-key-file': { type: 'string' },
  'token-file': { type: 'string' },
  'allow-unauthenticated': { type: 'boolean' },
  'max-body-bytes': { type: 'string' },
  workers: { type: 'string' },
  'metrics-listen': { type: 'string' },
} as const;

/** --workers: a whole number from 1 to MAX_WORKERS; default the CPUs available to this process, its CPU limit counted (./cpu-limit.ts; 1 in process: no entry to fork). */
export function parseWorkers(text: string | undefined, forkable = false): number {
  if (text === undefined) return forkable ? availableCpus() : 1;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= MAX_WORKERS)) throw new UsageError(`--workers must be a whole number from 1 to ${String(MAX_WORKERS)}: ${oneLine(text)}`);
  return n;
}

/**
 * Log lines written together, once per turn of the event loop, instead of one system call each
 * (docs/performance.md). Lines are never held past the current turn: a crash loses at most that
 * turn's lines. With `holdMs` (a `--workers` worker), at most one write per `holdMs` (or at
 * LOG_FLUSH_BYTES): each write wakes the primary, which relays it (src/cli/serve-workers.ts), and at
 * load a turn holds one or two requests' lines. After a quiet spell lines still go out at the next
 * turn; while they keep coming, a worker that crashes loses at most `holdMs` of them.
 */
export function batchedLines(write: (s: string) => void, holdMs?: number): { readonly push: (line: string) => void; readonly flush: () => void } {
  let pending = '';
  const schedule = flushSchedule(() => {
    flush();
  }, holdMs);
  const flush = (): void => {
    schedule.done();
    if (pending === '') return;
    const out = pending;
    pending = '';
    write(out);
  };
  const push = (line: string): void => {
    pending += `${line}\n`;
    if (holdMs !== undefined && pending.length >= LOG_FLUSH_BYTES) flush();
    else schedule.request();
  };
  return { push, flush };
}

/**
 * Most bytes of log lines `serve` lets wait for its stderr's reader. What a pipe (a container's
 * stderr; a worker's, to the primary) does not take at once, Node keeps in the process, however
 * much: with a reader that stopped (a stalled log collector) every request's lines stayed in memory
 * until the process was killed for it (docs/performance.md, "Figures behind the comments"). Past
 * it, lines are dropped, and once the reader has caught up one line says how many.
 */
export const MAX_LOG_BACKLOG_BYTES = 16 * 1024 * 1024;

/**
 * `write` while `backlog()` (bytes written, not yet read) is at most `maxBytes`; past it the text is
 * dropped, and after the next text written `dropped` is told how many lines were (once per spell).
 */
export function boundedWrite(write: (s: string) => void, backlog: (() => number) | undefined, dropped: (lines: number) => void, maxBytes = MAX_LOG_BACKLOG_BYTES): (s: string) => void {
  if (backlog === undefined) return write;
  let lost = 0;
  return (text) => {
    if (backlog() > maxBytes) {
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lost++;
      return;
    }
    write(text);
    if (lost === 0) return;
    const n = lost;
    lost = 0;
    dropped(n);
  };
}

/** `127.0.0.1:8443`, `[::1]:8443`, `localhost:8443` or `:8443`; host undefined means every interface. `flag` names it in errors. */
export function parseListen(addr: string, flag = '--listen'): { readonly host: string | undefined; readonly port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[3]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`${flag} must be HOST:PORT, [IPv6]:PORT or :PORT with a port from 0 to 65535: ${oneLine(addr)}`);
  }
  const v6 = m[1];
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) throw new UsageError(`${flag}: ${oneLine(v6)} is not an IPv6 address`);
    return { host: v6, port };
  }
  const host = m[2] ?? '';
  if (host !== '' && isIP(host) === 0 && !/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/.test(host)) {
    throw new UsageError(`${flag}: ${oneLine(host)} is not an IP address or host name${foreignNote(host)}`);
  }
  return { host: host === '' ? undefined : host, port };
}

/**
 * --metrics-listen, checked as --listen is (and --listen with it, when given); undefined without
 * it. Its port may not be --listen's (0, a free port, excepted): the second server could not bind it.
 */
export function parseMetricsListen(values: { readonly listen?: string | undefined; readonly 'metrics-listen'?: string | undefined }): { readonly host: string | undefined; readonly port: number } | undefined {
  const text = values['metrics-listen'];
  if (text === undefined) return undefined;
  const at = parseListen(text, '--metrics-listen');
  const webhook = values.listen === undefined ? undefined : parseListen(values.listen);
  if (webhook !== undefined && at.port !== 0 && at.port === webhook.port) {
    throw new UsageError(`--metrics-listen: port ${String(at.port)} is the webhook's (--listen ${values.listen ?? ''}): give the metrics another`);
  }
  return at;
}

function parseMaxBody(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= MAX_BODY_BYTES_LIMIT)) throw new UsageError(`--max-body-bytes must be a whole number from 1 to ${MAX_BODY_BYTES_LIMIT}: ${oneLine(text)}`);
  return n;
}

/**
 * The token check serve runs before the body. A refusal gets the handler's metrics for it
 * (`AuthFailures`, Outcome `unauthorized`: the README's alarm and troubleshooting rely on them),
 * since the handler never sees that request.
 */
function authorizer(matches: (presented: string) => boolean, metrics: Metrics): (presented: string) => boolean {
  return (presented) => {
    if (matches(presented)) return true;
    recordOutcome(metrics, 'unauthorized');
    flushMetrics(metrics);
    return false;
  };
}

export interface ServeRuntime {
  /** Resolves (with the signal's name) when the server should shut down. */
  readonly stop: Promise<string>;
}

/**
 * STOP_SIGNALS (SIGTERM, SIGINT, SIGHUP); a second one gets Node's default (immediate exit). `release` removes the
 * handlers when the command ends without a signal (a usage error, invalid rules), so that repeated
 * in-process runs (tests, embedding) do not pile up listeners on the process.
 */
function processSignals(): ServeRuntime & { release: () => void } {
  let on: (signal: NodeJS.Signals) => void = () => undefined;
  const release = (): void => {
    for (const signal of STOP_SIGNALS) process.off(signal, on);
  };
  const stop = new Promise<string>((resolve) => {
    on = (signal) => {
      release();
      resolve(signal);
    };
    for (const signal of STOP_SIGNALS) process.once(signal, on);
  });
  return { stop, release };
}

/** `serve` with an injected stop trigger (tests); `command` wires it to the process signals. */
export async function runServe(args: string[], io: Io, runtime: ServeRuntime, worker?: number, tokenText?: string): Promise<number> {
  const { values } = parseFlags({ args, options: OPTIONS, allowPositionals: false, strict: true });
  parseWorkers(values.workers);
  const missing = (['listen', 'tls-cert-file', 'tls-private-key-file'] as const).filter((k) => values[k] === undefined);
  if (missing.length > 0) throw new UsageError(`serve needs ${missing.map((k) => `--${k}`).join(', ')}`);
  // Either says how callers are authenticated; both at once would leave it to the reader to guess.
  if (values['token-file'] !== undefined && values['allow-unauthenticated'] === true) throw new UsageError('give --token-file or --allow-unauthenticated, not both');
  const { host, port: listenPort } = parseListen(values.listen ?? '');
  const metricsAt = parseMetricsListen(values);
  // A replacement worker told the port serve announced (LISTEN_PORT_ENV, when port 0 was asked for)
  // joins the workers' socket on it, or binds it when that socket is gone (ServerOptions.announcedPort).
  const announced = worker === undefined || listenPort !== 0 ? undefined : io.env[LISTEN_PORT_ENV];
  const announcedPort = announced !== undefined && /^\d{1,5}$/.test(announced) && Number(announced) <= 65535 ? Number(announced) : undefined;
  const certFile = values['tls-cert-file'] ?? '';
  const keyFile = values['tls-private-key-file'] ?? '';
  const maxBodyBytes = parseMaxBody(values['max-body-bytes']);

  const toStderr = boundedWrite(io.stderr, io.stderrBacklog, (dropped) => {
    logger.warn('log lines dropped: stderr was not read', { dropped, maxBacklogBytes: MAX_LOG_BACKLOG_BYTES });
  });
  const lines = batchedLines(toStderr, worker === undefined ? undefined : LOG_FLUSH_MS);
  // Only with --metrics-listen: without it, nothing of Prometheus is loaded, and the metrics have no tap.
  const exporter = metricsAt === undefined ? undefined : await import('./serve-metrics.js');
  const prometheus = exporter === undefined ? undefined : worker === undefined ? exporter.processMetrics() : exporter.workerMetrics();
  const { logger, metrics } = createObservability({ sink: lines.push, ...(worker === undefined ? {} : { keys: { worker } }), ...(prometheus === undefined ? {} : { tap: prometheus.tap }) });
  const serveLog: Log = ({ level, msg, ...fields }) => {
    logger[level](msg, fields);
  };
  const sources = await openCliSources(io, {
    configFile: values.config,
    tokenFile: values['token-file'],
    tokenText,
    allowUnauthenticated: values['allow-unauthenticated'],
    logger,
    metrics,
    watch: { log: serveLog },
    // A --workers worker tells the primary the rules it loads; a replacement whose rules file gives
    // none at its start serves the others' last good ones (./serve-workers.ts).
    ...(worker === undefined ? {} : { shared: workerRules(io) }),
    maxListedIssues: MAX_LISTED,
  });
  if (typeof sources === 'number') {
    lines.flush();
    return sources;
  }
  prometheus?.watchRules(sources.rules);
  const ssmCheck = sources.settings.rules.kind === 'ssm' ? setInterval(() => void sources.rules.current(), SSM_RULES_CHECK_MS) : undefined;
  ssmCheck?.unref();
  // That check reads the parameter, so a review answers with the good rules in force and never waits
  // for a read: the review that came first after the TTL started it and waited for it, up to the
  // read's bound (3 s, READ_TIMEOUT_MS) when SSM is slow, with the webhook's timeoutSeconds at 5 s.
  // Without good rules a review still waits (the Lambda's way: docs/design.md, "Data paths").
  const { inForce } = sources.rules;
  const reviewRules: RulesProvider =
    ssmCheck === undefined || inForce === undefined
      ? sources.rules
      : {
          ...sources.rules,
          current: () => {
            const state = inForce();
            return state.ok ? Promise.resolve(state) : sources.rules.current();
          },
        };
  // The token is read only at start: a new token file (a rotation's Secret) is said, not applied.
  const tokenFile = values['token-file'];
  const tokenWatch = tokenFile === undefined || sources.token === undefined ? undefined : watchTokenFile(tokenFile, sources.token, { log: serveLog });
  const webhook = createHandler({ rules: reviewRules, token: sources.token, logger, metrics, verifier: verifierFor(sources.settings.verify, lazyAwsClients()), ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }) });

  let server;
  // A --workers worker's metrics are served by the primary (./serve-metrics.ts).
  let metricsServer: RunningMetricsServer | undefined;
  try {
    if (exporter !== undefined && prometheus !== undefined && metricsAt !== undefined && worker === undefined) {
      metricsServer = await exporter.serveProcessMetrics(prometheus, metricsAt, serveLog);
      logger.info('metrics listening', { address: metricsServer.address, port: metricsServer.port });
    }
    server = await startServer({
      // No Lambda context: its fields would name a function that does not exist (each invocation's
      // would be its own: JsonLogger.forInvocation); the server's "request" line carries each requestId.
      handler: (event) => webhook(event),
      authorize: authorizer(tokenMatcher(sources.token), metrics),
      // Counted as the Lambda counts the 400 it answers for a body too large.
      tooLarge: () => {
        recordOutcome(metrics, 'bad_request');
        flushMetrics(metrics);
      },
      // A review that found no memory in time (503): the API server applies its failurePolicy.
      overloaded: () => {
        recordOutcome(metrics, 'error');
        flushMetrics(metrics);
      },
      ...(prometheus === undefined ? {} : { certificateLoaded: prometheus.certificate }),
      certFile,
      keyFile,
      host,
      port: listenPort,
      announcedPort,
      maxBodyBytes: maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      log: serveLog,
      // A --workers worker shares the callers that showed the token with the others (./serve-callers.ts).
      ...(worker === undefined ? {} : { callerExchange: workerCallerExchange() }),
    });
  } catch (e) {
    clearInterval(ssmCheck);
    tokenWatch?.close();
    sources.watch?.close();
    await metricsServer?.close();
    lines.flush();
    if (e instanceof ServeError) {
      io.stderr(`error: ${terminalLines(e.message)}\n`);
      return EXIT.failure;
    }
    throw e;
  }
  io.stdout(`${JSON.stringify({ msg: 'listening', address: server.address, port: server.port })}\n`);
  const signal = await runtime.stop;
  logger.info('shutting down', { signal });
  clearInterval(ssmCheck);
  tokenWatch?.close();
  sources.watch?.close();
  await server.close();
  await metricsServer?.close();
  lines.flush();
  return EXIT.ok;
}

/** `serve`: in this process with one worker, else as the primary of `--workers` processes (or as one of them). */
export const command: Command = (args, io) => {
  const worker = cluster.worker;
  if (worker !== undefined) {
    // The IPC channel to the primary would keep the process alive once the server has stopped, or
    // once it failed to start (a usage error throws: main prints it and exits 64); the worker's
    // own disconnect (not `process.disconnect()`, after which Node exits with 0) lets it end with
    // its code.
    return runServe(args, workerIo(io, worker.id), { stop: workerStop() }, worker.id, io.env[TOKEN_TEXT_ENV])
      .then((code) => {
        process.exitCode = code;
        return code;
      })
      .finally(() => {
        if (worker.isConnected()) worker.disconnect();
      });
  }
  const { values } = parseFlags({ args, options: OPTIONS, allowPositionals: false, strict: true });
  const workers = parseWorkers(values.workers, io.processEntry !== undefined);
  const metricsAt = parseMetricsListen(values);
  const entry = io.processEntry;
  if (workers > 1 && entry === undefined) throw new UsageError('--workers above 1 needs the image-rewriter process (dist/cli.js), not an in-process call');
  const signals = processSignals();
  if (workers === 1 || entry === undefined) return runServe(args, io, signals).finally(signals.release);
  // The variables the primary gives its workers are its own to set: ones it inherited (cluster.fork
  // passes process.env on) must not reach a worker as its token or make it a replacement.
  Reflect.deleteProperty(process.env, TOKEN_TEXT_ENV);
  Reflect.deleteProperty(process.env, REPLACEMENT_ENV);
  Reflect.deleteProperty(process.env, LISTEN_PORT_ENV);
  return workersToken(values, io.env)
    .then(async (env) => {
      const metricsServer = metricsAt === undefined ? undefined : await primaryMetrics(metricsAt, io);
      if (typeof metricsServer === 'number') return metricsServer;
      try {
        return await runPrimary(workers, io, signals.stop, { exec: entry, args: ['serve', ...args], ...(env === undefined ? {} : { env }) }, process.stderr, metricsServer ?? {});
      } finally {
        await metricsServer?.close();
      }
    })
    .finally(signals.release);
};

/**
 * The primary's metrics server (the workers' sum, ./serve-metrics.ts), started before any worker
 * is forked: an address it cannot bind fails the start once (1, as for --listen). Its lines are
 * the primary's (`worker: 0`, PRIMARY_WORKER), whole lines on the same stderr as the relay's.
 */
async function primaryMetrics(at: { readonly host: string | undefined; readonly port: number }, io: Io): Promise<(RunningMetricsServer & { readonly workerExited: () => void }) | number> {
  const { servePrimaryMetrics } = await import('./serve-metrics.js');
  const { logger } = createObservability({ sink: (line) => { io.stderr(`${line}\n`); }, keys: { worker: PRIMARY_WORKER } });
  try {
    const served = await servePrimaryMetrics(at, ({ level, msg, ...fields }) => {
      logger[level](msg, fields);
    });
    logger.info('metrics listening', { address: served.address, port: served.port });
    return served;
  } catch (e) {
    if (!(e instanceof ServeError)) throw e;
    io.stderr(`error: ${terminalLines(e.message)}\n`);
    return EXIT.failure;
  }
}

/**
 * The workers' environment entry with the text of the token's source, read once here: every worker,
 * a replacement too, uses the token `serve` started with, from a `--token-file`, an SSM parameter
 * (`WEBHOOK_TOKEN_PARAMETER`) or a secret (`WEBHOOK_TOKEN_SECRET_ARN`) alike: each worker read the
 * parameter or secret at its own start, so one started after a rotation's change answered with the
 * new token while the others kept the old (every other call 401). None when the settings cannot be
 * used or the token is inline (the workers report the one, the environment gives them the other),
 * when the source cannot be read (each worker then reads it, and the first says why it cannot), or
 * its text holds a NUL (not allowed in a variable; no token has one) or is larger than a token file
 * may be: bytes that are not UTF-8 read as U+FFFD, three bytes each, and past 128 KiB Linux refuses
 * the variable (the fork failed with "spawn E2BIG" instead of the workers' report of the token).
 */
async function workersToken(values: { readonly config?: string | undefined; readonly 'token-file'?: string | undefined; readonly 'allow-unauthenticated'?: boolean | undefined }, env: Env): Promise<Record<string, string> | undefined> {
  const file = values['token-file'];
  if (file?.trim() === '') return undefined;
  let setting;
  try {
    setting = readSettings(env, { configFile: values.config, tokenFile: file, allowUnauthenticated: values['allow-unauthenticated'] }).token;
  } catch {
    return undefined;
  }
  if (setting.kind === 'none' || setting.kind === 'inline') return undefined;
  const text = await readTokenText(setting, lazyAwsClients());
  return text === undefined || text.includes('\0') || Buffer.byteLength(text) > MAX_TOKEN_FILE_BYTES ? undefined : { [TOKEN_TEXT_ENV]: text };
}
