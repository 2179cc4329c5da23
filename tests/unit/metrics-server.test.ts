/**
 * The metrics server of `serve --metrics-listen` in process (src/serve/metrics-server.ts,
 * src/cli/serve-metrics.ts): what it answers (200 with the collector's content type, the same to
 * HEAD without a body, 404, 405 with Allow, 503 with a log line when collecting fails), an address it cannot bind, close; and `serve`
 * run in process (`runServe`) with the flag: a review counted, the `metrics listening` line, and the
 * port closed at shutdown. The process-level tests (workers, loading) are in serve-metrics.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { EXIT } from '../../src/cli/main.js';
import { processMetrics, serveProcessMetrics, servePrimaryMetrics } from '../../src/cli/serve-metrics.js';
import type { LogEntry } from '../../src/observability/log.js';
import { ServeError } from '../../src/serve/options.js';
import { MAX_CONNECTIONS_PER_CLIENT, MAX_REQUESTS_IN_FLIGHT_PER_CONNECTION, startMetricsServer } from '../../src/serve/metrics-server.js';
import { EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { FIXTURES, TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { canBindAll, itWhere } from '../helpers/platform.js';
import { startServeCli } from '../helpers/serve-cli.js';
import { createTestPki, httpsRequest, type TestPki } from '../helpers/tls.js';

/** Clients from other loopback addresses than 127.0.0.1 (Linux has them all; macOS not unless aliased: tests/helpers/platform.ts). */
const loopbacks = await canBindAll(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']);

function get(port: number, method = 'GET', path = '/metrics'): Promise<{ status: number; type: string | undefined; allow: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], allow: res.headers.allow, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A collector that answers none of its calls until `release()`, then each with `text(calls)` (the
 * calls made by the time it answers); `calls()` counts them.
 */
function heldCollector(text: (calls: number) => string): { collect: () => Promise<{ contentType: string; text: string }>; release: () => void; calls: () => number } {
  let calls = 0;
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => { release = resolve; });
  const collect = async (): Promise<{ contentType: string; text: string }> => {
    calls++;
    await held;
    return { contentType: 'text/plain', text: text(calls) };
  };
  return { collect, release: () => { release(); }, calls: () => calls };
}

/**
 * One idle connection (nothing sent on it) to `port` from each address of `from`: `open` when it
 * is still open 200 ms after it connected, `closed` when the server closed it. Each socket is
 * pushed onto `held`, for the test to destroy.
 */
function idleConnections(port: number, from: readonly string[], held: Socket[]): Promise<('closed' | 'open')[]> {
  return Promise.all(
    from.map(
      (localAddress) =>
        new Promise<'closed' | 'open'>((resolve) => {
          const s = connect({ host: '127.0.0.1', port, localAddress });
          held.push(s);
          s.on('error', () => undefined);
          s.once('close', () => { resolve('closed'); });
          s.once('connect', () => setTimeout(() => { resolve(s.destroyed ? 'closed' : 'open'); }, 200));
        }),
    ),
  );
}

