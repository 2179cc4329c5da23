/**
 * Observability: the one Powertools Logger and the one Metrics of the webhook, the metric and
 * dimension names, and the helpers that turn a review into log lines and metrics.
 *
 * Logs are JSON lines (service `image-rewriter`): one line per rewrite and per invalid image, one
 * summary line per review; never a request body, never the webhook token.
 *
 * Metrics are CloudWatch EMF (namespace `ImageRewriter`, dimension `service`). Per invocation the
 * handler stores everything in `metrics` and flushes it once (`flushMetrics` in a `finally`): one
 * EMF document, with the dimension `Outcome` (see `OUTCOMES`). `Rewrites` by `Rule` is not in it:
 * an EMF document holds one value per dimension and one review can rewrite images with several
 * rules, so it would take one more document per rule per invocation (each costs about as much as
 * the review). The "image rewritten" lines carry `rule`, and the SAM template's metric filter
 * (`RewritesByRuleMetricFilter`) turns them into `ImageRewriter` `Rewrites` by `Rule`.
 *
 * Both are injectable: `createObservability({ sink })` sends every line to `sink` instead of stdout
 * (tests, and the `invoke` command, which keeps stdout for its answer). Without a sink they are the
 * plain Powertools classes writing to stdout, which is what Lambda and CloudWatch expect.
 */
import { type LogItem, Logger } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions, LogLevel } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricsOptions } from '@aws-lambda-powertools/metrics/types';
import type { ReviewReport } from '../core/admission.js';

export const SERVICE_NAME = 'image-rewriter';
export const METRICS_NAMESPACE = 'ImageRewriter';

