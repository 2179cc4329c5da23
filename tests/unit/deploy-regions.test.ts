/**
 * scripts/deploy-regions.ts without AWS: a fake runner records every command it would run and
 * answers with canned outputs. Per region: the sam deploy arguments, the rules passed the way SAM
 * CLI reads them back, the describe-stacks call, and the printed URL and webhook-config command;
 * a failing region does not stop the others; bad options and rules stop everything first.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { deployArgs, deployRegions, inlineRulesBytes, main, MAX_INLINE_RULES_BYTES, type Options, parseCommandLine, problems, type Runner, rulesOverride, templateParameterNames, urlSuffix, warnings } from '../../scripts/deploy-regions.js';
import { parseRules } from '../../src/config/load.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { type Json, loadTemplate } from '../helpers/template.js';

/**
 * The value SAM CLI 1.170 reads from one `--parameter-overrides` word `Key="..."`
 * (samcli/cli/types.py: CfnParameterOverridesType's quoted-value pattern, then
 * `_unquote_wrapped_quotes`, which unescapes only backslash-space, backslash-" and backslash-').
 */
function samCliValue(word: string): string {
  const quoted = /^[A-Za-z0-9]+=("(?:\\.|[^"\\]+)*")$/.exec(word)?.[1];
  if (quoted === undefined) throw new Error(`SAM CLI would not read ${word} as one quoted value`);
  return quoted.slice(1, -1).replaceAll('\\ ', ' ').replaceAll('\\"', '"').replaceAll("\\'", "'");
}

const RULES = `rules:
  - name: docker-hub
    match: docker.io
    replace: \${env:AWS_ACCOUNT_ID}.dkr.ecr.\${env:AWS_REGION}.\${env:AWS_URL_SUFFIX}/docker-hub
`;

const options = (extra: Partial<Options> = {}): Options => ({ regions: ['us-west-2', 'ap-southeast-1'], stackName: 'image-rewriter', rules: RULES, parameters: [], build: true, cli: 'node dist/cli.js', ...extra });

const outputsOf = (region: string): string =>
  JSON.stringify([
    { OutputKey: 'APIGatewayURL', OutputValue: `https://abc123.execute-api.${region}.${urlSuffix(region)}/Prod/mutate/` },
    { OutputKey: 'WebhookTokenParameter', OutputValue: '/image-rewriter/image-rewriter/webhook-token' },
    { OutputKey: 'FunctionName', OutputValue: 'fn' },
  ]);

function fake(failIn: string[] = []): { run: Runner; calls: string[][] } {
  const calls: string[][] = [];
  const run: Runner = (command, args) => {
    calls.push([command, ...args]);
    const region = args[args.indexOf('--region') + 1] ?? '';
    if (command === 'sam' && args[0] === 'deploy' && failIn.includes(region)) return Promise.resolve({ status: 1, stdout: '', stderr: 'Error: AccessDenied' });
    if (command === 'aws') return Promise.resolve({ status: 0, stdout: outputsOf(region), stderr: '' });
    return Promise.resolve({ status: 0, stdout: '', stderr: '' });
  };
  return { run, calls };
}

