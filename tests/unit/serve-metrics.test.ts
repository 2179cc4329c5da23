/**
 * `serve --metrics-listen` as a process (the CLI bundled and split as dist/cli.js is): real reviews
 * over TLS, then `GET /metrics` counted exactly, from one process and from the primary of
 * `--workers 2` (the sum over the workers, a replacement's counts included, a dead one's kept as
 * last scraped); a stopped worker bounds a scrape (503), one killed during a scrape ends its wait;
 * 404 and 405; the option's errors; and without the flag no second port and no prom-client loaded.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { EXIT, main } from '../../src/cli/main.js';
import { SCRAPE_TIMEOUT_MS } from '../../src/cli/serve-metrics.js';
import { bundleCliSplit } from '../helpers/cli-bundle.js';
import { EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { FIXTURES, TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { childrenOf, listeningPorts } from '../helpers/processes.js';
import { killAndWait, type Served, startServe } from '../helpers/serve-process.js';
import { createTestPki, httpsRequest, type TestPki } from '../helpers/tls.js';

type LogLine = Record<string, unknown>;

let pki: TestPki;
let scratch: string;
let bundle: string;
let cli: string;
let tokenFile: string;
let rules: string;
let importHook: string;

beforeAll(async () => {
  pki = await createTestPki();
  scratch = await mkdtemp(join(tmpdir(), 'serve-metrics-'));
  bundle = join(scratch, 'bundle');
  cli = await bundleCliSplit(bundle);
  tokenFile = join(scratch, 'token');
  await writeFile(tokenFile, `${EVENT_TOKEN}\n`);
  rules = join(scratch, 'rules.yaml');
  await copyFile(join(FIXTURES, 'valid-demo.yaml'), rules);
  // `node --import` this: every module the process loads is appended to $LOADED_MODULES.
  await writeFile(join(scratch, 'hooks.mjs'), "import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(process.env.LOADED_MODULES, `${url}\\n`);\n  return next(url, context);\n}\n");
  importHook = join(scratch, 'register.mjs');
  await writeFile(importHook, "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
}, 60_000);

afterAll(async () => {
  await pki.remove();
  await rm(scratch, { recursive: true, force: true });
});

interface MetricsServed extends Served {
  /** The port of the `metrics listening` line. */
  readonly metricsPort: Promise<number>;
}

const running = new Set<Served>();
afterAll(async () => {
  await Promise.all([...running].map((s) => killAndWait(s.child, s.exited)));
});

function serve(extra: readonly string[], options: { readonly env?: Readonly<Record<string, string>>; readonly nodeArgs?: readonly string[]; readonly certFile?: string; readonly keyFile?: string } = {}): MetricsServed {
  const args = ['--config', rules, '--listen', '127.0.0.1:0', '--tls-cert-file', options.certFile ?? pki.server.certFile, '--tls-private-key-file', options.keyFile ?? pki.server.keyFile, '--token-file', tokenFile, ...extra];
  const s = startServe({ cli, args, ...options });
  running.add(s);
  void s.exited.then(() => running.delete(s));
  const metricsPort = s.first((l) => l['message'] === 'metrics listening').then((l) => Number(l['port']));
  return { ...s, metricsPort };
}

const stop = (s: Served): Promise<number | null> => s.stop();

interface Scraped {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly ms: number;
}

function scrape(port: number, method = 'GET', path = '/metrics'): Promise<Scraped> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A sample's value in the text exposition format; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const DEMO = String(loadEvent('rest-pod-v1beta1-demo.json')['body']);
const review = (port: number, token = EVENT_TOKEN, body = DEMO): Promise<number> =>
  httpsRequest({ port, ca: pki.ca, method: 'POST', path: `/mutate/${token}`, body, headers: { 'content-type': 'application/json' } }).then((a) => a.status);

