/**
 * `image-rewriter invoke`: the handler on an event file, through the CLI's `main` with injected
 * streams; stdout is only the pretty answer, logs and metrics go to stderr.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, type Io, main } from '../../src/cli/main.js';
import { parseRules } from '../../src/config/load.js';
import { EXAMPLE_RULES, MAX_EVENT_FILE_BYTES, presentResult } from '../../src/cli/invoke.js';
import { EVENT_TOKEN, EVENTS_DIR, loadEvent, withBody } from '../helpers/events.js';
import { manyImagesReview } from '../helpers/admission-review.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly answer: Record<string, unknown>;
}

async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env,
    readStdin: () => Promise.resolve(''),
  };
  const code = await main(['invoke', ...args], io);
  let answer: Record<string, unknown> = {};
  if (stdout !== '') answer = JSON.parse(stdout) as Record<string, unknown>;
  return { code, stdout, stderr, answer };
}

const event = (name: string): string => join(EVENTS_DIR, name);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'invoke-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('invoke', () => {
  it('answers the demo event with the built-in example rules and prints the decoded patch', async () => {
    const r = await run([event('rest-pod-v1beta1-demo.json')]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.answer).toMatchObject({
      statusCode: 200,
      headers: { 'Content-Type': 'application/json' },
      body: { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: 'b06b6ec2-681d-11e9-a645-06b44ed6a042', allowed: true, patchType: 'JSONPatch' } },
    });
    expect((r.answer['decodedPatch'] as unknown[])[0]).toEqual({ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/nginx:latest' });
    expect(r.stdout).toMatch(/^\{\n {2}"statusCode": 200,/);
    expect(r.stderr).toContain('using the built-in example rules');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({ message: 'admission reviewed', rewritten: [{ container: 'nginx', from: 'gcr.io/nginx:latest', to: 'asia.gcr.io/nginx:latest', rule: 'gcr-to-asia' }] }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ Outcome: 'patched', Reviews: 1 }));
  });

  it('is quiet with --quiet', async () => {
    const r = await run(['--quiet', event('rest-pod-v1.json')]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr).toBe('');
    expect(r.answer['statusCode']).toBe(200);
  });

  it('honours the log level of its environment', async () => {
    const r = await run([event('rest-pod-v1.json')], { POWERTOOLS_LOG_LEVEL: 'error' });
    expect(r.stderr.split('\n').filter((l) => l.startsWith('{"level"'))).toEqual([]);
  });

  it.each([
    ['a blank POWERTOOLS_LOG_LEVEL, then LOG_LEVEL', { POWERTOOLS_LOG_LEVEL: '', LOG_LEVEL: 'error' }],
    ['a value with blanks around it', { POWERTOOLS_LOG_LEVEL: ' error ' }],
    ['an unknown POWERTOOLS_LOG_LEVEL, then LOG_LEVEL', { POWERTOOLS_LOG_LEVEL: 'verbose', LOG_LEVEL: 'error' }],
    ["Lambda's own AWS_LAMBDA_LOG_LEVEL", { AWS_LAMBDA_LOG_LEVEL: 'ERROR' }],
  ])('reads the log level as the Lambda and serve do: %s', async (_, env) => {
    const r = await run([event('rest-pod-v1.json')], env);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('{"level"'))).toEqual([]);
  });

  it('uses --config', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, 'rules:\n  - name: to-eu\n    match: gcr.io\n    replace: eu.gcr.io\n');
    const r = await run(['--config', file, event('rest-deployment-v1.json')]);
    expect(r.answer['decodedPatch']).toContainEqual({ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'eu.gcr.io/nginx' });
    expect(r.stderr).not.toContain('built-in');
  });

  it('uses REWRITE_RULES', async () => {
    const r = await run(['-q', event('rest-deployment-v1.json')], { REWRITE_RULES: '{"rules":[{"name":"us","match":"gcr.io","replace":"us.gcr.io"}]}' });
    expect(r.answer['decodedPatch']).toContainEqual({ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'us.gcr.io/nginx' });
  });

  it('says it uses the built-in example rules only when it does: not with REWRITE_RULES (inline rules too)', async () => {
    const r = await run([event('rest-deployment-v1.json')], { REWRITE_RULES: '{"rules":[{"name":"us","match":"gcr.io","replace":"us.gcr.io"}]}' });
    expect(r.code).toBe(EXIT.ok);
    expect(r.answer['decodedPatch']).toContainEqual({ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'us.gcr.io/nginx' });
    expect(r.stderr).toContain('"admission reviewed"');
    expect(r.stderr).not.toContain('built-in');
  });

  it('prints the warnings of the rules document', async () => {
    const r = await run(['-q', event('rest-deployment-v1.json')], { REWRITE_RULES: 'rules: []\n' });
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr).toContain('no rules: nothing will be rewritten');
    expect(r.answer).not.toHaveProperty('decodedPatch');
  });

  it('exits 2 on invalid rules', async () => {
    const r = await run([event('rest-pod-v1.json')], { REWRITE_RULES: 'rules:\n  - name: x\n' });
    expect(r.code).toBe(EXIT.invalidConfig);
    expect(r.stdout).toBe('');
  });

  it('checks WEBHOOK_TOKEN like the Lambda does', async () => {
    const wrong = await run(['-q', event('rest-wrong-token.json')], { WEBHOOK_TOKEN: EVENT_TOKEN });
    expect(wrong.code).toBe(EXIT.ok);
    expect(wrong.answer).toEqual({ statusCode: 401, headers: { 'Content-Type': 'application/json' }, body: { message: 'unauthorized' } });
    const right = await run(['-q', event('rest-pod-v1.json')], { WEBHOOK_TOKEN: ` ${EVENT_TOKEN} ` });
    expect(right.answer['statusCode']).toBe(200);
    const blank = await run(['-q', event('rest-wrong-token.json')], { WEBHOOK_TOKEN: '' });
    expect(blank.answer['statusCode']).toBe(200);
  });

  it('answers unchanged, as the Lambda does, an object whose answer would be over Lambda\'s response quota', async () => {
    // 22,000 rewrites: a 6.8 MB answer (tests/unit/handler-answer-limit.test.ts), which the Lambda
    // cannot return; `invoke` runs the same handler, so it must not print a patch the Lambda never returns.
    const big = join(dir, 'over-quota.json');
    await writeFile(big, JSON.stringify(withBody(loadEvent('rest-pod-v1.json'), manyImagesReview(22_000, 160))));
    const r = await run(['-q', big]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.answer).toMatchObject({ statusCode: 200, body: { response: { uid: 'limit-uid', allowed: true, warnings: [expect.stringContaining("over Lambda's 6 MB response limit")] } } });
    expect(r.answer).not.toHaveProperty('decodedPatch');
  });

  it('prints a 400 answer', async () => {
    const r = await run(['-q', event('rest-bad-body.json')]);
    expect(r.answer).toEqual({ statusCode: 400, headers: { 'Content-Type': 'application/json' }, body: { message: 'request body is not valid JSON: expected an AdmissionReview' } });
  });

  it('reads an event file that starts with a byte order mark (Windows editors, PowerShell 5)', async () => {
    const withBom = join(dir, 'bom.json');
    await writeFile(withBom, `\uFEFF${await readFile(event('rest-pod-v1beta1-demo.json'), 'utf8')}`);
    const r = await run(['-q', withBom]);
    expect(r.code).toBe(EXIT.ok);
    expect((r.answer['decodedPatch'] as unknown[])[0]).toEqual({ op: 'replace', path: '/spec/containers/0/image', value: 'asia.gcr.io/nginx:latest' });
  });

  it('under `npm run invoke`, reads relative paths from the directory npm was started in (INIT_CWD), not the package root', async () => {
    await writeFile(join(dir, 'pod.json'), await readFile(event('rest-pod-v1beta1-demo.json'), 'utf8'));
    await writeFile(join(dir, 'eu.yaml'), 'rules:\n  - name: to-eu\n    match: gcr.io\n    replace: eu.gcr.io\n');
    const npm = { npm_lifecycle_event: 'invoke', INIT_CWD: dir };
    const r = await run(['-q', '--config', 'eu.yaml', 'pod.json'], npm);
    expect(r.code).toBe(EXIT.ok);
    expect((r.answer['decodedPatch'] as unknown[])[0]).toEqual({ op: 'replace', path: '/spec/containers/0/image', value: 'eu.gcr.io/nginx:latest' });
    // Absolute paths are kept; outside npm's invoke script the process's directory counts.
    expect((await run(['-q', event('rest-pod-v1beta1-demo.json')], npm)).code).toBe(EXIT.ok);
    expect((await run(['-q', 'pod.json'], { INIT_CWD: dir })).stderr).toContain('ENOENT');
  });

  it.each([
    ['a missing file', () => join(dir, 'nope.json'), 'ENOENT'],
    ['a file that is not JSON', () => join(dir, 'bad.json'), 'not valid JSON'],
  ])('exits 1 on %s', async (_desc, file, reason) => {
    await writeFile(join(dir, 'bad.json'), '{');
    const r = await run(['-q', file()]);
    expect(r.code).toBe(EXIT.failure);
    expect(r.stderr).toContain(reason);
  });

  it('says where an event file is not valid JSON (it said "not valid JSON" alone)', async () => {
    const file = join(dir, 'comma.json');
    await writeFile(file, '{\n  "body": "{}"\n  "httpMethod": "POST"\n}\n');
    const r = await run(['-q', file]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: EXIT.failure, stderr: `error: cannot read event ${file}: not valid JSON: Expected ',' or '}' after property value at line 3, column 3\n` });
  });

  // Read whole, `invoke /dev/zero` took all the memory node gives a string (0.6 GB) and ended on
  // V8's "Invalid string length"; a file over the bound is refused before it is read whole.
  it('exits 1 on a file larger than any event, without reading it whole', async () => {
    const big = join(dir, 'big.json');
    await writeFile(big, '');
    await truncate(big, MAX_EVENT_FILE_BYTES + 1); // sparse: no disk used
    const r = await run(['-q', big]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: EXIT.failure, stderr: `error: cannot read event ${big}: larger than ${String(MAX_EVENT_FILE_BYTES)} bytes (a Lambda event is at most 6 MB)\n` });
  });

  it.each([[[]], [['a.json', 'b.json']], [['--nope', 'a.json']]])('is a usage error with arguments %j', async (args) => {
    const r = await run(args);
    expect(r.code).toBe(EXIT.usage);
  });
});

describe('EXAMPLE_RULES', () => {
  it('is valid, without warnings, and rewrites the demo image', () => {
    const r = parseRules(EXAMPLE_RULES, {});
    if (!r.ok) throw new Error('invalid');
    expect(r.warnings).toEqual([]);
    const out = r.rewriter.rewrite('gcr.io/nginx');
    expect(out.kind === 'rewritten' ? out.rewritten : '').toBe('asia.gcr.io/nginx');
    const hub = r.rewriter.rewrite('nginx:1.27');
    expect(hub.kind === 'rewritten' ? hub.rewritten : '').toBe('public.ecr.aws/docker/library/nginx:1.27');
  });
});

describe('presentResult', () => {
  it('keeps a body that is not JSON as it is', () => {
    expect(presentResult({ statusCode: 502, headers: {}, body: 'Bad Gateway', isBase64Encoded: false })).toEqual({ statusCode: 502, headers: {}, body: 'Bad Gateway' });
  });

  it('has no decodedPatch when the body has no patch', () => {
    expect(presentResult({ statusCode: 200, headers: {}, body: '{"response":null}', isBase64Encoded: false })).not.toHaveProperty('decodedPatch');
    expect(presentResult({ statusCode: 200, headers: {}, body: '{"response":{"patch":1}}', isBase64Encoded: false })).not.toHaveProperty('decodedPatch');
  });
});
