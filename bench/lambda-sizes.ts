/**
 * The Lambda function at each memory size, under Lambda's CPU share: the Runtime Interface Emulator
 * (with aws-lambda-ric on the Node.js of template.yaml's Runtime, dist/ copied as the task root as
 * SAM ships it) runs in a cgroup whose CPU quota is the size's share of a vCPU (bench/lib/lambda-sizes.ts).
 * Measured from the emulator's own lines: each fresh environment's Init Duration and first answer,
 * and the warm REPORT Duration of every review (1- and 5-container Pods, the demo's event); then
 * the bill per million admissions. Needs root and a writable cgroup CPU controller; skips otherwise.
 * docs/performance.md, "Lambda memory size, measured under its CPU share".
 *   npm run bench:sizes [-- --sizes=128,256,512,1024,1769 --cold=10 --warm=300 --large=1000,5000,16000,28000 --moto --moto-sizes=256,512]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { manyImagesReview } from '../tests/helpers/admission-review.js';
import { freePort, tryConnect } from '../tests/integration/helpers/processes.js';
import { handlerProblemFor, restEvent, WEBHOOK_TOKEN } from './lib/inprocess.js';
import { BENCH_ENV, BENCH_RULES_JSON, Variants, workload, type Variant } from './lib/workloads.js';
import { cpuQuotaUs, CPU_PERIOD_US, findCpuController, formatBurstTable, formatTable, lambdaNodeMemoryArgs, parseRieOutput, percentile, type CpuController, type SizeRow } from './lib/lambda-sizes.js';

const REPO = resolve('.');
const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '128,256,512,1024,1769' },
    cold: { type: 'string', default: '10' },
    warm: { type: 'string', default: '300' },
    'warm-up': { type: 'string', default: '100' },
    'pace-ms': { type: 'string', default: '100' },
    moto: { type: 'boolean', default: false },
    'moto-sizes': { type: 'string', default: '256,512' },
    'timeout-seconds': { type: 'string', default: '5' },
    large: { type: 'string', default: '1000,5000,16000,28000' },
  },
});
const sizes = args.sizes.split(',').map(Number);
const COLD = Number(args.cold);
const WARM = Number(args.warm);
const WARM_UP = Number(args['warm-up']);
const PACE_MS = Number(args['pace-ms']);
const progress = (s: string): void => void process.stderr.write(`  ... ${s}\n`);
const load = (): number => loadavg()[0] ?? Number.NaN;

// --- the CPU controller ---------------------------------------------------------------------------

function controller(): CpuController | undefined {
  const read = (root: string): string | undefined => {
    try {
      return readFileSync(join(root, 'cgroup.controllers'), 'utf8');
    } catch {
      return undefined;
    }
  };
  return findCpuController(readFileSync('/proc/self/mountinfo', 'utf8'), read);
}

/** A cgroup holding `quotaUs` of CPU per 100 ms; its path. Throws when it cannot be made. */
function makeCgroup(c: CpuController, name: string, quotaUs: number): string {
  const dir = join(c.root, name);
  mkdirSync(dir, { recursive: true });
  if (c.version === 2) {
    const control = join(c.root, 'cgroup.subtree_control');
    if (!readFileSync(control, 'utf8').split(/\s+/).includes('cpu')) writeFileSync(control, '+cpu');
    writeFileSync(join(dir, 'cpu.max'), `${quotaUs} ${CPU_PERIOD_US}`);
  } else {
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
  }
  return dir;
}

const cgroups: string[] = [];
/** Every emulator started and not yet stopped: killed (their process groups) on Ctrl-C, before the cgroups go. */
const running = new Set<ChildProcess>();
const ctrlC = { interrupted: false };
function removeCgroups(): void {
  for (const dir of cgroups.splice(0)) {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch {
        execFileSync('sleep', ['0.1']);
      }
    }
  }
}

// --- one execution environment ---------------------------------------------------------------------

const tool = (script: string): string => execFileSync('bash', [join(REPO, script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1) ?? '';

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the emulator exited (${child.exitCode})`);
    if (await tryConnect(port)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the emulator does not listen on ${port}`);
}

interface Tools {
  readonly rie: string;
  readonly ric: string;
  readonly node: string;
  readonly taskRoot: string;
}

