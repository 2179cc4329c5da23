/**
 * template.yaml through SAM's own translator (hack/python/sam-translate.py, from the venv), for what
 * only the transform decides. API Gateway serves a REST API's resource policy as of its last
 * deployment, and SAM creates a new AWS::ApiGateway::Deployment only when the hash of the API's
 * OpenAPI body changes: a stack update whose policy changes without changing that hash leaves the
 * old policy in force. The policy in force for given parameters is checked here too.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { venvPython } from './helpers/tools.js';

const SCRIPT = join(REPO_ROOT, 'hack', 'python', 'sam-translate.py');

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

interface Translated {
  readonly Parameters: Record<string, { readonly Default?: Json }>;
  readonly Conditions: Record<string, Json>;
  readonly Resources: Record<string, { readonly Type: string; readonly Properties?: Record<string, Json> }>;
}

function translate(...parameters: string[]): Translated {
  return translateFile(join(REPO_ROOT, 'template.yaml'), ...parameters);
}

function translateFile(template: string, ...parameters: string[]): Translated {
  const r = spawnSync(venvPython(), [SCRIPT, template, ...parameters], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`sam-translate.py ${parameters.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Translated;
}

/**
 * The API's resource policy as CloudFormation would resolve it with these parameters: conditions
 * evaluated, Fn::If chosen, AWS::NoValue dropped, the Fn::Sub and Fn::Split SAM left with literal
 * strings done. Only the functions the policy and its conditions use.
 */
function policyInForce(t: Translated, parameters: Record<string, string>): Json {
  const fail = (what: string): never => {
    throw new Error(`policyInForce: ${what}`);
  };
  const ref = (name: string): Json => parameters[name] ?? t.Parameters[name]?.Default ?? fail(`no parameter ${name}`);
  const condition = (name: string): boolean => {
    const c = t.Conditions[name];
    return c === undefined ? fail(`no condition ${name}`) : truthy(c);
  };
  const truthy = (c: Json): boolean => {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) return fail(`condition ${JSON.stringify(c)}`);
    const [[fn, arg]] = Object.entries(c) as [[string, Json]];
    const args = Array.isArray(arg) ? arg : [arg];
    if (fn === 'Condition' && typeof arg === 'string') return condition(arg);
    if (fn === 'Fn::Not') return !truthy(args[0] ?? null);
    if (fn === 'Fn::And') return args.every(truthy);
    if (fn === 'Fn::Or') return args.some(truthy);
    if (fn === 'Fn::Equals') return JSON.stringify(resolve(args[0] ?? null)) === JSON.stringify(resolve(args[1] ?? null));
    return fail(`condition function ${fn}`);
  };
  const NONE = Symbol('AWS::NoValue');
  const resolve = (v: Json): Json | typeof NONE => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(resolve).filter((x): x is Json => x !== NONE);
    const keys = Object.keys(v);
    const arg = v[keys[0] ?? ''] ?? null;
    if (keys.length === 1 && keys[0] === 'Ref' && typeof arg === 'string') return arg === 'AWS::NoValue' ? NONE : ref(arg);
    if (keys.length === 1 && keys[0] === 'Fn::If' && Array.isArray(arg) && typeof arg[0] === 'string') return resolve((condition(arg[0]) ? arg[1] : arg[2]) ?? null);
    if (keys.length === 1 && keys[0] === 'Fn::Sub' && typeof arg === 'string' && !arg.includes('${')) return arg;
    if (keys.length === 1 && keys[0] === 'Fn::Split' && Array.isArray(arg)) {
      const [sep, text] = [resolve(arg[0] ?? null), resolve(arg[1] ?? null)];
      return typeof sep === 'string' && typeof text === 'string' ? text.split(sep) : fail(`Fn::Split of ${JSON.stringify(arg)}`);
    }
    if (keys.some((k) => k.startsWith('Fn::'))) return fail(`function ${keys.join(',')}`);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]).filter((e): e is [string, Json] => e[1] !== NONE));
  };
  const api = Object.values(t.Resources).find((r) => r.Type === 'AWS::ApiGateway::RestApi');
  const body = api?.Properties?.['Body'];
  const policy = body !== null && typeof body === 'object' && !Array.isArray(body) ? body['x-amazon-apigateway-policy'] : undefined;
  const out = resolve(policy ?? fail('no x-amazon-apigateway-policy'));
  return out === NONE ? fail('the policy is AWS::NoValue') : out;
}

