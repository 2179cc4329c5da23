/**
 * watchFiles (src/config/file-watch.ts), behind serve's rules file and certificate reloads: a check
 * on a change in the folder (fs.watch) and at every poll, checks never overlapping, a check asked
 * for during one run once after it (so that a change made while the files were being read is not
 * left to the next poll), and nothing after close().
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FileWatch, watchFiles } from '../../src/config/file-watch.js';

const HOUR_MS = 3_600_000;
const quiet = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
let file: string;
let watch: FileWatch | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'file-watch-'));
  file = join(dir, 'rules.yaml');
  writeFileSync(file, 'a');
});

afterEach(() => {
  watch?.close();
  watch = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A check that counts its runs and holds the first until `release` (it is "reading the files"). */
function heldCheck(): { check: () => Promise<void>; runs: () => number; release: () => void; overlapped: () => boolean } {
  let runs = 0;
  let active = 0;
  let overlapped = false;
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    check: async () => {
      runs++;
      active++;
      if (active > 1) overlapped = true;
      if (runs === 1) await gate;
      active--;
    },
    runs: () => runs,
    release: () => {
      release();
    },
    overlapped: () => overlapped,
  };
}

describe('watchFiles', () => {
  it('runs a check asked for during a check once after it, never both at once', async () => {
    const held = heldCheck();
    watch = watchFiles([file], held.check, { pollMs: HOUR_MS, log: quiet, what: 'test' });
    const first = watch.check();
    // Three asks while the first check reads the files: one more check covers them all.
    const later = [watch.check(), watch.check(), watch.check()];
    held.release();
    await Promise.all([first, ...later]);
    expect(held.runs()).toBe(2);
    expect(held.overlapped()).toBe(false);
  });

  it('runs no check asked for during a check once closed', async () => {
    const held = heldCheck();
    watch = watchFiles([file], held.check, { pollMs: HOUR_MS, log: quiet, what: 'test' });
    const first = watch.check();
    const later = watch.check();
    watch.close();
    held.release();
    await Promise.all([first, later]);
    expect(held.runs()).toBe(1);
  });

  it('checks at every poll', async () => {
    let runs = 0;
    watch = watchFiles([file], () => { runs++; return Promise.resolve(); }, { pollMs: 50, log: quiet, what: 'test' });
    for (let i = 0; i < 100 && runs < 3; i++) await sleep(50);
    expect(runs).toBeGreaterThanOrEqual(3);
  });

  it('checks soon after a file in the folder changes, without waiting for the poll', async () => {
    let runs = 0;
    watch = watchFiles([file], () => { runs++; return Promise.resolve(); }, { pollMs: HOUR_MS, log: quiet, what: 'test' });
    await sleep(100);
    writeFileSync(file, 'b');
    for (let i = 0; i < 100 && runs === 0; i++) await sleep(50);
    expect(runs).toBeGreaterThanOrEqual(1);
  });
});
