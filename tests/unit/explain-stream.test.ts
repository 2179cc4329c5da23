/**
 * `explain -` reads stdin as it arrives and answers each image at once (src/cli/stdin-words.ts):
 * the words of any cut of the bytes are the words of the whole text, answers do not wait for the
 * end of the list, a slow reader of the answers holds the reading back, and a list far larger than
 * the heap goes through (read whole, 78 MB of images took 3.1 GB).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EXIT, main } from '../../src/cli/main.js';
import { stdinWords } from '../../src/cli/stdin-words.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { FIXTURES, TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';

const demo = join(FIXTURES, 'valid-demo.yaml');
const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-explain-stream-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function collect(chunks: Uint8Array[]): Promise<string[]> {
  const out: string[] = [];
  for await (const w of stdinWords(Readable.from(chunks))) out.push(w);
  return out;
}

/** What explain read before streaming: the whole text, split at once. */
const wholeWords = (text: string): string[] => (text.startsWith('\uFEFF') ? text.slice(1) : text).split(/\r?\n/).flatMap((l) => l.split(/[ \t]+/)).filter((w) => w !== '');

/** `bytes` cut at the given offsets. */
const cut = (bytes: Uint8Array, at: number[]): Uint8Array[] => {
  const points = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    pieces.push(bytes.subarray(from, p));
    from = p;
  }
  return pieces;
};

describe('stdinWords', () => {
  it('gives the words of the whole text for any cut of its bytes (multi-byte characters, BOM and CRLF split across reads)', async () => {
    const piece = fc.constantFrom('gcr.io/a', 'ü', '日本', '😀', ' ', '\t', '\n', '\r\n', '\r', 'x:1', '\uFEFF', '');
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 30 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), async (parts, bom, at) => {
        const text = (bom ? '\uFEFF' : '') + parts.join('');
        expect(await collect(cut(Buffer.from(text), at))).toEqual(wholeWords(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a BOM that is not the first character, and one after an empty first read', async () => {
    expect(await collect([Buffer.from('a\n\uFEFFb')])).toEqual(['a', '\uFEFFb']);
    expect(await collect([new Uint8Array(0), Uint8Array.of(0xef, 0xbb), Uint8Array.of(0xbf, 0x61)])).toEqual(['a']);
  });

  it('refuses bytes that are not UTF-8, wherever the read is cut, and a character cut off at the end', async () => {
    const refused = async (chunks: Uint8Array[]): Promise<unknown> => collect(chunks).then(() => undefined, (e: unknown) => (e as NodeJS.ErrnoException).code);
    expect(await refused([Uint8Array.of(0x61, 0x0a, 0xff)])).toBe('ERR_ENCODING_INVALID_ENCODED_DATA');
    expect(await refused([Uint8Array.of(0x61, 0xe6), Uint8Array.of(0x97)])).toBe('ERR_ENCODING_INVALID_ENCODED_DATA');
    expect(await refused([Uint8Array.of(0x61, 0x0a, 0xf0, 0x9f)])).toBe('ERR_ENCODING_INVALID_ENCODED_DATA');
  });

  it('gives each complete line before the next read arrives', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const source = (async function* () {
      yield Buffer.from('gcr.io/a gcr.io/b\ngcr.io/c');
      await gate;
      yield Buffer.from('d\n');
    })();
    const words = stdinWords(source);
    expect((await words.next()).value).toBe('gcr.io/a');
    expect((await words.next()).value).toBe('gcr.io/b');
    const third = words.next();
    release();
    expect((await third).value).toBe('gcr.io/cd');
    expect((await words.next()).done).toBe(true);
  });

  // `kubectl get pods -o jsonpath='{..image}'` prints every image on one line, spaces between them
  // (no line end at all): cut only at line ends, that line was held whole until stdin ended
  // (65 MB of images: 767 MB RSS against 127 MB for the same images one per line).
  it('gives each word of a line before the rest of the line arrives (jsonpath output: one line, spaces between)', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const source = (async function* () {
      yield Buffer.from('gcr.io/a gcr.io/b\tgcr.io/c');
      await gate;
      yield Buffer.from('d gcr.io/e');
    })();
    const words = stdinWords(source);
    // Before the rest arrives (the gate still closed): 'waiting' if the first word is held back.
    const first = await Promise.race([words.next().then((r) => r.value), new Promise((r) => {
      setTimeout(() => {
        r('waiting');
      }, 2000);
    })]);
    release();
    expect(first).toBe('gcr.io/a');
    expect((await words.next()).value).toBe('gcr.io/b');
    expect((await words.next()).value).toBe('gcr.io/cd');
    expect((await words.next()).value).toBe('gcr.io/e');
    expect((await words.next()).done).toBe(true);
  });
});

