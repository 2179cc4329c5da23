/**
 * Every rules fixture: valid ones load and rewrite their `# example:` images as stated; invalid
 * ones report each `# expect:` line exactly (path and message), all at once.
 */
import { describe, expect, it } from '@jest/globals';
import { formatIssues, parseRules } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/schema.js';
import { commentValues, fixture, fixtureNames, TEST_ENV } from '../helpers/fixtures.js';

const valid = fixtureNames(/^valid-.*\.(ya?ml|json)$/);
const invalid = fixtureNames(/^invalid-.*\.ya?ml$/);

describe('valid rules documents', () => {
  it('has fixtures', () => {
    expect(valid.length).toBeGreaterThanOrEqual(7);
  });

  it.each(valid)('%s loads without errors or warnings', (name) => {
    const r = parseRules(fixture(name), TEST_ENV);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.warnings).toEqual([]);
    expect(r.rewriter.rules.length).toBeGreaterThan(0);
  });

  const examples = valid.flatMap((name) =>
    commentValues(fixture(name), 'example').map((line) => {
      const [image = '', want = ''] = line.split(' -> ');
      return { name, image, want };
    }),
  );
  it.each(examples)('$name: $image -> $want', ({ name, image, want }) => {
    const r = parseRules(fixture(name), TEST_ENV);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    const result = r.rewriter.rewrite(image);
    const got = result.kind === 'rewritten' ? result.rewritten : result.image;
    expect(got).toBe(want);
    if (want === image) expect(result.kind).toBe('unchanged');
  });
});

describe('invalid rules documents', () => {
  it('has fixtures', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(10);
  });

  it.each(invalid)('%s reports every expected problem with its path', (name) => {
    const text = fixture(name);
    const exact = commentValues(text, 'expect');
    const prefixes = commentValues(text, 'expect~');
    expect(exact.length + prefixes.length).toBeGreaterThan(0);
    const r = parseRules(text, TEST_ENV);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.issues.map(formatIssue);
    for (const e of exact) expect(lines).toContain(e);
    for (const p of prefixes) expect(lines.some((l) => l.startsWith(p))).toBe(true);
    // Nothing unexpected: every reported error is one the fixture names.
    expect(lines.length).toBe(exact.length + prefixes.length);
  });
});
