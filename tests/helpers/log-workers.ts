/**
 * A process script for tests/unit/serve-workers.test.ts: the primary of `serve --workers`
 * (runPrimary, with the CLI's stdio) whose two workers, instead of serving, write long JSON log lines
 * through their `workerIo` until told to shut down. Each line is `{"worker":ID,"seq":N,"pad":"..."}`,
 * 10 to 100 KB (a seeded pseudo-random size); on shutdown a worker writes `{"worker":ID,"msg":"shutting
 * down"}`, 100 ms later `{"worker":ID,"msg":"stopped","lines":COUNT}`, and exits 0.
 *
 * With `partial` as its argument, worker 1 writes 20 lines, then the first half of its 21st without
 * the newline, then `partial PID TEXT_LENGTH` on its own stdout (fd 1, the primary's), and waits to
 * be killed.
 */
import cluster from 'node:cluster';
import { once } from 'node:events';
import type { Io } from '../../src/cli/common.js';
import { runPrimary, workerIo, workerStop } from '../../src/cli/serve-workers.js';

const io: Io = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  readStdin: () => Promise.resolve(''),
};
const worker = cluster.worker;
const script = process.argv[1] ?? '';
const partial = process.argv[2] === 'partial';

async function work(id: number): Promise<void> {
  const wio = workerIo(io, id);
  const state = { stopped: false };
  void workerStop().then(() => {
    state.stopped = true;
  });
  wio.stdout('{"msg":"listening"}\n');
  let seed = id * 7919;
  const size = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return 10_000 + (seed % 90_000);
  };
  let seq = 0;
  while (!state.stopped) {
    const line = `${JSON.stringify({ worker: id, seq, pad: 'x'.repeat(size()) })}\n`;
    if (partial && id === 1 && seq === 20) {
      const half = line.slice(0, line.length >> 1);
      wio.stderr(half);
      while (process.stderr.writableLength > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      process.stdout.write(`partial ${String(process.pid)} ${String(half.length)}\n`);
      await new Promise(() => undefined);
    }
    wio.stderr(line);
    seq++;
    // Written as fast as the pipe takes them, not faster (this process's memory stays small).
    if (process.stderr.writableNeedDrain) await once(process.stderr, 'drain');
    else await new Promise((resolve) => setImmediate(resolve));
  }
  // As serve does: a line, then a graceful shutdown that takes a while, then the last line.
  wio.stderr(`${JSON.stringify({ worker: id, msg: 'shutting down' })}\n`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  wio.stderr(`${JSON.stringify({ worker: id, msg: 'stopped', lines: seq })}\n`);
  process.exitCode = 0;
  worker?.disconnect();
}

if (worker === undefined) {
  const stop = new Promise<string>((resolve) => process.once('SIGTERM', () => { resolve('SIGTERM'); }));
  process.exitCode = await runPrimary(2, io, stop, { exec: script, args: process.argv.slice(2) });
} else {
  await work(worker.id);
}
