/**
 * The `sam` command lines the README documents, and the ones `npm run deploy:regions` runs, read by
 * SAM CLI's own command parser (hack/python/sam-cli-parse.py, from the venv) together with the
 * committed samconfig.toml, in a copy of the project: a setting of samconfig.toml that conflicts
 * with a documented option stops the command before it does anything, and only this catches it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { deployArgs, type Options } from '../../scripts/deploy-regions.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { venvPython } from './helpers/tools.js';

const SCRIPT = join(REPO_ROOT, 'hack', 'python', 'sam-cli-parse.py');

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'image-rewriter-sam-cli-'));
  for (const f of ['template.yaml', 'samconfig.toml']) cpSync(join(REPO_ROOT, f), join(dir, f));
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** What SAM CLI would run `sam COMMAND ARGS...` with, in the project copy; throws with its message on a usage error. */
function samReads(command: string, args: readonly string[]): Record<string, unknown> {
  const env: Record<string, string> = { SAM_CLI_TELEMETRY: '0', AWS_DEFAULT_REGION: 'us-east-1' };
  for (const name of ['PATH', 'HOME', 'LANG', 'TMPDIR']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  const r = spawnSync(venvPython(), [SCRIPT, command, ...args], { cwd: dir, encoding: 'utf8', env, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`sam ${command} ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('the README\'s sam commands, with the committed samconfig.toml', () => {
  it('Publishing: sam package --s3-bucket BUCKET uploads to that bucket (no conflict with a samconfig setting)', () => {
    expect(samReads('package', ['--s3-bucket', 'my-bucket', '--output-template-file', 'packaged.yaml'])).toMatchObject({ s3_bucket: 'my-bucket', resolve_s3: false });
  });

  it('Publishing: sam publish --template packaged.yaml --region us-east-1', () => {
    expect(samReads('publish', ['--template', 'packaged.yaml', '--region', 'us-east-1'])['template_file']).toBe(join(dir, 'packaged.yaml'));
  });

  it('Deploying: sam deploy with the inline rules, one step (stack, capabilities and bucket from samconfig.toml)', () => {
    const read = samReads('deploy', ['--parameter-overrides', 'RewriteRules="rules: [{name: gcr, match: gcr.io, replace: asia.gcr.io}]"']);
    expect(read).toMatchObject({ stack_name: 'image-rewriter', capabilities: ['CAPABILITY_IAM'], resolve_s3: true, guided: false });
    expect(read['parameter_overrides']).toEqual({ RewriteRules: 'rules: [{name: gcr, match: gcr.io, replace: asia.gcr.io}]' });
  });

  it('Updating the stack: sam deploy --confirm-changeset shows the change set first, over samconfig.toml\'s confirm_changeset = false', () => {
    expect(samReads('deploy', ['--confirm-changeset'])).toMatchObject({ stack_name: 'image-rewriter', confirm_changeset: true, guided: false });
    expect(samReads('deploy', [])).toMatchObject({ confirm_changeset: false });
  });

  // README, "Updating the stack": sam deploy keeps the stack's value of each parameter not given;
  // --guided offers the template's defaults (or samconfig.toml's overrides) and gives every one.
  it('Updating the stack: sam deploy keeps the parameters not given, --guided offers the template defaults, not the stack\'s values', () => {
    const code = [
      'import json, sys',
      'from samcli.commands.deploy.deploy_context import DeployContext',
      'from samcli.commands.deploy.guided_context import GuidedContext',
      'template = {"Parameters": {"StageName": {"Type": "String", "Default": "Prod"}, "RewriteRules": {"Type": "String", "Default": "rules: []"}}}',
      'json.dump({"deploy": DeployContext.merge_parameters(template, {"RewriteRules": "rules: [x]"}),',
      '           "guided": GuidedContext._get_parameter_value("StageName", template["Parameters"]["StageName"], {})}, sys.stdout)',
    ].join('\n');
    const r = spawnSync(venvPython(), ['-c', code], { encoding: 'utf8', timeout: 120_000 });
    expect(JSON.parse(r.stdout)).toEqual({
      deploy: [{ ParameterKey: 'StageName', UsePreviousValue: true }, { ParameterKey: 'RewriteRules', ParameterValue: 'rules: [x]' }],
      guided: 'Prod',
    });
  });

  it('Existence checks: sam deploy with the ECR repository ARNs', () => {
    const read = samReads('deploy', ['--parameter-overrides', 'VerifyEcrRepositoryArns=arn:aws:ecr:eu-west-1:123456789012:repository/docker-hub/*', 'VerifyEcrFillPullThroughCache=true']);
    expect(read['parameter_overrides']).toEqual({ VerifyEcrRepositoryArns: 'arn:aws:ecr:eu-west-1:123456789012:repository/docker-hub/*', VerifyEcrFillPullThroughCache: 'true' });
  });
});

describe('npm run deploy:regions: its sam deploy, as SAM CLI reads it', () => {
  it('gives CloudFormation the rules document unchanged, the rules parameter cleared and the extra parameters', () => {
    const rules = String.raw`rules:
  - name: hub
    regex: 'docker\.io/(library/)?(?<rest>.*)'
    replace: ${'$'}{env:AWS_ACCOUNT_ID}.dkr.ecr.${'$'}{env:AWS_REGION}.${'$'}{env:AWS_URL_SUFFIX}/hub/$<rest>
    namespaces: ["team a", "b=c", 'quote"d']
exclude: [docker.io/library/busybox]
`;
    const options: Options = { regions: ['us-west-2'], stackName: 'image-rewriter', rules, parameters: ['EnableAlarms=true', 'AlarmEmail=ops@example.com'], build: false, cli: 'node dist/cli.js' };
    const [command, ...args] = deployArgs(options, 'us-west-2');
    const read = samReads(command ?? '', args);
    expect(read).toMatchObject({ stack_name: 'image-rewriter', capabilities: ['CAPABILITY_IAM'], resolve_s3: true, confirm_changeset: false });
    const overrides = read['parameter_overrides'] as Record<string, string>;
    expect(JSON.parse(overrides['RewriteRules'] ?? '')).toEqual(parse(rules));
    expect({ ...overrides, RewriteRules: undefined }).toEqual({ RewriteRules: undefined, RewriteRulesParameterName: '', EnableAlarms: 'true', AlarmEmail: 'ops@example.com' });
  });

  it('gives each region its own VPC endpoints and ECR ARNs (REGION:Key=Value), lists and colons intact', () => {
    const options: Options = {
      regions: ['us-west-2', 'ap-southeast-1'],
      stackName: 'image-rewriter',
      rulesParameter: '/image-rewriter/rules',
      parameters: [
        'EndpointType=PRIVATE',
        'VerifyEcrRepositoryArns=arn:aws:ecr:us-west-2:123456789012:repository/hub/*',
        'us-west-2:VpcEndpointIds=vpce-0a1b2c3d,vpce-4e5f6a7b',
        'ap-southeast-1:VpcEndpointIds=vpce-9f8e7d6c',
        'ap-southeast-1:VerifyEcrRepositoryArns=arn:aws:ecr:ap-southeast-1:123456789012:repository/hub/*,arn:aws:ecr:ap-southeast-1:123456789012:repository/quay/*',
      ],
      build: false,
      cli: 'node dist/cli.js',
    };
    const read = (region: string): unknown => {
      const [command, ...args] = deployArgs(options, region);
      return samReads(command ?? '', args)['parameter_overrides'];
    };
    expect(read('us-west-2')).toEqual({
      RewriteRulesParameterName: '/image-rewriter/rules',
      EndpointType: 'PRIVATE',
      VerifyEcrRepositoryArns: 'arn:aws:ecr:us-west-2:123456789012:repository/hub/*',
      VpcEndpointIds: 'vpce-0a1b2c3d,vpce-4e5f6a7b',
    });
    expect(read('ap-southeast-1')).toEqual({
      RewriteRulesParameterName: '/image-rewriter/rules',
      EndpointType: 'PRIVATE',
      VpcEndpointIds: 'vpce-9f8e7d6c',
      VerifyEcrRepositoryArns: 'arn:aws:ecr:ap-southeast-1:123456789012:repository/hub/*,arn:aws:ecr:ap-southeast-1:123456789012:repository/quay/*',
    });
  });

  it('gives each region its own AllowedSourceCidrs (NAT addresses differ per region), commas, colons and an empty value intact', () => {
    const options: Options = {
      regions: ['us-west-2', 'ap-southeast-1'],
      stackName: 'image-rewriter',
      rulesParameter: '/image-rewriter/rules',
      parameters: ['us-west-2:AllowedSourceCidrs=203.0.113.10/32,198.51.100.7/32,2600:1f14:abc:de00::/56', 'ap-southeast-1:AllowedSourceCidrs=""'],
      build: false,
      cli: 'node dist/cli.js',
    };
    const read = (region: string): unknown => {
      const [command, ...args] = deployArgs(options, region);
      return samReads(command ?? '', args)['parameter_overrides'];
    };
    expect(read('us-west-2')).toEqual({ RewriteRulesParameterName: '/image-rewriter/rules', AllowedSourceCidrs: '203.0.113.10/32,198.51.100.7/32,2600:1f14:abc:de00::/56' });
    // Cleared, not kept from an earlier deploy (sam deploy keeps a parameter it is not given).
    expect(read('ap-southeast-1')).toEqual({ RewriteRulesParameterName: '/image-rewriter/rules', AllowedSourceCidrs: '' });
  });
});