interface Env {
  readonly child: ChildProcess;
  output(): string;
  invoke(event: unknown): Promise<{ status: number; body: string; ms: number }>;
  /** The runtime process's peak resident memory, MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/** Kill an emulator and its runtime (its own process group); nothing when they are gone already. */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already exited
  }
}

/** The emulator in `cgroup`, its runtime started with the heap flags of `memoryMb` (lazily, at the first invocation). */
async function startEnv(tools: Tools, cgroup: string, memoryMb: number, fnEnv: Record<string, string>): Promise<Env> {
  if (ctrlC.interrupted) throw new Error('interrupted');
  const [invokePort, runtimePort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/tmp',
    LAMBDA_TASK_ROOT: tools.taskRoot,
    AWS_LAMBDA_FUNCTION_NAME: 'image-rewriter',
    AWS_LAMBDA_FUNCTION_TIMEOUT: '10',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    NODE_OPTIONS: '--enable-source-maps',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    ...fnEnv,
  };
  const rieArgs = ['--log-level', 'info', '--runtime-interface-emulator-address', `127.0.0.1:${invokePort}`, '--runtime-api-address', `127.0.0.1:${runtimePort}`];
  const bootstrap = [tools.node, '--max-http-header-size', '81920', ...lambdaNodeMemoryArgs(memoryMb), tools.ric, 'handler.handler'];
  // The shell joins the cgroup, then becomes the emulator: it and the runtime it starts share the quota.
  const child = spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, tools.rie, ...rieArgs, ...bootstrap], { cwd: tools.taskRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => chunks.push(c));
  await waitForPort(invokePort, child);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `http://127.0.0.1:${invokePort}/2015-03-31/functions/function/invocations`;
  const runtimePid = (): number | undefined => {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === child.pid) return Number(name);
      } catch {
        // gone meanwhile
      }
    }
    return undefined;
  };
  return {
    child,
    output: () => Buffer.concat(chunks).toString('utf8'),
    invoke: (event) =>
      new Promise((ok, fail) => {
        const payload = JSON.stringify(event);
        const started = performance.now();
        const req = request(url, { method: 'POST', agent, headers: { 'Content-Length': Buffer.byteLength(payload) } }, (res) => {
          const body: Buffer[] = [];
          res.on('data', (c: Buffer) => body.push(c));
          res.on('end', () => { ok({ status: res.statusCode ?? 0, body: Buffer.concat(body).toString('utf8'), ms: performance.now() - started }); });
        });
        req.on('error', fail);
        req.end(payload);
      }),
    peakRssMb: () => {
      const pid = runtimePid();
      const hwm = pid === undefined ? undefined : /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return hwm === undefined ? Number.NaN : Number(hwm) / 1024;
    },
    stop: async () => {
      agent.destroy();
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        killGroup(child);
        await exited;
      }
    },
  };
}

// --- events and checks -----------------------------------------------------------------------------

const toEvent = restEvent(REPO);
const kinds = [
  { id: 'pod1', variants: new Variants(workload('pod1')) },
  { id: 'pod5', variants: new Variants(workload('pod5')) },
] as const;
const demo = JSON.parse(readFileSync(join(REPO, 'events', 'rest-pod-v1beta1-demo.json'), 'utf8')) as Record<string, unknown>;
const demoEvent = { ...demo, path: `/mutate/${WEBHOOK_TOKEN}`, pathParameters: { token: WEBHOOK_TOKEN } };
let serial = 0;

/** Why an answer to the demo's event is not its rewrite (gcr.io/nginx to asia.gcr.io/nginx), or undefined. */
function demoProblem(text: string): string | undefined {
  const result = JSON.parse(text) as { statusCode?: unknown; body?: unknown };
  const review = typeof result.body === 'string' ? (JSON.parse(result.body) as { response?: { allowed?: unknown; patch?: unknown } }) : undefined;
  const patch = review?.response?.patch;
  const ops = typeof patch === 'string' ? Buffer.from(patch, 'base64').toString('utf8') : '';
  return result.statusCode === 200 && review?.response?.allowed === true && ops.includes('"asia.gcr.io/nginx:latest"') ? undefined : `demo: ${text.slice(0, 300)}`;
}

