/** docs/design.md: the core is pure. No Node I/O, no AWS, no environment in src/core (eslint enforces it too). */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';

const core = join(REPO_ROOT, 'src', 'core');
const files = readdirSync(core).filter((f) => f.endsWith('.ts'));

describe('src/core purity', () => {
  it('has modules', () => {
    expect(files).toEqual(expect.arrayContaining(['reference.ts', 'rules.ts']));
  });

  it.each(files)('%s imports only the core, the config schema types, and pure libraries', (f) => {
    const text = readFileSync(join(core, f), 'utf8');
    const imports = [...text.matchAll(/^\s*import\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)].map((m) => ({ typeOnly: m[1] !== undefined, from: m[2] ?? '' }));
    for (const i of imports) {
      const allowed = i.from.startsWith('./') || (i.typeOnly && i.from.startsWith('../config/'));
      expect({ file: f, import: i.from, allowed }).toEqual({ file: f, import: i.from, allowed: true });
    }
    expect(text).not.toMatch(/\bprocess\.|\brequire\(|\bimport\(/);
  });
});
