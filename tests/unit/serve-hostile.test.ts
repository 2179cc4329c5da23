/**
 * `serve` against clients that stall, linger, speak plain HTTP or old TLS, or open too many
 * connections: each is cut off or refused within its (test-shortened) bound while other clients
 * keep being served. Waits are event-driven (a socket closing, a log line), never fixed sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, request } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { type LogEntry, type RunningServer, startServer } from '../../src/serve.js';
import { createTestPki, httpsRequest, type TestPki, untilClosed } from '../helpers/tls.js';

/** Short bounds so the tests run fast; the tests only check that each bound is enforced, not when. */
const TIGHT = { handshakeMs: 300, headersMs: 300, requestMs: 600, keepAliveMs: 300, idleSocketMs: 5000, checkIntervalMs: 50 };

let pki: TestPki;
let server: RunningServer;
const logs: LogEntry[] = [];
const waiters: { pred: (e: LogEntry) => boolean; resolve: (e: LogEntry) => void }[] = [];

function record(e: LogEntry): void {
  logs.push(e);
  for (const w of [...waiters]) {
    if (w.pred(e)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(e);
    }
  }
}

/** The next log line (from now on) that matches. */
function nextLog(pred: (e: LogEntry) => boolean): Promise<LogEntry> {
  return new Promise((resolve) => waiters.push({ pred, resolve }));
}

beforeAll(async () => {
  pki = await createTestPki();
  server = await startServer({
    handler: () => Promise.resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{"status":"ok"}' }),
    certFile: pki.server.certFile,
    keyFile: pki.server.keyFile,
    host: '127.0.0.1',
    port: 0,
    timeouts: TIGHT,
    log: record,
  });
});

afterAll(async () => {
  await server.close();
  await pki.remove();
});

const healthy = async (): Promise<void> => {
  expect((await httpsRequest({ port: server.port, ca: pki.ca, path: '/healthz' })).status).toBe(200);
};

function secure(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca }, () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

describe('stalled clients', () => {
  it('cuts off a request that stalls mid-body (408) while others are served', async () => {
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"kind":');
    await healthy();
    await healthy();
    const { data } = await closed;
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 408/);
  });

  it('cuts off a client that stalls in the middle of its headers (slowloris)', async () => {
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    await healthy();
    const { data } = await closed;
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes a connection that completes TLS and then sends nothing', async () => {
    const socket = await secure();
    const { data } = await untilClosed(socket);
    expect(data.toString('latin1')).not.toMatch(/^HTTP\/1\.1 2/);
  });

  it('cuts off a TLS handshake that never finishes', async () => {
    const logged = nextLog((e) => e.msg === 'tls handshake failed' && e['code'] === 'ERR_TLS_HANDSHAKE_TIMEOUT');
    const socket = netConnect({ host: '127.0.0.1', port: server.port });
    const { data } = await untilClosed(socket);
    expect(data.length).toBe(0);
    await logged;
    await healthy();
  });

  it('closes an idle keep-alive connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca });
    try {
      const socket = await new Promise<Socket>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: server.port, path: '/healthz', agent }, (res) => {
          res.resume();
          res.on('end', () => {
            resolve(req.socket!);
          });
        });
        req.on('error', reject);
        req.end();
      });
      await new Promise<void>((resolve) => {
        if (socket.destroyed) resolve();
        else socket.once('close', () => { resolve(); });
      });
    } finally {
      agent.destroy();
    }
  });

  it('serves while many connections sit idle, and closes them all', async () => {
    const idle = await Promise.all(Array.from({ length: 50 }, () => secure()));
    const closed = idle.map((s) => untilClosed(s));
    await healthy();
    await Promise.all(closed);
  });
});

describe('wrong protocols', () => {
  it('closes the connection when plain HTTP is sent to the TLS port', async () => {
    const logged = nextLog((e) => e.msg === 'tls handshake failed' && e['code'] === 'ERR_SSL_HTTP_REQUEST');
    const socket = netConnect({ host: '127.0.0.1', port: server.port }, () => {
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    });
    const { data } = await untilClosed(socket);
    expect(data.toString('latin1')).not.toContain('HTTP/1.1');
    await logged;
  });

  it('refuses TLS 1.1 (the server says so: protocol version alert)', async () => {
    const logged = nextLog((e) => e.msg === 'tls handshake failed' && e['code'] === 'ERR_SSL_UNSUPPORTED_PROTOCOL');
    const error = await new Promise<Error>((resolve, reject) => {
      // SECLEVEL=0 so that this client really offers TLS 1.1 instead of refusing it itself.
      const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
        reject(new Error('TLS 1.1 handshake succeeded'));
      });
      socket.on('error', resolve);
    });
    expect(error.message).toMatch(/protocol version|unsupported protocol/i);
    await logged;
  });

  it('accepts TLS 1.2 and TLS 1.3', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const protocol = await new Promise<string | null>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca, minVersion: version, maxVersion: version }, () => {
          resolve(socket.getProtocol());
          socket.end();
        });
        socket.on('error', reject);
      });
      expect(protocol).toBe(version);
    }
  });

  it('answers malformed HTTP with 400 and closes', async () => {
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('NOT HTTP AT ALL\r\n\r\n');
    const { data } = await closed;
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 400/);
  });

  it('answers 431 to headers over 16 KiB', async () => {
    const answer = await httpsRequest({ port: server.port, ca: pki.ca, path: '/healthz', headers: { 'x-big': 'a'.repeat(20_000) } }).then(
      (a) => a.status,
      (e: unknown) => (e as NodeJS.ErrnoException).code,
    );
    expect([431, 'ECONNRESET']).toContain(answer);
    await healthy();
  });
});

describe('connection limit', () => {
  it('drops connections over maxConnections, and accepts again when one leaves', async () => {
    const limited = await startServer({
      handler: () => Promise.resolve({ statusCode: 200, body: '' }),
      certFile: pki.server.certFile,
      keyFile: pki.server.keyFile,
      host: '127.0.0.1',
      port: 0,
      maxConnections: 2,
      log: record,
    });
    const connect = (): Promise<TLSSocket | Error> =>
      new Promise((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: limited.port, ca: pki.ca }, () => {
          resolve(socket);
        });
        socket.on('error', resolve);
      });
    try {
      const first = await connect();
      const second = await connect();
      expect(first).not.toBeInstanceOf(Error);
      expect(second).not.toBeInstanceOf(Error);
      const dropped = nextLog((e) => e.msg === 'connection dropped: too many connections');
      expect(await connect()).toBeInstanceOf(Error);
      await dropped;
      const leaving = untilClosed(first as TLSSocket);
      (first as TLSSocket).destroy();
      await leaving;
      // The server sees the close a moment later; retry a bounded number of times.
      let again: TLSSocket | Error = new Error('not tried');
      for (let i = 0; i < 100 && again instanceof Error; i++) again = await connect();
      expect(again).not.toBeInstanceOf(Error);
      (again as TLSSocket).destroy();
      (second as TLSSocket).destroy();
    } finally {
      await limited.close();
    }
  });
});
