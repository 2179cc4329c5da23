/**
 * `descriptorWrite`: one `write(2)` per text when the descriptor takes it, the stream otherwise, and
 * never a line lost or reordered: a full non-blocking pipe (EAGAIN), a partial write, bytes still
 * queued in the stream, an error. The last case runs a real process whose stdout is a pipe nobody
 * reads for a while.
 */
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { descriptorWrite, type StdioParts, stdioWriteFor, streamWrite } from '../../src/observability/stdio-write.js';
import { createObservability } from '../../src/observability/telemetry.js';

interface FakeStream {
  writableLength: number;
  readonly chunks: (string | Uint8Array)[];
  write(chunk: string | Uint8Array): boolean;
}

function fake(writeSync: (fd: number, text: string) => number): { parts: StdioParts; direct: string[]; streams: Record<1 | 2, FakeStream> } {
  const direct: string[] = [];
  const stream = (): FakeStream => {
    const s: FakeStream = { writableLength: 0, chunks: [], write: (chunk) => (s.chunks.push(chunk), true) };
    return s;
  };
  const streams = { 1: stream(), 2: stream() };
  return {
    direct,
    streams,
    parts: {
      writeSync: (fd, text) => {
        const n = writeSync(fd, text);
        direct.push(`${String(fd)}:${text}`);
        return n;
      },
      stream: (fd) => streams[fd],
    },
  };
}

const eagain = (): never => {
  throw Object.assign(new Error('EAGAIN: resource temporarily unavailable, write'), { code: 'EAGAIN' });
};

const text = (chunks: readonly (string | Uint8Array)[]): string => chunks.map((c) => (typeof c === 'string' ? c : Buffer.from(c).toString('utf8'))).join('');

