/**
 * Rotating the webhook token without a gap: every token source (WEBHOOK_TOKEN, --token-file, an SSM
 * SecureString, a Secrets Manager secret, plain or JSON) may hold the current token, a comma, then
 * the previous one. Both are accepted (compared in constant time, both always), a review called
 * with the previous one says so in its line (`previousToken: true`), the cold start's
 * `configuration` line says two are configured, neither token is ever written, and a value that
 * is not one or two valid, different tokens is refused with a message that names no token.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { fixedRules, loadSources, readSettings, resolveToken, SourceError } from '../../src/config/sources.js';
import { MAX_TOKENS, MIN_TOKEN_LENGTH, parseTokens, tokenProblem } from '../../src/config/token-check.js';
import { createHandler, MESSAGES, tokenMatch, tokenMatcher } from '../../src/lambda/handler.js';
import { createObservability } from '../../src/observability/telemetry.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { captureObservability, type JsonObject, loadEvent } from '../helpers/events.js';
import { rewriterFrom } from '../helpers/rules.js';

const NEW = 'New-Token_0123456789.abcdef~XYZ';
const OLD = 'old-token-fedcba9876543210-qrs';
const GOOD_RULES = 'rules:\n  - name: gcr\n    prefix: gcr.io/\n    replace: asia.gcr.io/\n';

const ssm = mockClient(SSMClient);
const secrets = mockClient(SecretsManagerClient);
beforeEach(() => {
  ssm.reset();
  secrets.reset();
});
afterAll(() => {
  ssm.restore();
  secrets.restore();
});
const aws = { ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })), secretsManager: () => Promise.resolve(new SecretsManagerClient({ region: 'us-west-2' })) };

describe('parseTokens', () => {
  it.each([
    [NEW, [NEW]],
    [`${NEW},${OLD}`, [NEW, OLD]],
    [` ${NEW} , ${OLD} `, [NEW, OLD]],
    [`${NEW},\n${OLD}`, [NEW, OLD]],
  ])('reads %j', (text, tokens) => {
    expect(parseTokens(text)).toEqual({ tokens });
  });

  it(`takes tokens of exactly ${MIN_TOKEN_LENGTH} characters, alone or as either of a pair, and refuses one character fewer`, () => {
    const shortest = 'a1.B_c~D-e'.padEnd(MIN_TOKEN_LENGTH, 'x');
    const other = shortest.replace('a1', 'z9');
    expect(parseTokens(shortest)).toEqual({ tokens: [shortest] });
    expect(parseTokens(`${shortest},${other}`)).toEqual({ tokens: [shortest, other] });
    expect(tokenProblem(shortest)).toBeUndefined();
    const tooShort = shortest.slice(0, -1);
    expect(tokenProblem(tooShort)).toContain(`must be at least ${MIN_TOKEN_LENGTH} characters`);
    expect(parseTokens(tooShort)).toEqual({ problem: tokenProblem(tooShort) });
    expect(parseTokens(`${NEW},${tooShort}`)).toEqual({ problem: `holds two tokens (the current one, a comma, the previous one); the second ${tokenProblem(tooShort) ?? ''}` });
  });

  it('gives one token exactly the message it always had', () => {
    expect(parseTokens('short')).toEqual({ problem: tokenProblem('short') });
    expect(parseTokens(`${NEW} ${OLD}`)).toEqual({ problem: tokenProblem(`${NEW} ${OLD}`) });
  });

  it.each([
    [`${NEW},`, 'holds two tokens (the current one, a comma, the previous one); the second must be at least 16 characters'],
    [`,${OLD}`, 'holds two tokens (the current one, a comma, the previous one); the first must be at least 16 characters'],
    [`${NEW},short`, 'the second must be at least 16 characters'],
    [`${NEW},${OLD}+`, 'the second must be at least 16 characters of A-Z a-z 0-9 . _ ~ -'],
    [`${NEW},${NEW}`, 'holds the same token twice; during a rotation: the new token, a comma, then the old one'],
    [`${NEW},${OLD},${OLD}x`, `holds 3 comma-separated tokens; at most ${MAX_TOKENS}: the current token, then during a rotation the previous one (NEW,OLD)`],
  ])('refuses %j, naming no token', (text, message) => {
    const parsed = parseTokens(text);
    expect('problem' in parsed && parsed.problem).toContain(message);
    const problem = 'problem' in parsed ? parsed.problem : '';
    for (const token of [NEW, OLD]) expect(problem).not.toContain(token);
  });
});

describe('every token source holds two during a rotation', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'token-rotation-'));
  });
  // Each test's folder, not only the last one's.
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('WEBHOOK_TOKEN', () => {
    expect(readSettings({ REWRITE_RULES: GOOD_RULES, WEBHOOK_TOKEN: `${NEW},${OLD}` }).token).toEqual({ kind: 'inline', tokens: [NEW, OLD] });
    expect(() => readSettings({ REWRITE_RULES: GOOD_RULES, WEBHOOK_TOKEN: `${NEW},${NEW}` })).toThrow(/WEBHOOK_TOKEN: holds the same token twice/);
  });

  it('--token-file (a Kubernetes Secret mounted as a file)', async () => {
    const path = join(dir, 'token');
    await writeFile(path, `${NEW},${OLD}\n`);
    expect(await resolveToken({ kind: 'file', path }, aws)).toEqual([NEW, OLD]);
  });

  it('an SSM SecureString', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/t', Type: 'SecureString', Value: `${NEW},${OLD}`, Version: 2 } });
    expect(await resolveToken({ kind: 'ssm', name: '/t' }, aws)).toEqual([NEW, OLD]);
  });

  it.each([
    ['plain', `${NEW},${OLD}`],
    ['JSON', JSON.stringify({ token: `${NEW},${OLD}` })],
  ])('a Secrets Manager secret, %s', async (_what, secretString) => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString });
    expect(await resolveToken({ kind: 'secret', secretId: 'image-rewriter/token' }, aws)).toEqual([NEW, OLD]);
  });

  it('refuses a source holding a bad pair with the source named and no token in the message', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/t', Type: 'SecureString', Value: `${NEW},`, Version: 3 } });
    const e = await resolveToken({ kind: 'ssm', name: '/t' }, aws).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SourceError);
    expect((e as Error).message).toBe(
      'the webhook token in SSM parameter /t holds two tokens (the current one, a comma, the previous one); the second must be at least 16 characters of A-Z a-z 0-9 . _ ~ - (it is the last segment of the webhook URL)',
    );
    expect((e as Error).message).not.toContain(NEW);
  });

  it("says in the cold start's configuration line that two are configured, and nothing when one is", async () => {
    for (const [value, tokens] of [[`${NEW},${OLD}`, 2], [NEW, undefined]] as const) {
      const obs = captureObservability();
      const sources = await loadSources({ REWRITE_RULES: GOOD_RULES, WEBHOOK_TOKEN: value }, { ...obs, ...aws });
      const line = obs.logs().find((l) => l['message'] === 'configuration');
      expect(line?.['tokens']).toBe(tokens);
      expect(line?.['token']).toBe('WEBHOOK_TOKEN');
      expect(sources.token).toEqual(value.split(','));
      expect(obs.text()).not.toContain(NEW);
    }
  });
});

describe('the handler during a rotation', () => {
  const rules = fixedRules(rewriterFrom(EXAMPLE_RULES), 'example');
  const event = (token: string, body?: string): JsonObject => {
    const e = loadEvent('rest-pod-v1.json');
    return { ...e, path: `/mutate/${token}`, pathParameters: { token }, ...(body === undefined ? {} : { body }) };
  };
  const setup = (token: string | readonly string[]) => {
    const obs = captureObservability();
    return { obs, invoke: createHandler({ rules, token, logger: obs.logger, metrics: obs.metrics }) };
  };

  it('accepts both tokens; only a review called with the previous one says so', async () => {
    const { invoke, obs } = setup([NEW, OLD]);
    const viaNew = await invoke(event(NEW));
    expect(viaNew.statusCode).toBe(200);
    const viaOld = await invoke(event(OLD));
    expect(viaOld.statusCode).toBe(200);
    expect(viaOld.body).toBe(viaNew.body);
    const reviews = obs.logs().filter((l) => l['message'] === 'admission reviewed');
    expect(reviews).toHaveLength(2);
    expect(reviews[0]).not.toHaveProperty('previousToken');
    expect(reviews[1]).toMatchObject({ previousToken: true });
    expect(obs.text()).not.toContain(NEW);
    expect(obs.text()).not.toContain(OLD);
  });

  // README, "Rotating the token", step 4: the old token goes once no line says previousToken, so
  // the line must be there at LogLevel WARN (the stack's cheaper level) too: it is a warning.
  it('writes a review called with the previous token as a warning, kept at LogLevel WARN', async () => {
    const lines: JsonObject[] = [];
    const obs = createObservability({ logLevel: 'WARN', sink: (line) => lines.push(JSON.parse(line) as JsonObject) });
    const invoke = createHandler({ rules, token: [NEW, OLD], logger: obs.logger, metrics: obs.metrics });
    expect((await invoke(event(NEW))).statusCode).toBe(200);
    expect((await invoke(event(OLD))).statusCode).toBe(200);
    const reviews = lines.filter((l) => l['message'] === 'admission reviewed');
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({ level: 'WARN', outcome: 'patched', previousToken: true });
  });

  it("says so on a review's other line too (a warning: no rules loaded)", async () => {
    const obs = captureObservability();
    const invoke = createHandler({ rules: { current: () => Promise.resolve({ ok: false, reason: 'no rules' }) }, token: [NEW, OLD], logger: obs.logger, metrics: obs.metrics });
    expect((await invoke(event(OLD))).statusCode).toBe(200);
    expect(obs.logs().find((l) => l['message'] === 'admission reviewed')).toMatchObject({ level: 'WARN', previousToken: true });
  });

  it('answers 401 to everything else, the body unread, and the same with one token', async () => {
    for (const configured of [[NEW, OLD], [NEW]] as const) {
      const { invoke, obs } = setup(configured);
      const wrong = [
        '',
        `${NEW},${OLD}`,
        `${NEW}${OLD}`,
        NEW.slice(0, -1),
        `${OLD}x`,
        OLD.toUpperCase(),
        ...(configured.length === 1 ? [OLD] : []),
        ...Array.from({ length: 40 }, (_, n) => 'y'.repeat(n)),
      ];
      for (const token of wrong) {
        const result = await invoke(event(token, 'not json'));
        if (result.statusCode !== 401) throw new Error(`${JSON.stringify(token)} with ${configured.length} configured: ${result.statusCode}`);
        expect(JSON.parse(result.body)).toEqual({ message: MESSAGES.unauthorized });
      }
      expect(obs.text()).not.toContain(NEW);
      expect(obs.text()).not.toContain(OLD);
    }
  });

  it('matches with both compared, and serve’s boolean matcher agrees', () => {
    const match = tokenMatch([NEW, OLD]);
    expect([match(NEW), match(OLD), match('x'.repeat(30))]).toEqual(['current', 'previous', undefined]);
    expect(tokenMatch(undefined)('anything')).toBe('current');
    expect(tokenMatch(NEW)(OLD)).toBeUndefined();
    const accepts = tokenMatcher([NEW, OLD]);
    expect([accepts(NEW), accepts(OLD), accepts(`${NEW},${OLD}`)]).toEqual([true, true, false]);
  });

  it.each([[[]], [[NEW, '']], [[NEW, OLD, `${OLD}x`]], ['']])('refuses to be built with %j', (token) => {
    const obs = captureObservability();
    expect(() => createHandler({ rules, token, logger: obs.logger, metrics: obs.metrics })).toThrow(TypeError);
  });
});
