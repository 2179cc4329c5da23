/**
 * The log of serve's certificate reload (src/serve/certificates.ts) across a failure, a success and
 * the same failure again: a refused pair is said once while it stays in the files, and said again
 * when it comes back after a pair was loaded; a loaded pair's files checked again say nothing.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '../../src/observability/log.js';
import { type KeyPair, loadKeyPair, reloadCertificates } from '../../src/serve/certificates.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

let pki: TestPki;
let dir: string;

beforeAll(async () => {
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), 'certificates-reload-log-'));
}, 60_000);

afterAll(async () => {
  await pki.remove();
  await rm(dir, { recursive: true, force: true });
});

it('a refused pair that comes back after a good one is said again; the good one checked again is not said', async () => {
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  const put = async (cert: string, key: string): Promise<void> => {
    await copyFile(cert, files.certFile);
    await copyFile(key, files.keyFile);
  };
  await put(pki.server.certFile, pki.server.keyFile);
  const logs: LogEntry[] = [];
  const log = (entry: LogEntry): void => {
    logs.push(entry);
  };
  const initial = await loadKeyPair(files, log);
  const applied: KeyPair[] = [];
  const watch = reloadCertificates(initial, files, (pair) => applied.push(pair), { pollMs: 3_600_000, log });
  const said = (): string[] => logs.slice(1).map((l) => l.msg);
  try {
    const next = await pki.issue('next');
    // The new certificate with the old key: refused, said once however often it is checked.
    await put(next.certFile, pki.server.keyFile);
    await watch.check();
    await watch.check();
    // The whole new pair: loaded; its files checked again say nothing more.
    await put(next.certFile, next.keyFile);
    await watch.check();
    await watch.check();
    expect(applied).toHaveLength(1);
    // The same refused pair again (a rollback of the Secret's key alone): said again.
    await put(next.certFile, pki.server.keyFile);
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
