/**
 * scripts/test-all.sh runs the e2e scenarios whose outcome depends on the Kubernetes version
 * against the older minor too, chosen by title (jest -t). jest passes a run in which a pattern
 * selects nothing, so a renamed scenario would silently drop out of it: each alternative of the
 * pattern must select a scenario (or a describe block) of tests/e2e, its title in quotes or backticks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../helpers/fixtures.js';

const script = readFileSync(join(REPO_ROOT, 'scripts', 'test-all.sh'), 'utf8');
const subset = /^E2E_VERSION_SUBSET='([^']+)'$/m.exec(script)?.[1] ?? '';

/** The titles of every scenario and describe block of tests/e2e (the first string argument). */
const titles = readdirSync(join(REPO_ROOT, 'tests', 'e2e'))
  .filter((f) => f.endsWith('.e2e.ts'))
  .flatMap((f) => [...readFileSync(join(REPO_ROOT, 'tests', 'e2e', f), 'utf8').matchAll(/(?:scenario\(env, |describe\()(['"`])((?:\\.|(?!\1).)*)\1/g)].map((m) => (m[2] ?? '').replace(/\\(.)/g, '$1')));

describe('the e2e subset test:all runs against the older Kubernetes', () => {
  it('is passed to test:e2e with IMAGE_REWRITER_K8S_VERSION and jest -t', () => {
    expect(subset).not.toBe('');
    expect(script).toContain('IMAGE_REWRITER_K8S_VERSION=1.32 npm run --silent test:e2e -- -t "$E2E_VERSION_SUBSET"');
    expect(titles.length).toBeGreaterThan(20);
  });

  it.each(subset.split('|'))('%s selects a scenario', (alternative) => {
    expect(titles.filter((t) => new RegExp(alternative).test(t))).not.toEqual([]);
  });
});
