/**
 * Section 3: cold start. A fresh `node` process imports dist/handler.js (rules inline in
 * REWRITE_RULES, a token in WEBHOOK_TOKEN: what the Lambda's init does) and answers one REST event;
 * the time is from `spawn` to the answer arriving on the parent's pipe. Beside it, in alternation, a
 * fresh node process that imports nothing and answers with a trivial function: what node itself
 * costs on this machine. One of each is run first and not counted (file cache).
 *
 * Not measured: the Lambda runtime's own bootstrap, and the AWS SDK being read from the runtime's
 * copy instead of node_modules (the bundle leaves @aws-sdk/* out, as the Lambda build does).
 */
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { handlerProblem, restEvent, WEBHOOK_TOKEN } from './inprocess.js';
import { Samples } from './stats.js';
import { BENCH_ENV, BENCH_RULES, Variants, workload } from './workloads.js';

export interface ColdStartResult {
  /** Milliseconds from spawn to answer. */
  readonly ours: Samples;
  readonly baseline: Samples;
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

export async function runColdStart(
  spawns: number,
  repoRoot: string,
  tmpDir: string,
  progress: (s: string) => void,
  nodeArgs: readonly string[] = [],
): Promise<ColdStartResult> {
  const bundle = join(repoRoot, 'dist', 'handler.js');
  const script = join(repoRoot, 'bench', 'cold-start-child.mjs');
  const variant = new Variants(workload('pod5')).make();
  const eventFile = join(tmpDir, 'cold-start-event.json');
  writeFileSync(eventFile, JSON.stringify(restEvent(repoRoot)(variant.text)));
  // A clean environment: no NODE_OPTIONS, nothing of npm's.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    REWRITE_RULES: BENCH_RULES,
    WEBHOOK_TOKEN,
    ...BENCH_ENV,
    AWS_LAMBDA_FUNCTION_NAME: 'image-rewriter',
  };
  const ours = new Samples();
  const baseline = new Samples();
  const failures: string[] = [];
  let checked = 0;
  const run = async (which: 'ours' | 'baseline', record: boolean): Promise<void> => {
    const r = await once([...nodeArgs, script, which === 'ours' ? bundle : '--baseline', eventFile], env);
    checked++;
    if (which === 'ours') {
      const problem = handlerProblem('pod5', variant, r.answer);
      if (problem !== undefined) failures.push(`cold start: ${problem}`);
      if (record) ours.add(r.ms);
    } else {
      if ((r.answer as { statusCode?: unknown }).statusCode !== 200) failures.push('cold start baseline: not 200');
      if (record) baseline.add(r.ms);
    }
  };
  await run('baseline', false);
  await run('ours', false);
  for (let i = 0; i < spawns; i++) {
    progress(`cold start ${i + 1}/${spawns}`);
    await run('baseline', true);
    await run('ours', true);
  }
  return { ours, baseline, bundleBytes: statSync(bundle).size, checked, failures };
}
