/**
 * serve and `Expect: 100-continue` (curl sends it for bodies over 1 MiB): 100 Continue is sent only
 * once the route, the token and the announced size have passed, just before the body is read. A
 * request refused before that gets its final answer instead, with the connection closed (the body it
 * announced never comes, so the connection cannot carry another request).
 *
 * Regression test: Node answered 100 Continue to every such request as soon as its head was in, so
 * a client with a wrong token, an unknown path or a body over the limit was told to send its body
 * (megabytes) before being refused, and a 413 kept the connection open for a body that would follow.
 */
import { describe, expect, it } from '@jest/globals';
import type { TLSSocket } from 'node:tls';
import { tokenMatcher } from '../../src/lambda/handler.js';
import { useOkServer } from '../helpers/serve.js';
import { secureSocket, untilClosed } from '../helpers/tls.js';

const TOKEN = 'expect-continue-token-0123456789';
const MAX_BODY = 64 * 1024;

const rig = useOkServer({ authorize: tokenMatcher(TOKEN), maxBodyBytes: MAX_BODY });

const secure = (): Promise<TLSSocket> => secureSocket(rig.server.port, rig.pki.ca);

const head = (path: string, length: number): string =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

describe('Expect: 100-continue', () => {
  it.each([
    ['a wrong token', '/mutate/wrong-token-0123456789', 1000, 401],
    ['no token', '/mutate', 1000, 401],
    ['an unknown path', `/nope/${TOKEN}`, 1000, 404],
    ['a body over the limit', `/mutate/${TOKEN}`, MAX_BODY + 1, 413],
  ])('%s: the final answer without 100 Continue, connection closed', async (_what, path, length, status) => {
    const socket = await secure();
    // The body is held back, as a client waiting for 100 Continue does: the server must close.
    socket.write(head(path, length));
    const { data } = await untilClosed(socket);
    const text = data.toString('latin1');
    expect(text).not.toContain('100 Continue');
    expect(text).toMatch(new RegExp(`^HTTP/1\\.1 ${String(status)} `));
    expect(text.toLowerCase()).toContain('connection: close');
  });

  it('the right token and an acceptable size: 100 Continue, then the body is read and answered', async () => {
    const socket = await secure();
    const closed = untilClosed(socket);
    const body = '{}';
    const continued = new Promise<string>((resolve) => {
      socket.once('data', (chunk: Buffer) => { resolve(chunk.toString('latin1')); });
    });
    socket.write(head(`/mutate/${TOKEN}`, body.length).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    expect(await continued).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    socket.write(body);
    const { data } = await closed;
    expect(data.toString('latin1')).toMatch(/HTTP\/1\.1 200 OK[\s\S]*\{"status":"ok"\}$/);
  });
});