/** The logical id of the API's Deployment (SAM suffixes it with the hash of the body). */
function deployment(t: Translated): string {
  const ids = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::ApiGateway::Deployment').map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0] ?? '';
}

describe('the API is redeployed whenever its resource policy changes', () => {
  // `sam deploy` keeps VpcEndpointIds when only EndpointType is given: PRIVATE -> REGIONAL must not
  // leave the deployed policy denying every caller outside the VPC endpoints (all 403, fail open),
  // and REGIONAL -> PRIVATE must not leave one without that Deny (any VPC endpoint may call).
  it('EndpointType REGIONAL and PRIVATE with the same VpcEndpointIds get different deployments', () => {
    const vpce = 'VpcEndpointIds=vpce-0123456789abcdef0';
    expect(deployment(translate('EndpointType=REGIONAL', vpce))).not.toBe(deployment(translate('EndpointType=PRIVATE', vpce)));
  });

  it('a different VpcEndpointIds gets a different deployment', () => {
    const one = translate('EndpointType=PRIVATE', 'VpcEndpointIds=vpce-0123456789abcdef0');
    const two = translate('EndpointType=PRIVATE', 'VpcEndpointIds=vpce-0123456789abcdef0,vpce-0fedcba9876543210');
    expect(deployment(one)).not.toBe(deployment(two));
  });
});

