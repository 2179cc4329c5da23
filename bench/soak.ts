/**
 * Soak runs of the bounds a long-lived process relies on (too slow for jest): each drives one input
 * far past its bound and prints the live heap (after a collection), active handles and open
 * descriptors as it goes; it exits 1 when the heap at the end is more than `SLACK_MB` above the
 * heap after the first tenth (what grows with the input, not what warms up).
 *
 *   node --expose-gc scripts/run-ts.mjs bench/soak.ts MODE [N]
 *
 * - images: N reviews (default 200,000), each of 3 distinct images, with namespace-scoped rules;
 * - namespaces: N reviews (default 5,000) in 100 KB namespaces (a direct caller's, not the API server's);
 * - rejected: N requests (default 100,000), alternately a wrong token and a body that is not JSON;
 * - ssm: N reads (default 2,000) of a rules parameter whose document changes at every read;
 * - file: N rewrites (default 1,000) of a rules file, each read by its watch;
 * - verify: N targets (default 20,000), distinct tags on a local registry;
 * - serve-log: N reviews (default 12,000) through `dist/cli.js serve` (from the repo root, after `npm run build`)
 *   whose stderr is never read: serve's memory (RSS, not the heap) must stay bounded.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { parseRules } from '../src/config/load.js';
import { fileRules, fixedRules, ssmRules } from '../src/config/sources.js';
import { createHandler } from '../src/lambda/handler.js';
import { createObservability } from '../src/observability/telemetry.js';
import { createVerifier } from '../src/verify/verifier.js';
import { createTestPki } from '../tests/helpers/tls.js';

const SLACK_MB = 8;
const mode = process.argv[2] ?? '';
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function heapMb(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1e6;
}

function report(label: string, heap: number): void {
  const handles: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) handles[r] = (handles[r] ?? 0) + 1;
  console.log(`${label.padStart(8)}  heap ${heap.toFixed(1)} MB  fds ${String(readdirSync('/proc/self/fd').length)}  ${JSON.stringify(handles)}`);
}

/** Run `step` n times, sampling the heap; returns the growth from the first tenth to the end (MB). */
async function drive(n: number, step: (i: number) => Promise<unknown>): Promise<number> {
  report('start', heapMb());
  let warm = Number.NaN;
  for (let i = 0; i < n; i++) {
    await step(i);
    if (i === Math.floor(n / 10)) report(String(i), (warm = heapMb()));
    else if (i > 0 && i % Math.ceil(n / 5) === 0) report(String(i), heapMb());
  }
  const end = heapMb();
  report('end', end);
  return end - warm;
}

const quiet = createObservability({ logLevel: 'INFO', sink: () => undefined });
const SCOPED_RULES = `rules:
  - {name: gcr, match: gcr.io, replace: asia.gcr.io}
  - {name: quay, match: quay.io, replace: mirror.example/quay, namespaces: [prod]}
  - {name: ghcr, regex: 'ghcr\\.io/(.*)', replace: 'mirror.example/ghcr/$1'}
`;

function reviewEvent(i: number, namespace: string, images: readonly string[]): Record<string, unknown> {
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `u-${String(i)}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      userInfo: { username: `user-${String(i)}` },
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${String(i)}`, namespace }, spec: { containers: images.map((image, k) => ({ name: `c${String(k)}`, image })) } },
    },
  };
  return { httpMethod: 'POST', path: '/mutate/token-0123456789abcdef', pathParameters: { token: 'token-0123456789abcdef' }, body: JSON.stringify(review), isBase64Encoded: false };
}

function handlerOf(rules: string): ReturnType<typeof createHandler> {
  const parsed = parseRules(rules, {});
  if (!parsed.ok) throw new Error('soak rules invalid');
  return createHandler({ rules: fixedRules(parsed.rewriter, 'soak'), token: 'token-0123456789abcdef', logger: quiet.logger, metrics: quiet.metrics });
}

const rulesDocument = (i: number): string =>
  `rules:\n${Array.from({ length: 20 }, (_, k) => `  - {name: r${String(k)}, regex: 'gcr\\.io/p${String(i)}x${String(k)}/(.+)', replace: 'mirror.example/v${String(i)}/$1'}\n`).join('')}exclude: [docker.io/library/x${String(i)}]\n`;

