/**
 * A TLS connection to `serve` from a chosen local address (any 127.x.y.z stands for another
 * caller) that sends nothing until the test writes to it: the API server's spare connection, or a
 * stranger's. Used by the tests of the spare-connection hold, with one process and with workers.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface SilentConnection {
  readonly socket: TLSSocket;
  /** True once the server closed it (or it failed). */
  readonly closed: () => boolean;
  /** The status line of the next answer, '' if the connection closed without one (waits up to 10 s). */
  readonly answer: () => Promise<string>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Connects from `localAddress` to 127.0.0.1:`port`, trusting `ca`, and resolves once the handshake is done. */
export async function openSilent(port: number, localAddress: string, ca: string | Buffer): Promise<SilentConnection> {
  const socket = tlsConnect({ host: '127.0.0.1', ca, socket: netConnect({ host: '127.0.0.1', port, localAddress }) });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => { resolve(); });
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  let isClosed = false;
  socket.once('close', () => { isClosed = true; });
  let text = '';
  socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  const answer = async (): Promise<string> => {
    for (let i = 0; i < 500 && !text.includes('\r\n\r\n') && !isClosed; i++) await sleep(20);
    const line = text.split('\r\n')[0] ?? '';
    text = '';
    return line;
  };
  return { socket, closed: () => isClosed, answer };
}
