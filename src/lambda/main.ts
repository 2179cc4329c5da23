/**
 * The Lambda entry point (bundled to dist/handler.js). Module initialization is the cold start:
 * it builds the Logger and Metrics, turns `process.env` into settings (src/config/settings.ts),
 * reads the token and the rules once (src/config/sources.ts), and builds the handler. Every
 * invocation then only decodes, reviews and encodes.
 *
 * Unusable settings (no token without `WEBHOOK_ALLOW_UNAUTHENTICATED=true` among them) or an
 * unreadable token fail the init (logged, and Lambda retries the init on the next invocation);
 * unreadable or invalid rules do not: the handler fails open.
 */
import { lazyAwsClients } from '../config/aws-clients.js';
import { enableRegexFallback } from '../config/regex-fallback.js';
import { loadSources, type Sources } from '../config/sources.js';
import { createHandler, LAMBDA_MAX_RESULT_BYTES, type WebhookHandler } from './handler.js';
import { lazyVerifier } from './lazy-verifier.js';
import { count, createObservability, flushMetrics, Metric } from '../observability/telemetry.js';

const { logger, metrics, output } = createObservability();

let sources: Sources;
try {
  sources = await loadSources(process.env, { logger, metrics, ...lazyAwsClients() });
} catch (e) {
  logger.critical('cannot start: fix the function configuration', { error: e instanceof Error ? e : new Error(String(e)) });
  // Without an Outcome dimension: template.yaml's ConfigErrorAlarm sums this series (`init`) too.
  count(metrics, Metric.ConfigErrors);
  flushMetrics(metrics);
  throw e;
}

const verifier = lazyVerifier(sources.settings.verify, lazyAwsClients());
export const handler: WebhookHandler = createHandler({ rules: sources.rules, token: sources.token, logger, metrics, verifier, output, maxResultBytes: LAMBDA_MAX_RESULT_BYTES });

// Last in the init, before the first request: no regex has run on a request's input before it (the
// flag applies to regexes compiled earlier too), and every Node module the init needs (the AWS
// SDK's when a setting reads from AWS, the stdout stream of the logs) is already loaded. Changing a
// V8 flag makes V8 refuse the code cache Node ships for its own modules, so each one loaded after it
// is compiled from source, at about 2.5 times the cost (docs/performance.md, "Cold start").
enableRegexFallback();
