/**
 * The Lambda entry's AWS reads against a real AWS API emulator (moto server on 127.0.0.1): the
 * rules from an SSM SecureString with a 1 s TTL, the token from Secrets Manager or from an SSM
 * SecureString, among them the one the template's deploy-time custom resource
 * (src/lambda/token-resource.ts) writes. Every scenario runs twice: src/lambda/main.ts in process, and dist/handler.js under the
 * Runtime Interface Emulator (the closest thing to production here). Polls are bounded. The
 * custom resource with KmsKeyArn (keys made in moto's KMS) runs once, in process: moto records a
 * SecureString's KeyId but enforces no IAM or key policy, so what it shows is the key each write
 * names and that the token survives a change of key.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, DescribeParametersCommand, GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { createTokenResource, type TokenResourceResponse } from '../../src/lambda/token-resource.js';
import { EVENT_TOKEN, type JsonObject, loadEvent } from '../helpers/events.js';
import { awsEnvFor, DUMMY_CREDENTIALS, type Moto, MOTO_REGION, startMoto } from './helpers/moto.js';
import { eventually } from './helpers/processes.js';
import { type Answer, startInProcess, type StartWebhook, startUnderRie, startedInBlock, type Webhook } from './helpers/webhook.js';

const RULES_PARAMETER = '/image-rewriter/rules';
const TOKEN_PARAMETER = '/image-rewriter/token';
const TOKEN_SECRET = 'image-rewriter/webhook-token';
const TTL_SECONDS = 1;
/** Bound of every wait for the function to notice a change (TTL 1 s; a loaded machine). */
const NOTICE_WITHIN_MS = 30_000;

/** events/rest-pod-v1.json: its first container is gcr.io/google-samples/hello-app:2.0. */
const EVENT = 'rest-pod-v1.json';
const IMAGE = '/spec/containers/0/image';
const rulesTo = (registry: string): string => `rules:\n  - name: gcr-to-${registry.split('.')[0] ?? 'x'}\n    match: gcr.io\n    replace: ${registry}\n`;
const INVALID_RULES = 'rules:\n  - name: no-replace\n    match: gcr.io\n';

let moto: Moto | undefined;
const aws = (): Moto => {
  if (moto === undefined) throw new Error('moto did not start (see the error of beforeAll)');
  return moto;
};

beforeAll(async () => {
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
});

/** The environment every function gets: moto's endpoint and dummy credentials. */
const awsEnv = (): Record<string, string> => awsEnvFor(aws().url);

async function putRules(value: string, name = RULES_PARAMETER): Promise<string> {
  const out = await aws().ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Overwrite: true }));
  return String(out.Version);
}

const isRecord = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function responseOf(answer: Answer): JsonObject {
  expect(answer.statusCode).toBe(200);
  const response = answer.body['response'];
  if (!isRecord(response)) throw new Error(`no response in ${JSON.stringify(answer.body)}`);
  expect(response['allowed']).toBe(true);
  return response;
}

/** The image the answer's patch puts at IMAGE, or undefined when the patch does not touch it. */
function rewrittenImage(answer: Answer): string | undefined {
  const patch = responseOf(answer)['patch'];
  if (patch === undefined) return undefined;
  if (typeof patch !== 'string') throw new Error('patch is not a string');
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { op: string; path: string; value?: unknown }[];
  const op = ops.find((o) => o.path === IMAGE);
  return typeof op?.value === 'string' ? op.value : undefined;
}

const logged = (fn: Webhook, message: string, fields: JsonObject = {}): boolean => fn.logs().some((l) => l['message'] === message && Object.entries(fields).every(([k, v]) => l[k] === v));

/** The function of one describe block, started with the environment `prepare` returns (after setting up moto). */
function startedFor(start: StartWebhook, prepare: () => Promise<Record<string, string>>): () => Webhook {
  return startedInBlock(async () => start(await prepare()));
}

