/**
 * JSON Patch operations (the webhook's `replace` and `add`) carried out on the text of one YAML
 * document instead of on its data: each operation becomes an edit at the source offsets of the node
 * it targets, so every byte no operation targets stays as it was (comments, order, quoting,
 * anchors, flow style, line endings).
 *
 * - `replace` of a scalar: the new value in the old one's style (plain, single or double quoted; a
 *   block scalar becomes double quoted). An alias (`image: *img`) stays an alias when its anchor
 *   gets the same new value, else it is replaced by the value; an alias of a rewritten anchor that
 *   no operation targets (`value: *img`) is replaced by the value it had.
 * - `add` to a block mapping or list: new lines after its last line (above the comment lines less
 *   indented than it that end it, which belong to what follows), at its indentation, written
 *   by the `yaml` package nested as the mapping nests its own values (layoutOf); to a flow collection (JSON): a new entry after the last one, on its own
 *   line when the collection spans lines; to a key that holds null: a flow value after the colon.
 * A value a merge key brings in is written out in the mapping that merges it (a new pair). Anything
 * else (a collection reached through a merge key, a collection where a value was expected) is an
 * EditError. The caller checks the result by parsing it again (src/manifests/render.ts).
 *
 * No I/O.
 */
import { type Alias, CST, Document, isAlias, isMap, isNode, isPair, isScalar, isSeq, type Node as YamlNode, parse, Scalar, type ToStringOptions, visit } from 'yaml';
import type { JsonValue, PatchOperation } from '../core/patch.js';
import { isMergeKey } from './aliasing.js';

/** A text edit: `remove` characters at `offset` replaced by `insert`. */
export interface Edit {
  readonly offset: number;
  readonly remove: number;
  readonly insert: string;
  /** For lines added after a block collection: its column (a nested one's lines go first). */
  readonly column?: number;
}

export class EditError extends Error {
  override readonly name = 'EditError';
}

