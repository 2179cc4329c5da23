/**
 * The artifacts `sam build` makes from template.yaml (scripts/test-template.sh's build): the
 * webhook's source map is a file beside the bundle that the bundle does not name (`Sourcemap:
 * external`: Node never parses it at a cold start, even with the --enable-source-maps SAM adds),
 * holds no sources (BuildProperties `SourcesContent: 'false'`, quoted because SAM's esbuild builder
 * drops a boolean false) and stays small; an error the artifact logs is shown at its src/ line
 * (src/observability/stack-map.ts reads the map then). The token function is built too. Prints the sizes.
 */
import { describe, expect, it } from '@jest/globals';
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { printFigures } from './helpers/figures.js';
import { lambdaNode, samBuildDir } from './helpers/tools.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

/** The map with its sources was 1.16 MB; without them about 0.3 MB. */
const MAX_MAP_BYTES = 500_000;

describe('the sam build artifacts', () => {
  const dir = join(samBuildDir(), 'WebhookFunction');

  it('the webhook source map has no sourcesContent and stays small', () => {
    const mapPath = join(dir, 'main.mjs.map');
    const map = JSON.parse(readFileSync(mapPath, 'utf8')) as { version?: unknown; sources?: unknown; sourcesContent?: unknown };
    expect(map.version).toBe(3);
    expect(Array.isArray(map.sources) && map.sources.length > 0).toBe(true);
    expect(map).not.toHaveProperty('sourcesContent');
    const bytes = statSync(mapPath).size;
    printFigures('sam build artifacts', [`main.mjs: ${String(statSync(join(dir, 'main.mjs')).size)} bytes`, `main.mjs.map: ${String(bytes)} bytes (limit ${String(MAX_MAP_BYTES)})`]);
    expect(bytes).toBeLessThan(MAX_MAP_BYTES);
  });

  it('the webhook is split: what it loads with import() is in chunks/, and no file names its map', () => {
    const chunks = readdirSync(join(dir, 'chunks')).filter((f) => f.endsWith('.mjs'));
    expect(chunks.some((f) => f.startsWith('yaml-document-'))).toBe(true);
    expect(chunks.some((f) => f.startsWith('regex-check-'))).toBe(true);
    for (const f of ['main.mjs', ...chunks.map((c) => join('chunks', c))]) {
      expect(readFileSync(join(dir, f), 'utf8')).not.toContain('sourceMappingURL');
      expect(existsSync(join(dir, `${f}.map`))).toBe(true);
    }
  });

  it('the webhook imports nothing from outside its files but Node built-ins: the AWS SDK is in its chunks', async () => {
    // esbuild resolves every import and import() of the artifact as Node would, from the artifact's
    // directory (no node_modules is in reach of it: scripts/test-template.sh): one it cannot resolve fails the build.
    const result = await build({ entryPoints: [join(dir, 'main.mjs')], bundle: true, platform: 'node', format: 'esm', splitting: true, outdir: join(dir, 'resolved'), write: false, metafile: true, logLevel: 'silent' });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((i) => !i.includes('WebhookFunction/'))).toEqual([]);
    // The SDK's request signing is among them, and not in the entry a cold start loads.
    const signing = inputs.filter((i) => readFileSync(i.startsWith('/') ? i : join(process.cwd(), i), 'utf8').includes('AWS4-HMAC-SHA256'));
    expect(signing.length).toBeGreaterThan(0);
    expect(signing.some((i) => i.endsWith('main.mjs'))).toBe(false);
  });

  it('an error the webhook logs at init shows its src/ position, with the NODE_OPTIONS SAM gives it', () => {
    const bundle = pathToFileURL(join(dir, 'main.mjs')).href;
    // A token too short: the settings are refused, logged as CRITICAL with the error, and the init fails.
    const r = spawnSync(lambdaNode(), ['--input-type=module', '-e', `await import(${JSON.stringify(bundle)}).catch(() => {});`], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'], NODE_OPTIONS: ' --enable-source-maps', REWRITE_RULES: '{"rules":[]}', WEBHOOK_TOKEN: 'short' },
    });
    const line = r.stderr.split('\n').find((l) => l.includes('"CRITICAL"'));
    const error = (JSON.parse(line ?? '{}') as { error?: { location?: string; stack?: string } }).error;
    expect(error?.location).toMatch(/^src\/config\/settings\.ts:\d+$/);
    expect(error?.stack).toMatch(/\n {4}at \S+ \(src\/config\/settings\.ts:\d+:\d+\)/);
  });

  it('each function carries THIRD-PARTY-NOTICES.txt, naming every package its maps show bundled', () => {
    const notices = readFileSync(join(REPO_ROOT, 'src', 'lambda', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    for (const fn of ['WebhookFunction', 'WebhookTokenFunction']) expect(readFileSync(join(samBuildDir(), fn, 'THIRD-PARTY-NOTICES.txt'), 'utf8')).toBe(notices);
    const maps = ['main.mjs.map', ...readdirSync(join(dir, 'chunks')).filter((f) => f.endsWith('.map')).map((f) => join('chunks', f))];
    const packages = new Set(
      maps.flatMap((m) => (JSON.parse(readFileSync(join(dir, m), 'utf8')) as { sources: string[] }).sources.flatMap((s) => /.*node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s)?.[1] ?? [])),
    );
    expect(packages.size).toBeGreaterThan(10);
    const listed = new Set(notices.split('\n').map((l) => l.split(' ')[0]));
    expect([...packages].filter((p) => !listed.has(p))).toEqual([]);
    // The token function bundles zod (its input's check), and its notices say so.
    expect(readFileSync(join(samBuildDir(), 'WebhookTokenFunction', 'token-resource.mjs'), 'utf8')).toContain('ZodError');
    expect(listed.has('zod')).toBe(true);
  });

  it('the token custom resource function is built, without the webhook in it', () => {
    const bundle = readFileSync(join(samBuildDir(), 'WebhookTokenFunction', 'token-resource.mjs'), 'utf8');
    expect(bundle).toContain('SecureString');
    expect(bundle).not.toContain('admission reviewed');
    expect(bundle.length).toBeLessThan(200_000);
  });
});
