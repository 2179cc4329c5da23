/**
 * Observability: the one Logger and the one Metrics of the webhook, the metric and dimension
 * names, and the one log line of a review.
 *
 * Logs are JSON lines (service `image-rewriter`, Powertools' format: ./json-log.ts). A review writes
 * one line, `admission reviewed`, carrying its rewrites, invalid images and skipped fields as
 * bounded lists (`reviewFields`); never a request body, never the webhook token.
 *
 * Metrics are CloudWatch EMF (namespace `ImageRewriter`, dimension `service`: ./emf.ts). Per
 * invocation the handler stores everything in `metrics` and flushes it once (`flushMetrics` in a
 * `finally`): one EMF document, with the dimension `Outcome` (see `OUTCOMES`; a dry run's is
 * `dryrun`, and its rewrites are not counted: `countedOutcome`), but for `RulesStale`, published
 * with `service` only so that ConfigErrorAlarm reads one series. `Rewrites` by `Rule`
 * is not in it: an EMF document holds one value per dimension and one review can rewrite images
 * with several rules. The summary line carries the count of each rule instead, in fixed slots
 * (`rule1`/`rule1Rewrites` to `rule5`/`rule5Rewrites`, see `ruleSlots`), and the SAM template's
 * metric filters (one per slot) turn them into `ImageRewriter` `Rewrites` by `Rule`
 * (docs/performance.md says why this design).
 *
 * `serve --metrics-listen` counts the same events for Prometheus (./prometheus.ts): a `MetricsTap`
 * given to `createObservability` is handed each one as it is recorded here. Without one (the
 * Lambda, `invoke`, `serve` without the flag) a record costs one property read more, and nothing of
 * Prometheus is loaded.
 *
 * Both are injectable: `createObservability({ sink })` sends every line to `sink` instead of stdout
 * (tests, `serve`'s batched stderr, and the `invoke` command, which keeps stdout for its answer).
 * Without a sink, an invocation's logger keeps its review's line to the end of the invocation,
 * where the handler holds `output` around it and the EMF document: they go out in one write.
 */
import type { ReviewReport, RewriteRecord } from '../core/admission.js';
import { escapeLineUnsafe, isPlainJsonText, quote } from '../core/json.js';
import { EmfMetrics, MetricUnit } from './emf.js';
import { JsonLogger, type LineSink, LineOutput, type LogLevel, logLevelOf, type StreamWrite } from './json-log.js';
import { stdioWriteFor } from './stdio-write.js';

export type { LogLevel, StreamWrite } from './json-log.js';
export type Logger = JsonLogger;
/** The EMF metrics of a process, and the tap that sees what they record (`serve --metrics-listen` only). */
export type Metrics = EmfMetrics & { readonly tap?: MetricsTap | undefined };

/** The counts of a review's existence checks, and their wall time (milliseconds). */
export interface VerifyCounts {
  /** Distinct targets asked about. */
  readonly checks: number;
  readonly cacheHits: number;
  readonly missing: number;
  /** Unreachable verdicts: errors, deadline, open breakers. */
  readonly errors: number;
  readonly latencyMs: number;
}

/**
 * What is recorded for EMF, handed on as it is recorded, once per event: the Prometheus metrics of
 * `serve --metrics-listen` (./prometheus.ts) count from it, so both count the same things.
 */
export interface MetricsTap {
  /**
   * An answered request (`recordOutcome`): the Outcome it is counted under (`countedOutcome`), the
   * rewrites counted as `Rewrites` (none for a denied review or a dry run), its invalid images.
   */
  readonly outcome: (outcome: Outcome, rewrites: readonly RewriteRecord[], invalidImages: number) => void;
  /** A review's existence checks (`recordVerify`). */
  readonly verify: (counts: VerifyCounts) => void;
  /** Every other Count, as `count` adds it (`ConfigErrors`, `ConfigRefreshes`). */
  readonly count: (name: MetricName, value: number) => void;
  /** The handler's time for a request it counted (its line's `durationMs`, unrounded). */
  readonly duration: (ms: number) => void;
}

export const SERVICE_NAME = 'image-rewriter';
export const METRICS_NAMESPACE = 'ImageRewriter';