/** Event `i` of the warm mix (pod1, pod5, demo in turn; every Pod a first-sight variant) and its check. */
function nextEvent(i: number): { event: unknown; check: (body: string) => string | undefined } {
  const kind = kinds[i % 3];
  if (kind === undefined) {
    return { event: demoEvent, check: demoProblem };
  }
  const variant: Variant = kind.variants.make(++serial);
  return { event: toEvent(variant.text), check: (body) => handlerProblemFor(kind.variants.workload, variant, JSON.parse(body) as unknown) };
}

// --- the run ---------------------------------------------------------------------------------------

async function coldStart(tools: Tools, cgroup: string, memoryMb: number, fnEnv: Record<string, string>): Promise<{ init: number; cold: number; rss: number }> {
  const env = await startEnv(tools, cgroup, memoryMb, fnEnv);
  try {
    const { event, check } = nextEvent(1);
    const r = await env.invoke(event);
    const problem = r.status === 200 ? check(r.body) : `status ${r.status}`;
    if (problem !== undefined) throw new Error(`${memoryMb} MB cold start: ${problem}\n${env.output().slice(-3000)}`);
    const figures = parseRieOutput(env.output());
    const init = figures.initMs[0];
    const first = figures.reports[0];
    if (init === undefined || first === undefined) throw new Error(`${memoryMb} MB: no INIT REPORT or REPORT line\n${env.output().slice(-3000)}`);
    return { init, cold: first.durationMs, rss: env.peakRssMb() };
  } finally {
    await env.stop();
  }
}

/**
 * The largest reviews at each size: Pods of `--large` containers, each a 160-character gcr.io image
 * the rules rewrite (28,000: a 5.5 MB event, near Lambda's 6 MB request quota; its answer would pass
 * the 6 MB response quota, so it is answered unchanged). Lambda stops an environment whose memory
 * passes its size (the admission then fails open): the emulator does not, so the peak is compared here.
 */
