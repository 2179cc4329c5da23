/**
 * The whole end-to-end environment, in one temporary run folder:
 *
 *   etcd -> kube-apiserver -> kube-controller-manager        (cluster.ts)
 *   a CA and a server certificate for 127.0.0.1              (tests/helpers/tls.ts)
 *   image-rewriter serve, with a webhook token               (webhook.ts)
 *   kubectl apply of `image-rewriter webhook-config --url https://127.0.0.1:PORT/mutate/TOKEN --ca-bundle ca.crt`
 *   probe Pods until one comes back rewritten                (the webhook is effective)
 *
 * `E2eEnvironment.start` builds it (jest's globalSetup, or the demo) and writes `state.json`;
 * `E2eEnvironment.connect` rebuilds a handle from that file (the test files, which jest runs in
 * another module context). `stop` tears everything down in reverse order: every process group
 * registered (those a test started too), the watchdog, the run folder.
 *
 * Run folder layout: kubeconfig, state.json, processes.json, logs/ (one file per process),
 * webhook/ (rules.yaml, token, ca.crt, server.crt, server.key, webhook.yaml), pki/ (the API
 * server's own certificate), etcd/ (data).
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod';
import { createTestPki } from '../../helpers/tls.js';
import { startCluster } from './cluster.js';
import { type EmergencyHandlers, installEmergencyTeardown } from './emergency.js';
import { Kubectl, parseJson, serverVersion } from './kubectl.js';
import { LogFile } from './logs.js';
import { initRegistry, isAlive, readRegistry, signalGroup, stopProcess } from './processes.js';
import { checkOpenssl, distCli, type K8sBin, k8sBinaries } from './tools.js';
import { RULES_YAML, ServeInstance, type WebhookConfigOptions, newToken, startServe, stopServe, waitUntilRewriting, webhookConfigYaml, webhookUrl } from './webhook.js';

/** Where globalSetup tells the test files the state file is. */
export const STATE_VARIABLE = 'IMAGE_REWRITER_E2E_STATE';
/** Set to 1 to keep the run folder (logs, certificates) after the run. */
export const KEEP_VARIABLE = 'IMAGE_REWRITER_E2E_KEEP';
/** The namespace of the probe Pods. */
export const PROBE_NAMESPACE = 'e2e-probe';

const serveRecord = z.object({ name: z.string(), pid: z.number(), port: z.number(), log: z.string(), stdout: z.string() });

const stateSchema = z.object({
  version: z.literal(1),
  root: z.string(),
  cli: z.string(),
  runDir: z.string(),
  binDir: z.string(),
  kubeconfig: z.string(),
  keep: z.boolean(),
  cluster: z.object({
    apiserverPort: z.number(),
    apiserverPid: z.number(),
    /** etcd's client port (its HTTP gateway: a scenario compacts it, as the API server's compactor does every 5 minutes). */
    etcdPort: z.number(),
    logs: z.object({ etcd: z.string(), apiserver: z.string(), controllerManager: z.string() }),
  }),
  webhook: z.object({
    files: z.object({ rules: z.string(), tokenFile: z.string(), caCert: z.string(), serverCert: z.string(), serverKey: z.string() }),
    token: z.string(),
    url: z.string(),
    /** The configuration as registered at start (what scenarios restore). */
    configYaml: z.string(),
    configFile: z.string(),
  }),
  serve: serveRecord,
  watchdogPid: z.number(),
  /** The API server's version (`kubectl get --raw /version`): scenarios that depend on it ask `env.kubernetes`. */
  kubernetes: z.object({ gitVersion: z.string(), minor: z.number() }),
  timings: z.object({
    /** Epoch ms when the start began (for the whole-suite time). */
    startedAt: z.number(),
    etcdMs: z.number(),
    apiserverMs: z.number(),
    controllerManagerMs: z.number(),
    clusterMs: z.number(),
    serveMs: z.number(),
    registerMs: z.number(),
    effectiveMs: z.number(),
    effectiveProbes: z.number(),
    totalMs: z.number(),
  }),
});
export type RunState = z.infer<typeof stateSchema>;

