/**
 * A scriptable HTTPS server on 127.0.0.1 (test CA) standing in for a registry that misbehaves:
 * each test gives the handler; the server counts requests and remembers their paths and headers.
 * For the real registry, see ./registry.ts. `useFakeRegistry` is the setup the verify tests share.
 */
import { afterAll, beforeAll, beforeEach } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { CredentialLookup } from '../../src/verify/oci.js';
import { createVerifier, type Verifier, type VerifierOptions } from '../../src/verify/verifier.js';
import { createTestPki, type TestPki } from './tls.js';

export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

export interface FakeRegistry {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly port: number;
  /** Requests seen so far: `METHOD path`. */
  readonly seen: { method: string; path: string; authorization: string | undefined; accept: string | undefined }[];
  route: Route;
  stop(): Promise<void>;
}

export async function startFakeRegistry(pki: TestPki, route: Route = (_req, res) => res.writeHead(404).end()): Promise<FakeRegistry> {
  const seen: FakeRegistry['seen'] = [];
  const fake: { route: Route } = { route };
  const server: Server = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    seen.push({ method: req.method ?? '', path: url.pathname + url.search, authorization: req.headers.authorization, accept: req.headers.accept });
    fake.route(req, res, url);
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    port,
    seen,
    get route() {
      return fake.route;
    },
    set route(r: Route) {
      fake.route = r;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** ECR lookups for tests that must not reach AWS: every one fails. */
export const noAws = (): Promise<never> => Promise.reject(new Error('no AWS here'));
/** Registry credentials for tests: none, so requests go anonymous. */
export const anonymous = (): Promise<CredentialLookup> => Promise.resolve({ credentials: undefined });

export interface FakeRegistrySetup {
  /** The test PKI the fake registry serves with (started in beforeAll). */
  readonly pki: TestPki;
  /** The fake registry (started in beforeAll, its `seen` emptied before each test). */
  readonly fake: FakeRegistry;
  /** A verifier that trusts the test CA: anonymous, no AWS, a 3 s deadline; `extra` overrides those. */
  verifier(extra?: Partial<VerifierOptions>): Verifier;
}

/**
 * The setup of a test file that checks images against a fake registry: registers the hooks that
 * start a test PKI and a fake registry before the file's tests, empty its request log before each
 * and stop both after. `pki` and `fake` may be used only inside tests and hooks.
 */
export function useFakeRegistry(): FakeRegistrySetup {
  let pki: TestPki | undefined;
  let fake: FakeRegistry | undefined;
  beforeAll(async () => {
    pki = await createTestPki();
    fake = await startFakeRegistry(pki);
  });
  afterAll(async () => {
    await fake?.stop();
    await pki?.remove();
  });
  beforeEach(() => {
    if (fake !== undefined) fake.seen.length = 0;
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is used before beforeAll started it`);
    return value;
  };
  const setup: FakeRegistrySetup = {
    get pki() {
      return started(pki, 'the test PKI');
    },
    get fake() {
      return started(fake, 'the fake registry');
    },
    verifier: (extra = {}) => createVerifier({ credentials: anonymous, ecr: noAws, http: { ca: setup.pki.ca }, deadlineMs: 3000, ...extra }),
  };
  return setup;
}
