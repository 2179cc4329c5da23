/**
 * One command that deploys the same rules to several regions (`npm run deploy:regions -- ...`):
 * checks the rules document once per region (with that region's ${env:...} values), runs
 * `sam build` once, then per region `sam deploy` of the same stack and `aws cloudformation
 * describe-stacks`, and prints per region the webhook URL and the `webhook-config` command for that
 * region's clusters. The token is never printed: each region's stack generates its own (the
 * command reads it from that region's SSM parameter when it runs).
 *
 * Tokens are per region: no secret is copied between regions, a token leaked from one region's
 * clusters (it is in their webhook configuration and in API server logs) opens only that region's
 * endpoint and is rotated there alone, and each region deploys and fails on its own.
 *
 * `--parameter Key=Value` goes to every region; `--parameter REGION:Key=Value` to that region only,
 * in place of an unscoped value of the same Key, for the values that exist in one region
 * (VpcEndpointIds, VerifyEcrRepositoryArns, AllowedSourceCidrs, KmsKeyArn, or an EndpointType of its
 * own). Before anything runs
 * it refuses what would deploy a broken region: a REGION not in --regions, a Key the template lacks,
 * a Key given twice in one scope, EndpointType PRIVATE without VpcEndpointIds or with
 * AllowedSourceCidrs, one VPC endpoint in two regions, ECR ARNs of another partition or with an
 * empty item, VerifyEcrFillPullThroughCache without ECR ARNs, a KmsKeyArn of another region; and
 * warns of ECR ARNs of another region.
 *
 * The commands go through an injected runner, so tests check what would run without AWS. A region
 * that fails does not stop the others; the exit status is 1 when any failed.
 */
import { spawn } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { formatIssues, parseRules } from '../src/config/load.js';
import { userPath } from '../src/cli/user-path.js';

export interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}
/** Runs one command (no shell) and returns its status and output. */
export type Runner = (command: string, args: readonly string[]) => Promise<RunResult>;

export interface Options {
  readonly regions: readonly string[];
  readonly stackName: string;
  /** The rules document's text (YAML or JSON), passed as RewriteRules. */
  readonly rules?: string;
  /** Or an SSM parameter name that must exist in every region, passed as RewriteRulesParameterName. */
  readonly rulesParameter?: string;
  /** More stack parameters: `Key=Value` for every region, `REGION:Key=Value` for one (overriding `Key=Value` there). */
  readonly parameters: readonly string[];
  readonly build: boolean;
  /** How the printed command calls the CLI. */
  readonly cli: string;
  /**
   * The template's parameter names, when known: a `--parameter` naming another is refused, since
   * `sam deploy` drops overrides the template does not declare without a word (EnableAlarm=true
   * would deploy every region without alarms).
   */
  readonly templateParameters?: readonly string[];
}

export interface RegionResult {
  readonly region: string;
  readonly ok: boolean;
  readonly url?: string;
  readonly tokenParameter?: string;
  readonly error?: string;
}

/**
 * The most REWRITE_RULES may take of Lambda's 4 KB for all of a function's variables, which Lambda
 * measures as the JSON text of the variables (its error prints "String measured: {...}"), so every
 * `"` of the rules counts twice. The template's other variables take up to about 700 bytes (a
 * 128-character stack name in the token parameter's name, registry credentials set). CloudFormation's
 * limit on the parameter itself, 4,096 bytes, is then never reached.
 */
export const MAX_INLINE_RULES_BYTES = 3350;

/** The bytes the rules take of Lambda's variables: their compact JSON as a JSON string. */
export function inlineRulesBytes(rules: string): number {
  return Buffer.byteLength(JSON.stringify(rulesJson(rules)), 'utf8');
}
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** The partition's domain suffix (AWS::URLSuffix) of a region, to check `${env:AWS_URL_SUFFIX}` rules before deploying. */
export function urlSuffix(region: string): string {
  if (region.startsWith('cn-')) return 'amazonaws.com.cn';
  if (region.startsWith('us-isob-')) return 'sc2s.sgov.gov';
  if (region.startsWith('us-iso-')) return 'c2s.ic.gov';
  return 'amazonaws.com';
}

