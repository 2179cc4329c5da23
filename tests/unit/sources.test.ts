/**
 * Rules and token sources with the AWS SDK clients mocked (aws-sdk-client-mock): the settings
 * table, SSM reads with their failures (throttling, access denied, missing parameter, invalid
 * document), the TTL and the retry backoff on an injected clock, and the token from SSM or
 * Secrets Manager.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, ParameterNotFound, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'aws-sdk-client-mock-jest';
import {
  createRulesProvider,
  DEFAULT_TTL_SECONDS,
  describeToken,
  fileRules,
  inlineRules,
  loadSources,
  readSettings,
  resolveToken,
  type RulesState,
  type SharedRules,
  SourceError,
  ssmRules,
  type SsmRulesOptions,
} from '../../src/config/sources.js';
import { formatIssues } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/schema.js';
import { createHandler } from '../../src/lambda/handler.js';
import { errorCode, MAX_TOKEN_FILE_BYTES } from '../../src/config/token.js';
import { MAX_LISTED, MAX_LOGGED_STRING } from '../../src/observability/telemetry.js';
import { captureObservability, type Captured, EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { LATE, within } from '../helpers/within.js';

const ssm = mockClient(SSMClient);
const secrets = mockClient(SecretsManagerClient);

beforeEach(() => {
  ssm.reset();
  secrets.reset();
});

const GOOD = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n';
const GOOD2 = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: eu.gcr.io\n';
const BAD = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: ""\n    colour: blue\n';
const TOKEN = 'token-from-aws-0123456789abcdef';
const NAME = '/image-rewriter/rules';

/** An AWS service error as the SDK throws it. */
function awsError(name: string, message = `${name} message`): SSMServiceException {
  return new SSMServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

const parameter = (value: string, version = 1) => ({ Parameter: { Name: NAME, Type: 'SecureString' as const, Value: value, Version: version } });

const rewrite = (state: RulesState, image: string): string => {
  if (!state.ok) throw new Error(`not loaded: ${state.reason}`);
  const r = state.rewriter.rewrite(image);
  return r.kind === 'rewritten' ? r.rewritten : image;
};

describe('readSettings', () => {
  const valid: { desc: string; env: Record<string, string>; want: unknown }[] = [
    { desc: 'inline rules, no token (allowed)', env: { REWRITE_RULES: GOOD, WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' }, want: { rules: { kind: 'inline', text: GOOD }, token: { kind: 'none' }, allowUnauthenticated: true } },
    {
      desc: 'SSM rules, default TTL',
      env: { REWRITE_RULES_PARAMETER: NAME, WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' },
      want: { rules: { kind: 'ssm', name: NAME, ttlSeconds: DEFAULT_TTL_SECONDS }, token: { kind: 'none' } },
    },
    {
      desc: 'SSM rules, TTL, inline token',
      env: { REWRITE_RULES_PARAMETER: ` ${NAME} `, REWRITE_RULES_TTL_SECONDS: '300', WEBHOOK_TOKEN: `${TOKEN}\n` },
      want: { rules: { kind: 'ssm', name: NAME, ttlSeconds: 300 }, token: { kind: 'inline', tokens: [TOKEN] } },
    },
    { desc: 'token parameter', env: { REWRITE_RULES: GOOD, WEBHOOK_TOKEN_PARAMETER: '/image-rewriter/token' }, want: { token: { kind: 'ssm', name: '/image-rewriter/token' } } },
    { desc: 'token secret', env: { REWRITE_RULES: GOOD, WEBHOOK_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:t' }, want: { token: { kind: 'secret', secretId: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:t' } } },
    { desc: 'a token and the opt-in: requests are authenticated all the same', env: { REWRITE_RULES: GOOD, WEBHOOK_TOKEN: TOKEN, WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' }, want: { token: { kind: 'inline', tokens: [TOKEN] }, allowUnauthenticated: false } },
    { desc: 'a token of exactly 16 characters (the shortest)', env: { REWRITE_RULES: GOOD, WEBHOOK_TOKEN: '0123456789abcdef' }, want: { token: { kind: 'inline', tokens: ['0123456789abcdef'] } } },
    {
      desc: 'empty variables count as unset',
      env: { REWRITE_RULES: '', REWRITE_RULES_PARAMETER: NAME, REWRITE_RULES_TTL_SECONDS: '', WEBHOOK_TOKEN: '', WEBHOOK_TOKEN_PARAMETER: ' ', WEBHOOK_TOKEN_SECRET_ARN: 'arn:s' },
      want: { rules: { kind: 'ssm', name: NAME, ttlSeconds: 60 }, token: { kind: 'secret', secretId: 'arn:s' } },
    },
  ];
  it.each(valid)('$desc', ({ env, want }) => {
    expect(readSettings(env)).toMatchObject(want as Record<string, unknown>);
  });

  const invalid: { desc: string; env: Record<string, string>; issues: string[] }[] = [
    { desc: 'no rules', env: { WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' }, issues: ['REWRITE_RULES: no rules: set REWRITE_RULES (inline YAML or JSON) or REWRITE_RULES_PARAMETER (an SSM parameter name); the command line also takes --config FILE'] },
    { desc: 'both rules', env: { REWRITE_RULES: GOOD, REWRITE_RULES_PARAMETER: NAME, WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' }, issues: ['REWRITE_RULES: set only one of REWRITE_RULES and REWRITE_RULES_PARAMETER'] },
    ...['0', '-1', '1.5', 'abc', '86401', '60s'].map((ttl) => ({
      desc: `TTL ${ttl}`,
      env: { REWRITE_RULES_PARAMETER: NAME, REWRITE_RULES_TTL_SECONDS: ttl, WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' },
      issues: ['REWRITE_RULES_TTL_SECONDS: must be a whole number of seconds from 1 to 86400'],
    })),
    {
      desc: 'two tokens',
      env: { REWRITE_RULES: GOOD, WEBHOOK_TOKEN: TOKEN, WEBHOOK_TOKEN_SECRET_ARN: 'arn:s' },
      issues: ['WEBHOOK_TOKEN: set only one of WEBHOOK_TOKEN, WEBHOOK_TOKEN_SECRET_ARN'],
    },
    // Where the first character that is not allowed is (its code point only when not printable ASCII: never the token's own).
    ...([['short', ''], ['0123456789abcde', ''], ['has/a/slash-0123456789', '; character 4 is not one of them'], ['has space 0123456789', '; a space at character 4'], ['ünïcödé-0123456789', '; U+00FC at character 1, not printable ASCII (a look-alike or invisible character copied with it?)'], ['0123456789abcdef\u200b', '; U+200B at character 17, not printable ASCII (a look-alike or invisible character copied with it?)']] as const).map(([token, where]) => ({
      desc: `token ${JSON.stringify(token)}`,
      env: { REWRITE_RULES: GOOD, WEBHOOK_TOKEN: token },
      issues: [`WEBHOOK_TOKEN: must be at least 16 characters of A-Z a-z 0-9 . _ ~ - (it is the last segment of the webhook URL)${where}`],
    })),
    {
      desc: 'every problem at once',
      env: { REWRITE_RULES_TTL_SECONDS: 'x', WEBHOOK_TOKEN: 'short', WEBHOOK_TOKEN_PARAMETER: '/t' },
      issues: [
        'REWRITE_RULES_TTL_SECONDS: must be a whole number of seconds from 1 to 86400',
        'REWRITE_RULES: no rules: set REWRITE_RULES (inline YAML or JSON) or REWRITE_RULES_PARAMETER (an SSM parameter name); the command line also takes --config FILE',
        'WEBHOOK_TOKEN: set only one of WEBHOOK_TOKEN, WEBHOOK_TOKEN_PARAMETER',
        'WEBHOOK_TOKEN: must be at least 16 characters of A-Z a-z 0-9 . _ ~ - (it is the last segment of the webhook URL)',
      ],
    },
  ];
  it.each(invalid)('rejects $desc', ({ env, issues }) => {
    let error: unknown;
    try {
      readSettings(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SourceError);
    const e = error as SourceError;
    expect(e.name).toBe('SourceError');
    expect(e.issues.map(formatIssue)).toEqual(issues);
    for (const line of issues) expect(e.message).toContain(line);
    if (env['WEBHOOK_TOKEN'] !== undefined) expect(e.message).not.toContain(env['WEBHOOK_TOKEN']);
  });
});

describe('inlineRules', () => {
  it('compiles once and logs the rules loaded', async () => {
    const obs = captureObservability();
    const provider = inlineRules(GOOD, 'REWRITE_RULES', { ...obs, env: {} });
    const a = await provider.current();
    expect(a).toMatchObject({ ok: true, source: 'REWRITE_RULES' });
    expect(await provider.current()).toBe(a);
    expect(rewrite(a, 'gcr.io/nginx')).toBe('asia.gcr.io/nginx');
    expect(obs.logs()).toEqual([expect.objectContaining({ level: 'INFO', message: 'rules loaded', source: 'REWRITE_RULES', ruleCount: 1, exclusions: 0 })]);
  });

  // Regression (QA-37): `rules` was the number of rules in `rules loaded` and the document's name
  // in `configuration` and every `admission reviewed` line. A log store that types a field by its
  // first value (Elasticsearch's and OpenSearch's dynamic mapping, behind serve's Fluent Bit)
  // refuses the lines of the other type: an index begun by a `rules loaded` line (a restart before
  // the day's first review) dropped every review line. Each field now has one JSON type.
  it('gives each log field one JSON type, from the rules loaded to the review', async () => {
    const obs = captureObservability();
    const provider = inlineRules(GOOD, 'REWRITE_RULES', { ...obs, env: {} });
    const state = await provider.current();
    if (!state.ok) throw new Error('rules not loaded');
    const handler = createHandler({ rules: provider, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
    expect((await handler(loadEvent('rest-pod-v1.json'))).statusCode).toBe(200);
    const types = new Map<string, Set<string>>();
    for (const line of obs.logs()) for (const [key, value] of Object.entries(line)) types.set(key, (types.get(key) ?? new Set()).add(Array.isArray(value) ? 'array' : typeof value));
    expect(obs.logs().map((l) => l['message'])).toEqual(['rules loaded', 'cold start', 'admission reviewed']);
    expect([...types].filter(([, t]) => t.size > 1).map(([key, t]) => `${key}: ${[...t].join(', ')}`)).toEqual([]);
  });

  it('logs every issue with its path, counts it, and is not ok', async () => {
    const obs = captureObservability();
    const state = await inlineRules(BAD, 'REWRITE_RULES', { ...obs, env: {} }).current();
    expect(state).toEqual({
      ok: false,
      reason: 'rules document REWRITE_RULES is invalid (2 problem(s), see the logs)',
      issues: [expect.objectContaining({ path: ['rules', 0, 'replace'], severity: 'error' }), expect.objectContaining({ path: ['rules', 0, 'colour'], severity: 'error' })],
    });
    expect(obs.logs()).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'rules document is invalid',
        source: 'REWRITE_RULES',
        issues: ['rules[0].replace: must not be empty', 'rules[0].colour: unknown field (known fields: name, match, regex, replace, namespaces, excludeNamespaces, imagePullSecrets, verify, onMissing, onUnreachable, platforms)'],
      }),
    ]);
    obs.metrics.publishStoredMetrics();
    expect(obs.emf()).toEqual([expect.objectContaining({ ConfigErrors: 1 })]);
  });

  it('marks a warning among the problems of an invalid document "warning: ", as check-config prints it (the log listed it like a problem)', async () => {
    const doc = 'rules:\n  - name: team\n    match: registry:5000\n    replace: mirror.example.com/team\n  - name: self\n    match: gcr.io\n    replace: gcr.io/mirror\nexclude: [registry:5000]\n';
    const obs = captureObservability();
    const state = await inlineRules(doc, 'REWRITE_RULES', { ...obs, env: {} }).current();
    expect(state).toMatchObject({ ok: false, reason: 'rules document REWRITE_RULES is invalid (1 problem(s), see the logs)' });
    const issues = obs.logs().find((l) => l['message'] === 'rules document is invalid')?.['issues'];
    expect(issues).toEqual([
      'rules[1].replace: "gcr.io/mirror" is inside "gcr.io", so this rule would match its own result and rewrite it again on every reinvocation',
      'warning: rules[0]: rule "team" is never used: exclude "registry:5000" covers every name it matches',
    ]);
    // The same lines as the command line's `error: invalid rules document ...` listing.
    expect(issues).toEqual(formatIssues(state.ok ? [] : (state.issues ?? [])).split('\n').map((l) => l.slice(2)));
  });

  it('quotes what a terminal or log viewer shows as nothing, a space or a "-" (pasted text) as \\uXXXX, in the log line and in check-config alike', async () => {
    // A zero-width space, a no-break space, a byte order mark and U+2010 (a hyphen): "gcr.io" was
    // said not to be a valid image name prefix, and the key "name\u200b" printed as "name".
    const doc = 'rules:\n  - name: a\n    match: gcr.io\u200b\n    replace: asia.gcr.io\u00a0\n  - name: b\n    match: quay\u2010io\n    replace: q.example.com\n    name\u200b: c\nexclude: [gcr.io/x\ufeff]\n';
    const obs = captureObservability();
    const state = await inlineRules(doc, 'REWRITE_RULES', { ...obs, env: {} }).current();
    const issues = obs.logs().find((l) => l['message'] === 'rules document is invalid')?.['issues'] as string[];
    expect(issues).toEqual(
      expect.arrayContaining([
        'rules[0].match: "gcr.io\\u200b" is not a valid image name prefix (registry host, then optional /path): U+200B at character 7, not printable ASCII (a look-alike or invisible character copied with it?)',
        'rules[1].match: "quay\\u2010io" is not a valid image name prefix (registry host, then optional /path): U+2010 at character 5, not printable ASCII (a look-alike or invisible character copied with it?)',
        'rules[1]["name\\u200b"]: unknown field (did you mean "name"?)',
        'exclude[0]: "gcr.io/x\\ufeff" is not a valid image name prefix (registry host, then optional /path): U+FEFF at character 9, not printable ASCII (a look-alike or invisible character copied with it?)',
      ]),
    );
    for (const i of issues) expect(i).toMatch(/^[\x20-\x7e]*$/);
    expect(issues).toEqual(formatIssues(state.ok ? [] : (state.issues ?? [])).split('\n').map((l) => l.slice(2)));
  });

  it('logs at most MAX_LISTED problems, each clipped, and counts the rest in issuesCut (a bad file of 30,000 problems made a 1.7 MB line)', async () => {
    const obs = captureObservability();
    const rules = Array.from({ length: 400 }, (_, i) => `  - name: r${i}\n    match: gcr.io\n    replace: ""\n    ${'c'.repeat(1000)}${i}: 1\n`).join('');
    const state = await inlineRules(`rules:\n${rules}`, 'REWRITE_RULES', { ...obs, env: {} }).current();
    expect(state).toMatchObject({ ok: false, reason: 'rules document REWRITE_RULES is invalid (800 problem(s), see the logs)' });
    const [line] = obs.logs();
    expect(line).toMatchObject({ level: 'ERROR', message: 'rules document is invalid', issuesCut: 800 - MAX_LISTED });
    const issues = line?.['issues'] as string[];
    expect(issues).toHaveLength(MAX_LISTED);
    expect(issues[0]).toBe('rules[0].replace: must not be empty');
    for (const i of issues) expect(i.length).toBeLessThanOrEqual(MAX_LOGGED_STRING + 3);
    expect(JSON.stringify(line).length).toBeLessThan(16 * 1024);
  });

  it('logs the warnings of a valid document', async () => {
    const obs = captureObservability();
    await inlineRules('rules: []\n', 'REWRITE_RULES', { ...obs, env: {} }).current();
    expect(obs.logs()[0]).toMatchObject({ level: 'WARN', message: 'rules document has warnings', issues: ['rules: no rules: nothing will be rewritten'] });
  });

  it('substitutes ${env:NAME} from the environment it is given', async () => {
    const obs = captureObservability();
    const doc = 'rules:\n  - name: ecr\n    match: docker.io\n    replace: ${env:ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/hub\n';
    const state = await inlineRules(doc, 'REWRITE_RULES', { ...obs, env: { ACCOUNT: '123456789012' } }).current();
    expect(rewrite(state, 'nginx:1')).toBe('123456789012.dkr.ecr.us-west-2.amazonaws.com/hub/library/nginx:1');
  });
});

describe('ssmRules', () => {
  let clock: number;
  let obs: Captured;
  const make = (more: Partial<SsmRulesOptions> = {}) =>
    ssmRules({ client: new SSMClient({ region: 'us-west-2' }), name: NAME, ttlSeconds: 60, now: () => clock, env: {}, ...obs, ...more });
  const metricTotals = (): Record<string, number> => {
    obs.metrics.publishStoredMetrics();
    const totals: Record<string, number> = {};
    for (const d of obs.emf()) {
      for (const k of ['ConfigErrors', 'ConfigRefreshes']) {
        const v = d[k];
        const sum = Array.isArray(v) ? (v as number[]).reduce((a, b) => a + b, 0) : typeof v === 'number' ? v : 0;
        totals[k] = (totals[k] ?? 0) + sum;
      }
    }
    return totals;
  };

  beforeEach(() => {
    clock = 1_000_000;
    obs = captureObservability();
  });

  it('reads the parameter with decryption, once per TTL', async () => {
    ssm.on(GetParameterCommand).resolves(parameter(GOOD, 3));
    const provider = make();
    const state = await provider.current();
    expect(state).toMatchObject({ ok: true, source: `ssm:${NAME}`, version: '3' });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: NAME, WithDecryption: true });
    clock += 59_999;
    expect(await provider.current()).toBe(state);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    clock += 1;
    await provider.current();
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
    expect(obs.logs().filter((l) => l['message'] === 'rules loaded')).toEqual([expect.objectContaining({ source: `ssm:${NAME}`, version: '3', ruleCount: 1 })]);
    expect(metricTotals()).toEqual({ ConfigRefreshes: 2, ConfigErrors: 0 });
  });

  it('a wall clock stepped back (NTP, a thawed environment) never holds the rules past one TTL', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 1)).resolves(parameter(GOOD2, 2));
    const provider = make();
    await provider.current();
    // Stepped back an hour: read again now, rather than an hour and a TTL from now.
    clock -= 3_600_000;
    expect(await provider.current()).toMatchObject({ ok: true, version: '2' });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
    // Then the TTL again, on the new reading of the clock.
    clock += 59_999;
    await provider.current();
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
    clock += 1;
    await provider.current();
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 3);
  });

  it('does not recompile an unchanged document, and picks up a changed one', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 1)).resolvesOnce(parameter(GOOD, 2)).resolves(parameter(GOOD2, 3));
    const provider = make();
    const first = await provider.current();
    clock += 60_000;
    const second = await provider.current();
    expect(second).toMatchObject({ ok: true, version: '2' });
    expect(second.ok && first.ok && second.rewriter === first.rewriter).toBe(true);
    clock += 60_000;
    const third = await provider.current();
    expect(third).toMatchObject({ ok: true, version: '3' });
    expect(rewrite(third, 'gcr.io/x')).toBe('eu.gcr.io/x');
    expect(obs.logs().filter((l) => l['message'] === 'rules loaded').map((l) => l['version'])).toEqual(['1', '3']);
  });

  it('keeps the last good rules when the new document is invalid, and says so', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 1)).resolvesOnce(parameter(BAD, 2)).resolves(parameter(GOOD2, 3));
    const provider = make();
    await provider.current();
    clock += 60_000;
    const kept = await provider.current();
    expect(kept).toMatchObject({ ok: true, version: '1' });
    expect(rewrite(kept, 'gcr.io/x')).toBe('asia.gcr.io/x');
    expect(obs.logs().find((l) => l['message'] === 'rules document is invalid')).toMatchObject({
      level: 'ERROR',
      source: `ssm:${NAME}`,
      version: '2',
      issues: ['rules[0].replace: must not be empty', expect.stringMatching(/^rules\[0\]\.colour: unknown field/)],
    });
    expect(obs.logs().find((l) => l['message'] === 'keeping the last good rules')).toMatchObject({ level: 'WARN', version: '1' });
    // The fix is read after the backoff (1 s), not a whole TTL later.
    clock += 999;
    await provider.current();
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
    clock += 1;
    expect(await provider.current()).toMatchObject({ ok: true, version: '3' });
    expect(metricTotals()).toEqual({ ConfigRefreshes: 3, ConfigErrors: 1 });
  });

  it('retries an invalid first document after the backoff, not the TTL: a fixed parameter applies within seconds', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(BAD, 7)).resolvesOnce(parameter(BAD, 7)).resolves(parameter(GOOD, 8));
    const provider = make({ ttlSeconds: 3600 });
    expect(await provider.current()).toMatchObject({ ok: false });
    clock += 999;
    expect(await provider.current()).toMatchObject({ ok: false });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    clock += 1;
    expect(await provider.current()).toMatchObject({ ok: false });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
    // Doubling: the next read 2 s later finds the fixed version.
    clock += 1999;
    await provider.current();
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
    clock += 1;
    expect(await provider.current()).toMatchObject({ ok: true, version: '8' });
    // Then back to the TTL.
    clock += 3_599_999;
    await provider.current();
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 3);
    // Logged once: the unchanged invalid text is not compiled again.
    expect(obs.logs().filter((l) => l['message'] === 'rules document is invalid')).toHaveLength(1);
  });

  it('backs off on a document that stays invalid up to the cap (30 s), never beyond the TTL', async () => {
    ssm.on(GetParameterCommand).resolves(parameter(BAD, 2));
    const reads = async (ttlSeconds: number, steps: number): Promise<number[]> => {
      ssm.resetHistory();
      const provider = make({ ttlSeconds });
      const at: number[] = [];
      const start = clock;
      for (let t = 0; t <= steps; t += 500) {
        const before = ssm.commandCalls(GetParameterCommand).length;
        await provider.current();
        if (ssm.commandCalls(GetParameterCommand).length > before) at.push(clock - start);
        clock += 500;
      }
      return at;
    };
    expect(await reads(3600, 100_000)).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 61_000, 91_000]);
    expect(await reads(5, 20_000)).toEqual([0, 1000, 3000, 7000, 12_000, 17_000]);
  });

  it('while the parameter stays invalid: the good version stays the one reported, and every read counts a ConfigError', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 1)).resolves(parameter(BAD, 2));
    const provider = make();
    await provider.current();
    for (let i = 0; i < 3; i++) {
      clock += 60_000;
      const kept = await provider.current();
      expect(kept).toMatchObject({ ok: true, version: '1' });
      expect(rewrite(kept, 'gcr.io/x')).toBe('asia.gcr.io/x');
    }
    // Logged once; counted at each read (ConfigErrorAlarm reads RulesStale, counted at every invocation: tests/unit/rules-stale.test.ts).
    expect(obs.logs().filter((l) => l['message'] === 'rules document is invalid')).toHaveLength(1);
    expect(metricTotals()).toEqual({ ConfigRefreshes: 4, ConfigErrors: 3 });
  });

  it('is not ok when the first document is invalid', async () => {
    ssm.on(GetParameterCommand).resolves(parameter(BAD, 7));
    expect(await make().current()).toEqual({
      ok: false,
      reason: `rules document ssm:${NAME} version 7 is invalid (2 problem(s), see the logs)`,
      issues: [expect.objectContaining({ path: ['rules', 0, 'replace'] }), expect.objectContaining({ path: ['rules', 0, 'colour'] })],
    });
  });

  it('says the document is invalid again when it is read again after a failed read (not the failure: it is over)', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(BAD, 7)).rejectsOnce(awsError('ThrottlingException', 'Rate exceeded')).resolves(parameter(BAD, 7));
    const provider = make();
    const invalid = await provider.current();
    expect(invalid).toMatchObject({ ok: false, reason: `rules document ssm:${NAME} version 7 is invalid (2 problem(s), see the logs)` });
    clock += 1000;
    expect(await provider.current()).toEqual({ ok: false, reason: `rules parameter ${NAME} could not be read (ThrottlingException)` });
    clock += 2000;
    // The fail-open warning of every Pod names the reason: the invalid document, not a throttling long past.
    expect(await provider.current()).toEqual(invalid);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 3);
  });

  const failures: { desc: string; error: Error; code: string }[] = [
    { desc: 'throttling', error: awsError('ThrottlingException', 'Rate exceeded'), code: 'ThrottlingException' },
    { desc: 'access denied', error: awsError('AccessDeniedException', 'User: arn:aws:sts::123456789012:assumed-role/x is not authorized'), code: 'AccessDeniedException' },
    { desc: 'missing parameter', error: new ParameterNotFound({ message: 'not found', $metadata: {} }), code: 'ParameterNotFound' },
    { desc: 'a KMS problem', error: awsError('InvalidKeyId'), code: 'InvalidKeyId' },
    { desc: 'a network error', error: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000'), { name: 'Error' }), code: 'Error' },
  ];

  it.each(failures)('fails the first read on $desc: not ok, logged, counted, retried after a backoff', async ({ error, code }) => {
    ssm.on(GetParameterCommand).rejectsOnce(error).resolves(parameter(GOOD, 1));
    const provider = make();
    const state = await provider.current();
    expect(state).toEqual({ ok: false, reason: `rules parameter ${NAME} could not be read (${code})` });
    expect(obs.logs()).toEqual([
      // Not 'answering without rewriting': serve exits 2 on a first read that fails (QA-46).
      expect.objectContaining({ level: 'ERROR', message: 'cannot read the rules parameter', parameter: NAME, errorCode: code, detail: error.message, retryInMs: 1000, keeping: 'nothing: no rules were loaded yet' }),
    ]);
    // `error` is the object of Errors in every line that has it (`unexpected error; answered 500`,
    // `cannot start`): a string here made two JSON types of one field, and a log store that types a
    // field by its first value (Elasticsearch, OpenSearch) dropped the lines of the other.
    expect(obs.logs()[0]).not.toHaveProperty('error');
    clock += 999;
    expect(await provider.current()).toBe(state);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    clock += 1;
    expect(await provider.current()).toMatchObject({ ok: true, version: '1' });
    expect(metricTotals()).toEqual({ ConfigRefreshes: 2, ConfigErrors: 1 });
  });

  // Regression: after failed reads (access denied, then the KMS key policy fixed; the parameter
  // deleted, then put back as it was), the same document read again logged nothing: the last line
  // was the ERROR, where the README's Troubleshooting waits for `rules loaded`.
  it('says `rules loaded` when the document in force is read again after failed reads', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 3)).rejectsOnce(awsError('AccessDeniedException')).resolves(parameter(GOOD, 3));
    const provider = make();
    await provider.current();
    clock += 60_000;
    await provider.current();
    expect(provider.stale?.()).toBe(true);
    clock += 1000;
    expect(await provider.current()).toMatchObject({ ok: true, version: '3' });
    expect(provider.stale?.()).toBe(false);
    expect(obs.logs().map((l) => [l['message'], l['afterFailedReads']])).toEqual([
      ['rules loaded', undefined],
      ['cannot read the rules parameter', undefined],
      ['rules loaded', true],
    ]);
    expect(obs.logs().at(-1)).toMatchObject({ level: 'INFO', source: `ssm:${NAME}`, version: '3', ruleCount: 1, exclusions: 0 });
    // Read again with nothing failed in between: nothing more said.
    clock += 60_000;
    await provider.current();
    expect(obs.logs()).toHaveLength(3);
  });

  it('backs off exponentially, up to the cap and never beyond the TTL', async () => {
    ssm.on(GetParameterCommand).rejects(awsError('ThrottlingException'));
    const provider = make({ ttlSeconds: 10 });
    const delays: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      await provider.current();
      const last = obs.logs().at(-1);
      delays.push(last?.['retryInMs']);
      clock += Number(last?.['retryInMs']);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 6);
  });

  it('starts the backoff over after a good read: the next failure is retried after the first delay again', async () => {
    const throttled = awsError('ThrottlingException');
    ssm.on(GetParameterCommand).rejectsOnce(throttled).rejectsOnce(throttled).resolvesOnce(parameter(GOOD, 1)).rejects(throttled);
    const provider = make();
    for (const wait of [1000, 2000, 60_000, 0]) {
      await provider.current();
      clock += wait;
    }
    const delays = obs.logs().filter((l) => l['message'] === 'cannot read the rules parameter').map((l) => l['retryInMs']);
    expect(delays).toEqual([1000, 2000, 1000]);
  });

  it('keeps the last good rules when a refresh fails, and retries after the backoff', async () => {
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 1)).rejectsOnce(awsError('ThrottlingException')).resolves(parameter(GOOD2, 2));
    const provider = make();
    await provider.current();
    clock += 60_000;
    const kept = await provider.current();
    expect(kept).toMatchObject({ ok: true, version: '1' });
    expect(obs.logs().find((l) => l['message'] === 'cannot read the rules parameter')).toMatchObject({ keeping: '1' });
    clock += 1000;
    expect(await provider.current()).toMatchObject({ ok: true, version: '2' });
  });

  it('handles a parameter without a version and a failure that is not an Error', async () => {
    ssm.on(GetParameterCommand).resolvesOnce({ Parameter: { Name: NAME, Value: GOOD } });
    const provider = make();
    const state = await provider.current();
    expect(state).toMatchObject({ ok: true, source: `ssm:${NAME}` });
    expect(state).not.toHaveProperty('version');
    ssm.on(GetParameterCommand).callsFake(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a client that throws a non-Error, on purpose
      throw 'socket hang up';
    });
    clock += 60_000;
    expect(await provider.current()).toBe(state);
    expect(obs.logs().find((l) => l['message'] === 'cannot read the rules parameter')).toMatchObject({
      errorCode: 'Error',
      detail: 'socket hang up',
      keeping: 'the last good rules',
    });
  });

  it('names a socket error by its code (the SDK passes it on as a plain Error), in the reason kubectl users see', async () => {
    const socket = Object.assign(new Error('getaddrinfo ENOTFOUND ssm.us-west-2.amazonaws.com'), { code: 'ENOTFOUND' });
    ssm.on(GetParameterCommand).rejects(socket);
    expect(await make().current()).toEqual({ ok: false, reason: `rules parameter ${NAME} could not be read (ENOTFOUND)` });
    expect(obs.logs().find((l) => l['message'] === 'cannot read the rules parameter')).toMatchObject({ errorCode: 'ENOTFOUND', detail: socket.message });
    const lower = Object.assign(new Error('odd'), { code: 'not a code' });
    ssm.on(GetParameterCommand).rejects(lower);
    expect(await make().current()).toMatchObject({ reason: `rules parameter ${NAME} could not be read (Error)` });
  });

  it('treats a parameter without a value as a failed read', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAME } });
    expect(await make().current()).toEqual({ ok: false, reason: `rules parameter ${NAME} could not be read (SourceError)` });
  });

  it('while a refresh is under way, only the review that started it waits: the others answer at once with the last good rules', async () => {
    // serve runs many reviews at once: all of them waited for the refresh, up to the read's 3 s
    // each time SSM was slow (again at every retry, 1, 2, 4... s later), where the README says
    // it delays "the review that refreshes the rules".
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 1));
    const provider = make();
    const good = await provider.current();
    expect(rewrite(good, 'gcr.io/x')).toBe('asia.gcr.io/x');
    // The read's answer waits for release(), which may come before the read reaches the client.
    let release: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      release = resolve;
    });
    ssm.on(GetParameterCommand).callsFake(() => answered.then(() => parameter(GOOD2, 2)));
    clock += 60_000;
    const refreshing = provider.current();
    const other = await within(provider.current(), 200);
    release();
    expect(other).toBe(good);
    expect(await refreshing).toMatchObject({ ok: true, version: '2' });
    expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
  });

  it('a health check answers from the good rules in force at once, without waiting for a refresh read', async () => {
    // GET /healthz called current(): past the TTL the probe started the refresh and waited for it,
    // up to the read's 3 s when SSM was slow, past a kubelet probe's 1 s timeout (serve's
    // readiness then took the Pod out of its Service). It answers from the rules in force now.
    ssm.on(GetParameterCommand).resolvesOnce(parameter(GOOD, 1));
    const provider = make();
    const handler = createHandler({ rules: provider, token: undefined, logger: obs.logger, metrics: obs.metrics });
    const health = { httpMethod: 'GET', path: '/healthz', headers: {}, body: null, isBase64Encoded: false, pathParameters: null, requestContext: {} };
    expect((await handler(health)).statusCode).toBe(200);
    let release: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      release = resolve;
    });
    ssm.on(GetParameterCommand).callsFake(() => answered.then(() => parameter(GOOD2, 2)));
    clock += 60_000;
    const probe = await within(handler(health), 200);
    expect(probe).toMatchObject({ statusCode: 200 });
    // The probe started no read; the next review does, and takes the new version.
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    release();
    expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
  });

  it('a health check with no good rules yet waits for the read, and says 503 when it fails', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    const handler = createHandler({ rules: make(), token: undefined, logger: obs.logger, metrics: obs.metrics });
    const result = await handler({ httpMethod: 'GET', path: '/healthz', headers: {}, body: null, isBase64Encoded: false, pathParameters: null, requestContext: {} });
    expect(result.statusCode).toBe(503);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });

  it('reads once for concurrent requests', async () => {
    ssm.on(GetParameterCommand).resolves(parameter(GOOD, 1));
    const provider = make();
    const [a, b, c] = await Promise.all([provider.current(), provider.current(), provider.current()]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });

  it('passes an abort signal bounding the read', async () => {
    ssm.on(GetParameterCommand).resolves(parameter(GOOD, 1));
    await make({ timeoutMs: 1234 }).current();
    const options = (ssm.call(0).args as unknown[])[1] as { abortSignal?: unknown } | undefined;
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
  });

  it('says a read that timed out had no answer within the bound (the SDK says only "Request aborted")', async () => {
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
    expect(await make({ timeoutMs: 1234 }).current()).toEqual({ ok: false, reason: `rules parameter ${NAME} could not be read (AbortError)` });
    expect(obs.logs().at(-1)).toMatchObject({ message: 'cannot read the rules parameter', errorCode: 'AbortError', detail: 'no answer within 1234 ms (Request aborted)' });
    await expect(resolveToken({ kind: 'ssm', name: '/t' }, { ssm: () => Promise.resolve(new SSMClient({})), secretsManager: () => Promise.resolve(new SecretsManagerClient({})) }, 1234)).rejects.toThrow(
      'cannot read the webhook token from SSM parameter /t (AbortError): no answer within 1234 ms (Request aborted)',
    );
  });

  it('builds its client with an async factory at the first read; a failed build is a failed read, retried', async () => {
    ssm.on(GetParameterCommand).resolves(parameter(GOOD, 1));
    const built: string[] = [];
    let fail = true;
    const provider = make({
      client: () => {
        built.push(fail ? 'failed' : 'built');
        return fail ? Promise.reject(Object.assign(new Error("Cannot find package '@aws-sdk/client-ssm'"), { name: 'Error' })) : Promise.resolve(new SSMClient({ region: 'us-west-2' }));
      },
    });
    expect(built).toEqual([]);
    expect(await provider.current()).toEqual({ ok: false, reason: `rules parameter ${NAME} could not be read (Error)` });
    expect(obs.logs()).toEqual([
      expect.objectContaining({ level: 'ERROR', message: 'cannot read the rules parameter', errorCode: 'Error', detail: "Cannot find package '@aws-sdk/client-ssm'", retryInMs: 1000 }),
    ]);
    fail = false;
    clock += 1000;
    expect(await provider.current()).toMatchObject({ ok: true, version: '1' });
    expect(built).toEqual(['failed', 'built']);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });

  it('works with the real clock by default', async () => {
    ssm.on(GetParameterCommand).resolves(parameter(GOOD, 1));
    const provider = ssmRules({ client: new SSMClient({ region: 'us-west-2' }), name: NAME, ttlSeconds: 60, env: {}, ...obs });
    expect(await provider.current()).toMatchObject({ ok: true });
  });
});