async function eventually<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`not within ${String(ms)} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const reviewed = (l: LogLine): boolean => l['message'] === 'admission reviewed';

/** When a PEM certificate expires, in the gauge's unit (seconds since the epoch). */
const notAfter = (pem: string): number => Date.parse(new X509Certificate(pem).validTo) / 1000;
const EXPIRATION = 'image_rewriter_certificate_expiration_timestamp_seconds';
const WORKER_EXITS = 'image_rewriter_worker_exits_total';

describe('serve --metrics-listen, one process', () => {
  it('answers GET /metrics with exact counts of the requests served, and nothing else', async () => {
    const s = serve(['--workers', '1', '--metrics-listen', '127.0.0.1:0']);
    const port = await s.port;
    const metricsPort = await s.metricsPort;
    expect(metricsPort).not.toBe(port);
    expect(listeningPorts(s.child.pid ?? 0)).toEqual([port, metricsPort].sort((a, b) => a - b));
    for (let i = 0; i < 5; i++) expect(await review(port)).toBe(200);
    for (let i = 0; i < 2; i++) expect(await review(port, 'wrong-token-wrong-token-0123')).toBe(401);
    expect(await review(port, EVENT_TOKEN, '{not json')).toBe(400);
    expect((await httpsRequest({ port, ca: pki.ca, path: '/healthz' })).status).toBe(200);

    const m = await scrape(metricsPort);
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    const counts = {
      patched: sample(m.body, 'image_rewriter_admission_reviews_total{outcome="patched"}'),
      unauthorized: sample(m.body, 'image_rewriter_admission_reviews_total{outcome="unauthorized"}'),
      badRequest: sample(m.body, 'image_rewriter_admission_reviews_total{outcome="bad_request"}'),
      unchanged: sample(m.body, 'image_rewriter_admission_reviews_total{outcome="unchanged"}'),
      authFailures: sample(m.body, 'image_rewriter_unauthorized_requests_total'),
      rewritesGcr: sample(m.body, 'image_rewriter_rewrites_total{rule="gcr"}'),
      // The 401s serve refuses before the handler have no handler time; the health check is no review.
      timed: sample(m.body, 'image_rewriter_review_duration_seconds_count'),
      stale: sample(m.body, 'image_rewriter_rules_stale'),
    };
    expect(counts).toEqual({ patched: 5, unauthorized: 2, badRequest: 1, unchanged: 0, authFailures: 2, rewritesGcr: 5, timed: 6, stale: 0 });
    expect(sample(m.body, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m.body).toContain('# TYPE image_rewriter_admission_reviews_total counter');

    expect((await scrape(metricsPort, 'GET', '/metrics?debug=1')).status).toBe(200);
    for (const path of ['/', '/metrics/', '/metricsx', '/healthz']) expect({ path, status: (await scrape(metricsPort, 'GET', path)).status }).toEqual({ path, status: 404 });
    const head = await scrape(metricsPort, 'HEAD');
    expect({ status: head.status, type: head.headers['content-type'], body: head.body }).toEqual({ status: 200, type: Registry.PROMETHEUS_CONTENT_TYPE, body: '' });
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await scrape(metricsPort, method);
      expect({ method, status: r.status, allow: r.headers['allow'] }).toEqual({ method, status: 405, allow: 'GET, HEAD' });
    }
    expect(await stop(s)).toBe(EXIT.ok);
    await expect(scrape(metricsPort)).rejects.toThrow(/ECONNREFUSED/);
  }, 30_000);

  it("says when the certificate served expires, and follows a rotation of the files", async () => {
    const certFile = join(scratch, 'expiring.crt');
    const keyFile = join(scratch, 'expiring.key');
    await copyFile(pki.server.certFile, certFile);
    await copyFile(pki.server.keyFile, keyFile);
    const later = await pki.issue('later', { days: 30 });
    const s = serve(['--workers', '1', '--metrics-listen', '127.0.0.1:0'], { certFile, keyFile });
    await s.port;
    const metricsPort = await s.metricsPort;
    const first = await scrape(metricsPort);
    expect(first.body).toContain(`# TYPE ${EXPIRATION} gauge`);
    expect(sample(first.body, EXPIRATION)).toBe(notAfter(pki.server.cert));
    // The key first, then the certificate: the pair loads once both are the new ones.
    await copyFile(later.keyFile, keyFile);
    await copyFile(later.certFile, certFile);
    await s.first((l) => l['message'] === 'certificate reloaded' && l['serialNumber'] === later.serialNumber);
    const second = await scrape(metricsPort);
    expect(notAfter(later.cert)).toBeGreaterThan(notAfter(pki.server.cert));
    expect(sample(second.body, EXPIRATION)).toBe(notAfter(later.cert));
    expect(await stop(s)).toBe(EXIT.ok);
  }, 30_000);

  it('is off by default: no second port, and neither the metrics chunk nor prom-client is loaded', async () => {
    const chunks = readdirSync(join(bundle, 'cli-chunks'));
    const metricsChunks = chunks.filter((f) => f.startsWith('serve-metrics-') || readFileSync(join(bundle, 'cli-chunks', f), 'utf8').includes('prom-client:getMetricsReq'));
    expect(metricsChunks.length).toBeGreaterThan(0);
    const run = async (extra: readonly string[]): Promise<{ ports: number; loaded: string[] }> => {
      const log = join(scratch, `loaded-${String(extra.length)}.txt`);
      await writeFile(log, '');
      const s = serve(['--workers', '1', ...extra], { env: { LOADED_MODULES: log }, nodeArgs: ['--import', pathToFileURL(importHook).href] });
      const port = await s.port;
      expect(await review(port)).toBe(200);
      const ports = listeningPorts(s.child.pid ?? 0).length;
      expect(await stop(s)).toBe(EXIT.ok);
      return { ports, loaded: readFileSync(log, 'utf8').split('\n') };
    };
    const loadedChunks = (loaded: string[]): string[] => metricsChunks.filter((c) => loaded.some((u) => u.endsWith(`/cli-chunks/${c}`)));
    const off = await run([]);
    // The control: the hook saw serve's own chunks load.
    expect(off.loaded.some((u) => /\/cli-chunks\/serve-[A-Z0-9]+\.mjs$/.test(u))).toBe(true);
    expect({ ports: off.ports, metrics: loadedChunks(off.loaded) }).toEqual({ ports: 1, metrics: [] });
    const on = await run(['--metrics-listen', '127.0.0.1:0']);
    expect(on.ports).toBe(2);
    expect(loadedChunks(on.loaded).length).toBeGreaterThan(0);
  }, 30_000);
});

