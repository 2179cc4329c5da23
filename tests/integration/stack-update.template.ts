/**
 * What a `sam deploy` of template.yaml replaces in a deployed stack (README, "Updating the stack").
 * hack/python/stack-update.py compares SAM's translation of two templates, each resolved for its
 * parameters as CloudFormation would, against the create-only properties of the CloudFormation
 * registry schemas cfn-lint ships. The webhook URL (the RestApi's id and its stage's name), the
 * function API Gateway invokes and its permission, the token (the WebhookToken custom resource
 * writes its SSM parameter at Create and deletes it at Delete, and its ServiceToken, the token
 * function's ARN, cannot change), the log group with its metric filters, and the alarms with their
 * topic must survive every parameter change and every upgrade: a replaced one is a new URL, a new
 * token, a gap or lost logs, and every cluster calling the webhook fails open until someone notices.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FIXTURES, REPO_ROOT } from '../helpers/fixtures.js';
import { venvPython } from './helpers/tools.js';

const SCRIPT = join(REPO_ROOT, 'hack', 'python', 'stack-update.py');
const TEMPLATE = join(REPO_ROOT, 'template.yaml');

type Parameters = Readonly<Record<string, string>>;

interface Comparison {
  readonly old: string;
  readonly new: string;
  readonly oldParameters: Parameters;
  readonly newParameters: Parameters;
}

interface Update {
  readonly removed: readonly string[];
  readonly added: readonly string[];
  readonly disabled: readonly string[];
  readonly enabled: readonly string[];
  readonly replaced: Readonly<Record<string, readonly string[]>>;
  /** The conditions whose value the update changes. */
  readonly conditions: readonly string[];
}

