/**
 * docs/security.md, the threat model, names for each mitigation the test that pins it: a path and
 * often the test's title in parentheses. Checked here so that a renamed or deleted test does not
 * leave the model claiming a pin that no longer exists.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'security.md'), 'utf8');

/** A title as the doc quotes it and as a test file spells it: numbers and `${...}` both as `#`, "..." dropped. */
function shape(text: string): string {
  return text.replace(/\$\{[^}]*\}/g, '#').replace(/\d[\d,]*/g, '#').replace(/\.\.\.$/, '').replace(/\s+/g, ' ');
}

/** Each `tests/....ts ("title", "title")` of the doc: the path and the titles quoted after it. */
function pins(): { path: string; titles: string[] }[] {
  const found: { path: string; titles: string[] }[] = [];
  for (const m of doc.matchAll(/(tests\/[\w./-]+\.ts)(?: \(((?:"[^"]*(?:"\/"[^"]*)*"(?:, )?)+)\))?/g)) {
    const path = m[1] ?? '';
    const titles = [...(m[2] ?? '').matchAll(/"((?:[^"]|"\/")*)"/g)].map((t) => t[1] ?? '');
    found.push({ path, titles });
  }
  return found;
}

describe('docs/security.md', () => {
  it('names tests that exist, by path and by the titles it quotes', () => {
    const all = pins();
    expect(all.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const { path, titles } of all) {
      const file = join(REPO_ROOT, path);
      if (!existsSync(file)) {
        missing.push(path);
        continue;
      }
      const text = shape(readFileSync(file, 'utf8'));
      for (const title of titles) if (!text.includes(shape(title))) missing.push(`${path}: "${title}"`);
    }
    expect(missing).toEqual([]);
  });

  it('is linked from README and SECURITY.md', () => {
    expect(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')).toContain('docs/security.md');
    expect(readFileSync(join(REPO_ROOT, 'SECURITY.md'), 'utf8')).toContain('docs/security.md');
  });
});
