/**
 * The one refresh engine behind every rules provider: it takes the text of a rules document (or
 * the failure to read one), compiles it when it changed, and keeps the last good rules when the
 * new document is invalid or cannot be read. Inline rules go through it once; a watched file
 * and an SSM parameter go through it at every read (src/config/rules-provider.ts decides when).
 * Documents are parsed with src/config/load-async.ts (the YAML parser and the regex check loaded
 * only when a document needs them), one at a time, in the order they were read.
 */
import type { Issue, Rewriter } from '../core/rules.js';
import { clip, count, type Logger, MAX_LISTED, Metric, type Metrics } from '../observability/telemetry.js';
import { parseRulesAsync } from './load-async.js';
import { formatIssue, listedIssue } from './issues.js';
import type { Env } from './settings.js';

export type RulesState =
  /** `warnings` when the document has some (the command line prints them). */
  | { readonly ok: true; readonly rewriter: Rewriter; readonly source: string; readonly version?: string; readonly warnings?: readonly Issue[] }
  /** `issues` when the reason is an invalid document (the command line prints them). */
  | { readonly ok: false; readonly reason: string; readonly issues?: readonly Issue[] };

/** The rules in force; `current()` never rejects (a failure is an `ok: false` state). */
export interface RulesProvider {
  current(): Promise<RulesState>;
  /**
   * Whether the latest document read is not the one in force: it was invalid, or could not be read
   * (the last good rules, or none, are in force). The handler counts `RulesStale` at every invocation
   * while this is true (ConfigErrorAlarm); absent: never.
   */
  readonly stale?: () => boolean;
  /**
   * The state in force now, without starting a read (absent: `current()` never reads). The health
   * check answers from it while it is good: a probe must not wait for a refresh of the rules.
   */
  readonly inForce?: () => RulesState;
}

export interface ProviderDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Seen by `${env:NAME}` substitutions in the rules. */
  readonly env: Env;
}

/** One read of a document: its text and, when the store has one, its version. */
export interface Fetched {
  readonly text: string;
  readonly version?: string | undefined;
}

export interface RefreshEngine {
  /** The rules in force. */
  readonly state: () => RulesState;
  /** A document was read: compile it if it changed; an invalid one keeps the last good rules. Never rejects. */
  readonly apply: (fetched: Fetched) => Promise<RulesState>;
  /** A read failed (already logged by the caller): keeps the last good rules, else not ok with `reason`. */
  readonly failed: (reason: string) => RulesState;
  /** Whether the latest document read was invalid or the latest read failed (RulesProvider's `stale`). */
  readonly stale: () => boolean;
  /**
   * Rules known good elsewhere (`serve --workers`: the other workers' last good document), taken
   * only while no good rules are in force, validated like any document: the latest read stays the
   * one `stale` speaks of. Logs what it did; resolves with the state in force. Never rejects.
   */
  readonly fallback: (text: string, because: string) => Promise<RulesState>;
}

export interface EngineHooks {
  /** Told the text of each document that becomes the rules in force (not a fallback's). */
  readonly loaded?: (text: string) => void;
}

/**
 * A document's issues for a log line: the first MAX_LISTED, each clipped, and the number left out
 * in `issuesCut` (a large bad document has tens of thousands of problems: all of them made one line
 * that CloudWatch Logs cuts into pieces that are not JSON;
 * docs/performance.md, "Figures behind the comments"). `check-config` lists them all. Among the
 * problems of an invalid document, a warning is marked `warning: ` as the command line marks it
 * (listedIssue, which formatIssues uses too), so the Lambda, `serve` and the CLI list the same
 * lines, and nobody fixes a warning thinking it is what keeps the document from loading.
 */
function issueFields(issues: readonly Issue[]): { issues: string[]; issuesCut?: number } {
  const mixed = issues.some((i) => i.severity === 'error');
  const listed = issues.slice(0, MAX_LISTED).map((i) => clip(mixed ? listedIssue(i) : formatIssue(i)));
  return issues.length > listed.length ? { issues: listed, issuesCut: issues.length - listed.length } : { issues: listed };
}