describe('descriptorWrite', () => {
  it('writes each text to its descriptor in one call and leaves the streams alone', () => {
    const { parts, direct, streams } = fake((_, t) => Buffer.byteLength(t));
    const write = descriptorWrite(parts);
    write('{"a":1}\n', 1);
    write('{"b":"é"}\n', 2);
    expect(direct).toEqual(['1:{"a":1}\n', '2:{"b":"é"}\n']);
    expect(streams[1].chunks).toEqual([]);
    expect(streams[2].chunks).toEqual([]);
  });

  it('hands a text the descriptor refuses (EAGAIN: a full pipe) to the stream', () => {
    const { parts, streams } = fake(eagain);
    descriptorWrite(parts)('{"a":1}\n', 1);
    expect(streams[1].chunks).toEqual(['{"a":1}\n']);
  });

  it('hands the stream the bytes a partial write left, a multi-byte character included', () => {
    // 5 bytes taken: `{"b":` then the rest, which starts inside nothing (é is 2 bytes at 6..7).
    const line = '{"b":"é…"}\n';
    for (const taken of [0, 5, 7, 9, Buffer.byteLength(line) - 1]) {
      const { parts, streams } = fake(() => taken);
      descriptorWrite(parts)(line, 1);
      const rest = Buffer.concat(streams[1].chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
      expect(Buffer.concat([Buffer.from(line).subarray(0, taken), rest]).toString('utf8')).toBe(line);
    }
  });

  it('counts bytes, not characters: a text of multi-byte characters written as far as its length is not complete', () => {
    const line = 'ééééé\n';
    const { parts, streams } = fake(() => line.length);
    descriptorWrite(parts)(line, 1);
    expect(text(streams[1].chunks)).toBe(Buffer.from(line).subarray(line.length).toString('utf8'));
  });

  it('once a text went through the stream, writes after the bytes it still holds, never around them', () => {
    let full = true;
    const { parts, direct, streams } = fake((_, t) => (full ? eagain() : Buffer.byteLength(t)));
    const write = descriptorWrite(parts);
    write('{"n":1}\n', 1);
    expect(streams[1].chunks).toEqual(['{"n":1}\n']);
    // The pipe has room again, but the stream still holds bytes: the next text goes after them.
    full = false;
    streams[1].writableLength = 8;
    write('{"n":2}\n', 1);
    expect(direct).toEqual([]);
    expect(streams[1].chunks).toEqual(['{"n":1}\n', '{"n":2}\n']);
    // Drained: direct again. stderr's stream is its own.
    streams[1].writableLength = 0;
    write('{"n":3}\n', 1);
    write('{"w":1}\n', 2);
    expect(direct).toEqual(['1:{"n":3}\n', '2:{"w":1}\n']);
  });

  it('keeps each descriptor to its own stream: stderr waits behind the bytes its stream holds, stdout does not', () => {
    let full = true;
    const { parts, direct, streams } = fake((_, t) => (full ? eagain() : Buffer.byteLength(t)));
    const write = descriptorWrite(parts);
    write('{"w":1}\n', 2);
    full = false;
    streams[2].writableLength = 8;
    write('{"w":2}\n', 2);
    write('{"n":1}\n', 1);
    expect(streams[2].chunks).toEqual(['{"w":1}\n', '{"w":2}\n']);
    expect(direct).toEqual(['1:{"n":1}\n']);
  });

  it('never asks for a stream it does not need (creating process.stdout costs at a cold start)', () => {
    const asked: number[] = [];
    descriptorWrite({ writeSync: (_, t) => Buffer.byteLength(t), stream: (fd) => (asked.push(fd), { writableLength: 0, write: () => true }) })('{"a":1}\n', 1);
    expect(asked).toEqual([]);
  });

  it('lets the stream report any other error (a closed descriptor)', () => {
    const { parts, streams } = fake(() => {
      throw Object.assign(new Error('EBADF: bad file descriptor, write'), { code: 'EBADF' });
    });
    descriptorWrite(parts)('{"a":1}\n', 2);
    expect(streams[2].chunks).toEqual(['{"a":1}\n']);
  });

  /**
   * A real process writes 2,000 lines of 300 bytes (600 KB) to stdout and stderr, pipes the parent
   * reads only after 0.5 s (a pipe holds 64 KiB): every line must arrive, in order. `streamsFirst`
   * creates `process.stdout`/`process.stderr` first, which makes the descriptors non-blocking (a
   * full pipe then answers EAGAIN); without it they stay blocking and the writes wait.
   * `defaultParts`: `descriptorWrite()` as the process uses it, with `fs.writeSync` and
   * `process.stdout`/`process.stderr` of its own. Returns how many texts went through a stream.
   */
  async function realProcess(streamsFirst: boolean, defaultParts = false): Promise<number> {
    // The module as it is (it imports only node:fs), its types stripped by TypeScript.
    const source = readFileSync(fileURLToPath(new URL('../../src/observability/stdio-write.ts', import.meta.url)), 'utf8');
    // The count goes out on fd 3. The streams' writes are counted on the streams themselves.
    const script = `${ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText}
      const { writeSync } = await import('node:fs');
      let viaStream = 0;
      const counted = new Map();
      const stream = (fd) => {
        if (!counted.has(fd)) {
          const s = fd === 1 ? process.stdout : process.stderr;
          const w = s.write.bind(s);
          s.write = (c) => (viaStream++, w(c));
          counted.set(fd, s);
        }
        return counted.get(fd);
      };
      if (${String(streamsFirst)}) for (const fd of [1, 2]) stream(fd);
      // The default parts: process.stdout and process.stderr themselves (counted as above).
      const write = ${String(defaultParts)} ? descriptorWrite() : descriptorWrite({ writeSync, stream });
      for (let i = 0; i < 2000; i++) write(JSON.stringify({ n: i, pad: 'x'.repeat(280) }) + '\\n', i % 7 === 0 ? 2 : 1);
      writeSync(3, String(viaStream));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const { stdout, stderr } = child;
    if (stdout === null || stderr === null) throw new Error('no pipes');
    let viaStream = '';
    child.stdio[3]?.on('data', (c: Buffer) => (viaStream += c.toString()));
    stdout.pause();
    stderr.pause();
    await new Promise((r) => setTimeout(r, 500));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on('data', (c: Buffer) => out.push(c));
    stderr.on('data', (c: Buffer) => err.push(c));
    stdout.resume();
    stderr.resume();
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(0);
    const numbers = (chunks: Buffer[]): number[] =>
      Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => (JSON.parse(l) as { n: number }).n);
    const all = Array.from({ length: 2000 }, (_, i) => i);
    expect(numbers(out)).toEqual(all.filter((i) => i % 7 !== 0));
    expect(numbers(err)).toEqual(all.filter((i) => i % 7 === 0));
    return Number(viaStream);
  }

  it('a real process whose pipes stay blocking: every line arrives, in order, none through a stream', async () => {
    expect(await realProcess(false)).toBe(0);
  }, 30_000);

  it('a real process whose pipes are non-blocking (the streams exist): the texts a full pipe refuses go through the streams, in order', async () => {
    expect(await realProcess(true)).toBeGreaterThan(100);
  }, 30_000);

  it('by default, writes to the descriptors and, when a full pipe refuses, to process.stdout and process.stderr: every line to its own, in order', async () => {
    expect(await realProcess(true, true)).toBeGreaterThan(100);
  }, 30_000);
});

describe('on Lambda Managed Instances (several worker threads on descriptors 1 and 2)', () => {
  it('two threads writing directly to one descriptor cut a line into another when a write is partial', () => {
    // The model of the failure: one descriptor, each thread its own descriptorWrite and stream; a
    // partial write leaves the rest of thread A's line in A's stream while thread B writes on.
    let fd = '';
    let room = 10;
    const writeSync = (_: number, t: string): number => {
      const n = Math.min(room, Buffer.byteLength(t));
      fd += t.slice(0, n);
      return n;
    };
    // A thread's stream writes later, when the descriptor takes it again.
    const queued: (string | Uint8Array)[] = [];
    const a = descriptorWrite({ writeSync, stream: () => ({ writableLength: 0, write: (chunk) => queued.push(chunk) }) });
    const b = descriptorWrite({ writeSync, stream: () => ({ writableLength: 0, write: () => true }) });
    a('{"line":"A-A-A-A-A"}\n', 1);
    room = Number.POSITIVE_INFINITY;
    b('{"line":"B"}\n', 1);
    fd += text(queued);
    expect(fd.split('\n')).toEqual(['{"line":"A{"line":"B"}', '-A-A-A-A"}', '']);
  });

  it.each([
    [{}, undefined],
    [{ AWS_LAMBDA_MAX_CONCURRENCY: '64' }, streamWrite],
    [{ AWS_LAMBDA_MAX_CONCURRENCY: '' }, streamWrite],
  ])('with %p writes %p (undefined: descriptorWrite): a thread\'s streams hand each text whole to the main thread', (env, expected) => {
    expect(stdioWriteFor(env)).toBe(expected);
  });

  it('makes the Observability write through process.stdout when the runtime says so', () => {
    const saved = process.env['AWS_LAMBDA_MAX_CONCURRENCY'];
    const original = process.stdout.write.bind(process.stdout);
    const seen: string[] = [];
    process.env['AWS_LAMBDA_MAX_CONCURRENCY'] = '8';
    process.stdout.write = ((chunk: string) => (seen.push(chunk), true));
    try {
      createObservability({ logLevel: 'INFO' }).logger.info('through the stream');
    } finally {
      process.stdout.write = original;
      if (saved === undefined) delete process.env['AWS_LAMBDA_MAX_CONCURRENCY'];
      else process.env['AWS_LAMBDA_MAX_CONCURRENCY'] = saved;
    }
    expect(seen.map((l) => (JSON.parse(l) as Record<string, unknown>)['message'])).toEqual(['through the stream']);
  });
});
