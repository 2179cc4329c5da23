/**
 * Which Secrets Manager client reads a secret. Secrets Manager answers for a secret only in its own
 * region (another region's secret is "not found"), and one secret may serve the stacks of several
 * regions (`deploy:regions`): a secret named by an ARN of another region than the shared client's
 * is read with a client of that region, one per region, made on first use.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** The region of a secret named by its ARN (`arn:aws:secretsmanager:eu-west-1:...`). */
const secretRegion = (id: string): string | undefined => /^arn:[a-z0-9-]+:secretsmanager:([a-z0-9-]+):/.exec(id)?.[1];

const regional = new Map<string, SecretsManagerClient>();

/**
 * The client that can read `secretId`: the shared one for a name, or an ARN of its own region; else
 * a client of the ARN's region. The shared client may have no region at all (`serve` outside AWS):
 * the ARN's is enough then.
 */
export async function secretsManagerFor(secretId: string, shared: SecretsManagerClient): Promise<SecretsManagerClient> {
  const region = secretRegion(secretId);
  if (region === undefined) return shared;
  const sharedRegion = await shared.config.region().catch(() => undefined);
  if (region === sharedRegion) return shared;
  let client = regional.get(region);
  if (client === undefined) {
    const { SecretsManagerClient: Client } = await import('./sdk-secrets-manager.js');
    client = new Client({ region });
    regional.set(region, client);
  }
  return client;
}
