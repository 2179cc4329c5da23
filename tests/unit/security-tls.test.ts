/**
 * Security review of `serve`'s TLS: TLS 1.2 minimum, and at TLS 1.2 only ECDHE key exchange with
 * AEAD ciphers. Regression test for the review's finding: with Node's default cipher list (which
 * ends in `HIGH`) a client could pick static-RSA key exchange (no forward secrecy) or CBC suites
 * with SHA-1 MACs; serve now sets TLS_CIPHERS. Each row is a client that offers only one suite.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MIN_TLS_VERSION, TLS_CIPHERS } from '../../src/serve/certificates.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

const run = promisify(execFile);

let pki: TestPki;
let ec: RunningServer;
let rsa: RunningServer;
let rsaCert: string;

beforeAll(async () => {
  pki = await createTestPki();
  const key = join(pki.dir, 'rsa.key');
  const cert = join(pki.dir, 'rsa.crt');
  await run(process.env['OPENSSL'] ?? 'openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2'], { timeout: 60_000 });
  rsaCert = await readFile(cert, 'utf8');
  const handler = () => Promise.resolve({ statusCode: 200, body: '{}' });
  ec = await startServer({ handler, certFile: pki.server.certFile, keyFile: pki.server.keyFile, host: '127.0.0.1', port: 0 });
  rsa = await startServer({ handler, certFile: cert, keyFile: key, host: '127.0.0.1', port: 0 });
}, 60_000);

afterAll(async () => {
  await Promise.all([ec.close(), rsa.close()]);
  await pki.remove();
});

/** The protocol and suite negotiated, or the error's message. */
function handshake(port: number, ca: string, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, ...options }, () => {
      resolve(`${socket.getProtocol() ?? '?'} ${socket.getCipher().standardName}`);
      socket.end();
    });
    socket.on('error', (e: Error) => {
      resolve(`refused: ${e.message}`);
    });
  });
}

const tls12 = (ciphers: string): ConnectionOptions => ({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: `${ciphers}:@SECLEVEL=0` });

describe('serve TLS settings', () => {
  it('requires TLS 1.2 or newer and names its suites', () => {
    expect(MIN_TLS_VERSION).toBe('TLSv1.2');
    expect(TLS_CIPHERS.split(':').every((c) => c.startsWith('TLS_') || (c.startsWith('ECDHE-') && /GCM|CHACHA20/.test(c)))).toBe(true);
  });

  it.each([
    { cert: 'EC', suite: 'ECDHE-ECDSA-AES128-GCM-SHA256', ok: true },
    { cert: 'EC', suite: 'ECDHE-ECDSA-AES256-GCM-SHA384', ok: true },
    { cert: 'EC', suite: 'ECDHE-ECDSA-CHACHA20-POLY1305', ok: true },
    { cert: 'EC', suite: 'ECDHE-ECDSA-AES128-SHA', ok: false },
    { cert: 'EC', suite: 'ECDHE-ECDSA-AES256-SHA', ok: false },
    { cert: 'EC', suite: 'ECDHE-ECDSA-AES128-SHA256', ok: false },
    { cert: 'EC', suite: 'ECDHE-ECDSA-AES256-SHA384', ok: false },
    { cert: 'RSA', suite: 'ECDHE-RSA-AES128-GCM-SHA256', ok: true },
    { cert: 'RSA', suite: 'ECDHE-RSA-CHACHA20-POLY1305', ok: true },
    { cert: 'RSA', suite: 'AES128-GCM-SHA256', ok: false },
    { cert: 'RSA', suite: 'AES256-GCM-SHA384', ok: false },
    { cert: 'RSA', suite: 'AES128-SHA', ok: false },
    { cert: 'RSA', suite: 'DHE-RSA-AES128-GCM-SHA256', ok: false },
    { cert: 'RSA', suite: 'ECDHE-RSA-AES128-SHA', ok: false },
  ])('TLS 1.2, $cert certificate, client offering only $suite: $ok', async ({ cert, suite, ok }) => {
    const [server, ca] = cert === 'EC' ? [ec, pki.ca] : [rsa, rsaCert];
    const got = await handshake(server.port, ca, tls12(suite));
    if (ok) expect(got).toMatch(/^TLSv1\.2 TLS_ECDHE_/);
    else expect(got).toMatch(/^refused: /);
  });

  it.each(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'])('TLS 1.3 with %s', async (suite) => {
    expect(await handshake(ec.port, pki.ca, { minVersion: 'TLSv1.3', ciphers: suite })).toBe(`TLSv1.3 ${suite}`);
  });

  it('a default client gets TLS 1.3', async () => {
    expect(await handshake(ec.port, pki.ca, {})).toMatch(/^TLSv1\.3 TLS_AES_/);
  });

  it.each(['TLSv1', 'TLSv1.1'] as const)('refuses %s', async (version) => {
    expect(await handshake(ec.port, pki.ca, { minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' })).toMatch(/^refused: /);
  });
});