/**
 * The rules as compact JSON (a valid rules document) with no backslash that SAM CLI's parameter
 * parser would touch: it unescapes only `\"`, `\'` and `\ ` and keeps every other backslash
 * (SAM CLI 1.170's CfnParameterOverridesType, `_unquote_wrapped_quotes`), so a `\\` written for it
 * would reach the function doubled (a regex `docker\.io` would become `docker\\.io`). The JSON
 * escapes `\\` and `\"` are written as `\u005c` and `\u0022` instead, which mean the same to JSON.
 */
export function rulesJson(text: string): string {
  return JSON.stringify(parse(text)).replace(/\\(.)/g, (pair, c: string) => (c === '\\' ? '\\u005c' : c === '"' ? '\\u0022' : pair));
}

/**
 * The rules as one `--parameter-overrides` word: `rulesJson` in double quotes, each `"` escaped,
 * the form SAM CLI's parameter parser reads back unchanged.
 */
export function rulesOverride(text: string): string {
  return `RewriteRules="${rulesJson(text).replace(/"/g, '\\"')}"`;
}

/** Every problem of the options and the rules (checked per region), or []. */
export function problems(options: Options): string[] {
  const out: string[] = [];
  if (options.regions.length === 0) out.push('--regions: give at least one region (us-west-2,ap-southeast-1)');
  for (const r of options.regions) if (!REGION.test(r)) out.push(`--regions: "${r}" is not a region name`);
  if (new Set(options.regions).size !== options.regions.length) out.push('--regions: a region is listed twice');
  if ((options.rules === undefined) === (options.rulesParameter === undefined)) out.push('give exactly one of --rules FILE and --rules-parameter NAME');
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(options.stackName)) out.push(`--stack-name: "${options.stackName}" is not a stack name`);
  out.push(...parameterProblems(options));
  if (options.rules !== undefined) {
    if (safeParse(options.rules) !== undefined && inlineRulesBytes(options.rules) > MAX_INLINE_RULES_BYTES) {
      out.push(`--rules: the document takes ${String(inlineRulesBytes(options.rules))} bytes of the function's 4 KB of environment variables (its JSON, as a JSON string), over ${String(MAX_INLINE_RULES_BYTES)}; put it in an SSM parameter in each region and use --rules-parameter`);
    }
    for (const region of options.regions.filter((r) => REGION.test(r))) {
      const result = parseRules(options.rules, { AWS_REGION: region, AWS_ACCOUNT_ID: '000000000000', AWS_URL_SUFFIX: urlSuffix(region) });
      if (!result.ok) out.push(`--rules: invalid for ${region}:\n${formatIssues(result.issues)}`);
    }
  }
  return out;
}

/** One `--parameter`: `Key=Value`, or `REGION:Key=Value` for one region. */
export interface Parameter {
  readonly region?: string;
  readonly key: string;
  /** As written after the `=`, handed to SAM CLI unchanged. */
  readonly value: string;
}

/**
 * A `--parameter` read, or undefined when it is neither form. The part before the first `=` is the
 * Key or REGION:Key (template parameter names hold no colon; values may: ARNs).
 */
export function parseParameter(text: string): Parameter | undefined {
  const m = /^(?:([^:=]*):)?([A-Za-z0-9]+)=/.exec(text);
  if (m === null) return undefined;
  const key = m[2] ?? '';
  const value = text.slice(m[0].length);
  return m[1] === undefined ? { key, value } : { region: m[1], key, value };
}

/**
 * The `Key=Value` words for one region: the unscoped ones it does not override, then its own. An
 * empty value goes as `Key=""`: the shell hands `--parameter AllowedSourceCidrs=""` over as
 * `AllowedSourceCidrs=`, which SAM CLI refuses ("is not a valid format"), after the regions before.
 */
