/** An in-memory `Io` for driving the CLI's `main` in tests. */
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
