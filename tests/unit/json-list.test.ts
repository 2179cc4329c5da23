/**
 * jsonListOf: where the items of a JSON List are in its text (offsets render cuts at), or
 * undefined for any text it leaves to the whole-document path.
 */
import { describe, expect, it } from '@jest/globals';
import { jsonListOf } from '../../src/manifests/json-list.js';

/** The expected layout: `items` is the first `[` after `"items":`, each item found by its text. */
function layout(text: string, items: readonly string[]): { open: number; close: number; starts: number[]; ends: number[] } {
  const open = text.indexOf('[', text.indexOf('"items":'));
  const starts: number[] = [];
  let at = open;
  for (const item of items) {
    at = text.indexOf(item, at);
    starts.push(at);
    at += item.length;
  }
  return { open, close: text.lastIndexOf(']'), starts, ends: starts.map((s, i) => s + (items[i]?.length ?? 0)) };
}

describe('jsonListOf', () => {
  const items = ['{"kind":"Pod","metadata":{"name":"a"}}', '[1, "x", {"y": [2]}]', '"s"'];
  it.each([
    ['compact', `{"kind":"List","items":[${items.join(',')}]}`],
    ['pretty, CRLF', `{\r\n  "kind": "List",\r\n  "items": [\r\n    ${items.join(',\r\n    ')}\r\n  ]\r\n}\r\n`],
    ['after a --- line', `---\n{"kind":"List","items":[${items.join(', ')}]}`],
    ['after a byte order mark', `\ufeff{"kind":"List","items":[${items.join(',')}]}`],
    ['another key holding a list before items', `{"other":[{"kind":"Pod"}],"items":[${items.join(',')}]}`],
    ['a string value "items" before them', `{"a":"items","b":[0],"items":[${items.join(',')}]}`],
  ])('%s: the items where they are', (_, text) => {
    expect(jsonListOf(text)).toEqual(layout(text, items));
  });

  it('an empty List: no items', () => {
    const text = '{"kind":"List","items":[]}';
    expect(jsonListOf(text)).toEqual({ open: 23, close: 24, starts: [], ends: [] });
  });

  it.each([
    ['items twice (YAML refuses the duplicate key)', '{"items":[],"items":[{}]}'],
    ['items that are not a list', '{"items":{"a":[1]}}'],
    ['not JSON', 'kind: List\nitems: []\n'],
    ['a YAML comment first', '# list\n{"items":[]}'],
  ])('%s: undefined', (_, text) => {
    expect(jsonListOf(text)).toBeUndefined();
  });

  it('undefined past what the heap holds at HEAP_PER_LIST_CHAR', () => {
    const text = '{"items":[{}]}';
    expect(jsonListOf(text, text.length * 32)).toBeDefined();
    expect(jsonListOf(text, text.length * 32 - 1)).toBeUndefined();
  });
});
