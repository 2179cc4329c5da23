/**
 * `audit -f`: the objects of what `kubectl get ... -o json` (or `-o yaml`) printed, one or several
 * of them one after another, read as render reads manifests (the same alias limit; a YAML List in
 * kubectl's layout item by item). Every part that cannot be read (the input, a document, an item
 * of a List) is said on stderr by name; what can be read is still audited.
 */
import { type Document, YAMLParseError } from 'yaml';
import { KUBECTL_SCALARS } from '../config/yaml-kubectl.js';
import { DUPLICATE_KEY_MESSAGE, notYamlSpaceNear, parseAllDocumentsUnique, parseDocumentUnique } from '../config/yaml-read.js';
import type { Io } from './common.js';
import { isRecord, own, printable } from '../core/json.js';
import { type ManifestObject, readObjects } from '../core/manifest.js';
import { jsonStreamStarts } from '../manifests/json-stream.js';
import { documentBoms, pieces, toJson, withoutBoms } from '../manifests/documents.js';
import { yamlListOf } from '../manifests/yaml-list.js';
import { yaml11BreakProblem } from '../manifests/yaml11-breaks.js';

/** Empty input or null: what kubectl leaves in a pipeline when it fails, never its output. */
const EXPECTED = 'expected the JSON or YAML of `kubectl get ... -o json` (a List, even when nothing matches); did kubectl fail?';

/** One document of the input: its value, or why it could not be parsed. */
type Parsed = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string };

// logLevel 'error': no Node warning on stderr for a mapping key that is a list or a map (see render).
// Repeated keys are errors, found in linear time (src/config/yaml-read.ts); plain scalars are read as kubectl reads them (yaml-kubectl.ts).
const YAML_OPTIONS = { merge: true, logLevel: 'error', customTags: KUBECTL_SCALARS } as const;
const parseOne = (text: string): Document.Parsed => parseDocumentUnique(text, YAML_OPTIONS);
const parseAll = (text: string): Document.Parsed[] => parseAllDocumentsUnique(text, YAML_OPTIONS);

/** The value of one YAML document, or undefined when the yaml package finds any problem in it. */
function yamlValue(text: string): { readonly value: unknown } | undefined {
  const doc = parseOne(text);
  if (doc.errors.length > 0) return undefined;
  try {
    return { value: toJson(doc) };
  } catch {
    return undefined;
  }
}

/**
 * The documents of a YAML text, read piece by piece as render reads them (its `---` lines,
 * pieces()), each List in kubectl's layout (`kubectl get -A -o yaml`) item by item
 * (src/manifests/yaml-list.ts): a syntax tree takes many times its text, and the trees of a whole
 * stream or of a large cluster's List filled node's heap (a crash, exit 134:
 * docs/performance.md, "Figures behind the comments"). Each tree is dropped once its value is read.
 * Undefined when anything has a problem: the whole text is then parsed at once, which reports it
 * with its line.
 */
function listDocuments(text: string): Parsed[] | undefined {
  const starts = pieces(text);
  const texts = starts.map((start, i) => text.slice(start, starts[i + 1]));
  const lists = texts.map((piece) => yamlListOf(piece));
  const documents: Parsed[] = [];
  for (const [i, piece] of texts.entries()) {
    const list = lists[i];
    const top = list === undefined ? undefined : yamlValue(list.top)?.value;
    if (list !== undefined && isRecord(top) && JSON.stringify(own(top, 'items')) === '[]') {
      const items: unknown[] = [];
      for (const [j, from] of list.starts.entries()) {
        const item = yamlValue(list.document(piece.slice(from, list.ends[j])));
        if (item === undefined) return undefined; // an alias to another item's anchor, a duplicate key...
        items.push(item.value);
      }
      documents.push({ ok: true, value: { ...top, items } });
      continue;
    }
    for (const doc of parseAll(piece)) {
      if (doc.errors.length > 0) return undefined;
      try {
        documents.push({ ok: true, value: toJson(doc) });
      } catch {
        return undefined;
      }
    }
  }
  return documents;
}

