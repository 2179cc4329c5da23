/**
 * Rules documents read by the YAML parser (src/config/yaml-document.ts): an alias whose anchor is
 * not set (the package throws it from toJS, without a place) is reported at its line and column,
 * with the likely cause: a namespace glob written unquoted (`namespaces: [*-team]`).
 */
import { describe, expect, it } from '@jest/globals';
import { parseRules } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/schema.js';
import { TEST_ENV } from '../helpers/fixtures.js';

const messages = (text: string): string[] => {
  const r = parseRules(text, TEST_ENV);
  return r.ok ? [] : r.issues.map(formatIssue);
};

describe('an alias without its anchor', () => {
  it('is reported where it is, with what to write (a "*" glob left unquoted)', () => {
    const text = 'rules:\n  - name: a\n    match: gcr.io\n    replace: x.io\n    namespaces:\n      - *-team\n';
    expect(messages(text)).toEqual(['(line 6, column 9): Unresolved alias (the anchor must be set before the alias): -team: a value that starts with "*" is a YAML alias; quote it ("*-team")']);
    expect(messages(`\uFEFFrules: *x\n`)).toEqual(['(line 1, column 8): Unresolved alias (the anchor must be set before the alias): x: a value that starts with "*" is a YAML alias; quote it ("*x")']);
  });

  it('a "*" alone (the every-namespace glob) unquoted, with what to write', () => {
    const rule = 'rules:\n  - name: a\n    match: gcr.io\n    replace: x.io\n';
    expect(messages(`${rule}    excludeNamespaces: [*]\n`)).toEqual(['(line 5, column 25): Alias cannot be an empty string: a "*" alone is a YAML alias; quote it ("*")']);
    expect(messages(`${rule}    namespaces:\n      - *\n`)).toEqual(['(line 6, column 9): Alias cannot be an empty string: a "*" alone is a YAML alias; quote it ("*")']);
  });

  it('after an alias that resolves, the one that does not', () => {
    const text = 'a: &x 1\nrules:\n  - {name: a, match: gcr.io, replace: x.io, namespaces: [*x, *y]}\n';
    expect(messages(text)).toEqual(['(line 3, column 62): Unresolved alias (the anchor must be set before the alias): y: a value that starts with "*" is a YAML alias; quote it ("*y")']);
  });

  it('other failures of toJS keep their message', () => {
    const bomb = `a: &a [x, x]\nb: [${'*a, '.repeat(200)}*a]\nrules: []\n`;
    expect(messages(bomb)).toEqual(['(document): Excessive alias count indicates a resource exhaustion attack']);
  });
});

describe('a no-break space where a space belongs', () => {
  it('is named where it is, after the parser\'s errors it causes (copied out of a web page or a chat)', () => {
    const said = 'a no-break space (U+00A0, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space';
    const indented = messages('rules:\n  - name: gcr\n\u00a0   match: gcr.io\n    replace: asia.gcr.io\n');
    expect(indented.length).toBeGreaterThan(1);
    expect(indented.at(-1)).toBe(`(line 3, column 1): ${said}`);
    expect(messages('\uFEFFrules:\n  - name: gcr\n  \u00a0  match: gcr.io\n    replace: asia.gcr.io\n').at(-1)).toBe(`(line 3, column 3): ${said}`);
    // After a key's colon: the key and its value are one text to YAML.
    expect(messages('rules:\n  - name: gcr\n    match:\u00a0gcr.io\n    replace: asia.gcr.io\n').at(-1)).toBe(`(line 3, column 11): ${said}`);
    // On the first line after a byte order mark, which is no column.
    expect(messages('\uFEFFrules:\u00a0\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n').at(-1)).toBe(`(line 1, column 7): ${said}`);
  });
});

describe('other characters that look like a space, or like nothing', () => {
  it.each([
    ['an ideographic space as indentation (a CJK input method)', 'rules:\n\u3000 - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n', '(line 2, column 1): an ideographic space (U+3000, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space'],
    ['an em space after a colon', 'rules:\n  - name: gcr\n    match:\u2003gcr.io\n    replace: asia.gcr.io\n', '(line 3, column 11): a typographic space (U+2003, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space'],
    ['a zero-width space before an indentation', 'rules:\n  - name: gcr\n\u200b    match: gcr.io\n    replace: asia.gcr.io\n', '(line 3, column 1): a zero-width space (U+200B, from text copied out of a web page or a chat), which YAML reads as text: delete it'],
  ])('%s: named where it is (the parser said only "Implicit keys need to be on a single line")', (_what, text, said) => {
    expect(messages(text).at(-1)).toBe(said);
  });

  it('not the byte order mark that starts a document', () => {
    expect(messages('\uFEFFrules:\n  - name: gcr\n    match:gcr.io\n    replace: asia.gcr.io\n').join('\n')).not.toContain('U+FEFF');
  });
});

