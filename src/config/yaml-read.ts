/**
 * The `yaml` package as every reader of YAML documents here uses it (rules documents, render,
 * audit -f): `parseDocumentUnique`, `parseAllDocumentsUnique` and `composeUnique` are its entries
 * with duplicate mapping keys found in linear time, and TOO_DEEP says what its stack overflow means.
 *
 * The package's own check (`uniqueKeys: true`) compares each key of a mapping with every key before
 * it, quadratic: a manifest with a mapping of tens of thousands of keys (a ConfigMap's `data`, a
 * Pod's annotations) held `render` for seconds to minutes
 * (docs/performance.md, "Figures behind the comments"). Documents are composed with `uniqueKeys:
 * false`, then `addDuplicateKeyErrors` adds the error the package would have given for each
 * repeated key (code `DUPLICATE_KEY`, at the key, in document order), so callers read `doc.errors`
 * as before. The same pass finds the merge keys (`<<`) that kubectl reads otherwise than YAML's
 * merge (keyProblems): an error of the same code, with its own message. And the words every reader
 * uses for a space YAML does not read as one (NOT_YAML_SPACE), where its errors come from one.
 */
import { Composer, type CST, type Document, type DocumentOptions, isAlias, isMap, isNode, isPair, isScalar, isSeq, Lexer, LineCounter, type ParseOptions, parseAllDocuments, parseDocument, Parser, type SchemaOptions, YAMLParseError } from 'yaml';

/** What a document nested deeper than the stack allows is told (the package, or toJS, overflows it). */
export const TOO_DEEP = 'nested too deeply to be read (lists or maps inside one another, hundreds of levels deep)';

/**
 * Collections nested deeper than this are not composed: the part below is an error (TOO_DEEP).
 * The package composes recursively and catches its own stack overflow (some 800 levels here), and
 * at that edge V8 may have to compile a regular expression the package then runs: with no stack
 * left for its compiler, V8 ends the process (`FATAL ERROR: RegExpCompiler Allocation failed`,
 * exit 134), which no `catch` sees. Whether it does depends on what V8 compiled and flushed before,
 * so a rules document, a manifest or `audit -f` input nested 1,000 levels deep crashed some runs
 * and was a clear error in others. Kubernetes objects are nested some tens of levels at most.
 */
export const MAX_NESTING = 256;

/** A RangeError from recursion too deep for the stack (V8's message). */
export const isStackOverflow = (e: unknown): boolean => e instanceof RangeError && e.message.includes('call stack');

/** The package's message (compose/resolve-block-map.js). */
export const DUPLICATE_KEY_MESSAGE = 'Map keys must be unique';

/** A key's problem: it repeats an earlier key of its mapping, or (a merge key) it merges one kubectl reads otherwise. */
interface KeyProblem {
  readonly offset: number;
  readonly message: string;
}

/** Merges of one mapping checked at most this often (toJS refuses a document whose anchor is resolved 100 times). */
const MERGES_CHECKED = 100;

/**
 * The message of a merge key (`<<`) that brings in a key its mapping already has, from a key or a
 * merge before it. YAML's merge (the `yaml` package) keeps what came first; kubectl's reader
 * (sigs.k8s.io/yaml: go-yaml v2) applies the entries in order, so the merged value replaces it:
 * `image: mirror/app:1` then `<<: {image: gcr.io/app:1}` is the mirror here and gcr.io to kubectl.
 */
const mergeMessage = (key: unknown): string =>
  `the merge key (<<) brings in ${JSON.stringify(String(key))}, which its mapping has before it: kubectl (YAML 1.1, go-yaml) takes the merged value, YAML's merge the first one; put the merge key first in its mapping`;

/**
 * The keys a merge value brings in (a mapping, an alias of one, or a list of those; with the merges
 * of each), or undefined past MERGES_CHECKED resolutions of one anchor.
 */
function mergedKeys(value: unknown, resolve: (alias: unknown) => unknown, uses: Map<unknown, number>): Set<unknown> | undefined {
  const keys = new Set<unknown>();
  const seen = new Set<unknown>();
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    let node = pending.pop();
    if (isAlias(node)) {
      node = resolve(node);
      const n = (uses.get(node) ?? 0) + 1;
      if (n > MERGES_CHECKED) return undefined;
      uses.set(node, n);
    }
    if (seen.has(node)) continue;
    seen.add(node);
    if (isSeq(node)) for (const item of node.items) pending.push(item);
    else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        if (typeof pair.key.value === 'symbol') pending.push(pair.value);
        else keys.add(pair.key.value);
      }
    }
  }
  return keys;
}