/** The documents of the text, or why it is neither JSON nor YAML. */
function parseDocuments(text: string): Parsed[] | string {
  try {
    return [{ ok: true, value: JSON.parse(text) as unknown }];
  } catch {
    // Not one JSON document: several (`jq -c '.items[]'`), else YAML (`kubectl get -o yaml`), with the same limits as render.
  }
  const starts = jsonStreamStarts(text);
  if (starts !== undefined) {
    return starts.map((start, i): Parsed => {
      try {
        return { ok: true, value: JSON.parse(text.slice(start, starts[i + 1])) as unknown };
      } catch (e) {
        return { ok: false, message: `not JSON: ${(e as Error).message}` };
      }
    });
  }
  // Each document's byte order mark after its `---` line read as kubectl reads it (src/manifests/documents.ts).
  const yaml = withoutBoms(text, documentBoms(text));
  const lists = listDocuments(yaml);
  if (lists !== undefined) return lists;
  const docs = parseAll(yaml);
  // The parser's first line ends in ":" before its excerpt of the text, which is not printed.
  // Its own stack overflow (nesting some thousand levels deep) comes as V8's message: said plainly.
  const first = (errors: readonly Error[]): string => {
    const error = errors[0];
    const message = error?.message.split('\n')[0]?.replace(/:$/, '').replace(/^Maximum call stack size exceeded/, 'nested too deeply to be read') ?? '';
    // A key repeated at the start of a line: most likely two `-o yaml` outputs put one after
    // another (`kubectl get ... -o yaml` twice), which YAML reads as one mapping; JSON ones need nothing.
    const concatenated = error instanceof YAMLParseError && error.code === 'DUPLICATE_KEY' && error.message.startsWith(DUPLICATE_KEY_MESSAGE) && error.linePos?.[0].col === 1;
    if (concatenated) return `${message} (several \`kubectl get -o yaml\` outputs need a line "---" between them)`;
    return error instanceof YAMLParseError ? `${message}${notYamlSpaceNear(yaml, error.pos[0])}` : message;
  };
  const broken = docs.filter((d) => d.errors.length > 0);
  if (broken.length > 0 && broken.length === docs.length) return `neither JSON nor YAML: ${first(broken[0]?.errors ?? [])}`;
  return docs.map((d): Parsed => {
    if (d.errors.length > 0) return { ok: false, message: `not YAML: ${first(d.errors)}` };
    try {
      return { ok: true, value: toJson(d) };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  });
}

/**
 * The objects of `kubectl get -o json` (or YAML) text that could be read; `complete` is false
 * after printing each part that could not (the input, a document, or an item of a List).
 */
export function fileObjects(text: string, io: Io, name: string): { objects: ManifestObject[]; complete: boolean } {
  const objects: ManifestObject[] = [];
  let complete = true;
  const unreadable = (message: string): { objects: ManifestObject[]; complete: boolean } => {
    io.stderr(`${printable(`error: ${name}: ${message}`)}\n`);
    complete = false;
    return { objects, complete };
  };
  if (text.includes('\u0000')) return unreadable('binary data, not the JSON of kubectl get -o json');
  if (text.trim() === '') return unreadable(`empty input: ${EXPECTED}`);
  const breaks = yaml11BreakProblem(text);
  if (breaks !== undefined) return unreadable(breaks);
  const documents = parseDocuments(text);
  if (typeof documents === 'string') return unreadable(documents);
  if (documents.every((d) => d.ok && (d.value === null || d.value === undefined))) return unreadable(`null input: ${EXPECTED}`);
  for (const [i, d] of documents.entries()) {
    if (!d.ok) {
      unreadable(`document ${i + 1}: ${d.message}`);
      continue;
    }
    const r = readObjects(d.value);
    for (const p of r.problems) unreadable(`document ${i + 1}: ${p.pointer === '' ? 'the document' : p.pointer} ${p.message}`);
    // One by one: `push(...r.objects)` overflows the stack past about 130,000 objects (a List of
    // every Pod of a large cluster).
    for (const o of r.objects) objects.push(o);
  }
  return { objects, complete };
}
