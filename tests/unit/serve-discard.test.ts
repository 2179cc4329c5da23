/**
 * What is left of a body after an early answer (404, 401, 413) is read and dropped up to twice the
 * body limit and for the linger time, so that the client reads the answer; a client that sends more
 * is cut off then, not after the linger time, and one still sending at the linger time is cut off
 * then, not at the request's timeout (src/serve/body.ts, discardRest).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect as tlsConnect } from 'node:tls';
import { type RunningServer, type ServerOptions, startServer } from '../../src/serve/server.js';
import { createTestPki, type TestPki, untilClosed } from '../helpers/tls.js';

const MAX_BODY = 16 * 1024;
/** Far longer than the test waits: a connection closed within it was cut off by its size. */
const LINGER_MS = 20_000;

let pki: TestPki;
let server: RunningServer;

const start = (timeouts: ServerOptions['timeouts']): Promise<RunningServer> =>
  startServer({
    handler: () => Promise.resolve({ statusCode: 200, body: '{}' }),
    certFile: pki.server.certFile,
    keyFile: pki.server.keyFile,
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: MAX_BODY,
    authorize: (token) => token === 'right-token-0123456789',
    timeouts,
    log: () => undefined,
  });

beforeAll(async () => {
  pki = await createTestPki();
  server = await start({ lingerMs: LINGER_MS });
});

afterAll(async () => {
  await server.close();
  await pki.remove();
});

/**
 * Announce a body of 100 times the limit to `path`, send 4 times the limit of it (more than the
 * 2 times that is read and dropped), and resolve with the answer's status and how long the
 * connection stayed open.
 */
async function sendPastTheDiscard(path: string): Promise<{ status: number; openMs: number }> {
  const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca });
  await new Promise<void>((resolve) => socket.once('secureConnect', () => { resolve(); }));
  const started = performance.now();
  const closed = untilClosed(socket);
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BODY * 100}\r\n\r\n`);
  const chunk = Buffer.alloc(MAX_BODY, 0x61);
  for (let i = 0; i < 4 && !socket.destroyed; i++) {
    socket.write(chunk);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { data } = await closed;
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1]), openMs: performance.now() - started };
}

describe('after an early answer, the rest of the body', () => {
  it.each([
    ['a path with no route (404)', '/nope', 404],
    ['a wrong token (401)', '/mutate/wrong-token', 401],
    ['a declared size over the limit (413)', '/mutate/right-token-0123456789', 413],
  ])('is cut off past twice the limit: %s', async (_what, path, status) => {
    const outcome = await sendPastTheDiscard(path);
    expect(outcome.status).toBe(status);
    expect(outcome.openMs).toBeLessThan(LINGER_MS / 2);
  }, 30_000);
});

describe('after an early answer, a client that keeps sending slowly', () => {
  it('is cut off at the linger time, not at the request timeout', async () => {
    const lingering = await start({ lingerMs: 500, requestMs: 60_000, headersMs: 60_000 });
    try {
      const socket = tlsConnect({ host: '127.0.0.1', port: lingering.port, ca: pki.ca });
      await new Promise<void>((resolve) => socket.once('secureConnect', () => { resolve(); }));
      const started = performance.now();
      const closed = untilClosed(socket);
      socket.write(`POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY}\r\n\r\n`);
      // 100 bytes every 100 ms: far under the size that is cut off, for up to 20 s.
      for (let i = 0; i < 200 && !socket.destroyed; i++) {
        socket.write('x'.repeat(100));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const { data } = await closed;
      expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 404 /);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await lingering.close();
    }
  }, 40_000);
});
