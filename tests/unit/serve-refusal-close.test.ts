/**
 * Refusals that end their connection: a request without the token (401) and one whose body would
 * take the bytes in flight past their budget (503) are answered with `Connection: close`, and the
 * server closes the connection after the answer, though the client asked to keep it (src/serve/
 * requests.ts). A stranger keeps no slot, and a client under the budget's pressure goes elsewhere.
 */
import { describe, expect, it } from '@jest/globals';
import type { TLSSocket } from 'node:tls';
import { tokenMatcher } from '../../src/lambda/handler.js';
import { useOkServer } from '../helpers/serve.js';
import { secureSocket, untilClosed } from '../helpers/tls.js';

const TOKEN = 'refusal-close-token-0123456789';
const MAX_BODY = 1000;
/** Far longer than the test waits for the close: the keep-alive and header times of the server. */
const LONG = { keepAliveMs: 60_000, headersMs: 20_000, requestMs: 30_000 };


const rig = useOkServer({ authorize: tokenMatcher(TOKEN), maxBodyBytes: MAX_BODY, maxBodyBytesInFlight: 1500, timeouts: LONG, log: () => undefined });

const post = (path: string, body: string): string => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

/** Send `request` whole on a keep-alive connection; the answer and how long the connection stayed open. */
async function answerAndClose(socket: TLSSocket, request: string): Promise<{ text: string; openMs: number }> {
  const started = performance.now();
  const closed = untilClosed(socket);
  socket.write(request);
  const { data } = await closed;
  return { text: data.toString('latin1'), openMs: performance.now() - started };
}

describe('refusals that close the connection', () => {
  it('a wrong token: 401, Connection: close, and the connection ends', async () => {
    const { text, openMs } = await answerAndClose(await secureSocket(rig.server.port, rig.pki.ca), post('/mutate/wrong-token-0123456789', '{}'));
    expect(text).toMatch(/^HTTP\/1\.1 401 /);
    expect(text.toLowerCase()).toContain('connection: close');
    expect(openMs).toBeLessThan(5000);
  }, 30_000);

  it('bytes in flight over the budget: 503, Connection: close, and the connection ends', async () => {
    // A request that announced the limit and sends its body slowly holds 1000 of the 1500 bytes.
    const holder = await secureSocket(rig.server.port, rig.pki.ca);
    holder.on('error', () => undefined);
    holder.write(`POST /mutate/${TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY}\r\n\r\n{`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    try {
      const { text, openMs } = await answerAndClose(await secureSocket(rig.server.port, rig.pki.ca), post(`/mutate/${TOKEN}`, 'x'.repeat(MAX_BODY)));
      expect(text).toMatch(/^HTTP\/1\.1 503 /);
      expect(text.toLowerCase()).toContain('connection: close');
      expect(openMs).toBeLessThan(5000);
    } finally {
      holder.destroy();
    }
  }, 30_000);
});
