/**
 * U+0085 (NEL), U+2028 and U+2029 are line breaks to kubectl's YAML reader (sigs.k8s.io/yaml: go-yaml,
 * YAML 1.1) and ordinary characters to YAML 1.2, which `render` and `audit` read. A comment holding
 * one therefore ends there for kubectl, and what follows on that line is data to it, unseen by
 * render: `render --check` passed and `audit -f` listed nothing while kubectl applied the upstream
 * image. Such YAML is refused (exit 2, its line and column); JSON, which kubectl reads as JSON, is not.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { FIXTURES } from '../helpers/fixtures.js';
import { runCli } from '../helpers/io.js';

const RULES = join(FIXTURES, 'render', 'rules.yaml');
const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-yaml11-breaks-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


/** A Pod whose image, to kubectl, is the one after the break in the comment. */
const smuggled = (brk: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: a\n    image: asia.gcr.io/app:1  # pinned${brk}    image: gcr.io/app:1\n`;

describe.each([
  ['U+2028', '\u2028'],
  ['U+2029', '\u2029'],
  ['U+0085', '\u0085'],
])('YAML with %s, a line break to kubectl only', (name, brk) => {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, smuggled(brk));
  const reason = `line 8, column 39: ${name}`;

  it.each([[['render']], [['render', '--check']], [['audit', '-o', 'json']]])('%j -f FILE: exit 2, nothing on stdout, where it is', async (command) => {
    const r = await runCli([...command, '--config', RULES, '-f', file]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(reason);
    expect(r.err).toContain('kubectl');
  });
});

describe('YAML in flow style, which starts with "{" as JSON does: kubectl reads it as YAML', () => {
  it('is refused too', async () => {
    const file = join(dir, 'flow.yaml');
    writeFileSync(file, '{apiVersion: v1, kind: Pod, metadata: {name: web},\n spec: {containers: [{name: a, image: asia.gcr.io/app:1}]}, # c\u2028 spec: {containers: [{name: a, image: gcr.io/app:1}]},\n}\n');
    for (const command of [['render', '--check'], ['audit']]) {
      const r = await runCli([...command, '--config', RULES, '-f', file]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('line 2, column 64: U+2028 is a line break to kubectl');
    }
  });
});

describe('JSON, which kubectl reads as JSON: such characters in its strings are text', () => {
  it('render and audit read it', async () => {
    const file = join(dir, 'pod.json');
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', annotations: { note: 'a\u2028b\u0085c' } }, spec: { containers: [{ name: 'a', image: 'gcr.io/app:1' }] } };
    const text = JSON.stringify(pod, null, 2);
    writeFileSync(file, text);
    const r = await runCli(['render', '--config', RULES, '-f', file]);
    expect(r).toEqual({ code: 0, out: text.replace('gcr.io/app', 'asia.gcr.io/app'), err: '' });
    const a = await runCli(['audit', '--config', RULES, '-f', file, '-o', 'json']);
    expect(a.code).toBe(1);
    expect(a.out).toContain('"image":"gcr.io/app:1"');
  });

  it('a stream of JSON documents, after a byte order mark, too', async () => {
    const file = join(dir, 'stream.json');
    const pod = (name: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, annotations: { note: 'a\u2028b' } }, spec: { containers: [{ name: 'a', image: 'gcr.io/app:1' }] } });
    const text = `\ufeff${pod('a')}\n${pod('b')}\n`;
    writeFileSync(file, text);
    const r = await runCli(['render', '--config', RULES, '-f', file]);
    expect(r).toEqual({ code: 0, out: text.replaceAll('gcr.io/app', 'asia.gcr.io/app'), err: '' });
  });
});