/** Each alias of the document to the node of its anchor (the latest one before it), in one pass in document order. */
function aliasTargets(doc: Pick<Document.Parsed, 'contents'>): Map<unknown, unknown> {
  const targets = new Map<unknown, unknown>();
  const anchors = new Map<string, unknown>();
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isAlias(node)) {
      targets.set(node, anchors.get(node.source));
      continue;
    }
    if (isNode(node) && node.anchor !== undefined) anchors.set(node.anchor, node);
    // Children pushed last first: popped in document order.
    if (isMap(node)) for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i]?.value, node.items[i]?.key);
    else if (isSeq(node)) for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i]);
  }
  return targets;
}

/**
 * The keys that repeat an earlier key of their mapping, and the merge keys kubectl reads otherwise
 * (mergeMessage), ascending. Keys compare as the package compares them: scalars by value (`1` and
 * `1.0` are one key, `.nan` never repeats one).
 */
function keyProblems(doc: Pick<Document.Parsed, 'contents'>): KeyProblem[] {
  const problems: KeyProblem[] = [];
  let targets: Map<unknown, unknown> | undefined;
  const resolve = (alias: unknown): unknown => (targets ??= aliasTargets(doc)).get(alias);
  const uses = new Map<unknown, number>();
  // A stack, not recursion: a document nested as deep as the composer accepts.
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      /** The keys set so far, by a key or a merge: a merge that brings one in again is read otherwise by kubectl. */
      const set = new Set<unknown>();
      let merged = false;
      for (const pair of node.items) {
        const key = pair.key;
        if (isScalar(key)) {
          const value = key.value;
          if (typeof value === 'symbol' && !merged) {
            const keys = mergedKeys(pair.value, resolve, uses);
            const again = keys === undefined ? undefined : [...keys].find((k) => set.has(k));
            if (again !== undefined) {
              problems.push({ offset: key.range?.[0] ?? 0, message: mergeMessage(again) });
              merged = true; // one problem per mapping
            }
            for (const k of keys ?? []) set.add(k);
          } else set.add(value);
          if (!(typeof value === 'number' && Number.isNaN(value))) {
            if (seen.has(value)) problems.push({ offset: key.range?.[0] ?? 0, message: DUPLICATE_KEY_MESSAGE });
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
  return problems.sort((a, b) => a.offset - b.offset);
}

/**
 * Add to `doc.errors` a DUPLICATE_KEY error for each repeated key, each before the first error
 * that comes after it in the text; with `lineCounter` (the one the document was parsed with),
 * with its line and column as `prettyErrors` gives them (`... at line L, column C:`).
 */
export function addDuplicateKeyErrors(doc: Document.Parsed, lineCounter?: LineCounter): void {
  const problems = keyProblems(doc);
  if (problems.length === 0) return;
  const errors = doc.errors.slice();
  const merged: typeof errors = [];
  let next = 0;
  for (const { offset, message } of problems) {
    for (let e = errors[next]; e !== undefined && e.pos[0] <= offset; e = errors[++next]) merged.push(e);
    // A merge key kubectl reads otherwise sets a key twice too: the same code.
    const error = new YAMLParseError([offset, offset + 1], 'DUPLICATE_KEY', message);
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

/**
 * Whether `text` may nest collections more than `max` deep. Cheap and never wrong in that direction:
 * block collections nest only by indentation or by indicators before a line's content (`- - x`,
 * `? - x`), one level at most after them (`- a: b`), and flow collections only by their `[` and
 * `{`, which this counts all of (so a long JSON text may be said deep; depthCapped then looks).
 */
function mayNestDeeper(text: string, max: number): boolean {
  let openers = 0;
  let prefix = 0;
  let lineStart = true;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) openers++; // [ {
    if (c === 0x0a) {
      lineStart = true;
      run = 0;
    } else if (lineStart && (c === 0x20 || c === 0x09 || c === 0x2d || c === 0x3f || c === 0x3a)) {
      if (++run > prefix) prefix = run; // space, tab, - ? :
    } else lineStart = false;
  }
  return openers + prefix + 1 > max;
}

/** Whether a syntax tree token opens a collection (a level of nesting). */
const isCollectionToken = (token: CST.Token): token is CST.BlockMap | CST.BlockSequence | CST.FlowCollection => token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection';

/** A token in the place of a collection nested too deep: the composer reports it as an error there. */
const tooDeepToken = (token: CST.Token): CST.ErrorToken => ({ type: 'error', offset: token.offset, source: '', message: TOO_DEEP });

/**
 * Replace, in `tokens` (in place), each collection nested more than MAX_NESTING deep by an error
 * token, so that the composer never recurses deeper than that. A stack, not recursion (the
 * package's parser makes these tokens without recursion, whatever the depth). True when one was.
 */
function depthCapped(tokens: readonly CST.Token[]): boolean {
  let capped = false;
  const stack: [CST.Token, number][] = tokens.map((t) => [t, 0]);
  const visit = (child: CST.Token | null | undefined, depth: number, replace: (t: CST.Token) => void): void => {
    if (child === null || child === undefined) return;
    const collection = isCollectionToken(child);
    if (collection && depth + 1 > MAX_NESTING) {
      replace(tooDeepToken(child));
      capped = true;
    } else stack.push([child, collection ? depth + 1 : depth]);
  };
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [token, depth] = top;
    if (token.type === 'document') visit(token.value, depth, (t) => (token.value = t));
    else if (isCollectionToken(token)) {
      for (const item of token.items) {
        if ('key' in item) visit(item.key, depth, (t) => ((item as { key?: CST.Token | null }).key = t));
        visit(item.value, depth, (t) => (item.value = t));
      }
    }
  }
  return capped;
}

/**
 * Tokens on the package parser's stack past which it is stopped (each collection open at a point
 * is one, the document and a pending scalar or pair one or two more). The parser keeps hundreds of
 * bytes for each open collection: a rules document of a megabyte of `[` took a gigabyte of heap,
 * the Lambda's init ended with `FATAL ERROR: ... JavaScript heap out of memory` (exit 134), and
 * `render -f`/`audit -f` of a few megabytes took gigabytes and seconds, only to say TOO_DEEP
 * (docs/performance.md, "Figures behind the comments").
 */
const MAX_PARSER_STACK = 2 * MAX_NESTING;

/** The offset of the (MAX_NESTING + 1)th collection on the parser's stack (each inside the one before), if any. */
function tooDeepOffset(stack: readonly CST.Token[]): number | undefined {
  let depth = 0;
  for (const token of stack) {
    if (isCollectionToken(token) && ++depth > MAX_NESTING) return token.offset;
  }
  return undefined;
}

/**
 * `new Parser(onNewLine).parse(text)`, but a document whose collections open more than
 * MAX_PARSER_STACK deep is cut short: in its place, a document whose value is an error token
 * (TOO_DEEP) at its first collection too deep, and nothing after it is parsed. Its other errors,
 * and the documents after it, are not read (the text is refused for that one anyway).
 */
export function* parseTokens(text: string, onNewLine?: (offset: number) => void): Generator<CST.Token> {
  const parser = new Parser(onNewLine);
  onNewLine?.(0);
  let firstTooDeep: number | undefined;
  let checked = 0;
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) {
      if (token.type === 'document') firstTooDeep = undefined;
      yield token;
    }
    const stack = parser.stack;
    if (firstTooDeep === undefined && stack.length > MAX_NESTING && stack.length !== checked) {
      checked = stack.length;
      firstTooDeep = tooDeepOffset(stack);
    }
    if (stack.length > MAX_PARSER_STACK) {
      const doc = stack[0];
      const offset = doc?.offset ?? 0;
      yield { type: 'document', offset, start: doc?.type === 'document' ? doc.start : [], value: { type: 'error', offset: firstTooDeep ?? offset, source: '', message: TOO_DEEP } };
      return;
    }
  }
  yield* parser.end();
}

