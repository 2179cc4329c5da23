/**
 * The deploy-time token custom resource (src/lambda/token-resource.ts), its SSM client mocked with
 * aws-sdk-client-mock and its answer captured: what it writes, keeps and deletes per request type,
 * that it always answers CloudFormation (failures included) and never with the token.
 */
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DeleteParameterCommand, GetParameterCommand, ParameterAlreadyExists, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTokenResource, newToken, putResponse, type TokenResourceResponse } from '../../src/lambda/token-resource.js';

const NAME = '/image-rewriter/my-stack/webhook-token';
const KEY = 'arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const OTHER_KEY = 'arn:aws:kms:us-west-2:123456789012:key/mrk-0123456789abcdef0123456789abcdef';
const STORED = 'stored-token-0123456789abcdefghijklmnopqrstu';
const TOKEN = 'generated-token-0123456789abcdefghijklmnopqrs';
const ssm = mockClient(SSMClient);

function event(type: 'Create' | 'Update' | 'Delete', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    RequestType: type,
    ResponseURL: 'https://cloudformation-custom-resource-response.example/answer',
    StackId: 'arn:aws:cloudformation:us-west-2:123456789012:stack/my-stack/guid',
    RequestId: 'req-1',
    LogicalResourceId: 'WebhookToken',
    ResourceType: 'AWS::CloudFormation::CustomResource',
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-west-2:123456789012:function:f', ParameterName: NAME },
    ...extra,
  };
}

function run(): { handler: (e: unknown) => Promise<void>; answers: TokenResourceResponse[]; logs: Record<string, unknown>[] } {
  const answers: TokenResourceResponse[] = [];
  const logs: Record<string, unknown>[] = [];
  const handler = createTokenResource({
    ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })),
    respond: (_url, r) => {
      answers.push(r);
      return Promise.resolve();
    },
    newToken: () => TOKEN,
    log: (f) => logs.push(f),
  });
  return { handler, answers, logs };
}

beforeEach(() => {
  ssm.reset();
  ssm.on(PutParameterCommand).resolves({ Version: 1 });
  ssm.on(DeleteParameterCommand).resolves({});
  ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAME, Type: 'SecureString', Value: STORED } });
});

/** The properties of the template's WebhookToken, with KmsKeyId when the stack has KmsKeyArn. */
const props = (key?: string): Record<string, unknown> => ({ ServiceToken: 'arn:aws:lambda:us-west-2:123456789012:function:f', ParameterName: NAME, ...(key === undefined ? {} : { KmsKeyId: key }) });
const putInputs = (): Record<string, unknown>[] => ssm.commandCalls(PutParameterCommand).map((c) => ({ ...c.args[0].input }));