export function regionParameters(options: Options, region: string): string[] {
  const parsed = options.parameters.map(parseParameter).filter((p) => p !== undefined);
  const own = parsed.filter((p) => p.region === region);
  const shared = parsed.filter((p) => p.region === undefined && !own.some((o) => o.key === p.key));
  return [...shared, ...own].map((p) => `${p.key}=${p.value === '' ? '""' : p.value}`);
}

/** A region's parameter values as CloudFormation gets them (SAM CLI drops one pair of wrapping quotes). */
function regionValues(options: Options, region: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const word of regionParameters(options, region)) {
    const p = parseParameter(word);
    if (p !== undefined) values.set(p.key, /^"[^"]*"$|^'[^']*'$/.test(p.value) ? p.value.slice(1, -1) : p.value);
  }
  return values;
}

/** The partition of a region, as ARNs name it. */
function partition(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  return 'aws';
}

const ecrArns = (values: Map<string, string>): { arn: string; partition: string; region: string }[] =>
  (values.get('VerifyEcrRepositoryArns') ?? '').split(',').flatMap((arn) => {
    const m = /^arn:([a-z-]+):ecr:([a-z0-9-]+):/.exec(arn.trim());
    return m === null ? [] : [{ arn: arn.trim(), partition: m[1] ?? '', region: m[2] ?? '' }];
  });

