/**
 * Characters that kubectl reads as line breaks and the `yaml` package does not: NEL (U+0085), and
 * the line and paragraph separators (U+2028, U+2029). kubectl, Helm and Flux read YAML with
 * sigs.k8s.io/yaml (go-yaml, YAML 1.1), where they end a line; in YAML 1.2, which render and audit
 * read, they are ordinary characters. A comment holding one ends there for kubectl, and the rest
 * of its line is data (`# pinned<U+2028>    image: gcr.io/app:1` sets the image kubectl applies);
 * a scalar holding one has another value. The same text would be decided on one object and applied
 * as another, so such YAML is refused, as a repeated key is. JSON is not: kubectl reads a text
 * that is JSON (one value, or several one after another) as JSON, whose strings may hold them.
 * A YAML flow mapping starts with `{` too, and kubectl reads it as YAML when it is not JSON.
 *
 * Pure: no I/O.
 */
import { jsonStreamStarts } from './json-stream.js';

const BREAK = /[\u0085\u2028\u2029]/;

/** Whether `text` is one JSON value or a stream of them (after a byte order mark). */
function isJson(text: string): boolean {
  const from = text.startsWith('\ufeff') ? 1 : 0;
  const starts = jsonStreamStarts(text) ?? [from];
  try {
    for (const [i, start] of starts.entries()) JSON.parse(text.slice(Math.max(start, from), starts[i + 1]));
  } catch {
    return false;
  }
  return true;
}

/** Why kubectl would read `text` otherwise than YAML 1.2 does, with the line and column of the first such character; undefined when it would not. */
export function yaml11BreakProblem(text: string): string | undefined {
  const at = BREAK.exec(text)?.index;
  if (at === undefined || isJson(text)) return undefined;
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) line++;
  const code = `U+${text.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0')}`;
  return `line ${line}, column ${at - lineStart + 1}: ${code} is a line break to kubectl (YAML 1.1), not to YAML 1.2: kubectl would read this YAML otherwise than it is checked here; remove it (in a double-quoted string, write it as the escape \\u${code.slice(2).toLowerCase()})`;
}
