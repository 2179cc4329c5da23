/** Reading test fixtures relative to the repository, and the environment the rules fixtures use. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const FIXTURES = join(REPO_ROOT, 'tests', 'fixtures');

/** The environment `${env:...}` substitutions see in tests (an account, the Oregon region, its partition's domain). */
export const TEST_ENV: Readonly<Record<string, string>> = { AWS_ACCOUNT_ID: '123456789012', AWS_REGION: 'us-west-2', AWS_URL_SUFFIX: 'amazonaws.com' };

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export function fixtureNames(pattern: RegExp): string[] {
  return readdirSync(FIXTURES).filter((f) => pattern.test(f)).sort();
}

/** `# <tag>: value` comment lines at the top of a fixture. */
export function commentValues(text: string, tag: string): string[] {
  const prefix = `# ${tag}: `;
  return text.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
}