/** `source` names the document in logs and states (`REWRITE_RULES`, a file path, `ssm:NAME`). */
export function refreshEngine(source: string, deps: ProviderDeps, initial?: RulesState, hooks: EngineHooks = {}): RefreshEngine {
  const { logger, metrics } = deps;
  let state: RulesState = initial ?? { ok: false, reason: `rules document ${source} has not been read yet` };
  /** The last text compiled, good or bad: an unchanged document is not compiled (nor logged) again. */
  let lastText: string | undefined;
  /** Whether `lastText` was invalid. */
  let lastInvalid = false;
  /** The state `lastText` gave when there were no good rules (`failed` replaces it; a new read of the text restores it). */
  let invalidState: RulesState | undefined;
  /** Whether the latest read failed (until a document is read again). */
  let readFailed = false;

  const applyNow = async ({ text, version }: Fetched): Promise<RulesState> => {
    const where = { source, ...(version === undefined ? {} : { version }) };
    const recovered = readFailed;
    readFailed = false;
    if (text === lastText) {
      // Still the invalid document: counted at every read, logged once, and its version is not the
      // one in force. Reads are a TTL (or a backoff) apart, so ConfigErrors alone may leave a period
      // empty: ConfigErrorAlarm watches `RulesStale`, which the handler counts at every invocation.
      if (lastInvalid) {
        count(metrics, Metric.ConfigErrors);
        // A failed read in between put its reason in force; the document read now is the reason again.
        if (!state.ok && invalidState !== undefined) state = invalidState;
        return state;
      }
      if (state.ok && version !== undefined && version !== state.version) state = { ...state, version };
      // The document in force, read again after failed reads (access restored, the parameter or the
      // file put back unchanged): said as a load is, the line the README's fixes wait for.
      if (recovered && state.ok) logger.info('rules loaded', { ...where, ruleCount: state.rewriter.rules.length, exclusions: state.rewriter.exclude.length, afterFailedReads: true });
      return state;
    }
    lastText = text;
    const parsed = await parseRulesAsync(text, deps.env);
    lastInvalid = !parsed.ok;
    if (!parsed.ok) {
      const errors = parsed.issues.filter((i) => i.severity === 'error');
      count(metrics, Metric.ConfigErrors);
      logger.error('rules document is invalid', { ...where, ...issueFields(parsed.issues) });
      if (state.ok) {
        logger.warn('keeping the last good rules', { source, version: state.version });
        return state;
      }
      const reason = `rules document ${source}${version === undefined ? '' : ` version ${version}`} is invalid (${errors.length} problem(s), see the logs)`;
      state = { ok: false, reason, issues: parsed.issues };
      invalidState = state;
      return state;
    }
    if (parsed.warnings.length > 0) logger.warn('rules document has warnings', { ...where, ...issueFields(parsed.warnings) });
    logger.info('rules loaded', { ...where, ruleCount: parsed.rewriter.rules.length, exclusions: parsed.rewriter.exclude.length });
    state = {
      ok: true,
      rewriter: parsed.rewriter,
      source,
      ...(version === undefined ? {} : { version }),
      ...(parsed.warnings.length > 0 ? { warnings: parsed.warnings } : {}),
    };
    hooks.loaded?.(text);
    return state;
  };

  const fallbackNow = async (text: string, because: string): Promise<RulesState> => {
    if (state.ok) return state;
    const parsed = await parseRulesAsync(text, deps.env);
    if (!parsed.ok) {
      logger.error('the last good rules given are invalid: not used', { source, ...issueFields(parsed.issues) });
      return state;
    }
    logger.warn('using the last good rules of the other workers', { source, because, ruleCount: parsed.rewriter.rules.length, exclusions: parsed.rewriter.exclude.length });
    state = { ok: true, rewriter: parsed.rewriter, source };
    return state;
  };

  /** The documents being applied, in order: a later read never lands before an earlier one. */
  let queue: Promise<unknown> = Promise.resolve();
  const apply = (fetched: Fetched): Promise<RulesState> => {
    const next = queue.then(() => applyNow(fetched));
    queue = next;
    return next;
  };

  const failed = (reason: string): RulesState => {
    readFailed = true;
    if (!state.ok) state = { ok: false, reason };
    return state;
  };

  const fallback = (text: string, because: string): Promise<RulesState> => {
    const next = queue.then(() => fallbackNow(text, because));
    queue = next;
    return next;
  };

  return { state: () => state, apply, failed, fallback, stale: () => readFailed || lastInvalid };
}
