/**
 * Section 4: over HTTPS with keep-alive. `image-rewriter serve` (dist/cli.js, in its own process,
 * logging to /dev/null) and, beside it, bench/bare-server.mjs (node:https with the same certificate
 * and TLS settings, answering a fixed AdmissionReview: the physical limit of node's HTTPS on this
 * machine) are driven in turn by autocannon from this process, with the same requests: POSTs of the
 * 5-container Pod, each a first-sight variant (its own uid and tags).
 *
 * Throughput at saturation: `connections` keep-alive connections, one request in flight on each,
 * for `seconds`; phases of the two servers alternate so both see the same machine. Latency at
 * fixed rates: autocannon's `overallRate` with `rateConnections` connections. autocannon gives
 * each connection a quota per second that it spends back to back from the start of each second,
 * so a "fixed rate" is a short burst every second at that concurrency, not evenly spaced arrivals.
 *
 * Latency is timed here, per request, from the moment autocannon builds the request (just before it
 * writes it) to the moment the whole response is parsed; autocannon's own histogram has a 1 ms
 * resolution. The first request of each connection (built before the TLS handshake) is left out.
 *
 * The CPU time each server process uses during a phase (from /proc) gives its CPU per request, a
 * figure that does not depend on how much of the machine the load generator and other work take.
 * It does depend on how many processes share the cores: `serve --workers N` runs N workers and a
 * primary beside the load generator, so with N above 1 the bare server also runs as N node:cluster
 * workers (`bare-workers`, the same code), and both comparisons are reported: against the one
 * process and like for like.
 *
 * Every answer is checked after its phase: status 200 and, from `serve`, the right AdmissionReview
 * for that request (patch applied and compared, bench/lib/workloads.ts); from the bare server, the
 * fixed bytes.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { availableCpus, type ReadText } from '../../src/cli/cpu-limit.js';
import { review } from '../../src/core/review.js';
import { GO_RULE, goAnswerProblem, goPeerBinary } from './go-peer.js';
import { benchRewriter, WEBHOOK_TOKEN } from './inprocess.js';
import { Samples } from './stats.js';
import { BENCH_ENV, BENCH_RULES, problemWith, Variants, workload } from './workloads.js';

export type ServerName = 'serve' | 'bare' | 'bare-workers' | 'go';

/** The bare server, in one process or as N cluster workers: its answers are the fixed bytes. */
const isBare = (name: ServerName): boolean => name === 'bare' || name === 'bare-workers';

export interface PhaseResult {
  readonly server: ServerName;
  /** 0 at saturation. */
  readonly rate: number;
  readonly connections: number;
  readonly seconds: number;
  readonly responses: number;
  /** Milliseconds per request. */
  readonly latency: Samples;
  /** CPU time the server's processes used during the phase (user + system), ms; NaN where /proc cannot tell. */
  readonly serverCpuMs: number;
}

/**
 * `--workers`: serve's (and the like-for-like bare server's) workers; without it, serve's own
 * default (src/cli/cpu-limit.ts: the CPUs the process may run on, at most its cgroup's CPU limit),
 * so that the bench measures the `serve` a container runs.
 */