describe('resolveToken', () => {
  const deps = { ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })), secretsManager: () => Promise.resolve(new SecretsManagerClient({ region: 'us-west-2' })) };

  it('is undefined without a token and the value of an inline one', async () => {
    expect(await resolveToken({ kind: 'none' }, deps)).toBeUndefined();
    expect(await resolveToken({ kind: 'inline', tokens: [TOKEN] }, deps)).toEqual([TOKEN]);
  });

  it('reads an SSM SecureString with decryption, trimmed', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/t', Type: 'SecureString', Value: `${TOKEN}\n`, Version: 1 } });
    expect(await resolveToken({ kind: 'ssm', name: '/t' }, deps)).toEqual([TOKEN]);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: '/t', WithDecryption: true });
  });

  it.each([
    ['a plain secret string', TOKEN],
    ['a JSON secret with a token field', JSON.stringify({ token: TOKEN, note: 'generated' })],
    ['a JSON secret, spaced', ` { "token": " ${TOKEN} " }`],
  ])('reads %s from Secrets Manager', async (_desc, secretString) => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString });
    expect(await resolveToken({ kind: 'secret', secretId: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:t' }, deps)).toEqual([TOKEN]);
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:t' });
  });

  it("reads a token secret named by its ARN in the ARN's region (Secrets Manager knows a secret only there)", async () => {
    const regions: string[] = [];
    secrets.on(GetSecretValueCommand).callsFake(async (_input: unknown, getClient: () => SecretsManagerClient) => {
      const region = await getClient().config.region();
      regions.push(region);
      if (region !== 'eu-west-1') throw new ResourceNotFoundException({ message: 'not found', $metadata: {} });
      return { SecretString: TOKEN };
    });
    expect(await resolveToken({ kind: 'secret', secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:t' }, deps)).toEqual([TOKEN]);
    // A name is read with the shared client (in its region).
    await expect(resolveToken({ kind: 'secret', secretId: 't' }, deps)).rejects.toThrow(/ResourceNotFoundException/);
    expect(regions).toEqual(['eu-west-1', 'us-west-2']);
  });

  it.each([
    ['a JSON secret without "token"', JSON.stringify({ password: TOKEN }), 'is JSON without a string "token" field'],
    ['a JSON secret with a numeric token', JSON.stringify({ token: 1234 }), 'is JSON without a string "token" field'],
    ['broken JSON', '{"token":', 'is JSON without a string "token" field'],
    ['an empty secret', '  ', 'is empty'],
    ['a binary secret', undefined, 'is empty'],
    ['a short token', 'abc', 'must be at least 16 characters'],
  ])('rejects %s', async (_desc, secretString, message) => {
    secrets.on(GetSecretValueCommand).resolves(secretString === undefined ? { SecretBinary: new Uint8Array([1]) } : { SecretString: secretString });
    const p = resolveToken({ kind: 'secret', secretId: 's' }, deps);
    await expect(p).rejects.toThrow(SourceError);
    await expect(p).rejects.toThrow(`the webhook token in secret s ${message}`);
  });

  it('rejects an SSM parameter holding a token that cannot be in a URL, without printing it', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'with/slash/0123456789abcdef' } });
    const error = await resolveToken({ kind: 'ssm', name: '/t' }, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).not.toContain('with/slash');
  });

  it('names a socket error by its code', async () => {
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' }));
    await expect(resolveToken({ kind: 'ssm', name: '/t' }, deps)).rejects.toThrow('cannot read the webhook token from SSM parameter /t (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:443');
  });

  it.each([
    ['an SSM parameter', { kind: 'ssm', name: '/t' } as const, 'SSM parameter /t'],
    ['a Secrets Manager secret', { kind: 'secret', secretId: 'image-rewriter/token' } as const, 'secret image-rewriter/token'],
  ])('gives up on %s that never answers after its bound, as a read that timed out', async (_desc, setting, where) => {
    // A store that answers only when the read is aborted, as the SDK does: the bound is what ends the read.
    const hang = (_command: unknown, options?: { abortSignal?: AbortSignal }): Promise<never> =>
      new Promise((_resolve, reject) => {
        options?.abortSignal?.addEventListener('abort', () => {
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        });
      });
    const ssmClient = new SSMClient({ region: 'us-west-2' });
    const secretsClient = new SecretsManagerClient({ region: 'us-west-2' });
    ssmClient.send = hang as typeof ssmClient.send;
    secretsClient.send = hang as typeof secretsClient.send;
    const error = await resolveToken(setting, { ssm: () => Promise.resolve(ssmClient), secretsManager: () => Promise.resolve(secretsClient) }, 50).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ unreadable: true, message: `cannot read the webhook token from ${where} (AbortError): no answer within 50 ms (Request aborted)` });
  });

  it('names only a plain Error by its code: another error keeps its own name whatever code it carries', () => {
    expect(errorCode(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(errorCode(Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL' }))).toBe('TypeError');
    expect(errorCode(awsError('AccessDeniedException', 'not authorized'))).toBe('AccessDeniedException');
    // Text in the code's place is never shown, only a code's own shape (capitals, digits, _; at most 40).
    for (const code of ['Token abc0123456789 refused', 'econnrefused', `E${'X'.repeat(40)}`]) expect(errorCode(Object.assign(new Error('x'), { code }))).toBe('Error');
    expect(errorCode(Object.assign(new Error('x'), { code: `E${'X'.repeat(39)}` }))).toBe(`E${'X'.repeat(39)}`);
    expect(errorCode('socket hang up')).toBe('Error');
  });

  it('reports a failure that is not an Error', async () => {
    const client = new SSMClient({ region: 'us-west-2' });
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a client that rejects with a string, on purpose
    client.send = (() => Promise.reject('socket hang up')) as typeof client.send;
    await expect(resolveToken({ kind: 'ssm', name: '/t' }, { ...deps, ssm: () => Promise.resolve(client) })).rejects.toThrow(
      'cannot read the webhook token from SSM parameter /t (Error): socket hang up',
    );
  });

  it.each([
    ['SSM', { kind: 'ssm', name: '/t' } as const, 'SSM parameter /t'],
    ['Secrets Manager', { kind: 'secret', secretId: 'arn:s' } as const, 'secret arn:s'],
  ])('wraps a %s client that cannot be built (the SDK does not load) in a SourceError', async (_desc, setting, where) => {
    const cause = new Error('Cannot find package');
    const error = await resolveToken(setting, { ssm: () => Promise.reject(cause), secretsManager: () => Promise.reject(cause) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toBe(`cannot read the webhook token from ${where} (Error): Cannot find package`);
    expect((error as Error).cause).toBe(cause);
  });

  it.each([
    ['SSM', { kind: 'ssm', name: '/t' } as const, 'SSM parameter /t', 'AccessDeniedException'],
    ['Secrets Manager', { kind: 'secret', secretId: 'arn:s' } as const, 'secret arn:s', 'ResourceNotFoundException'],
  ])('wraps a %s failure in a SourceError with its cause', async (_desc, setting, where, code) => {
    const cause =
      setting.kind === 'ssm'
        ? awsError('AccessDeniedException', 'not authorized')
        : new ResourceNotFoundException({ message: 'not authorized', $metadata: {} });
    ssm.on(GetParameterCommand).rejects(cause);
    secrets.on(GetSecretValueCommand).rejects(cause);
    const error = await resolveToken(setting, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toBe(`cannot read the webhook token from ${where} (${code}): not authorized`);
    expect((error as Error).cause).toBe(cause);
  });
});

describe('loadSources and createRulesProvider', () => {
  afterEach(() => {
    ssm.reset();
  });

  it('builds no AWS client for inline rules and an inline token', async () => {
    const obs = captureObservability();
    const calls: string[] = [];
    const sources = await loadSources(
      { REWRITE_RULES: GOOD, WEBHOOK_TOKEN: TOKEN },
      {
        ...obs,
        ssm: () => {
          calls.push('ssm');
          return Promise.resolve(new SSMClient({}));
        },
        secretsManager: () => {
          calls.push('secrets');
          return Promise.resolve(new SecretsManagerClient({}));
        },
      },
    );
    expect(calls).toEqual([]);
    expect(sources.token).toEqual([TOKEN]);
    expect(await sources.rules.current()).toMatchObject({ ok: true, source: 'REWRITE_RULES' });
    expect(obs.logs().find((l) => l['message'] === 'configuration')).toEqual(expect.objectContaining({ rules: 'REWRITE_RULES', token: 'WEBHOOK_TOKEN' }));
    expect(obs.text()).not.toContain(TOKEN);
  });

  it('reads the rules parameter and the token secret at load', async () => {
    const obs = captureObservability();
    ssm.on(GetParameterCommand, { Name: NAME }).resolves(parameter(GOOD, 4));
    secrets.on(GetSecretValueCommand).resolves({ SecretString: TOKEN });
    const sources = await loadSources(
      { REWRITE_RULES_PARAMETER: NAME, REWRITE_RULES_TTL_SECONDS: '120', WEBHOOK_TOKEN_SECRET_ARN: 'arn:s' },
      { ...obs, ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })), secretsManager: () => Promise.resolve(new SecretsManagerClient({ region: 'us-west-2' })) },
    );
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    expect(sources.token).toEqual([TOKEN]);
    expect(sources.settings.rules).toEqual({ kind: 'ssm', name: NAME, ttlSeconds: 120 });
    expect(await sources.rules.current()).toMatchObject({ ok: true, version: '4' });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    expect(obs.logs().find((l) => l['message'] === 'configuration')).toEqual(
      expect.objectContaining({ rules: `ssm:${NAME}`, ttlSeconds: 120, token: 'secretsmanager:arn:s' }),
    );
    expect(obs.text()).not.toContain(TOKEN);
  });

  it('reads the token and the rules parameter at once at a cold start (one round trip, not two)', async () => {
    const obs = captureObservability();
    const started: string[] = [];
    let releaseToken = (): void => undefined;
    const tokenHeld = new Promise<void>((resolve) => {
      releaseToken = resolve;
    });
    ssm.on(GetParameterCommand).callsFake(async (input: { Name?: string }) => {
      started.push(input.Name ?? '');
      if (input.Name !== '/t') return parameter(GOOD, 2);
      await tokenHeld;
      return { Parameter: { Name: '/t', Type: 'SecureString', Value: TOKEN, Version: 1 } };
    });
    const loading = loadSources(
      { REWRITE_RULES_PARAMETER: NAME, WEBHOOK_TOKEN_PARAMETER: '/t' },
      { ...obs, ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })), secretsManager: () => Promise.resolve(new SecretsManagerClient({})) },
    );
    for (let i = 0; i < 100 && !started.includes(NAME); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    // The rules' read started while the token's was still unanswered.
    expect(started.sort()).toEqual([NAME, '/t'].sort());
    releaseToken();
    const sources = await loading;
    expect(sources.token).toEqual([TOKEN]);
    expect(await sources.rules.current()).toMatchObject({ ok: true, version: '2' });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
  });

  it('loads even when the rules cannot be read (the handler fails open)', async () => {
    const obs = captureObservability();
    ssm.on(GetParameterCommand).rejects(awsError('AccessDeniedException'));
    const sources = await loadSources({ REWRITE_RULES_PARAMETER: NAME, WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' }, { ...obs, ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })), secretsManager: () => Promise.resolve(new SecretsManagerClient({})) });
    expect(await sources.rules.current()).toEqual({ ok: false, reason: `rules parameter ${NAME} could not be read (AccessDeniedException)` });
    expect(sources.token).toBeUndefined();
  });

  it('fails when the token cannot be read', async () => {
    const obs = captureObservability();
    ssm.on(GetParameterCommand).rejects(awsError('ParameterNotFound'));
    await expect(
      loadSources({ REWRITE_RULES: GOOD, WEBHOOK_TOKEN_PARAMETER: '/t' }, { ...obs, ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })), secretsManager: () => Promise.resolve(new SecretsManagerClient({})) }),
    ).rejects.toThrow('cannot read the webhook token from SSM parameter /t (ParameterNotFound)');
  });

  it('fails on a bad environment', async () => {
    const obs = captureObservability();
    await expect(loadSources({}, { ...obs, ssm: () => Promise.resolve(new SSMClient({})), secretsManager: () => Promise.resolve(new SecretsManagerClient({})) })).rejects.toThrow(SourceError);
  });

  it('creates the provider for each setting', async () => {
    const obs = captureObservability();
    ssm.on(GetParameterCommand).resolves(parameter(GOOD, 1));
    let built = 0;
    const ssmClient = () => {
      built++;
      return Promise.resolve(new SSMClient({ region: 'us-west-2' }));
    };
    const deps = { ...obs, env: {}, ssm: ssmClient, secretsManager: () => Promise.resolve(new SecretsManagerClient({})) };
    expect(await createRulesProvider({ kind: 'inline', text: GOOD }, deps).current()).toMatchObject({ ok: true, source: 'REWRITE_RULES' });
    const fromSsm = createRulesProvider({ kind: 'ssm', name: NAME, ttlSeconds: 5 }, deps);
    expect(built).toBe(0);
    expect(await fromSsm.current()).toMatchObject({ ok: true, source: `ssm:${NAME}` });
    expect(built).toBe(1);
  });

  it.each([
    [{ kind: 'none' } as const, 'none: requests are not authenticated'],
    [{ kind: 'inline', tokens: [TOKEN] } as const, 'WEBHOOK_TOKEN'],
    [{ kind: 'ssm', name: '/t' } as const, 'ssm:/t'],
    [{ kind: 'secret', secretId: 'arn:s' } as const, 'secretsmanager:arn:s'],
  ])('describes the token source %j without the token', (setting, text) => {
    expect(describeToken(setting)).toBe(text);
  });
});

