/**
 * `serve` against clients that stall, linger, speak plain HTTP or old TLS, or open too many
 * connections: each is cut off or refused within its (test-shortened) bound while other clients
 * keep being served. Waits are event-driven (a socket closing, a log line), never fixed sleeps.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { LogEntry } from '../../src/observability/log.js';
import { MAX_PIPELINED_REQUESTS } from '../../src/serve/connections.js';
import { recorder, startOkServer, useOkServer } from '../helpers/serve.js';
import { createTestPki, httpsRequest, secureSocket, untilClosed } from '../helpers/tls.js';

/** Short bounds so the tests run fast; the tests only check that each bound is enforced, not when. */
const TIGHT = { handshakeMs: 1000, headersMs: 1000, requestMs: 2000, keepAliveMs: 500, idleSocketMs: 10_000, checkIntervalMs: 50 };

const logs = recorder();
/** The next log line (from now on) that matches. */
const nextLog = (pred: (e: LogEntry) => boolean): Promise<LogEntry> => logs.next(pred);

const rig = useOkServer({ timeouts: TIGHT, log: logs.log });

const healthy = async (): Promise<void> => {
  expect((await httpsRequest({ port: rig.server.port, ca: rig.pki.ca, path: '/healthz' })).status).toBe(200);
};

const secure = (): Promise<TLSSocket> => secureSocket(rig.server.port, rig.pki.ca);

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
    const socket = netConnect({ host: '127.0.0.1', port: rig.server.port });
    const { data } = await untilClosed(socket);
    expect(data.length).toBe(0);
    await logged;
    await healthy();
  });

  it('closes an idle keep-alive connection after its answer', async () => {
    // A raw client: Node's Agent would close the socket itself on the short Keep-Alive hint.
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
    const { data } = await closed;
    const text = data.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text.toLowerCase()).toContain('connection: keep-alive');
  });

  it('serves a request that starts within keepAliveMs of the last answer and has its headers in within headersMs', async () => {
    // The idle bound is keepAliveMs + headersMs, not keepAliveMs: a request begun just before the
    // keep-alive time ends gets its headers time, as Node itself gives it.
    const socket = await secure();
    const closed = untilClosed(socket);
    const answered = new Promise<void>((resolve) => {
      socket.once('data', () => {
        resolve();
      });
    });
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await answered;
    const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    // Early within keepAliveMs (a late timer on a loaded machine has 350 ms to spare)...
    await pause(0.3 * TIGHT.keepAliveMs);
    socket.write('GET /healthz HTTP/1.1\r\n');
    // ...then past keepAliveMs since the answer (and its check interval), well within headersMs
    // since the request began.
    await pause(0.9 * TIGHT.keepAliveMs);
    if (!socket.destroyed) socket.write('Host: localhost\r\nConnection: close\r\n\r\n');
    const { data } = await closed;
    expect(data.toString('latin1').match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
  });

  it('bounds the wait from the latest answer: a connection that sends a request every so often stays open', async () => {
    // Each answer starts the wait for the next request anew; a timer left from an earlier answer
    // closed a busy connection keepAliveMs + headersMs after its first answer.
    const socket = await secure();
    const closed = untilClosed(socket);
    const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    const count = 8;
    let answers = 0;
    let answered = (): void => undefined;
    socket.on('data', (d: Buffer) => {
      answers += (d.toString('latin1').match(/HTTP\/1\.1 200/g) ?? []).length;
      answered();
    });
    const nextAnswer = (n: number): Promise<void> =>
      new Promise((resolve) => {
        answered = () => {
          if (answers >= n) resolve();
        };
        answered();
      });
    for (let i = 1; i <= count && !socket.destroyed; i++) {
      socket.write(`GET /healthz HTTP/1.1\r\nHost: localhost\r\n${i === count ? 'Connection: close\r\n' : ''}\r\n`);
      await Promise.race([nextAnswer(i), closed]);
      // count - 1 pauses of 0.5 keepAliveMs: 1.75 s in all, past keepAliveMs + headersMs (1.5 s).
      if (i < count) await pause(0.5 * TIGHT.keepAliveMs);
    }
    await closed;
    expect(answers).toBe(count);
  });

  it('closes a keep-alive connection kept busy with blank lines and no request (within keepAliveMs + headersMs)', async () => {
    // Blank lines between requests are allowed and start no request, so neither the headers
    // timeout nor Node's keep-alive timeout (reset by any bytes) ever fired: two bytes every few
    // seconds held a connection slot forever.
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const started = Date.now();
    const nudge = setInterval(() => {
      if (!socket.destroyed) socket.write('\r\n');
    }, TIGHT.keepAliveMs / 5);
    const cutOff = setTimeout(() => socket.destroy(), 4 * (TIGHT.keepAliveMs + TIGHT.headersMs));
    const { data } = await closed;
    clearInterval(nudge);
    clearTimeout(cutOff);
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
    expect(Date.now() - started).toBeLessThan(2 * (TIGHT.keepAliveMs + TIGHT.headersMs));
    await healthy();
  });

  it('serves while many connections sit idle, and closes them all', async () => {
    const idle = await Promise.all(Array.from({ length: 50 }, () => secure()));
    const closed = idle.map((s) => untilClosed(s));
    await healthy();
    await Promise.all(closed);
  });
});

