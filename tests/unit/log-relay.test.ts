/**
 * logRelay (src/cli/log-relay.ts) with a worker's text that has no newline for more than
 * MAX_LINE_BYTES while its stream stays open (a stuck or runaway writer): the primary writes it
 * out, ended by a newline, instead of holding it (and all that follows) until a newline or the
 * stream's end. The other cases are in serve-workers.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { PassThrough, Writable } from 'node:stream';
import { LOG_FLUSH_MS, logRelay, MAX_LINE_BYTES } from '../../src/cli/log-relay.js';

describe('logRelay', () => {
  it('writes out a text without newline once it passes MAX_LINE_BYTES, while the stream is still open', async () => {
    const writes: string[] = [];
    const out = new Writable({
      highWaterMark: 1 << 22,
      write(chunk: Buffer, _enc, done) {
        writes.push(chunk.toString('utf8'));
        done();
      },
    });
    const relay = logRelay(out);
    const worker = new PassThrough();
    const relayed = relay.relay(worker);
    worker.write('z'.repeat(MAX_LINE_BYTES / 2));
    worker.write('z'.repeat(MAX_LINE_BYTES / 2 + 1));
    await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS + 50));
    expect(writes).toEqual([`${'z'.repeat(MAX_LINE_BYTES + 1)}\n`]);
    worker.end('rest\n');
    await relayed;
    expect(writes.join('')).toBe(`${'z'.repeat(MAX_LINE_BYTES + 1)}\nrest\n`);
  });
});
