/**
 * `serve` over time: the certificate rotated the way a Kubernetes Secret volume does it (and bad
 * new files kept out), graceful shutdown with requests in flight (zero failed), bounded shutdown,
 * and the errors that stop it from starting.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, truncate, unlink, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { LogEntry } from '../../src/observability/log.js';
import { type RunningServer, type ServerOptions, startServer } from '../../src/serve/server.js';
import { ok, recorder } from '../helpers/serve.js';
import { createRotationPki, httpsRequest, type IssuedCertificate, type RotationPki, peerCertificate, SecretVolume, type TestPki, untilClosed } from '../helpers/tls.js';

let rig: RotationPki;
let pki: TestPki;
let second: IssuedCertificate;
let third: IssuedCertificate;
let scratch: string;

beforeAll(async () => {
  rig = await createRotationPki('serve-lifecycle-');
  ({ pki, second, third, scratch } = rig);
});

afterAll(() => rig.remove());

const start = (options: Partial<ServerOptions> & Pick<ServerOptions, 'certFile' | 'keyFile'>): Promise<RunningServer> =>
  startServer({ handler: ok, host: '127.0.0.1', port: 0, certificatePollMs: 200, ...options });

const reloaded = (cert: IssuedCertificate) => (e: LogEntry) => e.msg === 'certificate reloaded' && e['serialNumber'] === cert.serialNumber;
const reloadFailed = (reason: RegExp) => (e: LogEntry) => e.msg === 'certificate reload failed; keeping the current certificate' && reason.test(String(e['reason']));

describe('certificate rotation', () => {
  it('follows a Kubernetes Secret volume: new connections get the new certificate, bad files are kept out', async () => {
    const volume = await SecretVolume.create(scratch, pki.server);
    const logs = recorder();
    const server = await start({ certFile: volume.certFile, keyFile: volume.keyFile, log: logs.log });
    try {
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(pki.server.serialNumber);

      let event = logs.next(reloaded(second));
      await volume.update(second);
      await event;
      const seen = await peerCertificate(server.port, pki.ca);
      expect(seen).toEqual({ serialNumber: second.serialNumber, fingerprint256: second.fingerprint256 });

      event = logs.next(reloadFailed(/PEM certificate/));
      await volume.update({ cert: 'not a certificate\n', key: second.key });
      await event;
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(second.serialNumber);

      event = logs.next(reloadFailed(/does not belong to the certificate/));
      await volume.update({ cert: third.cert, key: second.key });
      await event;
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(second.serialNumber);
      expect((await httpsRequest({ port: server.port, ca: pki.ca, path: '/healthz' })).status).toBe(200);

      event = logs.next(reloaded(third));
      await volume.update(third);
      await event;
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(third.serialNumber);
    } finally {
      await server.close();
    }
  });

  it('follows plain files rewritten in place, and keeps the certificate when they disappear', async () => {
    const dir = await mkdtemp(join(scratch, 'plain-'));
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    await copyFile(pki.server.certFile, certFile);
    await copyFile(pki.server.keyFile, keyFile);
    const logs = recorder();
    const server = await start({ certFile, keyFile, log: logs.log });
    try {
      let event = logs.next(reloaded(second));
      await writeFile(keyFile, second.key);
      await writeFile(certFile, second.cert);
      await event;
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(second.serialNumber);

      event = logs.next(reloadFailed(/ENOENT/));
      await unlink(certFile);
      await event;
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(second.serialNumber);

      // Put back as it was: said, so that the ERROR is not the last line.
      event = logs.next((e) => e.msg === 'certificate files hold the certificate served again');
      await writeFile(certFile, second.cert);
      expect(await event).toMatchObject({ level: 'info', serialNumber: second.serialNumber });
    } finally {
      await server.close();
    }
  });

  it('keeps existing connections on the certificate they started with', async () => {
    const volume = await SecretVolume.create(scratch, pki.server);
    const logs = recorder();
    const server = await start({ certFile: volume.certFile, keyFile: volume.keyFile, log: logs.log });
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca }, () => {
        resolve(s);
      });
      s.on('error', reject);
    });
    try {
      const before = socket.getPeerCertificate().serialNumber.toUpperCase();
      const event = logs.next(reloaded(second));
      await volume.update(second);
      await event;
      const closed = untilClosed(socket);
      socket.end('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      const { data } = await closed;
      expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
      expect(before).toBe(pki.server.serialNumber);
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(second.serialNumber);
    } finally {
      await server.close();
    }
  });
});

describe('an expired certificate', () => {
  it('does not replace a valid one: every client would refuse it (the webhook would fail open)', async () => {
    const expired = await pki.issue('expired', { expired: true });
    const volume = await SecretVolume.create(scratch, pki.server);
    const logs = recorder();
    const server = await start({ certFile: volume.certFile, keyFile: volume.keyFile, log: logs.log });
    try {
      const event = logs.next((e) => reloaded(expired)(e) || reloadFailed(/./)(e));
      await volume.update(expired);
      expect(await event).toMatchObject({ msg: 'certificate reload failed; keeping the current certificate', reason: expect.stringMatching(/^the new certificate expired on Jan {1,2}2 00:00:00 2020 GMT/) as unknown });
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(pki.server.serialNumber);
      expect(logs.entries.some((e) => e.msg === 'certificate reloaded')).toBe(false);

      // A valid one after it is taken as usual.
      const next = logs.next(reloaded(third));
      await volume.update(third);
      await next;
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(third.serialNumber);
    } finally {
      await server.close();
    }
  });

  it('is still served when it is all there is (at start: a warning)', async () => {
    const expired = await pki.issue('expired-start', { expired: true });
    const logs = recorder();
    const server = await start({ certFile: expired.certFile, keyFile: expired.keyFile, log: logs.log });
    try {
      expect(logs.entries).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'certificate loaded', expired: true }));
    } finally {
      await server.close();
    }
  });
});

// Regression: a pair whose notBefore was still ahead (made on a machine whose clock ran ahead, or
// issued for later) replaced the valid one, logged at INFO with `expired: false`: the API server
// refused it ("not yet valid") and every call failed, with nothing in serve's log to say why.
describe('a certificate not valid yet', () => {
  it('does not replace a valid one, and says why', async () => {
    const early = await pki.issue('not-yet-valid', { notYetValid: true });
    const volume = await SecretVolume.create(scratch, pki.server);
    const logs = recorder();
    const server = await start({ certFile: volume.certFile, keyFile: volume.keyFile, log: logs.log });
    try {
      const event = logs.next((e) => reloaded(early)(e) || reloadFailed(/./)(e));
      await volume.update(early);
      expect(await event).toMatchObject({ msg: 'certificate reload failed; keeping the current certificate', reason: expect.stringMatching(/^the new certificate is not valid before Jan {1,2}1 00:00:00 2099 GMT/) as unknown });
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(pki.server.serialNumber);
    } finally {
      await server.close();
    }
  });

  it('is replaced by a newer one while the one served is not valid yet either, and refused again once a valid one is served', async () => {
    const early = await pki.issue('not-yet-valid-a', { notYetValid: true });
    const later = await pki.issue('not-yet-valid-b', { notYetValid: true });
    const volume = await SecretVolume.create(scratch, early);
    const logs = recorder();
    const server = await start({ certFile: volume.certFile, keyFile: volume.keyFile, log: logs.log });
    try {
      // A few checks of unchanged files first (every 200 ms here): nothing to say.
      await new Promise((resolve) => setTimeout(resolve, 700));
      // Neither is valid: the newer files win, with a warning.
      let event = logs.next((e) => reloaded(later)(e) || reloadFailed(/./)(e));
      await volume.update(later);
      expect(await event).toMatchObject({ level: 'warn', msg: 'certificate reloaded', notYetValid: true });
      // A valid one replaces it.
      event = logs.next((e) => reloaded(pki.server)(e) || reloadFailed(/./)(e));
      await volume.update(pki.server);
      expect(await event).toMatchObject({ level: 'info', msg: 'certificate reloaded', notYetValid: false });
      // From then on, one not valid yet is refused: the one served is valid now.
      event = logs.next((e) => reloaded(early)(e) || reloadFailed(/./)(e));
      await volume.update(early);
      expect(await event).toMatchObject({ msg: 'certificate reload failed; keeping the current certificate', reason: expect.stringMatching(/^the new certificate is not valid before /) as unknown });
      expect((await peerCertificate(server.port, pki.ca)).serialNumber).toBe(pki.server.serialNumber);
      // The files never held the served pair again after a failure: no line says so, however many checks ran.
      expect(logs.entries.filter((e) => e.msg === 'certificate files hold the certificate served again')).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('is served when it is all there is, with a warning (at start)', async () => {
    const early = await pki.issue('not-yet-valid-start', { notYetValid: true });
    const logs = recorder();
    const server = await start({ certFile: early.certFile, keyFile: early.keyFile, log: logs.log });
    try {
      expect(logs.entries).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'certificate loaded', expired: false, notYetValid: true }));
    } finally {
      await server.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('finishes every request in flight (zero failed), closes idle connections after the grace, refuses new ones', async () => {
    const N = 8;
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = 0;
    let allEntered = (): void => undefined;
    const everyoneIn = new Promise<void>((resolve) => {
      allEntered = resolve;
    });
    const logs = recorder();
    const server = await start({
      certFile: pki.server.certFile,
      keyFile: pki.server.keyFile,
      log: logs.log,
      handler: async (event): Promise<APIGatewayProxyResult> => {
        if (event.path === '/healthz') return ok(event, undefined as never);
        entered++;
        if (entered === N) allEntered();
        await gate;
        return { statusCode: 200, body: JSON.stringify({ done: true }) };
      },
    });

    // An idle keep-alive connection: one answered request, then nothing.
    const idle = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca }, () => {
        s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
      s.on('data', (d: Buffer) => {
        if (d.toString('latin1').includes('{"status":"ok"}')) resolve(s);
      });
      s.on('error', reject);
    });
    const idleClosed = untilClosed(idle);

    const inFlight = Array.from({ length: N }, () => httpsRequest({ port: server.port, ca: pki.ca, method: 'POST', path: '/mutate', body: '{}' }));
    await everyoneIn;

    const closing = server.close();
    expect(server.close()).toBe(closing);
    await idleClosed;
    const refused = await httpsRequest({ port: server.port, ca: pki.ca, path: '/healthz' }).then(
      (a) => `answered ${a.status}`,
      (e: unknown) => (e as NodeJS.ErrnoException).code,
    );
    expect(refused).toBe('ECONNREFUSED');

    release();
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: N }, () => 200));
    expect(answers.every((a) => a.headers.connection === 'close')).toBe(true);
    await closing;
    expect(logs.entries.some((e) => e.msg === 'shutdown deadline reached; closing the remaining connections')).toBe(false);
    expect(logs.entries.at(-1)?.msg).toBe('stopped');
  });

  /** A keep-alive connection to the server that has had one answer (GET /healthz), idle between two requests. */
  const keptAlive = (port: number): Promise<TLSSocket> =>
    new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca }, () => {
        s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
      s.on('data', (d: Buffer) => {
        if (d.toString('latin1').includes('{"status":"ok"}')) resolve(s);
      });
      s.on('error', reject);
    });

  it('answers a request sent on a keep-alive connection just as the shutdown starts (Connection: close), no reset', async () => {
    // A busy keep-alive client (the API server's) sends its next request as soon as it has read an
    // answer: at SIGTERM, about half the connections of a loaded server are between two requests.
    // Ending them at once lost the request already on the wire (4 to 6 resets per SIGTERM with 8
    // such clients).
    const server = await start({ certFile: pki.server.certFile, keyFile: pki.server.keyFile });
    const socket = await keptAlive(server.port);
    const closed = untilClosed(socket);
    const closing = server.close();
    socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}');
    const { data } = await closed;
    const text = data.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.toLowerCase()).toContain('connection: close');
    await closing;
  });

  it('answers /healthz 503 once the shutdown has started, so a readiness probe takes the Pod out of the Service', async () => {
    const server = await start({ certFile: pki.server.certFile, keyFile: pki.server.keyFile });
    const socket = await keptAlive(server.port);
    const closed = untilClosed(socket);
    const closing = server.close();
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const text = (await closed).data.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 503 /);
    expect(text).toContain('shutting down');
    await closing;
  });

  it('destroys a connection that never sent a request at the end of the grace, not at the deadline', async () => {
    const logs = recorder();
    const server = await start({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, log: logs.log, timeouts: { shutdownMs: 8000 } });
    // A client that does not end its side when the server ends its own (allowHalfOpen): only
    // destroying the connection frees it before the deadline.
    // (tls.connect takes allowHalfOpen; @types/node's ConnectionOptions does not list it.)
    const halfOpen = { host: '127.0.0.1', port: server.port, ca: pki.ca, allowHalfOpen: true };
    const silent = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect(halfOpen, () => {
        resolve(s);
      });
      s.on('error', reject);
    });
    silent.on('error', () => undefined);
    const started = Date.now();
    await server.close();
    silent.destroy();
    expect(Date.now() - started).toBeLessThan(4000);
    expect(logs.entries.some((e) => e.msg === 'shutdown deadline reached; closing the remaining connections')).toBe(false);
  });

  it('at the deadline also closes a connection still in its TLS handshake', async () => {
    const server = await start({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, timeouts: { shutdownMs: 300, handshakeMs: 30_000 } });
    const raw = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port: server.port }, () => {
        resolve(s);
      });
      s.on('error', reject);
    });
    const closed = untilClosed(raw);
    const started = Date.now();
    await server.close();
    await closed;
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('is bounded: a request still running at the deadline is cut off', async () => {
    const logs = recorder();
    let entered = (): void => undefined;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const server = await start({
      certFile: pki.server.certFile,
      keyFile: pki.server.keyFile,
      log: logs.log,
      timeouts: { shutdownMs: 300 },
      handler: () => {
        entered();
        return new Promise(() => undefined);
      },
    });
    const hanging = httpsRequest({ port: server.port, ca: pki.ca, method: 'POST', path: '/mutate', body: '{}' }).then(
      (a) => `answered ${a.status}`,
      (e: unknown) => (e as NodeJS.ErrnoException).code,
    );
    await inHandler;
    await server.close();
    expect(await hanging).toBe('ECONNRESET');
    expect(logs.entries.some((e) => e.msg === 'shutdown deadline reached; closing the remaining connections')).toBe(true);
  });
});

