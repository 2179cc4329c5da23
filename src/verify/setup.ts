/**
 * The verifier of an adapter, from its settings (src/config/settings.ts): the deadline, and the
 * registry credentials' source. Building it does no I/O and loads no SDK: the credentials are read
 * and the ECR client is built only when a check needs them.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { VerifySettings } from '../config/settings.js';
import { createCredentialsSource } from './credentials.js';
import { createVerifier, ecrClients, type Verifier } from './verifier.js';

export interface VerifierClients {
  readonly ssm: () => Promise<SSMClient>;
  readonly secretsManager: () => Promise<SecretsManagerClient>;
}

/** The verifier for the settings: their deadline, and their registry credentials' source. */
export function verifierFor(settings: VerifySettings, clients: VerifierClients): Verifier {
  const credentials = createCredentialsSource(settings.credentials, { ...clients, now: () => performance.now() });
  return createVerifier({ deadlineMs: settings.deadlineMs, credentials, ecr: ecrClients() });
}
