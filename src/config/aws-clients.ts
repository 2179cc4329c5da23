/**
 * The AWS SDK clients a setting may need (SSM, Secrets Manager), built on first use, one per
 * process. The client packages are imported dynamically: importing them is most of a cold start
 * (docs/performance.md), and inline rules with an inline token never need them.
 */
import type { AwsClients } from './token.js';

/** Built once when first asked for; a failed build is tried again next time. */
function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () =>
    (value ??= make().catch((e: unknown) => {
      value = undefined;
      throw e;
    }));
}

export function lazyAwsClients(): AwsClients {
  return {
    ssm: lazy(async () => new (await import('./sdk-ssm.js')).SSMClient({})),
    secretsManager: lazy(async () => new (await import('./sdk-secrets-manager.js')).SecretsManagerClient({})),
  };
}