describe('token custom resource', () => {
  it('Create writes a fresh SecureString (overwrite) and answers SUCCESS with the name, never the token', async () => {
    const { handler, answers, logs } = run();
    await handler(event('Create'));
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Name: NAME, Type: 'SecureString', Value: TOKEN, Overwrite: true });
    expect(answers).toEqual([
      { Status: 'SUCCESS', PhysicalResourceId: NAME, StackId: expect.any(String), RequestId: 'req-1', LogicalResourceId: 'WebhookToken', NoEcho: true },
    ]);
    expect(JSON.stringify(answers)).not.toContain(TOKEN);
    expect(JSON.stringify(logs)).not.toContain(TOKEN);
  });

  it('Update of the same parameter keeps the token (writes only if absent)', async () => {
    ssm.on(PutParameterCommand).rejects(new ParameterAlreadyExists({ message: 'exists', $metadata: {} }));
    const { handler, answers } = run();
    await handler(event('Update', { PhysicalResourceId: NAME }));
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Name: NAME, Overwrite: false });
    expect(answers[0]?.Status).toBe('SUCCESS');
    expect(answers[0]?.PhysicalResourceId).toBe(NAME);
  });

  // template.yaml's ServiceTimeout came after the resource: the first deploy with it is an Update.
  it('Update that only adds ServiceTimeout (CloudFormation sends it as a string) keeps the token', async () => {
    ssm.on(PutParameterCommand).rejects(new ParameterAlreadyExists({ message: 'exists', $metadata: {} }));
    const { handler, answers } = run();
    await handler(event('Update', { PhysicalResourceId: NAME, ResourceProperties: { ...props(), ServiceTimeout: '600' }, OldResourceProperties: props() }));
    expect(putInputs()).toEqual([expect.objectContaining({ Name: NAME, Overwrite: false })]);
    expect(putInputs()[0]).not.toHaveProperty('KeyId');
    expect(answers[0]).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: NAME });
  });

  it('Update restores a token that was deleted by hand', async () => {
    const { handler, answers } = run();
    await handler(event('Update', { PhysicalResourceId: NAME }));
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Name: NAME, Value: TOKEN, Overwrite: false });
    expect(answers[0]?.Status).toBe('SUCCESS');
  });

  it('Update to a new name writes the new parameter and returns the new physical id', async () => {
    const { handler, answers } = run();
    await handler(event('Update', { PhysicalResourceId: '/image-rewriter/old/webhook-token' }));
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Name: NAME, Overwrite: true });
    expect(answers[0]?.PhysicalResourceId).toBe(NAME);
  });

  it.each([
    { desc: 'its own parameter', physical: NAME, deletes: 1 },
    { desc: 'a resource whose Create failed', physical: 'WebhookToken-not-created', deletes: 0 },
  ])('Delete of $desc', async ({ physical, deletes }) => {
    const { handler, answers } = run();
    await handler(event('Delete', { PhysicalResourceId: physical }));
    expect(ssm).toHaveReceivedCommandTimes(DeleteParameterCommand, deletes);
    expect(answers[0]).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: physical });
  });

  it('Delete of a parameter already gone succeeds', async () => {
    ssm.on(DeleteParameterCommand).rejects(new ParameterNotFound({ message: 'gone', $metadata: {} }));
    const { handler, answers } = run();
    await handler(event('Delete', { PhysicalResourceId: NAME }));
    expect(answers[0]?.Status).toBe('SUCCESS');
  });

  it('an Update of the same parameter that SSM refuses (not because it exists) fails with the reason, logged as an error', async () => {
    ssm.on(PutParameterCommand).rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    const { handler, answers, logs } = run();
    await handler(event('Update', { PhysicalResourceId: NAME }));
    expect(answers).toEqual([expect.objectContaining({ Status: 'FAILED', PhysicalResourceId: NAME, Reason: `Update of the token parameter ${NAME} failed: AccessDeniedException: not allowed` })]);
    expect(logs).toEqual([expect.objectContaining({ level: 'ERROR', message: 'token resource', requestType: 'Update', status: 'FAILED', reason: answers[0]?.Reason })]);
    expect(JSON.stringify([answers, logs])).not.toContain(TOKEN);
  });

  it('a Delete that SSM refuses (not because the parameter is gone) fails with the reason and its physical id', async () => {
    ssm.on(DeleteParameterCommand).rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    const { handler, answers } = run();
    await handler(event('Delete', { PhysicalResourceId: NAME }));
    expect(answers).toEqual([expect.objectContaining({ Status: 'FAILED', PhysicalResourceId: NAME, Reason: `Delete of the token parameter ${NAME} failed: AccessDeniedException: not allowed` })]);
  });

  it('an Update to properties that cannot be used fails and keeps the physical id of the parameter it has', async () => {
    const { handler, answers } = run();
    await handler(event('Update', { PhysicalResourceId: NAME, ResourceProperties: { ParameterName: 'token' } }));
    expect(answers).toEqual([expect.objectContaining({ Status: 'FAILED', PhysicalResourceId: NAME })]);
    expect(ssm).toHaveReceivedCommandTimes(PutParameterCommand, 0);
  });

  it('answers FAILED with the reason when SSM refuses (so the stack does not wait an hour)', async () => {
    ssm.on(PutParameterCommand).rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    const { handler, answers } = run();
    await handler(event('Create'));
    expect(answers).toEqual([expect.objectContaining({ Status: 'FAILED', PhysicalResourceId: 'WebhookToken-not-created' })]);
    expect(answers[0]?.Reason).toBe(`Create of the token parameter ${NAME} failed: AccessDeniedException: not allowed`);
  });

  it.each([
    ['a little left (100 ms)', 100, 50],
    ['a fraction of a millisecond more (101.5 ms; AbortSignal.timeout takes whole ones)', 101.5, 50],
    ['none left (0)', 0, 0],
    ['less than none (-20)', -20, 0],
  ])('an SSM call that never answers, with %s of the function\'s time: FAILED with the reason, sent before the Timeout', async (_desc, remaining, budget) => {
    // A client that answers only when its call is aborted, as the SDK does. Before, the call held the
    // function until its Timeout, which answers nothing: the deploy waited ServiceTimeout (10 minutes).
    const client = new SSMClient({ region: 'us-west-2' });
    const hang = (_command: unknown, options?: { abortSignal?: AbortSignal }): Promise<never> =>
      new Promise((_resolve, reject) => {
        options?.abortSignal?.addEventListener('abort', () => {
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        });
      });
    client.send = hang as typeof client.send;
    const answers: TokenResourceResponse[] = [];
    const handler = createTokenResource({ ssm: () => Promise.resolve(client), respond: (_url, r) => Promise.resolve(void answers.push(r)), newToken: () => TOKEN, log: () => undefined });
    const started = performance.now();
    await handler(event('Create'), { getRemainingTimeInMillis: () => remaining });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(answers).toEqual([expect.objectContaining({ Status: 'FAILED', PhysicalResourceId: 'WebhookToken-not-created' })]);
    expect(answers[0]?.Reason).toBe(`Create of the token parameter ${NAME} failed: SSM did not answer within ${budget} ms (the function's remaining time, less what it keeps to send this answer)`);
  });

  it.each([
    ['a Delete', event('Delete', { PhysicalResourceId: NAME }), NAME],
    ['an Update that moves the token to another KMS key (it reads the stored token first)', event('Update', { PhysicalResourceId: NAME, ResourceProperties: props(KEY), OldResourceProperties: props() }), NAME],
  ])('%s whose SSM call never answers: FAILED with the reason, sent before the Timeout', async (_desc, request, physicalId) => {
    const client = new SSMClient({ region: 'us-west-2' });
    // Only a call given the deadline's signal ends; one without it would hang the test.
    client.send = ((_command: unknown, options?: { abortSignal?: AbortSignal }): Promise<never> =>
      new Promise((_resolve, reject) => {
        options?.abortSignal?.addEventListener('abort', () => {
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        });
      })) as typeof client.send;
    const answers: TokenResourceResponse[] = [];
    const handler = createTokenResource({ ssm: () => Promise.resolve(client), respond: (_url, r) => Promise.resolve(void answers.push(r)), newToken: () => TOKEN, log: () => undefined });
    await handler(request, { getRemainingTimeInMillis: () => 100 });
    expect(answers).toEqual([expect.objectContaining({ Status: 'FAILED', PhysicalResourceId: physicalId })]);
    expect(answers[0]?.Reason).toMatch(/ failed: SSM did not answer within 50 ms \(the function.s remaining time/);
  });

  it.each([
    ['a minute left (the template\'s Timeout)', { getRemainingTimeInMillis: () => 60_000 }, 55_000],
    ['no Lambda context', undefined, 55_000],
    ['more than Lambda\'s longest Timeout left', { getRemainingTimeInMillis: () => 2_000_000 }, 900_000],
  ])('with %s, the SSM calls get the time less what answering takes', async (_desc, context, budget) => {
    // The deadline's signal already aborted, so that the test need not wait it out: the Reason names the bound.
    const timeout = jest.spyOn(AbortSignal, 'timeout').mockImplementation(() => AbortSignal.abort());
    try {
      const client = new SSMClient({ region: 'us-west-2' });
      client.send = ((_command: unknown, options?: { abortSignal?: AbortSignal }): Promise<never> =>
        Promise.reject(Object.assign(new Error('Request aborted'), { name: options?.abortSignal?.aborted === true ? 'AbortError' : 'Unexpected' }))) as typeof client.send;
      const answers: TokenResourceResponse[] = [];
      const handler = createTokenResource({ ssm: () => Promise.resolve(client), respond: (_url, r) => Promise.resolve(void answers.push(r)), newToken: () => TOKEN, log: () => undefined });
      await handler(event('Create'), context);
      expect(timeout).toHaveBeenCalledWith(budget);
      expect(answers[0]?.Reason).toBe(`Create of the token parameter ${NAME} failed: SSM did not answer within ${budget} ms (the function's remaining time, less what it keeps to send this answer)`);
    } finally {
      timeout.mockRestore();
    }
  });

  it.each([
    { desc: 'missing', props: {} },
    { desc: 'not a path', props: { ParameterName: 'token' } },
    { desc: 'not a string', props: { ParameterName: 42 } },
    { desc: 'a list holding a path', props: { ParameterName: [NAME] } },
    { desc: 'a path followed by a character SSM does not allow', props: { ParameterName: `${NAME} x` } },
    { desc: 'a path followed by a line break', props: { ParameterName: `${NAME}\n` } },
    { desc: 'a path longer than SSM allows', props: { ParameterName: `/${'a'.repeat(1011)}` } },
  ])('refuses a ParameterName that is $desc, and deletes nothing for it', async ({ props }) => {
    const { handler, answers } = run();
    await handler(event('Create', { ResourceProperties: props }));
    await handler(event('Delete', { ResourceProperties: props, PhysicalResourceId: 'WebhookToken-not-created' }));
    expect(answers.map((a) => a.Status)).toEqual(['FAILED', 'SUCCESS']);
    // A Delete answers with the physical id it was given (CloudFormation's own, from the failed Create).
    expect(answers.map((a) => a.PhysicalResourceId)).toEqual(['WebhookToken-not-created', 'WebhookToken-not-created']);
    expect(ssm).toHaveReceivedCommandTimes(PutParameterCommand, 0);
    expect(ssm).toHaveReceivedCommandTimes(DeleteParameterCommand, 0);
  });

  it('logs and returns on something that is not a custom resource event', async () => {
    const { handler, answers, logs } = run();
    await handler({ RequestType: 'Explode' });
    await handler(null);
    // Without a ResponseURL there is no one to answer.
    await handler(event('Create', { ResponseURL: '' }));
    expect(answers).toEqual([]);
    expect(ssm).toHaveReceivedCommandTimes(PutParameterCommand, 0);
    expect(logs.map((l) => l['message'])).toEqual(Array.from({ length: 3 }, () => 'not a CloudFormation custom resource event'));
  });

  it('generates 43-character base64url tokens (the webhook accepts them as URL path segments)', () => {
    const tokens = new Set(Array.from({ length: 50 }, newToken));
    expect(tokens.size).toBe(50);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('PUTs the answer as JSON without a content type (what the pre-signed URL was signed for)', async () => {
    const seen: { method: string | undefined; type: string | undefined; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method, type: req.headers['content-type'], body });
        res.statusCode = seen.length === 1 ? 200 : 403;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/answer?X-Amz-Signature=x`;
    const response: TokenResourceResponse = { Status: 'SUCCESS', PhysicalResourceId: NAME, StackId: 's', RequestId: 'r', LogicalResourceId: 'l', NoEcho: true };
    try {
      await putResponse(url, response);
      await expect(putResponse(url, response)).rejects.toThrow('the ResponseURL answered 403');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(seen[0]).toEqual({ method: 'PUT', type: '', body: JSON.stringify(response) });
  });
});

describe('token custom resource: a customer managed KMS key (KmsKeyId)', () => {
  it('Create encrypts with the key when one is given, and sends no KeyId without one (aws/ssm, as before)', async () => {
    const { handler, answers } = run();
    await handler(event('Create', { ResourceProperties: props(KEY) }));
    await handler(event('Create', { ResourceProperties: props() }));
    await handler(event('Create', { ResourceProperties: props('') }));
    const [withKey, without, blank] = putInputs();
    expect(withKey).toMatchObject({ Name: NAME, Type: 'SecureString', Value: TOKEN, Overwrite: true, KeyId: KEY });
    expect(without).not.toHaveProperty('KeyId');
    expect(blank).not.toHaveProperty('KeyId');
    expect(answers.map((a) => a.Status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
  });

  it('reads a KmsKeyId trimmed: blank is aws/ssm, and spaces around an ARN are not part of it', async () => {
    const { handler, answers } = run();
    await handler(event('Create', { ResourceProperties: props('  ') }));
    await handler(event('Create', { ResourceProperties: props(` ${KEY}\n`) }));
    // The same key, spaced otherwise: nothing to re-encrypt.
    await handler(event('Update', { PhysicalResourceId: NAME, ResourceProperties: props(KEY), OldResourceProperties: props(` ${KEY} `) }));
    const [blank, spaced, update] = putInputs();
    expect(blank).not.toHaveProperty('KeyId');
    expect(spaced).toMatchObject({ KeyId: KEY });
    expect(update).toMatchObject({ Overwrite: false, KeyId: KEY });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 0);
    expect(answers.map((a) => a.Status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
  });

  it('Update with the same key keeps the token and restores a deleted one under that key', async () => {
    const { handler } = run();
    await handler(event('Update', { PhysicalResourceId: NAME, ResourceProperties: props(KEY), OldResourceProperties: props(KEY) }));
    expect(putInputs()).toEqual([expect.objectContaining({ Overwrite: false, KeyId: KEY })]);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 0);
  });

  it.each([
    { desc: 'aws/ssm -> a key', old: undefined, now: KEY, keyId: KEY },
    { desc: 'a key -> another key', old: KEY, now: OTHER_KEY, keyId: OTHER_KEY },
    { desc: 'a key -> aws/ssm (named: an overwrite without KeyId may keep the old key)', old: KEY, now: undefined, keyId: 'alias/aws/ssm' },
  ])('Update that changes the key re-encrypts the same token: $desc', async ({ old, now, keyId }) => {
    const { handler, answers, logs } = run();
    await handler(event('Update', { PhysicalResourceId: NAME, ResourceProperties: props(now), OldResourceProperties: props(old) }));
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: NAME, WithDecryption: true });
    expect(putInputs()).toEqual([expect.objectContaining({ Name: NAME, Type: 'SecureString', Value: STORED, Overwrite: true, KeyId: keyId })]);
    expect(answers).toEqual([expect.objectContaining({ Status: 'SUCCESS', PhysicalResourceId: NAME })]);
    expect(JSON.stringify([answers, logs])).not.toContain(STORED);
  });

  // A new token here would break every cluster's webhook URL, and an AccessDenied may be this same
  // deploy's IAM grant not yet in effect: the Update fails, CloudFormation rolls back.
  it('a token the role cannot decrypt under its previous key fails the Update and is never replaced', async () => {
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('not authorized to perform kms:Decrypt'), { name: 'AccessDeniedException' }));
    const { handler, answers } = run();
    await handler(event('Update', { PhysicalResourceId: NAME, ResourceProperties: props(), OldResourceProperties: props(KEY) }));
    expect(ssm).toHaveReceivedCommandTimes(PutParameterCommand, 0);
    expect(answers[0]?.Status).toBe('FAILED');
    expect(answers[0]?.Reason).toMatch(/cannot read the token under its previous key to re-encrypt it \(AccessDeniedException: not authorized to perform kms:Decrypt\); the token is unchanged/);
  });

  it('a parameter deleted by hand gets a new token under the new key, without a WARN', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'gone', $metadata: {} }));
    const { handler, logs } = run();
    await handler(event('Update', { PhysicalResourceId: NAME, ResourceProperties: props(KEY), OldResourceProperties: props() }));
    expect(putInputs()).toEqual([expect.objectContaining({ Value: TOKEN, KeyId: KEY })]);
    expect(logs.filter((l) => l['level'] === 'WARN')).toEqual([]);
  });

  it('a passing fault of that read fails the Update and never replaces the token', async () => {
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    const { handler, answers } = run();
    await handler(event('Update', { PhysicalResourceId: NAME, ResourceProperties: props(OTHER_KEY), OldResourceProperties: props(KEY) }));
    expect(ssm).toHaveReceivedCommandTimes(PutParameterCommand, 0);
    expect(answers[0]).toMatchObject({ Status: 'FAILED', PhysicalResourceId: NAME });
    expect(answers[0]?.Reason).toMatch(/^Update of the token parameter \/image-rewriter\/my-stack\/webhook-token failed: Error: cannot read the token under its previous key to re-encrypt it \(ThrottlingException: slow down\); the token is unchanged/);
  });

  it('a new ParameterName is written under the key (the old one is deleted by CloudFormation)', async () => {
    const { handler } = run();
    await handler(event('Update', { PhysicalResourceId: '/image-rewriter/old/webhook-token', ResourceProperties: props(KEY), OldResourceProperties: props() }));
    expect(putInputs()).toEqual([expect.objectContaining({ Name: NAME, Value: TOKEN, Overwrite: true, KeyId: KEY })]);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 0);
  });

  it('refuses a KmsKeyId that is not a string rather than falling back to aws/ssm; a Delete still deletes', async () => {
    const { handler, answers } = run();
    await handler(event('Create', { ResourceProperties: { ParameterName: NAME, KmsKeyId: ['k'] } }));
    await handler(event('Delete', { PhysicalResourceId: NAME, ResourceProperties: { ParameterName: NAME, KmsKeyId: 42 } }));
    expect(answers.map((a) => [a.Status, a.Reason])).toEqual([['FAILED', 'KmsKeyId must be a KMS key ARN (a string)'], ['SUCCESS', undefined]]);
    expect(ssm).toHaveReceivedCommandTimes(PutParameterCommand, 0);
    expect(ssm).toHaveReceivedCommandTimes(DeleteParameterCommand, 1);
  });
});
