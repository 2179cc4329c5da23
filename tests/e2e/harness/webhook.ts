/**
 * The webhook side of the environment: `image-rewriter serve` (dist/cli.js, the stand-in for API
 * Gateway: each request becomes a REST proxy event for the same handler as the Lambda), the
 * MutatingWebhookConfiguration printed by `image-rewriter webhook-config`, and the probe that tells
 * when the API server really calls the webhook (creating throwaway Pods until one comes back
 * rewritten, or as a scenario needs).
 *
 * A `ServeInstance` is only a record (pid, port, log files), so a test can read the logs of, kill
 * and replace a server that globalSetup started in another module context.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as z from 'zod';
import { type Kubectl, parseJson, pod } from './kubectl.js';
import { LogFile } from './logs.js';
import { isAlive, startProcess, stopProcess } from './processes.js';
import { done, eventually, notYet } from './wait.js';

const run = promisify(execFile);

/** The rules the environment serves: the demo's (gcr.io -> asia.gcr.io), plus what the scenarios need. */
export const RULES_YAML = `# The rules of the end-to-end environment (and of npm run demo). serve reloads this file when it changes.
rules:
  # The original demo: gcr.io/nginx -> asia.gcr.io/nginx
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  # Docker Hub (short names included: nginx is docker.io/library/nginx) through a mirror
  - name: hub
    match: docker.io
    replace: mirror.example.com/hub
  # A registry with a port, to another registry with a port
  - name: internal
    match: registry.local:5000
    replace: registry.mirror.example.com:5443/internal
exclude:
  - docker.io/library/busybox
`;

/** The image of every probe Pod, and what the rules make of it. */
export const PROBE_IMAGE = 'gcr.io/image-rewriter-e2e/probe:1';
export const PROBE_IMAGE_REWRITTEN = 'asia.gcr.io/image-rewriter-e2e/probe:1';

export interface WebhookFiles {
  readonly rules: string;
  readonly tokenFile: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

export interface ServeRecord {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** serve's stderr: its JSON log lines. */
  readonly log: string;
  /** serve's stdout: the "listening" line. */
  readonly stdout: string;
}

/** One JSON log line of serve (Powertools format: level, message, then fields). */
const logLine = z.looseObject({ level: z.string(), message: z.string() });
export type LogLine = z.infer<typeof logLine>;

/** A running (or killed) `serve`: its record, and reading its log. */
export class ServeInstance {
  readonly log: LogFile;

  constructor(readonly record: ServeRecord) {
    this.log = new LogFile(record.log);
  }

  get port(): number {
    return this.record.port;
  }

  get name(): string {
    return this.record.name;
  }

  running(): boolean {
    return isAlive(this.record.pid);
  }

  /** The current length of the log: pass it to `lines` to see only what comes after. */
  mark(): number {
    return this.log.mark();
  }

  /** The JSON log lines written since `mark` (non-JSON lines are skipped). */
  lines(mark = 0): LogLine[] {
    const out: LogLine[] = [];
    for (const text of this.log.text(mark).split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        const parsed = logLine.safeParse(JSON.parse(text));
        if (parsed.success) out.push(parsed.data);
      } catch {
        // a partial last line
      }
    }
    return out;
  }

  /** The raw log text since `mark` (for "the token never appears" checks and error messages). */
  text(mark = 0): string {
    return this.log.text(mark);
  }

  /**
   * The "admission reviewed" line of the object `name` in `namespace` since `mark`; of its
   * `operation` when given (a CREATE's line can land just after a mark taken for the UPDATE that
   * follows it: the server writes its lines after its answer).
   */
  reviewed(namespace: string, name: string, mark = 0, operation?: string): LogLine | undefined {
    return this.lines(mark).find((l) => l.message === 'admission reviewed' && l['namespace'] === namespace && l['name'] === name && (operation === undefined || l['operation'] === operation));
  }

  /**
   * `reviewed`, waited for (at most 10 s): serve writes its lines after its answer, and a worker
   * hands them to the primary up to 5 ms later, so the line of a review kubectl has just seen
   * answered may not be in the log yet.
   */
  waitReviewed(namespace: string, name: string, mark = 0, operation?: string): Promise<LogLine> {
    return eventually(`the review line of ${namespace}/${name} in ${this.name}'s log`, { timeoutMs: 10_000 }, () => {
      const line = this.reviewed(namespace, name, mark, operation);
      return Promise.resolve(line === undefined ? notYet('no line yet') : done(line));
    });
  }
}