describe.each<[string, StartWebhook]>([
  ['src/lambda/main.ts in process', startInProcess],
  ['dist/handler.js under RIE', startUnderRie],
])('%s against moto', (_label, start) => {
  describe('rules in an SSM SecureString (TTL 1 s), token in Secrets Manager', () => {
    const webhook = startedFor(start, async () => {
      await aws().reset();
      await putRules(rulesTo('eu.gcr.io'));
      const secret = await aws().secrets.send(new CreateSecretCommand({ Name: TOKEN_SECRET, SecretString: EVENT_TOKEN }));
      if (secret.ARN === undefined) throw new Error('moto returned no secret ARN');
      return {
        ...awsEnv(),
        REWRITE_RULES_PARAMETER: RULES_PARAMETER,
        REWRITE_RULES_TTL_SECONDS: String(TTL_SECONDS),
        WEBHOOK_TOKEN_SECRET_ARN: secret.ARN,
      };
    });

    it('applies the rules from SSM and checks the token from Secrets Manager', async () => {
      expect(rewrittenImage(await webhook().call(EVENT))).toBe('eu.gcr.io/google-samples/hello-app:2.0');
      expect((await webhook().call('rest-wrong-token.json')).statusCode).toBe(401);
      expect(logged(webhook(), 'rules loaded', { source: `ssm:${RULES_PARAMETER}`, version: '1' })).toBe(true);
    });

    it('picks up a new valid document after the TTL', async () => {
      const version = await putRules(rulesTo('us.gcr.io'));
      await eventually('the new rules to apply', NOTICE_WITHIN_MS, async () =>
        rewrittenImage(await webhook().call(EVENT)) === 'us.gcr.io/google-samples/hello-app:2.0' ? true : undefined,
      );
      expect(logged(webhook(), 'rules loaded', { source: `ssm:${RULES_PARAMETER}`, version })).toBe(true);
    });

    it('keeps the last good rules when the parameter gets an invalid document', async () => {
      const version = await putRules(INVALID_RULES);
      await eventually('the invalid document to be read', NOTICE_WITHIN_MS, async () => {
        expect(rewrittenImage(await webhook().call(EVENT))).toBe('us.gcr.io/google-samples/hello-app:2.0');
        return logged(webhook(), 'rules document is invalid', { version }) ? true : undefined;
      });
      expect(logged(webhook(), 'keeping the last good rules')).toBe(true);
      // Still the last good rules after more TTLs.
      await sleep(TTL_SECONDS * 1000 + 200);
      expect(rewrittenImage(await webhook().call(EVENT))).toBe('us.gcr.io/google-samples/hello-app:2.0');
    });

    it('keeps the last good rules when the parameter is deleted', async () => {
      await aws().ssm.send(new DeleteParameterCommand({ Name: RULES_PARAMETER }));
      await eventually('the failed read to be logged', NOTICE_WITHIN_MS, async () => {
        expect(rewrittenImage(await webhook().call(EVENT))).toBe('us.gcr.io/google-samples/hello-app:2.0');
        return logged(webhook(), 'cannot read the rules parameter', { errorCode: 'ParameterNotFound' }) ? true : undefined;
      });
      expect(rewrittenImage(await webhook().call(EVENT))).toBe('us.gcr.io/google-samples/hello-app:2.0');
    });
  });

  describe('a cold start while the rules parameter does not exist', () => {
    const webhook = startedFor(start, async () => {
      await aws().reset();
      return { ...awsEnv(), REWRITE_RULES_PARAMETER: RULES_PARAMETER, REWRITE_RULES_TTL_SECONDS: String(TTL_SECONDS), WEBHOOK_TOKEN: EVENT_TOKEN };
    });

    it('fails open: allowed, no patch, a warning saying why', async () => {
      const response = responseOf(await webhook().call(EVENT));
      expect(response['patch']).toBeUndefined();
      expect(response['patchType']).toBeUndefined();
      expect(response['warnings']).toEqual(
        expect.arrayContaining([`image-rewriter: images not rewritten: rules parameter ${RULES_PARAMETER} could not be read (ParameterNotFound)`]),
      );
      expect(logged(webhook(), 'cannot read the rules parameter', { errorCode: 'ParameterNotFound' })).toBe(true);
      expect(logged(webhook(), 'admission reviewed', { level: 'WARN', outcome: 'failopen' })).toBe(true);
    });

    it('applies the rules once the parameter exists (after the retry backoff)', async () => {
      await putRules(rulesTo('eu.gcr.io'));
      await eventually('the rules to apply', NOTICE_WITHIN_MS, async () =>
        rewrittenImage(await webhook().call(EVENT)) === 'eu.gcr.io/google-samples/hello-app:2.0' ? true : undefined,
      );
    });
  });

  describe('token written by the deploy-time custom resource (the template: WEBHOOK_TOKEN_PARAMETER)', () => {
    const NAME = '/image-rewriter/image-rewriter/webhook-token';
    const { resource, answers, cfnEvent } = tokenResourceOnMoto(NAME);
    const webhook = startedFor(start, async () => {
      await aws().reset();
      answers.length = 0;
      await resource(cfnEvent('Create'));
      return { ...awsEnv(), REWRITE_RULES: EXAMPLE_RULES, WEBHOOK_TOKEN: '', WEBHOOK_TOKEN_PARAMETER: NAME };
    });

    it('writes a SecureString the function reads at its cold start', async () => {
      expect(answers).toEqual([expect.objectContaining({ Status: 'SUCCESS', PhysicalResourceId: NAME })]);
      const stored = await aws().ssm.send(new GetParameterCommand({ Name: NAME }));
      expect(stored.Parameter?.Type).toBe('SecureString');
      expect(rewrittenImage(await webhook().call(EVENT))).toBe('asia.gcr.io/google-samples/hello-app:2.0');
      expect((await webhook().call('rest-wrong-token.json')).statusCode).toBe(401);
      expect(logged(webhook(), 'configuration', { token: `ssm:${NAME}` })).toBe(true);
    });

    it('deletes the parameter when the stack is deleted', async () => {
      await resource(cfnEvent('Delete'));
      expect(answers.at(-1)).toMatchObject({ Status: 'SUCCESS' });
      await expect(aws().ssm.send(new GetParameterCommand({ Name: NAME }))).rejects.toMatchObject({ name: 'ParameterNotFound' });
    });
  });

  describe('token in an SSM SecureString (WEBHOOK_TOKEN_PARAMETER)', () => {
    const webhook = startedFor(start, async () => {
      await aws().reset();
      await aws().ssm.send(new PutParameterCommand({ Name: TOKEN_PARAMETER, Value: EVENT_TOKEN, Type: 'SecureString' }));
      return { ...awsEnv(), REWRITE_RULES: EXAMPLE_RULES, WEBHOOK_TOKEN_PARAMETER: TOKEN_PARAMETER };
    });

    it('answers requests carrying that token and rejects the others', async () => {
      expect(rewrittenImage(await webhook().call(EVENT))).toBe('asia.gcr.io/google-samples/hello-app:2.0');
      const rejected = await webhook().call('rest-wrong-token.json');
      expect(rejected.statusCode).toBe(401);
      expect(rejected.body).toEqual({ message: 'unauthorized' });
      expect(logged(webhook(), 'configuration', { token: `ssm:${TOKEN_PARAMETER}` })).toBe(true);
    });
  });

  describe('a token rotation: the SSM SecureString holds the new token, a comma, then the old one', () => {
    const NEW_TOKEN = 'rotated-token-fedcba9876543210';
    const webhook = startedFor(start, async () => {
      await aws().reset();
      await aws().ssm.send(new PutParameterCommand({ Name: TOKEN_PARAMETER, Value: `${NEW_TOKEN},${EVENT_TOKEN}`, Type: 'SecureString' }));
      return { ...awsEnv(), REWRITE_RULES: EXAMPLE_RULES, WEBHOOK_TOKEN_PARAMETER: TOKEN_PARAMETER };
    });
    const withToken = (token: string): JsonObject => {
      const event = loadEvent(EVENT);
      return { ...event, path: `/mutate/${token}`, pathParameters: { token } };
    };

    it('accepts both; a review with the old one says so in its line; any other token gets 401', async () => {
      expect(rewrittenImage(await webhook().call(withToken(NEW_TOKEN)))).toBe('asia.gcr.io/google-samples/hello-app:2.0');
      expect(rewrittenImage(await webhook().call(EVENT))).toBe('asia.gcr.io/google-samples/hello-app:2.0');
      for (const wrong of [`${NEW_TOKEN},${EVENT_TOKEN}`, `${NEW_TOKEN}x`, 'rest-wrong-token.json']) {
        const answer = await webhook().call(wrong.endsWith('.json') ? wrong : withToken(wrong));
        expect(answer.statusCode).toBe(401);
      }
      const reviews = webhook()
        .logs()
        .filter((l) => l['message'] === 'admission reviewed');
      expect(reviews.map((l) => l['previousToken'])).toEqual([undefined, true]);
      expect(logged(webhook(), 'configuration', { token: `ssm:${TOKEN_PARAMETER}`, tokens: 2 })).toBe(true);
      const text = JSON.stringify(webhook().logs());
      expect(text).not.toContain(NEW_TOKEN);
      expect(text).not.toContain(EVENT_TOKEN);
    });
  });
});