async function serveLog(n: number): Promise<boolean> {
  const pki = await createTestPki();
  const dir = mkdtempSync(join(tmpdir(), 'soak-serve-'));
  writeFileSync(join(dir, 'rules.yaml'), SCOPED_RULES);
  writeFileSync(join(dir, 'token'), 'token-0123456789abcdef\n');
  const cli = join(process.cwd(), 'dist', 'cli.js');
  const args = ['serve', '--config', join(dir, 'rules.yaml'), '--listen', '127.0.0.1:0', '--tls-cert-file', pki.server.certFile, '--tls-private-key-file', pki.server.keyFile, '--token-file', join(dir, 'token'), '--workers', '1'];
  // stderr a pipe nobody reads: a log collector that stopped.
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.pause();
  try {
    const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => { resolve((JSON.parse(d.toString('utf8')) as { port: number }).port); }));
    const rssMb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${String(child.pid)}/status`, 'utf8'))?.[1]) / 1024;
    const post = (body: string): Promise<number> =>
      new Promise((resolve) => {
        const r = request({ host: '127.0.0.1', port, method: 'POST', path: '/mutate/token-0123456789abcdef', ca: pki.ca }, (res) => {
          res.resume();
          res.on('end', () => { resolve(res.statusCode ?? 0); });
        });
        r.on('error', () => { resolve(0); });
        r.end(body);
      });
    const images = (i: number): string[] => Array.from({ length: 20 }, (_, k) => `gcr.io/${'x'.repeat(200)}/y${String(i)}-${String(k)}:1`);
    let warm = Number.NaN;
    const every = Math.max(16, Math.floor(n / 8 / 16) * 16);
    for (let i = 0; i < n; i += 16) {
      const codes = await Promise.all(Array.from({ length: 16 }, (_, k) => post(String(reviewEvent(i + k, 'default', images(i + k))['body']))));
      if (codes.some((c) => c !== 200)) throw new Error(`serve answered ${codes.join(',')}`);
      if (i % every === 0 || i + 16 >= n) console.log(`${String(i).padStart(8)}  serve RSS ${rssMb().toFixed(0)} MB`);
      if (Number.isNaN(warm) && i >= n / 4) warm = rssMb();
    }
    return rssMb() - warm < 64;
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    await pki.remove();
  }
}

async function run(): Promise<boolean> {
  const n = Number(process.argv[3] ?? Number.NaN);
  switch (mode) {
    case 'images': {
      const h = handlerOf(SCOPED_RULES);
      return (await drive(Number.isNaN(n) ? 200_000 : n, (i) => h(reviewEvent(i, `ns-${String(i % 1000)}`, [`gcr.io/p/i${String(i)}:1`, `quay.io/a/b${String(i)}`, `ghcr.io/o/r${String(i)}`])))) < SLACK_MB;
    }
    case 'namespaces': {
      const h = handlerOf(SCOPED_RULES);
      return (await drive(Number.isNaN(n) ? 5_000 : n, (i) => h(reviewEvent(i, `n${String(i)}`.padEnd(100_000, 'x'), [`quay.io/a/b${String(i)}`])))) < SLACK_MB;
    }
    case 'rejected': {
      const h = handlerOf(SCOPED_RULES);
      const event = reviewEvent(0, 'default', ['gcr.io/a']);
      return (await drive(Number.isNaN(n) ? 100_000 : n, (i) => h(i % 2 === 0 ? { ...event, path: `/mutate/wrong-${String(i)}`, pathParameters: { token: `wrong-${String(i)}` } } : { ...event, body: `{"x":${String(i)}` }))) < SLACK_MB;
    }
    case 'ssm': {
      let version = 0;
      let clock = 0;
      const client = { send: () => Promise.resolve({ Parameter: { Value: rulesDocument(++version), Version: version } }) } as unknown as SSMClient;
      const provider = ssmRules({ client, name: '/soak/rules', ttlSeconds: 1, now: () => clock, logger: quiet.logger, metrics: quiet.metrics, env: {} });
      return (await drive(Number.isNaN(n) ? 2_000 : n, async () => {
        clock += 60_000;
        await provider.current();
        quiet.metrics.publishStoredMetrics();
      })) < SLACK_MB;
    }
    case 'file': {
      const dir = mkdtempSync(join(tmpdir(), 'soak-rules-'));
      const file = join(dir, 'rules.yaml');
      writeFileSync(file, rulesDocument(0));
      const rules = await fileRules(file, { logger: quiet.logger, metrics: quiet.metrics, env: {}, watch: { log: () => undefined, pollMs: 3_600_000 } });
      try {
        return (await drive(Number.isNaN(n) ? 1_000 : n, async (i) => {
          writeFileSync(file, rulesDocument(i + 1));
          await rules.watch?.check();
        })) < SLACK_MB;
      } finally {
        rules.watch?.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    case 'verify': {
      const pki = await createTestPki();
      const server = createServer({ cert: pki.server.cert, key: pki.server.key }, (_req: IncomingMessage, res: ServerResponse) => {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const host = `127.0.0.1:${String((server.address() as AddressInfo).port)}`;
      const verifier = createVerifier({ credentials: () => Promise.resolve({ credentials: undefined }), ecr: () => Promise.reject(new Error('no AWS')), http: { ca: pki.ca }, deadlineMs: 3000 });
      try {
        const batches = Math.ceil((Number.isNaN(n) ? 20_000 : n) / 50);
        return (await drive(batches, (b) => verifier.verify(Array.from({ length: 50 }, (_, k) => ({ image: `${host}/repo${String(k)}/img:t${String(b * 50 + k)}`, platforms: [] }))))) < SLACK_MB;
      } finally {
        server.closeAllConnections();
        server.close();
        await pki.remove();
      }
    }
    case 'serve-log':
      return serveLog(Number.isNaN(n) ? 12_000 : n);
    default:
      throw new Error('usage: node --expose-gc scripts/run-ts.mjs bench/soak.ts images|namespaces|rejected|ssm|file|verify|serve-log [N]');
  }
}

const bounded = await run();
console.log(bounded ? 'bounded' : 'GROWS with the input');
process.exitCode = bounded ? 0 : 1;
