/**
 * Where the items of a YAML List are in its text (`kubectl get deploy -A -o yaml`: one document
 * of thousands of objects), found line by line without a syntax tree: the `yaml` package has no
 * streaming composer, and its tree of the whole List, with the source tokens render's text edits
 * need, takes about 190 times the text. src/manifests/render.ts then parses and edits each item as
 * a document of its own, as it does a JSON List's (json-list.ts).
 *
 * Only kubectl's layout (sigs.k8s.io/yaml) is taken: a top-level block mapping whose `items:`
 * line is followed by its entries, `- key: ...` at column 0 (or 2) and their lines indented past
 * the `- `, up to the next top-level key. Item i, with its `-` written as a space, is a document
 * of the same length whose value is the entry's: its lines keep their columns, and a line at
 * column 0 can continue no scalar or flow collection (the `yaml` package requires them indented).
 * Anything else (directives, a comment or text at a lower indentation, an alias to an anchor in
 * another item, which fails to parse on its own) is left to the whole-document path: only memory
 * depends on this, never the output.
 *
 * Pure: no I/O.
 */
import { HEAP_PER_LIST_CHAR, jsonListOf } from './json-list.js';
import { EditError } from './yaml-edit.js';

/** A List whose items are parsed and edited one at a time (src/manifests/render.ts, renderList). */
export interface ListLayout {
  /** The List without its items (an empty list in their place), parsed on its own. */
  readonly top: string;
  /** Item i spans [starts[i], ends[i]) of the List's text. */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
  /** An item (its text) as a document of its own, of the same length: offsets map one to one. */
  document(item: string): string;
  /** An edited item document back as the List's item. */
  restore(edited: string): string;
}

/** The items of `text` as a JSON List (json-list.ts: its items are JSON values as they are) or a YAML one, or undefined. */
export function listOf(text: string, heap = Infinity): ListLayout | undefined {
  const json = jsonListOf(text, heap);
  if (json === undefined) return yamlListOf(text, heap);
  return { top: text.slice(0, json.open + 1) + text.slice(json.close), starts: json.starts, ends: json.ends, document: (item) => item, restore: (edited) => edited };
}

/** kubectl's first key of an object (`apiVersion:`, `metadata:`), after the `- ` of an item or at column 0. */
const KEY = /[A-Za-z0-9_][A-Za-z0-9_./-]*:(?:[ \t]|\r?\n|$)/y;
/** A line that starts a document, ends one, or is a directive: such a text is parsed whole. */
const MARKERS = /(?<![^\n])(?:%|(?:---|\.\.\.)(?=[ \t\r\n]|$))/g;

/**
 * The items of `text` (one YAML document: a List in kubectl's layout), or undefined: another
 * layout, or longer than `heap` bytes hold at HEAP_PER_LIST_CHAR (the caller refuses it whole).
 */
export function yamlListOf(text: string, heap = Infinity): ListLayout | undefined {
  const found = [...text.matchAll(/(?<![^\n])items:[ \t]*(?=\r?\n)/g)];
  if (found.length !== 1 || found[0] === undefined || text.length * HEAP_PER_LIST_CHAR > heap || /\r(?!\n)/.test(text)) return undefined;
  // `---` on the first line only (after a byte order mark), and no directive or `...`: one document.
  let pos = text.startsWith('\ufeff') ? 1 : 0;
  for (const m of text.matchAll(MARKERS)) if (m.index !== pos || m[0] !== '---') return undefined;
  if (text.startsWith('---', pos)) {
    const line = lineAt(text, pos);
    if (!/^---[ \t]*(?:#.*)?\r?\n?$/.test(text.slice(pos, line.end))) return undefined;
    pos = line.end;
  }
  // The first line with content is a key at column 0: the document is a block mapping.
  for (let line = lineAt(text, pos); line.blank || text[line.indent] === '#'; line = lineAt(text, pos)) {
    if (pos >= text.length) return undefined;
    pos = line.end;
  }
  if (!key(text, pos)) return undefined;
  const colon = found[0].index + 'items:'.length;
  const from = text.indexOf('\n', colon) + 1;
  // Column of the items' `-`: 0 or 2, as the first item's line says.
  const dash = text.startsWith('- ', from) ? 0 : text.startsWith('  - ', from) ? 2 : -1;
  if (dash < 0) return undefined;
  const starts: number[] = [];
  const ends: number[] = [];
  let end = text.length;
  pos = from;
  for (let line = lineAt(text, from); pos < text.length; line = lineAt(text, (pos = line.end))) {
    const indent = line.indent - pos;
    if (line.blank || indent >= dash + 2) continue; // inside the item, indented past its `- `
    if (indent === dash && text.startsWith('- ', line.indent) && key(text, line.indent + 2)) {
      if (starts.length > 0) ends.push(pos);
      starts.push(pos);
    } else if (indent === 0 && key(text, pos)) {
      end = pos; // the next top-level key
      break;
    } else return undefined; // a comment or text at a lower indentation, or a `-` where no item starts
  }
  ends.push(end);
  return {
    top: text.slice(0, colon) + ' []' + text.slice(colon, from) + text.slice(end),
    starts,
    ends,
    document: (item) => `${item.slice(0, dash)} ${item.slice(dash + 1)}`,
    restore: (edited) => {
      // Edits are at values and at the ends of collections, never before the item's first key.
      if (edited[dash] !== ' ') throw new EditError('the "- " of a List item was edited');
      return `${edited.slice(0, dash)}-${edited.slice(dash + 1)}`;
    },
  };
}

/** Whether a key (`name:` and a space or the line's end) is at `pos`. */
function key(text: string, pos: number): boolean {
  KEY.lastIndex = pos;
  return KEY.test(text);
}

/** The line at `pos`: where its text starts after spaces, whether it has none but white space, where the next begins. */
function lineAt(text: string, pos: number): { readonly indent: number; readonly blank: boolean; readonly end: number } {
  const nl = text.indexOf('\n', pos);
  const end = nl < 0 ? text.length : nl + 1;
  let indent = pos;
  while (text.charCodeAt(indent) === 0x20) indent++;
  let i = indent;
  while (i < end && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r' || text[i] === '\n')) i++;
  return { indent, blank: i === end, end };
}