/**
 * The token custom resource writing parameter `name` to moto's SSM, the answers it gives
 * CloudFormation, and its events as CloudFormation sends them (as template.yaml sets them: no
 * KmsKeyId at all without a key).
 */
function tokenResourceOnMoto(name: string): {
  resource: ReturnType<typeof createTokenResource>;
  answers: TokenResourceResponse[];
  cfnEvent: (type: 'Create' | 'Update' | 'Delete', key?: string, oldKey?: string) => Record<string, unknown>;
} {
  const answers: TokenResourceResponse[] = [];
  const resource = createTokenResource({
    ssm: () => Promise.resolve(aws().ssm),
    respond: (_url, r) => {
      answers.push(r);
      return Promise.resolve();
    },
    // The sample events carry EVENT_TOKEN; the resource's own generator is unit-tested.
    newToken: () => EVENT_TOKEN,
    log: () => undefined,
  });
  const properties = (key: string | undefined): Record<string, unknown> => ({ ParameterName: name, ...(key === undefined ? {} : { KmsKeyId: key }) });
  const cfnEvent = (type: 'Create' | 'Update' | 'Delete', key?: string, oldKey?: string): Record<string, unknown> => ({
    RequestType: type,
    ResponseURL: 'https://example.invalid/answer',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/image-rewriter/guid',
    RequestId: `req-${type}`,
    LogicalResourceId: 'WebhookToken',
    PhysicalResourceId: name,
    ResourceProperties: properties(key),
    ...(type === 'Update' ? { OldResourceProperties: properties(oldKey) } : {}),
  });
  return { resource, answers, cfnEvent };
}

