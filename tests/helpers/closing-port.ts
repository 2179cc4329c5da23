/** A registry that never completes a TLS handshake, for the existence checks' unreachable paths. */
import { afterAll, beforeAll } from '@jest/globals';
import { type AddressInfo, createServer, type Server } from 'node:net';

export interface ClosingPort {
  /** The port on 127.0.0.1; read it inside tests and hooks only. */
  readonly port: number;
}

/** Registers the hooks of a TCP port on 127.0.0.1 that accepts each connection and closes it at once. */
export function useClosingPort(): ClosingPort {
  let server: Server | undefined;
  let port = 0;
  beforeAll(async () => {
    const s = createServer((socket) => socket.destroy());
    server = s;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    port = (s.address() as AddressInfo).port;
  });
  afterAll(async () => {
    const s = server;
    if (s !== undefined) await new Promise((resolve) => s.close(resolve));
  });
  return {
    get port() {
      return port;
    },
  };
}