describe('start', () => {
  beforeAll(async () => {
    // Files an operator may hand over as they are: a key with a passphrase, a certificate in DER.
    const encrypted = createPrivateKey(second.key).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' });
    await writeFile(join(scratch, 'encrypted.key'), encrypted);
    await writeFile(join(scratch, 'server.der'), new X509Certificate(second.cert).raw);
    await writeFile(join(scratch, 'garbage.crt'), 'not a certificate\n');
    // A file of 3 GB named by mistake (sparse: no disk used). It was read whole: 3 GB failed as
    // ERR_FS_FILE_TOO_LARGE only after trying, and a smaller one took its size in memory.
    await writeFile(join(scratch, 'huge.crt'), '');
    await truncate(join(scratch, 'huge.crt'), 3 * 1024 ** 3);
  });

  it.each([
    { why: 'the key is encrypted', files: () => ({ certFile: second.certFile, keyFile: join(scratch, 'encrypted.key') }), message: /the private key is encrypted: serve needs it unencrypted/ },
    { why: 'the certificate is DER', files: () => ({ certFile: join(scratch, 'server.der'), keyFile: second.keyFile }), message: /does not hold a PEM certificate \(it holds DER/ },
    { why: 'the certificate file is missing', files: () => ({ certFile: join(scratch, 'nope.crt'), keyFile: pki.server.keyFile }), message: /cannot read certificate file .*nope\.crt: no such file or directory \(ENOENT\)$/ },
    { why: 'the certificate file is 3 GB', files: () => ({ certFile: join(scratch, 'huge.crt'), keyFile: pki.server.keyFile }), message: /cannot read .*huge\.crt: larger than 1048576 bytes/ },
    { why: 'the certificate file is a folder', files: () => ({ certFile: scratch, keyFile: pki.server.keyFile }), message: /cannot read .*serve-lifecycle-[^:]*: illegal operation on a directory \(EISDIR\)$/ },
    { why: 'the key does not match', files: () => ({ certFile: second.certFile, keyFile: third.keyFile }), message: /the private key does not belong to the certificate/ },
    { why: 'the certificate file holds a key', files: () => ({ certFile: pki.server.keyFile, keyFile: pki.server.keyFile }), message: /^certificate file .*, private key file .*: certificate file holds a private key, not a certificate$/ },
    // OpenSSL said "no start line", after both names: which file was which was left to guess.
    { why: 'the two files are swapped', files: () => ({ certFile: pki.server.keyFile, keyFile: pki.server.certFile }), message: /: certificate file holds a private key, not a certificate, and the private key file a certificate: the two files are swapped$/ },
    { why: 'the certificate is not PEM', files: () => ({ certFile: join(scratch, 'garbage.crt'), keyFile: pki.server.keyFile }), message: /: certificate file does not hold a PEM certificate \(/ },
  ])('fails with a clear ServeError when $why', async ({ files, message }) => {
    await expect(start(files())).rejects.toThrow(message);
    await expect(start(files())).rejects.toHaveProperty('name', 'ServeError');
  });

  it('fails when the port is taken', async () => {
    const blocker = createNetServer();
    const port = await new Promise<number>((resolve) => {
      blocker.listen(0, '127.0.0.1', () => {
        const address = blocker.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
    try {
      await expect(start({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, port })).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)$/);
    } finally {
      blocker.close();
    }
  });

  it.each([
    { why: 'a zero timeout', options: { timeouts: { requestMs: 0 } }, message: 'timeouts.requestMs must be a positive integer' },
    { why: 'a negative body limit', options: { maxBodyBytes: -1 }, message: 'maxBodyBytes must be a positive integer' },
    { why: 'a fractional connection limit', options: { maxConnections: 1.5 }, message: 'maxConnections must be a positive integer' },
  ])('rejects $why', async ({ options, message }) => {
    await expect(start({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, ...options })).rejects.toThrow(message);
  });

  it('reports where it listens, on every interface when no host is given', async () => {
    const server = await startServer({ handler: ok, certFile: pki.server.certFile, keyFile: pki.server.keyFile, port: 0 });
    try {
      expect(['::', '0.0.0.0']).toContain(server.address);
      expect(server.port).toBeGreaterThan(0);
      expect((await httpsRequest({ port: server.port, ca: pki.ca, path: '/healthz' })).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('the announced port (a serve --workers replacement asked for port 0)', () => {
  it('is bound when port 0 gives another one (the workers\' shared socket was closed)', async () => {
    // A port that was free a moment ago, as the one serve announced.
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const announced = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const server = await start({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, announcedPort: announced });
    try {
      expect(server.port).toBe(announced);
      expect((await peerCertificate(announced, pki.ca)).serialNumber).toBe(pki.server.serialNumber);
    } finally {
      await server.close();
    }
  });
});