export interface StartServeOptions {
  readonly runDir: string;
  /** The repository root: dist/cli.js is run from there. */
  readonly cli: string;
  readonly files: WebhookFiles;
  /** Names the log files (`serve`, `serve-2`, `serve-v1beta1`...). */
  readonly name: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly timeoutMs?: number;
  /** Another rules file than the environment's. */
  readonly rules?: string;
  /** More environment variables (e.g. NODE_EXTRA_CA_CERTS for a test registry). */
  readonly env?: Readonly<Record<string, string>>;
  /** `--workers N`; unset, serve's default (one per CPU). */
  readonly workers?: number;
}

const listening = z.object({ msg: z.literal('listening'), address: z.string(), port: z.number() });

/** Start `node dist/cli.js serve ...`; resolves once it printed its "listening" line. */
export async function startServe(options: StartServeOptions): Promise<ServeInstance> {
  const { files } = options;
  const log = join(options.runDir, 'logs', `${options.name}.log`);
  const stdout = join(options.runDir, 'logs', `${options.name}.out`);
  const proc = await startProcess({
    runDir: options.runDir,
    name: options.name,
    // The Node.js of the container image (Dockerfile; scripts/test-e2e.sh sets it), else this one (`npm run demo`).
    command: process.env['IMAGE_REWRITER_LAMBDA_NODE'] ?? process.execPath,
    args: [
      options.cli,
      'serve',
      '--config', options.rules ?? files.rules,
      '--listen', `127.0.0.1:${options.port}`,
      '--tls-cert-file', files.serverCert,
      '--tls-private-key-file', files.serverKey,
      '--token-file', files.tokenFile,
      ...(options.workers === undefined ? [] : ['--workers', String(options.workers)]),
    ],
    cwd: options.runDir,
    // Nothing from the caller's environment: no REWRITE_RULES, WEBHOOK_TOKEN or POWERTOOLS_* leaks in.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...options.env },
    log,
    stdout,
  });
  try {
    const port = await eventually(
      `${options.name} to print its "listening" line`,
      {
        timeoutMs: options.timeoutMs ?? 60_000,
        intervalMs: 50,
        maxIntervalMs: 250,
        abortIf: () => {
          const exit = proc.exited();
          return exit === undefined ? undefined : `it exited (${exit}):\n${proc.tail(25)}`;
        },
      },
      () => {
        const first = new LogFile(stdout).text().split('\n')[0] ?? '';
        if (!first.endsWith('}')) return Promise.resolve(notYet('no line on stdout yet'));
        return Promise.resolve(done(parseJson(listening, first, `${options.name} stdout`).port));
      },
    );
    if (options.port !== 0 && port !== options.port) throw new Error(`${options.name} listens on ${port}, not ${options.port}`);
    return new ServeInstance({ name: options.name, pid: proc.pid, port, log, stdout });
  } catch (e) {
    await stopProcess(options.runDir, proc, 2000);
    throw e;
  }
}

/** Stop a serve instance (SIGTERM: graceful; SIGKILL: "the webhook process killed"). */
export async function stopServe(runDir: string, serve: ServeInstance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopProcess(runDir, serve.record, 10_000, signal);
}

/** The webhook URL of `serve` on 127.0.0.1:port with this token. */
export function webhookUrl(port: number, token: string): string {
  return `https://127.0.0.1:${port}/mutate/${token}`;
}

/** A token in the format serve accepts (at least 16 of A-Z a-z 0-9 . _ ~ -). */
export function newToken(): string {
  return randomBytes(24).toString('hex');
}

/** The scope the environment (and npm run demo) registers: its scenarios rewrite workload templates. README's demo section names it. */
export const ENVIRONMENT_SCOPE = 'all';

