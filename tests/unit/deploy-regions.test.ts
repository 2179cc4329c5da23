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
import { deployArgs, deployRegions, type Options, parseCommandLine, problems, type Runner, rulesOverride, templateParameterNames, urlSuffix } from '../../scripts/deploy-regions.js';
import { parseRules } from '../../src/config/load.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

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
      'TOKEN=$(aws ssm get-parameter --region ap-southeast-1 --name /image-rewriter/image-rewriter/webhook-token --with-decryption --query Parameter.Value --output text) && node dist/cli.js webhook-config --url "https://abc123.execute-api.ap-southeast-1.amazonaws.com/Prod/mutate/$TOKEN" | kubectl --context <your ap-southeast-1 cluster> apply -f -',
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
    { desc: 'rules too large', extra: { rules: `rules:\n${Array.from({ length: 80 }, (_, i) => `  - { name: r${String(i)}, match: registry${String(i)}.example.com, replace: mirror.example.com/r${String(i)} }`).join('\n')}\n` }, message: 'over 3500 bytes' },
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
