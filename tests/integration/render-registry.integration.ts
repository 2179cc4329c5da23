/**
 * `render` with a rule that verifies, against a real OCI registry (CNCF Distribution,
 * tests/helpers/registry.ts) with TLS and token authentication for anonymous pulls (a public
 * mirror), run as users run it: dist/cli.js in a process of its own, trusting the test CA through
 * NODE_EXTRA_CA_CERTS. An image the mirror has is rewritten; one it lacks is kept with a warning
 * (`keep`), rewritten with a warning (`rewrite`), or fails the command (`deny`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';
import { distHandler } from './helpers/tools.js';

const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-render-registry-'));

let pki: TestPki;
let registry: TestRegistry;
beforeAll(async () => {
  distHandler(); // dist/ is built by the wrapper script, and must not be older than src/
  pki = await createTestPki();
  registry = await startRegistry({ pki, auth: 'token', anonymousPull: true });
  await registry.pushImage('team/app', '1.0', 'linux/amd64');
});
afterAll(async () => {
  await registry.stop();
  await pki.remove();
  rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string, image: string): string => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: app\n    image: ${image}\n`;
const INPUT = `${pod('present', 'team/app:1.0')}---\n${pod('absent', 'team/absent:1.0')}`;

/** dist/cli.js render with the rule `team` (docker.io/team -> the registry) verifying, `policy` lines under it. */
async function render(policy: string): Promise<{ code: number | null; out: string; err: string }> {
  const rules = join(dir, `rules-${String(Math.random()).slice(2)}.yaml`);
  writeFileSync(rules, `rules:\n  - name: team\n    match: docker.io/team\n    replace: ${registry.host}/team\n    verify: true\n${policy}`);
  // Asynchronous: the registry's token server answers from this process.
  const child = spawn(process.execPath, [CLI, 'render', '--config', rules], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '', NODE_EXTRA_CA_CERTS: pki.caFile, VERIFY_DEADLINE_MS: '10000' },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const code = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.stdin.end(INPUT);
  return { code: await code, out, err };
}

describe('render against a real registry', () => {
  it('rewrites the image the mirror has and keeps the one it lacks, with a warning (onMissing: keep)', async () => {
    const r = await render('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${pod('present', `${registry.host}/team/app:1.0`)}---\n${pod('absent', 'team/absent:1.0')}`);
    expect(r.err).toMatch(/^warning: document 2: Pod absent: \/spec\/containers\/0\/image: left team\/absent:1\.0 unchanged \(rule team\): not found in 127\.0\.0\.1:\d+\n$/);
    expect(registry.tokenRequests()).toBeGreaterThan(0);
  });

  it('rewrites both with onMissing: rewrite, warning about the one the mirror lacks', async () => {
    const r = await render('    onMissing: rewrite\n');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${pod('present', `${registry.host}/team/app:1.0`)}---\n${pod('absent', `${registry.host}/team/absent:1.0`)}`);
    expect(r.err).toMatch(/^warning: document 2: Pod absent: \/spec\/containers\/0\/image: rewrote team\/absent:1\.0 -> 127\.0\.0\.1:\d+\/team\/absent:1\.0 anyway \(rule team\): not found in /);
  });

  it('fails with onMissing: deny: exit 2, nothing written, the error naming the image and why', async () => {
    const r = await render('    onMissing: deny\n');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^error: stdin: document 2 \(line 9, column 1\): Pod absent: \/spec\/containers\/0\/image: team\/absent:1\.0 -> 127\.0\.0\.1:\d+\/team\/absent:1\.0 \(rule team\): not found in 127\.0\.0\.1:\d+; the webhook would deny this object \(onMissing: deny\); nothing written\n$/);
  });
});
