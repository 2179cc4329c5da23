/**
 * A file's first bytes, at most a limit: for the files a setting names (rules, token, certificate),
 * which are read at start and again on every reload. Read whole, a file named by mistake (a log of
 * gigabytes, `/dev/zero`) took as much memory, or all of it, before any check could refuse it.
 */
import { promises as fsPromises } from 'node:fs';

const CHUNK_BYTES = 64 * 1024;

/** Up to `limit` bytes of the file, from its start; a file (or pipe) that has more gives exactly `limit`. */
export async function readUpTo(path: string, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const file = await fsPromises.open(path, 'r');
  try {
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
