/**
 * serve reads its token only at start (README, "Rotating the token"): a new content of its
 * `--token-file` (a rotation's Secret, the Pods not restarted yet) is said once as a warning, that
 * a restart is needed or that the next start would refuse it, and never quotes a token. The same
 * tokens written again (a trailing newline) say nothing.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_TOKEN_FILE_BYTES } from '../../src/config/token.js';
import { watchTokenFile } from '../../src/config/token-watch.js';
import type { LogEntry } from '../../src/observability/log.js';

const OLD = 'old-token-fedcba9876543210-qrs';
const NEW = 'New-Token_0123456789.abcdef~XYZ';

let scratch = '';
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'token-watch-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Replaces the file whole, as the kubelet updates a Secret's. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.new`, text);
  await rename(`${file}.new`, file);
}

describe('watchTokenFile', () => {
  it('says once that a new token file needs a restart, and that a broken one would be refused; never the token', async () => {
    const file = join(scratch, 'token');
    await writeFile(file, OLD);
    const logs: LogEntry[] = [];
    const watch = watchTokenFile(file, [OLD], { log: (e) => logs.push(e), pollMs: 60_000 });
    try {
      await watch.check();
      await replace(file, `${OLD}\n`);
      await watch.check();
      expect(logs).toEqual([]);

      await replace(file, `${NEW},${OLD}`);
      await watch.check();
      await watch.check();
      expect(logs).toEqual([{ level: 'warn', msg: 'token file changed; serve reads its token only at start: restart it to use the new one', tokenFile: file, tokens: 2, tokensInUse: 1 }]);

      await replace(file, `${NEW} ${OLD}`);
      await watch.check();
      expect(logs[1]).toMatchObject({ level: 'warn', msg: 'token file changed to a value serve would refuse at its next start', tokenFile: file });
      expect(logs).toHaveLength(2);

      await rm(file);
      await watch.check();
      await replace(file, OLD);
      await watch.check();
      expect(logs).toHaveLength(2);
      expect(JSON.stringify(logs)).not.toContain(NEW);
      expect(JSON.stringify(logs)).not.toContain(OLD);
    } finally {
      watch.close();
    }
  });

  // A file of valid token characters past the size serve reads was told "restart it to use the new
  // one", and the restart then refused it.
  it('says that a file larger than a token file would be refused, as a start says it', async () => {
    const file = join(scratch, 'large');
    await writeFile(file, OLD);
    const logs: LogEntry[] = [];
    const watch = watchTokenFile(file, [OLD], { log: (e) => logs.push(e), pollMs: 60_000 });
    try {
      await watch.check();
      await replace(file, 'a'.repeat(MAX_TOKEN_FILE_BYTES + 1));
      await watch.check();
      expect(logs).toEqual([{ level: 'warn', msg: 'token file changed to a value serve would refuse at its next start', tokenFile: file, reason: `larger than ${String(MAX_TOKEN_FILE_BYTES)} bytes, not a token file` }]);
    } finally {
      watch.close();
    }
  });

  it('says that a restart is needed when the previous token of a rotation leaves the file (serve still accepts it)', async () => {
    const file = join(scratch, 'rotated');
    await writeFile(file, `${NEW},${OLD}\n`);
    const logs: LogEntry[] = [];
    const watch = watchTokenFile(file, [NEW, OLD], { log: (e) => logs.push(e), pollMs: 60_000 });
    try {
      await watch.check();
      expect(logs).toEqual([]);
      await replace(file, `${NEW}\n`);
      await watch.check();
      expect(logs).toEqual([{ level: 'warn', msg: 'token file changed; serve reads its token only at start: restart it to use the new one', tokenFile: file, tokens: 1, tokensInUse: 2 }]);
    } finally {
      watch.close();
    }
  });
});
