/**
 * The Lambda entry with its rules in SSM and its token in Secrets Manager (clients mocked with
 * aws-sdk-client-mock): both read once at import, the handler answers with them.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { EVENT_TOKEN, loadEvent } from '../helpers/events.js';

const ssm = mockClient(SSMClient);
const secrets = mockClient(SecretsManagerClient);
const saved = { ...process.env };
let handler: (event: unknown) => Promise<{ statusCode: number; body: string }>;

beforeAll(async () => {
  ssm.on(GetParameterCommand, { Name: '/image-rewriter/rules', WithDecryption: true }).resolves({
    Parameter: { Name: '/image-rewriter/rules', Type: 'String', Value: 'rules:\n  - name: eu\n    match: gcr.io\n    replace: eu.gcr.io\n', Version: 2 },
  });
  secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ token: EVENT_TOKEN }) });
  Object.assign(process.env, {
    AWS_REGION: 'us-west-2',
    REWRITE_RULES_PARAMETER: '/image-rewriter/rules',
    WEBHOOK_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:image-rewriter-token-AbCdEf',
  });
  delete process.env['REWRITE_RULES'];
  delete process.env['WEBHOOK_TOKEN'];
  for (const stream of [process.stdout, process.stderr]) jest.spyOn(stream, 'write').mockImplementation(() => true);
  ({ handler } = await import('../../src/lambda/main.js'));
});

afterAll(() => {
  jest.restoreAllMocks();
  process.env = saved;
});

describe('src/lambda/main.ts with SSM and Secrets Manager', () => {
  it('reads the rules parameter and the token secret once, at import', async () => {
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: process.env['WEBHOOK_TOKEN_SECRET_ARN'] });
    const result = await handler(loadEvent('rest-deployment-v1.json'));
    expect(result.statusCode).toBe(200);
    const body = JSON.parse(result.body) as { response: { patch: string } };
    expect(Buffer.from(body.response.patch, 'base64').toString('utf8')).toContain('eu.gcr.io/nginx');
    expect((await handler(loadEvent('rest-wrong-token.json'))).statusCode).toBe(401);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
  });
});
