/**
 * While serve shuts down, every answer ends its connection (`Connection: close`), on keep-alive
 * connections too: the answer of a request the handler was still running when the shutdown began,
 * and the server's own early answers (a 404) to a request sent during the grace (src/serve/
 * requests.ts; docs/reliability.md). Without it such a connection stayed open after its answer,
 * and the shutdown waited for it.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { TLSSocket } from 'node:tls';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { type RunningServer, type ServerOptions, startServer } from '../../src/serve/server.js';
import { createTestPki, secureSocket, type TestPki, untilClosed } from '../helpers/tls.js';

/** Far longer than the tests wait: a connection that ends within it was ended by its answer. */
const LONG = { keepAliveMs: 60_000, headersMs: 20_000, requestMs: 30_000, shutdownMs: 30_000 };

let pki: TestPki | undefined;
let server: RunningServer | undefined;

afterEach(async () => {
  await server?.close();
  await pki?.remove();
  server = undefined;
  pki = undefined;
});

/** serve's HTTPS server on a free port with LONG timeouts and no log, answering with `handler`. */
const serveWith = (tls: TestPki, handler: ServerOptions['handler']): Promise<RunningServer> =>
  startServer({ certFile: tls.server.certFile, keyFile: tls.server.keyFile, host: '127.0.0.1', port: 0, timeouts: LONG, log: () => undefined, handler });

/** A keep-alive connection that has had one answer (GET /healthz). */
async function keptAlive(port: number, ca: string): Promise<TLSSocket> {
  const socket = await secureSocket(port, ca);
  await new Promise<void>((resolve) => {
    socket.on('data', function onData(d: Buffer) {
      if (!d.toString('latin1').includes('"status"')) return;
      socket.off('data', onData);
      resolve();
    });
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  return socket;
}

describe('during the shutdown', () => {
  it('the answer of a request in flight when it began ends its keep-alive connection', async () => {
    pki = await createTestPki();
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = (): void => undefined;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    server = await serveWith(pki, async (event): Promise<APIGatewayProxyResult> => {
      if (event.path === '/healthz') return { statusCode: 200, body: '{"status":"ok"}' };
      entered();
      await gate;
      return { statusCode: 200, body: '{}' };
    });
    const socket = await keptAlive(server.port, pki.ca);
    const closed = untilClosed(socket);
    socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
    await inHandler;
    const started = performance.now();
    const closing = server.close();
    // Past the grace (1 s), at whose end only connections with nothing in flight are ended.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    release();
    const { data } = await closed;
    const text = data.toString('latin1');
    expect(text).toMatch(/HTTP\/1\.1 200 OK[^]*connection: close/i);
    await closing;
    expect(performance.now() - started).toBeLessThan(LONG.shutdownMs / 2);
  }, 40_000);

  it('an early answer (404) to a request sent in the grace ends its keep-alive connection', async () => {
    pki = await createTestPki();
    server = await serveWith(pki, () => Promise.resolve({ statusCode: 200, body: '{"status":"ok"}' }));
    const socket = await keptAlive(server.port, pki.ca);
    const closed = untilClosed(socket);
    const closing = server.close();
    socket.write('GET /nope HTTP/1.1\r\nHost: x\r\n\r\n');
    const { data } = await closed;
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 404 Not Found[^]*connection: close/i);
    await closing;
  }, 40_000);
});