export interface StartOptions {
  /** The repository root (dist/cli.js, nginx-gcr.yaml). */
  readonly root: string;
  /** Default: IMAGE_REWRITER_K8S_BIN. */
  readonly bin?: K8sBin;
  /** Progress lines for a person. */
  readonly log?: (line: string) => void;
  /** Keep the run folder after teardown (default: IMAGE_REWRITER_E2E_KEEP=1). */
  readonly keep?: boolean;
  /** Handle SIGINT/SIGTERM/SIGHUP with the emergency teardown (jest: yes; the demo handles them itself). */
  readonly handleSignals: boolean;
}

const ms = (from: number): number => performance.now() - from;

export class E2eEnvironment {
  readonly kubectl: Kubectl;
  private emergency: EmergencyHandlers | undefined;

  private constructor(
    private state: RunState,
    private readonly statePath: string,
  ) {
    this.kubectl = new Kubectl(join(state.binDir, 'kubectl'), state.kubeconfig);
  }

  get runDir(): string {
    return this.state.runDir;
  }

  get root(): string {
    return this.state.root;
  }

  /** The run folder is kept after teardown (IMAGE_REWRITER_E2E_KEEP=1). */
  get keep(): boolean {
    return this.state.keep;
  }

  get binDir(): string {
    return this.state.binDir;
  }

  get kubeconfig(): string {
    return this.state.kubeconfig;
  }

  get timings(): RunState['timings'] {
    return this.state.timings;
  }

  get webhook(): RunState['webhook'] {
    return this.state.webhook;
  }

  /** The API server's version: `minor` 37 for v1.37.2. */
  get kubernetes(): RunState['kubernetes'] {
    return this.state.kubernetes;
  }

  /**
   * The API server keeps image volumes (`volumes[].image`): the ImageVolume feature gate is on by
   * default from 1.35 (alpha 1.31, beta but off in 1.33 and 1.34). Before, it drops each image
   * volume and the mounts of it after admission, silently (README, Supported Kubernetes versions).
   */
  get imageVolumes(): boolean {
    return this.state.kubernetes.minor >= 35;
  }

  get apiserverPid(): number {
    return this.state.cluster.apiserverPid;
  }

  /** etcd's client URL on 127.0.0.1 (plain HTTP; its JSON gateway is under /v3/). */
  get etcdUrl(): string {
    return `http://127.0.0.1:${this.state.cluster.etcdPort}`;
  }

  get apiserverLog(): LogFile {
    return new LogFile(this.state.cluster.logs.apiserver);
  }

  /** The serve instance the registered configuration points at. */
  get serve(): ServeInstance {
    return new ServeInstance(this.state.serve);
  }

