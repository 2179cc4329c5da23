/**
 * serve's certificate reload (src/serve/certificates.ts) when the certificate served expires while
 * serve runs and no new files come: its poll says so once, as an ERROR (before, nothing did: the
 * log had only the clients' failed handshakes). The wall clock is moved with jest's fake Date,
 * nothing else faked (the files are read for real).
 */
import { afterAll, afterEach, beforeAll, expect, it, jest } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '../../src/observability/log.js';
import { type KeyPair, loadKeyPair, reloadCertificates } from '../../src/serve/certificates.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

let pki: TestPki;
let dir: string;
const EXPIRED = 'certificate served has expired; clients refuse it until the files hold a current one';

beforeAll(async () => {
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), 'certificates-expiry-'));
}, 60_000);

afterAll(async () => {
  await pki.remove();
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  jest.useRealTimers();
});

/** Only Date is faked: timers, I/O and the monotonic clock stay real. */
const fakeDate = (): void => {
  jest.useFakeTimers({ doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
};

it('the certificate served expires while serve runs: said once, at the first check after its notAfter, and no more once a current one is loaded', async () => {
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  await copyFile(pki.server.certFile, files.certFile);
  await copyFile(pki.server.keyFile, files.keyFile);
  const logs: LogEntry[] = [];
  const log = (entry: LogEntry): void => {
    logs.push(entry);
  };
  const initial = await loadKeyPair(files, log);
  const applied: KeyPair[] = [];
  const watch = reloadCertificates(initial, files, (pair) => applied.push(pair), { pollMs: 3_600_000, log });
  try {
    const served = new X509Certificate(initial.cert);
    await watch.check();
    expect(logs.filter((l) => l.msg === EXPIRED)).toEqual([]);
    fakeDate();
    jest.setSystemTime(Date.parse(served.validTo) + 1000);
    await watch.check();
    await watch.check();
    expect(logs.filter((l) => l.msg === EXPIRED)).toEqual([{ level: 'error', msg: EXPIRED, subject: served.subject.replace(/\n/g, ', '), serialNumber: served.serialNumber, validTo: served.validTo }]);
    // A current certificate put in place: loaded, and nothing more said.
    const next = await pki.issue('next', { days: 3650 });
    await copyFile(next.certFile, files.certFile);
    await copyFile(next.keyFile, files.keyFile);
    await watch.check();
    await watch.check();
    expect(applied).toHaveLength(1);
    expect(logs.filter((l) => l.msg === EXPIRED)).toHaveLength(1);
  } finally {
    watch.close();
  }
});

it('a certificate expired at start (its load line said so) is not said again by the checks', async () => {
  const files = { certFile: join(dir, 'old.crt'), keyFile: join(dir, 'old.key') };
  const old = await pki.issue('old', { expired: true });
  await copyFile(old.certFile, files.certFile);
  await copyFile(old.keyFile, files.keyFile);
  const logs: LogEntry[] = [];
  const log = (entry: LogEntry): void => {
    logs.push(entry);
  };
  const initial = await loadKeyPair(files, log);
  expect(logs).toEqual([expect.objectContaining({ level: 'warn', msg: 'certificate loaded', expired: true })]);
  const watch = reloadCertificates(initial, files, () => undefined, { pollMs: 3_600_000, log });
  try {
    await watch.check();
    expect(logs.filter((l) => l.msg === EXPIRED)).toEqual([]);
  } finally {
    watch.close();
  }
});

it('after a reload, the expiry said is the loaded certificate\'s: once, and not again for an expired one that the line of its load said', async () => {
  const files = { certFile: join(dir, 'r.crt'), keyFile: join(dir, 'r.key') };
  const put = async (pair: { readonly certFile: string; readonly keyFile: string }): Promise<void> => {
    await copyFile(pair.certFile, files.certFile);
    await copyFile(pair.keyFile, files.keyFile);
  };
  await put(pki.server);
  const logs: LogEntry[] = [];
  const log = (entry: LogEntry): void => {
    logs.push(entry);
  };
  const watch = reloadCertificates(await loadKeyPair(files, log), files, () => undefined, { pollMs: 3_600_000, log });
  try {
    fakeDate();
    jest.setSystemTime(Date.parse(new X509Certificate(pki.server.cert).validTo) + 1000);
    await watch.check();
    expect(logs.filter((l) => l.msg === EXPIRED)).toHaveLength(1);
    // Another expired pair: loaded (neither can serve; the newer files win), its load line says it expired.
    await put(await pki.issue('also-old', { expired: true }));
    await watch.check();
    await watch.check();
    expect(logs.filter((l) => l.msg === 'certificate reloaded')).toEqual([expect.objectContaining({ level: 'warn', expired: true })]);
    expect(logs.filter((l) => l.msg === EXPIRED)).toHaveLength(1);
    // A current pair, then its own expiry: the ERROR names it, not the first.
    const next = await pki.issue('next', { days: 30 });
    await put(next);
    await watch.check();
    const nextX509 = new X509Certificate(next.cert);
    jest.setSystemTime(Date.parse(nextX509.validTo) + 1000);
    await watch.check();
    expect(logs.filter((l) => l.msg === EXPIRED).map((l) => l['serialNumber'])).toEqual([new X509Certificate(pki.server.cert).serialNumber, nextX509.serialNumber]);
  } finally {
    watch.close();
  }
});
