/**
 * Durations, timeouts and TTLs are measured on a monotonic clock (`performance.now()`,
 * `process.hrtime`): the wall clock steps (NTP correcting hours, a VM resumed), and a duration taken
 * on it comes out negative or hours long. The wall clock (`Date.now()`) is read only where the
 * time of day is the point; each such use is listed here with its reason, so a new one is a choice.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';

/** Every file of src/ reading the wall clock, with how many times, and why. */
const WALL_CLOCK: Readonly<Record<string, { readonly uses: number; readonly why: string }>> = {
  'src/observability/emf.ts': { uses: 1, why: 'the Timestamp of a metrics document' },
  'src/observability/json-log.ts': { uses: 1, why: 'the timestamp of a log line' },
  'src/serve/certificates.ts': { uses: 4, why: "a certificate's notBefore and notAfter are times of day" },
  'src/serve/requests.ts': { uses: 1, why: "the event's requestContext.requestTimeEpoch, as API Gateway sets it" },
  'src/cli/cluster.ts': { uses: 1, why: 'a Retry-After given as an HTTP date' },
  'src/config/rules-provider.ts': { uses: 1, why: "the rules parameter's TTL (its default clock; a step back is handled there: it never holds the rules past one TTL)" },
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

describe('clocks', () => {
  it('src/ reads the wall clock only where the time of day is the point', () => {
    const found: Record<string, number> = {};
    for (const file of sources(join(REPO_ROOT, 'src'))) {
      const code = readFileSync(file, 'utf8').replace(/^\s*(\/\/|\/?\*).*$/gm, '');
      const uses = (code.match(/\bDate\.now\b|\bnew Date\(\s*\)/g) ?? []).length;
      if (uses > 0) found[relative(REPO_ROOT, file)] = uses;
    }
    expect(found).toEqual(Object.fromEntries(Object.entries(WALL_CLOCK).map(([file, { uses }]) => [file, uses])));
  });
});