  /** Build the environment; on failure everything started so far is torn down before the error is thrown. */
  static async start(options: StartOptions): Promise<E2eEnvironment> {
    const t0 = performance.now();
    const startedAt = Date.now();
    const log = options.log ?? (() => undefined);
    const bin = options.bin ?? k8sBinaries();
    const cli = distCli(options.root);
    checkOpenssl();
    const keep = options.keep ?? process.env[KEEP_VARIABLE] === '1';

    const runDir = await mkdtemp(join(tmpdir(), 'image-rewriter-e2e-'));
    await mkdir(join(runDir, 'logs'));
    await mkdir(join(runDir, 'webhook'));
    initRegistry(runDir);
    const emergency = installEmergencyTeardown({ runDir, keep, signals: options.handleSignals });
    const watchdogPid = startWatchdog(options.root, runDir, keep);
    log(`run folder ${runDir}`);
    const stateFile = join(runDir, 'state.json');
    try {
      const cluster = await startCluster({ runDir, bin, log });
      const clusterMs = ms(t0);
      const version = parseJson(serverVersion, (await cluster.kubectl.ok(['get', '--raw', '/version'])).stdout, 'kubectl get --raw /version');
      const kubernetes = { gitVersion: version.gitVersion, minor: Number.parseInt(version.minor, 10) };
      if (version.major !== '1' || !Number.isInteger(kubernetes.minor)) throw new Error(`cannot read the API server's version: ${JSON.stringify(version)}`);

      // The webhook's PKI and token, copied into the run folder (one folder to remove).
      const pki = await createTestPki('image-rewriter-e2e-pki-');
      const dir = join(runDir, 'webhook');
      const files = { rules: join(dir, 'rules.yaml'), tokenFile: join(dir, 'token'), caCert: join(dir, 'ca.crt'), serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key') };
      try {
        await copyFile(pki.caFile, files.caCert);
        await copyFile(pki.server.certFile, files.serverCert);
        await copyFile(pki.server.keyFile, files.serverKey);
      } finally {
        await pki.remove();
      }
      const token = newToken();
      await writeFile(files.tokenFile, `${token}\n`, { mode: 0o600 });
      await writeFile(files.rules, RULES_YAML);

      const tServe = performance.now();
      const serve = await startServe({ runDir, cli, files, name: 'serve', port: 0 });
      const serveMs = ms(tServe);
      log(`image-rewriter serve listening on https://127.0.0.1:${serve.port} in ${(serveMs / 1000).toFixed(1)} s`);

      const tRegister = performance.now();
      const url = webhookUrl(serve.port, token);
      const configYaml = await webhookConfigYaml(cli, { url, caCert: files.caCert });
      const configFile = join(dir, 'webhook.yaml');
      await writeFile(configFile, configYaml);
      await cluster.kubectl.ok(['apply', '-f', configFile]);
      await cluster.kubectl.createNamespace(PROBE_NAMESPACE);
      const registerMs = ms(tRegister);

      const effective = await waitUntilRewriting(cluster.kubectl, PROBE_NAMESPACE, serve, 120_000);
      log(`webhook effective after ${effective.attempts} probe Pod(s), ${(effective.ms / 1000).toFixed(1)} s`);

      const state: RunState = {
        version: 1,
        root: options.root,
        cli,
        runDir,
        binDir: bin.dir,
        kubeconfig: cluster.files.kubeconfig,
        keep,
        cluster: { apiserverPort: cluster.ports.apiserver, apiserverPid: cluster.processes.apiserver.pid, etcdPort: cluster.ports.etcd, logs: cluster.files.logs },
        webhook: { files, token, url, configYaml, configFile },
        serve: serve.record,
        watchdogPid,
        kubernetes,
        timings: {
          startedAt,
          etcdMs: cluster.timings.etcdMs,
          apiserverMs: cluster.timings.apiserverMs,
          controllerManagerMs: cluster.timings.controllerManagerMs,
          clusterMs,
          serveMs,
          registerMs,
          effectiveMs: effective.ms,
          effectiveProbes: effective.attempts,
          totalMs: ms(t0),
        },
      };
      const env = new E2eEnvironment(state, stateFile);
      env.emergency = emergency;
      env.save();
      return env;
    } catch (e) {
      const logs = readRegistry(runDir).map((r) => `--- ${r.name}: ${r.log}\n${new LogFile(r.log).tail(20)}`).join('\n');
      await teardown(runDir, keep, watchdogPid, emergency).catch((t: unknown) => {
        log(`teardown after the failed start: ${t instanceof Error ? t.message : String(t)}`);
      });
      throw new Error(`the end-to-end environment did not start: ${e instanceof Error ? e.message : String(e)}\n${logs}`, { cause: e });
    }
  }

  /** A handle on an environment another context started (IMAGE_REWRITER_E2E_STATE names its state file). */
  static connect(stateFile = process.env[STATE_VARIABLE]): E2eEnvironment {
    if (stateFile === undefined || stateFile === '') {
      throw new Error(`${STATE_VARIABLE} is not set: run the end-to-end tests with npm run test:e2e (jest.e2e.config.js's globalSetup starts the environment)`);
    }
    const state = parseJson(stateSchema, readFileSync(stateFile, 'utf8'), stateFile);
    return new E2eEnvironment(state, stateFile);
  }

  /** The state file (IMAGE_REWRITER_E2E_STATE for the test files). */
  get stateFile(): string {
    return this.statePath;
  }

  /** `image-rewriter webhook-config` output for the environment's CA (URL default: the registered one). */
  configYaml(options: Partial<WebhookConfigOptions> = {}): Promise<string> {
    return webhookConfigYaml(this.state.cli, { url: this.state.webhook.url, caCert: this.state.webhook.files.caCert, ...options });
  }

  /** `kubectl apply -f -` of a webhook configuration. */
  async applyWebhookConfig(yaml: string): Promise<void> {
    await this.kubectl.ok(['apply', '-f', '-'], { input: yaml });
  }

  /**
   * Register the configuration of the start again and wait until the current serve instance
   * rewrites a probe Pod: what a scenario that changed the configuration calls when it is done.
   */
  async restoreWebhook(): Promise<void> {
    await this.kubectl.ok(['apply', '-f', this.state.webhook.configFile]);
    await waitUntilRewriting(this.kubectl, PROBE_NAMESPACE, this.serve);
  }

  /** Start another serve instance (same certificate and token; the same rules unless `rules` names a file) on a free port. */
  startExtraServe(name: string, more: { readonly rules?: string; readonly env?: Readonly<Record<string, string>>; readonly tokenFile?: string; readonly workers?: number } = {}): Promise<ServeInstance> {
    const { tokenFile, ...rest } = more;
    const files = { ...this.state.webhook.files, ...(tokenFile === undefined ? {} : { tokenFile }) };
    return startServe({ runDir: this.runDir, cli: this.state.cli, files, name, port: 0, ...rest });
  }

  /** Stop a serve instance: SIGTERM (graceful) or SIGKILL ("the webhook process is killed"). */
  stopServe(serve: ServeInstance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return stopServe(this.runDir, serve, signal);
  }

  /**
   * Start a new main serve instance on the port the registered configuration names (after the
   * previous one was killed); it becomes `serve`.
   */
  async restartServe(): Promise<ServeInstance> {
    const previous = this.state.serve;
    if (isAlive(previous.pid)) throw new Error(`${previous.name} (pid ${previous.pid}) still runs: stop it first`);
    const generation = Number(/-(\d+)$/.exec(previous.name)?.[1] ?? '1') + 1;
    const serve = await startServe({ runDir: this.runDir, cli: this.state.cli, files: this.state.webhook.files, name: `serve-${generation}`, port: previous.port });
    this.state = { ...this.state, serve: serve.record };
    this.save();
    return serve;
  }

  /**
   * Tear everything down: every registered process group in reverse start order (serve,
   * kube-controller-manager, kube-apiserver while etcd still runs, etcd), then the watchdog and
   * the run folder (kept with IMAGE_REWRITER_E2E_KEEP=1). Returns how long it took, in ms.
   */
  async stop(): Promise<number> {
    const emergency = this.emergency;
    this.emergency = undefined;
    return teardown(this.runDir, this.state.keep, this.state.watchdogPid, emergency);
  }

  /**
   * From now on the caller handles SIGINT, SIGTERM and SIGHUP (the demo: a graceful stop); the
   * exit handler stays, so an early exit still kills everything.
   */
  releaseSignals(): void {
    this.emergency?.releaseSignals();
  }

  private save(): void {
    const tmp = `${this.statePath}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.state, null, 2)}\n`);
    renameSync(tmp, this.statePath);
  }
}

/** Stop every registered process group (newest first), then the watchdog; remove the run folder unless kept. */
async function teardown(runDir: string, keep: boolean, watchdogPid: number, emergency: EmergencyHandlers | undefined): Promise<number> {
  const t0 = performance.now();
  const problems: string[] = [];
  for (const record of readRegistry(runDir).reverse()) {
    try {
      await stopProcess(runDir, record, 15_000);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (watchdogPid > 0) signalGroup(watchdogPid, 'SIGTERM');
  emergency?.uninstall();
  if (!keep) await rm(runDir, { recursive: true, force: true });
  if (problems.length > 0) throw new Error(`teardown: ${problems.join('; ')}`);
  return ms(t0);
}

/**
 * watchdog.mjs, detached (its own process group) and unreferenced: it outlives this process only
 * to clean up after it. Its stderr is ours, so what it did shows where the run was watched.
 */
function startWatchdog(root: string, runDir: string, keep: boolean): number {
  const child = spawn(process.execPath, [join(root, 'tests', 'e2e', 'harness', 'watchdog.mjs'), String(process.pid), runDir, ...(keep ? ['--keep'] : [])], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child.unref();
  if (child.pid === undefined) throw new Error('cannot start the watchdog');
  return child.pid;
}
