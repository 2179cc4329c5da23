/**
 * kubectl (the one hack/k8s/build.sh built), the way the scenarios use it: the same commands a
 * user types, with the environment's kubeconfig, results read back as `-o json` and parsed with
 * loose zod schemas (the fields the scenarios look at; everything else is ignored, never rejected).
 */
import { spawn } from 'node:child_process';
import * as z from 'zod';

export interface KubectlResult {
  readonly args: readonly string[];
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface KubectlOptions {
  /** Written to stdin (for `-f -`). */
  readonly input?: string;
  /** Kill kubectl after this long (default 120 s); its own --request-timeout is 60 s. */
  readonly timeoutMs?: number;
}

export class KubectlError extends Error {
  override readonly name = 'KubectlError';
  constructor(readonly result: KubectlResult) {
    super(`kubectl ${result.args.join(' ')} exited with ${result.code}:\n${result.stderr.trim() || result.stdout.trim()}`);
  }
}

export class Kubectl {
  constructor(
    readonly binary: string,
    readonly kubeconfig: string,
  ) {}

  /** The environment kubectl runs with: only what it needs, so a user's KUBECONFIG never leaks in. */
  env(): Record<string, string> {
    return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', KUBECONFIG: this.kubeconfig };
  }

  /** Run kubectl; resolves with the exit code and output whatever the code. */
  run(args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> {
    const started = performance.now();
    const all = ['--request-timeout=60s', ...args];
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, all, { env: this.env(), stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, options.timeoutMs ?? 120_000);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${this.binary}: ${e.message}`, { cause: e }));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({
          args,
          code: code ?? (signal === null ? -1 : 128),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8') + (signal === null ? '' : `\n[kubectl killed by ${signal}]`),
          durationMs: performance.now() - started,
        });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    });
  }

  /** Run kubectl; throws KubectlError unless it exits 0. */
  async ok(args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> {
    const result = await this.run(args, options);
    if (result.code !== 0) throw new KubectlError(result);
    return result;
  }

  /** `kubectl ARGS -o json`, parsed with `schema`. */
  async json<S extends z.ZodType>(schema: S, args: readonly string[], options: KubectlOptions = {}): Promise<z.infer<S>> {
    const result = await this.ok([...args, '-o', 'json'], options);
    return parseJson(schema, result.stdout, `kubectl ${args.join(' ')}`);
  }

  /** Create a namespace (with labels) and wait until its default ServiceAccount exists (Pods need it). */
  async createNamespace(name: string, labels: Readonly<Record<string, string>> = {}): Promise<void> {
    const manifest = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
    await this.ok(['create', '-f', '-'], { input: JSON.stringify(manifest) });
    await this.waitForServiceAccount(name);
  }

  /** Wait until the namespace's default ServiceAccount exists (kube-controller-manager makes it). */
  async waitForServiceAccount(namespace: string, timeoutMs = 60_000): Promise<void> {
    const started = performance.now();
    for (let interval = 100; ; interval = Math.min(interval * 2, 1000)) {
      const r = await this.run(['-n', namespace, 'get', 'serviceaccount', 'default', '-o', 'name']);
      if (r.code === 0) return;
      if (performance.now() - started > timeoutMs) throw new Error(`namespace ${namespace} has no default ServiceAccount after ${timeoutMs} ms: ${r.stderr.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }
}

/** Parse JSON text with a schema; the error names where it came from. */
export function parseJson<S extends z.ZodType>(schema: S, text: string, from: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${from} did not print JSON: ${text.slice(0, 500)}`, { cause: e });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`${from} printed unexpected JSON: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

// --- the parts of Kubernetes objects the scenarios read -------------------------------------------

const stringMap = z.record(z.string(), z.string());

export const objectMeta = z.object({
  name: z.string(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
  ownerReferences: z.array(z.object({ kind: z.string(), name: z.string() })).optional(),
});

export const container = z.object({ name: z.string(), image: z.string() });

/** A volume; `image` only for an image volume (its `reference` is pulled like a container's image). */
export const volume = z.object({ name: z.string(), image: z.object({ reference: z.string() }).optional() });

export const podSpec = z.object({
  containers: z.array(container),
  initContainers: z.array(container).optional(),
  ephemeralContainers: z.array(container).optional(),
  volumes: z.array(volume).optional(),
});

export const pod = z.object({ metadata: objectMeta, spec: podSpec, status: z.object({ phase: z.string().optional() }).optional() });
export type Pod = z.infer<typeof pod>;

export const podTemplateSpec = z.object({ metadata: objectMeta.partial().optional(), spec: podSpec });

export const deployment = z.object({
  metadata: objectMeta,
  spec: z.object({ template: podTemplateSpec }),
  status: z.object({ observedGeneration: z.number().optional(), replicas: z.number().optional() }).optional(),
});
export type Deployment = z.infer<typeof deployment>;

export const replicaSet = z.object({ metadata: objectMeta, spec: z.object({ template: podTemplateSpec }) });

export const cronJob = z.object({
  metadata: objectMeta,
  spec: z.object({ jobTemplate: z.object({ spec: z.object({ template: podTemplateSpec }) }) }),
});

export const statefulSet = z.object({ metadata: objectMeta, spec: z.object({ template: podTemplateSpec }) });

export const job = z.object({ metadata: objectMeta, spec: z.object({ template: podTemplateSpec }) });

/** `kubectl get --raw /version`: the API server's version (EKS writes its minor as `32+`). */
export const serverVersion = z.object({ major: z.string(), minor: z.string(), gitVersion: z.string() });

export const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

export const webhookConfiguration = z.object({
  metadata: objectMeta,
  webhooks: z.array(
    z.object({
      name: z.string(),
      admissionReviewVersions: z.array(z.string()),
      clientConfig: z.object({ url: z.string().optional() }),
      failurePolicy: z.string().optional(),
    }),
  ),
});

/**
 * Every image of a pod spec by list and container name: `{ 'containers/web': 'nginx', ... }`; an
 * image volume's by its name (`volumes/model`).
 */
export function imagesOf(spec: z.infer<typeof podSpec>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [list, containers] of [
    ['initContainers', spec.initContainers ?? []],
    ['containers', spec.containers],
    ['ephemeralContainers', spec.ephemeralContainers ?? []],
  ] as const) {
    for (const c of containers) out[`${list}/${c.name}`] = c.image;
  }
  for (const v of spec.volumes ?? []) if (v.image !== undefined) out[`volumes/${v.name}`] = v.image.reference;
  return out;
}