describe('fileRules and a token file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sources-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the file once, now, when it is not watched', async () => {
    const obs = captureObservability();
    const path = join(dir, 'rules.yaml');
    await writeFile(path, GOOD);
    const { provider, watch } = await fileRules(path, { ...obs, env: {} });
    expect(watch).toBeUndefined();
    const first = await provider.current();
    expect(rewrite(first, 'gcr.io/x')).toBe('asia.gcr.io/x');
    expect(obs.logs().map((l) => l['message'])).toEqual(['rules loaded']);
  });

  it('follows the file when watched: a new document replaces the rules, a bad one is logged and the last good stays', async () => {
    const obs = captureObservability();
    const path = join(dir, 'rules.yaml');
    await writeFile(path, GOOD);
    const log = (): void => undefined;
    const { provider, watch } = await fileRules(path, { ...obs, env: {}, watch: { log, pollMs: 3_600_000 } });
    try {
      await writeFile(path, GOOD2);
      await watch?.check();
      expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
      await writeFile(path, BAD);
      await watch?.check();
      await watch?.check();
      expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
      await rm(path);
      await watch?.check();
      await watch?.check();
      expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
      const messages = obs.logs().map((l) => l['message']);
      expect(messages).toEqual(['rules loaded', 'rules loaded', 'rules document is invalid', 'keeping the last good rules', 'cannot read the rules file']);
      expect(obs.logs().at(-1)).toMatchObject({ level: 'ERROR', source: path, reason: 'no such file or directory (ENOENT)', keeping: 'the last good rules' });
      expect(obs.logs().at(-1)).not.toHaveProperty('error');
    } finally {
      watch?.close();
    }
  });

  // serve --workers: a replacement worker whose rules file was made invalid (or deleted) since the
  // others loaded it could not start (exit 2) and, all of them dead, nothing listened.
  describe('shared with other workers (SharedRules)', () => {
    const sharing = (given: string | undefined): { readonly told: string[]; readonly asked: string[]; readonly shared: SharedRules } => {
      const told: string[] = [];
      const asked: string[] = [];
      return {
        told,
        asked,
        shared: {
          loaded: (_source, text) => { told.push(text); },
          lastGood: (source) => {
            asked.push(source);
            return Promise.resolve(given);
          },
        },
      };
    };

    it('tells each document loaded; an invalid first document then takes the last good rules given, stale, and a valid version replaces them', async () => {
      const obs = captureObservability();
      const path = join(dir, 'rules.yaml');
      await writeFile(path, BAD);
      const { told, asked, shared } = sharing(GOOD);
      const { provider, watch } = await fileRules(path, { ...obs, env: {}, watch: { log: () => undefined, pollMs: 3_600_000 }, shared });
      try {
        expect(asked).toEqual([path]);
        expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('asia.gcr.io/x');
        expect(provider.stale?.()).toBe(true);
        expect(obs.logs().map((l) => l['message'])).toEqual(['rules document is invalid', 'using the last good rules of the other workers']);
        expect(obs.logs().at(-1)).toMatchObject({ level: 'WARN', source: path, because: 'the rules document is invalid', ruleCount: 1 });
        expect(told).toEqual([]);
        await writeFile(path, GOOD2);
        await watch?.check();
        expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
        expect(provider.stale?.()).toBe(false);
        expect(told).toEqual([GOOD2]);
      } finally {
        watch?.close();
      }
    });

    it('an unreadable first read takes them too; a valid first document asks for nothing', async () => {
      const obs = captureObservability();
      const missing = sharing(GOOD);
      const state = await (await fileRules(join(dir, 'none.yaml'), { ...obs, env: {}, shared: missing.shared })).provider.current();
      expect(rewrite(state, 'gcr.io/x')).toBe('asia.gcr.io/x');
      expect(obs.logs().at(-1)).toMatchObject({ message: 'using the last good rules of the other workers', because: 'cannot read the rules file: no such file or directory (ENOENT)' });
      const path = join(dir, 'rules.yaml');
      await writeFile(path, GOOD2);
      const valid = sharing(GOOD);
      expect(rewrite(await (await fileRules(path, { ...obs, env: {}, shared: valid.shared })).provider.current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
      expect(valid.asked).toEqual([]);
      expect(valid.told).toEqual([GOOD2]);
    });

    it('refuses last good rules that are invalid (never trusted blindly), and starts as without them when none are given', async () => {
      const path = join(dir, 'rules.yaml');
      await writeFile(path, BAD);
      const obs = captureObservability();
      const state = await (await fileRules(path, { ...obs, env: {}, shared: sharing(BAD.replace('blue', 'red')).shared })).provider.current();
      expect(state.ok).toBe(false);
      expect(obs.logs().map((l) => l['message'])).toEqual(['rules document is invalid', 'the last good rules given are invalid: not used']);
      const none = captureObservability();
      expect((await (await fileRules(path, { ...none, env: {}, shared: sharing(undefined).shared })).provider.current()).ok).toBe(false);
      expect(none.logs().map((l) => l['message'])).toEqual(['rules document is invalid']);
    });

    // With the rules in SSM, a replacement started while the parameter could not be read (or was
    // made invalid) exited 2, again and again, as with a file before.
    describe('rules in SSM', () => {
      const source = `ssm:${NAME}`;
      const ssmShared = (shared: SharedRules, obs: Captured) => ssmRules({ client: new SSMClient({ region: 'us-west-2' }), name: NAME, ttlSeconds: 60, env: {}, ...obs, shared });

      it.each([
        { desc: 'cannot be read', setup: () => ssm.on(GetParameterCommand).rejects(new Error('throttled')), because: `rules parameter ${NAME} could not be read` },
        { desc: 'is invalid', setup: () => ssm.on(GetParameterCommand).resolves(parameter(BAD, 7)), because: `rules document ${source} version 7 is invalid` },
      ])('a first read whose parameter $desc takes the last good rules given, stale', async ({ setup, because }) => {
        setup();
        const obs = captureObservability();
        const { told, asked, shared } = sharing(GOOD);
        const provider = ssmShared(shared, obs);
        expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('asia.gcr.io/x');
        expect(asked).toEqual([source]);
        expect(told).toEqual([]);
        expect(provider.stale?.()).toBe(true);
        expect(obs.logs().at(-1)).toMatchObject({ level: 'WARN', message: 'using the last good rules of the other workers', source, because: expect.stringContaining(because) });
      });

      it('asks at the first read only: the others had none then, and a later failed read does not ask again', async () => {
        ssm.on(GetParameterCommand).rejects(new Error('throttled'));
        let clock = 0;
        const { asked, shared } = sharing(undefined);
        const provider = ssmRules({ client: new SSMClient({ region: 'us-west-2' }), name: NAME, ttlSeconds: 60, env: {}, ...captureObservability(), shared, now: () => clock });
        expect((await provider.current()).ok).toBe(false);
        clock += 60_000;
        expect((await provider.current()).ok).toBe(false);
        expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
        expect(asked).toEqual([source]);
      });

      it('tells each document loaded, and asks for nothing after a good first read', async () => {
        ssm.on(GetParameterCommand).resolves(parameter(GOOD2, 2));
        const obs = captureObservability();
        const { told, asked, shared } = sharing(GOOD);
        expect(rewrite(await ssmShared(shared, obs).current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
        expect(asked).toEqual([]);
        expect(told).toEqual([GOOD2]);
      });
    });
  });

  it('a followed file replaced by a named pipe: the check neither blocks nor reads it, says so once, keeps the last good rules, and reads the file put back', async () => {
    // Opened as a file, a FIFO without a writer blocked the check for good: every later check
    // waited behind it, so no later version (v2 below) was ever read, and nothing was logged.
    const obs = captureObservability();
    const path = join(dir, 'rules.yaml');
    await writeFile(path, GOOD);
    const { provider, watch } = await fileRules(path, { ...obs, env: {}, watch: { log: () => undefined, pollMs: 3_600_000 } });
    const checked = async (): Promise<string> => ((await within(watch?.check() ?? Promise.resolve(), 2000)) === LATE ? 'still blocked after 2 s' : 'checked');
    try {
      await rm(path);
      execFileSync('mkfifo', [path]);
      expect(await checked()).toBe('checked');
      expect(await checked()).toBe('checked');
      expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('asia.gcr.io/x');
      await rm(path);
      await writeFile(path, GOOD2);
      expect(await checked()).toBe('checked');
      expect(rewrite(await provider.current(), 'gcr.io/x')).toBe('eu.gcr.io/x');
      const errors = obs.logs().filter((l) => l['message'] === 'cannot read the rules file');
      expect(errors).toEqual([expect.objectContaining({ level: 'ERROR', source: path, reason: expect.stringMatching(/^not a regular file/) as unknown, keeping: 'the last good rules' })]);
    } finally {
      watch?.close();
      // Before the fix a check stays blocked opening the FIFO: a writer (which does not block
      // while that reader waits) releases it, so that the test process can end.
      try {
        closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // no reader waiting: nothing to release
      }
    }
  });

  it('is not ok, with the issues, when the first document is invalid, and says why when the file is missing', async () => {
    const obs = captureObservability();
    const path = join(dir, 'rules.yaml');
    await writeFile(path, BAD);
    const bad = await (await fileRules(path, { ...obs, env: {} })).provider.current();
    expect(bad).toMatchObject({ ok: false, issues: [expect.objectContaining({ path: ['rules', 0, 'replace'] }), expect.objectContaining({ path: ['rules', 0, 'colour'] })] });
    const missing = await (await fileRules(join(dir, 'none.yaml'), { ...obs, env: {} })).provider.current();
    expect(missing).toEqual({ ok: false, reason: `cannot read rules document ${join(dir, 'none.yaml')}: no such file or directory (ENOENT)` });
  });

  it('says a file that is not UTF-8 (saved as UTF-16) is not UTF-8, instead of "must be a mapping"', async () => {
    const obs = captureObservability();
    const path = join(dir, 'rules.yaml');
    await writeFile(path, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(GOOD, 'utf16le')]));
    const state = await (await fileRules(path, { ...obs, env: {} })).provider.current();
    expect(state).toEqual({ ok: false, reason: `cannot read rules document ${path}: not UTF-8 text (save the rules document as UTF-8)` });
    // A byte order mark (UTF-8's own) is still fine.
    await writeFile(path, `\ufeff${GOOD}`);
    expect(rewrite(await (await fileRules(path, { ...obs, env: {} })).provider.current(), 'gcr.io/x')).toBe('asia.gcr.io/x');
  });


  it.each([
    ['UTF-16LE', 'utf16le'],
    ['UTF-16BE', 'utf16be'],
  ] as const)('says a file saved as %s without a byte order mark is not UTF-8 (its bytes are valid UTF-8, with NULs)', async (_, encoding) => {
    const obs = captureObservability();
    const path = join(dir, 'rules.yaml');
    const le = Buffer.from(GOOD, 'utf16le');
    await writeFile(path, encoding === 'utf16le' ? le : Buffer.from(le).swap16());
    const state = await (await fileRules(path, { ...obs, env: {} })).provider.current();
    expect(state).toMatchObject({ ok: false, issues: [{ path: [], severity: 'error', message: 'holds a NUL character: not UTF-8 text (UTF-16?); save the rules document as UTF-8' }] });
    expect(state).toMatchObject({ issues: [{ position: { line: 1, column: encoding === 'utf16le' ? 2 : 1 } }] });
  });
  it('reads a token file with the same check as every other source', async () => {
    const deps = { ssm: () => Promise.reject(new Error('unused')), secretsManager: () => Promise.reject(new Error('unused')) };
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
    expect(await resolveToken({ kind: 'file', path: join(dir, 'token') }, deps)).toEqual([TOKEN]);
    await writeFile(join(dir, 'short'), 'abc\n');
    await expect(resolveToken({ kind: 'file', path: join(dir, 'short') }, deps)).rejects.toThrow(
      `the webhook token in --token-file ${join(dir, 'short')} must be at least 16 characters`,
    );
    const missing = await resolveToken({ kind: 'file', path: join(dir, 'none') }, deps).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SourceError);
    expect(missing).toMatchObject({ unreadable: true, message: `cannot read --token-file ${join(dir, 'none')}: no such file or directory (ENOENT)` });
  });

  it(`takes a token file of exactly ${MAX_TOKEN_FILE_BYTES} bytes and refuses one byte larger, whatever its first bytes hold`, async () => {
    const deps = { ssm: () => Promise.reject(new Error('unused')), secretsManager: () => Promise.reject(new Error('unused')) };
    // A valid token, then blank lines: trimmed away, so only the size decides.
    const padded = (bytes: number): string => `${TOKEN}\n`.padEnd(bytes, '\n');
    await writeFile(join(dir, 'largest'), padded(MAX_TOKEN_FILE_BYTES));
    expect(await resolveToken({ kind: 'file', path: join(dir, 'largest') }, deps)).toEqual([TOKEN]);
    await writeFile(join(dir, 'too-large'), padded(MAX_TOKEN_FILE_BYTES + 1));
    const refused = await resolveToken({ kind: 'file', path: join(dir, 'too-large') }, deps).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SourceError);
    expect(refused).toMatchObject({ unreadable: true, message: `cannot read --token-file ${join(dir, 'too-large')}: larger than ${MAX_TOKEN_FILE_BYTES} bytes, not a token file` });
    expect((refused as Error).message).not.toContain(TOKEN);
  });
});

