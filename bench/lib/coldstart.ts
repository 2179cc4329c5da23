/**
 * Section 3: cold start. A fresh `node` process imports dist/handler.js (rules inline in
 * REWRITE_RULES as JSON, a token in WEBHOOK_TOKEN, NODE_OPTIONS=--enable-source-maps as SAM's build
 * sets it: what the Lambda's init does) and answers one REST event;
 * the time is from `spawn` to the answer arriving on the parent's pipe. Beside it, in alternation, a
 * fresh node process that imports nothing and answers with a trivial function: what node itself
 * costs on this machine. One of each is run first and not counted (file cache).
 *
 * With an AWS API emulator (`npm run bench -- --moto`), two more kinds of spawn read the token from
 * AWS instead: from an SSM SecureString parameter (WEBHOOK_TOKEN_PARAMETER, as the SAM template
 * configures the function) and from Secrets Manager (WEBHOOK_TOKEN_SECRET_ARN), so that client loads
 * from the bundle's chunks and makes one call during the init.
 *
 * Beside the JSON document (what `npm run deploy:regions` passes), a third kind of spawn is given the
 * same rules as YAML (what the README's `RewriteRules` example, the template's default and most SSM
 * parameters hold), read by the subset reader of src/config/yaml-subset.ts without the YAML parser.
 *
 * Not measured: the Lambda runtime's own bootstrap, and the
 * real Secrets Manager's latency (the emulator answers from 127.0.0.1).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { handlerProblem, restEvent, WEBHOOK_TOKEN } from './inprocess.js';
import { Samples } from './stats.js';
import { BENCH_ENV, BENCH_RULES, BENCH_RULES_JSON, Variants, workload } from './workloads.js';

export interface ColdStartResult {
  /** Milliseconds from spawn to answer. */
  readonly ours: Samples;
  /** The same with the rules inline as YAML. */
  readonly yaml: Samples;
  /** The same, with the token read from an SSM SecureString parameter (an emulator): the SAM template's setup; empty when not run. */
  readonly ssm: Samples;
  /** The same, with the token read from Secrets Manager (an emulator); empty when not run. */
  readonly secret: Samples;
  readonly baseline: Samples;
  /** dist/handler.js and its chunks. */
  readonly bundleBytes: number;
  readonly checked: number;
  readonly failures: readonly string[];
}

interface Spawned {
  readonly ms: number;
  readonly answer: unknown;
}

function once(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let answered: Spawned | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (answered !== undefined) return;
      const line = out.split('\n').slice(0, -1).find((l) => l.startsWith('ANSWER '));
      if (line === undefined) return;
      answered = { ms: performance.now() - t0, answer: JSON.parse(line.slice('ANSWER '.length)) };
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (answered !== undefined) resolve(answered);
      else reject(new Error(`cold start child exited ${String(code)} without an answer:\n${err.slice(0, 2000)}${out.slice(0, 2000)}`));
    });
  });
}

/** An AWS API emulator (moto server) holding the token as a secret and as an SSM parameter (the SAM template's setup). */
export interface SecretSetup {
  /** AWS_ENDPOINT_URL of the emulator. */
  readonly endpoint: string;
  /** The secret's ARN (WEBHOOK_TOKEN_SECRET_ARN). */
  readonly secretArn: string;
  /** The SecureString parameter's name (WEBHOOK_TOKEN_PARAMETER, as the template sets it). */
  readonly parameterName: string;
}

/** dist/handler.js and its chunks (dist/chunks/, what it loads with import()), without the source maps. */
function bundleBytes(bundle: string): number {
  const chunks = join(dirname(bundle), 'chunks');
  const files = existsSync(chunks) ? readdirSync(chunks).filter((f) => f.endsWith('.js')).map((f) => join(chunks, f)) : [];
  return [bundle, ...files].reduce((sum, f) => sum + statSync(f).size, 0);
}

export async function runColdStart(
  spawns: number,
  repoRoot: string,
  tmpDir: string,
  progress: (s: string) => void,
  nodeArgs: readonly string[] = [],
  secretSetup?: SecretSetup,
): Promise<ColdStartResult> {
  const bundle = join(repoRoot, 'dist', 'handler.js');
  const script = join(repoRoot, 'bench', 'cold-start-child.mjs');
  const variant = new Variants(workload('pod5')).make();
  const eventFile = join(tmpDir, 'cold-start-event.json');
  writeFileSync(eventFile, JSON.stringify(restEvent(repoRoot)(variant.text)));
  // A clean environment (nothing of npm's), with what the template sets for the function.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    // The rules as JSON, the form `npm run deploy:regions` passes (a JSON document skips the YAML parser).
    REWRITE_RULES: BENCH_RULES_JSON,
    WEBHOOK_TOKEN,
    // As SAM's build sets it for the function (template.yaml builds a source map). The bundle does
    // not name its map, so Node loads none; src/observability/stack-map.ts reads it on a logged error.
    NODE_OPTIONS: '--enable-source-maps',
    ...BENCH_ENV,
    AWS_LAMBDA_FUNCTION_NAME: 'image-rewriter',
  };
  const withoutToken: NodeJS.ProcessEnv = { ...env };
  delete withoutToken['WEBHOOK_TOKEN'];
  const awsEnv = (setup: SecretSetup, setting: Record<string, string>): NodeJS.ProcessEnv => ({
    ...withoutToken,
    ...setting,
    AWS_ENDPOINT_URL: setup.endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  const samples = { baseline: new Samples(), ours: new Samples(), yaml: new Samples(), ssm: new Samples(), secret: new Samples() };
  type Kind = keyof typeof samples;
  // Each kind of spawn: its environment and what a wrong answer is reported as.
  const kinds: [Kind, NodeJS.ProcessEnv, string][] = [
    ['baseline', env, 'baseline'],
    ['ours', env, ''],
    ['yaml', { ...env, REWRITE_RULES: BENCH_RULES }, ' (rules as YAML)'],
    // The SAM template's setup: the token from an SSM SecureString parameter, so the SSM client loads at init.
    ...(secretSetup === undefined
      ? []
      : ([
          ['ssm', awsEnv(secretSetup, { WEBHOOK_TOKEN_PARAMETER: secretSetup.parameterName }), ' (token from SSM)'],
          ['secret', awsEnv(secretSetup, { WEBHOOK_TOKEN_SECRET_ARN: secretSetup.secretArn }), ' (token from Secrets Manager)'],
        ] as [Kind, NodeJS.ProcessEnv, string][])),
  ];
  const failures: string[] = [];
  let checked = 0;
  const run = async ([which, kindEnv, label]: [Kind, NodeJS.ProcessEnv, string], record: boolean): Promise<void> => {
    const r = await once([...nodeArgs, script, which === 'baseline' ? '--baseline' : bundle, eventFile], kindEnv);
    checked++;
    if (which !== 'baseline') {
      const problem = handlerProblem('pod5', variant, r.answer);
      if (problem !== undefined) failures.push(`cold start${label}: ${problem}`);
    } else if ((r.answer as { statusCode?: unknown }).statusCode !== 200) {
      failures.push('cold start baseline: not 200');
    }
    if (record) samples[which].add(r.ms);
  };
  for (const kind of kinds) await run(kind, false);
  for (let i = 0; i < spawns; i++) {
    progress(`cold start ${i + 1}/${spawns}`);
    for (const kind of kinds) await run(kind, true);
  }
  return { ...samples, bundleBytes: bundleBytes(bundle), checked, failures };
}