export function benchWorkers(text: string | undefined, read?: ReadText, parallelism?: number): number {
  const n = text === undefined ? availableCpus(read, parallelism) : Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--workers must be a positive integer: ${String(text)}`);
  return n;
}

export interface HttpsPlan {
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** Saturation phases per server. */
  readonly rounds: number;
  readonly connections: number;
  readonly rateConnections: number;
  readonly rates: readonly number[];
  /** `serve --workers`. */
  readonly workers: number;
}

export interface HttpsResult {
  readonly phases: readonly PhaseResult[];
  readonly checked: number;
  readonly failures: readonly string[];
  readonly answerBytes: number;
  readonly requestBytes: number;
  /** The protocol and cipher each server negotiates with a default node client (as autocannon's). */
  readonly tls: { readonly serve: string; readonly bare: string; readonly go?: string };
  /** Workers of the `bare-workers` server (plan.workers); 0 when it did not run (one worker). */
  readonly bareWorkers: number;
  /** Why the Go peer baseline did not run, when it did not. */
  readonly goProblem: string | undefined;
}

const run = promisify(execFile);

/** Clock ticks per second of /proc/PID/stat's CPU times. */
let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * CPU time (user + system) a process has used so far, in ms, from /proc/PID/stat (fields 14 and 15,
 * counted after the command name, which may hold spaces); NaN off Linux. Resolution: one clock tick
 * (10 ms), small against a phase of seconds.
 */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** The same for a process and its children, recursively (`serve --workers`: the primary and its workers). */
function treeCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  } catch {
    // No /proc children file: the process alone.
  }
  return children.reduce((sum, child) => sum + treeCpuMs(child), processCpuMs(pid));
}

/** A self-signed EC P-256 certificate for 127.0.0.1 (milliseconds to make, like the test PKI). */
async function certificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  await run(
    process.env['OPENSSL'] ?? 'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { timeout: 30_000 },
  );
  return { cert, key };
}

interface Server {
  readonly child: ChildProcess;
  readonly port: number;
}

/** Spawn a server that prints `{"msg":"listening","port":N}` on stdout; its stderr (the logs) goes to /dev/null. */
function startServer(args: readonly string[], env: NodeJS.ProcessEnv, command = process.execPath): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${args.join(' ')} did not start: ${out}`));
    }, 30_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve({ child, port: (JSON.parse(line) as { port: number }).port });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${args.join(' ')} exited ${String(code)}: ${out}`));
    });
  });
}

/** `TLSv1.3 TLS_AES_256_GCM_SHA384`: what a default node client gets from the server. */
function negotiated(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(`${socket.getProtocol() ?? '?'} ${socket.getCipher().name}`);
      socket.end();
    });
    socket.on('error', reject);
  });
}

async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function runHttps(
  plan: HttpsPlan,
  repoRoot: string,
  tmpDir: string,
  progress: (s: string) => void,
  nodeArgs: readonly string[] = [],
): Promise<HttpsResult> {
  const w = workload('pod5');
  const variants = new Variants(w);
  const { cert, key } = await certificate(tmpDir);
  // The bare server answers what `serve` answers to the repeated Pod, byte for byte.
  const repeated = variants.make();
  const outcome = review(JSON.parse(repeated.text), benchRewriter());
  if (!outcome.ok) throw new Error('review of the bench Pod failed');
  const fixedAnswer = JSON.stringify(outcome.response);
  const answerFile = join(tmpDir, 'answer.json');
  writeFileSync(answerFile, fixedAnswer);
  const rulesFile = join(tmpDir, 'rules.yaml');
  writeFileSync(rulesFile, BENCH_RULES);
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], WEBHOOK_TOKEN, ...BENCH_ENV };

  const failures: string[] = [];
  let checked = 0;
  const fail = (s: string): void => {
    if (failures.length < 20) failures.push(s);
  };
  let next = 1_000_000_000;

  const phase = async (name: ServerName, server: Server, connections: number, seconds: number, rate: number): Promise<PhaseResult> => {
    const latency = new Samples();
    // Checked after the phase, to keep the load generator's own work small and the same for both.
    const sent: number[] = [];
    const bodies: string[] = [];
    let responses = 0;
    let built = Number.POSITIVE_INFINITY;
    const instance = autocannon({
      url: `https://127.0.0.1:${server.port}`,
      connections,
      duration: seconds,
      ...(rate > 0 ? { overallRate: rate } : {}),
      timeout: 10,
      requests: [
        {
          method: 'POST',
          path: `/mutate/${WEBHOOK_TOKEN}`,
          headers: { 'content-type': 'application/json', 'user-agent': 'kube-apiserver-admission' },
          setupRequest: (request, context) => {
            const n = next++;
            context['n'] = n;
            context['t0'] = performance.now();
            request.body = variants.make(n).text;
            return request;
          },
          onResponse: (status, body, context) => {
            const t1 = performance.now();
            const t0 = context['t0'] as number;
            responses++;
            if (t0 >= built) latency.add(t1 - t0);
            if (status !== 200) fail(`${name}: HTTP ${status}: ${body.slice(0, 200)}`);
            if (isBare(name)) {
              checked++;
              if (body !== fixedAnswer) fail(`${name}: not the fixed answer`);
            } else {
              sent.push(context['n'] as number);
              bodies.push(body);
            }
          },
        },
      ],
    });
    built = performance.now();
    const cpuBefore = treeCpuMs(server.child.pid);
    const result = await instance;
    const serverCpuMs = treeCpuMs(server.child.pid) - cpuBefore;
    if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
      fail(`${name}: autocannon counted ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`);
    }
    bodies.forEach((body, i) => {
      const variant = variants.make(sent[i]);
      let problem: string | undefined;
      try {
        problem = name === 'go' ? goAnswerProblem(w, variant, JSON.parse(body)) : problemWith(w, variant, JSON.parse(body));
      } catch (e) {
        problem = (e as Error).message;
      }
      checked++;
      if (problem !== undefined) fail(`${name}: ${problem}`);
    });
    const actual = (result.finish.getTime() - result.start.getTime()) / 1000;
    return { server: name, rate, connections, seconds: actual, responses, latency, serverCpuMs };
  };

  progress('https: starting servers');
  const serve = await startServer(
    [...nodeArgs, join(repoRoot, 'dist', 'cli.js'), 'serve', '--config', rulesFile, '--listen', '127.0.0.1:0', '--tls-cert-file', cert, '--tls-private-key-file', key, '--workers', String(plan.workers)],
    env,
  );
  const serveTls = await negotiated(serve.port).catch(async (e: unknown) => {
    await stopServer(serve);
    throw e;
  });
  // The bare server prefers the suite `serve` negotiates, so both do the same cryptography.
  const bareArgs = [...nodeArgs, join(repoRoot, 'bench', 'bare-server.mjs'), cert, key, answerFile, serveTls.split(' ')[1] ?? ''];
  const bare = await startServer(bareArgs, env).catch(async (e: unknown) => {
    await stopServer(serve);
    throw e;
  });
  const bareWorkers =
    plan.workers > 1
      ? await startServer([...bareArgs, String(plan.workers)], env).catch(async (e: unknown) => {
          await Promise.all([stopServer(serve), stopServer(bare)]);
          throw e;
        })
      : undefined;
  const built = goPeerBinary(repoRoot, progress);
  const goProblem = 'problem' in built ? built.problem : undefined;
  const go = 'path' in built ? await startServer([cert, key, GO_RULE.from, GO_RULE.to], env, built.path).catch(() => undefined) : undefined;
  const servers: Partial<Record<ServerName, Server>> = { serve, bare, ...(bareWorkers === undefined ? {} : { 'bare-workers': bareWorkers }), ...(go === undefined ? {} : { go }) };
  const saturated: readonly ServerName[] = [
    'bare',
    ...(bareWorkers === undefined ? [] : (['bare-workers'] as const)),
    'serve',
    ...(go === undefined ? [] : (['go'] as const)),
  ];
  const server = (name: ServerName): Server => {
    const s = servers[name];
    if (s === undefined) throw new Error(`no ${name} server`);
    return s;
  };
  const phases: PhaseResult[] = [];
  let bareTls: string;
  let goTls: string | undefined;
  try {
    bareTls = await negotiated(bare.port);
    if (go !== undefined) goTls = await negotiated(go.port);
    for (const name of saturated) {
      progress(`https: warm-up ${name}`);
      await phase(name, server(name), plan.connections, plan.warmupSeconds, 0);
    }
    for (let r = 0; r < plan.rounds; r++) {
      for (const name of saturated) {
        progress(`https: saturation ${name} (${r + 1}/${plan.rounds})`);
        phases.push(await phase(name, server(name), plan.connections, plan.seconds, 0));
      }
    }
    for (const rate of plan.rates) {
      for (const name of ['bare', 'serve'] as const) {
        progress(`https: ${rate} req/s ${name}`);
        phases.push(await phase(name, server(name), plan.rateConnections, plan.seconds, rate));
      }
    }
  } finally {
    await Promise.all([stopServer(serve), stopServer(bare), ...[bareWorkers, go].map((s) => (s === undefined ? undefined : stopServer(s)))]);
  }
  const tls = { serve: serveTls, bare: bareTls, ...(goTls === undefined ? {} : { go: goTls }) };
  return {
    phases,
    checked,
    failures,
    answerBytes: Buffer.byteLength(fixedAnswer),
    requestBytes: Buffer.byteLength(repeated.text),
    tls,
    bareWorkers: bareWorkers === undefined ? 0 : plan.workers,
    goProblem: go === undefined ? (goProblem ?? 'the Go webhook did not start') : undefined,
  };
}
