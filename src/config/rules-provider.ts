/**
 * Rules settings to a rules provider, all on the one refresh engine (src/config/refresh.ts):
 *
 * - inline (`REWRITE_RULES`, built-in rules): compiled once, now;
 * - file (`--config FILE`): read at start, then again when the file may have changed (fs.watch
 *   plus a poll, src/config/file-watch.ts) when the adapter runs long (`serve`);
 * - SSM (`REWRITE_RULES_PARAMETER`): read on the first `current()`, kept for the TTL, then read
 *   again. A read that fails (throttling, AccessDenied, ParameterNotFound) or finds an invalid
 *   document is retried on a later request after a backoff (1 s, doubling, at most the TTL and
 *   30 s), never on every request, whether the last good rules are kept or there are none (then the
 *   state is `{ ok: false, reason }` and the handler fails open): a fixed parameter applies within
 *   seconds, not a TTL (up to an hour) later. Reads are single-flight and bounded by a timeout; while
 *   one is under way, only the review that started it waits for it when there are good rules
 *   (under `serve` none does: its own check reads, src/cli/serve.ts).
 *
 * AWS access uses the SDK v3 clients directly, injected so the tests mock them. The SDK is loaded
 * only when a setting needs it: the clients come from async factories and the command classes
 * from a dynamic `import()` at the read, so inline rules never load it (docs/performance.md).
 * Not Powertools' SSMProvider: its cache expires on its own clock and hides the parameter's
 * Version, while we need the TTL and the backoff on an injected clock, single-flight reads and
 * the version in the logs.
 */
// node:fs, not node:fs/promises: the same function, without one more built-in module to load at
// every cold start (inline rules never read a file).
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Rewriter } from '../core/rules.js';
import type { Log } from '../observability/log.js';
import { count, Metric } from '../observability/telemetry.js';
import { attemptErrors } from './attempt-errors.js';
import { type FileWatch, watchFiles } from './file-watch.js';
import { type ProviderDeps, refreshEngine, type RulesProvider, type RulesState } from './refresh.js';
import { NotRegularFileError, readUpTo } from './bounded-read.js';
import { MAX_RULES_DOCUMENT_BYTES } from './rules-text.js';
import { ENV, type RulesSetting, SourceError } from './settings.js';
import { type AwsClients, errorCode, errorDetail, READ_TIMEOUT_MS } from './token.js';

/** First retry delay after a failed read; doubles per consecutive failure. */
export const RETRY_BASE_MS = 1000;
/** Longest retry delay (and never longer than the TTL). */
export const RETRY_MAX_MS = 30_000;
/** How often a watched rules file is checked besides fs.watch events. */
const RULES_POLL_MS = 10_000;

/** Rules from a document held in memory (`REWRITE_RULES`, built-in rules): compiled once, starting now. */
export function inlineRules(text: string, source: string, deps: ProviderDeps): RulesProvider {
  const engine = refreshEngine(source, deps);
  const state = engine.apply({ text });
  return { current: () => state, stale: engine.stale };
}

/** Rules already compiled (tests, benchmarks). */
export function fixedRules(rewriter: Rewriter, source: string): RulesProvider {
  const state: RulesState = { ok: true, rewriter, source };
  return { current: () => Promise.resolve(state) };
}

/** A client, or an async factory called at the first read (the SDK loads then). */
export type ClientSource<T> = T | (() => Promise<T>);

export interface SsmRulesOptions extends ProviderDeps {
  readonly client: ClientSource<SSMClient>;
  readonly name: string;
  readonly ttlSeconds: number;
  /** Milliseconds since the epoch; injected by tests. Default `Date.now`. */
  readonly now?: () => number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly timeoutMs?: number;
  /** `serve --workers`: the rules shared with the other workers, as for a file (SharedRules). */
  readonly shared?: SharedRules;
}