/** The problems of the `--parameter`s: their form, names and regions, and what would break a region. */
function parameterProblems(options: Options): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const text of options.parameters) {
    const p = parseParameter(text);
    if (p === undefined) {
      out.push(`--parameter: "${text}" is not Key=Value or REGION:Key=Value`);
      continue;
    }
    if (p.region !== undefined && !options.regions.includes(p.region)) out.push(`--parameter: "${text}" is for region "${p.region}", which is not one of --regions (${options.regions.join(', ')})`);
    if (p.key === 'RewriteRules' || p.key === 'RewriteRulesParameterName') out.push(`--parameter: set the rules with --rules or --rules-parameter, not ${p.key}`);
    else if (options.templateParameters !== undefined && !options.templateParameters.includes(p.key)) {
      out.push(`--parameter: template.yaml has no parameter ${p.key} (sam deploy would ignore it); it has ${options.templateParameters.join(', ')}`);
    }
    // Two values for one Key in one scope: SAM CLI would keep one of them without a word.
    const scoped = p.region === undefined ? p.key : `${p.region}:${p.key}`;
    if (seen.has(scoped)) out.push(`--parameter: ${scoped} is given twice`);
    seen.add(scoped);
  }
  if (out.length > 0) return out;
  const regions = options.regions.filter((r) => REGION.test(r));
  const vpceRegions = new Map<string, string[]>();
  for (const region of regions) {
    const values = regionValues(options, region);
    const type = values.get('EndpointType');
    // The template's rule PrivateEndpointNeedsVpcEndpoints would fail this region's changeset only
    // after the regions before it were deployed. A VpcEndpointIds missing here might be kept from an
    // earlier deploy of the stack, but this command cannot know: it asks for the region's ids.
    if (type === 'PRIVATE' && (values.get('VpcEndpointIds') ?? '') === '') {
      out.push(`--parameter: EndpointType PRIVATE in ${region} needs that region's VPC endpoints: --parameter ${region}:VpcEndpointIds=vpce-...`);
    }
    // Likewise the rule SourceCidrsNeedRegionalEndpoint.
    if (type === 'PRIVATE' && (values.get('AllowedSourceCidrs') ?? '') !== '') {
      out.push(`--parameter: AllowedSourceCidrs applies to REGIONAL endpoints only, and ${region} is PRIVATE (requests through a VPC endpoint have no aws:SourceIp): --parameter ${region}:AllowedSourceCidrs=""`);
    }
    // VpcEndpointIds is ignored where the EndpointType is REGIONAL (given here; else it may be PRIVATE).
    if (type !== 'REGIONAL') {
      for (const id of (values.get('VpcEndpointIds') ?? '').split(',').filter((i) => i !== '')) vpceRegions.set(id, [...(vpceRegions.get(id) ?? []), region]);
    }
    // A KMS key belongs to one region, and the stack's SecureString needs one of its own region
    // (template.yaml's KmsKeyArn): an unscoped key fails the token's write in every other region,
    // after the regions before it were deployed.
    const key = /^arn:[a-z-]+:kms:([a-z0-9-]+):/.exec((values.get('KmsKeyArn') ?? '').trim());
    if (key !== null && key[1] !== region) {
      out.push(`--parameter: KmsKeyArn for ${region} names a key of ${key[1] ?? ''}; a KMS key serves its own region only: give each region its own (--parameter ${region}:KmsKeyArn=arn:${partition(region)}:kms:${region}:...)`);
    }
    // What deploys and cannot work: VerifyEcrFillPullThroughCache grants its actions on these ARNs,
    // so without any it grants nothing (a list kept from an earlier deploy cannot be known here: it
    // asks for the region's); an empty item passes the per-item AllowedPattern and puts a Resource
    // "" in the role, which IAM refuses at deploy (MalformedPolicyDocument). The template has no
    // Rules for these: not tried against CloudFormation (a rule it refused would stop every deploy).
    const repositories = (values.get('VerifyEcrRepositoryArns') ?? '').split(',').map((arn) => arn.trim());
    const noRepository = repositories.every((arn) => arn === '');
    if (values.get('VerifyEcrFillPullThroughCache') === 'true' && noRepository) {
      out.push(`--parameter: VerifyEcrFillPullThroughCache=true in ${region} fills the caches of the repositories in VerifyEcrRepositoryArns, and that region has none: --parameter ${region}:VerifyEcrRepositoryArns=arn:${partition(region)}:ecr:${region}:...`);
    }
    if (!noRepository && repositories.includes('')) out.push(`--parameter: VerifyEcrRepositoryArns for ${region} has an empty item (a comma too many)`);
    for (const arn of ecrArns(values)) {
      if (arn.partition !== partition(region)) out.push(`--parameter: VerifyEcrRepositoryArns for ${region} names ${arn.arn}, of partition ${arn.partition}: IAM in ${region} (${partition(region)}) cannot grant it`);
    }
  }
  // A VPC endpoint exists in one region: the same id in two regions' stacks is wrong in all but one.
  for (const [id, where] of vpceRegions) {
    if (where.length > 1) out.push(`--parameter: VpcEndpointIds ${id} would go to ${where.join(', ')}; a VPC endpoint exists in one region: give each region its own (--parameter ${where[0] ?? ''}:VpcEndpointIds=${id})`);
  }
  return out;
}

/**
 * What deserves a second look but may be meant. A stack granted ECR repositories of another region
 * is warned of, not refused: the existence check calls ECR in the target's own region
 * (src/verify/verifier.ts), so rules that verify against one central registry need its region's
 * ARNs in every stack. Rules written with ${env:AWS_REGION} verify against each region's own ECR,
 * though, and there a copied ARN leaves every check unreachable.
 */
export function warnings(options: Options): string[] {
  const out: string[] = [];
  for (const region of options.regions) {
    for (const arn of ecrArns(regionValues(options, region))) {
      if (arn.region !== region && arn.partition === partition(region)) {
        out.push(
          `VerifyEcrRepositoryArns for ${region} names ${arn.arn}, a repository in ${arn.region}: the ${region} function may check only the repositories named. ` +
            `Right for rules that verify against ${arn.region}; for ${region}'s own ECR give --parameter ${region}:VerifyEcrRepositoryArns=arn:${arn.partition}:ecr:${region}:...`,
        );
      }
    }
  }
  return out;
}

/** The names under template.yaml's `Parameters:` (CloudFormation's `!Ref`-style tags elsewhere are read as plain values). */
export function templateParameterNames(text: string): string[] {
  const template = parse(text, { logLevel: 'silent' }) as unknown;
  const parameters = typeof template === 'object' && template !== null && 'Parameters' in template ? template.Parameters : undefined;
  return typeof parameters === 'object' && parameters !== null ? Object.keys(parameters) : [];
}

