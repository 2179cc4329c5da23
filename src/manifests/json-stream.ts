/**
 * A stream of JSON documents with nothing between them but white space: `jq -c '.items[]'`, or
 * `kubectl get pod a -o json; kubectl get pod b -o json`. kubectl reads such a stream as one
 * document per value; YAML does not (a second `{` after a flow mapping is a syntax error), so
 * `render` and `audit` cut it into its values first, as they cut YAML at its `---` lines.
 *
 * Only the brackets and strings are followed here (linear, no parsing): each value is parsed
 * later, as JSON or YAML, and an error in it is reported there with its document number. Text with
 * anything JSON does not have outside its strings (YAML's `'`, `#`, plain scalars with `/`) is
 * left to the YAML parser whole.
 *
 * Pure: no I/O.
 */

/** Per ASCII code: 1 white space, 2 what else JSON has between its strings (literals, numbers, `,` and `:`). */
const CLASS = new Uint8Array(128);
for (const c of ' \t\n\r') CLASS[c.charCodeAt(0)] = 1;
for (const c of ',:+-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ') CLASS[c.charCodeAt(0)] = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = [0x7b, 0x5b]; // { [
const CLOSE = [0x7d, 0x5d]; // } ]

/**
 * Where each top-level value starts, when `text` is two or more JSON objects or arrays separated
 * by white space only (a byte order mark first is allowed); otherwise undefined (YAML, a single
 * document, anything else), and the text is read as it would be without this module.
 */
export function jsonStreamStarts(text: string): number[] | undefined {
  const starts: number[] = [];
  let depth = 0;
  for (let i = text.startsWith('\ufeff') ? 1 : 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      if (depth === 0) return undefined;
      // To the closing quote: the next one that an odd number of backslashes does not escape.
      for (;;) {
        i = text.indexOf('"', i + 1);
        if (i < 0) return undefined;
        let backslashes = 0;
        while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (OPEN.includes(c)) {
      if (depth === 0) starts.push(i);
      depth++;
    } else if (CLOSE.includes(c)) {
      if (depth === 0) return undefined;
      depth--;
    } else if ((CLASS[c] ?? 0) !== 1 && (depth === 0 || CLASS[c] !== 2)) return undefined;
  }
  return depth === 0 && starts.length > 1 ? starts : undefined;
}
