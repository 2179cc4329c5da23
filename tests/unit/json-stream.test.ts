/**
 * jsonStreamStarts: where each value of a stream of JSON documents starts (`jq -c '.items[]'`), or
 * undefined for anything else, which is then read as YAML whole.
 */
import { describe, expect, it } from '@jest/globals';
import { jsonStreamStarts } from '../../src/manifests/json-stream.js';

describe('jsonStreamStarts', () => {
  it.each([
    ['two objects, one per line', '{"a":1}\n{"b":2}\n', [0, 8]],
    ['objects back to back', '{"a":1}{"b":2}', [0, 7]],
    ['arrays and objects, tabs and CRLF between', '[1, 2]\t\r\n{"b": [true, false, null, -1.5e+3]}', [0, 9]],
    ['after a byte order mark', '\ufeff{}\n{}', [1, 4]],
    ['braces and brackets inside strings', '{"a":"}{]["}\n{"b":"{"}', [0, 13]],
    ['an escaped quote inside a string', '{"a":"x\\"}{"} {}', [0, 14]],
    ['an escaped backslash before a closing quote', '{"a":"\\\\"} {}', [0, 11]],
    ['three values', '{} [] {}', [0, 3, 6]],
  ])('%s', (_, text, starts) => {
    expect(jsonStreamStarts(text)).toEqual(starts);
  });

  it.each([
    ['one object', '{"a":1}\n'],
    ['one object after a byte order mark', '\ufeff{"a":1}'],
    ['a string at the top level', '"a" {}'],
    ['a string at the top level between two objects', '{} "a" {}'],
    ['a number between two objects', '{} 1 {}'],
    ['a closing bracket with nothing open', '{} ] {}'],
    ['a closing bracket with nothing open, then an opening one', '{} {} ] ['],
    ['an object left open', '{} {"a": {}'],
    // (Taken as closed at the text's end, the scan would start over from its first character, for ever.)
    ['a string left open', '{} {"a": "b}'],
    ['a YAML comment between', '{}\n# note\n{}'],
    ['a YAML document marker between', '{}\n---\n{}'],
    ['single quotes (YAML flow)', "{'a': 1} {}"],
    ['a plain scalar with a slash (YAML flow)', '{a: gcr.io/x} {}'],
    ['an escaped quote that does not close the string', '{"a":"\\"} {}'],
    ['empty', ''],
  ])('%s: undefined', (_, text) => {
    expect(jsonStreamStarts(text)).toBeUndefined();
  });
});
