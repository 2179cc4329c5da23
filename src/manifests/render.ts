/**
 * Rewrite a multi-document YAML (or JSON) text the way the webhook would rewrite each object, by
 * editing the text itself: the image scalars change (and, where the webhook would add them, the
 * imagePullSecrets are inserted, and with `annotate` the original-images annotation); every other byte, comments, key
 * order, quoting, anchors, flow style, CRLF, document separators and empty documents, stays.
 *
 * How: the `yaml` package's parser gives the concrete syntax tree with source offsets (the text
 * cut into documents: ./documents.ts); each document is composed (with its source tokens), turned into JSON, and decided by src/core/manifest.ts
 * (review() itself). Each patch operation becomes a text edit at the offsets of the node it
 * targets. Then the edited document is parsed again and must equal the webhook's patch applied to
 * the original object (fast-json-patch); otherwise (an anchor shared with a field the webhook does
 * not change) the document is an error. Documents are parsed one at a time, and a List
 * (`kubectl get -A -o json`, or `-o yaml`) item by item (renderList), so memory is bounded by the
 * largest document or item and time is linear in the input. Nothing is returned when any document
 * fails: the command never writes half of its output.
 *
 * Existence checks (docs/verify.md) are the caller's: `check` gives the policy's outcome for each
 * planned rewrite whose rule verifies (src/cli/render.ts asks the registries first), and each
 * object is rendered as the webhook would answer it then: kept images with a warning, rewrites
 * made anyway with a warning, and a denial as an error.
 *
 * No I/O, but not in src/core: it needs the `yaml` package's parser, which the webhook's hot
 * path does without (the Lambda never imports this folder).
 */
import fastJsonPatch from 'fast-json-patch';
import { Parser } from 'yaml';
import { isStackOverflow, notYamlSpaceNear, parseTokens, TOO_DEEP } from '../config/yaml-read.js';
import { decide, type DecideOptions, type LimitedRule, type ManifestObject, namespaceLimitedOf, objectLabel, objectsOf } from '../core/manifest.js';
import type { PlannedRewrite } from '../core/decide.js';
import type { PatchOperation } from '../core/patch.js';
import type { Rewriter } from '../core/rules.js';
import { namespaceLimitedRules } from '../core/explain.js';
import { type PolicyOutcome, rewriteText } from '../verify/policy.js';
import { isRecord, own } from '../core/json.js';
import { composeAll, composeOne, type DocumentGroup, documentBoms, documentGroups, pieces, RenderError, textProblem, toJson, where, withoutBoms } from './documents.js';
import { applyEdits, DocumentEditor, type Edit, EditError } from './yaml-edit.js';
import { type ListLayout, listOf } from './yaml-list.js';

export interface RenderOptions extends Omit<DecideOptions, 'withhold'> {
  readonly rewriter: Rewriter;
  /** The existence check's outcome for a planned rewrite (src/verify/policy.ts); default: apply every one. */
  readonly check?: ((rewrite: PlannedRewrite) => PolicyOutcome) | undefined;
  /**
   * The longest document (in characters) to parse; for a List (JSON, or kubectl's YAML), the longest item, the List up
   * to HEAP_PER_DOCUMENT_CHAR / HEAP_PER_LIST_CHAR times it. A document's syntax tree, with the source
   * tokens its text edits need, takes up to HEAP_PER_DOCUMENT_CHAR times its size in memory. Past what the heap
   * can hold, the process would die of it; the CLI sets this from its heap limit so that such a document is a clear error.
   */
  readonly maxDocumentChars?: number | undefined;
}

/**
 * Memory a document takes while rendered, per character of its text: the smallest heap that
 * rendered it (`--max-old-space-size`), 20,000 small Pods in one List parsed whole: 176 to 192 as
 * YAML, 223 to 241 as compact JSON (a List is rendered item by item instead, unless it is in
 * another layout or the yaml package finds a problem in it); rounded up.
 */