export interface WebhookConfigOptions {
  readonly url: string;
  /** `--service NAMESPACE/NAME[:PORT] --token TOKEN` instead of `--url`. */
  readonly service?: { readonly spec: string; readonly token: string };
  /** `--name` (default: webhook-config's, image-rewriter). */
  readonly name?: string;
  readonly caCert: string;
  /** `--admission-review-versions` (default: what webhook-config offers, v1 and v1beta1). */
  readonly admissionReviewVersions?: readonly string[];
  /** `--scope` (default ENVIRONMENT_SCOPE). */
  readonly scope?: 'pods' | 'all';
  /** `--config FILE`: matchConditions derived from these rules. */
  readonly config?: string;
  /** `--opt-in`: only namespaces labelled image-rewriter.io/rewrite=true are sent. */
  readonly optIn?: boolean;
}

/** The YAML `node dist/cli.js webhook-config` prints for these options. */
export async function webhookConfigYaml(cli: string, options: WebhookConfigOptions): Promise<string> {
  const endpoint = options.service === undefined ? ['--url', options.url] : ['--service', options.service.spec, '--token', options.service.token];
  const args = [cli, 'webhook-config', ...endpoint, '--ca-bundle', options.caCert];
  if (options.name !== undefined) args.push('--name', options.name);
  if (options.admissionReviewVersions !== undefined) args.push('--admission-review-versions', options.admissionReviewVersions.join(','));
  args.push('--scope', options.scope ?? ENVIRONMENT_SCOPE);
  if (options.config !== undefined) args.push('--config', options.config);
  if (options.optIn === true) args.push('--opt-in');
  try {
    const { stdout } = await run(process.execPath, args, { timeout: 60_000 });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`image-rewriter webhook-config failed: ${err.stderr ?? err.message}`, { cause: e });
  }
}

export interface ProbeResult {
  readonly name: string;
  /** The image the API server stored. */
  readonly image: string;
  readonly rewritten: boolean;
}

let probes = 0;

/**
 * Create a throwaway Pod (image PROBE_IMAGE) in `namespace`, read what the API server stored, and
 * delete it again.
 */
export async function probe(kubectl: Kubectl, namespace: string): Promise<ProbeResult> {
  probes++;
  const name = `probe-${process.pid}-${probes}-${randomBytes(3).toString('hex')}`;
  const manifest = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'image-rewriter-e2e-probe' } },
    spec: { containers: [{ name: 'probe', image: PROBE_IMAGE }] },
  };
  const created = await kubectl.json(pod, ['-n', namespace, 'create', '-f', '-'], { input: JSON.stringify(manifest) });
  await kubectl.ok(['-n', namespace, 'delete', 'pod', name, '--wait=false']);
  const image = created.spec.containers[0]?.image ?? '';
  return { name, image, rewritten: image === PROBE_IMAGE_REWRITTEN };
}

/**
 * Probe until `accept` returns undefined for a probe (it returns why not, otherwise); bounded.
 * Resolves with the accepted probe and how many were made.
 */
export async function probeUntil(
  kubectl: Kubectl,
  namespace: string,
  what: string,
  accept: (p: ProbeResult) => string | undefined,
  timeoutMs = 90_000,
): Promise<{ readonly probe: ProbeResult; readonly attempts: number; readonly ms: number }> {
  const started = performance.now();
  let attempts = 0;
  const accepted = await eventually(what, { timeoutMs, intervalMs: 100, maxIntervalMs: 1000 }, async () => {
    attempts++;
    const p = await probe(kubectl, namespace);
    const why = accept(p);
    return why === undefined ? done(p) : notYet(`${p.name}: ${why}`);
  });
  return { probe: accepted, attempts, ms: performance.now() - started };
}

/** Probe until a Pod comes back rewritten and, when `by` is given, that instance logged reviewing it. */
export function waitUntilRewriting(kubectl: Kubectl, namespace: string, by?: ServeInstance, timeoutMs?: number): ReturnType<typeof probeUntil> {
  const mark = by?.mark() ?? 0;
  return probeUntil(
    kubectl,
    namespace,
    `the webhook to rewrite a probe Pod${by === undefined ? '' : ` (reviewed by ${by.name})`}`,
    (p) => {
      if (!p.rewritten) return `stored image ${p.image}`;
      if (by !== undefined && by.reviewed(namespace, p.name, mark) === undefined) return `rewritten, but not by ${by.name}`;
      return undefined;
    },
    timeoutMs,
  );
}

/** Read a file that must exist (the token). */
export function readToken(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

/** A port on 127.0.0.1 nothing listens on: a webhook configuration pointing at it fails open. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => {
    probe.close(() => {
      resolve();
    });
  });
  return port;
}