describe('serve --metrics-listen, --workers 2', () => {
  /**
   * Sends batches of 8 reviews at once (each its own connection) until `done`, waiting until each is
   * logged; returns how many were sent.
   */
  const sendUntil = async (s: Served, port: number, done: () => boolean): Promise<number> => {
    let sent = 0;
    for (let round = 0; round < 40 && !done(); round++) {
      const before = s.logs.filter(reviewed).length;
      const statuses = await Promise.all(Array.from({ length: 8 }, () => review(port)));
      expect(statuses.every((st) => st === 200)).toBe(true);
      sent += 8;
      await eventually('every review logged', 10_000, () => Promise.resolve(s.logs.filter(reviewed).length >= before + 8 ? true : undefined));
    }
    return sent;
  };
  const workersSeen = (s: Served): Set<unknown> => new Set(s.logs.filter(reviewed).map((l) => l['worker']));
  const PATCHED = 'image_rewriter_admission_reviews_total{outcome="patched"}';

  it("serves from the primary the sum over the workers, a replacement's counts included, and a dead worker's counts kept", async () => {
    const s = serve(['--workers', '2', '--metrics-listen', '127.0.0.1:0']);
    const port = await s.port;
    const metricsPort = await s.metricsPort;
    const primary = s.child.pid ?? 0;
    // The primary listens on both: the workers' shared socket and the metrics.
    expect(listeningPorts(primary)).toEqual([port, metricsPort].sort((a, b) => a - b));
    let sent = 0;
    sent += await sendUntil(s, port, () => sent >= 40 && workersSeen(s).size >= 2);
    expect([...workersSeen(s)].sort()).toEqual([1, 2]);
    const first = await scrape(metricsPort);
    expect(first.status).toBe(200);
    expect(sample(first.body, PATCHED)).toBe(sent);
    expect(sample(first.body, 'image_rewriter_rewrites_total{rule="gcr"}')).toBe(sent);
    expect(sample(first.body, 'image_rewriter_review_duration_seconds_count')).toBe(sent);
    // The earliest of the workers' (both serve the same files): one sample, not their sum.
    expect(sample(first.body, EXPIRATION)).toBe(notAfter(pki.server.cert));
    expect(sample(first.body, WORKER_EXITS)).toBe(0);

    // A worker killed: its counts as last scraped stay in the sum (a sum that dropped would be a
    // counter reset to Prometheus' rate(), which would count the other worker's total again as
    // new); its replacement's are added.
    const [victim] = childrenOf(primary);
    process.kill(victim ?? 0, 'SIGKILL');
    const exited = await s.first((l) => l['message'] === 'worker exited; starting another');
    const dead = exited['workerId'];
    expect(s.logs.filter((l) => reviewed(l) && l['worker'] === dead).length).toBeGreaterThan(0);
    sent += await sendUntil(s, port, () => s.logs.some((l) => reviewed(l) && l['worker'] === 3));
    expect(s.logs.filter(reviewed)).toHaveLength(sent);
    const after = await eventually('a scrape of every worker', 10_000, async () => {
      const r = await scrape(metricsPort);
      return r.status === 200 ? r : undefined;
    });
    expect(sample(after.body, PATCHED)).toBe(sent);
    expect(sample(after.body, 'image_rewriter_review_duration_seconds_count')).toBe(sent);
    // The death itself is counted by the primary: an OOM kill of a worker restarts no container,
    // so nothing else a Prometheus reads shows it.
    expect(sample(after.body, WORKER_EXITS)).toBe(1);
    expect(await stop(s)).toBe(EXIT.ok);
  }, 60_000);

  it('bounds a scrape that a stopped worker never answers (503); one killed during a scrape ends its wait, its counts kept', async () => {
    const s = serve(['--workers', '2', '--metrics-listen', '127.0.0.1:0']);
    const port = await s.port;
    const metricsPort = await s.metricsPort;
    const primary = s.child.pid ?? 0;
    const sent = await sendUntil(s, port, () => workersSeen(s).size >= 2);
    expect(sample((await scrape(metricsPort)).body, PATCHED)).toBe(sent);
    const [victim] = childrenOf(primary);
    // Stopped, it takes the request and never answers.
    process.kill(victim ?? 0, 'SIGSTOP');
    const cut = await scrape(metricsPort);
    expect(cut.status).toBe(503);
    expect(cut.body).toContain(`did not answer within ${String(SCRAPE_TIMEOUT_MS)} ms`);
    expect(cut.ms).toBeGreaterThan(SCRAPE_TIMEOUT_MS - 500);
    expect(cut.ms).toBeLessThan(SCRAPE_TIMEOUT_MS + 2500);
    await s.first((l) => l['message'] === 'metrics not collected' && l['worker'] === 0);
    // Killed while a scrape waits for it: the scrape answers then, from its counts as last scraped.
    const pending = scrape(metricsPort);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(victim ?? 0, 'SIGKILL');
    const answered = await pending;
    expect(answered.status).toBe(200);
    expect(answered.ms).toBeLessThan(SCRAPE_TIMEOUT_MS - 500);
    expect(sample(answered.body, PATCHED)).toBe(sent);
    // The primary lives on, replaces the worker, and its scrapes answer, the sum kept.
    process.kill(primary, 0);
    await s.first((l) => l['message'] === 'worker exited; starting another');
    const back = await eventually('a scrape answered', 15_000, async () => {
      const r = await scrape(metricsPort);
      return r.status === 200 ? r : undefined;
    });
    expect(sample(back.body, PATCHED)).toBe(sent);
    expect(sample(back.body, 'image_rewriter_rules_stale')).toBe(0);
    expect(await stop(s)).toBe(EXIT.ok);
  }, 60_000);
});

