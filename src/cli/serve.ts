/**
 * `image-rewriter serve`: the webhook as a local HTTPS server (src/serve/server.ts) around the same
 * handler as the Lambda (src/lambda/handler.ts). For the end-to-end tests against a real API server, for
 * local development, and for running in a cluster.
 *
 *   image-rewriter serve --config FILE --listen ADDR --tls-cert-file F --tls-private-key-file F
 *                        [--token-file F] [--max-body-bytes N]
 *
 * - ADDR: `127.0.0.1:8443`, `[::1]:8443`, `:8443` (every interface); port 0 picks a free one.
 * - The rules are loaded once (exit 2 when invalid, every problem listed); when --config names a
 *   file, it is watched: a new valid document replaces the rules, an invalid one is logged with
 *   every problem and the last good rules stay.
 * - The token comes from --token-file, else WEBHOOK_TOKEN; requests must then end in /mutate/<token>.
 * - stdout gets one line, `{"msg":"listening","address":...,"port":...}`, once the server listens;
 *   log lines (JSON) go to stderr.
 * - SIGTERM or SIGINT: graceful shutdown (in-flight requests finish), then exit 0.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Command, EXIT, type Io, loadRewriter, UsageError } from './main.js';
import { parseRules } from '../config/load.js';
import { MIN_TOKEN_LENGTH, type RulesProvider, type RulesState } from '../config/sources.js';
import { createHandler } from '../lambda/handler.js';
import { createObservability } from '../observability/telemetry.js';
import { type FileWatch, watchFiles } from '../config/file-watch.js';
import type { Log } from '../observability/log.js';
import { DEFAULT_MAX_BODY_BYTES, ServeError, startServer } from '../serve/server.js';

/** How often the rules file is checked besides fs.watch events. */
export const RULES_POLL_MS = 10_000;
/** The largest --max-body-bytes accepted (API Gateway's own payload limit is 10 MB). */
export const MAX_BODY_BYTES_LIMIT = 64 * 1024 * 1024;

const TOKEN_CHARS = /^[A-Za-z0-9._~-]+$/;

/**
 * Log lines written together, once per turn of the event loop, instead of one write each: a
 * request makes about seven lines, and each synchronous write to a pipe or file is a system call
 * (measured here: 2 to 4 µs per line written alone, 0.2 to 1 µs in batches of seven; about 20 µs
 * per request). Lines are never held past the current turn: a crash loses at most that turn's lines.
 */
export function batchedLines(write: (s: string) => void): { readonly push: (line: string) => void; readonly flush: () => void } {
  let pending = '';
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending === '') return;
    const out = pending;
    pending = '';
    write(out);
  };
  const push = (line: string): void => {
    pending += `${line}\n`;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return { push, flush };
}

/** `127.0.0.1:8443`, `[::1]:8443`, `localhost:8443` or `:8443`; host undefined means every interface. */
export function parseListen(addr: string): { readonly host: string | undefined; readonly port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[3]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`--listen must be HOST:PORT, [IPv6]:PORT or :PORT with a port from 0 to 65535: ${addr}`);
  }
  const v6 = m[1];
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) throw new UsageError(`--listen: ${v6} is not an IPv6 address`);
    return { host: v6, port };
  }
  const host = m[2] ?? '';
  if (host !== '' && isIP(host) === 0 && !/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/.test(host)) {
    throw new UsageError(`--listen: ${host} is not an IP address or host name`);
  }
  return { host: host === '' ? undefined : host, port };
}

function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN_CHARS.test(token)) {
    return `must be at least ${MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 . _ ~ - (it is the last segment of the webhook URL)`;
  }
  return undefined;
}

