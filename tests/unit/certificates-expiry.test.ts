/**
 * serve's certificate reload (src/serve/certificates.ts) when the certificate served expires while
 * serve runs and no new files come: its poll says so once, as an ERROR (before, nothing did: the
 * log had only the clients' failed handshakes). The wall clock is moved with jest's fake Date,
 * nothing else faked (the files are read for real).
 */
import { afterEach, expect, it, jest } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { useReloadFolder } from '../helpers/certificate-reload.js';

const folder = useReloadFolder('certificates-expiry-');
const EXPIRED = 'certificate served has expired; clients refuse it until the files hold a current one';

afterEach(() => {
  jest.useRealTimers();
});

/** Only Date is faked: timers, I/O and the monotonic clock stay real. */
const fakeDate = (): void => {
  jest.useFakeTimers({ doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
};

it('the certificate served expires while serve runs: said once, at the first check after its notAfter, and no more once a current one is loaded', async () => {
  const { pki } = folder;
  const { put, watch, initial, logs, applied } = await folder.start('tls', pki.server);
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
    await put(await pki.issue('next', { days: 3650 }));
    await watch.check();
    await watch.check();
    expect(applied).toHaveLength(1);
    expect(logs.filter((l) => l.msg === EXPIRED)).toHaveLength(1);
  } finally {
    watch.close();
  }
});

it('a certificate expired at start (its load line said so) is not said again by the checks', async () => {
  const { watch, logs } = await folder.start('old', await folder.pki.issue('old', { expired: true }));
  try {
    expect(logs).toEqual([expect.objectContaining({ level: 'warn', msg: 'certificate loaded', expired: true })]);
    await watch.check();
    expect(logs.filter((l) => l.msg === EXPIRED)).toEqual([]);
  } finally {
    watch.close();
  }
});

it('after a reload, the expiry said is the loaded certificate\'s: once, and not again for an expired one that the line of its load said', async () => {
  const { pki } = folder;
  const { put, watch, logs } = await folder.start('r', pki.server);
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
