/**
 * A mapping key that is a list or a map (`? [a, b]\n: x`): the `yaml` package's toJS stringifies it
 * and, at its default log level, says so through process.emitWarning (a Node warning on stderr,
 * beside our own output). Rules documents (check-config, the Lambda's parse) and manifests (render,
 * audit -f) are parsed without it: what the command prints is the only output.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it, jest } from '@jest/globals';
import { main } from '../../src/cli/main.js';
import { parseRulesAsync } from '../../src/config/load-async.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';

const COMPLEX_KEY = '? [a, b]\n: x\n';
const RULES = `rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n${COMPLEX_KEY}`;
const POD = `apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers: [{name: c, image: gcr.io/c:1}]\n${COMPLEX_KEY}`;

let dir: string;
let warnings: jest.SpiedFunction<typeof process.emitWarning>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'yaml-warnings-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  warnings = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
});
afterEach(() => {
  warnings.mockRestore();
});

describe('a mapping key that is a list: no Node warning, only our output', () => {
  it('check-config: the refusal alone', async () => {
    const file = join(dir, 'rules.yaml');
    writeFileSync(file, RULES);
    const io = captureIo();
    expect(await main(['check-config', '--config', file], io)).toBe(2);
    expect(io.err()).toBe(`error: invalid rules document ${file}:\n  ["[ a, b ]"]: unknown field (known fields: rules, exclude, allowOptOut)\n`);
    expect(warnings).not.toHaveBeenCalled();
  });

  it('the Lambda\'s parse (REWRITE_RULES): refused, nothing emitted', async () => {
    const parsed = await parseRulesAsync(RULES, {});
    expect(parsed.ok).toBe(false);
    expect(warnings).not.toHaveBeenCalled();
  });

  it('render and audit -f of a manifest with one', async () => {
    const rules = join(FIXTURES, 'render', 'rules.yaml');
    const render = captureIo({}, POD);
    expect(await main(['render', '--config', rules, '-f', '-'], render)).toBe(0);
    expect(render.out()).toContain('image: asia.gcr.io/c:1');
    expect(render.err()).toBe('');
    const audit = captureIo({}, POD);
    expect(await main(['audit', '--config', rules, '-f', '-', '-o', 'json'], audit)).toBe(1);
    expect(audit.err()).toMatch(/^audit: 1 image\(s\) in 1 object\(s\) would be rewritten\n/);
    expect(warnings).not.toHaveBeenCalled();
  });
});