describe('serve --metrics-listen, refused', () => {
  const base = ['serve', '--config', 'r.yaml', '--tls-cert-file', 'c', '--tls-private-key-file', 'k', '--allow-unauthenticated'];
  it.each([
    [['--listen', '127.0.0.1:0', '--metrics-listen', '9090'], '--metrics-listen must be HOST:PORT, [IPv6]:PORT or :PORT with a port from 0 to 65535: 9090'],
    [['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:65536'], '--metrics-listen must be HOST:PORT'],
    [['--listen', '127.0.0.1:0', '--metrics-listen', '[nope]:9090'], '--metrics-listen: nope is not an IPv6 address'],
    [['--listen', '127.0.0.1:0', '--metrics-listen', 'bad_host:9090'], '--metrics-listen: bad_host is not an IP address or host name'],
    [['--listen', ':8443', '--metrics-listen', '127.0.0.1:8443'], "--metrics-listen: port 8443 is the webhook's (--listen :8443): give the metrics another"],
    [['--listen', '127.0.0.1:8443', '--metrics-listen', '127.0.0.1:9090', '--metrics-listen', ':9091'], '--metrics-listen is given more than once'],
  ])('%j: exit 64', async (args, message) => {
    const io = captureIo(TEST_ENV);
    expect(await main([...base, ...args], io)).toBe(EXIT.usage);
    expect(io.err()).toContain(message);
  });

  it('with --workers, before any worker starts: the same port (64), a port in use (1)', async () => {
    const s = spawn(process.execPath, [cli, 'serve', '--config', rules, '--listen', '127.0.0.1:18443', '--tls-cert-file', pki.server.certFile, '--tls-private-key-file', pki.server.keyFile, '--token-file', tokenFile, '--workers', '2', '--metrics-listen', ':18443'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...TEST_ENV } });
    let err = '';
    let out = '';
    s.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    s.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    expect(await new Promise((resolve) => s.once('exit', resolve))).toBe(EXIT.usage);
    expect(err).toContain("--metrics-listen: port 18443 is the webhook's");
    expect(out).toBe('');

    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const taken = (busy.address() as { port: number }).port;
    try {
      for (const workers of ['1', '2']) {
        const b = serve(['--workers', workers, '--metrics-listen', `127.0.0.1:${String(taken)}`]);
        expect({ workers, code: await b.exited }).toEqual({ workers, code: EXIT.failure });
        expect(b.stderr()).toContain(`error: --metrics-listen: cannot listen on 127.0.0.1:${String(taken)}: address already in use (EADDRINUSE)`);
        // No worker was started (its lines would say `worker`, 1 or more), and nothing listened.
        expect(b.logs.filter((l) => typeof l['worker'] === 'number' && l['worker'] !== 0)).toEqual([]);
        expect(b.logs.filter((l) => l['message'] === 'certificate loaded')).toEqual([]);
      }
    } finally {
      busy.close();
    }
  }, 40_000);
});