describe('the metrics server', () => {
  it('answers GET /metrics with what collect gives, HEAD as GET without the body, 404 elsewhere, 405 to other methods', async () => {
    const logs: LogEntry[] = [];
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: (e) => logs.push(e), collect: () => Promise.resolve({ contentType: 'text/plain; version=0.0.4; charset=utf-8', text: 'm_total 3\n' }) });
    try {
      expect(server.address).toBe('127.0.0.1');
      expect(await get(server.port)).toEqual({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', allow: undefined, body: 'm_total 3\n' });
      // RFC 9110, 9.3.2: a probe's HEAD gets GET's status and headers, no body.
      expect(await get(server.port, 'HEAD')).toEqual({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', allow: undefined, body: '' });
      expect((await get(server.port, 'GET', '/nope')).status).toBe(404);
      expect((await get(server.port, 'HEAD', '/nope')).status).toBe(404);
      for (const method of ['PUT', 'POST', 'DELETE', 'OPTIONS']) {
        expect(await get(server.port, method)).toMatchObject({ status: 405, allow: 'GET, HEAD' });
      }
      expect(logs).toEqual([]);
    } finally {
      await server.close();
    }
    await expect(get(server.port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('answers 503 and logs why when collecting fails', async () => {
    const logs: LogEntry[] = [];
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: (e) => logs.push(e), collect: () => Promise.reject(new Error('a worker did not answer within 3000 ms')) });
    try {
      const r = await get(server.port);
      expect([r.status, r.body]).toEqual([503, 'metrics not collected: a worker did not answer within 3000 ms\n']);
      expect(logs).toEqual([{ level: 'warn', msg: 'metrics not collected', reason: 'a worker did not answer within 3000 ms' }]);
      // A probe's HEAD sees the failure too, without the body.
      const head = await get(server.port, 'HEAD');
      expect([head.status, head.body]).toEqual([503, '']);
    } finally {
      await server.close();
    }
  });

  itWhere(loopbacks)('lets one client address hold only a few connections: idle ones from another address leave the scraper its slot', async () => {
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, collect: () => Promise.resolve({ contentType: 'text/plain', text: 'm_total 1\n' }) });
    const held: Socket[] = [];
    try {
      // As many idle connections as the server takes in all, from 127.0.0.2 (nothing sent on them).
      const outcomes = await idleConnections(server.port, Array.from({ length: 16 }, () => '127.0.0.2'), held);
      expect(outcomes.filter((o) => o === 'open')).toHaveLength(MAX_CONNECTIONS_PER_CLIENT);
      expect(await get(server.port)).toMatchObject({ status: 200, body: 'm_total 1\n' });
    } finally {
      for (const s of held) s.destroy();
      await server.close();
    }
  });

  itWhere(loopbacks)('holds at most 16 connections in all, from any number of addresses', async () => {
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, collect: () => Promise.resolve({ contentType: 'text/plain', text: 'm_total 1\n' }) });
    const held: Socket[] = [];
    try {
      // Idle connections, as many as one address may hold, from five addresses (20 in all).
      const from = [2, 3, 4, 5, 6].flatMap((n) => Array.from({ length: MAX_CONNECTIONS_PER_CLIENT }, () => `127.0.0.${String(n)}`));
      const outcomes = await idleConnections(server.port, from, held);
      expect(outcomes.filter((o) => o === 'open')).toHaveLength(16);
    } finally {
      for (const s of held) s.destroy();
      await server.close();
    }
  });

  it("takes a client's connections again once they close (a scraper reconnects), answers a query string, and close() cuts a request half sent", async () => {
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, collect: () => Promise.resolve({ contentType: 'text/plain', text: 'm_total 1\n' }) });
    let closed = false;
    try {
      // More connections, one after another, than one address may hold at once.
      for (let i = 0; i < MAX_CONNECTIONS_PER_CLIENT + 2; i++) {
        expect(await get(server.port, 'GET', `/metrics?scrape=${i}`)).toMatchObject({ status: 200, body: 'm_total 1\n' });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // A request whose headers never end: close() does not wait for the server's request timeout.
      const slow = connect({ host: '127.0.0.1', port: server.port });
      slow.on('error', () => undefined);
      await new Promise((resolve) => slow.once('connect', resolve));
      slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      await server.close();
      closed = true;
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      if (!closed) await server.close();
    }
  });

  it('closes a connection that pipelines more scrapes than it reads answers, and collects for at most a few of them', async () => {
    const { collect, release, calls } = heldCollector(() => 'm_total 1\n');
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, collect });
    try {
      // A thousand scrapes in one write, none of their answers read.
      const s = connect({ host: '127.0.0.1', port: server.port });
      s.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => s.once('close', () => { resolve(); }));
      await new Promise((resolve) => s.once('connect', resolve));
      s.pause();
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(1000));
      await closed;
      release();
      expect(calls()).toBeLessThanOrEqual(MAX_REQUESTS_IN_FLIGHT_PER_CONNECTION);
      // The server still answers a scraper.
      expect(await get(server.port)).toMatchObject({ status: 200, body: 'm_total 1\n' });
    } finally {
      release();
      await server.close();
    }
  });

  it('answers 4 pipelined scrapes, and closes a connection with a 5th unanswered (README: "more than 4 requests unanswered")', async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => { release = resolve; });
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, collect: async () => { await held; return { contentType: 'text/plain', text: 'm_total 1\n' }; } });
    const pipeline = async (n: number): Promise<{ answers: number; closed: boolean }> => {
      const s = connect({ host: '127.0.0.1', port: server.port });
      s.on('error', () => undefined);
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      const closed = new Promise<void>((resolve) => s.once('close', () => { resolve(); }));
      await new Promise((resolve) => s.once('connect', resolve));
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n));
      const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((resolve) => setTimeout(resolve, 300))]);
      release();
      await new Promise((resolve) => setTimeout(resolve, 300));
      s.destroy();
      return { answers: text.split('HTTP/1.1 200').length - 1, closed: outcome === 'closed' };
    };
    try {
      expect(await pipeline(4)).toEqual({ answers: 4, closed: false });
      expect(await pipeline(5)).toEqual({ answers: 0, closed: true });
    } finally {
      release();
      await server.close();
    }
  });

  it('keeps a connection that scrapes again within its idle time, and one whose pipelined scrape is still being collected', async () => {
    let slow: Promise<void> | undefined;
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, idleMs: 400, collect: async () => { await slow; return { contentType: 'text/plain', text: 'm_total 1\n' }; } });
    const open = async (): Promise<{ s: Socket; text: () => string; closed: () => boolean }> => {
      const s = connect({ host: '127.0.0.1', port: server.port });
      s.on('error', () => undefined);
      let text = '';
      let closed = false;
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      s.once('close', () => { closed = true; });
      await new Promise((resolve) => s.once('connect', resolve));
      return { s, text: () => text, closed: () => closed };
    };
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      // A scrape every 250 ms for 1.5 s: each restarts the idle time, none is cut.
      const a = await open();
      for (let i = 0; i < 6; i++) {
        a.s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
        await sleep(250);
      }
      expect({ answers: a.text().split('HTTP/1.1 200').length - 1, closed: a.closed() }).toEqual({ answers: 6, closed: false });
      a.s.destroy();
      // A 404 answered at once, then a scrape that takes 1 s: the idle time waits for its answer.
      slow = sleep(1000);
      const b = await open();
      b.s.write('GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      await sleep(1300);
      expect({ notFound: b.text().includes('HTTP/1.1 404'), answered: b.text().includes('HTTP/1.1 200') }).toEqual({ notFound: true, answered: true });
      b.s.destroy();
    } finally {
      await server.close();
    }
  });

  it('closes an answered connection that sends no new request in time, though it keeps sending blank lines', async () => {
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, idleMs: 500, collect: () => Promise.resolve({ contentType: 'text/plain', text: 'm_total 1\n' }) });
    const s = connect({ host: '127.0.0.1', port: server.port });
    let drip: NodeJS.Timeout | undefined;
    try {
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      const closed = new Promise<number>((resolve) => s.once('close', () => { resolve(performance.now()); }));
      await new Promise((resolve) => s.once('connect', resolve));
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      const started = performance.now();
      // Blank lines, allowed between requests, restart Node's keep-alive timer and start no request.
      drip = setInterval(() => s.write('\r\n'), 100);
      const outcome = await Promise.race([closed, new Promise<'open'>((resolve) => setTimeout(() => { resolve('open'); }, 4000))]);
      expect(outcome).not.toBe('open');
      expect(Number(outcome) - started).toBeLessThan(2000);
    } finally {
      clearInterval(drip);
      s.destroy();
      await server.close();
    }
  });

  it('collects once for scrapes that arrive while a collection is under way (with workers, each asks every one)', async () => {
    const { collect, release } = heldCollector((n) => `m_total ${String(n)}\n`);
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, collect });
    try {
      const scrapes = Array.from({ length: 3 }, () => get(server.port));
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
      expect((await Promise.all(scrapes)).map((r) => r.body)).toEqual(['m_total 1\n', 'm_total 1\n', 'm_total 1\n']);
      // Once it is over, the next scrape collects anew.
      expect((await get(server.port)).body).toBe('m_total 2\n');
    } finally {
      release();
      await server.close();
    }
  });

  it('refuses an address it cannot bind with a ServeError naming the flag', async () => {
    const first = await startMetricsServer({ host: '127.0.0.1', port: 0, log: () => undefined, collect: () => Promise.resolve({ contentType: 'text/plain', text: '' }) });
    try {
      const second = startMetricsServer({ host: '127.0.0.1', port: first.port, log: () => undefined, collect: () => Promise.resolve({ contentType: 'text/plain', text: '' }) });
      await expect(second).rejects.toThrow(ServeError);
      await expect(second).rejects.toThrow(`--metrics-listen: cannot listen on 127.0.0.1:${String(first.port)}: address already in use (EADDRINUSE)`);
    } finally {
      await first.close();
    }
  });

  it('serves a process registry in its content type, and the primary with no worker its own count alone', async () => {
    const metrics = processMetrics();
    metrics.tap.outcome('patched', [], 0);
    const own = await serveProcessMetrics(metrics, { host: '127.0.0.1', port: 0 }, () => undefined);
    const primary = await servePrimaryMetrics({ host: '127.0.0.1', port: 0 }, () => undefined);
    try {
      const r = await get(own.port);
      expect(r.type).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
      expect(r.body).toContain('\nimage_rewriter_admission_reviews_total{outcome="patched"} 1\n');
      // No worker yet: the primary's own count of workers that died, and nothing else.
      const sum = await get(primary.port);
      expect(sum).toMatchObject({ status: 200, type: Registry.PROMETHEUS_CONTENT_TYPE });
      expect(sum.body.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual(['image_rewriter_worker_exits_total 0']);
    } finally {
      await own.close();
      await primary.close();
    }
  });
});