/** Rules from an SSM parameter, re-read after `ttlSeconds`; the document is compiled only when its text changed. */
export function ssmRules(options: SsmRulesOptions): RulesProvider {
  const { name, logger, metrics } = options;
  const clientSource = options.client;
  const client = async (): Promise<SSMClient> => (typeof clientSource === 'function' ? clientSource() : clientSource);
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlSeconds * 1000;
  const retryBase = options.retryBaseMs ?? RETRY_BASE_MS;
  const retryMax = Math.min(options.retryMaxMs ?? RETRY_MAX_MS, ttlMs);
  const timeoutMs = options.timeoutMs ?? READ_TIMEOUT_MS;
  const { shared } = options;
  const source = `ssm:${name}`;
  const hooks = shared === undefined ? {} : { loaded: (text: string) => { shared.loaded(source, text); } };
  const engine = refreshEngine(source, options, { ok: false, reason: `rules parameter ${name} has not been read yet` }, hooks);
  // A replacement worker whose first read gives no good rules (the parameter unreachable, or made
  // invalid, since the others read it) serves the others' last good ones, as with a file.
  let askOthers = shared?.lastGood;
  let nextReadAt = Number.NEGATIVE_INFINITY;
  // When nextReadAt was set: a clock read before it was stepped back (NTP, a Lambda environment
  // thawed with its clock corrected), and the wait would have grown by the step, hours for an
  // hour's step. Reading then keeps every wait within one TTL (or backoff) of the clock's reading.
  let scheduledAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let inflight: Promise<RulesState> | undefined;
  /** The delay before the next read after one more failed (or invalid) read. */
  const backoff = (): number => {
    failures += 1;
    return Math.min(retryBase * 2 ** (failures - 1), retryMax);
  };

  const read = async (): Promise<RulesState> => {
    count(metrics, Metric.ConfigRefreshes);
    let text: string;
    let version: string | undefined;
    const signal = AbortSignal.timeout(timeoutMs);
    const attempts = attemptErrors(signal);
    try {
      // Loading the SDK (first read only) is inside the try: a failure is a failed read, retried.
      const [{ GetParameterCommand }, ssm] = await Promise.all([import('./sdk-ssm.js'), client()]);
      const command = new GetParameterCommand({ Name: name, WithDecryption: true });
      attempts.watch(command.middlewareStack);
      const out = await ssm.send(command, { abortSignal: signal });
      // The SDK's types say string; an endpoint that is not SSM (a proxy on the way) may answer any JSON.
      const value: unknown = out.Parameter?.Value;
      if (typeof value !== 'string') throw new SourceError(`parameter ${name} ${value === undefined ? 'has no value' : 'has a value that is not a string'}`);
      text = value;
      version = out.Parameter?.Version === undefined ? undefined : String(out.Parameter.Version);
    } catch (thrown) {
      const retryInMs = backoff();
      scheduledAt = now();
      nextReadAt = scheduledAt + retryInMs;
      count(metrics, Metric.ConfigErrors);
      // import() on this error path only: statically, the module the existence checks share with the
      // Lambda's entry would be one more file of its cold start (scripts/build.mjs, maxFilesAtStart).
      const { becauseOf, cutByBound } = await import('./system-error.js');
      const e = cutByBound(thrown, signal);
      const code = errorCode(e);
      const kept = engine.state();
      logger.error('cannot read the rules parameter', {
        parameter: name,
        errorCode: code,
        detail: errorDetail(e, timeoutMs, attempts.last()),
        retryInMs,
        keeping: kept.ok ? (kept.version ?? 'the last good rules') : 'nothing: no rules were loaded yet',
      });
      return engine.failed(`rules parameter ${name} could not be read${becauseOf(code)}`);
    }
    const state = await engine.apply({ text, version });
    // An invalid document is retried like a failed read: the user fixing it should not wait a TTL.
    scheduledAt = now();
    if (engine.stale()) {
      nextReadAt = scheduledAt + backoff();
    } else {
      failures = 0;
      nextReadAt = scheduledAt + ttlMs;
    }
    return state;
  };

  return {
    stale: engine.stale,
    inForce: engine.state,
    current(): Promise<RulesState> {
      const t = now();
      if (t < nextReadAt && t >= scheduledAt) return Promise.resolve(engine.state());
      if (inflight !== undefined) {
        // Another review started this read and waits for it. With good rules in force the others
        // answer with them at once: serve runs many reviews at a time, and all of them waited for a
        // slow store (up to the read's timeout, again at every retry). Without, they wait too.
        const state = engine.state();
        return state.ok ? Promise.resolve(state) : inflight;
      }
      inflight = read()
        .then(async (state) => {
          const ask = askOthers;
          askOthers = undefined;
          const text = state.ok || ask === undefined ? undefined : await ask(source);
          return text === undefined || state.ok ? state : engine.fallback(text, state.reason);
        })
        .finally(() => {
          inflight = undefined;
        });
      return inflight;
    },
  };
}

/**
 * A rules file is UTF-8 text (a byte order mark is kept: the YAML parser skips it). Bytes that are
 * not UTF-8 are refused with that reason: decoded leniently, a file saved as UTF-16 (Windows
 * PowerShell's `>`) became a string of replacement characters, refused as "must be a mapping".
 */
const rulesUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NOT_UTF8 = 'not UTF-8 text (save the rules document as UTF-8)';
/**
 * A followed rules file (`serve --config`) is read again at every change and every poll: a pipe
 * (`--config <(...)`) gives its text once, so the next read found it empty and called the rules
 * invalid, and a named pipe put in the file's place held the check for good.
 */
const NOT_REGULAR = 'not a regular file (serve reads its rules file again whenever it may have changed: give it a file, not a pipe or a device)';

/**
 * The text of a rules file, read up to one byte past MAX_RULES_DOCUMENT_BYTES: read whole, a file of
 * gigabytes (a log named by mistake) took as much memory and failed as ERR_STRING_TOO_LONG, and
 * `/dev/zero` was read until memory ran out. A file over the limit comes back as that first part,
 * decoded leniently (it is refused for its size before anything else: a replacement character
 * takes at least as many bytes as what it replaces); any other file as strict UTF-8 (throws the
 * decoder's ERR_ENCODING_INVALID_ENCODED_DATA). With `regularFile`, a path that is not a regular
 * file throws NotRegularFileError (./bounded-read.ts).
 */
