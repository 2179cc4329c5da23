/**
 * The container image of `serve` (Dockerfile) and the Deployment that runs it (deploy/serve.yaml),
 * without Docker or a kubelet (neither runs here): the Dockerfile's build stage is run step by step
 * on a folder holding only what it copies (so a file the build needs and the Dockerfile or
 * .dockerignore leaves out fails here), then its runtime stage's `dist/` is started with the
 * Deployment's own arguments: the paths mapped to folders laid out as the kubelet lays out a
 * ConfigMap or Secret volume (`..data` swapped atomically on update), `:8443` to 127.0.0.1, SIGTERM
 * to the main process only, as the container runtime sends it. What cannot be run here: the base
 * images, and the user and file system the kubelet gives the container (the API server's
 * PodSecurity check of the Pod is in tests/e2e/webhook-config.e2e.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { podReview } from '../helpers/admission-review.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { createTestPki, httpsRequest, kubeletVolume, type TestPki } from '../helpers/tls.js';
import { eventually } from './helpers/processes.js';
import { lambdaNode } from './helpers/tools.js';

interface Instruction {
  readonly op: string;
  readonly text: string;
}
interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** The Dockerfile's stages (one instruction per line: this Dockerfile has no continuations). */
function stages(text: string): Stage[] {
  const out: Stage[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [op = '', ...rest] = line.trim().split(/\s+/);
    const instruction = { op: op.toUpperCase(), text: rest.join(' ') };
    if (instruction.op === 'FROM') {
      const [from = '', as, name] = rest;
      out.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const stage = out.at(-1);
      if (stage === undefined) throw new Error(`Dockerfile: ${line} before FROM`);
      stage.instructions.push(instruction);
    }
  }
  return out;
}

/** Whether .dockerignore (`*`, then `!path` lines) sends `path` to the build. */
function inContext(ignore: string, path: string): boolean {
  let included = true;
  for (const raw of ignore.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/\/$/, '');
    const matches = pattern === '*' || pattern === '**' || path === pattern || path.startsWith(`${pattern}/`);
    if (matches) included = negated;
  }
  return included;
}

interface Container {
  readonly args: string[];
  readonly ports: { readonly name: string; readonly containerPort: number }[];
  readonly readinessProbe: { readonly httpGet: { readonly path: string; readonly scheme: string } };
  readonly volumeMounts: { readonly name: string; readonly mountPath: string }[];
}
interface PodSpec {
  readonly containers: Container[];
  readonly volumes: { readonly name: string; readonly configMap?: { readonly name: string }; readonly secret?: { readonly secretName: string } }[];
  readonly terminationGracePeriodSeconds: number;
}

const dockerfile = stages(await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const dockerignore = await readFile(join(REPO_ROOT, '.dockerignore'), 'utf8');
const manifests = parseAllDocuments(await readFile(join(REPO_ROOT, 'deploy', 'serve.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; spec: { template: { spec: PodSpec } } });
const podSpec = manifests.find((m) => m.kind === 'Deployment')?.spec.template.spec;

let scratch = '';
let pki: TestPki | undefined;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'image-rewriter-image-'));
  pki = await createTestPki();
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
  await pki?.remove();
});

