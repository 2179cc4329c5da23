/**
 * The Prometheus metrics of `serve --metrics-listen`: the webhook's EMF metrics (./telemetry.ts)
 * counted again from the same events (its `MetricsTap`), in a registry of their own, beside
 * prom-client's process metrics. Only `serve` with the flag loads this module (through the import()
 * of src/cli/serve-metrics.ts in src/cli/serve.ts): the Lambda's bundle holds no prom-client at
 * all, and the CLI's holds it in a chunk of its own (scripts/build.mjs checks both).
 *
 * Labels stay few: `outcome` (the nine of OUTCOMES, each series there from the start) and `rule`
 * (the names of the rules in force, which the rules document bounds; every rule by its own name,
 * where CloudWatch's `Rewrites` by `Rule` has five slots); never an image, a namespace or a Pod.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RewriteRecord } from '../core/admission.js';
import { Metric, type MetricName, type MetricsTap, OUTCOMES, type VerifyCounts } from './telemetry.js';

/**
 * Seconds. A review takes about a millisecond; one with existence checks up to their deadline
 * (1.5 s by default); the handler is cut off at 29 s, the API server gives up after the
 * configuration's timeoutSeconds (5 s by default).
 */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface PrometheusMetrics {
  readonly registry: Registry;
  /** For `createObservability({ tap })`. */
  readonly tap: MetricsTap;
  /** `image_rewriter_rules_stale` reads `stale()` of these rules at each scrape (0 until given). */
  readonly watchRules: (rules: { readonly stale?: (() => boolean) | undefined }) => void;
  /** `image_rewriter_certificate_expiration_timestamp_seconds`: the certificate served expires then (epoch ms). */
  readonly certificate: (validToMs: number) => void;
}

/** A new registry with the webhook's metrics and, unless `processMetrics` is false, prom-client's default ones. */
export function prometheusMetrics(options: { readonly processMetrics?: boolean } = {}): PrometheusMetrics {
  const registry = new Registry();
  const registers = [registry];
  const reviews = new Counter({ name: 'image_rewriter_admission_reviews_total', help: 'Requests answered, but health checks, by outcome (EMF Reviews by Outcome).', labelNames: ['outcome'] as const, registers });
  for (const outcome of OUTCOMES) reviews.inc({ outcome }, 0);
  const rewrites = new Counter({ name: 'image_rewriter_rewrites_total', help: 'Images rewritten, by rule; none for a denied review or a dry run (EMF Rewrites).', labelNames: ['rule'] as const, registers });
  const invalid = new Counter({ name: 'image_rewriter_invalid_images_total', help: 'Images left alone because they, or a rule\'s result, are not valid references (EMF InvalidImages).', registers });
  const unauthorized = new Counter({ name: 'image_rewriter_unauthorized_requests_total', help: 'Requests without the right webhook token (EMF AuthFailures).', registers });
  const duration = new Histogram({ name: 'image_rewriter_review_duration_seconds', help: 'The handler\'s time for each request it answered, the 401s and 413s serve answers itself left out (the review line\'s durationMs).', buckets: [...DURATION_BUCKETS], registers });
  const counters: Partial<Record<MetricName, Counter>> = {
    [Metric.ConfigErrors]: new Counter({ name: 'image_rewriter_config_errors_total', help: 'Failed reads of the rules parameter and invalid rules documents read, a reload of the rules file included (EMF ConfigErrors).', registers }),
    [Metric.ConfigRefreshes]: new Counter({ name: 'image_rewriter_config_refreshes_total', help: 'Reads of the rules parameter in SSM (EMF ConfigRefreshes).', registers }),
  };
  const checks = new Counter({ name: 'image_rewriter_verify_checks_total', help: 'Existence checks of rewrite targets, from the cache or not (EMF VerifyChecks).', registers });
  const cacheHits = new Counter({ name: 'image_rewriter_verify_cache_hits_total', help: 'Existence checks answered from the cache (EMF VerifyCacheHits).', registers });
  const missing = new Counter({ name: 'image_rewriter_verify_missing_total', help: 'Targets that lack the image or a wanted platform (EMF VerifyMissing).', registers });
  const errors = new Counter({ name: 'image_rewriter_verify_errors_total', help: 'Targets that could not be asked: errors, the deadline, an open circuit breaker (EMF VerifyErrors).', registers });
  const verifyDuration = new Histogram({ name: 'image_rewriter_verify_duration_seconds', help: 'Wall time of the existence checks of each review that had any (EMF VerifyLatency).', buckets: [...DURATION_BUCKETS], registers });
  let stale: (() => boolean) | undefined;
  new Gauge({
    name: 'image_rewriter_rules_stale',
    help: '1 while the rules in force are not the newest document read, which is invalid or could not be read (EMF RulesStale); the highest of the workers.',
    aggregator: 'max',
    registers,
    collect() {
      this.set(stale?.() === true ? 1 : 0);
    },
  });
  // Registered at the first certificate: an unlabelled gauge reads 0 until set, which an expiry
  // alert (`... - time() < 14 * 86400`) takes for a certificate expired in 1970.
  let expiration: Gauge | undefined;
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const tap: MetricsTap = {
    outcome: (outcome, rewritten, invalidImages) => {
      reviews.inc({ outcome });
      if (outcome === 'unauthorized') unauthorized.inc();
      for (const [rule, n] of byRule(rewritten)) rewrites.inc({ rule }, n);
      if (invalidImages > 0) invalid.inc(invalidImages);
    },
    verify: (counts: VerifyCounts) => {
      checks.inc(counts.checks);
      cacheHits.inc(counts.cacheHits);
      missing.inc(counts.missing);
      errors.inc(counts.errors);
      verifyDuration.observe(counts.latencyMs / 1000);
    },
    count: (name, value) => {
      counters[name]?.inc(value);
    },
    duration: (ms) => {
      duration.observe(ms / 1000);
    },
  };
  return {
    registry,
    tap,
    watchRules: (rules) => {
      stale = rules.stale;
    },
    certificate: (validToMs) => {
      expiration ??= new Gauge({
        name: 'image_rewriter_certificate_expiration_timestamp_seconds',
        help: 'When the TLS certificate served expires, in seconds since the epoch (the last one loaded, a reload included); the earliest of the workers.',
        aggregator: 'min',
        registers,
      });
      expiration.set(validToMs / 1000);
    },
  };
}

/** The rewrites counted by rule (one increment per rule, not per image). */
function byRule(rewrites: readonly RewriteRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rewrites) counts.set(r.rule, (counts.get(r.rule) ?? 0) + 1);
  return counts;
}
