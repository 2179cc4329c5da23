/**
 * A stream of JSON documents with nothing between them but white space: `jq -c '.items[]'`, or
 * `kubectl get pod a -o json; kubectl get pod b -o json`. kubectl reads such a stream as one
 * document per value; YAML does not (a second `{` after a flow mapping is a syntax error), so
 * `render` and `audit` cut it into its values first, as they cut YAML at its `---` lines.
 *
 * Only the brackets and strings are followed here (linear, no parsing): each value is parsed
 * later, as JSON or YAML, and an error in it is reported there with its document number.
 *
 * Pure: no I/O.
 */

/**
 * Where each top-level value starts, when `text` is two or more JSON objects or arrays separated
 * by white space only (a byte order mark first is allowed); otherwise undefined (YAML, a single
 * document, anything else), and the text is read as it would be without this module.
 */
export function jsonStreamStarts(text: string): number[] | undefined {
  const starts: number[] = [];
  let depth = 0;
  let inString = false;
  for (let i = text.startsWith('\ufeff') ? 1 : 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      if (depth === 0) return undefined;
      inString = true;
    } else if (c === '{' || c === '[') {
      if (depth === 0) starts.push(i);
      depth++;
    } else if (c === '}' || c === ']') {
      if (depth === 0) return undefined;
      depth--;
    } else if (depth === 0 && c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') return undefined;
  }
  return depth === 0 && !inString && starts.length > 1 ? starts : undefined;
}
