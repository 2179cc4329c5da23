/**
 * yamlListOf: the items of a YAML List in kubectl's layout, or undefined for any other text, which
 * render then parses whole (only memory depends on it, never the output).
 */
import { describe, expect, it } from '@jest/globals';
import { EditError } from '../../src/manifests/yaml-edit.js';
import { yamlListOf } from '../../src/manifests/yaml-list.js';

const LIST = 'apiVersion: v1\nitems:\n- a: 1\n  b: x\n- c: 2\nkind: List\n';

describe('yamlListOf', () => {
  it('finds each item, the List without them, and maps an item to a document and back', () => {
    const list = yamlListOf(LIST);
    expect(list).toMatchObject({ top: 'apiVersion: v1\nitems: []\nkind: List\n', starts: [22, 36], ends: [36, 43] });
    expect(list?.document('- c: 2\n')).toBe('  c: 2\n');
    expect(list?.restore('  c: 3\n')).toBe('- c: 3\n');
  });

  it('refuses an edit that reached the "- " of an item', () => {
    expect(() => yamlListOf(LIST)?.restore('x c: 3\n')).toThrow(new EditError('the "- " of a List item was edited'));
  });

  it.each([
    ['a --- line first, with a comment', `--- # list\n${LIST}`],
    ['a blank line of a tab between items', LIST.replace('- c: 2\n', '\t\n- c: 2\n')],
  ])('%s: a List', (_, text) => {
    expect(yamlListOf(text)).toBeDefined();
  });

  it.each([
    ['a lone CR (a line break to YAML, not to this scan)', LIST.replace('b: x', 'b: "x\ry"')],
    ['a --- line after the first', LIST.replace('items:', '---\nitems:')],
    ['a --- line with a tag', `--- !!map\n${LIST}`],
    ['a first line that is a quoted key', `"q": 1\n${LIST}`],
    ['a first line that is not a key (no space after its colon)', `a:b\n${LIST}`],
  ])('%s: undefined', (_, text) => {
    expect(yamlListOf(text)).toBeUndefined();
  });
});
