/**
 * Request bodies under limits: read one up to a byte limit, or, after an early answer, read and drop
 * the rest of it for a bounded time and size.
 */
import type { IncomingMessage } from 'node:http';

export type BodyResult =
  | { readonly kind: 'ok'; readonly body: Buffer }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'aborted' };

/**
 * Read the body up to `limit` bytes; stop keeping it as soon as it is (or is declared) larger.
 * `beforeRead` runs once a declared size has passed the check, just before reading starts (serve
 * sends 100 Continue there).
 */
export function readBody(req: IncomingMessage, limit: number, beforeRead?: () => void): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve({ kind: 'too-large' });
  beforeRead?.();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (r: BodyResult): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        done({ kind: 'too-large' });
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = (): void => {
      done({ kind: 'ok', body: Buffer.concat(chunks, size) });
    };
    const onAbort = (): void => {
      done({ kind: 'aborted' });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
}

/**
 * After an answer sent before the body was read (413, 404), read and drop the rest so the client
 * gets to read the answer instead of a reset (and a keep-alive connection stays usable); a client
 * that sends more than `limit` bytes after the answer, or is still sending after `lingerMs`, is cut off.
 */
export function discardRest(req: IncomingMessage, limit: number, lingerMs: number): void {
  if (req.complete) return;
  let dropped = 0;
  const cut = (): void => {
    req.socket.destroy();
  };
  const timer = setTimeout(cut, lingerMs);
  timer.unref();
  const stop = (): void => {
    clearTimeout(timer);
  };
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > limit) {
      stop();
      cut();
    }
  });
  req.once('end', stop);
  req.once('close', stop);
  req.resume();
}