/** Metric names (unit: Count). */
export const Metric = {
  /** Every answered request except health checks; dimension `Outcome`. */
  Reviews: 'Reviews',
  /** Images rewritten, by `Outcome`; by `Rule` from the log lines (template.yaml's metric filter). */
  Rewrites: 'Rewrites',
  /** Images left alone because they, or a rule's result, are not valid references. */
  InvalidImages: 'InvalidImages',
  /** Requests without the right webhook token. */
  AuthFailures: 'AuthFailures',
  /** Failed reads of the rules parameter and invalid rules documents. */
  ConfigErrors: 'ConfigErrors',
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

export const Dimension = { Outcome: 'Outcome' } as const;

/** What happened to one request; the values of the `Outcome` dimension. */
export const OUTCOMES = ['patched', 'unchanged', 'skipped', 'failopen', 'denied', 'bad_request', 'unauthorized', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Receives one JSON document per call (a log line or an EMF document), without a newline. */
export type LineSink = (line: string) => void;

export interface ObservabilityOptions {
  /** Where the JSON lines go; default stdout through Powertools' own Console. */
  readonly sink?: LineSink;
  /** Log level; default `POWERTOOLS_LOG_LEVEL` / `LOG_LEVEL`, else INFO. */
  readonly logLevel?: LogLevel;
}

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** A Logger that hands each formatted line to a sink (Powertools' protected extension point). */
class SinkLogger extends Logger {
  // A plain property, not `#sink`: the base constructor may print (its init buffer) before it is set.
  private sink: LineSink | undefined;

  constructor(sink: LineSink, options: ConstructorOptions) {
    super(options);
    this.sink = sink;
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    /* istanbul ignore if -- only while the base constructor prints its init buffer, which our options never fill */
    if (this.sink === undefined) {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    this.sink(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }
}

/** Metrics that hand each EMF document to a sink, single metrics included. */
class SinkMetrics extends Metrics {
  private readonly sink: LineSink;
  private readonly options: MetricsOptions;

  constructor(sink: LineSink, options: MetricsOptions) {
    super(options);
    this.sink = sink;
    this.options = options;
  }

  override publishStoredMetrics(): this {
    try {
      if (!this.isDisabled() && this.hasStoredMetrics()) this.sink(JSON.stringify(this.serializeMetrics()));
    } finally {
      this.clearMetrics();
      this.clearDimensions();
      this.clearMetadata();
    }
    return this;
  }

  override singleMetric(): Metrics {
    return new SinkMetrics(this.sink, { ...this.options, singleMetric: true });
  }
}

/** The Logger and Metrics of one process (Lambda container, `serve`, `invoke`). */
export function createObservability(options: ObservabilityOptions = {}): Observability {
  const loggerOptions: ConstructorOptions = {
    serviceName: SERVICE_NAME,
    ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
  };
  const logger = options.sink === undefined ? new Logger(loggerOptions) : new SinkLogger(options.sink, loggerOptions);
  const metricsOptions: MetricsOptions = { namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME, logger };
  const metrics = options.sink === undefined ? new Metrics(metricsOptions) : new SinkMetrics(options.sink, metricsOptions);
  return { logger, metrics };
}

/** Add `value` to a metric (Count). */
export function count(metrics: Metrics, name: MetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

/** The metrics of one answered request: `Reviews` by `Outcome`, and from the report the rewrites and invalid images. */
export function recordOutcome(metrics: Metrics, outcome: Outcome, report?: ReviewReport): void {
  metrics.addDimension(Dimension.Outcome, outcome);
  count(metrics, Metric.Reviews);
  if (outcome === 'unauthorized') count(metrics, Metric.AuthFailures);
  if (report === undefined) return;
  if (report.rewrites.length > 0) count(metrics, Metric.Rewrites, report.rewrites.length);
  if (report.invalid.length > 0) count(metrics, Metric.InvalidImages, report.invalid.length);
}

/** The existence checks of one review: counts, and their wall time (`VerifyLatency`, milliseconds). */
export function recordVerify(metrics: Metrics, stats: { readonly checks: number; readonly cacheHits: number; readonly missing: number; readonly errors: number; readonly latencyMs: number }): void {
  count(metrics, Metric.VerifyChecks, stats.checks);
  if (stats.cacheHits > 0) count(metrics, Metric.VerifyCacheHits, stats.cacheHits);
  if (stats.missing > 0) count(metrics, Metric.VerifyMissing, stats.missing);
  if (stats.errors > 0) count(metrics, Metric.VerifyErrors, stats.errors);
  metrics.addMetric('VerifyLatency', MetricUnit.Milliseconds, stats.latencyMs);
}

/** The one EMF flush of an invocation; nothing is written when nothing was recorded. */
export function flushMetrics(metrics: Metrics): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/** The message of the one line per rewrite; template.yaml's RewritesByRuleMetricFilter matches it. */
export const REWRITE_LOG_MESSAGE = 'image rewritten';

/** Longest string from a request put in a log line (an invalid image, a uid, a name: anything the client sent). */
const MAX_LOGGED_IMAGE = 512;

/** A string from the request, cut to MAX_LOGGED_IMAGE characters for a log line. */
export function clip(s: string): string;
export function clip(s: string | undefined): string | undefined;
export function clip(s: string | undefined): string | undefined {
  return s !== undefined && s.length > MAX_LOGGED_IMAGE ? `${s.slice(0, MAX_LOGGED_IMAGE)}...` : s;
}

/** At most this many lines of each kind (rewrites, invalid images) per review; one more line counts the rest. */
export const MAX_LOG_LINES_PER_KIND = 50;
/** At most this many skipped fields listed in the one line that reports them. */
const MAX_LOGGED_FIELDS = 10;

/**
 * One log line per rewrite (uid, namespace, kind, name, container, list, from, to, rule) and per
 * invalid image, at most MAX_LOG_LINES_PER_KIND of each (then one line with the count of the rest),
 * and one line for all the skipped malformed fields (the first few, and their count). The body
 * itself is never logged. Bounded whatever the body: a 215 KiB body of bad entries made 28 MiB of
 * logs when every entry had its line.
 */
export function logReport(logger: Logger, report: ReviewReport): void {
  // The fields are written into each line literal rather than spread (docs/performance.md).
  const [uid, namespace, kind, name] = [clip(report.uid), clip(report.namespace), clip(report.kind), clip(report.name)];
  const rewrites = report.rewrites;
  for (let i = 0; i < Math.min(rewrites.length, MAX_LOG_LINES_PER_KIND); i++) {
    const r = rewrites[i];
    if (r === undefined) break;
    logger.info(REWRITE_LOG_MESSAGE, { uid, namespace, kind, name, container: clip(r.containerName), list: r.list, from: clip(r.from), to: clip(r.to), rule: r.rule });
  }
  if (rewrites.length > MAX_LOG_LINES_PER_KIND) {
    logger.info('more images rewritten, not logged one by one', { uid, namespace, kind, name, count: rewrites.length - MAX_LOG_LINES_PER_KIND });
  }
  const invalid = report.invalid;
  for (let n = 0; n < Math.min(invalid.length, MAX_LOG_LINES_PER_KIND); n++) {
    const i = invalid[n];
    if (i === undefined) break;
    const fields: Record<string, unknown> = { uid, namespace, kind, name, container: clip(i.containerName), list: i.list, image: clip(i.image), error: clip(i.error) };
    if (i.rule !== undefined) fields['rule'] = i.rule;
    logger.warn('image left unchanged: not a valid reference', fields);
  }
  if (invalid.length > MAX_LOG_LINES_PER_KIND) {
    logger.warn('more images left unchanged, not logged one by one', { uid, namespace, kind, name, count: invalid.length - MAX_LOG_LINES_PER_KIND });
  }
  if (report.malformed.length > 0) {
    const fields = report.malformed.slice(0, MAX_LOGGED_FIELDS).map((m) => ({ pointer: clip(m.pointer), problem: clip(m.problem) }));
    logger.warn('pod spec fields skipped', { uid, namespace, kind, name, fields, listed: report.malformed.length });
  }
}
