/**
 * A scriptable HTTPS server on 127.0.0.1 (test CA) standing in for a registry that misbehaves:
 * each test gives the handler; the server counts requests and remembers their paths and headers.
 * For the real registry, see ./registry.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestPki } from './tls.js';

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
