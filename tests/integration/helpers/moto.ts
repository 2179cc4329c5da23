/**
 * A moto server (AWS API emulator, from the venv of hack/python/setup-venv.sh) on a free 127.0.0.1
 * port, with SDK v3 clients for SSM and Secrets Manager pointed at it (dummy credentials,
 * us-east-1). The function under test reaches it through AWS_ENDPOINT_URL.
 */
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { REPO_ROOT } from '../../helpers/fixtures.js';
import { eventually, freePort, type Group, spawnGroup, waitForPort } from './processes.js';
import { motoServer } from './tools.js';

export const MOTO_REGION = 'us-east-1';
export const DUMMY_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/**
 * A function's AWS settings against moto (or a proxy in front of it): `endpoint` for every service
 * (`AWS_ENDPOINT_URL`), or for one (`AWS_ENDPOINT_URL_ECR`...), moto's region, dummy credentials.
 */
export function awsEnvFor(endpoint: string, variable = 'AWS_ENDPOINT_URL'): Record<string, string> {
  return {
    [variable]: endpoint,
    AWS_REGION: MOTO_REGION,
    AWS_DEFAULT_REGION: MOTO_REGION,
    AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey,
  };
}

export interface Moto {
  readonly url: string;
  readonly process: Group;
  readonly ssm: SSMClient;
  readonly secrets: SecretsManagerClient;
  /** Forget every parameter and secret (and warm the backends up again). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  const server = motoServer();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/tmp',
    // So that nothing in moto looks for ~/.aws (hack/python/moto.sh does the same).
    AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey,
    AWS_DEFAULT_REGION: MOTO_REGION,
  };
  const group = spawnGroup('moto_server', server, ['-H', '127.0.0.1', '-p', String(port)], { cwd: REPO_ROOT, env });
  const clientConfig = { endpoint: url, region: MOTO_REGION, credentials: DUMMY_CREDENTIALS, maxAttempts: 1 };
  const ssm = new SSMClient(clientConfig);
  const secrets = new SecretsManagerClient(clientConfig);

  /** moto loads each service's backend on its first call (1-2 s): do it here, not in the function's 3 s read. */
  const warm = async (): Promise<void> => {
    await ssm.send(new DescribeParametersCommand({}));
    await secrets.send(new ListSecretsCommand({}));
  };

  try {
    await waitForPort(group, port, 60_000);
    await eventually('moto to answer /moto-api/data.json', 60_000, async () => {
      const res = await fetch(`${url}/moto-api/data.json`).catch(() => undefined);
      return res?.ok === true ? true : undefined;
    });
    await warm();
  } catch (e) {
    await group.stop();
    throw new Error(`moto did not start: ${e instanceof Error ? e.message : String(e)}\n${group.output().slice(-4000)}`, { cause: e });
  }

  return {
    url,
    process: group,
    ssm,
    secrets,
    async reset(): Promise<void> {
      const res = await fetch(`${url}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset answered ${res.status}`);
      await warm();
    },
    async stop(): Promise<void> {
      ssm.destroy();
      secrets.destroy();
      await group.stop();
    },
  };
}
