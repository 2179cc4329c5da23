/**
 * The Lambda entry's lazy SDK clients: a client that cannot be built (here the SSM client's
 * constructor throws once, as a broken runtime configuration would) is a failed read of the rules,
 * answered fail-open, and the client is built again at the retry instead of the failure being kept.
 * The SDK package is replaced by a stand-in with the two exports src/ uses.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { RETRY_BASE_MS } from '../../src/config/sources.js';
import { EVENT_TOKEN, loadEvent } from '../helpers/events.js';

const RULES = 'rules:\n  - name: eu\n    match: gcr.io\n    replace: eu.gcr.io\n';
let constructed = 0;
let sent = 0;

jest.unstable_mockModule('@aws-sdk/client-ssm', () => ({
  GetParameterCommand: class {
    readonly input: unknown;
    constructor(input: unknown) {
      this.input = input;
    }
  },
  SSMClient: class {
    constructor() {
      constructed++;
      if (constructed === 1) throw new Error('stand-in: the first client cannot be built');
    }
    send(): Promise<unknown> {
      sent++;
      return Promise.resolve({ Parameter: { Name: '/image-rewriter/rules', Value: RULES, Version: 1 } });
    }
  },
}));

const saved = { ...process.env };
let handler: (event: unknown) => Promise<{ statusCode: number; body: string }>;

interface Answer {
  readonly response: { readonly patch?: string; readonly warnings?: readonly string[] };
}
const answer = async (): Promise<Answer> => JSON.parse((await handler(loadEvent('rest-deployment-v1.json'))).body) as Answer;

beforeAll(async () => {
  Object.assign(process.env, { AWS_REGION: 'us-west-2', REWRITE_RULES_PARAMETER: '/image-rewriter/rules', WEBHOOK_TOKEN: EVENT_TOKEN });
  delete process.env['REWRITE_RULES'];
  delete process.env['WEBHOOK_TOKEN_SECRET_ARN'];
  for (const stream of [process.stdout, process.stderr]) jest.spyOn(stream, 'write').mockImplementation(() => true);
  ({ handler } = await import('../../src/lambda/main.js'));
});

afterAll(() => {
  jest.restoreAllMocks();
  process.env = saved;
});

describe('src/lambda/main.ts when the SSM client cannot be built at first', () => {
  it('answers fail-open, then builds the client again at the retry and applies the rules', async () => {
    expect(constructed).toBe(1);
    expect(sent).toBe(0);
    const first = await answer();
    expect(first.response.patch).toBeUndefined();
    expect(first.response.warnings?.join('\n')).toContain('images not rewritten');

    await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS + 100));
    const later = await answer();
    expect(constructed).toBe(2);
    expect(sent).toBe(1);
    expect(Buffer.from(later.response.patch ?? '', 'base64').toString('utf8')).toContain('eu.gcr.io/nginx');
  });
});