/** The token from --token-file, else WEBHOOK_TOKEN, else undefined (requests are not authenticated). */
async function readToken(file: string | undefined, io: Io): Promise<string | undefined> {
  let token: string;
  let from: string;
  if (file !== undefined) {
    from = `--token-file ${file}`;
    try {
      token = (await readFile(file, 'utf8')).trim();
    } catch (e) {
      throw new ServeError(`cannot read ${from}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    if (token === '') throw new UsageError(`${from} is empty`);
  } else {
    const env = io.env['WEBHOOK_TOKEN']?.trim();
    if (env === undefined || env === '') return undefined;
    from = 'WEBHOOK_TOKEN';
    token = env;
  }
  const problem = tokenProblem(token);
  if (problem !== undefined) throw new UsageError(`the token in ${from} ${problem}`);
  return token;
}

function parseMaxBody(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= MAX_BODY_BYTES_LIMIT)) throw new UsageError(`--max-body-bytes must be a whole number from 1 to ${MAX_BODY_BYTES_LIMIT}: ${text}`);
  return n;
}

/**
 * Rules that start from a loaded rewriter and follow the file: a new valid document replaces them,
 * an invalid one is logged (once per content) and the last good rules stay.
 */
function fileRules(
  initial: RulesState & { ok: true },
  file: { readonly path: string; readonly textBeforeLoad: string | undefined } | undefined,
  io: Io,
  logger: Logger,
  serveLog: Log,
): { provider: RulesProvider; watch: FileWatch | undefined } {
  let state: RulesState = initial;
  const provider: RulesProvider = { current: () => Promise.resolve(state) };
  if (file === undefined) return { provider, watch: undefined };
  // Read before the rules were loaded: if the file changed in between, the first check compiles it again.
  let lastText = file.textBeforeLoad;
  const check = async (): Promise<void> => {
    let text: string;
    try {
      text = await readFile(file.path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      if (lastText !== `\0${code}`) logger.error('cannot read the rules file; keeping the last good rules', { source: file.path, error: code });
      lastText = `\0${code}`;
      return;
    }
    if (text === lastText) return;
    lastText = text;
    const parsed = parseRules(text, io.env);
    if (!parsed.ok) {
      logger.error('rules document is invalid; keeping the last good rules', { source: file.path, issues: parsed.issues.map((i) => `${i.path}: ${i.message}`) });
      return;
    }
    if (parsed.warnings.length > 0) logger.warn('rules document has warnings', { source: file.path, issues: parsed.warnings.map((i) => `${i.path}: ${i.message}`) });
    state = { ok: true, rewriter: parsed.rewriter, source: file.path };
    logger.info('rules reloaded', { source: file.path, rules: parsed.rewriter.rules.length, exclusions: parsed.rewriter.exclude.length });
  };
  const watch = watchFiles([file.path], check, { pollMs: RULES_POLL_MS, log: serveLog, what: 'rules' });
  return { provider, watch };
}

export interface ServeRuntime {
  /** Resolves (with the signal's name) when the server should shut down. */
  readonly stop: Promise<string>;
}

/** SIGTERM and SIGINT; a second one gets Node's default (immediate exit). */
function processSignals(): ServeRuntime {
  return {
    stop: new Promise((resolve) => {
      const on = (signal: NodeJS.Signals): void => {
        process.off('SIGTERM', on);
        process.off('SIGINT', on);
        resolve(signal);
      };
      process.once('SIGTERM', on);
      process.once('SIGINT', on);
    }),
  };
}

/** `serve` with an injected stop trigger (tests); `command` wires it to the process signals. */
export async function runServe(args: string[], io: Io, runtime: ServeRuntime): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      'tls-cert-file': { type: 'string' },
      'tls-private-key-file': { type: 'string' },
      'token-file': { type: 'string' },
      'max-body-bytes': { type: 'string' },
    },
    allowPositionals: false,
    strict: true,
  });
  const missing = (['listen', 'tls-cert-file', 'tls-private-key-file'] as const).filter((k) => values[k] === undefined);
  if (missing.length > 0) throw new UsageError(`serve needs ${missing.map((k) => `--${k}`).join(', ')}`);
  const { host, port } = parseListen(values.listen ?? '');
  const certFile = values['tls-cert-file'] ?? '';
  const keyFile = values['tls-private-key-file'] ?? '';
  const maxBodyBytes = parseMaxBody(values['max-body-bytes']);

  let token: string | undefined;
  try {
    token = await readToken(values['token-file'], io);
  } catch (e) {
    if (e instanceof ServeError) {
      io.stderr(`error: ${e.message}\n`);
      return EXIT.failure;
    }
    throw e;
  }
  const configFile = values.config;
  const textBeforeLoad = configFile === undefined ? undefined : await readFile(configFile, 'utf8').catch(() => undefined);
  const loaded = await loadRewriter(configFile, io);
  if (loaded === undefined) return EXIT.invalidConfig;
  if (loaded.warnings !== '') io.stderr(`${loaded.warnings}\n`);

  const lines = batchedLines(io.stderr);
  const { logger, metrics } = createObservability({ sink: lines.push });
  const serveLog: Log = ({ level, msg, ...fields }) => {
    logger[level](msg, fields);
  };
  const source = values.config ?? 'REWRITE_RULES';
  const rules = fileRules({ ok: true, rewriter: loaded.rewriter, source }, configFile === undefined ? undefined : { path: configFile, textBeforeLoad }, io, logger, serveLog);
  const webhook = createHandler({ rules: rules.provider, token, logger, metrics, ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }) });
  logger.info('configuration', { rules: source, token: token === undefined ? 'none: requests are not authenticated' : values['token-file'] !== undefined ? '--token-file' : 'WEBHOOK_TOKEN' });

  let server;
  try {
    server = await startServer({
      // No Lambda context: concurrent requests share the one Logger, so its context fields would
      // name the wrong request; the server's "request" line carries each requestId instead.
      handler: (event) => webhook(event),
      certFile,
      keyFile,
      host,
      port,
      maxBodyBytes: maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      log: serveLog,
    });
  } catch (e) {
    rules.watch?.close();
    lines.flush();
    if (e instanceof ServeError) {
      io.stderr(`error: ${e.message}\n`);
      return EXIT.failure;
    }
    throw e;
  }
  io.stdout(`${JSON.stringify({ msg: 'listening', address: server.address, port: server.port })}\n`);
  const signal = await runtime.stop;
  logger.info('shutting down', { signal });
  rules.watch?.close();
  await server.close();
  lines.flush();
  return EXIT.ok;
}

export const command: Command = (args, io) => runServe(args, io, processSignals());