export const HEAP_PER_DOCUMENT_CHAR = 250;

/** One image that changes (or would change), for the `--check` summary. */
export interface RenderedImage {
  /** 1-based index of the document in the input. */
  readonly document: number;
  readonly object: string;
  readonly pointer: string;
  readonly from: string;
  readonly to: string;
  readonly rule: string;
}

/**
 * What the webhook would warn about: an image left alone (not a valid reference, a rule's result
 * that is not, a target without the image), a rewrite made although its target lacks the image, an
 * original-images annotation replaced. `message` follows the pointer (`left unchanged: ...`).
 */
export interface RenderWarning {
  readonly document: number;
  readonly object: string;
  readonly pointer: string;
  readonly message: string;
}

export type RenderResult =
  | {
      readonly ok: true;
      readonly output: string;
      readonly changes: readonly RenderedImage[];
      readonly warnings: readonly RenderWarning[];
      /**
       * Rules limited to `namespaces` that would take an image of an object of no known namespace
       * (no `metadata.namespace`, no `--namespace`), where they never apply (what `explain` notes):
       * in order of first use; left out when there is none.
       */
      readonly namespaceLimited?: readonly string[];
    }
  | { readonly ok: false; readonly error: string };


const { applyPatch, compare, deepClone } = fastJsonPatch;


/** Why a document this long is refused (RenderOptions.maxDocumentChars), naming where it starts. */
function tooLarge(source: string, start: number, length: number, max: number): RenderResult {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  return {
    ok: false,
    error: `the document at ${where(source, start)} is ${mib(length)}, more than render can hold in memory here (${mib(max)}: a document, or an item of a List as kubectl writes it, takes about ${HEAP_PER_DOCUMENT_CHAR} times its size while it is rewritten); split it (a List into its items, one YAML document each) or give node more heap (NODE_OPTIONS=--max-old-space-size=MiB)`,
  };
}

/**
 * Rewrite every document of `source` as the webhook would rewrite its objects. Returns the whole
 * new text, or an error naming the document (1-based), its line and the path; never throws.
 */
