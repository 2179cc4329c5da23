/**
 * Security review of template.yaml, parsed with the `yaml` package and CloudFormation's short-form
 * tags (`!Ref`, `!Sub`, `!If`...) read into their JSON forms: each function runs with its own role
 * and may write only its own log group, the webhook function may only read
 * this stack's token parameter and the one rules parameter, the token function may only write and
 * delete that token parameter (no wildcard action or resource, but the Decrypt that re-encrypts the
 * token, pinned to its ciphertext), with KmsKeyArn each may use that key only through SSM and Secrets
 * Manager for what it reads or writes, the stage is throttled, the token
 * is generated at deploy time and kept out of parameters, attributes and outputs, access logs never
 * hold it (tracing, which records it, says so), a PRIVATE endpoint admits only its VPC endpoints, a REGIONAL one
 * only the AllowedSourceCidrs when given, and the only route is POST /mutate/{token}.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_VERIFY_DEADLINE_MS, MAX_VERIFY_DEADLINE_MS, MIN_VERIFY_DEADLINE_MS, readSettings, SourceError } from '../../src/config/settings.js';
import { READ_TIMEOUT_MS } from '../../src/config/token.js';
import { REVIEW_LOG_MESSAGE } from '../../src/observability/telemetry.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { type Json, loadTemplate, patternRange } from '../helpers/template.js';

const template = loadTemplate();
const resources = template.Resources;
const fn = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Serverless::Function' || r.Type === 'AWS::Lambda::Function');
const NONE: { Type: string; Properties: Record<string, Json> } = { Type: '', Properties: {} };

/** Every statement of a policy list, through `Fn::If` branches (AWS::NoValue dropped). */
function statements(policies: Json): Record<string, Json>[] {
  const out: Record<string, Json>[] = [];
  const visit = (p: Json): void => {
    if (p === null || typeof p !== 'object') {
      if (typeof p === 'string') out.push({ ManagedPolicy: p });
      return;
    }
    if (Array.isArray(p)) {
      p.forEach(visit);
      return;
    }
    if ('Fn::If' in p) {
      const branches = p['Fn::If'];
      if (Array.isArray(branches)) branches.slice(1).forEach(visit);
      return;
    }
    if ('Ref' in p && p['Ref'] === 'AWS::NoValue') return;
    if ('PolicyDocument' in p) {
      visit(p['PolicyDocument'] ?? null);
      return;
    }
    if ('Effect' in p) {
      out.push(p);
      return;
    }
    if ('Statement' in p) {
      visit(p['Statement'] ?? null);
      return;
    }
    out.push({ SamPolicyTemplate: p });
  };
  visit(policies);
  return out;
}

const list = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

const TOKEN_PARAMETER_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/image-rewriter/${AWS::StackName}/webhook-token' };
const RULES_PARAMETER_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${RewriteRulesParameterName}' };
const fnNamed = (name: string): { Type: string; Properties: Record<string, Json> } => fn.find(([n]) => n === name)?.[1] ?? NONE;
/** The role a function runs with: its own AWS::IAM::Role (`Role: !GetAtt <name>Role.Arn`), never SAM's. */
const roleOf = (name: string): { Type: string; Properties: Record<string, Json> } => resources[`${name}Role`] ?? NONE;
const rolePolicies = (name: string): Json[] => list(roleOf(name).Properties['Policies']);
const grantsOf = (name: string): { effect: Json | undefined; actions: Json[]; resources: Json[]; condition?: Json }[] =>
  statements(rolePolicies(name)).map((s) => ({ effect: s['Effect'], actions: list(s['Action']), resources: list(s['Resource']), ...(s['Condition'] === undefined ? {} : { condition: s['Condition'] }) }));
const REGISTRY_PARAMETER_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${RegistryCredentialsParameterName}' };
const NO_VALUE = { Ref: 'AWS::NoValue' };
/** kms:ViaService of a service of the stack's region, in both spellings (amazonaws.com; the partition's suffix). */
const via = (service: string): Json[] => [{ 'Fn::Sub': `${service}.\${AWS::Region}.amazonaws.com` }, { 'Fn::Sub': `${service}.\${AWS::Region}.\${AWS::URLSuffix}` }];
const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];

