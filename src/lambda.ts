/**
 * The Lambda entry point (bundled to dist/handler.js). Module initialization is the cold start:
 * it builds the Logger and Metrics, reads the settings from the environment, reads the token and
 * the rules (SSM parameter or `REWRITE_RULES`) once, and builds the handler. Every invocation then
 * only decodes, reviews and encodes. See src/config/sources.ts for the variables.
 *
 * An unusable environment or an unreadable token fails the init (logged, and Lambda retries the
 * init on the next invocation); unreadable or invalid rules do not: the handler fails open.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { loadSources, type Sources } from './config/sources.js';
import { createHandler, type WebhookHandler } from './handler.js';
import { createObservability, flushMetrics } from './observability.js';

/** One client per container, built only if a setting needs it. */
function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

const { logger, metrics } = createObservability();

let sources: Sources;
try {
  sources = await loadSources(process.env, {
    logger,
    metrics,
    ssm: lazy(() => new SSMClient({})),
    secretsManager: lazy(() => new SecretsManagerClient({})),
  });
} catch (e) {
  logger.critical('cannot start: fix the function configuration', { error: e instanceof Error ? e : new Error(String(e)) });
  flushMetrics(metrics);
  throw e;
}

export const handler: WebhookHandler = createHandler({ rules: sources.rules, token: sources.token, logger, metrics });
