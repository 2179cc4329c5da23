/**
 * Rules documents in JSON skip the YAML parser (src/config/json-document.ts): the same value and
 * the same verdict as the YAML parser gives, duplicate keys refused with their line and column,
 * anything that is not JSON left to the YAML parser.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseRules } from '../../src/config/load.js';
import { readJsonDocument } from '../../src/config/json-document.js';
import { TEST_ENV } from '../helpers/fixtures.js';

describe('readJsonDocument', () => {
  it.each([
    { desc: 'a flat duplicate', text: '{"a": 1, "a": 2}', key: 'a', line: 1, column: 10 },
    { desc: 'a nested duplicate, on its line', text: '{"rules": [\n  {"name": "x",\n   "name": "y"}]}', key: 'name', line: 3, column: 4 },
    { desc: 'the same key once escaped', text: '{"ab": 1, "a\\u0062": 2}', key: 'ab', line: 1, column: 11 },
    { desc: 'a key with a quote', text: '{"a\\"b": 1, "x": {"k": 1}, "a\\"b": 2}', key: 'a"b', line: 1, column: 28 },
  ])('finds $desc', ({ text, key, line, column }) => {
    expect(readJsonDocument(text)).toEqual({ kind: 'duplicate', duplicates: [{ key, line, column }] });
  });

  it.each([
    { desc: 'the same key in sibling objects', text: '{"rules": [{"name": "a"}, {"name": "b"}]}' },
    { desc: 'a key equal to a value', text: '{"name": "name", "x": ["name", {"name": 1}]}' },
    { desc: 'keys in nested objects', text: '{"a": {"a": {"a": 1}}, "b": [{"a": 1}, [{"a": 2}]]}' },
    { desc: 'strings with braces and commas', text: '{"a": "{\\"a\\": 1, ", "b": "}],[{"}' },
  ])('accepts $desc', ({ text }) => {
    expect(readJsonDocument(text)).toEqual({ kind: 'value', value: JSON.parse(text) as unknown });
  });

  it.each([
    ['YAML', 'rules:\n  - name: a\n'],
    ['a YAML flow mapping', '{rules: []}'],
    ['JSON with a trailing comma', '{"rules": [],}'],
    ['a JSON array', '[{"rules": []}]'],
    ['a comment before the JSON', '# rules\n{"rules": []}'],
  ])('leaves %s to the YAML parser', (_desc, text) => {
    expect(readJsonDocument(text)).toEqual({ kind: 'not-json' });
  });
});

describe('parseRules on JSON', () => {
  const VALID = '{"rules": [{"name": "gcr", "match": "gcr.io", "replace": "asia.gcr.io"}], "exclude": ["docker.io/library/busybox"]}';

  it('gives the same rewriter and the same verdicts as the YAML parser', () => {
    const viaJson = parseRules(VALID, TEST_ENV);
    const viaYaml = parseRules(`# read as YAML\n${VALID}`, TEST_ENV);
    expect(viaJson.ok && viaYaml.ok).toBe(true);
    if (!viaJson.ok || !viaYaml.ok) return;
    const summary = (r: ReturnType<typeof viaJson.rewriter.rewrite>): string => JSON.stringify(r);
    for (const image of ['gcr.io/a:1', 'busybox', 'quay.io/x']) expect(summary(viaJson.rewriter.rewrite(image))).toBe(summary(viaYaml.rewriter.rewrite(image)));
    expect(viaJson.rewriter.rewrite('gcr.io/a:1')).toMatchObject({ kind: 'rewritten', rewritten: 'asia.gcr.io/a:1' });
  });

  it('refuses a duplicate key, like the YAML parser', () => {
    const text = '{"rules": [{"name": "gcr", "match": "gcr.io",\n "match": "quay.io", "replace": "x.example.com"}]}';
    expect(parseRules(text, TEST_ENV)).toEqual({ ok: false, issues: [{ path: [], position: { line: 2, column: 2 }, severity: 'error', message: 'Map keys must be unique' }] });
    const yaml = parseRules(`# YAML\n${text}`, TEST_ENV);
    expect(yaml.ok ? [] : yaml.issues.map((i) => i.message)).toEqual(['Map keys must be unique']);
  });

  it('refuses every duplicate key at once, like the YAML parser (it stopped at the first)', () => {
    const text = '{"rules": [{"name": "a", "match": "gcr.io", "replace": "x.io", "match": "quay.io"},\n {"name": "b", "match": "k8s.gcr.io", "replace": "y.io", "replace": "z.io", "replace": "w.io"}]}';
    const viaJson = parseRules(text, TEST_ENV);
    const viaYaml = parseRules(`${text}\n# YAML`, TEST_ENV);
    const where = (r: typeof viaJson): unknown => (r.ok ? undefined : r.issues.map((i) => [i.position, i.message]));
    expect(where(viaJson)).toEqual([
      [{ line: 1, column: 64 }, 'Map keys must be unique'],
      [{ line: 2, column: 58 }, 'Map keys must be unique'],
      [{ line: 2, column: 77 }, 'Map keys must be unique'],
    ]);
    expect(where(viaJson)).toEqual(where(viaYaml));
  });

  it('places a problem on the first line at the same column with a byte order mark (read by the YAML parser) as without', () => {
    const text = '{"rules": [], "exclude": [], "exclude": []}';
    const where = (t: string): unknown => {
      const r = parseRules(t, TEST_ENV);
      return r.ok ? undefined : r.issues.map((i) => i.position);
    };
    expect(where(text)).toEqual([{ line: 1, column: 30 }]);
    expect(where(`\uFEFF${text}`)).toEqual([{ line: 1, column: 30 }]);
    expect(where('\uFEFFrules: [a: b: c]\n')).toEqual(where('rules: [a: b: c]\n'));
  });

  it('gives the YAML parser\'s issues for any JSON object (generated documents)', () => {
    const rule = fc.record(
      { name: fc.constantFrom('a', 'gcr', 'B!'), match: fc.constantFrom('gcr.io', 'quay.io/x', 'nginx', ''), regex: fc.constantFrom('a(.*)', '('), replace: fc.constantFrom('asia.gcr.io', 'x/$1', ''), extra: fc.jsonValue() },
      { requiredKeys: [] },
    );
    const doc = fc.oneof(fc.record({ rules: fc.array(rule, { maxLength: 3 }), exclude: fc.array(fc.string(), { maxLength: 2 }) }, { requiredKeys: [] }), fc.dictionary(fc.string(), fc.jsonValue()));
    fc.assert(
      fc.property(doc, (value) => {
        const text = JSON.stringify(value);
        const viaJson = parseRules(text, TEST_ENV);
        const viaYaml = parseRules(`# YAML\n${text}`, TEST_ENV);
        expect(viaJson.ok).toBe(viaYaml.ok);
        if (!viaJson.ok && !viaYaml.ok) expect(viaJson.issues).toEqual(viaYaml.issues);
        if (viaJson.ok && viaYaml.ok) expect(viaJson.warnings).toEqual(viaYaml.warnings);
      }),
    );
  });
});
