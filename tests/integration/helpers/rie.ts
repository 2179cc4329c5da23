/**
 * A bundled handler under the AWS Lambda Runtime Interface Emulator (RIE) with the Node.js runtime
 * interface client (aws-lambda-ric): the Runtime API contract of Lambda, without Docker. RIE listens
 * on two free 127.0.0.1 ports only; invocations are serialised (RIE crashes on concurrent ones,
 * hack/lambda/README.md); stopping kills the whole process group (RIE and its node runtime).
 */
import { Agent, request } from 'node:http';
import { basename, dirname, extname } from 'node:path';
import { freePorts, type Group, spawnGroup, waitForPort } from './processes.js';
import { REPO_ROOT } from '../../helpers/fixtures.js';
import { lambdaNode, ricBootstrap, rieBinary } from './tools.js';

export interface RieOptions {
  /** The bundle, e.g. dist/handler.js; its directory is LAMBDA_TASK_ROOT. */
  readonly bundle: string;
  /** The function's own environment (REWRITE_RULES, WEBHOOK_TOKEN, AWS_ENDPOINT_URL...). */
  readonly env: Readonly<Record<string, string>>;
  /** AWS_LAMBDA_FUNCTION_TIMEOUT, seconds; default 10 (template.yaml's Timeout). */
  readonly timeoutSeconds?: number;
  /** AWS_LAMBDA_FUNCTION_MEMORY_SIZE, MB; default 256 (template.yaml's MemorySize). */
  readonly memoryMb?: number;
}

export interface Invocation {
  /** RIE's HTTP status: 200 for an answer (also when the handler threw), 502 for an init error. */
  readonly status: number;
  /** The handler's return value, JSON-encoded by the runtime. */
  readonly body: string;
  /** Client-side latency of this call. */
  readonly ms: number;
}

export interface RieFunction {
  readonly process: Group;
  /** Invoke with one event; calls are queued so that only one is ever in flight. */
  invoke(event: unknown): Promise<Invocation>;
  /** The JSON the handler returned (fails with RIE's output when the call did not succeed). */
  result(event: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

/** The environment RIE and the runtime get: nothing inherited from jest but PATH and HOME. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Start RIE for `bundle`; resolves once RIE listens (the runtime starts on the first invoke). */
export async function startRie(options: RieOptions): Promise<RieFunction> {
  const rie = rieBinary();
  const node = lambdaNode();
  const bootstrap = ricBootstrap();
  const taskRoot = dirname(options.bundle);
  const handlerName = `${basename(options.bundle, extname(options.bundle))}.handler`;
  const [invokePort, runtimePort] = (await freePorts(2)) as [number, number];
  const env: Record<string, string> = {
    ...baseEnv(),
    // What Lambda sets and RIE does not (hack/lambda/README.md); dummy credentials so the SDK
    // never looks for real ones. The NODE_OPTIONS SAM's build gives the function, too.
    LAMBDA_TASK_ROOT: taskRoot,
    AWS_LAMBDA_FUNCTION_NAME: 'image-rewriter',
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(options.timeoutSeconds ?? 10),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memoryMb ?? 256),
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    NODE_OPTIONS: '--enable-source-maps',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    ...options.env,
  };
  const args = [
    '--log-level',
    'error',
    '--runtime-interface-emulator-address',
    `127.0.0.1:${invokePort}`,
    '--runtime-api-address',
    `127.0.0.1:${runtimePort}`,
    // The bootstrap command, on the Node.js of the Lambda runtime; RIE takes its last argument as _HANDLER.
    node,
    bootstrap,
    handlerName,
  ];
  // cwd = the repository (for the tools); the bundle resolves its imports from its own directory up,
  // and carries the AWS SDK in its chunks (scripts/build.mjs).
  const group = spawnGroup(`aws-lambda-rie (${options.bundle})`, rie, args, { cwd: REPO_ROOT, env });
  try {
    await waitForPort(group, invokePort, 30_000);
  } catch (e) {
    await group.stop();
    throw e;
  }

  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `http://127.0.0.1:${invokePort}/2015-03-31/functions/function/invocations`;
  let queue: Promise<unknown> = Promise.resolve();

  const post = (payload: string): Promise<Invocation> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const req = request(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started });
        });
        res.on('error', reject);
      });
      req.setTimeout(120_000, () => req.destroy(new Error('RIE did not answer within 120 s')));
      req.on('error', reject);
      req.end(payload);
    });

  const invoke = (event: unknown): Promise<Invocation> => {
    const payload = JSON.stringify(event);
    const next = queue.then(
      () => post(payload),
      () => post(payload),
    );
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    process: group,
    invoke,
    async result(event: unknown): Promise<unknown> {
      const exitBefore = group.exited();
      if (exitBefore !== undefined) throw new Error(`${group.name} has exited (${exitBefore}):\n${group.output().slice(-4000)}`);
      let r: Invocation;
      try {
        r = await invoke(event);
      } catch (e) {
        throw new Error(`invocation failed (${e instanceof Error ? e.message : String(e)}); RIE output:\n${group.output().slice(-4000)}`, { cause: e });
      }
      if (r.status !== 200) throw new Error(`RIE answered ${r.status}: ${r.body}\nRIE output:\n${group.output().slice(-4000)}`);
      return JSON.parse(r.body) as unknown;
    },
    async stop(): Promise<void> {
      agent.destroy();
      await group.stop();
    },
  };
}