export function renderManifests(source: string, options: RenderOptions): RenderResult {
  const problem = textProblem(source);
  if (problem !== undefined) return { ok: false, error: `input: ${problem}` };
  // Parsed with each document's byte order mark as a line break; the output is cut from `source`.
  const boms = documentBoms(source);
  const parsed = withoutBoms(source, boms);
  const starts = pieces(source);
  const ends = starts.map((_, i) => starts[i + 1] ?? source.length);
  const max = options.maxDocumentChars;
  // A List (JSON, or YAML in kubectl's layout) is rendered item by item (renderList): its largest item bounds its memory, and its size (yaml-list.ts).
  const lists = starts.map((start, i) => listOf(parsed.slice(start, ends[i]), max === undefined ? Infinity : max * HEAP_PER_DOCUMENT_CHAR));
  if (max !== undefined) {
    // Before any parsing: the parser alone would fill the heap. A piece is at least one whole document.
    for (const [i, start] of starts.entries()) {
      const list = lists[i];
      let [at, length] = [start, (ends[i] ?? start) - start];
      if (list !== undefined) {
        length = list.top.length; // the List without its items, then each item
        for (const [j, from] of list.starts.entries()) {
          const n = (list.ends[j] ?? from) - from;
          if (n > length) [at, length] = [start + from, n];
        }
      }
      if (length > max) return tooLarge(source, at, length, max);
    }
  }
  const limitedRule = options.namespace === undefined ? namespaceLimitedRules(options.rewriter) : undefined;
  const rendered: Rendered = { changes: [], warnings: [], limitedRule, namespaceLimited: new Set() };
  const out: string[] = [];
  let copied = 0;
  let index = 0;
  /** A document's error, located at `offset` in the whole text, as the result. */
  const failed = (e: unknown, offset: number): RenderResult => {
    const overflow = isStackOverflow(e);
    if (!(e instanceof RenderError || e instanceof EditError || overflow)) throw e;
    // A parser's error (it has a place) caused by a no-break or ideographic space: named (src/config/yaml-document.ts).
    const space = e instanceof RenderError && e.offset !== undefined ? notYamlSpaceNear(source, offset) : '';
    return { ok: false, error: `document ${index} (${where(source, offset)}): ${overflow ? TOO_DEEP : (e as Error).message}${space}` };
  };
  for (const [i, base] of starts.entries()) {
    const text = parsed.slice(base, ends[i]);
    const list = lists[i];
    if (list !== undefined) {
      index++;
      let edits: readonly Edit[] | typeof WHOLE;
      try {
        edits = renderList(text, list, index, options, rendered);
      } catch (e) {
        return failed(e, base);
      }
      if (edits !== WHOLE) {
        for (const edit of edits) {
          out.push(source.slice(copied, base + edit.offset), edit.insert);
          copied = base + edit.offset + edit.remove;
        }
        continue;
      }
      // Parsed whole after all (below, as any document): bounded by its own size.
      index--;
      if (max !== undefined && text.length > max) return tooLarge(source, base, text.length, max);
    }
    const groups = documentGroups(text, base);
    for (;;) {
      // The yaml package recurses per level of nesting (reading and writing its syntax tree): a
      // document nested some 10,000 levels deep overflows the stack there, and that is this
      // document's error (exit 2), not a crash (exit 1, which `--check` uses for "would change").
      let next: IteratorResult<DocumentGroup>;
      try {
        next = groups.next();
      } catch (e) {
        if (!isStackOverflow(e)) throw e;
        return { ok: false, error: `document ${index + 1}: ${TOO_DEEP}` };
      }
      if (next.done === true) break;
      const group = next.value;
      index++;
      let edited: string | undefined;
      try {
        edited = renderDocument(group, index, options, rendered);
      } catch (e) {
        return failed(e, group.base + (e instanceof RenderError && e.offset !== undefined ? e.offset : group.start));
      }
      if (edited === undefined) continue;
      // Edits come after a document's first line: its byte order mark is where it was.
      const bom = boms.find((at) => at >= group.base + group.start && at < group.base + group.end) ?? -1;
      const k = bom - group.base - group.start;
      if (bom >= 0 && edited.charAt(k) === '\n') edited = `${edited.slice(0, k)}\ufeff${edited.slice(k + 1)}`;
      out.push(source.slice(copied, group.base + group.start), edited);
      copied = group.base + group.end;
    }
  }
  out.push(source.slice(copied));
  const result = { ok: true as const, output: out.join(''), changes: rendered.changes, warnings: rendered.warnings };
  return rendered.namespaceLimited.size === 0 ? result : { ...result, namespaceLimited: [...rendered.namespaceLimited] };
}

interface Rendered {
  readonly changes: RenderedImage[];
  readonly warnings: RenderWarning[];
  /** namespaceLimitedRules of the rules, when objects may have no namespace. */
  readonly limitedRule: LimitedRule | undefined;
  readonly namespaceLimited: Set<string>;
}

