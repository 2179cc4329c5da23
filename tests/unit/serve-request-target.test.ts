/**
 * `serve` and the forms of a request target: a server must accept the absolute form
 * (`GET https://host/healthz HTTP/1.1`, RFC 9112, 3.2.2) as it accepts the origin form; it was a 404,
 * since Node hands the target on as it came.
 */
import { describe, expect, it } from '@jest/globals';
import type { TLSSocket } from 'node:tls';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { ProxyHandler } from '../../src/serve/server.js';
import { useOkServer } from '../helpers/serve.js';
import { secureSocket, untilClosed } from '../helpers/tls.js';

const events: APIGatewayProxyEvent[] = [];
const TOKEN = 'abcdefghijklmnop0123';

const recording: ProxyHandler = (event) => {
  events.push(event);
  return Promise.resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{"status":"ok"}' });
};

const rig = useOkServer({ handler: recording, authorize: (t) => t === TOKEN });

const secure = (): Promise<TLSSocket> => secureSocket(rig.server.port, rig.pki.ca);

async function send(head: string): Promise<string> {
  const socket = await secure();
  const closed = untilClosed(socket);
  socket.write(head);
  return (await closed).data.toString('latin1');
}

describe('request targets', () => {
  it('routes the absolute form like the origin form, with the path and query the handler sees', async () => {
    events.length = 0;
    const answer = await send(`POST https://localhost:${rig.server.port}/mutate/${TOKEN}?timeout=5s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ resource: '/mutate/{token}', path: `/mutate/${TOKEN}`, pathParameters: { token: TOKEN }, queryStringParameters: { timeout: '5s' } });
    expect(await send('GET HTTPS://LOCALHOST/healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200/);
  });

  it('still checks the token and the route of an absolute-form target', async () => {
    expect(await send('POST https://localhost/mutate/wrongwrongwrongwrong HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}')).toMatch(/^HTTP\/1\.1 401/);
    expect(await send('GET https://localhost HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 404/);
    expect(await send('GET https://localhost/other/healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 404/);
  });
});
