/**
 * `serve` when bad bytes follow complete requests on one connection (a Content-Length shorter than
 * the body, or garbage pipelined after a request): the requests read in full are answered first, in
 * order, and the protocol error's 400 comes after them (RFC 9112, 9.3.2). The 400 used to be written
 * at once, reaching the client as the answer to its first request, whose own answer was lost while
 * the log said it was sent.
 */
import { describe, expect, it } from '@jest/globals';
import type { TLSSocket } from 'node:tls';
import type { ProxyHandler } from '../../src/serve/server.js';
import { recorder, startOkServer, useOkServer } from '../helpers/serve.js';
import { httpsRequest, secureSocket, untilClosed } from '../helpers/tls.js';

const logs = recorder();

/** Answers after a moment (as a review that asks a registry does), echoing the body's size. */
const slow: ProxyHandler = (event) =>
  new Promise((resolve) => {
    setTimeout(() => {
      resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ bytes: event.body?.length ?? 0 }) });
    }, 50);
  });

const rig = useOkServer({ handler: slow, log: logs.log });

const secure = (): Promise<TLSSocket> => secureSocket(rig.server.port, rig.pki.ca);

/** The status lines of every answer the client got, in order. */
const statusLines = (data: Buffer): string[] => data.toString('latin1').match(/HTTP\/1\.1 \d{3}/g) ?? [];

describe('a protocol error after complete requests on the same connection', () => {
  it('answers the requests first, in order, then 400 and closes', async () => {
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}' + 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' + 'NOT HTTP AT ALL\r\n\r\n');
    const { data } = await closed;
    expect(statusLines(data)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 400']);
    expect(data.toString('latin1')).toContain('{"bytes":2}');
  });

  it('answers a request whose Content-Length is shorter than what was sent, then 400 for the rest', async () => {
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n{"a":1, "b": 2}');
    const { data } = await closed;
    expect(statusLines(data)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 400']);
    expect(data.toString('latin1')).toContain('{"bytes":5}');
  });

  it('logs the protocol error once, however many more chunks of bad bytes follow it', async () => {
    const isBad = (e: { msg?: unknown }): boolean => e.msg === 'bad request from client';
    const before = logs.entries.filter(isBad).length;
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}' + 'NOT HTTP AT ALL\r\n\r\n');
    // More chunks while the request is still being answered (the handler takes 50 ms): the parser reports each again.
    for (const chunk of ['MORE BAD BYTES\r\n', 'AND MORE\r\n\r\n']) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      socket.write(chunk);
    }
    const { data } = await closed;
    expect(statusLines(data)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 400']);
    expect(logs.entries.filter(isBad)).toHaveLength(before + 1);
  });

  it('holds the 400 until the last of the requests before it is answered, however long that one takes', async () => {
    // The second request takes longer than the first: the 400 waits for its answer, not the first's.
    const uneven = await startOkServer(rig.pki, {
      handler: (event) =>
        new Promise((resolve) => {
          const bytes = event.body?.length ?? 0;
          setTimeout(() => {
            resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ bytes }) });
          }, bytes > 2 ? 300 : 10);
        }),
      log: () => undefined,
    });
    try {
      const socket = await secureSocket(uneven.port, rig.pki.ca);
      const closed = untilClosed(socket);
      const slowBody = '{"slow":true}';
      socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}' + `POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${slowBody.length}\r\n\r\n${slowBody}` + 'NOT HTTP AT ALL\r\n\r\n');
      const { data } = await closed;
      expect(statusLines(data)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 400']);
      expect(data.toString('latin1')).toContain(`{"bytes":${slowBody.length}}`);
    } finally {
      await uneven.close();
    }
  });

  it('still answers 400 at once when no request is in flight, and keeps serving', async () => {
    const socket = await secure();
    const closed = untilClosed(socket);
    socket.write('NOT HTTP AT ALL\r\n\r\n');
    const { data } = await closed;
    expect(statusLines(data)).toEqual(['HTTP/1.1 400']);
    expect((await httpsRequest({ port: rig.server.port, ca: rig.pki.ca, path: '/healthz' })).status).toBe(200);
  });
});