describe('serve --metrics-listen in process', () => {
  let pki: TestPki;
  let scratch: string;
  beforeAll(async () => {
    pki = await createTestPki();
    scratch = await mkdtemp(join(tmpdir(), 'metrics-server-'));
  });
  afterAll(async () => {
    await pki.remove();
    await rm(scratch, { recursive: true, force: true });
  });

  it('counts a review, says where it listens, and closes the port at shutdown', async () => {
    const rules = join(scratch, 'rules.yaml');
    await copyFile(join(FIXTURES, 'valid-demo.yaml'), rules);
    const token = join(scratch, 'token');
    await writeFile(token, EVENT_TOKEN);
    const io = captureIo(TEST_ENV);
    // The Logger reads its level from the process's environment, which the test setup silences.
    const saved = process.env['POWERTOOLS_LOG_LEVEL'];
    process.env['POWERTOOLS_LOG_LEVEL'] = 'INFO';
    const args = ['--config', rules, '--listen', '127.0.0.1:0', '--tls-cert-file', pki.server.certFile, '--tls-private-key-file', pki.server.keyFile, '--token-file', token, '--metrics-listen', '127.0.0.1:0'];
    const served = await startServeCli(args, io).finally(() => {
      if (saved === undefined) delete process.env['POWERTOOLS_LOG_LEVEL'];
      else process.env['POWERTOOLS_LOG_LEVEL'] = saved;
    });
    const port = served.port ?? 0;
    const body = String(loadEvent('rest-pod-v1beta1-demo.json')['body']);
    expect((await httpsRequest({ port, ca: pki.ca, method: 'POST', path: `/mutate/${EVENT_TOKEN}`, body })).status).toBe(200);
    // The line is written at the next turn of the event loop (batchedLines).
    await new Promise((r) => setImmediate(r));
    const line = io.err().split('\n').find((l) => l.includes('"metrics listening"')) ?? '{}';
    const metricsPort = Number((JSON.parse(line) as { port?: number }).port);
    expect(metricsPort).toBeGreaterThan(0);
    const r = await get(metricsPort);
    expect(r.body).toContain('\nimage_rewriter_admission_reviews_total{outcome="patched"} 1\n');
    expect(r.body).toContain('\nimage_rewriter_rewrites_total{rule="gcr"} 1\n');
    expect(await served.stop()).toBe(EXIT.ok);
    await expect(get(metricsPort)).rejects.toThrow(/ECONNREFUSED/);
  });
});