async function largeObjects(tools: Tools, cgroupOf: (mb: number) => string, fnEnv: Record<string, string>): Promise<void> {
  const counts = args.large.split(',').filter((c) => c !== '').map(Number);
  if (counts.length === 0) return;
  const lines = ['| MB | containers | event | answer | Duration | peak RSS |', '| ---: | ---: | ---: | --- | ---: | ---: |'];
  for (const mb of sizes) {
    const env = await startEnv(tools, cgroupOf(mb), mb, fnEnv);
    try {
      await env.invoke(nextEvent(1).event);
      for (const count of counts) {
        const event = { ...(toEvent('{}') as Record<string, unknown>), body: JSON.stringify(manyImagesReview(count, 160)) };
        const r = await env.invoke(event);
        const answer = r.status !== 200 ? `status ${r.status}` : r.body.includes('over Lambda') ? 'unchanged (over 6 MB)' : `patched, ${(r.body.length / 1e6).toFixed(2)} MB`;
        const duration = parseRieOutput(env.output()).reports.at(-1)?.durationMs ?? Number.NaN;
        const rss = env.peakRssMb();
        lines.push(`| ${mb} | ${count} | ${(JSON.stringify(event).length / 1e6).toFixed(2)} MB | ${answer} | ${duration.toFixed(0)} ms | ${rss.toFixed(0)} MB${rss > mb ? ' (over)' : ''} |`);
      }
    } finally {
      await env.stop();
    }
    progress(`large objects, ${mb} MB (load ${load().toFixed(2)})`);
  }
  largeTable = lines.join('\n');
}
let largeTable = '';

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    skip('it needs root, to make cgroups');
    return;
  }
  const c = controller();
  if (c === undefined) {
    skip('no cgroup CPU controller is mounted (cgroup2 with cpu in cgroup.controllers, or a v1 cpu hierarchy)');
    return;
  }
  const quotas = new Map(sizes.map((mb) => [mb, cpuQuotaUs(mb)]));
  try {
    for (const [mb, quota] of quotas) cgroups.push(makeCgroup(c, `image-rewriter-bench-${process.pid}-${mb}`, quota));
  } catch (e) {
    removeCgroups();
    skip(`the cgroup CPU controller at ${c.root} (v${c.version}) is not writable: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'image-rewriter-sizes-'));
  const stopMoto = (): void => void execFileSync('bash', [join(REPO, 'hack', 'python', 'moto.sh'), 'stop'], { env: { ...process.env, MOTO_DIR: join(tmp, 'moto') }, stdio: 'ignore' });
  let moto = false;
  try {
    progress(`cgroup v${c.version} at ${c.root}; tools (hack/lambda, hack/node)`);
    // The task root as SAM ships it: the bundle and its chunks, no node_modules above them.
    const taskRoot = join(tmp, 'task');
    mkdirSync(taskRoot);
    for (const f of ['handler.js', 'package.json', 'chunks']) cpSync(join(REPO, 'dist', f), join(taskRoot, f), { recursive: true });
    const tools: Tools = { rie: tool('hack/lambda/build-rie.sh'), ric: join(tool('hack/lambda/install-ric.sh'), 'node_modules', 'aws-lambda-ric', 'index.mjs'), node: tool('hack/node/install-node.sh'), taskRoot };
    // As the template passes them (REWRITE_RULES inline, JSON as npm run deploy:regions writes it); the token inline here.
    const inline = { ...BENCH_ENV, AWS_DEFAULT_REGION: BENCH_ENV['AWS_REGION'] ?? '', REWRITE_RULES: BENCH_RULES_JSON, REWRITE_RULES_PARAMETER: '', WEBHOOK_TOKEN, WEBHOOK_TOKEN_PARAMETER: '' };
    const cgroupOf = (mb: number): string => cgroups.find((d) => d.endsWith(`-${mb}`)) ?? '';
    const rows = new Map<number, { init: number[]; cold: number[]; warm: number[]; burst: number[]; rss: number; load: number[] }>(sizes.map((mb) => [mb, { init: [], cold: [], warm: [], burst: [], rss: 0, load: [load()] }]));

    // Cold starts in rounds, the sizes in a turning order: a busy moment of the machine falls on all of them.
    for (let round = 0; round < COLD; round++) {
      for (let k = 0; k < sizes.length; k++) {
        const mb = sizes[(round + k) % sizes.length] ?? 0;
        const r = await coldStart(tools, cgroupOf(mb), mb, inline);
        const row = rows.get(mb);
        row?.init.push(r.init);
        row?.cold.push(r.cold);
        if (row !== undefined) row.rss = Math.max(row.rss, r.rss);
      }
      progress(`cold round ${round + 1}/${COLD} (load ${load().toFixed(2)})`);
    }

    // Warm: one environment per size, all running; the invocations go to each in turn.
    const envs = new Map<number, Env>();
    try {
      for (const mb of sizes) envs.set(mb, await startEnv(tools, cgroupOf(mb), mb, inline));
      // Warm-up (the environments in turn), then back to back: each environment alone, its calls
      // one right after the other, as an environment given a burst of admissions is (called in
      // turn with the others, one waited for them and its CPU quota was never used up); then
      // paced: each environment called once per PACE_MS at most, as an environment serving a
      // steady trickle of admissions is; the same number of each.
      const call = async (mb: number, env: Env, i: number): Promise<void> => {
        const { event, check } = nextEvent(i);
        const r = await env.invoke(event);
        const problem = r.status === 200 ? check(r.body) : `status ${r.status}`;
        if (problem !== undefined) throw new Error(`${mb} MB warm: ${problem}`);
      };
      for (let i = 0; i < WARM_UP; i++) for (const [mb, env] of envs) await call(mb, env, i);
      for (const [mb, env] of envs) {
        for (let i = WARM_UP; i < WARM_UP + WARM; i++) await call(mb, env, i);
        progress(`warm back to back, ${mb} MB (load ${load().toFixed(2)})`);
      }
      for (let i = WARM_UP + WARM; i < WARM_UP + 2 * WARM; i++) {
        const roundStart = performance.now();
        for (const [mb, env] of envs) await call(mb, env, i);
        const rest = PACE_MS - (performance.now() - roundStart);
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      }
      for (const [mb, env] of envs) {
        const row = rows.get(mb);
        if (row === undefined) continue;
        const durations = parseRieOutput(env.output()).reports.map((r) => r.durationMs);
        row.burst.push(...durations.slice(WARM_UP, WARM_UP + WARM));
        row.warm.push(...durations.slice(WARM_UP + WARM));
        row.rss = Math.max(row.rss, env.peakRssMb());
        row.load.push(load());
      }
    } finally {
      for (const env of envs.values()) await env.stop();
    }
    await largeObjects(tools, cgroupOf, inline);
    const timeoutMs = Number(args['timeout-seconds']) * 1000;
    const table: SizeRow[] = sizes.map((mb) => {
      const r = rows.get(mb);
      return { memoryMb: mb, initMs: r?.init ?? [], coldMs: r?.cold ?? [], warmMs: r?.warm ?? [], burstMs: r?.burst ?? [], maxRssMb: r?.rss ?? Number.NaN, load: r?.load ?? [] };
    });
    process.stdout.write(
      `\nToken inline; warm: ${WARM} invocations per size after ${WARM_UP} (1-container Pod, 5-container Pod, the demo's event in turn), each environment called at most once per ${PACE_MS} ms; timeout ${timeoutMs} ms.\n\n${formatTable(table, timeoutMs)}\n` +
        `\nThe same environments, ${WARM} invocations back to back:\n\n${formatBurstTable(table)}\n` +
        (largeTable === '' ? '' : `\nThe largest reviews, one fresh environment per size (peak RSS: the most, up to each review):\n\n${largeTable}\n`),
    );

    if (args.moto) {
      progress('moto (hack/python/moto.sh)');
      const endpoint = execFileSync('bash', [join(REPO, 'hack', 'python', 'moto.sh'), 'start', '0'], { env: { ...process.env, MOTO_DIR: join(tmp, 'moto') }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1) ?? '';
      moto = true;
      const region = BENCH_ENV['AWS_REGION'] ?? 'us-west-2';
      const ssm = new SSMClient({ endpoint, region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
      const name = '/image-rewriter/bench-token';
      await ssm.send(new PutParameterCommand({ Name: name, Value: WEBHOOK_TOKEN, Type: 'SecureString' }));
      ssm.destroy();
      // The template's setup: WEBHOOK_TOKEN empty, the token read from its SSM parameter at the init.
      const fromSsm = { ...inline, WEBHOOK_TOKEN: '', WEBHOOK_TOKEN_PARAMETER: name, AWS_ENDPOINT_URL: endpoint };
      const motoSizes = args['moto-sizes'].split(',').map(Number).filter((mb) => quotas.has(mb));
      const ssmRows = new Map(motoSizes.map((mb) => [mb, { init: [] as number[], cold: [] as number[], load: [load()] }]));
      for (let round = 0; round < COLD; round++) {
        for (const mb of round % 2 === 0 ? motoSizes : [...motoSizes].reverse()) {
          const r = await coldStart(tools, cgroupOf(mb), mb, fromSsm);
          ssmRows.get(mb)?.init.push(r.init);
          ssmRows.get(mb)?.cold.push(r.cold);
        }
      }
      process.stdout.write('\nToken from an SSM parameter (moto on 127.0.0.1, outside the cgroup), as the template deploys it:\n\n| MB | init p50 / p90 (n) | first answer p50 / p90 | load |\n| ---: | --- | --- | --- |\n');
      for (const [mb, r] of ssmRows) {
        r.load.push(load());
        const p = (v: readonly number[], q: number): string => percentile(v, q).toFixed(1);
        process.stdout.write(`| ${mb} | ${p(r.init, 50)} / ${p(r.init, 90)} ms (${r.init.length}) | ${p(r.cold, 50)} / ${p(r.cold, 90)} ms | ${r.load.map((l) => l.toFixed(2)).join(' to ')} |\n`);
      }
    }
  } finally {
    if (moto) stopMoto();
    removeCgroups();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function skip(why: string): void {
  process.stderr.write(`bench:sizes skipped: ${why}. It runs the function under a cgroup CPU quota per memory size (docs/performance.md, "Lambda memory size, measured under its CPU share").\n`);
}

// Ctrl-C: the emulators are killed, so the run fails where it is and its `finally` blocks stop
// moto, remove the cgroups and the temporary folder.
process.once('SIGINT', () => {
  ctrlC.interrupted = true;
  for (const child of running) killGroup(child);
});
try {
  await main();
} catch (e) {
  if (!ctrlC.interrupted) throw e;
  process.stderr.write('bench:sizes interrupted\n');
  process.exitCode = 130;
}