/** Whether `token` is the document parseTokens put in the place of one too deep to parse. */
const cutShort = (token: CST.Token): boolean => token.type === 'document' && token.value?.type === 'error' && token.value.message === TOO_DEEP;

/**
 * The documents of a text nested more than MAX_NESTING deep, composed with those collections
 * replaced by errors, each error with its line and column as `prettyErrors` gives them.
 */
function composeCapped(text: string, options: UniqueKeysOptions): Document.Parsed[] | undefined {
  if (!mayNestDeeper(text, MAX_NESTING)) return undefined;
  const lineCounter = new LineCounter();
  const tokens = [...parseTokens(text, lineCounter.addNewLine)];
  // depthCapped first: it replaces the collections too deep (in place) of what parseTokens did not cut.
  if (!depthCapped(tokens) && !tokens.some(cutShort)) return undefined;
  const docs = [...new Composer({ ...options, uniqueKeys: false }).compose(tokens, true, text.length)];
  for (const doc of docs) {
    for (const error of doc.errors) {
      error.linePos = [lineCounter.linePos(error.pos[0]), lineCounter.linePos(error.pos[1])];
      error.message += ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}:`;
    }
    addDuplicateKeyErrors(doc, lineCounter);
  }
  return docs;
}

/** Options of the package's parser and composer, but its own duplicate-key check (replaced here). */
export type UniqueKeysOptions = Omit<ParseOptions & DocumentOptions & SchemaOptions, 'uniqueKeys' | 'lineCounter'>;

/** `parseDocument`, repeated keys errors as its own check gives them (with line and column). */
export function parseDocumentUnique(text: string, options: UniqueKeysOptions): Document.Parsed {
  const capped = composeCapped(text, options)?.[0];
  if (capped !== undefined) return capped;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...options, uniqueKeys: false, lineCounter });
  addDuplicateKeyErrors(doc, lineCounter);
  return doc;
}

/** `parseAllDocuments` (an empty list for an empty stream), likewise. */
export function parseAllDocumentsUnique(text: string, options: UniqueKeysOptions): Document.Parsed[] {
  const capped = composeCapped(text, options);
  if (capped !== undefined) return capped;
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { ...options, uniqueKeys: false, lineCounter });
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) addDuplicateKeyErrors(doc, lineCounter);
  return list;
}

/** The documents a `Composer` with `options` makes of `tokens`, repeated keys errors as its own check gives them. */
export function composeUnique(tokens: Iterable<CST.Token>, options: UniqueKeysOptions): Document.Parsed[] {
  const list = [...tokens];
  depthCapped(list);
  const docs = [...new Composer({ ...options, uniqueKeys: false }).compose(list)];
  for (const doc of docs) addDuplicateKeyErrors(doc);
  return docs;
}

/**
 * Spaces YAML does not read as one, and characters that take no room: text copied out of a web
 * page, a chat or a CJK input method has them where spaces belong (as indentation, after a key's
 * colon), and the parser's errors there name neither the character nor the fix. Named by
 * src/config/yaml-document.ts for a rules document, and by render and audit for manifests.
 */
export const NOT_YAML_SPACE = /[\u00a0\u1680\u180e\u2000-\u200b\u202f\u205f\u2060\u3000\ufeff]/g;
const SPACE_NAMES: Readonly<Record<string, string>> = { '\u00a0': 'no-break space', '\u200b': 'zero-width space', '\u202f': 'narrow no-break space', '\u3000': 'ideographic space', '\ufeff': 'byte order mark', '\u2060': 'word joiner' };
/** What src/config/yaml-document.ts (noBreakSpace) says of the character `c`. */
export function notYamlSpace(c: string): string {
  const code = `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  const zeroWidth = c === '\u200b' || c === '\u2060' || c === '\ufeff' || c === '\u180e';
  const name = SPACE_NAMES[c] ?? (zeroWidth ? 'zero-width character' : 'typographic space');
  const what = `${name.startsWith('i') ? 'an' : 'a'} ${name} (${code}, from text copied out of a web page or a chat)`;
  return zeroWidth ? `${what}, which YAML reads as text: delete it` : `${what}, which YAML does not read as a space: retype it as a space`;
}

/**
 * For a manifest the parser refused at `offset` of `text` (render, audit -f): `; at line L, column
 * C: <noBreakSpace's words>` for the last such character on the error's line or the line before it
 * (where one makes the errors render and audit quote), else ''. Not a whole file's first: an earlier
 * document may hold one inside a quoted string, harmlessly.
 */
export function notYamlSpaceNear(text: string, offset: number): string {
  const lineEnd = text.indexOf('\n', offset);
  const end = lineEnd < 0 ? text.length : lineEnd;
  const previousEnd = offset > 0 ? text.lastIndexOf('\n', offset - 1) : -1;
  const start = previousEnd <= 0 ? 0 : text.lastIndexOf('\n', previousEnd - 1) + 1;
  const found = [...text.slice(start, end).matchAll(NOT_YAML_SPACE)].at(-1);
  if (found === undefined || (found[0] === '\ufeff' && start + found.index === 0)) return '';
  const at = start + found.index;
  const before = text.slice(0, at);
  return `; at line ${before.split('\n').length}, column ${at - before.lastIndexOf('\n')}: ${notYamlSpace(found[0])}`;
}
