/**
 * `audit -f` of a multi-document YAML stream (manifests joined by `---`, `kustomize build`, several
 * `kubectl get -o yaml` outputs) parsed the whole text at once when it held no List in kubectl's
 * layout: every document's syntax tree alive together, some 50 times the text (2.6 GB for 50 MB of
 * small Pods), a crash past node's heap (exit 134) where render of the same text needs a fraction.
 * It is read piece by piece now, as render reads it, each tree dropped once its value is read.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { bundleCli } from '../helpers/cli-bundle.js';
import { captureIo } from '../helpers/io.js';
import { fileObjects } from '../../src/cli/audit-input.js';

const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-audit-stream-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const pod = (i: number): string => `---\napiVersion: v1\nkind: Pod\nmetadata: {name: p${i}, namespace: shop}\nspec:\n  containers:\n  - name: a\n    image: gcr.io/app:${i}\n`;

describe('audit -f of a YAML stream of many documents', () => {
  // 2.5 MB, 20,000 Pods: parsed whole they needed more than 128 MiB of old space (a crash at 112);
  // piece by piece, 64 MiB passed alone.
  it('is read within a heap that the whole stream parsed at once did not fit in', async () => {
    const cli = await bundleCli(join(dir, 'cli.mjs'));
    const n = 20_000;
    writeFileSync(join(dir, 'pods.yaml'), Array.from({ length: n }, (_, i) => pod(i)).join(''));
    writeFileSync(join(dir, 'rules.yaml'), 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');
    const child = spawn(process.execPath, ['--max-old-space-size=112', cli, 'audit', '--config', join(dir, 'rules.yaml'), '-f', join(dir, 'pods.yaml'), '-o', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, err: err.split('\n')[0] }).toEqual({ code: 1, err: `audit: ${n} image(s) in ${n} object(s) would be rewritten` });
    expect(out.trimEnd().split('\n')).toHaveLength(n);
  }, 60_000);

  it('reads what it read before: the same objects in the same order, errors with their line', () => {
    const text = `${pod(1)}# a comment\n---\n---\n${pod(2)}...\n${pod(3)}`;
    const io = captureIo({}, '');
    const read = fileObjects(text, io, 'x.yaml');
    expect(read.complete).toBe(true);
    expect(read.objects.map((o) => o.name)).toEqual(['p1', 'p2', 'p3']);
    const broken = fileObjects(`${pod(1)}---\na: [\n${pod(2)}`, io, 'x.yaml');
    expect(broken.objects.map((o) => o.name)).toEqual(['p1', 'p2']);
    expect(io.err()).toMatch(/^error: x\.yaml: document 2: not YAML: .* at line 11, column 1\n$/);
  });
});
