/**
 * The log of serve's certificate reload (src/serve/certificates.ts) across a failure, a success and
 * the same failure again: a refused pair is said once while it stays in the files, and said again
 * when it comes back after a pair was loaded; a loaded pair's files checked again say nothing.
 */
import { expect, it } from '@jest/globals';
import { useReloadFolder } from '../helpers/certificate-reload.js';

const folder = useReloadFolder('certificates-reload-log-');

it('a refused pair that comes back after a good one is said again; the good one checked again is not said', async () => {
  const { pki } = folder;
  const { put, watch, logs, applied } = await folder.start('tls', pki.server);
  const said = (): string[] => logs.slice(1).map((l) => l.msg);
  try {
    const next = await pki.issue('next');
    // The new certificate with the old key: refused, said once however often it is checked.
    await put({ certFile: next.certFile, keyFile: pki.server.keyFile });
    await watch.check();
    await watch.check();
    // The whole new pair: loaded; its files checked again say nothing more.
    await put(next);
    await watch.check();
    await watch.check();
    expect(applied).toHaveLength(1);
    // The same refused pair again (a rollback of the Secret's key alone): said again.
    await put({ certFile: next.certFile, keyFile: pki.server.keyFile });
    await watch.check();
    expect(said()).toEqual([
      'certificate reload failed; keeping the current certificate',
      'certificate reloaded',
      'certificate reload failed; keeping the current certificate',
    ]);
  } finally {
    watch.close();
  }
});
