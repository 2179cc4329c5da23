/** Entry point of dist/cli.js: wires the real process streams into `main`. */
import { enableRegexFallback } from '../config/regex-fallback.js';
import { strictUtf8 } from './common.js';
import { main } from './main.js';

// Before any rule is compiled (serve, explain, render, audit): see src/config/regex-fallback.ts.
enableRegexFallback();

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return strictUtf8.decode(Buffer.concat(chunks));
}

/**
 * A reader that stops early (`render ... | head`) closes the pipe: the writes after that fail with
 * EPIPE, which Node would throw as an unhandled 'error' event, stack trace and all. The rest of the
 * output is dropped instead, and the command ends with its own exit code.
 */
let stdoutClosed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  stdoutClosed = true;
});
// Likewise stderr (its messages, and `serve`'s log): a reader that went away does not crash the
// command or the server; what it would have read is dropped.
let stderrClosed = false;
process.stderr.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  stderrClosed = true;
});

process.exitCode = await main(process.argv.slice(2), {
  stdout: (s) => {
    if (!stdoutClosed) process.stdout.write(s);
  },
  stderr: (s) => {
    if (!stderrClosed) process.stderr.write(s);
  },
  stderrBacklog: () => process.stderr.writableLength,
  env: process.env,
  readStdin: () => readAll(process.stdin),
  ...(process.argv[1] === undefined ? {} : { processEntry: process.argv[1] }),
});