/** Metric names (unit: Count). */
export const Metric = {
  /** Every answered request except health checks; dimension `Outcome`. */
  Reviews: 'Reviews',
  /** Images rewritten, by `Outcome`; by `Rule` from the summary lines (template.yaml's metric filters). */
  Rewrites: 'Rewrites',
  /** Images left alone because they, or a rule's result, are not valid references. */
  InvalidImages: 'InvalidImages',
  /** Requests without the right webhook token. */
  AuthFailures: 'AuthFailures',
  /** Failed reads of the rules parameter and invalid rules documents (once per read). */
  ConfigErrors: 'ConfigErrors',
  /**
   * 1 per invocation while the rules in force are not the latest document read, because it is
   * invalid or could not be read (`RulesProvider.stale`); dimension `service` only, whatever the
   * Outcome: ConfigErrorAlarm reads it. Never written in the healthy state.
   */
  RulesStale: 'RulesStale',
  /** Reads of the rules parameter (the first one and each refresh after the TTL). */
  ConfigRefreshes: 'ConfigRefreshes',
  /** Existence checks (distinct targets of a review; rules with `verify: true`), from the cache or not. */
  VerifyChecks: 'VerifyChecks',
  VerifyCacheHits: 'VerifyCacheHits',
  /** Targets that lack the image (or a wanted platform). */
  VerifyMissing: 'VerifyMissing',
  /** Targets that could not be asked: errors, the deadline, an open circuit breaker. */
  VerifyErrors: 'VerifyErrors',
} as const;
export type MetricName = (typeof Metric)[keyof typeof Metric];

const Dimension = { Outcome: 'Outcome' } as const;

/**
 * What happened to one request; the values of the `Outcome` dimension. `dryrun` is only a metric
 * value (see `countedOutcome`): the review line keeps the outcome of the answer, with `dryRun: true`.
 */
export const OUTCOMES = ['patched', 'unchanged', 'skipped', 'failopen', 'denied', 'bad_request', 'unauthorized', 'error', 'dryrun'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface ObservabilityOptions {
  /** Where every JSON line goes, one call per line; default stdout and stderr (see `write`). */
  readonly sink?: LineSink;
  /** Without `sink`: how text reaches stdout and stderr; default one `fs.writeSync` per text, `process.stdout`/`process.stderr` when that cannot take it, and always on Lambda Managed Instances (./stdio-write.ts, `stdioWriteFor`). */
  readonly write?: StreamWrite;
  /** Log level; default `POWERTOOLS_LOG_LEVEL`, else `LOG_LEVEL`, else `AWS_LAMBDA_LOG_LEVEL`, else INFO. */
  readonly logLevel?: LogLevel;
  /** Keys on every log line (`serve --workers`: the worker's number). */
  readonly keys?: Readonly<Record<string, string | number>>;
  /** Handed every event the metrics record (`serve --metrics-listen`). */
  readonly tap?: MetricsTap | undefined;
}

/** Holds stdout's lines between `hold` and `release`, for one write (./json-log.ts, `LineOutput`). */
export interface LineHold {
  hold(): void;
  release(): void;
}

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Holds stdout's lines for one write; does nothing when the lines go to a `sink`. */
  readonly output: LineHold;
}

const NO_HOLD: LineHold = { hold: () => undefined, release: () => undefined };

/**
 * The log level an environment names: `POWERTOOLS_LOG_LEVEL`, else `LOG_LEVEL`, else
 * `AWS_LAMBDA_LOG_LEVEL` (any case; a blank or unknown value counts as unset), else INFO. The one
 * reading of these variables, so that `invoke` (whose environment is injected) logs at the level
 * the Lambda and `serve` would. `AWS_LAMBDA_LOG_LEVEL` is Lambda's `ApplicationLogLevel`, whose
 * highest level is `FATAL`: read as CRITICAL, as Powertools reads it (unknown, it meant INFO: the
 * most lines where the fewest were asked for).
 */
export function logLevelFromEnv(env: Readonly<Record<string, string | undefined>>): LogLevel {
  const lambda = env['AWS_LAMBDA_LOG_LEVEL'];
  return logLevelOf(env['POWERTOOLS_LOG_LEVEL']) ?? logLevelOf(env['LOG_LEVEL']) ?? (lambda?.trim().toUpperCase() === 'FATAL' ? 'CRITICAL' : logLevelOf(lambda)) ?? 'INFO';
}

