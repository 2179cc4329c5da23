/**
 * The artifacts `sam build` makes from template.yaml (scripts/test-template.sh's build): the
 * webhook's source map holds no sources (BuildProperties `SourcesContent: 'false'`, quoted because
 * SAM's esbuild builder drops a boolean false) and stays small, since Node parses it at every cold
 * start with --enable-source-maps; the token function is built too. Prints the sizes.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { printFigures } from './helpers/figures.js';
import { samBuildDir } from './helpers/tools.js';

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

  it('the token custom resource function is built, without the webhook in it', () => {
    const bundle = readFileSync(join(samBuildDir(), 'WebhookTokenFunction', 'token-resource.mjs'), 'utf8');
    expect(bundle).toContain('SecureString');
    expect(bundle).not.toContain('admission reviewed');
    expect(bundle.length).toBeLessThan(200_000);
  });
});
