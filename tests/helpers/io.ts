/** An in-memory `Io` for driving the CLI's `main` in tests. */
import { Readable } from 'node:stream';
import { type Io, main } from '../../src/cli/main.js';

export interface CapturedIo extends Io {
  readonly out: () => string;
  readonly err: () => string;
}

export function captureIo(env: Readonly<Record<string, string | undefined>> = {}, stdin = ''): CapturedIo {
  let out = '';
  let err = '';
  return {
    stdout: (s) => { out += s; },
    stderr: (s) => { err += s; },
    env,
    readStdin: () => Promise.resolve(stdin),
    // In pieces of 3 bytes, as a pipe may cut it: a character of 2 to 4 bytes, a BOM and a CRLF
    // split across reads must come out whole.
    stdinChunks: () => {
      const bytes = Buffer.from(stdin);
      return Readable.from(Array.from({ length: Math.ceil(bytes.length / 3) }, (_, i) => bytes.subarray(3 * i, 3 * i + 3)));
    },
    out: () => out,
    err: () => err,
  };
}

/** `main(args)` with an empty environment and stdin: its exit code and what it wrote. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo({}, '');
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}
