/**
 * How the log lines and EMF documents reach stdout and stderr: each text in one `write(2)` on the
 * file descriptor (`fs.writeSync`), through `process.stdout`/`process.stderr` only when the
 * descriptor cannot take it at once.
 *
 * Why not always the streams: for a file (or /dev/null) `process.stdout` is a stream that copies
 * the text into a Buffer, runs Node's Writable machinery and then calls `fs.writeSync` itself; that
 * work cost about as much as the system call, once per invocation (docs/performance.md, "seventh
 * pass"). `fs.writeSync` with the string encodes it in C++ and writes it.
 *
 * The stream stays the way out when a direct write cannot be used, so no line is lost or reordered:
 * - a pipe or socket in non-blocking mode that is full answers EAGAIN: the text goes to the
 *   stream, which queues it and writes it when the reader has read;
 * - a write that took only part of the text: the rest goes to the stream;
 * - while the stream holds bytes of ours it has not written (`writableLength`), every text
 *   goes to it after them, never around them;
 * - any other error (EPIPE, EBADF): the stream, which reports it as it always did.
 */
import { writeSync as fsWriteSync } from 'node:fs';

/** Writes text to the process's stdout (1) or stderr (2). */
export type StreamWrite = (text: string, stream: 1 | 2) => void;

/** What a direct write needs; injectable for tests. */
export interface StdioParts {
  readonly writeSync: (fd: number, text: string) => number;
  /** The stream of the descriptor, asked for when a text must go through it. */
  readonly stream: (fd: 1 | 2) => { readonly writableLength: number; write(chunk: string | Uint8Array): unknown };
}

const processParts: StdioParts = {
  writeSync: (fd, text) => fsWriteSync(fd, text),
  stream: (fd) => (fd === 1 ? process.stdout : process.stderr),
};

/** A `StreamWrite` that writes each text with one system call when it can (see above). */
export function descriptorWrite(parts: StdioParts = processParts): StreamWrite {
  // A stream is asked for only when a text must go through it: creating `process.stdout` for a pipe
  // is a measurable part of a cold start (docs/performance.md, "Figures behind the comments"), and
  // on Lambda nothing else creates it (the runtime writes its own lines to another descriptor).
  // Once used, it is asked first while it holds bytes.
  const used: { 1?: ReturnType<StdioParts['stream']>; 2?: ReturnType<StdioParts['stream']> } = {};
  const viaStream = (fd: 1 | 2, chunk: string | Uint8Array): void => {
    (used[fd] ??= parts.stream(fd)).write(chunk);
  };
  return (text, fd) => {
    if ((used[fd]?.writableLength ?? 0) > 0) {
      viaStream(fd, text);
      return;
    }
    let written: number;
    try {
      written = parts.writeSync(fd, text);
    } catch {
      // EAGAIN (a full non-blocking pipe) or an error the stream reports as it always did.
      viaStream(fd, text);
      return;
    }
    // A write to a file, /dev/null or a pipe with room takes it all; otherwise the rest, in bytes.
    if (written >= text.length && written === Buffer.byteLength(text)) return;
    viaStream(fd, Buffer.from(text).subarray(written));
  };
}

/** Each text through `process.stdout` or `process.stderr` (see `stdioWriteFor`). */
export const streamWrite: StreamWrite = (text, fd) => {
  (fd === 1 ? process.stdout : process.stderr).write(text);
};

/**
 * How a Lambda function's lines reach stdout and stderr: `descriptorWrite` (undefined: the default),
 * but on Lambda Managed Instances `streamWrite`. There the runtime sets AWS_LAMBDA_MAX_CONCURRENCY
 * (its own test of that mode: set at all) and runs the handler in several worker threads of one
 * process, whose descriptors 1 and 2 are shared and non-blocking: a direct write that took part of
 * a text sent the rest through the thread's stream while the other threads' direct writes went on,
 * so lines were cut into each other and lost (README, "Lambda Managed Instances"). A worker thread's
 * streams hand each text whole to the main thread, whose stream writes them in order.
 */
export function stdioWriteFor(env: Readonly<Record<string, string | undefined>>): StreamWrite | undefined {
  return env['AWS_LAMBDA_MAX_CONCURRENCY'] === undefined ? undefined : streamWrite;
}