/** The reference tokens of an RFC 6901 pointer. */
function tokensOf(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Whether a plain scalar of `value` reads back as this same string in YAML `version`. */
function readsAsItself(value: string, version: '1.1' | '1.2'): boolean {
  try {
    return parse(value, { version }) === value;
  } catch {
    return false;
  }
}

/**
 * Whether a plain scalar of `value` reads as this same string in YAML 1.1 too: kubectl reads
 * manifests with sigs.k8s.io/yaml (go-yaml v2, YAML 1.1), where `no`, `on`, `y` are booleans and
 * `0b1`, `1_000`, `1:20` numbers, though the yaml package (YAML 1.2) reads them as strings.
 */
function plainIn11(value: string): boolean {
  // Only these can start a YAML 1.1 boolean, null, number, timestamp or merge key: the parse (most
  // of the cost of rendering an added annotation) is left out for every other string.
  return (value !== '' && !/^[yYnNoOtTfF~+\-.0-9<]/.test(value)) || readsAsItself(value, '1.1');
}

/** A plain scalar that reads back as this same string in block and flow context (YAML 1.2 and 1.1). */
function safePlain(value: string): boolean {
  if (!/^[A-Za-z0-9_][^\s#,[\]{}]*$/.test(value) || value.endsWith(':') || value.includes(': ')) return false;
  return readsAsItself(value, '1.2') && plainIn11(value);
}

/**
 * `value` as block YAML, as the yaml package's stringify writes it, except that a string it would
 * write plain but YAML 1.1 reads otherwise (a pull secret named `no`) is double quoted: kubectl
 * would read `name: no` as `false`.
 */
function blockText(value: JsonValue, options: ToStringOptions): string {
  const doc = new Document(value);
  visit(doc, {
    Scalar(_, node) {
      // Quoted also when YAML 1.2 would need it anyway: the same text, the style chosen here.
      if (typeof node.value === 'string' && !plainIn11(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString(options);
}

/** `value` written in the style of the scalar token it replaces (plain, single or double quoted). */
function scalarText(type: string, value: string): string {
  if (type === 'scalar' && safePlain(value)) return value;
  if (type === 'single-quoted-scalar' && !/[\n\r]/.test(value)) return `'${value.replace(/'/g, "''")}'`;
  return JSON.stringify(value); // a JSON string is a YAML double-quoted scalar
}

/** The edits of one document, built from the patch; collects per-offset edits so two ops never clash. */
export class DocumentEditor {
  private readonly edits: Edit[] = [];
  /** The replacements by offset: a List's thousands of edits are not searched one by one for each new one. */
  private readonly replacements = new Map<number, Edit>();
  private readonly aliases: { node: Alias; value: JsonValue; path: string }[] = [];
  private readonly replaced = new Map<unknown, JsonValue>();
  private readonly flowEntries = new Map<CST.FlowCollection, number>();
  /** Per collection, the entries added to it (`key or -` and value) and the path that added each. */
  private readonly added = new Map<unknown, Map<string, string>>();
  /**
   * @param doc the document, composed with `keepSourceTokens`
   * @param source the whole text the document's offsets refer to
   * @param newline the line ending of inserted lines
   */
  constructor(
    private readonly doc: Document.Parsed,
    private readonly source: string,
    private readonly newline: string,
  ) {}

  /** Insertions at one offset keep their order; one replacement per offset (the same one twice is one). */
  private add(edit: Edit, what: string): void {
    if (edit.remove > 0) {
      const existing = this.replacements.get(edit.offset);
      if (existing !== undefined) {
        if (existing.remove === edit.remove && existing.insert === edit.insert) return;
        throw new EditError(`${what}: two different changes to the same text (an anchor used in two places?)`);
      }
      this.replacements.set(edit.offset, edit);
    }
    this.edits.push(edit);
  }

  /** The node at `tokens`, following aliases; undefined when absent (or behind a merge key). */
  private locate(tokens: readonly string[]): YamlNode | null | undefined {
    let node: unknown = this.doc.contents;
    for (const t of tokens) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        // A key may be an alias of a scalar key (`*k : gcr.io/app:1`), read as that scalar (kubectl too).
        const pair = node.items.find((p) => {
          const key = isAlias(p.key) ? p.key.resolve(this.doc) : p.key;
          return isScalar(key) && String(key.value) === t;
        });
        if (pair === undefined) return undefined;
        node = pair.value;
      } else if (isSeq(node) && /^(0|[1-9]\d*)$/.test(t)) {
        node = node.items[Number(t)];
        if (node === undefined) return undefined;
      } else return undefined;
    }
    return node as YamlNode | null;
  }

  apply(op: PatchOperation): void {
    const tokens = tokensOf(op.path);
    const last = tokens.pop();
    if (last === undefined) throw new EditError('cannot replace a whole document');
    const parent = this.locate(tokens);
    const target = parent === undefined ? undefined : this.locate([...tokens, last]);
    const collection = isAlias(parent) ? parent.resolve(this.doc) : parent;
    if (op.op === 'replace' || target !== undefined) {
      if (target === undefined) {
        // A value a merge key brings in (`- <<: *container`): written out in its mapping, after
        // the merge key, where it wins over the merged one in YAML's merge and in kubectl's go-yaml;
        // once for a mapping that two containers share through an alias (`- *c`), as an add is.
        if (isMap(collection) && collection.items.some((p) => isMergeKey(p.key))) {
          if (this.firstToAdd(collection, last, op)) this.insertPair(collection, last, op.value, op.path);
          return;
        }
        throw new EditError(`${op.path}: not found in the YAML text`);
      }
      this.replaceNode(target, op.value, op.path);
      return;
    }
    if (!this.firstToAdd(collection, last, op)) return;
    if (isMap(collection)) this.insertPair(collection, last, op.value, op.path);
    else if (isSeq(collection) && last === '-') this.appendItem(collection, op.value, op.path);
    else throw new EditError(`${op.path}: cannot add here (not a mapping or list in the YAML text)`);
  }

  /**
   * Whether `op` is the first to add `key` with its value to `collection`: one collection that two
   * objects share through an alias (`spec: *spec` in a List) gets the entry both add once; the
   * caller's check finds any difference between what they need.
   */
  private firstToAdd(collection: unknown, key: string, op: PatchOperation): boolean {
    const entries = this.added.get(collection) ?? new Map<string, string>();
    this.added.set(collection, entries);
    const entry = `${key}\u0000${JSON.stringify(op.value)}`;
    const by = entries.get(entry);
    if (by !== undefined && by !== op.path) return false;
    entries.set(entry, op.path);
    return true;
  }

  /** Replace a value node (a scalar, an alias of one, a null) with `value`. */
  private replaceNode(node: YamlNode | null, value: JsonValue, path: string): void {
    if (node === null) throw new EditError(`${path}: not found in the YAML text`);
    const token = node.srcToken;
    if (isScalar(node) && (token === undefined || (token.type === 'scalar' && token.source === ''))) {
      // An empty value (`annotations:`): the text after the colon becomes a flow value. Not an
      // empty quoted string (`""`, `''`), whose quotes are text to replace like any scalar's.
      const offset = node.range?.[0];
      if (offset === undefined) throw new EditError(`${path}: not found in the YAML text`);
      // After a comment's `#` (`annotations: # none`) the value goes before it, the comment after
      // a space: `{...}# none` would not be a comment.
      const insert = this.source[offset] === '#' ? `${JSON.stringify(value)} ` : ` ${JSON.stringify(value)}`;
      this.add({ offset, remove: 0, insert }, path);
      return;
    }
    if (isAlias(node)) {
      // `image: *img`: kept when the anchored scalar becomes the same value, else replaced by it.
      this.aliases.push({ node, value, path });
      return;
    }
    if (token === undefined || !CST.isScalar(token)) {
      throw new EditError(`${path}: is a collection in the YAML text where a value was expected`);
    }
    if (token.type === 'block-scalar') {
      // `|` or `>` with the text on the next lines: the header becomes a quoted scalar and the text
      // goes; a comment after the header (`image: >- # pinned`) and its line ending stay, unless
      // the text ended the file without one.
      const removed = CST.stringify(token);
      const header = token.props.map((p) => (p.type === 'block-scalar-header' ? JSON.stringify(value) : CST.stringify(p))).join('');
      const line = header.endsWith('\n') ? header : header + this.newline;
      this.add({ offset: token.offset, remove: removed.length, insert: removed.endsWith('\n') ? line : line.replace(/\r?\n$/, '') }, path);
      return;
    }
    const text = typeof value === 'string' ? scalarText(token.type, value) : JSON.stringify(value);
    this.add({ offset: token.offset, remove: token.source.length, insert: text }, path);
    this.replaced.set(node, value);
  }

  /** The alias replacements left: an alias whose anchor now holds the same value stays an alias. */
  /** The edits, sorted by offset, after the alias replacements left. */
  finish(): Edit[] {
    for (const { node, value, path } of this.aliases) {
      const resolved = node.resolve(this.doc);
      if (resolved !== undefined && this.replaced.get(resolved) === value) continue;
      const token = node.srcToken;
      if (token?.type !== 'alias' || typeof value !== 'string') throw new EditError(`${path}: cannot replace this alias in the YAML text`);
      this.add({ offset: token.offset, remove: token.source.length, insert: scalarText('double-quoted-scalar', value) }, path);
    }
    this.pinOtherAliases();
    // At one offset: insertions before a replacement; lines that end an inner block (a pod spec)
    // before those that end an outer one (the object) that ends there too; else in the order made.
    return [...this.edits].sort(
      (a, b) => a.offset - b.offset || Number(a.remove > 0) - Number(b.remove > 0) || (b.column ?? 0) - (a.column ?? 0),
    );
  }

  /**
   * An alias of a rewritten anchor where no operation goes (`value: *img` in an env entry) keeps
   * the value it had: it is written out, double quoted, as the anchor's text changes.
   */
  private pinOtherAliases(): void {
    const anchored = new Set([...this.replaced.keys()].filter((n) => isScalar(n) && n.anchor !== undefined));
    if (anchored.size === 0) return;
    const targeted = new Set<unknown>(this.aliases.map((a) => a.node));
    visit(this.doc, {
      Alias: (_key, node) => {
        if (targeted.has(node)) return;
        const resolved = node.resolve(this.doc);
        if (!anchored.has(resolved)) return;
        const token = node.srcToken;
        const old = isScalar(resolved) ? resolved.value : undefined;
        if (token?.type !== 'alias' || typeof old !== 'string') throw new EditError(`*${node.source}: cannot keep this alias's value in the YAML text`);
        this.add({ offset: token.offset, remove: token.source.length, insert: scalarText('double-quoted-scalar', old) }, `*${node.source}`);
      },
    });
  }

  /** Column of an offset (characters since the line start). */
  private column(offset: number): number {
    return offset - (this.source.lastIndexOf('\n', offset - 1) + 1);
  }

  /** The white space before `offset` on its line (tabs kept: JSON indented with tabs), else spaces to its column. */
  private indentOf(offset: number): string {
    const lead = this.source.slice(offset - this.column(offset), offset);
    return /^[ \t]*$/.test(lead) ? lead : ' '.repeat(lead.length);
  }

  /** `text` (block YAML from stringify) indented to `column`, with the document's newlines. */
  private indent(text: string, column: number): string {
    const pad = ' '.repeat(column);
    return text
      .replace(/\n$/, '')
      .split('\n')
      .map((line) => pad + line + this.newline)
      .join('');
  }

  /**
   * `text` (block YAML from stringify) as new lines after the last line of a block collection, at
   * its column. At the end of a text without a final newline each line comes after a newline
   * instead of before one: the text still ends without one, and two blocks that end there (a pod
   * spec, then its object) get no empty line between them.
   */
  private addAtBlockEnd(token: CST.BlockMap | CST.BlockSequence, text: string, path: string): void {
    const begin = blockStart(token);
    let offset = begin + CST.stringify(token).length;
    // A collection that ends with a comment line (`# - name: old`) holds the indentation of the
    // line after it too: the new lines go before that white space, not into the next line.
    const lineStart = this.source.lastIndexOf('\n', offset - 1) + 1;
    if (lineStart > 0 && /^[ \t]*$/.test(this.source.slice(lineStart, offset))) offset = lineStart;
    const column = this.column(begin);
    // The parser ends the block after the comment lines that follow it, also those less indented
    // than it (`# The spec` above `spec:`), which belong to what comes next: the new lines go
    // before the first of them, not between such a comment and its key. Blank lines above it stay
    // above the new lines (after a `|+` scalar they are part of its value).
    for (let at = offset; this.source[at - 1] === '\n'; ) {
      const start = this.source.lastIndexOf('\n', at - 2) + 1;
      if (start <= token.offset) break;
      const line = this.source.slice(start, at);
      const indent = line.length - line.trimStart().length;
      at = start;
      if (line.trim() === '') continue;
      if (line[indent] !== '#' || indent >= column) break;
      offset = start;
    }
    const lines = this.indent(text, column);
    const insert = this.source[offset - 1] === '\n' ? lines : this.newline + lines.slice(0, -this.newline.length);
    this.add({ offset, remove: 0, insert, column }, path);
  }

  /**
   * How the mapping nests what it holds, as its own block values show (a pod spec's `containers`,
   * metadata's `labels`): the step of a nested mapping (else of a list), and whether a list is
   * indented under its key (`key:` then `  - a`, as Helm charts mostly write) or at its column
   * (`- a`, as kubectl and kustomize write). When it holds neither, the step from the key above it
   * (`metadata:` then `    name: a`); else 2 and indented. An entry added to the mapping is written
   * the same way.
   */
  private layoutOf(map: CST.BlockMap): { indent: number; indentSeq: boolean } {
    let [mapStep, seqStep]: (number | undefined)[] = [];
    for (const { start, key, value } of map.items) {
      if (key === undefined || key === null || value === undefined) continue;
      const step = this.column(value.offset) - this.column(propsStart(start) ?? key.offset);
      if (value.type === 'block-map' && step > 0) mapStep ??= step;
      if (value.type === 'block-seq') seqStep ??= step;
    }
    const indent = mapStep ?? (seqStep !== undefined && seqStep > 0 ? seqStep : this.stepAbove(blockStart(map)));
    return { indent, indentSeq: seqStep === undefined || seqStep > 0 };
  }

  /** The columns between a mapping's first line (at `offset`) and the nearest line above it that is less indented, else 2. */
  private stepAbove(offset: number): number {
    const column = this.column(offset);
    let end = offset - column;
    while (end > 0) {
      const start = this.source.lastIndexOf('\n', end - 2) + 1;
      const line = this.source.slice(start, end);
      end = start;
      const lead = /^ */.exec(line)?.[0].length ?? 0;
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      return lead < column ? column - lead : 2;
    }
    return 2;
  }

  private insertPair(map: YamlNode & { items: unknown[] }, key: string, value: JsonValue, path: string): void {
    const token = map.srcToken;
    if (token?.type === 'block-map') {
      const layout = this.layoutOf(token);
      // Without indentSeq, stringify puts a list's `- ` at `indent - 2` columns in from its key, not
      // at the key's column: a list (of flat items: imagePullSecrets) goes at it with indent 2.
      if (!layout.indentSeq && Array.isArray(value)) layout.indent = 2;
      this.addAtBlockEnd(token, blockText({ [key]: value }, { lineWidth: 0, minContentWidth: 0, ...layout }), path);
    } else if (token?.type === 'flow-collection') {
      this.insertFlow(token, map, `${JSON.stringify(key)}: ${JSON.stringify(value)}`, path);
    } else throw new EditError(`${path}: cannot add to this mapping in the YAML text`);
  }

  private appendItem(seq: YamlNode & { items: unknown[] }, value: JsonValue, path: string): void {
    const token = seq.srcToken;
    if (token?.type === 'block-seq') {
      this.addAtBlockEnd(token, blockText([value], { lineWidth: 0, minContentWidth: 0 }), path);
    } else if (token?.type === 'flow-collection') {
      this.insertFlow(token, seq, JSON.stringify(value), path);
    } else throw new EditError(`${path}: cannot add to this list in the YAML text`);
  }

  /** Append an entry to a flow collection (`{...}`, `[...]`, JSON), on its own line when the collection spans lines. */
  private insertFlow(token: CST.FlowCollection, node: YamlNode & { items: unknown[] }, entry: string, path: string): void {
    // The first and last entries' start, and the end of the last value.
    const bounds = (item: unknown): { start: number; end: number } | undefined => {
      const n: unknown = isPair(item) ? item.key : item;
      const v: unknown = isPair(item) ? (item.value ?? item.key) : item;
      const start = isNode(n) ? n.range?.[0] : undefined;
      const end = isNode(v) ? v.range?.[1] : undefined;
      return start === undefined || end === undefined ? undefined : { start, end };
    };
    if (node.items.length === 0) {
      // Several entries added to an empty collection (`[]`) are separated from each other.
      const before = this.flowEntries.get(token) ?? 0;
      this.flowEntries.set(token, before + 1);
      this.add({ offset: token.start.offset + 1, remove: 0, insert: (before === 0 ? '' : ', ') + entry }, path);
      return;
    }
    const first = bounds(node.items[0]);
    const last = bounds(node.items.at(-1));
    if (first === undefined || last === undefined) throw new EditError(`${path}: cannot add to this collection in the YAML text`);
    const multiline = this.source.slice(token.start.offset, first.start).includes('\n');
    const sep = multiline ? `,${this.newline}${this.indentOf(last.start)}` : ', ';
    this.add({ offset: last.end, remove: 0, insert: sep + entry }, path);
  }
}

/**
 * Where a block collection's text starts: before its offset when the first key has an anchor or a
 * tag (`&c containers:`), which CST.stringify of the collection includes but its offset is after.
 */
function blockStart(token: CST.BlockMap | CST.BlockSequence): number {
  const first = propsStart(token.items[0]?.start ?? []);
  return first !== undefined && first < token.offset ? first : token.offset;
}

/** The offset of the anchor, tag or `?` before a key, on its line (the other tokens before it are its indentation). */
function propsStart(start: readonly CST.SourceToken[]): number | undefined {
  return start.find((t) => t.type === 'anchor' || t.type === 'tag' || t.type === 'explicit-key-ind')?.offset;
}

/** `text` with `edits` (sorted by offset, not overlapping) applied (offsets relative to `base`). */
export function applyEdits(text: string, base: number, edits: readonly Edit[]): string {
  let out = '';
  let at = 0;
  for (const e of edits) {
    out += text.slice(at, e.offset - base) + e.insert;
    at = e.offset - base + e.remove;
  }
  return out + text.slice(at);
}

