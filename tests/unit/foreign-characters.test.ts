/**
 * Characters a user cannot see or tell apart, as messages name them: foreignCharacter (what no image
 * reference, prefix or name holds), terminalLines and oneLine (what the CLI writes to stderr), and
 * the words for a space YAML does not read as one.
 */
import { describe, expect, it } from '@jest/globals';
import { oneLine, terminalLines } from '../../src/core/json.js';
import { foreignCharacter, foreignNote, parseNormalizedNamed, referenceProblem } from '../../src/core/reference.js';
import { notYamlSpace, notYamlSpaceNear } from '../../src/config/yaml-read.js';

const NOTE = 'not printable ASCII (a look-alike or invisible character copied with it?)';

describe('foreignCharacter', () => {
  it.each([
    ['printable ASCII', 'gcr.io/app:1@sha256:abc', undefined],
    ['a space', 'gcr.io/app ', 'a space at character 11'],
    ['a tab', 'gcr.io\t', 'a tab at character 7'],
    ['a Cyrillic o', 'd\u043ecker.io', `U+043E at character 2, ${NOTE}`],
    ['a character outside the BMP, counted as one', '\u{1F600}x\u200b', `U+1F600 at character 1, ${NOTE}`],
    ['a zero-width space second', 'b\u200b', `U+200B at character 2, ${NOTE}`],
    ['a combining accent (NFD)', 'cafe\u0301', `U+0301 at character 5, ${NOTE}`],
  ])('%s', (_what, text, said) => {
    expect(foreignCharacter(text)).toBe(said);
    expect(foreignNote(text)).toBe(said === undefined ? '' : `: ${said}`);
  });
});

describe('referenceProblem', () => {
  const problem = (image: string): string => {
    const r = parseNormalizedNamed(image);
    if (r.ok) throw new Error(`${image} parses`);
    return referenceProblem(r.error);
  };

  it("keeps Go's message where no such character is, and the message of another kind", () => {
    expect(problem('gcr.io/a:-')).toBe('invalid reference format');
    expect(problem('gcr.io/App')).toBe('invalid reference format: repository name (App) must be lowercase');
  });

  it('adds where the character is to "invalid reference format"', () => {
    expect(problem('gcr.io/nginx\u00a0')).toBe(`invalid reference format: U+00A0 at character 13, ${NOTE}`);
    // The parser's own message stays Go's (the oracle compares it).
    const r = parseNormalizedNamed('gcr.io/nginx\u00a0');
    expect(!r.ok && r.error.message).toBe('invalid reference format');
  });
});

describe('terminalLines and oneLine', () => {
  it('terminalLines keeps line breaks and tabs, and escapes controls and invisible characters', () => {
    expect(terminalLines('a\tb\nc\u001b[2J\r\u200b\u00a0\u2014é')).toBe('a\tb\nc\\u001b[2J\\u000d\\u200b\\u00a0\\u2014é');
  });

  it('oneLine escapes line breaks too', () => {
    expect(oneLine('a\nb\u2028\u200b')).toBe('a\\u000ab\\u2028\\u200b');
  });
});

describe('a space YAML does not read as one', () => {
  it.each([
    ['\u00a0', 'a no-break space (U+00A0, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space'],
    ['\u202f', 'a narrow no-break space (U+202F, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space'],
    ['\u2003', 'a typographic space (U+2003, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space'],
    ['\u3000', 'an ideographic space (U+3000, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space'],
    ['\u2060', 'a word joiner (U+2060, from text copied out of a web page or a chat), which YAML reads as text: delete it'],
    ['\ufeff', 'a byte order mark (U+FEFF, from text copied out of a web page or a chat), which YAML reads as text: delete it'],
    ['\u180e', 'a zero-width character (U+180E, from text copied out of a web page or a chat), which YAML reads as text: delete it'],
  ])('%j', (c, said) => {
    expect(notYamlSpace(c)).toBe(said);
  });

  it('notYamlSpaceNear: on the first line, not the byte order mark that starts the text, nor one two lines up', () => {
    expect(notYamlSpaceNear('a:\u00a0b\n', 1)).toBe(`; at line 1, column 3: ${notYamlSpace('\u00a0')}`);
    expect(notYamlSpaceNear('\ufeffa: b\n', 2)).toBe('');
    expect(notYamlSpaceNear('a: "\u00a0"\nb: c\nd e: f\n', 15)).toBe('');
    expect(notYamlSpaceNear('a: 1\n\u3000b: c\nd: [\n', 14)).toBe(`; at line 2, column 1: ${notYamlSpace('\u3000')}`);
  });
});
