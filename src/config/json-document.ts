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

export type JsonDocument =
  | { readonly kind: 'value'; readonly value: unknown }
  | { readonly kind: 'duplicate'; readonly key: string; readonly line: number; readonly column: number }
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
  const duplicate = firstDuplicateKey(text);
  if (duplicate === undefined) return { kind: 'value', value };
  const before = text.slice(0, duplicate.offset);
  const line = before.split('\n').length;
  const column = duplicate.offset - before.lastIndexOf('\n');
  return { kind: 'duplicate', key: duplicate.key, line, column };
}

/** The first key repeated in one object of `text` (valid JSON), with its offset. */
function firstDuplicateKey(text: string): { key: string; offset: number } | undefined {
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
        if (keys.has(key)) return { key, offset: i };
        keys.add(key);
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
  return undefined;
}