describe('explain -', () => {
  // `yes IMAGE | explain - | head -1` never ended: stdout's EPIPE was dropped (bin.ts) and the
  // endless stdin read on, where a writer killed by SIGPIPE would have stopped.
  it('stops reading stdin once no one reads the answers (stdout closed)', async () => {
    const io = captureIo(TEST_ENV);
    let chunksRead = 0;
    const code = await main(['explain', '-c', demo, '-'], {
      ...io,
      stdoutClosed: () => io.out() !== '',
      stdinChunks: () =>
        Readable.from(
          (function* () {
            for (; chunksRead < 100_000; chunksRead++) yield Buffer.from('gcr.io/a\n');
          })(),
        ),
    });
    expect(code).toBe(EXIT.ok);
    // Without the stop: every one of the 100,000 chunks.
    expect(chunksRead).toBeLessThan(100);
  });

  it('answers the images read so far before stdin ends', async () => {
    const io = captureIo(TEST_ENV);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let outBeforeEnd = '';
    const run = main(['explain', '-c', demo, '-'], {
      ...io,
      stdinChunks: async function* () {
        yield Buffer.from('gcr.io/a\n');
        await gate;
        outBeforeEnd = io.out();
        yield Buffer.from('gcr.io/b\n');
      },
    });
    await new Promise((r) => setTimeout(r, 20));
    release();
    expect(await run).toBe(EXIT.ok);
    expect(outBeforeEnd).toBe(`${JSON.stringify({ image: 'gcr.io/a', rewritten: 'asia.gcr.io/a', rule: 'gcr' })}\n`);
    expect(io.out().trimEnd().split('\n')).toHaveLength(2);
  });

  // Only strictUtf8's refusal is "not UTF-8": a read that fails (EIO from a terminal that went
  // away) is said as it is, after the answers to what was read before it.
  it('says a read of stdin that fails as it is, not as stdin that is not UTF-8', async () => {
    const io = captureIo(TEST_ENV);
    const code = await main(['explain', '-c', demo, '-'], {
      ...io,
      stdinChunks: async function* () {
        yield Buffer.from('gcr.io/a\n');
        await Promise.resolve();
        throw Object.assign(new Error('read EIO'), { code: 'EIO' });
      },
    });
    expect({ code, err: io.err() }).toEqual({ code: EXIT.failure, err: 'error: read EIO\n' });
    expect(io.out()).toBe(`${JSON.stringify({ image: 'gcr.io/a', rewritten: 'asia.gcr.io/a', rule: 'gcr' })}\n`);
  });

  it('waits for stdout to drain every 256 answers and reads no further meanwhile', async () => {
    const io = captureIo(TEST_ENV);
    const n = 1000;
    let read = 0;
    let waits = 0;
    const linesAtWait: number[] = [];
    const code = await main(['explain', '-c', demo, 'quay.io/first', '-', 'quay.io/last'], {
      ...io,
      // One line per read, each read a turn of the event loop later, as a pipe gives them.
      stdinChunks: async function* () {
        for (let i = 0; i < n; i++) {
          await Promise.resolve();
          read++;
          yield Buffer.from(`gcr.io/a:${i}\n`);
        }
      },
      stdoutDrained: () => {
        waits++;
        linesAtWait.push(io.out().split('\n').length - 1);
        // A reader that is behind: at this point no more of stdin may have been taken than answered (the one after it at most, read to find its line's end).
        expect(read - (linesAtWait.at(-1) ?? 0)).toBeLessThanOrEqual(2);
        return new Promise((r) => setTimeout(r, 1));
      },
    });
    expect(code).toBe(EXIT.ok);
    expect(waits).toBe(Math.floor(n / 256));
    expect(linesAtWait).toEqual([257, 513, 769]);
    const out = io.out().trimEnd().split('\n').map((l) => (JSON.parse(l) as { image: string }).image);
    expect(out).toEqual(['quay.io/first', ...Array.from({ length: n }, (_, i) => `gcr.io/a:${i}`), 'quay.io/last']);
  });

  // Read whole, this list (24 MB, 1.2 million images) and the answers to it (150 MB) did not fit a
  // 64 MiB heap; read as it arrives, with the answers taken by a reader that keeps pausing, it does.
  it('goes through a list far larger than the heap, to a slow reader', async () => {
    const cli = await bundleCli(join(dir, 'cli.mjs'));
    const n = 1_200_000;
    const images = Array.from({ length: n }, (_, i) => `gcr.io/team/app-${i % 97}:v${i}`).join('\n');
    writeFileSync(join(dir, 'images.txt'), `${images}\n`);
    const child = spawn(process.execPath, ['--max-old-space-size=64', cli, 'explain', '-c', demo, '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const input = (await import('node:fs')).createReadStream(join(dir, 'images.txt'));
    input.pipe(child.stdin);
    let lines = 0;
    let last = '';
    let err = '';
    let chunks = 0;
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      const text = last + c;
      const end = text.lastIndexOf('\n');
      lines += text.slice(0, end + 1).split('\n').length - 1;
      last = text.slice(end + 1);
      // A slow reader: every 200th read, a pause of 30 ms.
      if (++chunks % 200 === 0) {
        child.stdout.pause();
        setTimeout(() => child.stdout.resume(), 30);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    // 'close', not 'exit': the answers still in the pipe (the reader pauses) are read before it.
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect({ code, err: err.slice(0, 300) }).toEqual({ code: 0, err: '' });
    expect(lines).toBe(n);
    expect(last).toBe('');
    // A deadline against a hang, not a speed check: 1.2 million answers took the child 11 s of CPU
    // here, and more than 120 s of wall clock on the 2-CPU machine at a load of 16.
  }, 300_000);
});
