/**
 * The benchmark's section 5 (bench/lib/perevent.ts) on a few events: `npm run bench -- --quick`
 * must check every answer behind a figure it prints, so the answers of the handler and of the
 * handler beside it (its lines formatted, not written) are both checked, and python3's patches when
 * it runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { runPerEvent } from '../../bench/lib/perevent.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

describe('bench section 5 (per event)', () => {
  it('checks the answers of both handlers it times, and finds them right', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-per-event-'));
    try {
      const events = 6;
      const result = await runPerEvent({ events, rounds: 1 }, REPO_ROOT, dir, () => undefined);
      expect(result.failures).toEqual([]);
      expect(result.checked).toBe(events * (result.pythonProblem === undefined ? 3 : 2));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