/** The Logger and Metrics of one process (Lambda container, `serve`, `invoke`). */
export function createObservability(options: ObservabilityOptions = {}): Observability {
  const env = process.env;
  const logLevel = options.logLevel ?? logLevelFromEnv(env);
  const output = options.sink === undefined ? new LineOutput(options.write ?? stdioWriteFor(env)) : undefined;
  const sink = options.sink ?? output?.out ?? ((): void => undefined);
  const keys = options.keys === undefined ? {} : { keys: options.keys };
  const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel, ...(output === undefined ? { sink } : { output }), ...keys });
  const disabled = env['POWERTOOLS_METRICS_DISABLED']?.trim().toLowerCase() === 'true';
  const emf = new EmfMetrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME, disabled, sink });
  // The tap is its own: POWERTOOLS_METRICS_DISABLED turns off the EMF documents, not Prometheus.
  const metrics: Metrics = options.tap === undefined ? emf : Object.assign(emf, { tap: options.tap });
  return { logger, metrics, output: output ?? NO_HOLD };
}

/** Add `value` to a metric (Count). */
export function count(metrics: Metrics, name: MetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
  metrics.tap?.count(name, value);
}

/** A Count of the record functions below, which hand the tap their event whole instead. */
function add(metrics: Metrics, name: MetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

/**
 * The `Outcome` a review is counted under. A dry run (`request.dryRun`: `kubectl diff`, `kubectl
 * apply --dry-run=server`, Flux's drift check, which with `--scope all` reviews every object at
 * every reconcile, Argo CD's Server-Side Diff for each object whose diff it does not take from its
 * cache) answered with the rules is `dryrun`, whatever its answer (patched,
 * unchanged, skipped, denied): its own value rather than a flag beside the outcome, so that
 * `Reviews` by `patched` (and `denied`) keep counting objects the API server admitted (or refused),
 * and the dimension set (`service`, `Outcome`) the alarms and the dashboard name stays the same (a
 * `DryRun` dimension would make every metric a new one). A dry run that fails open stays `failopen`:
 * FailOpenAlarm watches it, and rules that are not loaded fail the real requests too. The outcomes
 * without a review (`bad_request`, `unauthorized`, `error`) are never dry runs: the body was not read.
 */
export function countedOutcome(outcome: Outcome, report: ReviewReport | undefined): Outcome {
  return report?.dryRun === true && outcome !== 'failopen' ? 'dryrun' : outcome;
}

/**
 * The metrics of one answered request: `Reviews` by `Outcome` (a dry run's: `countedOutcome`), and
 * from the report the rewrites and invalid images.
 */
export function recordOutcome(metrics: Metrics, outcome: Outcome, report?: ReviewReport): void {
  const counted = countedOutcome(outcome, report);
  metrics.addDimension(Dimension.Outcome, counted);
  add(metrics, Metric.Reviews);
  if (counted === 'unauthorized') add(metrics, Metric.AuthFailures);
  // A denied review rewrote nothing: the API server refused the object its rewrites were planned
  // for; nor did a dry run: the API server threw the rewritten object away.
  const rewrites = report === undefined || counted === 'denied' || counted === 'dryrun' ? NO_REWRITES : report.rewrites;
  const invalid = report?.invalid.length ?? 0;
  if (rewrites.length > 0) add(metrics, Metric.Rewrites, rewrites.length);
  if (invalid > 0) add(metrics, Metric.InvalidImages, invalid);
  metrics.tap?.outcome(counted, rewrites, invalid);
}

const NO_REWRITES: readonly RewriteRecord[] = [];

/** The existence checks of one review: counts, and their wall time (`VerifyLatency`, milliseconds). */
export function recordVerify(metrics: Metrics, stats: VerifyCounts): void {
  add(metrics, Metric.VerifyChecks, stats.checks);
  if (stats.cacheHits > 0) add(metrics, Metric.VerifyCacheHits, stats.cacheHits);
  if (stats.missing > 0) add(metrics, Metric.VerifyMissing, stats.missing);
  if (stats.errors > 0) add(metrics, Metric.VerifyErrors, stats.errors);
  metrics.addMetric('VerifyLatency', MetricUnit.Milliseconds, stats.latencyMs);
  metrics.tap?.verify(stats);
}

/** An invocation while the rules are stale (see `Metric.RulesStale`). */
export function recordRulesStale(metrics: Metrics): void {
  metrics.addServiceMetric(Metric.RulesStale, MetricUnit.Count, 1);
}

/** The one EMF flush of an invocation; nothing is written when nothing was recorded. */
export function flushMetrics(metrics: Metrics): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/** The message of the one line per review; template.yaml's metric filters match it. */
export const REVIEW_LOG_MESSAGE = 'admission reviewed';

/** Longest string from a request put in a log line (an invalid image, a uid, a name: anything the client sent). */
export const MAX_LOGGED_STRING = 512;

/** Longest of each list in the summary line; the rest is counted in `<list>Cut`. */
export const MAX_LISTED = 20;

/**
 * Rule slots in the summary line (`rule1`..`rule5`), one log metric filter each in template.yaml; a
 * review using more rules counts the rest under `OTHER_RULES` in the last. Five: a Pod seldom pulls
 * from more registries than that, and filters are free (a log group may have 100).
 */
const RULE_SLOTS = 5;

/** The `Rule` of the rewrites by rules beyond the slots; no rule can have this name (src/config/schema.ts: letters, digits, "-", "_", "."). */
export const OTHER_RULES = '(other rules)';

/** A string from the request, cut to MAX_LOGGED_STRING characters for a log line. */
export function clip(s: string): string;
export function clip(s: string | undefined): string | undefined;
export function clip(s: string | undefined): string | undefined {
  return s !== undefined && s.length > MAX_LOGGED_STRING ? `${s.slice(0, MAX_LOGGED_STRING)}...` : s;
}

/**
 * The rewrites counted by rule, in the order each rule first appears, in at most RULE_SLOTS
 * entries: when more rules were used, the last entry is OTHER_RULES with the rest, so the counts
 * always add up to the number of rewrites.
 */
export function ruleSlots(rewrites: ReviewReport['rewrites']): [rule: string, rewrites: number][] {
  const counts = new Map<string, number>();
  for (const r of rewrites) counts.set(r.rule, (counts.get(r.rule) ?? 0) + 1);
  const all = [...counts];
  if (all.length <= RULE_SLOTS) return all;
  const kept = all.slice(0, RULE_SLOTS - 1);
  let rest = 0;
  for (const [, n] of all.slice(RULE_SLOTS - 1)) rest += n;
  kept.push([OTHER_RULES, rest]);
  return kept;
}

/**
 * Most bytes the lists of one summary line take together. Clipping a string bounds its characters,
 * not its bytes: a control, bidi or lone-surrogate character is 6 bytes in the line (`\u202e`), so
 * full entries could make a line of hundreds of KB, which Lambda cuts into several log events (at
 * 64 KiB and at CloudWatch Logs' 256 KB): no part is JSON, and the metric filters miss the review.
 * With the rest of the line (the object's names, `denied`, bounded apart) it stays under 64 KiB.
 */
export const MAX_LISTED_BYTES = 40 * 1024;

/** Bytes of JSON an entry may take at most: 6 a character of its strings (the longest escape), 24 a key and number. */
function entryBound(entry: Record<string, unknown>): number {
  let n = 2;
  for (const key in entry) {
    const v = entry[key];
    n += key.length + (typeof v === 'string' ? 6 * v.length + 6 : 24);
  }
  return n;
}

/** The byte budget of a line's lists; `exact`: each entry is charged its size, not its bound. */
interface ListBudget {
  left: number;
  readonly exact: boolean;
  /** Set when an entry did not fit (not when MAX_LISTED did). */
  cut: boolean;
}

/**
 * At most MAX_LISTED entries of `items`, each made by `entry`, while `budget` (bytes, shared by the
 * lists of a line) lasts; `fields[<key>Cut]` counts the others, each as `weight` of it (default 1:
 * the entry that stands for the skipped fields past the review's own cap counts them all). Each
 * entry is charged its bound, or its exact size when `budget.exact` (see `reviewFields`).
 */
function listInto<T>(fields: Record<string, unknown>, key: string, items: readonly T[], entry: (item: T) => Record<string, unknown>, budget: ListBudget, weight?: (item: T) => number): void {
  if (items.length === 0) return;
  const list: Record<string, unknown>[] = [];
  for (let i = 0; i < items.length && list.length < MAX_LISTED; i++) {
    const e = entry(items[i] as T);
    const size = budget.exact ? Buffer.byteLength(escapeLineUnsafe(JSON.stringify(e))) + 1 : entryBound(e);
    if (size > budget.left) {
      budget.cut = true;
      break;
    }
    budget.left -= size;
    list.push(e);
  }
  if (list.length > 0) fields[key] = list;
  if (items.length <= list.length) return;
  let cut = items.length - list.length;
  if (weight !== undefined) for (let i = list.length; i < items.length; i++) cut += weight(items[i] as T) - 1;
  fields[`${key}Cut`] = cut;
}

/**
 * The fields of a review's one log line: the object (uid, kind, namespace, name, operation, and
 * `subResource` for `kubectl debug`'s `ephemeralcontainers`), the
 * outcome (of the answer: a dry run's is not `dryrun`, the line has `dryRun: true` instead), the
 * counts (`rewrites`, `invalid`), the rewrites (`rewritten`: container, from, to, rule), the
 * invalid images (`invalidImages`: container, image, error, rule) and the skipped fields
 * (`skippedFields`: pointer, problem) and the rewrites withheld because their target lacks the
 * image (`withheld`, `withheldImages`: container, from, to, rule, reason) as lists of at most
 * MAX_LISTED entries (and MAX_LISTED_BYTES together, the problem lists served first) with the number left out in `<list>Cut`, every string from the request
 * clipped (an image volume's entry has `volume`, its name, where a container's has `container`);
 * and the per-rule counts in the slots of `ruleSlots` (none for a denied review or a dry run). Whether the line is a warning:
 * `problems` (invalid images, skipped fields or withheld rewrites).
 */
export function reviewFields(report: ReviewReport, outcome: Outcome): { fields: Record<string, unknown>; problems: boolean } {
  // Entries charged their bound, which costs no encoding (a usual review's rewrites stay well
  // within MAX_LISTED_BYTES by it); only when the bound cuts a list (hundreds of characters per
  // string, a hostile or broken request) are the lists made again with each entry's exact size.
  const bounded = { left: MAX_LISTED_BYTES, exact: false, cut: false };
  const first = reviewFieldsWithin(report, outcome, bounded);
  return bounded.cut ? reviewFieldsWithin(report, outcome, { left: MAX_LISTED_BYTES, exact: true, cut: false }) : first;
}

/** A string from the request that a log line holds as it is: within MAX_LOGGED_STRING (no clip) and plain JSON text. */
const loggedAsIs = (s: string): boolean => s.length <= MAX_LOGGED_STRING && isPlainJsonText(s);

/**
 * The JSON text of `reviewFields(report, outcome).fields` without its braces, written directly for
 * the usual review: not denied, no dry run and no subresource, no invalid image, skipped field or
 * withheld rewrite, at most MAX_LISTED rewrites, each with a container (or volume) name, every string plain JSON text
 * (isPlainJsonText) that `clip` leaves as it is. Undefined for any other review, whose line
 * `reviewFields` makes. The line is the one the handler writes for nearly every review, and its
 * JSON was the largest text left of a review (docs/performance.md, "thirteenth pass");
 * tests/unit/review-line.property.test.ts checks it against `reviewFields` on generated reviews.
 */
export function usualReviewFieldsJson(report: ReviewReport, outcome: Outcome): string | undefined {
  if (outcome === 'denied' || report.dryRun === true || report.subResource !== undefined || report.invalid.length > 0 || report.malformed.length > 0 || (report.withheld?.length ?? 0) > 0) return undefined;
  const { uid, kind, namespace, name, rewrites } = report;
  if (rewrites.length > MAX_LISTED || !loggedAsIs(uid) || !loggedAsIs(kind) || (namespace !== undefined && !loggedAsIs(namespace)) || (name !== undefined && !loggedAsIs(name))) return undefined;
  let text = `"uid":"${uid}","kind":"${kind}"${namespace === undefined ? '' : `,"namespace":"${namespace}"`}${name === undefined ? '' : `,"name":"${name}"`}`;
  text += `,"operation":${quote(report.operation)},"outcome":${quote(outcome)},"rewrites":${String(rewrites.length)},"invalid":0`;
  if (report.skipped !== undefined) text += `,"skipped":${quote(report.skipped)}`;
  if (rewrites.length === 0) return text;
  let list = '';
  // Plain text is ASCII: its length is its size; within the budget, `listInto` keeps every entry.
  let bytes = 0;
  for (const r of rewrites) {
    const { containerName, from, to, rule } = r;
    if (containerName === undefined || !loggedAsIs(containerName) || !loggedAsIs(from) || !loggedAsIs(to) || !isPlainJsonText(rule)) return undefined;
    const entry = `{"${r.list === 'volumes' ? 'volume' : 'container'}":"${containerName}","from":"${from}","to":"${to}","rule":"${rule}"}`;
    bytes += entry.length + 1;
    list += list === '' ? entry : `,${entry}`;
  }
  if (bytes > MAX_LISTED_BYTES) return undefined;
  text += `,"rewritten":[${list}]`;
  const slots = ruleSlots(rewrites);
  for (let i = 0; i < slots.length; i++) {
    const [rule, n] = slots[i] ?? ['', 0];
    text += `,"rule${String(i + 1)}":${quote(rule)},"rule${String(i + 1)}Rewrites":${String(n)}`;
  }
  return text;
}

// An entry names its container as `container`, its image volume as `volume`: two literals, not a
// computed key (V8 builds an object literal with a computed key through its slow path).

function reviewFieldsWithin(report: ReviewReport, outcome: Outcome, budget: ListBudget): { fields: Record<string, unknown>; problems: boolean } {
  // Fields are set one by one: spreading objects into the literal takes V8 (Node 20)'s slow path.
  const fields: Record<string, unknown> = {
    uid: clip(report.uid),
    kind: clip(report.kind),
    namespace: clip(report.namespace),
    name: clip(report.name),
    operation: report.operation,
    outcome,
    rewrites: report.rewrites.length,
    invalid: report.invalid.length,
  };
  if (report.subResource !== undefined) fields['subResource'] = clip(report.subResource);
  const dryRun = report.dryRun === true;
  if (dryRun) fields['dryRun'] = true;
  if (report.skipped !== undefined) fields['skipped'] = report.skipped;
  // The problem lists take the budget first: what was left alone is what the line is a warning
  // for, and long rewritten entries (names of 512 escaped characters) used to leave it no room.
  // They are made first and placed after the rewrites, the line's order.
  const problems: Record<string, unknown> = {};
  listInto(problems, 'invalidImages', report.invalid, (i) => {
    const entry: Record<string, unknown> =
      i.list === 'volumes' ? { volume: clip(i.containerName), image: clip(i.image), error: clip(i.error) } : { container: clip(i.containerName), image: clip(i.image), error: clip(i.error) };
    if (i.rule !== undefined) entry['rule'] = i.rule;
    return entry;
  }, budget);
  listInto(problems, 'skippedFields', report.malformed, (m) => ({ pointer: clip(m.pointer), problem: clip(m.problem) }), budget, (m) => m.fields ?? 1);
  const withheld = report.withheld ?? [];
  if (withheld.length > 0) problems['withheld'] = withheld.length;
  listInto(problems, 'withheldImages', withheld, (w) =>
    w.list === 'volumes'
      ? { volume: clip(w.containerName), from: clip(w.from), to: clip(w.to), rule: w.rule, reason: clip(w.reason) }
      : { container: clip(w.containerName), from: clip(w.from), to: clip(w.to), rule: w.rule, reason: clip(w.reason) }, budget);
  listInto(fields, 'rewritten', report.rewrites, (r) =>
    r.list === 'volumes'
      ? { volume: clip(r.containerName), from: clip(r.from), to: clip(r.to), rule: r.rule }
      : { container: clip(r.containerName), from: clip(r.from), to: clip(r.to), rule: r.rule }, budget);
  // The slots feed `Rewrites` by `Rule` (template.yaml's metric filters): none for a denied review
  // or a dry run, whose rewrites were never admitted (they are still listed in `rewritten`).
  const slots = outcome === 'denied' || dryRun ? [] : ruleSlots(report.rewrites);
  for (let i = 0; i < slots.length; i++) {
    const [rule, n] = slots[i] ?? ['', 0];
    fields[`rule${String(i + 1)}`] = rule;
    fields[`rule${String(i + 1)}Rewrites`] = n;
  }
  for (const key in problems) fields[key] = problems[key];
  return { fields, problems: report.invalid.length > 0 || report.malformed.length > 0 || withheld.length > 0 };
}
