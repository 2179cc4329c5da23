/**
 * V8's linear-time fallback for regexes that backtrack (src/config/regex-fallback.ts): with it, a
 * regex that would backtrack for hours answers at once, with the same result; both entry points
 * turn it on before anything else. Run in a child process (a hang there is a kill, not a stuck
 * test), bundled by esbuild from the module itself.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSnippet, type SnippetRun } from '../helpers/cli-bundle.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { REGEX_FALLBACK_FLAG } from '../../src/config/regex-fallback.js';

/** A child that runs catastrophic regexes (2^40 and n^5 backtracking) and prints their results. */
function child(enable: boolean, timeout: number): Promise<SnippetRun> {
  return runSnippet(
    `import { enableRegexFallback } from './src/config/regex-fallback.ts';
${enable ? 'enableRegexFallback();' : ''}
const out = [
  /^(?:(a|a)*b)$/.test('a'.repeat(40)),
  /^(?:.*.*.*.*.*x)$/.test('a'.repeat(400)),
  /^(?:(a+)+)$/.exec('a'.repeat(40))?.[1]?.length,
  /^(?:(?<h>.*)\\.(?<t>.*)z)$/.exec('a.'.repeat(100) + 'z')?.groups?.t,
];
process.stdout.write(JSON.stringify(out));`,
    { timeout },
  );
}

describe('the linear-time regex fallback', () => {
  it('answers regexes that backtrack exponentially, with the same results', async () => {
    const r = await child(true, 30_000);
    expect(r).toMatchObject({ status: 0, signal: null });
    expect(JSON.parse(r.stdout)).toEqual([false, false, 40, '']);
  }, 60_000);

  it('without it the same child does not finish (killed after 5 s; the first regex alone is 2^40 steps)', async () => {
    const r = await child(false, 5000);
    expect(r.signal).toBe('SIGKILL');
  }, 30_000);

  // Why the entry points set it themselves: the template cannot put it in NODE_OPTIONS, on the
  // Node.js that runs these tests nor on the Lambda's (docs/reliability.md names both).
  it('Node refuses the flag in NODE_OPTIONS, as docs/reliability.md says of Node 20 and the Lambda\'s', () => {
    const r = spawnSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_OPTIONS: REGEX_FALLBACK_FLAG }, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${REGEX_FALLBACK_FLAG} is not allowed in NODE_OPTIONS`);
    const lambdaMajor = /^\s+Runtime: nodejs(\d+)\.x$/m.exec(readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8'))?.[1];
    const page = readFileSync(join(REPO_ROOT, 'docs', 'reliability.md'), 'utf8').replace(/\s+/g, ' ');
    expect(page).toContain(`("is not allowed in NODE_OPTIONS", Node 20 and ${lambdaMajor ?? '?'}, the Lambda's)`);
  });

  it('src/cli/bin.ts turns it on before anything else runs', () => {
    const source = readFileSync(join(REPO_ROOT, 'src/cli/bin.ts'), 'utf8');
    const call = source.indexOf('enableRegexFallback();');
    expect(call).toBeGreaterThan(0);
    const firstStatement = source.split('\n').findIndex((l) => /^(const|let|export const|process\.|sources =|try)/.test(l));
    expect(source.slice(0, call).split('\n').length - 1).toBeLessThanOrEqual(firstStatement);
  });

  it('src/lambda/main.ts turns it on at the end of the init, before the handler can take a request', () => {
    // Late on purpose: Node's own modules loaded after a V8 flag changes are compiled without their code cache.
    const lines = readFileSync(join(REPO_ROOT, 'src/lambda/main.ts'), 'utf8').split('\n');
    const call = lines.indexOf('enableRegexFallback();');
    const statements = lines.map((l, i) => [l, i] as const).filter(([l]) => /^[A-Za-z}]/.test(l) && !l.startsWith('import '));
    expect(call).toBeGreaterThan(lines.findIndex((l) => l.startsWith('export const handler')));
    expect(statements.at(-1)?.[1]).toBe(call);
  });
});