describe('AllowedSourceCidrs: a REGIONAL endpoint only for the listed source addresses', () => {
  const ALLOW_ALL = { Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' };
  const deny = (condition: Json): Json => ({ Effect: 'Deny', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*', Condition: condition });
  const CIDRS = '203.0.113.10/32,198.51.100.0/24,2001:db8:1234::/48';

  it('empty (the default): the policy in force is the one of before, for REGIONAL and PRIVATE', () => {
    // Not byte for byte: the body now holds the conditional statement, so a stack updated to this
    // template gets one new deployment of the same policy.
    expect(policyInForce(translate(), {})).toEqual({ Version: '2012-10-17', Statement: [{ Sid: 'InvokeREGIONAL', ...ALLOW_ALL }] });
    const vpce = { EndpointType: 'PRIVATE', VpcEndpointIds: 'vpce-0123456789abcdef0' };
    expect(policyInForce(translate('EndpointType=PRIVATE', 'VpcEndpointIds=vpce-0123456789abcdef0'), vpce)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'InvokePRIVATE', ...ALLOW_ALL }, deny({ StringNotEquals: { 'aws:SourceVpce': ['vpce-0123456789abcdef0'] } })],
    });
  });

  it('given: REGIONAL denies every aws:SourceIp outside the list (IPv4 and IPv6)', () => {
    const t = translate(`AllowedSourceCidrs=${CIDRS}`);
    expect(policyInForce(t, { AllowedSourceCidrs: CIDRS })).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'InvokeREGIONAL', ...ALLOW_ALL }, deny({ NotIpAddress: { 'aws:SourceIp': ['203.0.113.10/32', '198.51.100.0/24', '2001:db8:1234::/48'] } })],
    });
  });

  it('never puts an aws:SourceIp Deny on a PRIVATE API (the template\'s rule refuses the combination; such requests have no aws:SourceIp)', () => {
    const p = { EndpointType: 'PRIVATE', VpcEndpointIds: 'vpce-0123456789abcdef0', AllowedSourceCidrs: CIDRS };
    const t = translate(...Object.entries(p).map(([k, v]) => `${k}=${v}`));
    expect(JSON.stringify(policyInForce(t, p))).not.toContain('aws:SourceIp');
  });

  // `sam deploy` with a new list, or AllowedSourceCidrs="" to lift the restriction, must not leave
  // the old list in force: API Gateway serves the policy of the last deployment.
  it('a changed, added or cleared list gets a different deployment', () => {
    const ids = ['', '203.0.113.10/32', '203.0.113.10/32,198.51.100.7/32', '203.0.113.11/32', '2001:db8::/56'].map((v) => deployment(translate(`AllowedSourceCidrs=${v}`)));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('EndpointSecurityPolicy: the TLS of the endpoint the API server calls', () => {
  // SAM's AWS::Serverless::Api passes SecurityPolicy and EndpointAccessMode to the RestApi; without
  // them a REGIONAL API's endpoint keeps API Gateway's legacy TLS_1_0 policy.
  it.each([
    ['REGIONAL', []],
    ['PRIVATE', ['EndpointType=PRIVATE', 'VpcEndpointIds=vpce-0123456789abcdef0']],
  ])('%s: the RestApi gets the enhanced policy and the access mode of the parameters', (_type, parameters) => {
    const t = translate(...parameters);
    const apis = Object.values(t.Resources).filter((r) => r.Type === 'AWS::ApiGateway::RestApi');
    expect(apis).toHaveLength(1);
    expect(apis[0]?.Properties).toMatchObject({ SecurityPolicy: { Ref: 'EndpointSecurityPolicy' }, EndpointAccessMode: { Ref: 'EndpointAccessMode' } });
    expect(t.Parameters['EndpointSecurityPolicy']?.Default).toBe('SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09');
    expect(t.Parameters['EndpointAccessMode']?.Default).toBe('STRICT');
    // A domain name of SAM's own (Domain) would be a second endpoint with its own policy: there is none.
    expect(Object.values(t.Resources).map((r) => r.Type)).not.toContain('AWS::ApiGateway::DomainName');
  });
});

describe('KmsKeyArn is left to CloudFormation', () => {
  // SAM resolves no condition of ours: the key's grants and the token's KmsKeyId reach CloudFormation
  // as written, and the API is not redeployed for a change of key.
  it('translates the same with and without a key, keeping the KMS grants and KmsKeyId under HasKmsKey', () => {
    const without = translate();
    const withKey = translate('KmsKeyArn=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    expect(withKey).toEqual(without);
    expect(without.Resources['WebhookToken']?.Properties?.['KmsKeyId']).toEqual({ 'Fn::If': ['HasKmsKey', { Ref: 'KmsKeyArn' }, { Ref: 'AWS::NoValue' }] });
    for (const role of ['WebhookFunctionRole', 'WebhookTokenFunctionRole']) {
      const policies = JSON.stringify(without.Resources[role]?.Properties?.['Policies']);
      expect([role, policies]).toEqual([role, expect.stringContaining('{"Fn::If":["HasKmsKey",{"PolicyName":"kms-key"')]);
    }
  });
});

describe('Runtime: the Node.js Lambda runs the functions on', () => {
  // Lambda stops creating, then updating, functions on a runtime some months after its deprecation;
  // cfn-lint's own lifecycle table (the venv pins cfn-lint) names each Node.js runtime's successor.
  it('deploys every function on the newest Node.js runtime cfn-lint knows (no successor yet)', () => {
    const lifecycle = spawnSync(venvPython(), ['-c', "import cfnlint, os, sys; sys.stdout.write(open(os.path.join(os.path.dirname(cfnlint.__file__), 'data', 'AdditionalSpecs', 'LmbdRuntimeLifecycle.json')).read())"], { encoding: 'utf8' });
    const table = JSON.parse(lifecycle.stdout) as Record<string, { readonly deprecated?: string; readonly successor?: string | null }>;
    const runtimes = Object.values(translate().Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => r.Properties?.['Runtime']);
    expect(runtimes).toEqual(['nodejs24.x', 'nodejs24.x']);
    expect(table['nodejs24.x']).toMatchObject({ successor: null });
    // The one before it, for the record of why: deprecated within months of this round.
    expect(table['nodejs22.x']).toMatchObject({ deprecated: '2027-04-30', successor: 'nodejs24.x' });
  });
});

describe("Lambda Managed Instances: the README's lines in template.yaml (README, \"Lambda Managed Instances\")", () => {
  const TEMPLATE = readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8');
  const ANCHOR = '    Properties:\n      Description: image-rewriter mutating admission webhook\n';
  const ARN = 'arn:aws:lambda:us-east-1:123456789012:capacity-provider:webhooks';
  /** template.yaml with these lines under WebhookFunction's Properties, in a file of its own. */
  const withLines = (lines: string): string => {
    expect(TEMPLATE.split(ANCHOR)).toHaveLength(2);
    const dir = mkdtempSync(join(tmpdir(), 'lmi-template-'));
    const file = join(dir, 'template.yaml');
    writeFileSync(file, TEMPLATE.replace(ANCHOR, ANCHOR + lines));
    return file;
  };
  const cfnLint = (file: string): { status: number | null; out: string } => {
    const r = spawnSync(join(dirname(venvPython()), 'cfn-lint'), ['--regions', 'us-east-1', '--', file], { encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Lambda Managed Instances'));
  const snippet = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const files: string[] = [];
  afterAll(() => {
    for (const f of files) rmSync(dirname(f), { recursive: true, force: true });
  });

  // The reason the template has no CapacityProviderArn parameter: neither conditional form works.
  it('SAM refuses a CapacityProviderConfig under a condition', () => {
    const file = withLines(`      CapacityProviderConfig: !If [HasReservedConcurrency, {Arn: ${ARN}}, !Ref AWS::NoValue]\n`);
    files.push(file);
    expect(() => translateFile(file)).toThrow(/Invalid CapacityProviderConfig: [^']*Arn\\n\s+field required/);
  });

  it('an Arn that may be AWS::NoValue leaves a config without its required Arn (cfn-lint E3003)', () => {
    const file = withLines(`      CapacityProviderConfig: {Arn: !If [HasReservedConcurrency, ${ARN}, !Ref AWS::NoValue]}\n`);
    files.push(file);
    const r = cfnLint(file);
    expect([r.status, r.out]).toEqual([2, expect.stringContaining("E3003 'Arn' is a required property")]);
  });

  it('translate to the function\'s CapacityProviderConfig and change nothing else: API Gateway invokes the unqualified function ($LATEST.PUBLISHED)', () => {
    expect(snippet).toContain('CapacityProviderConfig:');
    const file = withLines(snippet.replace('arn:aws:lambda:REGION:ACCOUNT:capacity-provider:NAME', ARN));
    files.push(file);
    const before = translate();
    const after = translateFile(file, 'MemorySize=2048');
    const props = after.Resources['WebhookFunction']?.Properties ?? {};
    expect(props['CapacityProviderConfig']).toEqual({ LambdaManagedInstancesCapacityProviderConfig: { CapacityProviderArn: ARN } });
    expect(props['PublishToLatestPublished']).toBe(true);
    // Every other resource, the API's integration and the invoke permission included, as before.
    const rest = Object.fromEntries(Object.entries(props).filter(([k]) => k !== 'CapacityProviderConfig' && k !== 'PublishToLatestPublished'));
    expect({ ...after, Resources: { ...after.Resources, WebhookFunction: { ...after.Resources['WebhookFunction'], Properties: rest } } }).toEqual(before);
    const permission = Object.values(after.Resources).find((r) => r.Type === 'AWS::Lambda::Permission' && JSON.stringify(r.Properties).includes('apigateway'));
    expect(permission?.Properties?.['FunctionName']).toEqual({ Ref: 'WebhookFunction' });
    expect(JSON.stringify(after.Resources['WebhookApi']?.Properties?.['Body'])).toContain('functions/${WebhookFunction.Arn}/invocations');
    expect(cfnLint(file)).toEqual({ status: 0, out: '' });
  });
});
