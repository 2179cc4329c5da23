/**
 * `serve` as the CLI runs it (`runServe`), for the tests that compare it with the other adapters
 * over HTTPS. Import it with `await import` after any `jest.unstable_mockModule`, as the CLI itself.
 */
import type { Io } from '../../src/cli/common.js';
import { runServe } from '../../src/cli/serve.js';

export interface StartedServe {
  /** Where it listens; undefined when it exited first (its reason is on `io`'s stderr). */
  readonly port: number | undefined;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number>;
}

/** `serve` with `args` (with `--listen 127.0.0.1:0`), once it listens or has exited. */
export async function startServeCli(args: string[], io: Io): Promise<StartedServe> {
  let listening: (port: number) => void = () => undefined;
  const port = new Promise<number>((resolve) => {
    listening = resolve;
  });
  let stop: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    stop = resolve;
  });
  const watched: Io = {
    ...io,
    stdout: (s) => {
      io.stdout(s);
      listening((JSON.parse(s) as { port: number }).port);
    },
  };
  const exit = runServe(args, watched, { stop: stopped });
  const first = await Promise.race([exit.then(() => undefined), port]);
  return {
    port: first,
    stop: () => {
      stop('SIGTERM');
      return exit;
    },
  };
}
