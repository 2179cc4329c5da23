/**
 * The Lambda entry point (bundled to dist/handler.js). Module initialization is the cold start:
 * it builds the Logger and Metrics, reads the settings from the environment, reads the token and
 * the rules (SSM parameter or `REWRITE_RULES`) once, and builds the handler. Every invocation then
 * only decodes, reviews and encodes. See src/config/sources.ts for the variables.
 *
 * An unusable environment or an unreadable token fails the init (logged, and Lambda retries the
 * init on the next invocation); unreadable or invalid rules do not: the handler fails open.
 *
 * The AWS SDK clients are imported dynamically, when a setting first needs one: importing them is
 * most of a cold start (docs/performance.md), and inline rules with an inline token never need them.
 */
import { loadSources, type Sources } from '../config/sources.js';
import { createHandler, type WebhookHandler } from './handler.js';
import { createObservability, flushMetrics } from '../observability/telemetry.js';

/** One client per container, built only if a setting needs it; a failed build is tried again next time. */
function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () =>
    (value ??= make().catch((e: unknown) => {
      value = undefined;
      throw e;
    }));
}

const { logger, metrics } = createObservability();

let sources: Sources;
try {
  sources = await loadSources(process.env, {
    logger,
    metrics,
    ssm: lazy(async () => new (await import('@aws-sdk/client-ssm')).SSMClient({})),
    secretsManager: lazy(async () => new (await import('@aws-sdk/client-secrets-manager')).SecretsManagerClient({})),
  });
} catch (e) {
  logger.critical('cannot start: fix the function configuration', { error: e instanceof Error ? e : new Error(String(e)) });
  flushMetrics(metrics);
  throw e;
}

export const handler: WebhookHandler = createHandler({ rules: sources.rules, token: sources.token, logger, metrics });