function safeParse(text: string): unknown {
  try {
    return parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The `sam deploy` arguments for one region. */
export function deployArgs(options: Options, region: string): string[] {
  // `sam deploy` keeps the previous value of every parameter it is not given: inline rules must also
  // clear a rules parameter an earlier deploy set, or the stack would go on reading the parameter.
  const rules = options.rules !== undefined ? [rulesOverride(options.rules), 'RewriteRulesParameterName=""'] : [`RewriteRulesParameterName=${options.rulesParameter ?? ''}`];
  return [
    'deploy',
    '--region', region,
    '--stack-name', options.stackName,
    '--capabilities', 'CAPABILITY_IAM',
    '--resolve-s3',
    '--no-confirm-changeset',
    '--no-fail-on-empty-changeset',
    '--parameter-overrides', ...rules, ...regionParameters(options, region),
  ];
}

export function describeArgs(options: Options, region: string): string[] {
  return ['cloudformation', 'describe-stacks', '--region', region, '--stack-name', options.stackName, '--query', 'Stacks[0].Outputs', '--output', 'json'];
}

/** What to run in a region's clusters to register the webhook (reads the token there, prints nothing secret). */
export function webhookConfigCommand(options: Options, region: string, url: string, tokenParameter: string): string {
  return (
    `TOKEN=$(aws ssm get-parameter --region ${region} --name ${tokenParameter} --with-decryption --query Parameter.Value --output text | cut -d, -f1) && ` +
    `${options.cli} webhook-config --url "${url}$TOKEN" | kubectl --context <your ${region} cluster> apply -f -`
  );
}

function outputs(stdout: string): Record<string, string> {
  const parsed = JSON.parse(stdout) as unknown;
  const out: Record<string, string> = {};
  if (Array.isArray(parsed)) {
    for (const o of parsed as unknown[]) {
      if (typeof o === 'object' && o !== null && 'OutputKey' in o && 'OutputValue' in o && typeof o.OutputKey === 'string' && typeof o.OutputValue === 'string') out[o.OutputKey] = o.OutputValue;
    }
  }
  return out;
}

const tail = (r: RunResult): string => (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join('\n');

/** Deploy to one region and read its outputs. */
async function deployRegion(options: Options, region: string, run: Runner): Promise<RegionResult> {
  const deployed = await run('sam', deployArgs(options, region));
  if (deployed.status !== 0) return { region, ok: false, error: `sam deploy failed (${String(deployed.status)}): ${tail(deployed)}` };
  const described = await run('aws', describeArgs(options, region));
  if (described.status !== 0) return { region, ok: false, error: `describe-stacks failed (${String(described.status)}): ${tail(described)}` };
  let values: Record<string, string>;
  try {
    values = outputs(described.stdout);
  } catch {
    return { region, ok: false, error: 'describe-stacks did not print JSON' };
  }
  const url = values['APIGatewayURL'];
  const tokenParameter = values['WebhookTokenParameter'];
  if (url === undefined || tokenParameter === undefined) return { region, ok: false, error: 'the stack has no APIGatewayURL or WebhookTokenParameter output' };
  return { region, ok: true, url, tokenParameter };
}

/** Build once, deploy each region in turn; `print` gets the report, region by region. */
export async function deployRegions(options: Options, run: Runner, print: (line: string) => void): Promise<RegionResult[]> {
  const found = problems(options);
  if (found.length > 0) throw new Error(found.join('\n'));
  for (const w of warnings(options)) print(`warning: ${w}`);
  if (options.build) {
    print('sam build');
    const built = await run('sam', ['build']);
    if (built.status !== 0) throw new Error(`sam build failed (${String(built.status)}): ${tail(built)}`);
  }
  const results: RegionResult[] = [];
  for (const region of options.regions) {
    print(`sam deploy --region ${region} --stack-name ${options.stackName}`);
    const r = await deployRegion(options, region, run);
    results.push(r);
    if (r.ok && r.url !== undefined && r.tokenParameter !== undefined) {
      print(`\n${region}\n  URL (without its token): ${r.url}\n  token: SSM SecureString ${r.tokenParameter} (per region)\n  register the webhook in each ${region} cluster:\n    ${webhookConfigCommand(options, region, r.url, r.tokenParameter)}\n`);
    } else {
      print(`\n${region}: FAILED: ${r.error ?? ''}\n`);
    }
  }
  const failed = results.filter((r) => !r.ok).map((r) => r.region);
  print(failed.length === 0 ? `deployed to ${String(results.length)} region(s)` : `failed in: ${failed.join(', ')}`);
  return results;
}

export const USAGE = `usage: npm run deploy:regions -- --regions us-west-2,ap-southeast-1 (--rules FILE | --rules-parameter NAME)
       [--stack-name image-rewriter] [--parameter [REGION:]Key=Value]... [--no-build] [--cli "node dist/cli.js"]`;

/**
 * Parse the command line; throws with the usage on a mistake. `--rules` is read from the directory
 * `npm run deploy:regions` was started in (src/cli/user-path.ts); the script itself runs from the
 * repository's root (template.yaml, sam build).
 */
export function parseCommandLine(argv: readonly string[], readFile: (path: string) => string, env: Readonly<Record<string, string | undefined>> = {}): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      regions: { type: 'string' },
      rules: { type: 'string' },
      'rules-parameter': { type: 'string' },
      'stack-name': { type: 'string', default: 'image-rewriter' },
      parameter: { type: 'string', multiple: true, default: [] },
      'no-build': { type: 'boolean', default: false },
      cli: { type: 'string', default: 'node dist/cli.js' },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    regions: (values.regions ?? '').split(',').map((r) => r.trim()).filter((r) => r !== ''),
    stackName: values['stack-name'],
    ...(values.rules === undefined ? {} : { rules: readFile(userPath(env, 'deploy:regions', values.rules)) }),
    ...(values['rules-parameter'] === undefined ? {} : { rulesParameter: values['rules-parameter'] }),
    parameters: values.parameter,
    build: !values['no-build'],
    cli: values.cli,
  };
}

/** The real runner: the command's output streams through (sam deploy takes minutes), and is kept. */
const spawnRunner: Runner = (command, args) =>
  new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['inherit', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      if (command !== 'aws') process.stderr.write(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
      process.stderr.write(c);
    });
    child.on('error', (e) => {
      resolve({ status: 127, stdout, stderr: `${stderr}${e.message}` });
    });
    child.on('close', (code) => {
      resolve({ status: code ?? 1, stdout, stderr });
    });
  });

/** What `main` reads and writes: the runner, files (relative to the working directory), stdout and stderr lines. */
export interface Io {
  readonly run: Runner;
  readonly readFile: (path: string) => string;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** The environment (npm's INIT_CWD and npm_lifecycle_event place `--rules`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The command: argv without node and the script; returns the exit status (2: nothing deployed). */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let options: Options;
  try {
    options = { ...parseCommandLine(argv, io.readFile, io.env), templateParameters: templateParameterNames(io.readFile('template.yaml')) };
  } catch (e) {
    io.err(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  try {
    const results = await deployRegions(options, io.run, io.out);
    return results.every((r) => r.ok) ? 0 : 1;
  } catch (e) {
    io.err(e instanceof Error ? e.message : String(e));
    return 2;
  }
}

// Node runs a module by its real path (import.meta.url), while argv[1] keeps any symlink it was
// reached through (a linked node_modules, where scripts/run-ts.mjs writes the bundle): compare real paths.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2), {
    run: spawnRunner,
    readFile: (p) => readFileSync(p, 'utf8'),
    env: process.env,
    out: (l) => {
      console.log(l);
    },
    err: (l) => {
      console.error(l);
    },
  });
}