describe('template.yaml: least privilege', () => {
  it('has the webhook function and the token custom resource function, nothing else', () => {
    expect(fn.map(([name]) => name)).toEqual(['WebhookFunction', 'WebhookTokenFunction']);
  });

  it('the webhook may only read its token parameter and, when used, the rules parameter and what existence checks were given', () => {
    expect(grantsOf('WebhookFunction')).toEqual([
      { effect: 'Allow', actions: LOGS, resources: [{ 'Fn::GetAtt': 'WebhookFunctionLogGroup.Arn' }] },
      { effect: 'Allow', actions: ['ssm:GetParameter'], resources: [TOKEN_PARAMETER_ARN] },
      { effect: 'Allow', actions: ['ssm:GetParameter'], resources: [RULES_PARAMETER_ARN] },
      { effect: 'Allow', actions: ['ecr:BatchGetImage'], resources: [{ Ref: 'VerifyEcrRepositoryArns' }] },
      { effect: 'Allow', actions: ['ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'], resources: [{ Ref: 'VerifyEcrRepositoryArns' }] },
      { effect: 'Allow', actions: ['secretsmanager:GetSecretValue'], resources: [{ Ref: 'RegistryCredentialsSecretArn' }] },
      { effect: 'Allow', actions: ['ssm:GetParameter'], resources: [REGISTRY_PARAMETER_ARN] },
      // KmsKeyArn: Decrypt with that key only through SSM, for the token and the parameters it reads,
      // and through Secrets Manager for the credentials secret (each service's encryption context).
      {
        effect: 'Allow',
        actions: ['kms:Decrypt'],
        resources: [{ Ref: 'KmsKeyArn' }],
        condition: {
          StringEquals: {
            'kms:ViaService': via('ssm'),
            'kms:EncryptionContext:PARAMETER_ARN': [TOKEN_PARAMETER_ARN, { 'Fn::If': ['RulesFromParameter', RULES_PARAMETER_ARN, NO_VALUE] }, { 'Fn::If': ['RegistryCredentialsFromParameter', REGISTRY_PARAMETER_ARN, NO_VALUE] }],
          },
        },
      },
      {
        effect: 'Allow',
        actions: ['kms:Decrypt'],
        resources: [{ Ref: 'KmsKeyArn' }],
        condition: { StringEquals: { 'kms:ViaService': via('secretsmanager'), 'kms:EncryptionContext:SecretARN': { Ref: 'RegistryCredentialsSecretArn' } } },
      },
    ]);
  });

  it('grants each existence-check permission only when its parameter asks for it, and passes the settings to the function', () => {
    const conditions = rolePolicies('WebhookFunction')
      .filter((p): p is { 'Fn::If': Json[] } => p !== null && typeof p === 'object' && !Array.isArray(p) && 'Fn::If' in p)
      .map((p) => p['Fn::If'][0]);
    expect(conditions).toEqual(['RulesFromParameter', 'VerifiesEcr', 'FillsPullThroughCache', 'RegistryCredentialsFromSecret', 'RegistryCredentialsFromParameter', 'HasKmsKey']);
    const c = template.Conditions;
    expect(c['VerifiesEcr']).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', { Ref: 'VerifyEcrRepositoryArns' }] }, ''] }] });
    expect(c['FillsPullThroughCache']).toEqual({ 'Fn::And': [{ Condition: 'VerifiesEcr' }, { 'Fn::Equals': [{ Ref: 'VerifyEcrFillPullThroughCache' }, 'true'] }] });
    // Off unless asked for: no repository, no cache filling, no credentials.
    const params = template.Parameters;
    expect(params['VerifyEcrRepositoryArns']?.['Default']).toBe('');
    expect(params['VerifyEcrFillPullThroughCache']?.['Default']).toBe('false');
    expect(params['RegistryCredentialsSecretArn']?.['Default']).toBe('');
    expect(params['RegistryCredentialsParameterName']?.['Default']).toBe('');
    const env = (fnNamed('WebhookFunction').Properties['Environment'] as { Variables: Record<string, Json> }).Variables;
    expect(env['VERIFY_DEADLINE_MS']).toEqual({ Ref: 'VerifyDeadlineMs' });
    expect(env['REGISTRY_CREDENTIALS_SECRET_ARN']).toEqual({ Ref: 'RegistryCredentialsSecretArn' });
    expect(env['REGISTRY_CREDENTIALS_PARAMETER']).toEqual({ Ref: 'RegistryCredentialsParameterName' });
    // The setting's default and minimum (src/config/settings.ts); its maximum, for the function,
    // leaves of the function's Timeout the longest read of the rules parameter (READ_TIMEOUT_MS: a
    // refresh due at this request comes before its checks) and 2 s for the rest of the invocation,
    // so that the deadline, not the Timeout, ends a check (8000 let one invocation take 11 s).
    const [minDeadline, maxDeadline] = patternRange(template, 'VerifyDeadlineMs');
    expect([Number(params['VerifyDeadlineMs']?.['Default']), minDeadline]).toEqual([DEFAULT_VERIFY_DEADLINE_MS, MIN_VERIFY_DEADLINE_MS]);
    const globals = template['Globals'] as { Function?: { Timeout?: number } } | undefined;
    const timeoutMs = Number(globals?.Function?.Timeout) * 1000;
    expect(timeoutMs).toBeGreaterThan(0);
    expect(maxDeadline).toBeLessThanOrEqual(Math.min(MAX_VERIFY_DEADLINE_MS, timeoutMs - READ_TIMEOUT_MS - 2000));
  });

  it('refuses a stack with no rules at all (a blank RewriteRules and no parameter), which could not start', () => {
    const rules = (template as unknown as { Rules: Record<string, { RuleCondition: Json; Assertions: { Assert: Json }[] }> }).Rules;
    expect(rules['RulesGiven']?.RuleCondition).toEqual({ 'Fn::Equals': [{ Ref: 'RewriteRulesParameterName' }, ''] });
    expect(rules['RulesGiven']?.Assertions.map((a) => a.Assert)).toEqual([{ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'RewriteRules' }, ''] }] }]);
  });

  it('refuses an AlarmEmail without EnableAlarms, which deployed and subscribed the address to nothing', () => {
    const rules = (template as unknown as { Rules: Record<string, { RuleCondition: Json; Assertions: { Assert: Json; AssertDescription: string }[] }> }).Rules;
    expect(rules['AlarmEmailNeedsAlarms']?.RuleCondition).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmEmail' }, ''] }] });
    expect(rules['AlarmEmailNeedsAlarms']?.Assertions.map((a) => a.Assert)).toEqual([{ 'Fn::Equals': [{ Ref: 'EnableAlarms' }, 'true'] }]);
    expect(rules['AlarmEmailNeedsAlarms']?.Assertions[0]?.AssertDescription).toContain('EnableAlarms=true');
    // The subscription's own condition stays: with the rule, AlarmEmailGiven is the address alone.
    expect(template.Conditions['AlarmEmailGiven']).toEqual({ 'Fn::And': [{ Condition: 'AlarmsEnabled' }, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmEmail' }, ''] }] }] });
  });

  // The function counts a blank variable as unset (src/config/settings.ts), so a RewriteRules of
  // spaces or line ends passed RulesGiven (which compares with '') and deployed a function whose
  // every cold start failed with "no rules": each call a 502, each Pod admitted unrewritten.
  it('refuses a RewriteRules of white space only, which the function reads as no rules at all', () => {
    const pattern = template.Parameters['RewriteRules']?.['AllowedPattern'];
    expect(typeof pattern).toBe('string');
    // CloudFormation matches the whole value (Java regex); this pattern means the same in JavaScript.
    const allowed = (value: string): boolean => typeof pattern === 'string' && new RegExp(pattern).test(value);
    const env = (rules: string): Record<string, string> => ({ REWRITE_RULES: rules, REWRITE_RULES_PARAMETER: '', WEBHOOK_TOKEN_PARAMETER: '/image-rewriter/s/webhook-token' });
    for (const ok of ['rules: []', '{"rules":[]}', 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n', '\n  rules: []\n']) {
      expect([ok, allowed(ok)]).toEqual([ok, true]);
      expect(readSettings(env(ok)).rules).toEqual({ kind: 'inline', text: ok });
    }
    expect(template.Parameters['RewriteRules']?.['Default']).toBe('rules: []');
    // '' is RulesGiven's to refuse (it is fine beside RewriteRulesParameterName).
    expect(allowed('')).toBe(true);
    for (const bad of [' ', '\n', ' \n\t\r\n  ']) {
      expect([bad, allowed(bad)]).toEqual([bad, false]);
      expect(() => readSettings(env(bad))).toThrow(SourceError);
    }
  });

  it('the registry credentials secret is given by its full ARN, the only form its grant matches', () => {
    const pattern = template.Parameters['RegistryCredentialsSecretArn']?.['AllowedPattern'];
    const allowed = (value: string): boolean => typeof pattern === 'string' && new RegExp(pattern).test(value);
    for (const ok of ['', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:registry/creds-AbC123', 'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:creds-a1b2c3']) {
      expect([ok, allowed(ok)]).toEqual([ok, true]);
    }
    // A partial ARN (no random suffix) would deploy, and IAM would deny every GetSecretValue.
    for (const bad of ['arn:aws:secretsmanager:us-east-1:123456789012:secret:registry/creds', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:*', 'registry/creds-AbC123']) {
      expect([bad, allowed(bad)]).toEqual([bad, false]);
    }
  });

  it('the ECR grants cannot be widened to every repository: each VerifyEcrRepositoryArns value is one region and account\'s repository (prefix)', () => {
    const pattern = template.Parameters['VerifyEcrRepositoryArns']?.['AllowedPattern'];
    expect(typeof pattern).toBe('string');
    // CloudFormation matches the pattern against each value of a CommaDelimitedList.
    const allowed = (value: string): boolean => typeof pattern === 'string' && new RegExp(pattern).test(value);
    for (const ok of ['', 'arn:aws:ecr:eu-west-1:123456789012:repository/docker-hub/*', 'arn:aws:ecr:us-east-1:123456789012:repository/app', 'arn:aws-cn:ecr:cn-north-1:123456789012:repository/a/b', 'arn:aws-us-gov:ecr:us-gov-west-1:123456789012:repository/x*']) {
      expect([ok, allowed(ok)]).toEqual([ok, true]);
    }
    for (const bad of ['*', 'arn:aws:ecr:*:*:repository/*', 'arn:aws:ecr:us-east-1:123456789012:repository/*', 'arn:aws:ecr:us-east-1:*:repository/app', 'arn:aws:ecr:*:123456789012:repository/app', 'arn:aws:ecr:us-east-1:123456789012:*', 'arn:aws:s3:::bucket', 'arn:aws:ecr:us-east-1:123456789012:repository/a*b']) {
      expect([bad, allowed(bad)]).toEqual([bad, false]);
    }
  });

  it('the token function may only write, read and delete that one token parameter, and encrypt it with KmsKeyArn', () => {
    const tokenContext = { 'kms:EncryptionContext:PARAMETER_ARN': TOKEN_PARAMETER_ARN };
    expect(grantsOf('WebhookTokenFunction')).toEqual([
      { effect: 'Allow', actions: LOGS, resources: [{ 'Fn::GetAtt': 'WebhookTokenFunctionLogGroup.Arn' }] },
      { effect: 'Allow', actions: ['ssm:PutParameter', 'ssm:DeleteParameter'], resources: [TOKEN_PARAMETER_ARN] },
      // Re-encryption on a change of KmsKeyArn reads the token under a key the template cannot name:
      // one of this region's keys (SSM's), not Resource "*" (parliament: "Unnecessary use of Resource *").
      { effect: 'Allow', actions: ['ssm:GetParameter'], resources: [TOKEN_PARAMETER_ARN] },
      { effect: 'Allow', actions: ['kms:Decrypt'], resources: [{ 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:*:key/*' }], condition: { StringEquals: { 'kms:ViaService': via('ssm'), ...tokenContext } } },
      { effect: 'Allow', actions: ['kms:Encrypt', 'kms:GenerateDataKey'], resources: [{ Ref: 'KmsKeyArn' }], condition: { StringEquals: { 'kms:ViaService': via('ssm'), ...tokenContext } } },
    ]);
    expect(resources['WebhookToken']?.Properties['ParameterName']).toEqual({ 'Fn::Sub': '/image-rewriter/${AWS::StackName}/webhook-token' });
  });

  it.each(['WebhookFunction', 'WebhookTokenFunction'])('%s: no wildcard, no NotAction/NotResource, no managed or SAM policy templates', (name) => {
    const all = statements(rolePolicies(name));
    expect(all.length).toBeGreaterThan(0);
    for (const s of all) {
      const kms = list(s['Action']).every((a) => typeof a === 'string' && a.startsWith('kms:'));
      // Conditions only on KMS grants, and every one of those through a service (kms:ViaService).
      expect(Object.keys(s).sort()).toEqual(kms ? ['Action', 'Condition', 'Effect', 'Resource'] : ['Action', 'Effect', 'Resource']);
      if (kms) expect(JSON.stringify(s['Condition'])).toContain('"kms:ViaService"');
      expect(JSON.stringify(s['Action'])).not.toContain('*');
      // The one wildcard: the token function's Decrypt of its own parameter's ciphertext with any of
      // this region's keys (tested above).
      const pinned = name === 'WebhookTokenFunction' && JSON.stringify(s['Action']) === '"kms:Decrypt"' && JSON.stringify(s['Condition']).includes('"kms:EncryptionContext:PARAMETER_ARN"');
      if (!pinned) expect(JSON.stringify(s['Resource'])).not.toMatch(/"\*"|:\*"|\/\*"/);
    }
    expect(fnNamed(name).Properties).not.toHaveProperty('Policies');
    expect(fnNamed(name).Properties).not.toHaveProperty('ManagedPolicyArns');
  });

  // Without a Role, SAM makes one with AWSLambdaBasicExecutionRole: logs:CreateLogGroup,
  // CreateLogStream and PutLogEvents on "*", i.e. write access to every log group of the account
  // (CloudTrail's, other applications', their metric filters and alarms).
  it.each(['WebhookFunction', 'WebhookTokenFunction'])('%s runs with its own role, which may write only its own log group', (name) => {
    expect(fnNamed(name).Properties['Role']).toEqual({ 'Fn::GetAtt': `${name}Role.Arn` });
    const role = roleOf(name);
    expect(role.Type).toBe('AWS::IAM::Role');
    expect(role.Properties['AssumeRolePolicyDocument']).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
    const logGroup = (fnNamed(name).Properties['LoggingConfig'] as { LogGroup?: Json } | undefined)?.LogGroup;
    expect(logGroup).toEqual({ Ref: `${name}LogGroup` });
    const logs = grantsOf(name).filter((g) => g.actions.some((a) => typeof a === 'string' && a.startsWith('logs:')));
    expect(logs).toEqual([{ effect: 'Allow', actions: LOGS, resources: [{ 'Fn::GetAtt': `${name}LogGroup.Arn` }] }]);
    // The one managed policy: X-Ray's (no resource-level permissions exist for it), only when traced.
    const managed = roleOf(name).Properties['ManagedPolicyArns'];
    if (name === 'WebhookFunction') {
      expect(managed).toEqual({ 'Fn::If': ['TracingActive', [{ 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess' }], { Ref: 'AWS::NoValue' }] });
      expect(template.Conditions['TracingActive']).toEqual({ 'Fn::Equals': [{ Ref: 'Tracing' }, 'Active'] });
    } else {
      expect(managed).toBeUndefined();
    }
    expect(JSON.stringify(template)).not.toContain('AWSLambdaBasicExecutionRole');
  });

  it('grants the rules parameter only when the rules come from one; the function reads the token from the generated parameter', () => {
    const conditional = rolePolicies('WebhookFunction').find((p) => p !== null && typeof p === 'object' && !Array.isArray(p) && 'Fn::If' in p) as { 'Fn::If': Json[] } | undefined;
    expect(conditional?.['Fn::If'][0]).toBe('RulesFromParameter');
    const env = (fnNamed('WebhookFunction').Properties['Environment'] as { Variables: Record<string, Json> }).Variables;
    expect(env['REWRITE_RULES_PARAMETER']).toEqual({ Ref: 'RewriteRulesParameterName' });
    expect(env['REWRITE_RULES']).toEqual({ 'Fn::If': ['RulesFromParameter', '', { Ref: 'RewriteRules' }] });
    expect(env['WEBHOOK_TOKEN_PARAMETER']).toEqual({ Ref: 'WebhookToken' });
    // Declared (so sam local --env-vars can set it) and empty (unset) when deployed.
    expect(env['WEBHOOK_TOKEN']).toBe('');
    expect(env).not.toHaveProperty('WEBHOOK_TOKEN_SECRET_ARN');
    expect(env['AWS_URL_SUFFIX']).toEqual({ Ref: 'AWS::URLSuffix' });
  });

  it("sets no environment variable the code does not read (QA-37: Powertools' service name and metrics namespace stayed after Powertools left; Lambda's 4 KB of variables is shared with RewriteRules)", () => {
    const sources = readdirSync(join(REPO_ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(REPO_ROOT, 'src', f), 'utf8'))
      .join('\n');
    // Set for `${env:NAME}` in rules (README, "Values from the environment"): read by name from the document.
    const forRules = ['AWS_ACCOUNT_ID', 'AWS_URL_SUFFIX'];
    for (const [name, resource] of fn) {
      const variables = (resource.Properties['Environment'] as { Variables?: Record<string, Json> } | undefined)?.Variables ?? {};
      const unread = Object.keys(variables).filter((v) => !forRules.includes(v) && !sources.includes(`'${v}'`) && !sources.includes(`.${v}`));
      expect({ name, unread }).toEqual({ name, unread: [] });
    }
  });
});

describe('template.yaml: the endpoint', () => {
  const api = resources['WebhookApi'];

  it('throttles every method of the stage (rate and burst from parameters with sane defaults)', () => {
    const settings = list(api?.Properties['MethodSettings']) as Record<string, Json>[];
    expect(settings).toContainEqual(expect.objectContaining({ ResourcePath: '/*', HttpMethod: '*', ThrottlingRateLimit: { Ref: 'ThrottlingRateLimit' }, ThrottlingBurstLimit: { Ref: 'ThrottlingBurstLimit' } }));
    const params = template.Parameters;
    expect(params['ThrottlingRateLimit']?.['Type']).toBe('Number');
    expect(Number(params['ThrottlingRateLimit']?.['MinValue'])).toBeGreaterThanOrEqual(1);
    for (const p of ['ThrottlingRateLimit', 'ThrottlingBurstLimit']) {
      expect(Number(params[p]?.['Default'])).toBeGreaterThan(0);
      expect(Number(params[p]?.['Default'])).toBeLessThanOrEqual(1000);
    }
  });

  it('has one stage: OpenApiVersion is set, so SAM adds no unthrottled "Stage" stage beside StageName', () => {
    // Without it, SAM's AWS::ApiGateway::Deployment gets StageName "Stage" (aws/serverless-application-model#191):
    // a second stage without MethodSettings, at /Stage/mutate/..., that the throttling and the alarms never see.
    // scripts/test-template.sh checks SAM's translation itself.
    expect(api?.Properties['OpenApiVersion']).toMatch(/^3\.\d+\.\d+$/);
  });

  it('routes only POST /mutate/{token} to the function', () => {
    const [, webhook] = fn[0] ?? ['', NONE];
    const events = Object.values(webhook.Properties['Events'] as Record<string, { Type: string; Properties: Record<string, Json> }>);
    expect(events.map((e) => [e.Type, e.Properties['Path'], e.Properties['Method']])).toEqual([['Api', '/mutate/{token}', 'post']]);
    expect(api?.Properties).not.toHaveProperty('Cors');
  });

  it('a token function that never answers fails the deploy within minutes, not CloudFormation\'s default hour', () => {
    const timeout = resources['WebhookToken']?.Properties['ServiceTimeout'];
    const fnTimeout = Number(fnNamed('WebhookTokenFunction').Properties['Timeout']);
    expect(typeof timeout).toBe('number');
    // Its Timeout and the two retries of an asynchronous invocation (about 1 and 2 minutes apart).
    expect(Number(timeout)).toBeGreaterThanOrEqual(3 * fnTimeout + 180);
    expect(Number(timeout)).toBeLessThanOrEqual(900);
  });

  it('keeps the token secret: generated by the custom resource, no token parameter, never an attribute or output', () => {
    const params = template.Parameters;
    expect(Object.keys(params).filter((p) => /token/i.test(p))).toEqual([]);
    expect(resources['WebhookToken']?.Type).toBe('AWS::CloudFormation::CustomResource');
    expect(Object.values(resources).map((r) => r.Type)).not.toContain('AWS::SecretsManager::Secret');
    const text = JSON.stringify(template);
    // The resource returns no Data: nothing may read an attribute of it (the Ref is the parameter's name).
    expect(text).not.toMatch(/"Fn::GetAtt":\["?WebhookToken[".]/);
    expect(text).not.toContain('WebhookToken.');
  });

  // Execution logs (a stage's LoggingLevel INFO or ERROR, in API-Gateway-Execution-Logs_<api>/<stage>)
  // record the request as called, its path and path parameters (the token) included; with
  // DataTraceEnabled the body too. Access logs (their route, not the path) are the only request logs.
  it('the stage writes no execution logs, which record the path parameters (the token) and, with data trace, the body', () => {
    const stageSettings = JSON.stringify([api?.Properties['MethodSettings'] ?? null, api?.Properties['Variables'] ?? null]);
    expect(stageSettings).not.toMatch(/"(LoggingLevel|DataTraceEnabled)"/);
    expect(JSON.stringify(template['Globals'] ?? null)).not.toMatch(/LoggingLevel|DataTraceEnabled/);
  });

  it('access logs (opt-in) record the route, never the path that carries the token', () => {
    const setting = JSON.stringify(api?.Properties['AccessLogSetting']);
    expect(setting).toContain('$context.resourcePath');
    expect(setting).not.toMatch(/\$context\.(path|requestOverride)/);
    // A resource policy's 403 message quotes the method ARN, path and token included.
    expect(setting).not.toMatch(/\$context\.(error\.message(String)?|authorize\.error|authorizer\.error)/);
  });

  it('tracing (opt-in) traces the function, never the stage, whose segments record the URL, token included', () => {
    // The stage's X-Ray segments carry http.request.url; unlike access logs, no setting drops the path.
    expect(api?.Properties['TracingEnabled']).toBe(false);
    expect(JSON.stringify(template.Parameters['Tracing']?.['Description'])).toMatch(/stage is never traced.*request URL, which carries the webhook token/);
    const fn = template.Resources['WebhookFunction'] as { Properties: Record<string, unknown> } | undefined;
    expect(fn?.Properties['Tracing']).toEqual({ Ref: 'Tracing' });
    const row = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n').find((l) => l.startsWith('| `Tracing` |')) ?? '';
    expect(row).toMatch(/stage is never traced.*record the request URL, token included/);
  });

  // Without SecurityPolicy, API Gateway gives a REGIONAL API's default endpoint the legacy TLS_1_0
  // policy (TLS 1.0 and CBC suites with SHA-1): the endpoint the API server calls, token in its path.
  it('requires TLS 1.2 or newer on the endpoint: an enhanced security policy (TLS 1.3 only by choice), STRICT access mode by default', () => {
    expect(api?.Properties['SecurityPolicy']).toEqual({ Ref: 'EndpointSecurityPolicy' });
    expect(api?.Properties['EndpointAccessMode']).toEqual({ Ref: 'EndpointAccessMode' });
    const policy = template.Parameters['EndpointSecurityPolicy'] ?? {};
    // Enhanced policies only (legacy TLS_1_0 and TLS_1_2 are not offered), each with no TLS below 1.2.
    const values = list(policy['AllowedValues']);
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect([v, v]).toEqual([v, expect.stringMatching(/^SecurityPolicy_TLS13_1_[23]_/)]);
    expect(values).toContain('SecurityPolicy_TLS13_1_3_2025_09');
    // The default keeps TLS 1.2 (clients without TLS 1.3) with forward-secret (ECDHE) suites only.
    expect(policy['Default']).toBe('SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09');
    expect(template.Parameters['EndpointAccessMode']).toMatchObject({ Default: 'STRICT', AllowedValues: ['STRICT', 'BASIC'] });
    // The access log (opt-in) shows which TLS version the callers use, before one moves to TLS 1.3 only.
    expect(JSON.stringify(api?.Properties['AccessLogSetting'])).toContain('$context.tlsVersion');
  });

  it('a PRIVATE endpoint denies every VPC endpoint but the listed ones', () => {
    const auth = JSON.stringify(api?.Properties['Auth']);
    expect(auth).toContain('"StringNotEquals":{"aws:SourceVpce":{"Fn::Split":[",",{"Ref":"VpcEndpointIds"}]}}');
    expect(auth).toContain('"Fn::If":["IsPrivate"');
  });

  it('a REGIONAL endpoint with AllowedSourceCidrs denies every other source address; empty restricts nothing', () => {
    const auth = JSON.stringify(api?.Properties['Auth']);
    expect(auth).toContain('"Fn::If":["RestrictsSourceIp",{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"NotIpAddress":{"aws:SourceIp":{"Fn::Split":[",",{"Ref":"AllowedSourceCidrs"}]}}}},{"Ref":"AWS::NoValue"}]');
    expect(template.Conditions['RestrictsSourceIp']).toEqual({ 'Fn::And': [{ 'Fn::Not': [{ Condition: 'IsPrivate' }] }, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AllowedSourceCidrs' }, ''] }] }] });
    // A String (SAM substitutes it into the policy at transform time, see VpcEndpointIds), empty by default.
    expect(template.Parameters['AllowedSourceCidrs']).toMatchObject({ Type: 'String', Default: '' });
  });

  it('refuses AllowedSourceCidrs with PRIVATE: requests through a VPC endpoint carry no aws:SourceIp', () => {
    const rules = (template as unknown as { Rules: Record<string, { RuleCondition: Json; Assertions: { Assert: Json }[] }> }).Rules;
    expect(rules['SourceCidrsNeedRegionalEndpoint']?.RuleCondition).toEqual({ 'Fn::Equals': [{ Ref: 'EndpointType' }, 'PRIVATE'] });
    expect(rules['SourceCidrsNeedRegionalEndpoint']?.Assertions.map((a) => a.Assert)).toEqual([{ 'Fn::Equals': [{ Ref: 'AllowedSourceCidrs' }, ''] }]);
  });

  it('StageName takes what API Gateway takes for a stage name (letters, digits, "-", "_", at most 128), and nothing that would change the URL\'s path', () => {
    const pattern = template.Parameters['StageName']?.['AllowedPattern'];
    const allowed = (value: string): boolean => typeof pattern === 'string' && new RegExp(pattern).test(value);
    for (const ok of ['Prod', 'v1', 'prod-eu', 'blue_green', 'a'.repeat(128)]) expect([ok, allowed(ok)]).toEqual([ok, true]);
    for (const bad of ['', 'a'.repeat(129), 'prod/eu', 'prod.eu', 'prod eu', '$default', 'pröd']) expect([bad, allowed(bad)]).toEqual([bad, false]);
  });

  it('AllowedSourceCidrs takes IPv4 and IPv6 CIDRs, comma-separated, and refuses what is not one', () => {
    // CloudFormation matches the whole value (Java regex); this pattern means the same in JavaScript.
    const pattern = template.Parameters['AllowedSourceCidrs']?.['AllowedPattern'];
    expect(typeof pattern).toBe('string');
    const allowed = (value: string): boolean => typeof pattern === 'string' && new RegExp(pattern).test(value);
    const good = [
      '', '203.0.113.10/32', '0.0.0.0/0', '10.0.0.0/8,192.168.1.0/24', '255.255.255.255/32,1.2.3.4/32,5.6.7.8/32',
      '2001:db8::/32', '::/0', '::1/128', '1::/16', 'fe80::1:2/64', '2600:1F14:ABC:DE00::/56',
      '2001:0db8:85a3:0000:0000:8a2e:0370:7334/128', '203.0.113.10/32,2001:db8:1234::/48',
    ];
    for (const ok of good) expect([ok, allowed(ok)]).toEqual([ok, true]);
    const bad = [
      // no prefix length, out of range, not four octets, leading zeros
      '203.0.113.10', '203.0.113.10/33', '256.1.1.1/32', '203.0.113/24', '01.2.3.4/8', '1.2.3.4/32/32',
      // separators: spaces, empty items, semicolons
      ' 203.0.113.10/32', '10.0.0.0/8 ', '203.0.113.10/32, 198.51.100.0/24', '203.0.113.10/32,', ',203.0.113.10/32', '203.0.113.10/32,,1.2.3.4/32', '203.0.113.10/32;198.51.100.0/24',
      // IPv6: prefix over 128 or padded, ":::" or two "::", nine groups, a group of five digits, not hex, no prefix
      '2001:db8::/129', '2001:db8::/032', '2001:db8:::/32', '2001:db8::1::/64', '1:2:3:4:5:6:7:8:9/64', '1:2:3:4:5:6:7::8/64', '12345::/16', 'g::/16', '2001:db8::',
      // other parameters' values
      'example.com/32', 'vpce-0123456789abcdef0', '*',
    ];
    for (const no of bad) expect([no, allowed(no)]).toEqual([no, false]);
  });
});

describe('per-rule metrics', () => {
  // What they count is tested against the emitted lines in metric-filter.test.ts.
  it.each([1, 2, 3, 4, 5])('metric filter %i counts its slot of the review lines by rule, in the function log group', (i) => {
    const filter = resources[`RewritesByRule${String(i)}MetricFilter`] ?? NONE;
    expect(filter.Type).toBe('AWS::Logs::MetricFilter');
    expect(filter.Properties['LogGroupName']).toEqual({ Ref: 'WebhookFunctionLogGroup' });
    expect(filter.Properties['FilterPattern']).toBe(`{ $.message = "${REVIEW_LOG_MESSAGE}" && $.rule${String(i)} = "*" && $.rule${String(i)}Rewrites > 0 }`);
    expect(filter.Properties['MetricTransformations']).toEqual([
      { MetricNamespace: 'ImageRewriter', MetricName: 'Rewrites', MetricValue: `$.rule${String(i)}Rewrites`, Unit: 'Count', Dimensions: [{ Key: 'Rule', Value: `$.rule${String(i)}` }] },
    ]);
  });
});

describe('template.yaml: a customer managed KMS key (KmsKeyArn)', () => {
  const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  it('takes a key ARN of any partition (multi-Region keys too), never an alias, a bare key id or a wildcard', () => {
    const param = template.Parameters['KmsKeyArn'];
    expect(param?.['Default']).toBe('');
    const pattern = param?.['AllowedPattern'];
    const allowed = (value: string): boolean => typeof pattern === 'string' && new RegExp(pattern).test(value);
    for (const ok of ['', KEY, 'arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef']) {
      expect([ok, allowed(ok)]).toEqual([ok, true]);
    }
    // An alias ARN in a grant matches no key: the deploy would pass and every read be denied.
    for (const bad of ['arn:aws:kms:eu-west-1:123456789012:alias/image-rewriter', 'alias/image-rewriter', '1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws:kms:eu-west-1:123456789012:key/*', 'arn:aws:kms:*:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab', `${KEY},${KEY}`, 'arn:aws:kms:eu-west-1:123456789012:key/1234ABCD-12AB-34CD-56EF-1234567890AB ']) {
      expect([bad, allowed(bad)]).toEqual([bad, false]);
    }
    expect(JSON.stringify(param?.['Description'])).toMatch(/not an alias/);
  });

  it('the token custom resource gets the key as KmsKeyId, and no such property without one', () => {
    expect(resources['WebhookToken']?.Properties['KmsKeyId']).toEqual({ 'Fn::If': ['HasKmsKey', { Ref: 'KmsKeyArn' }, NO_VALUE] });
    expect(template.Conditions['HasKmsKey']).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'KmsKeyArn' }, ''] }] });
    expect(template.Conditions['KmsKeyForCredentialsSecret']).toEqual({ 'Fn::And': [{ Condition: 'HasKmsKey' }, { Condition: 'RegistryCredentialsFromSecret' }] });
  });

  /** The template as CloudFormation evaluates it when `off` conditions are false (the other Ifs kept). */
  function withoutKey(value: Json): Json {
    const off = new Set(['HasKmsKey', 'KmsKeyForCredentialsSecret']);
    const walk = (v: Json): Json | undefined => {
      if (Array.isArray(v)) return v.map(walk).filter((x): x is Json => x !== undefined);
      if (v === null || typeof v !== 'object') return v;
      const branches = v['Fn::If'];
      if (Array.isArray(branches) && typeof branches[0] === 'string' && off.has(branches[0])) return walk(branches[2] ?? null);
      if (v['Ref'] === 'AWS::NoValue') return undefined;
      return Object.fromEntries(Object.entries(v).flatMap(([k, x]) => {
        const w = walk(x);
        return w === undefined ? [] : [[k, w]];
      }));
    };
    return walk(value) ?? null;
  }

  it('without it (the default) the function, its role and the token resource are what they were: no key, no KMS grant', () => {
    const effective = withoutKey(JSON.parse(JSON.stringify(resources)) as Json) as unknown as typeof resources;
    // ServiceTimeout is CloudFormation's own (how long it waits for the answer); the function ignores it.
    expect(effective['WebhookToken']?.Properties).toEqual({ ServiceToken: { 'Fn::GetAtt': 'WebhookTokenFunction.Arn' }, ServiceTimeout: 600, ParameterName: { 'Fn::Sub': '/image-rewriter/${AWS::StackName}/webhook-token' } });
    expect(JSON.stringify(effective['WebhookFunctionRole'])).not.toContain('kms:');
    expect(JSON.stringify(effective['WebhookFunction'])).not.toMatch(/kms/i);
    // The token function keeps only the grant that reads its own parameter back (for a later change of key).
    const tokenKms = statements(list(effective['WebhookTokenFunctionRole']?.Properties['Policies'])).filter((s) => JSON.stringify(s['Action']).includes('kms:'));
    expect(tokenKms.map((s) => s['Action'])).toEqual(['kms:Decrypt']);
  });

  it('the README documents the parameter, the key policy it needs, the rotation with --key-id, and the AccessDenied symptom', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme.split('\n').find((l) => l.startsWith('| `KmsKeyArn` |'))).toMatch(/key ARN/);
    expect(readme).toContain('### Customer-managed KMS keys');
    expect(readme).toMatch(/--key-id "\$KMS_KEY_ARN"/);
    expect(readme.split('\n').some((l) => l.startsWith('| ') && l.includes('AccessDeniedException') && l.includes('KmsKeyArn'))).toBe(true);
  });
});

// A Number parameter takes any integer or float within MinValue and MaxValue, and reaches the
// function as the text it was given ("60.5"); the function reads these variables as whole numbers
// only. RewriteRulesTtlSeconds=60.5 deployed a function whose every cold start failed ("must be a
// whole number"): each call a 502, each Pod admitted unrewritten, although the deploy succeeded.
describe('template.yaml: every value a numeric setting admits, the function accepts', () => {
  /** Whether CloudFormation takes `value` for the parameter (its Type, AllowedPattern, AllowedValues, MinValue, MaxValue). */
  function admits(name: string, value: string): boolean {
    const p = template.Parameters[name] ?? {};
    if (p['Type'] === 'Number') {
      if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(value)) return false;
      const n = Number(value);
      return (p['MinValue'] === undefined || n >= Number(p['MinValue'])) && (p['MaxValue'] === undefined || n <= Number(p['MaxValue']));
    }
    const pattern = p['AllowedPattern'];
    return typeof pattern !== 'string' || new RegExp(pattern).test(value);
  }
  const base = { REWRITE_RULES_PARAMETER: '/image-rewriter/rules', WEBHOOK_TOKEN_PARAMETER: '/image-rewriter/s/webhook-token' };
  const CANDIDATES = ['0', '1', '4', '5', '49', '50', '60', '60.0', '60.5', '1e2', '+60', '060', '1500', '1500.5', '3600', '3601', '5000', '5001', '25000'];

  it.each([
    ['RewriteRulesTtlSeconds', 'REWRITE_RULES_TTL_SECONDS'],
    ['VerifyDeadlineMs', 'VERIFY_DEADLINE_MS'],
  ])('%s: every value the template takes starts the function (%s)', (name, variable) => {
    const env = fnNamed('WebhookFunction').Properties['Environment'] as { Variables: Record<string, Json> };
    expect(env.Variables[variable]).toEqual({ Ref: name });
    const byDefault = JSON.stringify(template.Parameters[name]?.['Default'] ?? null).replace(/^"|"$/g, '');
    const admitted = [byDefault, ...CANDIDATES].filter((v) => admits(name, v));
    expect(admitted).toContain(byDefault);
    const refused = admitted.filter((v) => {
      try {
        readSettings({ ...base, [variable]: v });
        return false;
      } catch {
        return true;
      }
    });
    expect(refused).toEqual([]);
  });

  // API Gateway's burst is a whole number (the rate may be a fraction). A Number parameter also took
  // 200.5 or 1e3, which passed the parameter checks and then failed the deploy at the stage.
  it('ThrottlingBurstLimit: every value the template takes is a whole number from 1', () => {
    const admitted = ['0', '1', '200', '200.0', '200.5', '1e3', '+200', '0200', '-1', '999999', '1000000', ''].filter((v) => admits('ThrottlingBurstLimit', v));
    expect(admitted).toContain(template.Parameters['ThrottlingBurstLimit']?.['Default']);
    expect(admitted).toEqual(['1', '200', '999999']);
  });

  // Lambda's MemorySize is a whole number of MB (128 to 10240). A Number parameter also took 256.5
  // or 1e3, which passed the parameter checks and then failed the deploy at the function (cfn-lint:
  // W1030 "{'Ref': 'MemorySize'} is not of type 'integer' when 'Ref' is resolved").
  it('MemorySize: every value the template takes is a whole number of MB from 128 to 10240', () => {
    const fnProps = fnNamed('WebhookFunction').Properties;
    expect(fnProps['MemorySize']).toEqual({ Ref: 'MemorySize' });
    expect(patternRange(template, 'MemorySize', 20_000)).toEqual([128, 10240]);
    const admitted = ['127', '128', '256', '256.0', '256.5', '1e3', '+256', '0256', '10240', '10241', ...CANDIDATES].filter((v) => admits('MemorySize', v));
    expect(admitted).toContain(template.Parameters['MemorySize']?.['Default']);
    expect(admitted.filter((v) => !/^[1-9][0-9]*$/.test(v) || Number(v) < 128 || Number(v) > 10240)).toEqual([]);
  });

  // The default's reason is measured, not assumed: it said "256 MB keeps cold starts short", but
  // under Lambda's CPU share a cold start at 256 MB takes several times longer than at 512 MB and
  // up; 256 MB is the cheapest per admission (docs/performance.md, "Lambda memory size, measured
  // under its CPU share").
  it("MemorySize: its description gives the measured reason for the default and where it is measured", () => {
    const text = template.Parameters['MemorySize']?.['Description'];
    const description = typeof text === 'string' ? text : '';
    expect(template.Parameters['MemorySize']?.['Default']).toBe('256');
    expect(description).not.toMatch(/keeps cold starts short/);
    expect(description).toMatch(/256 MB is\s+the cheapest per admission measured/);
    const section = 'Lambda memory size, measured under its CPU share';
    expect(description.replace(/\s+/g, ' ')).toContain(`docs/performance.md, "${section}"`);
    expect(readFileSync(join(REPO_ROOT, 'docs', 'performance.md'), 'utf8')).toContain(`\n## ${section}\n`);
  });

  // HasReservedConcurrency compares the value's text with 0, as Fn::Equals does: a Number parameter
  // took "0.0" or "00" (they are 0), the condition found them unequal, and the function got a
  // reservation of 0, which throttles every invocation: each Pod admitted unrewritten.
  it('ReservedConcurrency: the no-reservation condition holds for every spelling of 0 the template takes', () => {
    const conditions = template.Conditions;
    expect(conditions['HasReservedConcurrency']).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'ReservedConcurrency' }, '0'] }] });
    const admitted = ['0', '00', '0.0', '-0', '+0', '.0', '1', '10', '10.5', '1e1'].filter((v) => admits('ReservedConcurrency', v));
    expect(admitted).toContain('0');
    const reserves = (v: string): boolean => v !== '0';
    expect(admitted.filter((v) => reserves(v) !== Number(v) > 0 || (Number(v) > 0 && !Number.isInteger(Number(v))))).toEqual([]);
  });
});