/** Every comparison in one process: each template is translated once per set of parameters. */
function updates(comparisons: readonly Comparison[]): Update[] {
  const r = spawnSync(venvPython(), [SCRIPT, '--batch'], { input: JSON.stringify(comparisons), encoding: 'utf8', timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`stack-update.py --batch: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Update[];
}

/** SAM's API Deployment, whose logical id ends in the hash of the API body: a new one is how SAM redeploys the API. */
const isDeployment = (id: string): boolean => /^WebhookApiDeployment[0-9a-f]{10}$/.test(id);

/** The resources no update may delete or replace (none has a Condition). */
const KEPT = [
  'WebhookApi',
  'WebhookApiStage',
  'WebhookFunction',
  'WebhookFunctionMutatePermissionStage',
  'WebhookFunctionLogGroup',
  'WebhookToken',
  'WebhookTokenFunction',
] as const;

interface TemplateParameter {
  readonly Description?: string;
  readonly Default?: string | number;
  readonly AllowedValues?: readonly (string | number)[];
}
const TEMPLATE_PARAMETERS = (parse(readFileSync(TEMPLATE, 'utf8'), { logLevel: 'silent' }) as { Parameters: Record<string, TemplateParameter> }).Parameters;

const VPCE = 'vpce-0123456789abcdef0';
const ALARMS = { EnableAlarms: 'true' };
/**
 * Values other than the default of the parameters without AllowedValues (those are tried with
 * every allowed value), each with the other parameters it needs to mean anything.
 */
const EXAMPLES: Readonly<Record<string, readonly { readonly value: string; readonly with?: Parameters }[]>> = {
  RewriteRules: [{ value: 'rules: [{name: gcr, match: gcr.io, replace: asia.gcr.io}]' }],
  RewriteRulesParameterName: [{ value: '/image-rewriter/rules' }],
  RewriteRulesTtlSeconds: [{ value: '300' }],
  VerifyEcrRepositoryArns: [{ value: 'arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*' }],
  RegistryCredentialsSecretArn: [{ value: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:registries-AbCdEf' }],
  RegistryCredentialsParameterName: [{ value: '/image-rewriter/registries' }],
  VerifyDeadlineMs: [{ value: '3000' }],
  KmsKeyArn: [
    { value: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
    { value: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab', with: { RegistryCredentialsSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:registries-AbCdEf' } },
  ],
  VpcEndpointIds: [
    { value: VPCE, with: { EndpointType: 'PRIVATE' } },
    { value: `${VPCE},vpce-0fedcba9876543210`, with: { EndpointType: 'PRIVATE' } },
  ],
  AllowedSourceCidrs: [{ value: '203.0.113.10/32,2001:db8::/56' }],
  StageName: [{ value: 'Dev' }, { value: 'prod-2' }],
  ThrottlingRateLimit: [{ value: '50' }, { value: '2.5' }],
  ThrottlingBurstLimit: [{ value: '1000' }],
  MemorySize: [{ value: '2048' }],
  ReservedConcurrency: [{ value: '10' }],
  AlarmEmail: [
    { value: 'oncall@example.com', with: ALARMS },
    { value: 'oncall@example.com', with: { ...ALARMS, AlarmEmail: 'platform@example.com' } },
  ],
  LatencyAlarmMilliseconds: [{ value: '2500', with: ALARMS }],
  AuthFailureAlarmThreshold: [{ value: '0', with: ALARMS }],
};
/** Parameters with AllowedValues that mean something only with others. */
const NEEDS: Readonly<Record<string, Parameters>> = {
  VerifyEcrFillPullThroughCache: { VerifyEcrRepositoryArns: 'arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*' },
  EndpointType: { VpcEndpointIds: VPCE },
};

/**
 * The replacements a parameter change is known to make, with why they are accepted: each is said
 * in the parameter's description and in the README's "Updating the stack".
 */
const ALLOWED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  StageName: { WebhookApiStage: 'a stage cannot be renamed: a new stage, a new URL (register it again)' },
  AlarmEmail: { AlarmEmailSubscription: "a subscription's endpoint cannot change: the new address must confirm again" },
};

/** What the parameter's description says of it, for the console's and the Serverless Application Repository's users. */
const SAYS: Readonly<Record<string, RegExp>> = {
  StageName: /the stage is replaced .* the URL changes: register the new APIGatewayURL/,
  AlarmEmail: /A changed address is a new subscription, to confirm again/,
};

interface Change {
  readonly parameter: string;
  readonly base: Parameters;
  readonly changed: Parameters;
}

const CHANGES: readonly Change[] = Object.entries(TEMPLATE_PARAMETERS).flatMap(([name, p]): Change[] => {
  const values = p.AllowedValues !== undefined
    ? p.AllowedValues.map(String).filter((v) => v !== String(p.Default)).map((value) => ({ value, with: NEEDS[name] }))
    : (EXAMPLES[name] ?? []);
  return values.map(({ value, with: base = {} }) => ({ parameter: name, base, changed: { ...base, [name]: value } }));
});

describe('a parameter change replaces nothing of the webhook (README, "Updating the stack")', () => {
  const label = (c: Change): string => Object.entries(c.changed).map(([k, v]) => `${k}=${v}`).join(' ');
  // Both ways: from the defaults to the value, and back.
  const comparisons = CHANGES.flatMap((c): Comparison[] => [
    { old: TEMPLATE, new: TEMPLATE, oldParameters: c.base, newParameters: c.changed },
    { old: TEMPLATE, new: TEMPLATE, oldParameters: c.changed, newParameters: c.base },
  ]);
  let results: Update[] | undefined;
  const resultsOf = (i: number): [Update, Update] => {
    results ??= updates(comparisons);
    const [there, back] = [results[2 * i], results[2 * i + 1]];
    if (there === undefined || back === undefined) throw new Error(`no result for change ${String(i)}`);
    return [there, back];
  };

  it('tries a value of every parameter of the template', () => {
    expect(Object.keys(TEMPLATE_PARAMETERS).filter((name) => !CHANGES.some((c) => c.parameter === name))).toEqual([]);
    for (const name of Object.keys(ALLOWED)) expect(Object.keys(TEMPLATE_PARAMETERS)).toContain(name);
  });

  it('turns every condition of the template both ways', () => {
    const conditions = Object.keys((parse(readFileSync(TEMPLATE, 'utf8'), { logLevel: 'silent' }) as { Conditions: Record<string, unknown> }).Conditions);
    const flipped = new Set(CHANGES.flatMap((_c, i) => resultsOf(i).flatMap((u) => u.conditions)));
    expect(conditions.filter((c) => !flipped.has(c))).toEqual([]);
  });

  it.each(Object.keys(ALLOWED))('%s says in its description what a change of it replaces', (name) => {
    expect(TEMPLATE_PARAMETERS[name]?.Description?.replace(/\s+/g, ' ')).toMatch(SAYS[name] ?? /^$/);
  });

  it.each(CHANGES.map((c, i) => [label(c), i, c.parameter] as const))('%s: only what the allow-list says is replaced, there and back', (_label, i, parameter) => {
    for (const u of resultsOf(i)) {
      // A changed logical id would delete the old resource and create another: none, but SAM's redeployment.
      expect(u.removed.filter((id) => !isDeployment(id))).toEqual([]);
      expect(u.added.filter((id) => !isDeployment(id))).toEqual([]);
      expect(u.added.filter(isDeployment)).toHaveLength(u.removed.filter(isDeployment).length);
      const allowed = ALLOWED[parameter] ?? {};
      expect(Object.keys(u.replaced).filter((id) => !(id in allowed))).toEqual([]);
      // Turned on or off with their Condition: what the parameter is for; never one of these.
      expect([...u.disabled, ...u.enabled].filter((id) => (KEPT as readonly string[]).includes(id))).toEqual([]);
    }
  });

  // The allow-list's entries are what they say: each replacement happens, and nothing besides it.
  it('a changed StageName replaces the stage only: the API (its id), its permission and the token stay', () => {
    const i = CHANGES.findIndex((c) => c.parameter === 'StageName');
    for (const u of resultsOf(i)) expect(u.replaced).toEqual({ WebhookApiStage: ['StageName'] });
  });

  it('a changed AlarmEmail replaces the subscription only (a first one is created)', () => {
    const from = (address: string): number => CHANGES.findIndex((c) => c.parameter === 'AlarmEmail' && (c.base['AlarmEmail'] ?? '') === address);
    const [created, dropped] = resultsOf(from(''));
    expect([created.replaced, created.enabled, dropped.replaced, dropped.disabled]).toEqual([{}, ['AlarmEmailSubscription'], {}, ['AlarmEmailSubscription']]);
    for (const u of resultsOf(from('platform@example.com'))) expect(u.replaced).toEqual({ AlarmEmailSubscription: ['Endpoint'] });
  });
});

describe('upgrading a stack of an earlier template keeps the webhook URL, its function and its log group', () => {
  const OLDEST = join(FIXTURES, 'templates', 'template-001d3c4.yaml');
  const FIRST_SSM_TOKEN = join(FIXTURES, 'templates', 'template-e6fb6f0.yaml');
  // `sam deploy` keeps the value of each parameter it is not given: the same on both sides.
  const EVERYTHING_ON = { StageName: 'Dev', EnableAlarms: 'true', AlarmEmail: 'oncall@example.com', EnableDashboard: 'true', EnableAccessLogs: 'true', EndpointType: 'PRIVATE', VpcEndpointIds: VPCE, ReservedConcurrency: '5', Tracing: 'Active' };
  const ROWS = [
    { label: 'the first release, its defaults', old: OLDEST, parameters: {} },
    { label: 'the first release, StageName Dev', old: OLDEST, parameters: { StageName: 'Dev' } },
    { label: 'the first SSM token template, its defaults', old: FIRST_SSM_TOKEN, parameters: {} },
    { label: 'the first SSM token template, every feature on', old: FIRST_SSM_TOKEN, parameters: EVERYTHING_ON },
  ] as const;
  let results: Update[] | undefined;
  const resultOf = (label: string): Update => {
    results ??= updates(ROWS.map((r) => ({ old: r.old, new: TEMPLATE, oldParameters: r.parameters, newParameters: r.parameters })));
    const u = results[ROWS.findIndex((r) => r.label === label)];
    if (u === undefined) throw new Error(`no result for ${label}`);
    return u;
  };

  it.each(ROWS.filter((r) => r.old === OLDEST).map((r) => r.label))('from %s: nothing replaced; the secret goes (README, "Upgrading": a new token)', (label) => {
    const u = resultOf(label);
    expect(u.replaced).toEqual({});
    expect(u.removed.filter((id) => !isDeployment(id))).toEqual(['WebhookTokenSecret']);
    for (const id of KEPT.filter((k) => !k.startsWith('WebhookToken'))) expect([id, u.added.includes(id)]).toEqual([id, false]);
  });

  it.each(ROWS.filter((r) => r.old === FIRST_SSM_TOKEN).map((r) => r.label))('from %s: nothing replaced, the token resource and its function kept', (label) => {
    const u = resultOf(label);
    expect(u.replaced).toEqual({});
    // Its one metric filter became one per rule slot, on the same log group and metric.
    expect(u.removed.filter((id) => !isDeployment(id))).toEqual(['RewritesByRuleMetricFilter']);
    for (const id of KEPT) expect([id, u.added.includes(id) || u.enabled.includes(id)]).toEqual([id, false]);
    expect([...u.disabled, ...u.enabled]).toEqual([]);
  });
});
