/**
 * The `yaml` package as every reader of YAML documents here uses it (rules documents, render,
 * audit -f): `parseDocumentUnique`, `parseAllDocumentsUnique` and `composeUnique` are its entries
 * with duplicate mapping keys found in linear time, and TOO_DEEP says what its stack overflow means.
 *
 * The package's own check (`uniqueKeys: true`) compares each key of a mapping with every key before
 * it: a manifest with a mapping of 40,000 keys (a ConfigMap's `data`, a Pod's annotations; 460 KiB
 * as YAML or JSON) held `render` for 20 s, and a mapping of 100,000 for minutes. Documents are
 * composed with `uniqueKeys: false`, then `addDuplicateKeyErrors` adds the error the package would
 * have given for each repeated key (code `DUPLICATE_KEY`, at the key, in document order), so
 * callers read `doc.errors` as before.
 */
import { Composer, type CST, type Document, type DocumentOptions, isMap, isPair, isScalar, isSeq, LineCounter, type ParseOptions, parseAllDocuments, parseDocument, type SchemaOptions, YAMLParseError } from 'yaml';

/** What a document nested deeper than the stack allows is told (the package, or toJS, overflows it). */
export const TOO_DEEP = 'nested too deeply to be read (lists or maps inside one another, hundreds of levels deep)';

/** A RangeError from recursion too deep for the stack (V8's message). */
export const isStackOverflow = (e: unknown): boolean => e instanceof RangeError && e.message.includes('call stack');

/** The package's message (compose/resolve-block-map.js). */
export const DUPLICATE_KEY_MESSAGE = 'Map keys must be unique';

/**
 * The offsets of the keys that repeat an earlier key of their mapping, ascending. Keys compare as
 * the package compares them: scalars by value (`1` and `1.0` are one key, `.nan` never repeats one).
 */
export function duplicateKeyOffsets(doc: Pick<Document.Parsed, 'contents'>): number[] {
  const offsets: number[] = [];
  // A stack, not recursion: a document nested as deep as the composer accepts.
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = pair.key;
        if (isScalar(key)) {
          const value = key.value;
          if (!(typeof value === 'number' && Number.isNaN(value))) {
            if (seen.has(value)) offsets.push(key.range?.[0] ?? 0);
            else seen.add(value);
          }
        }
        stack.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    } else if (isPair(node)) {
      stack.push(node.key, node.value);
    }
  }
  return offsets.sort((a, b) => a - b);
}

/**
 * Add to `doc.errors` a DUPLICATE_KEY error for each repeated key, each before the first error
 * that comes after it in the text; with `lineCounter` (the one the document was parsed with),
 * with its line and column as `prettyErrors` gives them (`... at line L, column C:`).
 */
export function addDuplicateKeyErrors(doc: Document.Parsed, lineCounter?: LineCounter): void {
  const offsets = duplicateKeyOffsets(doc);
  if (offsets.length === 0) return;
  const errors = doc.errors.slice();
  const merged: typeof errors = [];
  let next = 0;
  for (const offset of offsets) {
    for (let e = errors[next]; e !== undefined && e.pos[0] <= offset; e = errors[++next]) merged.push(e);
    const error = new YAMLParseError([offset, offset + 1], 'DUPLICATE_KEY', DUPLICATE_KEY_MESSAGE);
    if (lineCounter !== undefined) {
      error.linePos = [lineCounter.linePos(offset), lineCounter.linePos(offset + 1)];
      error.message += ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}:`;
    }
    merged.push(error);
  }
  // Pushed one by one: a spread of some 100,000 errors (as many repeated keys) overflows the stack.
  for (const e of errors.slice(next)) merged.push(e);
  doc.errors.length = 0;
  for (const e of merged) doc.errors.push(e);
}

/** Options of the package's parser and composer, but its own duplicate-key check (replaced here). */
export type UniqueKeysOptions = Omit<ParseOptions & DocumentOptions & SchemaOptions, 'uniqueKeys' | 'lineCounter'>;

/** `parseDocument`, repeated keys errors as its own check gives them (with line and column). */
export function parseDocumentUnique(text: string, options: UniqueKeysOptions): Document.Parsed {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...options, uniqueKeys: false, lineCounter });
  addDuplicateKeyErrors(doc, lineCounter);
  return doc;
}

/** `parseAllDocuments` (an empty list for an empty stream), likewise. */
export function parseAllDocumentsUnique(text: string, options: UniqueKeysOptions): Document.Parsed[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { ...options, uniqueKeys: false, lineCounter });
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) addDuplicateKeyErrors(doc, lineCounter);
  return list;
}

/** The documents a `Composer` with `options` makes of `tokens`, repeated keys errors as its own check gives them. */
export function composeUnique(tokens: Iterable<CST.Token>, options: UniqueKeysOptions): Document.Parsed[] {
  const docs = [...new Composer({ ...options, uniqueKeys: false }).compose(tokens)];
  for (const doc of docs) addDuplicateKeyErrors(doc);
  return docs;
}
