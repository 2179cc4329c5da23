/** Entry point of dist/cli.js: wires the real process streams into `main`. */
import { fstatSync } from 'node:fs';
import { enableRegexFallback } from '../config/regex-fallback.js';
import { isNotUtf8, startsUtf16, strictUtf8 } from './common.js';
import { failureExit, main } from './main.js';

// Before any rule is compiled (serve, explain, render, audit): see src/config/regex-fallback.ts.
enableRegexFallback();

/**
 * Node reads stdin opened on a directory (`render --check < manifests/`, meant as `-f`) as empty:
 * `render --check` and `audit -f -` passed on input they never read. Refused instead, like `-f DIR`.
 */
function stdinNotDirectory(): void {
  let directory = false;
  try {
    directory = fstatSync(0).isDirectory();
  } catch {
    // No stdin at all (closed): read as before, as empty.
  }
  if (directory) throw Object.assign(new Error('stdin is a directory: give one file (-f FILE, or < FILE) or a pipe (kustomize build DIR | ...)'), { code: 'EISDIR' });
}

/**
 * stdin a terminal: `render --config rules.yaml` typed at a prompt without -f waits, silent, for
 * manifests the person may not know it reads. Said once on stderr; a pipe or a file says nothing.
 */
let terminalNoted = false;
function noteTerminalStdin(): void {
  if (terminalNoted || !process.stdin.isTTY) return;
  terminalNoted = true;
  if (!stderrClosed) process.stderr.write('note: reading stdin, which is a terminal: end the input with Ctrl-D\n');
}

/** stdin's text; past `maxBytes` bytes it stops reading (./common.ts, Io's readStdin). */
async function readAll(stream: NodeJS.ReadableStream, maxBytes = Number.POSITIVE_INFINITY): Promise<string> {
  stdinNotDirectory();
  noteTerminalStdin();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    size += chunk.length;
    if (size > maxBytes) throw Object.assign(new Error(`stdin holds more than ${String(maxBytes)} bytes`), { code: 'ERR_STRING_TOO_LONG' });
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  try {
    return strictUtf8.decode(bytes);
  } catch (e) {
    // Said as for a file (`render < file.yaml` saved as UTF-16 by Windows PowerShell 5's `>`).
    if (isNotUtf8(e) && startsUtf16(bytes)) Object.assign(e as object, { utf16: true });
    throw e;
  }
}

/**
 * A reader that stops early (`render ... | head`) closes the pipe: the writes after that fail with
 * EPIPE, which Node would throw as an unhandled 'error' event, stack trace and all. The rest of the
 * output is dropped instead, and the command ends with its own exit code.
 * Likewise stderr (its messages, and `serve`'s log), whatever the error (EPIPE, or ENOSPC: a full
 * disk): it does not crash the command or the server, nor change its exit code (`render --check`'s
 * and `audit`'s verdict); what it would have read is dropped.
 */
let stderrClosed = false;
process.stderr.on('error', () => {
  stderrClosed = true;
});
/**
 * Any other error writing stdout (ENOSPC: `render > rendered.yaml` on a full disk; EIO) loses output
 * someone wanted: said on stderr, without a stack trace, and the command fails (2 for render and
 * audit, whose 1 would say that something would change) whatever it found.
 */
const command = process.argv[2];
let stdoutClosed = false;
const stdoutWrite: { failed?: true } = {};
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (stdoutClosed) return;
  stdoutClosed = true;
  if (e.code === 'EPIPE') return;
  stdoutWrite.failed = true;
  process.exitCode = failureExit(command);
  if (!stderrClosed) process.stderr.write(`error: cannot write to stdout: ${e.message}\n`);
});

/** Past this many bytes waiting for stdout's reader, a command that asks waits for the 'drain' (./common.ts, Io). */
const STDOUT_BACKLOG_BYTES = 1024 * 1024;
function stdoutDrained(): Promise<void> {
  if (stdoutClosed || process.stdout.writableLength < STDOUT_BACKLOG_BYTES) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      process.stdout.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    process.stdout.on('drain', done).on('close', done).on('error', done);
  });
}

const code = await main(process.argv.slice(2), {
  stdout: (s) => {
    if (!stdoutClosed) process.stdout.write(s);
  },
  stderr: (s) => {
    if (!stderrClosed) process.stderr.write(s);
  },
  stderrBacklog: () => process.stderr.writableLength,
  env: process.env,
  readStdin: (maxBytes) => readAll(process.stdin, maxBytes),
  stdinChunks: () => {
    stdinNotDirectory();
    noteTerminalStdin();
    return process.stdin;
  },
  stdoutDrained,
  stdoutClosed: () => stdoutClosed,
  ...(process.argv[1] === undefined ? {} : { processEntry: process.argv[1] }),
});
// A write that failed before the command returned; one that fails later sets the code itself.
process.exitCode = stdoutWrite.failed === true ? failureExit(command) : code;