/** The webhook's patch for one object (its pointers relative to the document), with what it changes and warns about. Throws RenderError. */
function renderObject(o: ManifestObject, index: number, options: RenderOptions, rendered: Rendered): readonly PatchOperation[] {
  const checked: { rewrite: PlannedRewrite; outcome: PolicyOutcome }[] = [];
  const { check } = options;
  const withhold =
    check === undefined
      ? undefined
      : (rewrite: PlannedRewrite): string | undefined => {
          const outcome = check(rewrite);
          if (outcome.action === 'apply') return undefined;
          checked.push({ rewrite, outcome });
          // As src/lambda/verify-step.ts: `rewrite` applies it; `deny` leaves it out (and the object fails below).
          return outcome.action === 'rewrite' ? undefined : outcome.reason;
        };
  const d = decide(o, options.rewriter, { ...options, withhold });
  const label = objectLabel(o);
  const warn = (pointer: string, message: string): void => {
    rendered.warnings.push({ document: index, object: label, pointer: o.pointer + pointer, message });
  };
  // A field the API server would accept as it is (an original-images annotation someone wrote by
  // hand) is what the webhook overwrites, with a warning in its log: render does the same, below.
  // Any other entry is a field the API server would reject (an image that is not a string, a
  // metadata that is not an object): the manifest is broken, `kubectl apply` would fail on it, so
  // render stops. The message is the defect, without what the webhook then did (after `; `).
  const broken = d.malformed.find((m) => m.valid !== true);
  if (broken !== undefined) throw new RenderError(`${label}: ${o.pointer}${broken.pointer} ${broken.problem.split('; ')[0] ?? broken.problem}`);
  for (const { rewrite, outcome } of checked) {
    const { field, rule } = rewrite;
    switch (outcome.action) {
      case 'keep':
        warn(field.pointer, `left ${field.image} unchanged (rule ${rule.name}): ${outcome.reason}`);
        break;
      case 'rewrite':
        warn(field.pointer, `rewrote ${field.image} -> ${rewrite.to} anyway (rule ${rule.name}): ${outcome.reason}`);
        break;
      case 'deny':
        // The webhook would answer allowed: false: the object cannot be rendered as it would be admitted.
        throw new RenderError(`${label}: ${o.pointer}${field.pointer}: ${rewriteText(rewrite)}: ${outcome.reason}; the webhook would deny this object (onMissing: deny)`);
      case 'apply':
        break;
    }
  }
  for (const name of namespaceLimitedOf(o, d, rendered.limitedRule)) rendered.namespaceLimited.add(name);
  for (const r of d.rewrites) rendered.changes.push({ document: index, object: label, pointer: o.pointer + r.pointer, from: r.from, to: r.to, rule: r.rule });
  for (const i of d.invalid) warn(i.pointer, `left unchanged: ${i.error}`);
  for (const m of d.malformed) warn(m.pointer, m.problem);
  return d.ops;
}

/** The new text of one document, or undefined when nothing changes. Throws RenderError or EditError. */
function renderDocument(
  group: DocumentGroup,
  index: number,
  options: RenderOptions,
  rendered: Rendered,
): string | undefined {
  const doc = composeOne(group.tokens);
  if (doc === undefined) return undefined;
  const json = toJson(doc);
  const objects = objectsOf(json);
  if (!objects.ok) throw new RenderError(`${objects.problem.pointer === '' ? 'the document' : objects.problem.pointer} ${objects.problem.message}`);
  const ops: PatchOperation[] = [];
  // One by one: `push(...list)` passes every entry as an argument and overflows the stack past about 130,000.
  for (const o of objects.objects) for (const op of renderObject(o, index, options, rendered)) ops.push(op);
  if (ops.length === 0) return undefined;
  const docText = group.text.slice(group.start, group.end);
  const editor = new DocumentEditor(doc, group.text, docText.includes('\r\n') ? '\r\n' : '\n');
  for (const op of ops) editor.apply(op);
  const edited = applyEdits(docText, group.start, editor.finish());
  verify(edited, json, ops);
  return edited;
}

/** renderList's answer when a List must be rendered as one document after all. */
const WHOLE = Symbol('whole');

/** The value of a text that holds one document; undefined when the yaml package finds any problem in it. */
function valueOf(text: string): { readonly value: unknown } | undefined {
  try {
    const doc = composeOne([...parseTokens(text)]);
    return doc === undefined ? undefined : { value: toJson(doc) };
  } catch (e) {
    if (e instanceof RenderError || isStackOverflow(e)) return undefined;
    throw e;
  }
}