describe('a regex in double quotes', () => {
  it('says that its backslashes are YAML escapes there, and what to write', () => {
    const text = 'rules:\n  - name: gcr\n    regex: "gcr\\.io/(.*)"\n    replace: asia.gcr.io/$1\n';
    expect(messages(text)).toEqual([`(line 3, column 16): Invalid escape sequence \\.: in double quotes a backslash starts a YAML escape; write the value in single quotes ('gcr\\.io/(.*)'), or double its backslashes`]);
  });
});

describe('a key without the space after its colon', () => {
  it('names the key:value and the space it needs (the parser said only "Implicit keys need to be on a single line")', () => {
    expect(messages('rules:\n  - name: gcr\n    match:gcr.io\n    replace: asia.gcr.io\n')).toEqual(['(line 3, column 5): Implicit keys need to be on a single line: "match:gcr.io" needs a space after the colon ("match: gcr.io")']);
    expect(messages('rules:\n  - name:gcr\n    match: gcr.io\n    replace: asia.gcr.io\n')).toEqual(['(line 2, column 5): Implicit keys need to be on a single line: "name:gcr" needs a space after the colon ("name: gcr")']);
  });

  it('does not quote a value with an "@" (a URL\'s credentials) in that message', () => {
    const said = messages('rules:\n  - name: gcr\n    match: gcr.io\n    replace:https://robot:s3cr3t@mirror.example.com\n    verify: true\n');
    expect(said).toEqual(['(line 4, column 5): Implicit keys need to be on a single line: "replace:" needs a space after the colon (the value is not shown: an "@" may be a URL\'s credentials)']);
    expect(said.join('\n')).not.toContain('s3cr3t');
  });
});

describe('a document given escaped or quoted (REWRITE_RULES set from a .env file, a CI variable, a SAM parameter)', () => {
  const NOT_A_MAPPING = '(document): must be a mapping with "rules:" (and optionally "exclude:")';
  it('its line breaks written as \\n', () => {
    expect(messages('rules:\\n  - name: gcr\\n    match: gcr.io\\n    replace: asia.gcr.io\\n').at(-1)).toBe('(document): one line whose line breaks are written as \\n (a backslash and an n): give the document with real line breaks, or on one line as flow YAML or JSON ({rules: [...]})');
    expect(messages('rules:\\n  - gcr')).toEqual([`${NOT_A_MAPPING}; it is one line whose line breaks are written as \\n (a backslash and an n): give the document with real line breaks, or on one line as flow YAML or JSON ({rules: [...]})`]);
    // Before a list's "- " at the start of a line too, not only before an indentation.
    expect(messages('rules:\\n- {name: gcr, match: gcr.io, replace: asia.gcr.io}').at(-1)).toBe('(document): one line whose line breaks are written as \\n (a backslash and an n): give the document with real line breaks, or on one line as flow YAML or JSON ({rules: [...]})');
  });

  it('not for a document of real lines with an error and a \\n in a comment', () => {
    expect(messages('rules:\n  - name: gcr # was: rules:\\n  - name: gcr\n    match:gcr.io\n    replace: asia.gcr.io\n')).toEqual(['(line 3, column 5): Implicit keys need to be on a single line: "match:gcr.io" needs a space after the colon ("match: gcr.io")']);
  });

  it('not for a one-line JSON document with an error and a \\n in a string (the form that message asks for)', () => {
    const json = String.raw`{"rules": [{"name": "a", "regex": "^gcr\\.io/(.*)\\n", "replace": "m.io/$1"}]`;
    expect(messages(json)).toEqual(['(line 1, column 78): Flow map must end with a }']);
  });

  it('inside quotes, or with the backslashes of its escaped quotes', () => {
    expect(messages("'rules: [{name: gcr, match: gcr.io, replace: asia.gcr.io}]'")).toEqual([`${NOT_A_MAPPING}; it is one quoted string: the document was given inside quotes (a .env file or docker --env-file keeps them); give it without them`]);
    expect(messages('{\\"rules\\": []}')).toEqual(['rules: is required', '["\\\\\\"rules\\\\\\""]: unknown field (known fields: rules, exclude, allowOptOut; its quotes kept the backslashes that escaped them (\\"): give the document without them)']);
  });

  it('the rules alone, their "rules:" forgotten (YAML and JSON)', () => {
    const said = `${NOT_A_MAPPING}; it is a list: the rules go under "rules:" (a first line "rules:", the list below it)`;
    expect(messages('- name: gcr\n  match: gcr.io\n  replace: asia.gcr.io\n')).toEqual([said]);
    expect(messages('[{"name": "gcr", "match": "gcr.io", "replace": "asia.gcr.io"}]')).toEqual([said]);
  });

  it('a name alone, a path with a backslash in it, is still said to be one', () => {
    expect(messages('C:\\rules\\new.yaml')).toEqual([`${NOT_A_MAPPING}; it is one word of text: a file or parameter name? The document must hold the rules themselves (--config FILE reads a file, REWRITE_RULES_PARAMETER names an SSM parameter)`]);
  });
});
