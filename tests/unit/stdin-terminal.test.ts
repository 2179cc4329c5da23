/**
 * stdin a terminal (`render --config rules.yaml` typed at a prompt, without -f): the command says
 * on stderr that it reads the terminal and how to end the input, instead of waiting in silence;
 * Ctrl-D then ends it as an empty input. A pipe or a file says nothing (stdin-directory.test.ts).
 * Under util-linux's `script`, which gives the command a terminal (tests/helpers/platform.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect } from '@jest/globals';
import { shellQuote } from '../../src/cli/webhook-config.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { hasUtilLinuxScript, itWhere } from '../helpers/platform.js';

const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-stdin-terminal-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const rules = join(FIXTURES, 'valid-demo.yaml');
const NOTE = 'note: reading stdin, which is a terminal: end the input with Ctrl-D\r\n';

/** The CLI on a terminal: once it has said something, Ctrl-D; its output (both streams, as the terminal shows them) and exit code. */
async function onTerminal(cli: string, args: readonly string[]): Promise<{ code: number | null; shown: string }> {
  const command = [process.execPath, cli, ...args].map(shellQuote).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let shown = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    if (shown === '') child.stdin.write('\x04');
    shown += c;
  });
  // Without a word from the command, Ctrl-D after a while anyway (the test then fails on its output).
  const timer = setTimeout(() => child.stdin.write('\x04'), 10_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  return { code, shown };
}

describe('stdin that is a terminal', () => {
  itWhere(hasUtilLinuxScript).each([
    ['render', ['render', '--config', rules], 'warning: the input has no manifests: nothing was rendered (did the command before render fail? see set -o pipefail)\r\n', 0],
    ['audit -f -', ['audit', '--config', rules, '-f', '-'], 'error: stdin: empty input: expected the JSON or YAML of `kubectl get ... -o json` (a List, even when nothing matches); did kubectl fail?\r\n', 2],
    ['explain -', ['explain', '--config', rules, '-'], '', 0],
    // `-` twice reads stdin twice (the second time, ended, it gives nothing): said once all the same.
    ['explain - -', ['explain', '--config', rules, '-', '-'], '', 0],
  ])('%s: says it reads the terminal, and Ctrl-D ends the input', async (_name, args, then, code) => {
    const cli = await bundleCli(join(dir, 'cli.mjs'));
    expect(await onTerminal(cli, args)).toEqual({ code, shown: `${NOTE}${then}` });
  }, 60_000);
});
