/**
 * serve checks the path token before it reads a body: a client with a wrong or no token gets 401 as
 * soon as its headers are in, with the connection closed, and nothing of its body is kept.
 *
 * Regression test: serve read and buffered up to 6 MiB per connection before the handler checked
 * the token, so tens of unauthenticated connections cost hundreds of MiB.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect as tlsConnect } from 'node:tls';
import { tokenMatcher } from '../../src/lambda/handler.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { createTestPki, type TestPki, untilClosed } from '../helpers/tls.js';

const TOKEN = 'serve-auth-token-0123456789abcdef';
let pki: TestPki;
let server: RunningServer;
let calls = 0;
const logged: Record<string, unknown>[] = [];

beforeAll(async () => {
  pki = await createTestPki();
  server = await startServer({
    handler: () => {
      calls++;
      return Promise.resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{}' });
    },
    authorize: tokenMatcher(TOKEN),
    certFile: pki.server.certFile,
    keyFile: pki.server.keyFile,
    host: '127.0.0.1',
    port: 0,
    log: (entry) => { logged.push({ ...entry }); },
  });
});

afterAll(async () => {
  await server.close();
  await pki.remove();
});

/** Send only the request head (a 5 MiB body announced, none sent) and read what comes back. */
async function headOnly(path: string): Promise<string> {
  const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca });
  await new Promise<void>((resolve) => socket.once('secureConnect', () => { resolve(); }));
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n`);
  const { data } = await untilClosed(socket);
  return data.toString('latin1');
}

describe('the token is checked before the body is read', () => {
  it.each(['/mutate/wrong-token', '/mutate', `/mutate/${TOKEN}x`])('%s: 401 with the body never sent, connection closed', async (path) => {
    const answer = await headOnly(path);
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toMatch(/connection: close/i);
    expect(answer).toContain('{"message":"unauthorized"}');
    expect(calls).toBe(0);
  });

  it('a refusal is logged as the handler logs it: a warning with the reason and the client, never the token', async () => {
    logged.length = 0;
    await headOnly('/mutate/wrong-token-0123456789');
    const rejected = logged.filter((l) => l['msg'] === 'request rejected');
    expect(rejected).toEqual([expect.objectContaining({ level: 'warn', status: 401, reason: 'wrong or missing webhook token', sourceIp: '127.0.0.1' })]);
    expect(logged).toContainEqual(expect.objectContaining({ msg: 'request', status: 401, resource: '/mutate/{token}' }));
    expect(JSON.stringify(logged)).not.toContain('wrong-token-0123456789');
  });

  it('the right token still reaches the handler', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca });
    await new Promise<void>((resolve) => socket.once('secureConnect', () => { resolve(); }));
    socket.end(`POST /mutate/${TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    const { data } = await untilClosed(socket);
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(calls).toBe(1);
  });
});

describe('/healthz needs no token, so it takes no body', () => {
  // Regression test: a GET /healthz announcing a body had it read and held against the body budget
  // (8 x the limit) like an admission: 8 connections of a stranger announcing the limit, and never
  // sending it, got every admission answered 503 (the webhook failing open) until their request
  // timeout, again and again.
  it('a health check announcing a body is answered at once, and holds nothing of the budget', async () => {
    const limit = 1000;
    const health = await startServer({
      handler: () => Promise.resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{}' }),
      authorize: tokenMatcher(TOKEN),
      certFile: pki.server.certFile,
      keyFile: pki.server.keyFile,
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: limit,
    });
    const held = Array.from({ length: 9 }, () => tlsConnect({ host: '127.0.0.1', port: health.port, ca: pki.ca }));
    try {
      let timer: NodeJS.Timeout | undefined;
      const noAnswer = new Promise<never>((_, reject) => {
        timer = setTimeout(() => { reject(new Error('no answer to a health check waiting for its announced body')); }, 3000);
      });
      const answers = await Promise.race([noAnswer, Promise.all(
        held.map(
          (socket) =>
            new Promise<string>((resolve, reject) => {
              socket.once('secureConnect', () => {
                socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: ${limit}\r\n\r\n`);
              });
              socket.once('data', (d: Buffer) => {
                resolve(d.toString('latin1'));
              });
              socket.once('error', reject);
            }),
        ),
      )]).finally(() => { clearTimeout(timer); });
      for (const a of answers) expect(a).toMatch(/^HTTP\/1\.1 200 /);
      const admission = await new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: health.port, ca: pki.ca }, () => {
          socket.end(`POST /mutate/${TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
        });
        untilClosed(socket).then(({ data }) => { resolve(data.toString('latin1')); }, reject);
      });
      expect(admission).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      for (const socket of held) socket.destroy();
      await health.close();
    }
  });
});