describe('deploy-regions', () => {
  it('builds once, then deploys and describes each region in order', async () => {
    const { run, calls } = fake();
    const lines: string[] = [];
    const results = await deployRegions(options(), run, (l) => lines.push(l));
    expect(calls.map((c) => c.slice(0, 4).join(' '))).toEqual([
      'sam build',
      'sam deploy --region us-west-2',
      'aws cloudformation describe-stacks --region',
      'sam deploy --region ap-southeast-1',
      'aws cloudformation describe-stacks --region',
    ]);
    expect(results.map((r) => [r.region, r.ok, r.url])).toEqual([
      ['us-west-2', true, 'https://abc123.execute-api.us-west-2.amazonaws.com/Prod/mutate/'],
      ['ap-southeast-1', true, 'https://abc123.execute-api.ap-southeast-1.amazonaws.com/Prod/mutate/'],
    ]);
    const text = lines.join('\n');
    expect(text).toContain(
      'TOKEN=$(aws ssm get-parameter --region ap-southeast-1 --name /image-rewriter/image-rewriter/webhook-token --with-decryption --query Parameter.Value --output text | cut -d, -f1) && node dist/cli.js webhook-config --url "https://abc123.execute-api.ap-southeast-1.amazonaws.com/Prod/mutate/$TOKEN" | kubectl --context <your ap-southeast-1 cluster> apply -f -',
    );
    expect(text).toContain('deployed to 2 region(s)');
  });

  it('passes the same stack settings to every region, only the region differs', () => {
    const [west, south] = ['us-west-2', 'ap-southeast-1'].map((r) => deployArgs(options(), r));
    expect(west).toEqual([
      'deploy', '--region', 'us-west-2', '--stack-name', 'image-rewriter', '--capabilities', 'CAPABILITY_IAM', '--resolve-s3',
      '--no-confirm-changeset', '--no-fail-on-empty-changeset', '--parameter-overrides', rulesOverride(RULES), 'RewriteRulesParameterName=""',
    ]);
    expect(south?.filter((a) => a !== 'ap-southeast-1')).toEqual(west?.filter((a) => a !== 'us-west-2'));
  });

  it('clears a rules parameter kept from an earlier deploy when the rules are inline (sam deploy keeps unnamed parameters)', () => {
    const args = deployArgs(options(), 'us-west-2');
    const overrides = args.slice(args.indexOf('--parameter-overrides') + 1);
    expect(overrides).toContain('RewriteRulesParameterName=""');
  });

  it('passes the rules as compact JSON in escaped double quotes (the form SAM CLI reads back unchanged)', () => {
    const word = rulesOverride(RULES);
    expect(word.startsWith('RewriteRules="{\\"rules\\":[{\\"name\\":\\"docker-hub\\"')).toBe(true);
    expect(JSON.parse(samCliValue(word))).toEqual({ rules: [{ name: 'docker-hub', match: 'docker.io', replace: '${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.${env:AWS_URL_SUFFIX}/docker-hub' }] });
  });

  it('keeps the backslashes of regex rules as written: SAM CLI unescapes only \\" \\\' and "\\ ", so a \\\\ would arrive doubled', () => {
    const hub = String.raw`rules:
  - name: hub
    regex: 'docker\.io/(library/)?(.*)'
    replace: 111122223333.dkr.ecr.us-west-2.amazonaws.com/hub/$2
`;
    const parsed = parseRules(samCliValue(rulesOverride(hub)), {});
    expect(parsed.ok && parsed.rewriter.rewrite('nginx:1.27')).toMatchObject({ kind: 'rewritten', rewritten: '111122223333.dkr.ecr.us-west-2.amazonaws.com/hub/nginx:1.27' });
    // Every character SAM CLI's unescaping could touch comes back as written.
    const odd = String.raw`rules: [{name: odd, regex: 'a\ b"c''d\', replace: 'x\ "y'}]`;
    expect(JSON.parse(samCliValue(rulesOverride(odd)))).toEqual(parse(odd));
  });

  it('passes an SSM rules parameter and extra parameters instead', () => {
    const ssm: Options = { regions: ['eu-west-1'], stackName: 'image-rewriter', rulesParameter: '/image-rewriter/rules', parameters: ['EnableAlarms=true'], build: true, cli: 'node dist/cli.js' };
    expect(problems(ssm)).toEqual([]);
    const args = deployArgs(ssm, 'eu-west-1');
    expect(args.slice(-3)).toEqual(['--parameter-overrides', 'RewriteRulesParameterName=/image-rewriter/rules', 'EnableAlarms=true']);
  });

  it('goes on after a region fails, and reports it', async () => {
    const { run, calls } = fake(['us-west-2']);
    const lines: string[] = [];
    const results = await deployRegions(options({ build: false }), run, (l) => lines.push(l));
    expect(results.map((r) => r.ok)).toEqual([false, true]);
    expect(results[0]?.error).toBe('sam deploy failed (1): Error: AccessDenied');
    expect(calls.filter((c) => c[0] === 'aws')).toHaveLength(1);
    expect(lines.join('\n')).toContain('failed in: us-west-2');
  });

  it.each([
    { desc: 'no region', extra: { regions: [] }, message: 'at least one region' },
    { desc: 'a bad region', extra: { regions: ['us-west'] }, message: '"us-west" is not a region name' },
    { desc: 'a region twice', extra: { regions: ['us-west-2', 'us-west-2'] }, message: 'listed twice' },
    { desc: 'both rule sources', extra: { rulesParameter: '/x' }, message: 'exactly one of --rules' },
    { desc: 'the rules as a parameter', extra: { parameters: ['RewriteRules=x'] }, message: 'not RewriteRules' },
    { desc: 'invalid rules', extra: { rules: 'rules:\n  - name: x\n    match: gcr.io\n' }, message: 'invalid for us-west-2' },
    { desc: 'rules too large', extra: { rules: `rules:\n${Array.from({ length: 80 }, (_, i) => `  - { name: r${String(i)}, match: registry${String(i)}.example.com, replace: mirror.example.com/r${String(i)} }`).join('\n')}\n` }, message: 'over 3350; put it in an SSM parameter' },
  ])('refuses $desc before running anything', async ({ extra, message }) => {
    const { run, calls } = fake();
    await expect(deployRegions(options(extra), run, () => undefined)).rejects.toThrow(message);
    expect(calls).toEqual([]);
  });

  it('refuses a --parameter template.yaml does not declare (sam deploy would drop it without a word), before running anything', async () => {
    const templateParameters = templateParameterNames(readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8'));
    expect(templateParameters).toEqual(expect.arrayContaining(['RewriteRules', 'EnableAlarms', 'EndpointType', 'VpcEndpointIds']));
    expect(problems(options({ templateParameters, parameters: ['EnableAlarms=true', 'Tracing=Active'] }))).toEqual([]);
    const { run, calls } = fake();
    await expect(deployRegions(options({ templateParameters, parameters: ['EnableAlarm=true'] }), run, () => undefined)).rejects.toThrow('--parameter: template.yaml has no parameter EnableAlarm (sam deploy would ignore it)');
    expect(calls).toEqual([]);
  });

  it('checks ${env:AWS_URL_SUFFIX} rules with each partition\'s suffix', () => {
    expect(problems(options({ regions: ['cn-north-1', 'us-gov-west-1', 'us-east-1'] }))).toEqual([]);
    expect(['cn-north-1', 'us-gov-west-1', 'eu-west-1'].map(urlSuffix)).toEqual(['amazonaws.com.cn', 'amazonaws.com', 'amazonaws.com']);
  });

  it('reads its command line', () => {
    const o = parseCommandLine(['--regions', 'us-west-2, ap-southeast-1', '--rules', 'r.yaml', '--parameter', 'EnableAlarms=true', '--no-build'], (p) => `# ${p}\n${RULES}`);
    expect(o).toMatchObject({ regions: ['us-west-2', 'ap-southeast-1'], stackName: 'image-rewriter', parameters: ['EnableAlarms=true'], build: false });
    expect(o.rules).toContain('# r.yaml');
    expect(() => parseCommandLine(['--region', 'x'], () => '')).toThrow(/Unknown option '--region'/);
  });

  it('reads --rules from the directory `npm run deploy:regions` was started in (npm runs it from the root)', () => {
    const args = ['--regions', 'us-west-2', '--rules', 'r.yaml'];
    const read = (p: string): string => `# ${p}\n${RULES}`;
    expect(parseCommandLine(args, read, { npm_lifecycle_event: 'deploy:regions', INIT_CWD: '/home/me/infra' }).rules).toContain('# /home/me/infra/r.yaml\n');
    expect(parseCommandLine([...args.slice(0, 3), '/abs/r.yaml'], read, { npm_lifecycle_event: 'deploy:regions', INIT_CWD: '/home/me/infra' }).rules).toContain('# /abs/r.yaml\n');
    // Another npm script (a user's own) keeps its own directory.
    expect(parseCommandLine(args, read, { npm_lifecycle_event: 'deploy', INIT_CWD: '/home/me/infra' }).rules).toContain('# r.yaml\n');
    // An absolute path is read as typed; an empty INIT_CWD names no directory.
    expect(parseCommandLine([...args.slice(0, 3), '/abs/../abs/r.yaml'], read, { npm_lifecycle_event: 'deploy:regions', INIT_CWD: '/home/me/infra' }).rules).toContain('# /abs/../abs/r.yaml\n');
    expect(parseCommandLine(args, read, { npm_lifecycle_event: 'deploy:regions', INIT_CWD: '' }).rules).toContain('# r.yaml\n');
  });
});

describe('deploy-regions: region-scoped parameters (REGION:Key=Value)', () => {
  const templateParameters = templateParameterNames(readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8'));
  const WEST_ECR = 'arn:aws:ecr:us-west-2:111122223333:repository/docker-hub/*';
  const SOUTH_ECR = 'arn:aws:ecr:ap-southeast-1:111122223333:repository/docker-hub/*';
  const overridesOf = (calls: string[][], region: string): string[] => {
    const deploy = calls.find((c) => c[0] === 'sam' && c[1] === 'deploy' && c[c.indexOf('--region') + 1] === region) ?? [];
    return deploy.slice(deploy.indexOf('--parameter-overrides') + 1);
  };
  const common = (region: string): string[] => [
    'sam', 'deploy', '--region', region, '--stack-name', 'image-rewriter', '--capabilities', 'CAPABILITY_IAM', '--resolve-s3',
    '--no-confirm-changeset', '--no-fail-on-empty-changeset', '--parameter-overrides', rulesOverride(RULES), 'RewriteRulesParameterName=""',
  ];

  it('gives each region the unscoped values it does not override, then its own; a value keeps its colons', async () => {
    const { run, calls } = fake();
    const lines: string[] = [];
    const parameters = [
      'EnableAlarms=true',
      'EndpointType=PRIVATE',
      `us-west-2:VerifyEcrRepositoryArns=${WEST_ECR}`,
      'us-west-2:VpcEndpointIds=vpce-0a1b2c3d',
      `ap-southeast-1:VerifyEcrRepositoryArns=${SOUTH_ECR}`,
      'ap-southeast-1:VpcEndpointIds=vpce-9f8e7d6c,vpce-5b4a3928',
      'MemorySize=512',
      'ap-southeast-1:MemorySize=1024',
    ];
    const results = await deployRegions(options({ templateParameters, parameters, build: false }), run, (l) => lines.push(l));
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    expect(calls.filter((c) => c[0] === 'sam')).toEqual([
      [...common('us-west-2'), 'EnableAlarms=true', 'EndpointType=PRIVATE', 'MemorySize=512', `VerifyEcrRepositoryArns=${WEST_ECR}`, 'VpcEndpointIds=vpce-0a1b2c3d'],
      [...common('ap-southeast-1'), 'EnableAlarms=true', 'EndpointType=PRIVATE', `VerifyEcrRepositoryArns=${SOUTH_ECR}`, 'VpcEndpointIds=vpce-9f8e7d6c,vpce-5b4a3928', 'MemorySize=1024'],
    ]);
    expect(lines.join('\n')).not.toContain('warning');
    expect(lines.join('\n')).toContain('deployed to 2 region(s)');
  });

  it('a region scoped to only one of them leaves the other with the unscoped value, or none', () => {
    const o = options({ templateParameters, parameters: ['us-west-2:LogLevel=DEBUG', 'Tracing=Active', 'ap-southeast-1:Tracing=Disabled'] });
    expect(problems(o)).toEqual([]);
    expect(deployArgs(o, 'us-west-2').slice(-2)).toEqual(['Tracing=Active', 'LogLevel=DEBUG']);
    expect(deployArgs(o, 'ap-southeast-1').slice(-2)).toEqual(['RewriteRulesParameterName=""', 'Tracing=Disabled']);
  });

  it.each([
    { desc: 'a region not in --regions', parameters: ['us-east-1:LogLevel=DEBUG'], message: '--parameter: "us-east-1:LogLevel=DEBUG" is for region "us-east-1", which is not one of --regions (us-west-2, ap-southeast-1)' },
    { desc: 'an empty region', parameters: [':LogLevel=DEBUG'], message: 'is for region "", which is not one of --regions' },
    { desc: 'a scoped key the template lacks', parameters: ['us-west-2:VpcEndpointId=vpce-0a1b2c3d'], message: '--parameter: template.yaml has no parameter VpcEndpointId (sam deploy would ignore it)' },
    { desc: 'scoped rules', parameters: ['us-west-2:RewriteRules=x'], message: 'set the rules with --rules or --rules-parameter, not RewriteRules' },
    { desc: 'two colons before the =', parameters: ['us-west-2:a:LogLevel=DEBUG'], message: '"us-west-2:a:LogLevel=DEBUG" is not Key=Value or REGION:Key=Value' },
    { desc: 'no =', parameters: ['us-west-2:LogLevel'], message: 'is not Key=Value or REGION:Key=Value' },
    { desc: 'a key twice in one region', parameters: ['us-west-2:LogLevel=DEBUG', 'us-west-2:LogLevel=WARN'], message: '--parameter: us-west-2:LogLevel is given twice' },
    { desc: 'a key twice for every region', parameters: ['LogLevel=DEBUG', 'LogLevel=WARN'], message: '--parameter: LogLevel is given twice' },
    {
      desc: 'PRIVATE in a region without VpcEndpointIds',
      parameters: ['EndpointType=PRIVATE', 'us-west-2:VpcEndpointIds=vpce-0a1b2c3d'],
      message: '--parameter: EndpointType PRIVATE in ap-southeast-1 needs that region\'s VPC endpoints: --parameter ap-southeast-1:VpcEndpointIds=vpce-...',
    },
    { desc: 'PRIVATE with an empty VpcEndpointIds', parameters: ['us-west-2:EndpointType=PRIVATE', 'us-west-2:VpcEndpointIds=""'], message: 'EndpointType PRIVATE in us-west-2 needs' },
    {
      desc: 'AllowedSourceCidrs in a PRIVATE region',
      parameters: ['AllowedSourceCidrs=203.0.113.10/32', 'ap-southeast-1:EndpointType=PRIVATE', 'ap-southeast-1:VpcEndpointIds=vpce-9f8e7d6c'],
      message: '--parameter: AllowedSourceCidrs applies to REGIONAL endpoints only, and ap-southeast-1 is PRIVATE (requests through a VPC endpoint have no aws:SourceIp): --parameter ap-southeast-1:AllowedSourceCidrs=""',
    },
    {
      desc: 'one VPC endpoint in two regions',
      parameters: ['EndpointType=PRIVATE', 'VpcEndpointIds=vpce-0a1b2c3d'],
      message: '--parameter: VpcEndpointIds vpce-0a1b2c3d would go to us-west-2, ap-southeast-1; a VPC endpoint exists in one region: give each region its own (--parameter us-west-2:VpcEndpointIds=vpce-0a1b2c3d)',
    },
    {
      desc: 'one KmsKeyArn for every region (a key of one region)',
      parameters: ['KmsKeyArn=arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'],
      message: '--parameter: KmsKeyArn for ap-southeast-1 names a key of us-west-2; a KMS key serves its own region only: give each region its own (--parameter ap-southeast-1:KmsKeyArn=arn:aws:kms:ap-southeast-1:...)',
    },
    // What would deploy a region that cannot check ECR (no grant), or fail its changeset at IAM only
    // after the regions before it were deployed (an empty ARN item).
    {
      desc: 'VerifyEcrFillPullThroughCache in a region without VerifyEcrRepositoryArns',
      parameters: ['VerifyEcrFillPullThroughCache=true', 'us-west-2:VerifyEcrRepositoryArns=arn:aws:ecr:us-west-2:111122223333:repository/hub/*'],
      message: '--parameter: VerifyEcrFillPullThroughCache=true in ap-southeast-1 fills the caches of the repositories in VerifyEcrRepositoryArns, and that region has none: --parameter ap-southeast-1:VerifyEcrRepositoryArns=arn:aws:ecr:ap-southeast-1:...',
    },
    { desc: 'an empty item in VerifyEcrRepositoryArns', parameters: ['us-west-2:VerifyEcrRepositoryArns=arn:aws:ecr:us-west-2:111122223333:repository/hub/*,'], message: '--parameter: VerifyEcrRepositoryArns for us-west-2 has an empty item (a comma too many)' },
    { desc: 'an ECR ARN of another partition', parameters: ['us-west-2:VerifyEcrRepositoryArns=arn:aws-cn:ecr:cn-north-1:111122223333:repository/hub/*'], message: 'VerifyEcrRepositoryArns for us-west-2 names arn:aws-cn:ecr:cn-north-1:111122223333:repository/hub/*, of partition aws-cn: IAM in us-west-2 (aws) cannot grant it' },
  ])('refuses $desc before running anything', async ({ parameters, message }) => {
    const { run, calls } = fake();
    await expect(deployRegions(options({ templateParameters, parameters }), run, () => undefined)).rejects.toThrow(message);
    expect(calls).toEqual([]);
  });

  it('gives each region its own AllowedSourceCidrs (its NAT addresses), IPv6 colons intact, and PRIVATE ones an empty list', () => {
    const o = options({
      templateParameters,
      parameters: ['us-west-2:AllowedSourceCidrs=203.0.113.10/32,2600:1f14:abc:de00::/56', 'ap-southeast-1:EndpointType=PRIVATE', 'ap-southeast-1:VpcEndpointIds=vpce-9f8e7d6c', 'ap-southeast-1:AllowedSourceCidrs=""'],
    });
    expect(problems(o)).toEqual([]);
    expect(deployArgs(o, 'us-west-2').slice(-1)).toEqual(['AllowedSourceCidrs=203.0.113.10/32,2600:1f14:abc:de00::/56']);
    expect(deployArgs(o, 'ap-southeast-1').slice(-3)).toEqual(['EndpointType=PRIVATE', 'VpcEndpointIds=vpce-9f8e7d6c', 'AllowedSourceCidrs=""']);
  });

  it('passes an empty value as Key="" (the shell drops the quotes of --parameter REGION:Key=""; SAM CLI refuses Key=)', () => {
    // What bash hands over for: --parameter ap-southeast-1:AllowedSourceCidrs="" --parameter AlarmEmail=""
    const o = options({
      templateParameters,
      parameters: ['AllowedSourceCidrs=203.0.113.10/32', 'AlarmEmail=', 'ap-southeast-1:EndpointType=PRIVATE', 'ap-southeast-1:VpcEndpointIds=vpce-9f8e7d6c', 'ap-southeast-1:AllowedSourceCidrs='],
    });
    expect(problems(o)).toEqual([]);
    expect(deployArgs(o, 'us-west-2').slice(-2)).toEqual(['AllowedSourceCidrs=203.0.113.10/32', 'AlarmEmail=""']);
    expect(deployArgs(o, 'ap-southeast-1').slice(-4)).toEqual(['AlarmEmail=""', 'EndpointType=PRIVATE', 'VpcEndpointIds=vpce-9f8e7d6c', 'AllowedSourceCidrs=""']);
  });

  it("gives each region its own KmsKeyArn (a multi-Region key's replica ARN names its region)", () => {
    const o = options({
      templateParameters,
      parameters: ['us-west-2:KmsKeyArn=arn:aws:kms:us-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef', 'ap-southeast-1:KmsKeyArn=arn:aws:kms:ap-southeast-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef'],
    });
    expect(problems(o)).toEqual([]);
    expect(deployArgs(o, 'ap-southeast-1').slice(-1)).toEqual(['KmsKeyArn=arn:aws:kms:ap-southeast-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef']);
  });

  it('lets one VPC endpoint go to every region when the others are REGIONAL (where VpcEndpointIds is ignored)', () => {
    const o = options({ templateParameters, parameters: ['VpcEndpointIds=vpce-0a1b2c3d', 'us-west-2:EndpointType=PRIVATE', 'ap-southeast-1:EndpointType=REGIONAL'] });
    expect(problems(o)).toEqual([]);
  });

  it('warns of ECR ARNs of another region, and deploys', async () => {
    const o = options({ templateParameters, parameters: [`VerifyEcrRepositoryArns=${WEST_ECR}`], build: false });
    expect(warnings(o)).toEqual([
      `VerifyEcrRepositoryArns for ap-southeast-1 names ${WEST_ECR}, a repository in us-west-2: the ap-southeast-1 function may check only the repositories named. ` +
        'Right for rules that verify against us-west-2; for ap-southeast-1\'s own ECR give --parameter ap-southeast-1:VerifyEcrRepositoryArns=arn:aws:ecr:ap-southeast-1:...',
    ]);
    const { run, calls } = fake();
    const lines: string[] = [];
    await deployRegions(o, run, (l) => lines.push(l));
    expect(lines[0]).toMatch(/^warning: VerifyEcrRepositoryArns for ap-southeast-1 names/);
    expect(calls.filter((c) => c[1] === 'deploy')).toHaveLength(2);
    expect(warnings(options({ parameters: [`us-west-2:VerifyEcrRepositoryArns=${WEST_ECR}`, `ap-southeast-1:VerifyEcrRepositoryArns=${SOUTH_ECR}`] }))).toEqual([]);
  });

  describe('through main(argv)', () => {
    const files: Record<string, string> = { 'template.yaml': readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8'), 'rules.yaml': RULES };
    const io = (run: Runner): { out: string[]; err: string[]; io: Parameters<typeof main>[1] } => {
      const out: string[] = [];
      const err: string[] = [];
      const readFile = (p: string): string => {
        const text = files[p];
        if (text === undefined) throw new Error(`ENOENT: ${p}`);
        return text;
      };
      return { out, err, io: { run, readFile, out: (l) => out.push(l), err: (l) => err.push(l) } };
    };

    it('deploys each region with its own parameters', async () => {
      const { run, calls } = fake();
      const t = io(run);
      const status = await main(
        ['--regions', 'us-west-2,ap-southeast-1', '--rules', 'rules.yaml', '--parameter', 'EndpointType=PRIVATE', '--parameter', 'us-west-2:VpcEndpointIds=vpce-0a1b2c3d', '--parameter', 'ap-southeast-1:VpcEndpointIds=vpce-9f8e7d6c', '--no-build'],
        t.io,
      );
      expect(t.err).toEqual([]);
      expect(status).toBe(0);
      expect(overridesOf(calls, 'us-west-2').slice(2)).toEqual(['EndpointType=PRIVATE', 'VpcEndpointIds=vpce-0a1b2c3d']);
      expect(overridesOf(calls, 'ap-southeast-1').slice(2)).toEqual(['EndpointType=PRIVATE', 'VpcEndpointIds=vpce-9f8e7d6c']);
      expect(t.out).toContain('sam deploy --region ap-southeast-1 --stack-name image-rewriter');
    });

    it('refuses a region not in --regions and an unknown scoped key with exit 2, running nothing', async () => {
      const { run, calls } = fake();
      const t = io(run);
      const status = await main(['--regions', 'us-west-2', '--rules', 'rules.yaml', '--parameter', 'eu-west-1:VpcEndpointIds=vpce-0a1b2c3d', '--parameter', 'us-west-2:EnableAlarm=true'], t.io);
      expect(status).toBe(2);
      expect(calls).toEqual([]);
      expect(t.out).toEqual([]);
      expect(t.err.join('\n')).toContain('"eu-west-1:VpcEndpointIds=vpce-0a1b2c3d" is for region "eu-west-1", which is not one of --regions (us-west-2)');
      expect(t.err.join('\n')).toContain('template.yaml has no parameter EnableAlarm');
    });
  });
});

describe('npm run deploy:regions', () => {
  it('runs its command line through a symlinked node_modules (not a silent exit 0)', () => {
    // scripts/run-ts.mjs bundles into ./node_modules/.cache and runs the bundle by that path.
    const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-deploy-regions-'));
    try {
      symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
      const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'run-ts.mjs'), join(REPO_ROOT, 'scripts', 'deploy-regions.ts'), '--bogus'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toContain('usage: npm run deploy:regions');
      expect(r.status).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a parameter name template.yaml lacks, from the repository root, before running sam', () => {
    const r = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'scripts', 'run-ts.mjs'), join(REPO_ROOT, 'scripts', 'deploy-regions.ts'), '--regions', 'us-west-2', '--rules', 'tests/fixtures/valid-demo.yaml', '--parameter', 'EnableAlarm=true'],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: dirname(process.execPath) } },
    );
    expect(r.stderr).toContain('--parameter: template.yaml has no parameter EnableAlarm');
    expect(r.stdout).not.toContain('sam build');
    expect(r.status).toBe(2);
  });
});

