/**
 * `serve` with its default timeouts keeps an idle keep-alive connection longer than the API server
 * does. kube-apiserver calls webhooks through client-go's transport, whose IdleConnTimeout is Go's
 * 90 s (apimachinery's SetOldTransportDefaults): the client must be the one that closes, or a review
 * written as the server's close crosses it fails (Go retries no POST once written) and the API
 * server applies the failurePolicy; the same for a spare connection it dialed and never used. Real
 * time, not scaled: the defaults are what is under test (about 95 s; an integration test for that
 * reason).
 */
import { expect, it } from '@jest/globals';
import type { TLSSocket } from 'node:tls';
import { useOkServer } from '../helpers/serve.js';
import { secureSocket } from '../helpers/tls.js';

/** The API server's HTTP client closes an idle connection after this (Go's http.DefaultTransport). */
const API_SERVER_IDLE_CONN_MS = 90_000;

const rig = useOkServer();

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends one POST on `socket` and resolves with the raw answer (the ok handler's body ends it). */
function post(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer): void => {
      text += c.toString('latin1');
      if (text.endsWith('{"status":"ok"}')) {
        done();
        resolve(text);
      }
    };
    const onClose = (): void => {
      done();
      reject(new Error(`the connection closed before the answer (got ${JSON.stringify(text)})`));
    };
    const done = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    const body = '{"kind":"AdmissionReview"}';
    socket.write(`POST /mutate/t HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
}

it('answers on the same connection after it idled past the API server client idle time (90 s), and says so in Keep-Alive; and on a spare one it opened beside it and had not used', async () => {
  const socket = await secureSocket(rig.server.port, rig.pki.ca);
  let closedAfterMs: number | undefined;
  let spare: TLSSocket | undefined;
  let spareClosedAfterMs: number | undefined;
  const opened = Date.now();
  socket.on('close', () => {
    closedAfterMs = Date.now() - opened;
  });
  try {
    const first = await post(socket);
    expect(first).toMatch(/^HTTP\/1\.1 200 /);
    // What a client that reads the hint learns: at least the API server's idle time.
    const hint = /\r\nKeep-Alive: timeout=(\d+)\r\n/i.exec(first);
    expect(hint).not.toBeNull();
    expect(Number(hint?.[1]) * 1000).toBeGreaterThan(API_SERVER_IDLE_CONN_MS);
    // A connection the client dialed for a burst and never used (the API server keeps such spare
    // ones in its pool as long as the others): kept past Node's headers timeout (10 s) and its
    // idle socket timeout (60 s).
    spare = await secureSocket(rig.server.port, rig.pki.ca);
    spare.on('close', () => {
      spareClosedAfterMs = Date.now() - opened;
    });
    // Read (and drop) what comes before the POST, as Go's connection reader does: a close is seen.
    spare.resume();

    await pause(API_SERVER_IDLE_CONN_MS + 2_000);
    expect({ closedAfterMs, spareClosedAfterMs }).toEqual({ closedAfterMs: undefined, spareClosedAfterMs: undefined });
    const second = await post(socket);
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    expect(await post(spare)).toMatch(/^HTTP\/1\.1 200 /);
  } finally {
    socket.destroy();
    spare?.destroy();
  }
}, 150_000);
