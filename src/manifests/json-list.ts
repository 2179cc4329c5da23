/**
 * Where the items of a JSON List are in its text (`kubectl get pods -A -o json`: one document of
 * 200,000 Pods), found without building the List's syntax tree: that tree, with the source tokens
 * render's text edits need, takes a couple of hundred times the text's size
 * (docs/performance.md, "Figures behind the comments"), so src/manifests/render.ts parses and edits
 * such a List one item at a time instead.
 *
 * The text must be JSON (JSON.parse says so, and its value must be an object with an `items`
 * list); the `yaml` package's lexer then gives its tokens one by one (strings, escapes, brackets),
 * and only their nesting is followed here: no tree, no second parser.
 *
 * Pure: no I/O.
 */
import { CST, Lexer } from 'yaml';
import { own } from '../core/json.js';

/** The items of a JSON List: offsets in the text it was read from. */
export interface JsonList {
  /** The `[` and `]` of the top-level object's `items`. */
  readonly open: number;
  readonly close: number;
  /** Item i spans [starts[i], ends[i]). */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

/**
 * Heap a List takes while it is rendered item by item, per character of its text: its items'
 * values, the output and what changes (docs/performance.md: 17 for small Pods, 20 with
 * `--annotate`; a YAML List, yaml-list.ts, about as much), rounded up; JSON.parse's value of it,
 * made first here, takes less.
 */
export const HEAP_PER_LIST_CHAR = 32;

/** A byte order mark (the text's first piece) and a `---` line before the JSON value (YAML's document start). */
const PREFIX = /^\ufeff?(?:---(?=[ \t\r\n]|$))?/;

/** Lexer tokens that stand for no text (document mode, the mark before a scalar, the end of a bad flow collection). */
const NO_TEXT = new Set(['doc-mode', 'scalar', 'flow-error-end']);

/**
 * The items of `text` (one document: an optional `---` line, then a JSON object with an `items`
 * list, then white space), or undefined: not JSON, no `items` list, `items` twice (YAML refuses
 * the duplicate key: left to the whole-document path, which says so), or longer than `heap` bytes
 * hold at HEAP_PER_LIST_CHAR (not even JSON.parse reads it: the caller refuses such a document).
 */
export function jsonListOf(text: string, heap = Infinity): JsonList | undefined {
  if (text.length * HEAP_PER_LIST_CHAR > heap) return undefined;
  const from = PREFIX.exec(text)?.[0].length ?? 0;
  const json = text.slice(from);
  // Cheap and strict (a YAML document fails at its first character): the lexer below may trust
  // that brackets and strings are balanced.
  try {
    if (!Array.isArray(own(JSON.parse(json), 'items'))) return undefined;
  } catch {
    return undefined;
  }
  let open = -1;
  let close = -1;
  const starts: number[] = [];
  const ends: number[] = [];
  let depth = 0;
  let offset = from;
  /** At depth 1: the last key read, and whether its `:` came (the next value is then its value). */
  let key: string | undefined;
  let afterColon = false;
  let itemStart = -1;
  let itemEnd = -1;
  for (const source of new Lexer().lex(json)) {
    const type = CST.tokenType(source);
    if (type !== null && NO_TEXT.has(type)) continue;
    const at = offset;
    offset += source.length;
    if (type === 'space' || type === 'newline' || type === 'doc-start') continue;
    const opens = type === 'flow-map-start' || type === 'flow-seq-start';
    const closes = type === 'flow-map-end' || type === 'flow-seq-end';
    if (depth === 1) {
      if (opens && afterColon && key === 'items' && type === 'flow-seq-start') {
        if (open >= 0) return undefined;
        open = at;
      } else if (type === 'double-quoted-scalar' && !afterColon) key = JSON.parse(source) as string;
      afterColon = type === 'map-value-ind';
    } else if (depth === 2 && open >= 0 && close < 0) {
      // Inside `items`: a `,` or the `]` ends an item; anything else at this depth starts one.
      if (type === 'comma' || type === 'flow-seq-end') {
        if (itemStart >= 0) {
          starts.push(itemStart);
          ends.push(itemEnd);
        }
        itemStart = -1;
        if (type === 'flow-seq-end') close = at;
      } else if (itemStart < 0) itemStart = at;
    }
    if (opens) depth++;
    else if (closes) depth--;
    if (depth >= 2 && open >= 0 && close < 0) itemEnd = offset;
  }
  return open >= 0 && close > open ? { open, close, starts, ends } : undefined;
}
