/**
 * The Lambda entry (src/lambda/main.ts, bundled to dist/handler.js): built from process.env at import,
 * then one handler for every invocation. Its Logger and Metrics write to stdout and stderr, one
 * `fs.writeSync` per text (src/observability/stdio-write.ts): the system calls are captured here.
 * With inline rules and token it must not load the AWS SDK (most of a cold start): the SDK's
 * client packages are replaced here by modules that record being imported.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';

const saved = { ...process.env };
const written: string[] = [];
/** Each write to stdout, as given. */
const stdoutWrites: string[] = [];
const sdkImported: string[] = [];
for (const name of ['@aws-sdk/client-ssm', '@aws-sdk/client-secrets-manager']) {
  jest.unstable_mockModule(name, () => {
    sdkImported.push(name);
    return {};
  });
}
// node:fs as it is (taken past Jest's registry), but for writes to descriptors 1 and 2: each
// is a system call of the entry's logs (src/observability/stdio-write.ts), recorded and taken whole.
const realFs = process.getBuiltinModule('node:fs');
const writeSync = (fd: number, data: string | Uint8Array, ...rest: never[]): number => {
  if (fd !== 1 && fd !== 2) return typeof data === 'string' ? realFs.writeSync(fd, data, ...rest) : realFs.writeSync(fd, data, ...rest);
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  written.push(text);
  if (fd === 1) stdoutWrites.push(text);
  return Buffer.byteLength(text);
};
jest.unstable_mockModule('node:fs', () => ({ ...realFs, default: { ...realFs, writeSync }, writeSync }));
// Imported after the mock: a module that loads node:fs before it would get the real one.
const { EXAMPLE_RULES } = await import('../../src/cli/invoke.js');
const { EVENT_TOKEN, eventReview, loadEvent } = await import('../helpers/events.js');
let handler: (event: unknown) => Promise<{ statusCode: number; body: string }>;

beforeAll(async () => {
  process.env['REWRITE_RULES'] = EXAMPLE_RULES;
  process.env['WEBHOOK_TOKEN'] = EVENT_TOKEN;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'INFO';
  // The logger writes WARN and above to stderr (as Powertools does), the rest (and EMF) to stdout:
  // Lambda keeps both. Nothing may reach the streams themselves (their bytes would be queued).
  for (const stream of [process.stdout, process.stderr]) {
    jest.spyOn(stream, 'write').mockImplementation(() => {
      throw new Error('written to the stream, not the descriptor');
    });
  }
  ({ handler } = await import('../../src/lambda/main.js'));
});

afterAll(() => {
  jest.restoreAllMocks();
  process.env = saved;
});

const lines = (): Record<string, unknown>[] =>
  written
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('src/lambda/main.ts', () => {
  it('loads REWRITE_RULES and the token at import, and answers the demo event', async () => {
    const startup = lines().map((l) => l['message']);
    expect(startup).toEqual(['rules loaded', 'configuration']);
    const result = await handler(loadEvent('rest-pod-v1beta1-demo.json'));
    expect(result.statusCode).toBe(200);
    const body = JSON.parse(result.body) as { response: { uid: string; patch: string } };
    expect(body.response.uid).toBe((eventReview(loadEvent('rest-pod-v1beta1-demo.json'))['request'] as { uid: string }).uid);
    expect(Buffer.from(body.response.patch, 'base64').toString('utf8')).toContain('asia.gcr.io/nginx:latest');
    expect((await handler(loadEvent('rest-wrong-token.json'))).statusCode).toBe(401);
  });

  it('does not load the AWS SDK when the rules and the token are inline', () => {
    expect(sdkImported).toEqual([]);
  });

  it('writes JSON logs and one EMF document per invocation, without the token, in one write to stdout', async () => {
    written.length = 0;
    stdoutWrites.length = 0;
    await handler(loadEvent('rest-deployment-v1.json'));
    // The review's line and the EMF document: one system call, not two.
    expect(stdoutWrites).toHaveLength(1);
    expect(stdoutWrites[0]?.split('\n').filter((l) => l !== '')).toHaveLength(2);
    const out = lines();
    expect(out.filter((l) => 'Reviews' in l)).toEqual([expect.objectContaining({ service: 'image-rewriter', Outcome: 'patched', Reviews: 1 })]);
    expect(out.filter((l) => 'message' in l && l['message'] !== 'cold start')).toEqual([
      expect.objectContaining({ message: 'admission reviewed', kind: 'apps/v1/Deployment', name: 'nginx-gcr-deployment', rewritten: [expect.objectContaining({ rule: 'gcr-to-asia' })] }),
    ]);
    expect(written.join('')).not.toContain(EVENT_TOKEN);
  });
});