/**
 * A List item by item: the List without its items and each item parsed on their own, the items
 * that change parsed again to be edited and checked; its whole tree would take a couple of hundred
 * times its text (src/manifests/json-list.ts).
 * No item depends on another (JSON has no aliases; a YAML item's alias to another's anchor fails to
 * parse on its own): objects, decisions, warnings, errors and edits are the whole document's. Returns
 * the edits (offsets in `text`), or WHOLE on any problem (a duplicate key, such an alias) or no List.
 */
function renderList(text: string, list: ListLayout, index: number, options: RenderOptions, rendered: Rendered): readonly Edit[] | typeof WHOLE {
  const top = valueOf(list.top)?.value;
  if (!isRecord(top) || JSON.stringify(own(top, 'items')) !== '[]') return WHOLE; // the items' place: `[]`
  const itemText = (i: number): string => list.document(text.slice(list.starts[i], list.ends[i]));
  const items: unknown[] = [];
  for (const i of list.starts.keys()) {
    const item = valueOf(itemText(i));
    if (item === undefined) return WHOLE;
    items.push(item.value);
  }
  (top as Record<string, unknown>)['items'] = items;
  const objects = objectsOf(top);
  if (!objects.ok) throw new RenderError(`${objects.problem.pointer === '' ? 'the document' : objects.problem.pointer} ${objects.problem.message}`);
  // An item that is a List itself (kubectl applies its items): its objects' edits are the whole path's.
  if (!objects.objects.every((o) => /^\/items\/\d+$/.test(o.pointer))) return WHOLE;
  // As renderDocument: every object decided, then every edit made, then every edit checked.
  const changed: { readonly item: number; readonly pointer: string; readonly ops: PatchOperation[] }[] = [];
  for (const o of objects.objects) {
    const ops = renderObject(o, index, options, rendered).map((op) => ({ ...op, path: op.path.slice(o.pointer.length) }));
    if (ops.length > 0) changed.push({ item: Number(o.pointer.slice('/items/'.length)), pointer: o.pointer, ops });
  }
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  const edits = changed.map(({ item, ops }): Edit => {
    const [start, end] = [list.starts[item] ?? 0, list.ends[item] ?? 0];
    const source = itemText(item);
    const doc = composeOne([...new Parser().parse(source)]);
    if (doc === undefined) throw new RenderError('an item of the List disappeared'); // parsed above: cannot happen
    // Offsets relative to the item, whose lines keep their columns.
    const editor = new DocumentEditor(doc, source, newline);
    for (const op of ops) editor.apply(op);
    return { offset: start, remove: end - start, insert: applyEdits(source, 0, editor.finish()) };
  });
  for (const [i, { item, pointer, ops }] of changed.entries()) verify(edits[i]?.insert ?? '', items[item], ops, pointer);
  return edits.map((e) => ({ ...e, insert: list.restore(e.insert) }));
}

/** The edited text must parse to exactly the webhook's patch applied to the original (at `pointer` in its document). */
function verify(edited: string, original: unknown, ops: readonly PatchOperation[], pointer = ''): void {
  const expected = applyPatch(deepClone(original), deepClone(ops) as fastJsonPatch.Operation[], true, false).newDocument as unknown;
  const docs = composeAll(new Parser().parse(edited));
  const doc = docs[0];
  const actual = docs.length === 1 && doc?.errors.length === 0 ? toJson(doc) : undefined;
  const cannot = "cannot rewrite this document's text to exactly what the webhook would make of it";
  if (actual === undefined) throw new RenderError(cannot);
  // The first field that would differ: where the anchor is used, so that the user knows what to write out.
  const differ = compare(expected as object, actual as object)[0];
  if (differ !== undefined) {
    throw new RenderError(`${cannot}: ${pointer + differ.path === '' ? 'the document' : pointer + differ.path} would change too (an anchor or alias shared with a field the webhook does not change? write the value out there)`);
  }
}