describe('inline rules and the 4 KB of environment variables', () => {
  /** `count` rules in flow style, compact JSON of about 45 bytes and 12 quotes each. */
  const rulesOf = (count: number): string => `rules:\n${Array.from({ length: count }, (_, i) => `  - { name: r${String(i)}, match: r${String(i)}.example.com, replace: m.example.com/r${String(i)} }`).join('\n')}\n`;
  const largestAccepted = (): string => {
    let n = 1;
    while (inlineRulesBytes(rulesOf(n + 1)) <= MAX_INLINE_RULES_BYTES) n++;
    return rulesOf(n);
  };

  it('counts the rules as Lambda measures them, as a JSON string: a document of about 3,100 bytes of JSON is over once its quotes are escaped', () => {
    const rules = rulesOf(44);
    const compact = JSON.stringify(parse(rules) as unknown);
    expect(Buffer.byteLength(compact)).toBeLessThan(MAX_INLINE_RULES_BYTES);
    expect(inlineRulesBytes(rules)).toBe(Buffer.byteLength(JSON.stringify(compact)));
    expect(inlineRulesBytes(rules)).toBeGreaterThan(MAX_INLINE_RULES_BYTES);
    expect(problems(options({ rules })).join('\n')).toContain('over 3350; put it in an SSM parameter');
  });

  it('the largest document it accepts fits beside the template\'s other variables at their longest usual values (a 128-character stack name, registry credentials set)', () => {
    const rules = largestAccepted();
    expect(problems(options({ rules }))).toEqual([]);
    const template = loadTemplate();
    const fn = template.Resources['WebhookFunction']?.Properties;
    const variables = ((fn?.['Environment'] as Record<string, Json> | undefined)?.['Variables'] ?? {}) as Record<string, Json>;
    const known: Record<string, string> = {
      'AWS::AccountId': '123456789012',
      'AWS::URLSuffix': 'amazonaws.com.cn',
      WebhookToken: `/image-rewriter/${'s'.repeat(128)}/webhook-token`,
      RegistryCredentialsSecretArn: 'arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:image-rewriter/registry-credentials-AbCdEf',
      RegistryCredentialsParameterName: '/image-rewriter/registry-credentials',
      RewriteRules: rulesOf(0),
    };
    const value = (v: Json): string => {
      if (typeof v === 'string') return v;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const ref = v['Ref'];
        if (typeof ref === 'string') {
          const given = known[ref] ?? template.Parameters[ref]?.['Default'];
          if (given === undefined || given === null || typeof given === 'object') throw new Error(`no value for Ref ${ref}`);
          return String(given);
        }
        const cond = v['Fn::If'];
        if (Array.isArray(cond) && cond[0] === 'RulesFromParameter') return JSON.stringify(parse(rules) as unknown);
      }
      throw new Error(`a variable of a form this test does not know: ${JSON.stringify(v)}`);
    };
    const resolved = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, value(v)]));
    expect(Object.keys(resolved)).toContain('REWRITE_RULES');
    const measured = Buffer.byteLength(JSON.stringify(resolved));
    expect(measured).toBeLessThanOrEqual(4096);
  });
});