describe('readSettings: the token requirement', () => {
  it.each([
    { desc: 'no token, no opt-in', env: { REWRITE_RULES: GOOD }, options: {}, ok: false },
    { desc: 'no token, opt-in variable', env: { REWRITE_RULES: GOOD, WEBHOOK_ALLOW_UNAUTHENTICATED: 'TRUE' }, options: {}, ok: true },
    { desc: 'no token, opt-in false', env: { REWRITE_RULES: GOOD, WEBHOOK_ALLOW_UNAUTHENTICATED: 'false' }, options: {}, ok: false },
    { desc: 'a token, opt-in false', env: { REWRITE_RULES: GOOD, WEBHOOK_TOKEN: TOKEN, WEBHOOK_ALLOW_UNAUTHENTICATED: 'false' }, options: {}, ok: true },
    { desc: 'no token, opt-in flag', env: { REWRITE_RULES: GOOD }, options: { allowUnauthenticated: true }, ok: true },
    { desc: 'no token, an adapter that needs none', env: { REWRITE_RULES: GOOD }, options: { tokenRequired: false }, ok: true },
    { desc: 'a token file', env: { REWRITE_RULES: GOOD }, options: { tokenFile: '/t' }, ok: true },
  ])('$desc', ({ env, options, ok }) => {
    const read = (): unknown => readSettings(env, options);
    if (ok) expect(read).not.toThrow();
    else expect(read).toThrow('WEBHOOK_TOKEN: no webhook token: set WEBHOOK_TOKEN, WEBHOOK_TOKEN_PARAMETER or WEBHOOK_TOKEN_SECRET_ARN');
  });

  it('takes --config over the rules variables, and the built-in rules only when none are set', () => {
    expect(readSettings({ REWRITE_RULES: GOOD, WEBHOOK_TOKEN: TOKEN }, { configFile: 'r.yaml' }).rules).toEqual({ kind: 'file', path: 'r.yaml' });
    const fallback = { text: GOOD2, source: 'built-in' };
    expect(readSettings({ REWRITE_RULES: ' ', WEBHOOK_TOKEN: TOKEN }, { fallbackRules: fallback }).rules).toEqual({ kind: 'inline', ...fallback });
    expect(readSettings({ REWRITE_RULES: GOOD, WEBHOOK_TOKEN: TOKEN }, { fallbackRules: fallback }).rules).toEqual({ kind: 'inline', text: GOOD });
  });
});
