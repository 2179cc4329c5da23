/**
 * The benchmark's section 5 (bench/lib/perevent.ts) on a few events: `npm run bench -- --quick`
 * must check every answer behind a figure it prints, so the answers of the handler and of the
 * handler beside it (its lines formatted, not written) are both checked, those of every timed round
 * with `checkTimed` (`--quick`), and python3's patches when it runs. The handler is wrapped so that
 * its answers in the first timed round only are wrong: `checkTimed` must find them, and without it
 * the untimed round's answers are the ones checked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import type { HandlerDeps } from '../../src/lambda/handler.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

const actual = await import('../../src/lambda/handler.js');
/** Which calls of the first handler made (section 5's `ours`) answer wrong: 1-based, inclusive. */
let wrongCalls: readonly [number, number] = [0, -1];
let made = 0;
jest.unstable_mockModule('../../src/lambda/handler.js', () => ({
  ...actual,
  createHandler: (options: HandlerDeps) => {
    const handler = actual.createHandler(options);
    if (made++ > 0) return handler;
    let calls = 0;
    return async (...args: Parameters<typeof handler>) => {
      const answer = await handler(...args);
      calls++;
      return calls >= wrongCalls[0] && calls <= wrongCalls[1] ? { ...answer, body: '{}' } : answer;
    };
  },
}));
const { runPerEvent } = await import('../../bench/lib/perevent.js');

async function run(events: number, rounds: number, checkTimed: boolean): Promise<Awaited<ReturnType<typeof runPerEvent>>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-per-event-'));
  made = 0;
  try {
    return await runPerEvent({ events, rounds, checkTimed }, REPO_ROOT, dir, () => undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('bench section 5 (per event)', () => {
  it('checks the answers of both handlers it times, and finds them right', async () => {
    wrongCalls = [0, -1];
    const events = 6;
    const result = await run(events, 1, false);
    expect(result.failures).toEqual([]);
    expect(result.checked).toBe(events * (result.pythonProblem === undefined ? 3 : 2));
    // --quick: each timed round's answers of both handlers as well.
    const quick = await run(events, 2, true);
    expect(quick.failures).toEqual([]);
    expect(quick.checked).toBe(events * (quick.pythonProblem === undefined ? 3 : 2) + events * 2 * 2);
  });

  it('with checkTimed, finds a wrong answer given only in a timed round', async () => {
    const events = 4;
    // Round 0 (warm-up) is calls 1..4 of the handler, timed round 1 calls 5..8, the untimed round 9..12.
    wrongCalls = [events + 2, events + 2];
    const quick = await run(events, 1, true);
    expect(quick.failures).toHaveLength(1);
    expect(quick.failures[0]).toMatch(/^per event 1 \(.*, handler, timed round 1\): /);
    // Without it the untimed round is checked, whose answers are right: the wrong one goes unseen.
    expect((await run(events, 1, false)).failures).toEqual([]);
  });
});
