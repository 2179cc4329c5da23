/**
 * What a few unit tests need of the machine beyond Node.js, and `it` for them: Linux has all of it,
 * macOS (where contributors run npm test too; README, Development) lacks /dev/full and util-linux's
 * `script`, and answers on 127.0.0.1 alone of the loopback addresses. Where the machine lacks it, such a test is reported
 * skipped, never failed; CI (Linux) runs every one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { it } from '@jest/globals';

/** Linux's /dev/full: every write to it fails with ENOSPC, as on a full disk. */
export const hasDevFull = existsSync('/dev/full');

/** util-linux's `script -qec CMD /dev/null`: CMD with a terminal for its stdin (BSD's script takes other arguments). */
export const hasUtilLinuxScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout.includes('util-linux');

/** Whether a socket can be bound to every one of `addresses` (Linux: all of 127.0.0.0/8; macOS: 127.0.0.1 unless `ifconfig lo0 alias`). */
export async function canBindAll(addresses: readonly string[]): Promise<boolean> {
  const one = (host: string): Promise<boolean> =>
    new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => { resolve(false); });
      server.listen(0, host, () => server.close(() => { resolve(true); }));
    });
  return (await Promise.all(addresses.map(one))).every(Boolean);
}

/** `it` where the machine `has` what the test needs, else its skipping form. */
export const itWhere = (has: boolean): typeof it.skip => (has ? it : it.skip);
