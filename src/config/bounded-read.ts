/**
 * A file's first bytes, at most a limit: for the files a setting names (rules, token, certificate),
 * which are read at start and again on every reload. Read whole, a file named by mistake (a log of
 * gigabytes, `/dev/zero`) took as much memory, or all of it, before any check could refuse it.
 */
import { constants, promises as fsPromises } from 'node:fs';

const CHUNK_BYTES = 64 * 1024;

/** Thrown by `readUpTo` with `regularFile` for a path that is not a regular file (a pipe, a device, a socket). */
export class NotRegularFileError extends Error {
  constructor(path: string) {
    super(`${path} is not a regular file`);
    this.name = 'NotRegularFileError';
  }
}

/**
 * Up to `limit` bytes of the file, from its start; a file (or pipe) that has more gives exactly `limit`.
 * With `regularFile` (a file read again whenever it may have changed: serve's rules and certificate),
 * a pipe, a device or a socket is refused with NotRegularFileError (a folder still fails its read
 * with EISDIR), and the open does not wait: a named pipe without a writer held a
 * blocking open, and every later read queued behind it, for good.
 */
export async function readUpTo(path: string, limit: number, options: { readonly regularFile?: boolean } = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const file = await fsPromises.open(path, options.regularFile === true ? constants.O_RDONLY | constants.O_NONBLOCK : 'r');
  try {
    if (options.regularFile === true) {
      // A folder is left to the read, which says EISDIR, as it did before this check.
      const stat = await file.stat();
      if (!stat.isFile() && !stat.isDirectory()) throw new NotRegularFileError(path);
    }
    while (size < limit) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, limit - size));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await file.close();
  }
  return Buffer.concat(chunks, size);
}