describe('Dockerfile', () => {
  it('builds dist/ in its build stage from only the files it copies, with no dependency install scripts', async () => {
    const build = dockerfile.find((s) => s.name === 'build');
    expect(build).toBeDefined();
    const workdir = build?.instructions.find((i) => i.op === 'WORKDIR')?.text ?? '';
    expect(workdir).toBe('/src');
    const context = join(scratch, 'src');
    await mkdir(context);
    let ran = 0;
    for (const { op, text } of build?.instructions ?? []) {
      if (op === 'COPY') {
        const parts = text.split(/\s+/);
        const to = parts.pop() ?? '';
        for (const from of parts) {
          // What the Dockerfile copies must reach the builder through .dockerignore.
          expect({ from, inContext: inContext(dockerignore, from.replace(/\/$/, '')) }).toEqual({ from, inContext: true });
          const target = to.endsWith('/') && !from.endsWith('/') ? join(context, to, from) : join(context, to === './' ? from : to);
          await mkdir(dirname(target), { recursive: true });
          await cp(join(REPO_ROOT, from), target, { recursive: true });
        }
      } else if (op === 'RUN') {
        // npm ci from the cache that .ci/run's own `npm ci` filled (the network when it lacks a package).
        const command = text.replace(/^npm ci\b/, 'npm ci --prefer-offline');
        const result = await run('/bin/sh', ['-c', command], context);
        expect({ command, code: result.code, output: result.code === 0 ? '' : result.output.slice(-2000) }).toEqual({ command, code: 0, output: '' });
        ran++;
      }
    }
    expect(ran).toBe(2);
    expect(text(build)).toContain('npm ci --ignore-scripts');
    const built = await readFile(join(context, 'dist', 'cli.js'), 'utf8');
    expect(built.startsWith('#!/usr/bin/env node')).toBe(true);
  }, 600_000);

  it("builds and runs on the Node.js major the Lambda function runs on (template.yaml's Runtime)", () => {
    const major = /^v(\d+)\./.exec(execFileSync(lambdaNode(), ['--version'], { encoding: 'utf8' }))?.[1];
    expect(major).toBeDefined();
    // One Node.js for both ways of running the webhook: a fix for one runtime holds for the other.
    expect(dockerfile.map((s) => s.from)).toEqual([`node:${major ?? ''}-bookworm-slim`, `gcr.io/distroless/nodejs${major ?? ''}-debian12:nonroot`]);
  });

  it('runs dist/ alone with the command line of deploy/serve.yaml: health, a review, a rules update, SIGTERM', async () => {
    const runtime = dockerfile.at(-1);
    const copy = runtime?.instructions.find((i) => i.op === 'COPY')?.text;
    expect(copy).toBe('--from=build /src/dist /app');
    const entrypoint = JSON.parse(runtime?.instructions.find((i) => i.op === 'ENTRYPOINT')?.text ?? '[]') as string[];
    expect(entrypoint).toEqual(['/nodejs/bin/node', '/app/cli.js']);
    // The image's root: /app holds the build stage's dist/, and nothing else (no node_modules in reach).
    const root = join(scratch, 'root');
    await cp(join(scratch, 'src', 'dist'), join(root, 'app'), { recursive: true });

    const container = podSpec?.containers[0];
    expect(container).toBeDefined();
    const token = 'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
    const ca = pki?.ca ?? '';
    const writers = new Map<string, (files: Readonly<Record<string, string>>) => Promise<void>>();
    const mounts = new Map<string, string>();
    for (const mount of container?.volumeMounts ?? []) {
      const volume = podSpec?.volumes.find((v) => v.name === mount.name);
      const dir = join(root, mount.mountPath);
      mounts.set(mount.mountPath, dir);
      const files: Record<string, string> =
        volume?.configMap !== undefined
          ? { 'rules.yaml': 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n' }
          : mount.name === 'tls'
            ? { 'tls.crt': pki?.server.cert ?? '', 'tls.key': pki?.server.key ?? '' }
            : { token };
      writers.set(mount.name, await kubeletVolume(dir, files));
    }
    const args = (container?.args ?? []).map((a) => {
      if (a === '--listen=:8443') return '--listen=127.0.0.1:0';
      if (a === '--metrics-listen=:9090') return '--metrics-listen=127.0.0.1:0';
      const [flag, value = ''] = a.split('=');
      for (const [path, dir] of mounts) if (value.startsWith(`${path}/`)) return `${flag ?? ''}=${dir}${value.slice(path.length)}`;
      return a;
    });
    expect(args).toContain('--workers=2');

    // The image's Node.js: its base is the Lambda runtime's major (checked above).
    const serve = spawn(lambdaNode(), [join(root, 'app', 'cli.js'), ...args], { cwd: root, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collect(serve);
    try {
      const port = await eventually('serve listening', 60_000, () => {
        const line = output.stdout().split('\n').find((l) => l.includes('"listening"'));
        return Promise.resolve(line === undefined ? undefined : (JSON.parse(line) as { port: number }).port);
      });
      const health = await httpsRequest({ port, ca, path: container?.readinessProbe.httpGet.path ?? '' });
      expect(health.status).toBe(200);
      const review = (image: string): Promise<string | undefined> =>
        httpsRequest({ port, ca, method: 'POST', path: `/mutate/${token}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify(podReview({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image }] } })) }).then((a) => {
          const patch = (JSON.parse(a.body) as { response?: { patch?: string } }).response?.patch;
          return patch === undefined ? undefined : Buffer.from(patch, 'base64').toString('utf8');
        });
      expect(await review('gcr.io/nginx:1.27')).toContain('"value":"asia.gcr.io/nginx:1.27"');
      const refused = await httpsRequest({ port, ca, method: 'POST', path: '/mutate/wrong-token-wrong-token-wrong-token', body: '{}' });
      expect(refused.status).toBe(401);

      // `kubectl create configmap ... | kubectl apply`: the kubelet swaps the volume's `..data`.
      await writers.get('rules')?.({ 'rules.yaml': 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: mirror.example.com/gcr\n' });
      await eventually('the new rules in every worker', 60_000, async () => {
        const answers = await Promise.all(Array.from({ length: 8 }, () => review('gcr.io/nginx:1.27')));
        return answers.every((p) => p?.includes('"value":"mirror.example.com/gcr/nginx:1.27"') === true) ? true : undefined;
      });

      // The container runtime signals the main process only; it must stop its workers and exit 0
      // well within the grace period that remains after the preStop pause.
      const started = performance.now();
      serve.kill('SIGTERM');
      const code = await exitCode(serve);
      expect(code).toBe(0);
      expect(performance.now() - started).toBeLessThan(((podSpec?.terminationGracePeriodSeconds ?? 0) - 5) * 1000);
      expect(output.stderr()).toContain('"workers":2');
      // README: the Lambda's lines and EMF documents, and a request line per call, one JSON document per line on stderr.
      const lines = output.stderr().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { message?: string; _aws?: { CloudWatchMetrics: { Namespace: string }[] } });
      expect(lines.filter((l) => l.message === 'admission reviewed').length).toBeGreaterThan(0);
      // (and one for the refused call: an `Unauthorized` count)
      expect(lines.filter((l) => l._aws?.CloudWatchMetrics[0]?.Namespace === 'ImageRewriter').length).toBe(lines.filter((l) => l.message === 'admission reviewed').length + 1);
      expect(lines.filter((l) => l.message === 'request').length).toBeGreaterThan(lines.filter((l) => l.message === 'admission reviewed').length);
    } finally {
      serve.kill('SIGKILL');
    }
  }, 180_000);
});

function text(stage: Stage | undefined): string {
  return (stage?.instructions ?? []).map((i) => `${i.op} ${i.text}`).join('\n');
}

function collect(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  return { stdout: () => out, stderr: () => err };
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => {
        child.once('exit', (code) => {
          resolve(code);
        });
      });
}

function run(command: string, args: readonly string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collect(child);
    child.once('error', reject);
    child.once('close', (code) => {
      resolve({ code, output: output.stdout() + output.stderr() });
    });
  });
}