describe('the token custom resource with KmsKeyArn, against moto (SSM and KMS)', () => {
  const NAME = '/image-rewriter/image-rewriter/webhook-token';
  const { resource, answers, cfnEvent } = tokenResourceOnMoto(NAME);

  /** A symmetric key made in moto's KMS (JSON protocol; moto routes by the credential scope and checks no signature). */
  async function createKey(): Promise<string> {
    const res = await fetch(aws().url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'TrentService.CreateKey',
        authorization: `AWS4-HMAC-SHA256 Credential=${DUMMY_CREDENTIALS.accessKeyId}/20250101/${MOTO_REGION}/kms/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: JSON.stringify({ Description: 'image-rewriter test key' }),
    });
    const arn = ((await res.json()) as { KeyMetadata?: { Arn?: string } }).KeyMetadata?.Arn;
    if (!res.ok || arn === undefined) throw new Error(`moto CreateKey answered ${String(res.status)}`);
    return arn;
  }

  const stored = async (): Promise<{ keyId: string | undefined; value: string | undefined }> => {
    const described = await aws().ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Values: [NAME] }] }));
    const got = await aws().ssm.send(new GetParameterCommand({ Name: NAME, WithDecryption: true }));
    return { keyId: described.Parameters?.[0]?.KeyId, value: got.Parameter?.Value };
  };

  const keys: string[] = [];
  beforeAll(async () => {
    await aws().reset();
    keys.push(await createKey(), await createKey());
  });

  it('Create without a key leaves the AWS managed key; with one, the SecureString is encrypted with it', async () => {
    await resource(cfnEvent('Create', undefined));
    expect(await stored()).toEqual({ keyId: 'alias/aws/ssm', value: EVENT_TOKEN });
    await aws().ssm.send(new DeleteParameterCommand({ Name: NAME }));
    await resource(cfnEvent('Create', keys[0]));
    expect(await stored()).toEqual({ keyId: keys[0], value: EVENT_TOKEN });
    expect(answers.map((a) => a.Status)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  it('a change of key re-encrypts the same token (the webhook URL stays valid), and back to aws/ssm', async () => {
    await aws().ssm.send(new PutParameterCommand({ Name: NAME, Value: 'kept-token-0123456789abcdefghijklmnopqrstuvw', Type: 'SecureString', KeyId: keys[0], Overwrite: true }));
    await resource(cfnEvent('Update', keys[1], keys[0]));
    expect(await stored()).toEqual({ keyId: keys[1], value: 'kept-token-0123456789abcdefghijklmnopqrstuvw' });
    await resource(cfnEvent('Update', undefined, keys[1]));
    expect(await stored()).toEqual({ keyId: 'alias/aws/ssm', value: 'kept-token-0123456789abcdefghijklmnopqrstuvw' });
    expect(answers.slice(-2).map((a) => a.Status)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  it('the webhook reads the token the resource encrypted with the key', async () => {
    // A new stack: an overwrite without KeyId keeps the old key in moto, which must not decide this.
    await aws().ssm.send(new DeleteParameterCommand({ Name: NAME }));
    await resource(cfnEvent('Create', keys[0]));
    expect(await stored()).toEqual({ keyId: keys[0], value: EVENT_TOKEN });
    const webhook = await startInProcess({ ...awsEnv(), REWRITE_RULES: EXAMPLE_RULES, WEBHOOK_TOKEN: '', WEBHOOK_TOKEN_PARAMETER: NAME });
    try {
      expect(rewrittenImage(await webhook.call(EVENT))).toBe('asia.gcr.io/google-samples/hello-app:2.0');
      expect((await webhook.call('rest-wrong-token.json')).statusCode).toBe(401);
    } finally {
      await webhook.stop();
    }
  });
});
