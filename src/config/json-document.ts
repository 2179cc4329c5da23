/**
 * A rules document written in JSON, read without the YAML parser: `JSON.parse`, then a check for
 * duplicate keys (an error in our YAML reading, which `JSON.parse` would let through: the last
 * value would silently win). The Lambda's rules are usually JSON (an environment variable or an
 * SSM parameter), and running the YAML parser for them is a large part of a cold start
 * (docs/performance.md); a document that is not valid JSON is left to the YAML parser, which
 * reports it.
 *
 * Hand-written because no maintained JSON parser reports duplicate keys with a position and costs
 * less than the YAML parser it replaces here; it only scans text `JSON.parse` has accepted.
 */

/** A key repeated in its object, where it is repeated (line and column from 1). */
export interface JsonDuplicate {
  readonly key: string;
  readonly line: number;
  readonly column: number;
}

export type JsonDocument =
  | { readonly kind: 'value'; readonly value: unknown }
  /** Every repeated key, in document order (as the YAML parser reports them: every problem at once). */
  | { readonly kind: 'duplicate'; readonly duplicates: readonly JsonDuplicate[] }
  /** Not JSON (YAML, or broken): for the YAML parser. */
  | { readonly kind: 'not-json' };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `text` as a JSON document, when it is one (its first non-blank character is `{`). */
export function readJsonDocument(text: string): JsonDocument {
  if (!text.trimStart().startsWith('{')) return { kind: 'not-json' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'not-json' };
  }
  const found = duplicateKeys(text);
  if (found.length === 0) return { kind: 'value', value };
  // Lines counted in one pass over the text, however many keys repeat.
  const duplicates: JsonDuplicate[] = [];
  let line = 1;
  let lineStart = 0;
  let at = 0;
  for (const { key, offset } of found) {
    for (; at < offset; at++) {
      if (text.charCodeAt(at) === 0x0a) {
        line++;
        lineStart = at + 1;
      }
    }
    duplicates.push({ key, line, column: offset - lineStart + 1 });
  }
  return { kind: 'duplicate', duplicates };
}

/** Every key repeated in one object of `text` (valid JSON), with its offset, in document order. */
function duplicateKeys(text: string): { key: string; offset: number }[] {
  const found: { key: string; offset: number }[] = [];
  // One entry per open object (its keys so far) or array (null).
  const open: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = i + 1;
      while (text.charCodeAt(end) !== QUOTE) end += text.charCodeAt(end) === BACKSLASH ? 2 : 1;
      const keys = open.at(-1);
      if (expectKey && keys) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) found.push({ key, offset: i });
        else keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      open.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = open.at(-1) instanceof Set;
    }
  }
  return found;
}
