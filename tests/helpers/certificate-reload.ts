/**
 * The set-up the tests of serve's certificate reload (src/serve/certificates.ts) share: a test PKI
 * and a scratch folder for a test file, and per test a pair of files in that folder with the
 * reload started on them, every line it logs and every pair it applies collected.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileWatch } from '../../src/config/file-watch.js';
import type { LogEntry } from '../../src/observability/log.js';
import { type CertificateFiles, type KeyPair, loadKeyPair, reloadCertificates } from '../../src/serve/certificates.js';
import { createTestPki, type TestPki } from './tls.js';

/** A pair of files the reload follows, and how to put another pair in their place. */
export interface FollowedPair {
  readonly files: CertificateFiles;
  /** Copies `pair`'s certificate and key over the followed files (the certificate first). */
  readonly put: (pair: CertificateFiles) => Promise<void>;
}

export interface ReloadFolder {
  /** The test PKI (read it inside tests and hooks only). */
  readonly pki: TestPki;
  /**
   * Copies `pair` to `NAME.crt` and `NAME.key` in the scratch folder, loads it and starts its
   * reload (the poll an hour apart: tests call `check`).
   */
  start(name: string, pair: CertificateFiles): Promise<FollowedPair & StartedReload>;
}

/**
 * Registers the hooks that make a test PKI and a scratch folder (named from `prefix`) before the
 * file's tests and remove both after.
 */
export function useReloadFolder(prefix: string): ReloadFolder {
  let pki: TestPki | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    pki = await createTestPki();
    dir = await mkdtemp(join(tmpdir(), prefix));
  }, 60_000);
  afterAll(async () => {
    await pki?.remove();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the reload folder is used before beforeAll made it');
    return value;
  };
  return {
    get pki() {
      return started(pki);
    },
    async start(name, pair) {
      const folder = started(dir);
      const files = { certFile: join(folder, `${name}.crt`), keyFile: join(folder, `${name}.key`) };
      const put = async (next: CertificateFiles): Promise<void> => {
        await copyFile(next.certFile, files.certFile);
        await copyFile(next.keyFile, files.keyFile);
      };
      await put(pair);
      return { files, put, ...(await startReload(files)) };
    },
  };
}

export interface StartedReload {
  readonly watch: FileWatch;
  /** The pair loaded at start. */
  readonly initial: KeyPair;
  /** Every line logged, from the load's on. */
  readonly logs: LogEntry[];
  /** The pairs the reload applied, in order. */
  readonly applied: KeyPair[];
}

async function startReload(files: CertificateFiles): Promise<StartedReload> {
  const logs: LogEntry[] = [];
  const log = (entry: LogEntry): void => {
    logs.push(entry);
  };
  const initial = await loadKeyPair(files, log);
  const applied: KeyPair[] = [];
  const watch = reloadCertificates(initial, files, (pair) => applied.push(pair), { pollMs: 3_600_000, log });
  return { watch, initial, logs, applied };
}