export async function readRulesFile(path: string, options: { readonly regularFile?: boolean } = {}): Promise<string> {
  const limit = MAX_RULES_DOCUMENT_BYTES + 1;
  const bytes = await readUpTo(path, limit, options);
  return bytes.length < limit ? rulesUtf8.decode(bytes) : new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
}

export interface FileRules {
  readonly provider: RulesProvider;
  /** Follows the file when `watch` was asked for; the adapter closes it at shutdown. */
  readonly watch: FileWatch | undefined;
}

/**
 * The rules a `serve --workers` worker shares with the others, through its primary
 * (src/cli/serve-workers.ts): what it loads, and, for a worker started while the others serve, the
 * last good document they loaded, taken when the file (or the SSM parameter) cannot give good rules
 * at its start (made invalid, or unreadable, since they loaded it).
 */
export interface SharedRules {
  /** Told the text of each document of `source` that becomes the rules in force. */
  readonly loaded: (source: string, text: string) => void;
  /** The last good text the others loaded from `source`, or undefined (none, or no answer). Absent: none asked for. */
  readonly lastGood?: (source: string) => Promise<string | undefined>;
}

/**
 * Rules from a file, read now; with `watch`, read again when it may have changed: a new valid
 * document replaces the rules, an invalid or unreadable one is logged once and the last good rules
 * stay. With `shared`, those may be the others' (SharedRules) when the first read gives none.
 */
export async function fileRules(path: string, deps: ProviderDeps & { readonly watch?: { readonly log: Log; readonly pollMs?: number }; readonly shared?: SharedRules }): Promise<FileRules> {
  const { shared } = deps;
  const engine = refreshEngine(path, deps, undefined, shared === undefined ? {} : { loaded: (text) => { shared.loaded(path, text); } });
  let lastFailure: string | undefined;
  // Followed, the file must be one that can be read again (NOT_REGULAR); read once, a pipe is fine
  // (`check-config --config /dev/stdin`, `explain --config <(...)`).
  const regularFile = deps.watch !== undefined;
  const check = async (): Promise<void> => {
    let text: string;
    try {
      text = await readRulesFile(path, { regularFile });
    } catch (e) {
      // In words with the code (`no such file or directory (ENOENT)`): the code alone said nothing to most readers.
      const { describeSystemError } = await import('./system-error.js');
      const reason = e instanceof NotRegularFileError ? NOT_REGULAR : (e as NodeJS.ErrnoException).code === 'ERR_ENCODING_INVALID_ENCODED_DATA' ? NOT_UTF8 : describeSystemError(e);
      if (lastFailure !== reason) deps.logger.error('cannot read the rules file', { source: path, reason, keeping: engine.state().ok ? 'the last good rules' : 'nothing' });
      lastFailure = reason;
      engine.failed(`cannot read rules document ${path}: ${reason}`);
      return;
    }
    lastFailure = undefined;
    await engine.apply({ text });
  };
  await check();
  // The file's document is still the latest read (`stale`), and a valid version later replaces
  // the fallback as usual: only the rules in force come from the others.
  if (!engine.state().ok && shared?.lastGood !== undefined) {
    const text = await shared.lastGood(path);
    if (text !== undefined) await engine.fallback(text, lastFailure === undefined ? 'the rules document is invalid' : `cannot read the rules file: ${lastFailure}`);
  }
  const provider: RulesProvider = { current: () => Promise.resolve(engine.state()), stale: engine.stale };
  if (deps.watch === undefined) return { provider, watch: undefined };
  const watch = watchFiles([path], check, { pollMs: deps.watch.pollMs ?? RULES_POLL_MS, log: deps.watch.log, what: 'rules' });
  return { provider, watch };
}

export interface SourceDeps extends ProviderDeps, AwsClients {
  readonly now?: () => number;
  /** Follow a rules file (`serve`); commands that run once leave it out. */
  readonly watch?: { readonly log: Log; readonly pollMs?: number };
  /** A rules file's rules shared with other processes (`serve --workers`). */
  readonly shared?: SharedRules;
}

/** The provider for a rules setting (and the file watch to close, for a watched file). */
export async function openRules(setting: RulesSetting, deps: SourceDeps): Promise<FileRules> {
  if (setting.kind === 'file') return fileRules(setting.path, deps);
  return { provider: createRulesProvider(setting, deps), watch: undefined };
}

/** The provider for inline rules (compiled once, now) or an SSM parameter (read now, again after its TTL). */
export function createRulesProvider(setting: Exclude<RulesSetting, { kind: 'file' }>, deps: SourceDeps): RulesProvider {
  switch (setting.kind) {
    case 'inline':
      return inlineRules(setting.text, setting.source ?? ENV.rules, deps);
    case 'ssm':
      return ssmRules({ ...deps, client: deps.ssm, name: setting.name, ttlSeconds: setting.ttlSeconds });
  }
}