describe('pipelined requests', () => {
  it('closes a connection that pipelines requests without reading the answers, after at most MAX_PIPELINED_REQUESTS', async () => {
    const socket = await secure();
    socket.pause(); // never reads an answer
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => { resolve(); }));
    const served = (): number => logs.entries.filter((e) => e.msg === 'request' && e['resource'] === '/healthz').length;
    const before = served();
    // No token needed. Before: Node parsed and served every request it had read (about a thousand
    // per connection here), holding each answer for a client that never reads; the connection stayed
    // until the idle timeout, 200 of them took serve from 70 MB to 620 MB and held a health check 8 s.
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'.repeat(2000));
    await closed;
    expect(served() - before).toBeLessThanOrEqual(MAX_PIPELINED_REQUESTS);
    // 16, as README.md and docs/reliability.md say: the memory they measured is what this bound holds.
    expect(MAX_PIPELINED_REQUESTS).toBe(16);
    expect(logs.entries.some((e) => e.msg === 'connection closed: too many pipelined requests')).toBe(true);
    await healthy();
  });
});

describe('a client that does not trust the certificate', () => {
  it("warns, with what to check, when the client refuses the certificate (the API server with a wrong caBundle; QA-37)", async () => {
    const other = await createTestPki('image-rewriter-other-ca-');
    try {
      const logged = nextLog((e) => e.msg === 'tls handshake failed' && e['sourceIp'] !== undefined && String(e['code']).endsWith('ALERT_UNKNOWN_CA'));
      // openssl sends the unknown_ca alert a Go client (kube-apiserver) sends as bad_certificate: Node's own client sends none.
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${rig.server.port}`, '-CAfile', other.caFile, '-verify_return_error', '-servername', 'localhost'], { stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
      const entry = await logged;
      expect(entry.level).toBe('warn');
      expect(entry['hint']).toContain("caBundle must be the CA that signed --tls-cert-file");
      // Any other failed handshake stays at INFO, without the hint (below: plain HTTP).
      const plain = nextLog((e) => e.msg === 'tls handshake failed' && e['code'] === 'ERR_SSL_HTTP_REQUEST');
      const socket = netConnect({ host: '127.0.0.1', port: rig.server.port }, () => socket.write('GET / HTTP/1.1\r\n\r\n'));
      await untilClosed(socket);
      expect(await plain).not.toHaveProperty('hint');
      expect((await plain).level).toBe('info');
      await healthy();
    } finally {
      await other.remove();
    }
  });
});

describe('wrong protocols', () => {
  it('closes the connection when plain HTTP is sent to the TLS port', async () => {
    const logged = nextLog((e) => e.msg === 'tls handshake failed' && e['code'] === 'ERR_SSL_HTTP_REQUEST');
    const socket = netConnect({ host: '127.0.0.1', port: rig.server.port }, () => {
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
      const socket = tlsConnect({ host: '127.0.0.1', port: rig.server.port, ca: rig.pki.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
        reject(new Error('TLS 1.1 handshake succeeded'));
      });
      socket.on('error', resolve);
    });
    expect(error.message).toMatch(/protocol version|unsupported protocol/i);
    await logged;
  });

  it('refuses a TLS 1.2 renegotiation (a full handshake the client could ask for again and again)', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: rig.server.port, ca: rig.pki.ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('secureConnect', () => { resolve(); }));
    const outcome = await new Promise<string>((resolve) => {
      socket.once('close', () => { resolve('closed'); });
      const asked = socket.renegotiate({}, (e) => {
        resolve(e === null ? 'renegotiated' : 'refused');
      });
      if (!asked) resolve('refused');
      // The server answers the client's hello with an alert (or not at all): a request tells which.
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    socket.destroy();
    expect(outcome).not.toBe('renegotiated');
  });

  it('accepts TLS 1.2 and TLS 1.3', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const protocol = await new Promise<string | null>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: rig.server.port, ca: rig.pki.ca, minVersion: version, maxVersion: version }, () => {
          resolve(socket.getProtocol());
          socket.end();
        });
        socket.on('error', reject);
      });
      expect(protocol).toBe(version);
    }
  });

  it('negotiates http/1.1 by ALPN, and takes an HTTP/1.0 client that offers only http/1.0 (curl --http1.0)', async () => {
    type Negotiated = { readonly socket: TLSSocket } | { readonly error: string };
    const negotiate = (offered: string[]): Promise<Negotiated> =>
      new Promise((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: rig.server.port, ca: rig.pki.ca, ALPNProtocols: offered }, () => {
          resolve({ socket });
        });
        socket.on('error', (e: Error) => {
          resolve({ error: e.message });
        });
      });
    const h11 = await negotiate(['h2', 'http/1.1', 'http/1.0']);
    if (!('socket' in h11)) throw new Error(h11.error);
    expect(h11.socket.alpnProtocol).toBe('http/1.1');
    h11.socket.destroy();
    // Before: a TLS alert (no_application_protocol), though the server speaks HTTP/1.0.
    const h10 = await negotiate(['http/1.0']);
    if (!('socket' in h10)) throw new Error(h10.error);
    expect(h10.socket.alpnProtocol).toBe('http/1.0');
    const closed = untilClosed(h10.socket);
    h10.socket.write('GET /healthz HTTP/1.0\r\n\r\n');
    expect((await closed).data.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
    // HTTP/2 alone is still refused: the server does not speak it.
    expect(await negotiate(['h2'])).toEqual({ error: expect.stringMatching(/application protocol/i) });
  });

  it('answers malformed HTTP with 400 and closes', async () => {
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('NOT HTTP AT ALL\r\n\r\n');
    const { data } = await closed;
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 400/);
  });

  it('answers 431 to headers over 16 KiB', async () => {
    const answer = await httpsRequest({ port: rig.server.port, ca: rig.pki.ca, path: '/healthz', headers: { 'x-big': 'a'.repeat(20_000) } }).then(
      (a) => a.status,
      (e: unknown) => (e as NodeJS.ErrnoException).code,
    );
    expect([431, 'ECONNRESET']).toContain(answer);
    await healthy();
  });
});

describe('connection limit', () => {
  it('drops connections over maxConnections, and accepts again when one leaves', async () => {
    const limited = await startOkServer(rig.pki, {
      handler: () => Promise.resolve({ statusCode: 200, body: '' }),
      maxConnections: 2,
      maxConnectionsPerClient: 2, // every client here is 127.0.0.1
      log: logs.log,
    });
    type Attempt = { readonly ok: true; readonly socket: TLSSocket } | { readonly ok: false; readonly error: Error };
    const connect = (): Promise<Attempt> =>
      new Promise((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: limited.port, ca: rig.pki.ca }, () => {
          resolve({ ok: true, socket });
        });
        socket.on('error', (error: Error) => {
          resolve({ ok: false, error });
        });
      });
    const open: TLSSocket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const attempt = await connect();
        if (!attempt.ok) throw attempt.error;
        open.push(attempt.socket);
      }
      const dropped = nextLog((e) => e.msg === 'connection dropped: too many connections');
      const third = await connect();
      expect(third.ok).toBe(false);
      await dropped;
      const [first] = open.splice(0, 1);
      if (first === undefined) throw new Error('no first socket');
      const leaving = untilClosed(first);
      first.destroy();
      await leaving;
      // The server sees the close a moment later; retry a bounded number of times.
      let again: Attempt = { ok: false, error: new Error('not tried') };
      for (let i = 0; i < 100 && !again.ok; i++) again = await connect();
      expect(again.ok).toBe(true);
      if (again.ok) open.push(again.socket);
    } finally {
      for (const socket of open) socket.destroy();
      await limited.close();
    }
  });
});

describe('many idle connections (500 handshakes that never finish and 300 idle TLS connections)', () => {
  it('keeps serving while 800 connections sit idle; memory stays bounded; all are closed at shutdown', async () => {
    const many = await startOkServer(rig.pki, {
      handler: (event) => Promise.resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ bytes: event.body?.length ?? 0 }) }),
      maxConnections: 1024,
      maxConnectionsPerClient: 1024, // every client here is 127.0.0.1
      timeouts: { handshakeMs: 60_000, headersMs: 60_000, requestMs: 60_000, idleSocketMs: 60_000, shutdownMs: 2000 },
      log: logs.log,
    });
    const sockets: { destroy: () => void }[] = [];
    try {
      global.gc?.();
      const before = process.memoryUsage();
      // 500 TCP connections that never start TLS, then 300 that finish it and send nothing.
      const raw = await Promise.all(
        Array.from({ length: 500 }, () => new Promise<ReturnType<typeof netConnect>>((resolve, reject) => {
          const s = netConnect({ host: '127.0.0.1', port: many.port }, () => {
            resolve(s);
          });
          s.on('error', reject);
        })),
      );
      sockets.push(...raw);
      for (let i = 0; i < 300; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, () => new Promise<TLSSocket>((resolve, reject) => {
            const s = tlsConnect({ host: '127.0.0.1', port: many.port, ca: rig.pki.ca }, () => {
              resolve(s);
            });
            s.on('error', reject);
          })),
        );
        sockets.push(...batch);
      }
      const during = process.memoryUsage();
      // Other clients are served as usual, one after another and 20 at once.
      for (let i = 0; i < 20; i++) expect((await httpsRequest({ port: many.port, ca: rig.pki.ca, path: '/healthz' })).status).toBe(200);
      const posts = await Promise.all(Array.from({ length: 20 }, () => httpsRequest({ port: many.port, ca: rig.pki.ca, method: 'POST', path: '/mutate', body: '{"x":1}' })));
      expect(posts.map((p) => p.status)).toEqual(Array.from({ length: 20 }, () => 200));
      const perConnectionKiB = (during.rss - before.rss) / 800 / 1024;
      const heapMiB = (during.heapUsed - before.heapUsed) / 2 ** 20;
      process.stdout.write(`800 idle connections: rss +${((during.rss - before.rss) / 2 ** 20).toFixed(1)} MiB (${perConnectionKiB.toFixed(1)} KiB each, both ends in this process), heap +${heapMiB.toFixed(1)} MiB; 40 other requests served\n`);
      expect(heapMiB).toBeLessThan(256); // sanity ceiling
    } finally {
      const closing = many.close();
      for (const s of sockets) s.destroy();
      await closing;
    }
  }, 60_000);
});

describe('bytes that are not UTF-8 in the request line and headers', () => {
  it.each([
    { what: 'Latin-1 bytes in a header value', head: Buffer.concat([Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Name: caf'), Buffer.from([0xe9, 0xff, 0xfe]), Buffer.from('\r\nConnection: close\r\n\r\n')]), status: /^HTTP\/1\.1 200/ },
    { what: 'a lone UTF-8 continuation byte in a header value', head: Buffer.concat([Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: '), Buffer.from([0x80, 0xc3]), Buffer.from('\r\nConnection: close\r\n\r\n')]), status: /^HTTP\/1\.1 200/ },
    { what: 'a raw 0xFF byte in the path', head: Buffer.concat([Buffer.from('GET /mutate/'), Buffer.from([0xff]), Buffer.from(' HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')]), status: /^HTTP\/1\.1 (400|404)/ },
    { what: 'a percent-encoded invalid UTF-8 token', head: Buffer.from('POST /mutate/%FF%FE HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'), status: /^HTTP\/1\.1 404/ },
    { what: 'a NUL in a header name', head: Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX\u0000Y: 1\r\n\r\n'), status: /^HTTP\/1\.1 400/ },
    { what: 'a header name of non-ASCII bytes', head: Buffer.concat([Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\n'), Buffer.from([0xc3, 0xa9]), Buffer.from(': 1\r\n\r\n')]), status: /^HTTP\/1\.1 400/ },
  ])('$what: a clear status, and the server keeps serving', async ({ head, status }) => {
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write(head);
    const { data } = await closed;
    expect(data.toString('latin1')).toMatch(status);
    await healthy();
  });
});
