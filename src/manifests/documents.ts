/**
 * A manifests text cut into documents, for `render` and `audit -f`: where it can be split into
 * pieces parsed on their own (time linear in the input), each piece's top-level tokens grouped by
 * document, and one document composed and turned into JSON as kubectl reads it (repeated keys,
 * aliases, plain scalars), its problems thrown as RenderError with their offset. What is refused
 * before any parsing (binary data, a text too large, YAML 1.1 line breaks) is here too.
 */
import { CST, type Document } from 'yaml';
import { KUBECTL_SCALARS } from '../config/yaml-kubectl.js';
import { composeUnique, parseTokens, TOO_DEEP } from '../config/yaml-read.js';
import { aliasingProblem } from './aliasing.js';
import { jsonStreamStarts } from './json-stream.js';
import { yaml11BreakProblem } from './yaml11-breaks.js';

/** The largest input accepted. */
const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/** Why a document cannot be rendered; `offset` locates it in the text when known. */
export class RenderError extends Error {
  override readonly name = 'RenderError';
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

export interface DocumentGroup {
  /** The piece of the text the tokens' offsets refer to, and where it starts in the whole text. */
  readonly text: string;
  readonly base: number;
  readonly tokens: CST.Token[];
  /** Where the group starts and ends in `text`. */
  readonly start: number;
  readonly end: number;
}

/**
 * Where the text can be cut into pieces parsed on their own: before each line that starts with
 * `---` (a document start; YAML 1.2 forbids such a line inside any scalar or flow collection, so no
 * document spans it). The yaml package's parser slows down on one long text
 * (docs/performance.md, "Figures behind the comments"), and pieces keep the time linear. A text
 * with directives (`%YAML`) is parsed whole, so that each directive stays with its document. A
 * stream of JSON values without `---` between them (`jq -c '.items[]'`) is cut before each value:
 * one document each, as kubectl reads it.
 */
export function pieces(source: string): number[] {
  if (/^%/m.test(source)) return [0];
  const json = jsonStreamStarts(source);
  if (json !== undefined) return [0, ...json.slice(1)];
  const starts = [0];
  for (const m of source.matchAll(/(?<=^|[\r\n])---(?=[ \t\r\n]|$)/g)) if (m.index > 0) starts.push(m.index);
  return starts;
}

/**
 * Byte order marks that start a document, right after its `---` line: `cat a.yaml b.yaml` of files
 * saved with one (an editor's, PowerShell's). kubectl reads each document on its own and skips a
 * byte order mark at the start of a line (go-yaml's scanner), as YAML 1.2 allows one before a
 * document; the `yaml` package reads it as part of the first key. Their offsets in `source`.
 */
export function documentBoms(source: string): number[] {
  if (!source.includes('\ufeff')) return [];
  return [...source.matchAll(/(?<=^|[\r\n])---(?:[ \t][^\r\n]*)?(?:\r\n|\n|\r)\ufeff/g)].map((m) => m.index + m[0].length - 1);
}

/**
 * `source` to parse, each of `boms` a line break instead: the same length, so that every offset the
 * parser gives is the text's (the output is cut from the text itself, byte order marks kept).
 */
export function withoutBoms(source: string, boms: readonly number[]): string {
  let text = '';
  let from = 0;
  for (const at of boms) {
    text += `${source.slice(from, at)}\n`;
    from = at + 1;
  }
  return boms.length === 0 ? source : text + source.slice(from);
}

/** Top-level tokens of one piece (`text`, at `base` in the whole text) grouped by document (directives and comments before it, `...` after it). */
export function* documentGroups(text: string, base: number): Generator<DocumentGroup> {
  let tokens: CST.Token[] = [];
  let start: number | undefined;
  let end = 0;
  let done = false;
  for (const token of parseTokens(text)) {
    if (done && token.type !== 'doc-end') {
      yield { text, base, tokens, start: start ?? 0, end };
      tokens = [];
      start = undefined;
      done = false;
    }
    start ??= 'offset' in token ? token.offset : end;
    tokens.push(token);
    end = ('offset' in token ? token.offset : end) + CST.stringify(token).length;
    if (token.type === 'document') done = true;
  }
  if (done) yield { text, base, tokens, start: start ?? 0, end };
}

/** `line L, column C` (1-based) of an offset; counted only for an error message. */
export function where(source: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = source.indexOf('\n'); i >= 0 && i < offset; i = source.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

// logLevel 'error': toJS of a mapping key that is a list or a map warns through process.emitWarning
// (a Node warning on stderr, not ours to print); the key is kept, stringified, as before.
// Repeated keys are errors, found in linear time (src/config/yaml-read.ts); plain scalars are read as kubectl reads them (yaml-kubectl.ts).
const COMPOSE_OPTIONS = { keepSourceTokens: true, merge: true, logLevel: 'error', customTags: KUBECTL_SCALARS } as const;
/** Every document of the tokens, composed as kubectl reads YAML (COMPOSE_OPTIONS); errors are left in each document's `errors`. */
export const composeAll = (tokens: Iterable<CST.Token>): Document.Parsed[] => composeUnique(tokens, COMPOSE_OPTIONS);

/** One composed document (errors are thrown as RenderError with a line and column). */
export function composeOne(tokens: readonly CST.Token[]): Document.Parsed | undefined {
  const docs = composeAll(tokens);
  const doc = docs[0];
  if (doc === undefined) return undefined;
  const error = doc.errors[0];
  // The composer reports its own stack overflow as the document's error: said as TOO_DEEP too.
  if (error !== undefined) throw new RenderError(error.message.includes('call stack') ? TOO_DEEP : (error.message.split('\n')[0] ?? error.message), error.pos[0]);
  return doc;
}

/** The document's value as JSON; aliases that kubectl would refuse (./aliasing.ts) are a RenderError. */
export function toJson(doc: Document.Parsed): unknown {
  const problem = aliasingProblem(doc);
  if (problem !== undefined) throw new RenderError(problem.message, problem.offset);
  try {
    // Counted above as kubectl counts: the `yaml` package's own count (at most 100 uses of an anchor) off.
    return doc.toJS({ maxAliasCount: -1 });
  } catch (e) {
    throw new RenderError((e as Error).message);
  }
}

/** The text must be YAML or JSON: no NUL bytes (binary data), not over MAX_MANIFEST_BYTES, and read by kubectl as it is here. */
export function textProblem(source: string): string | undefined {
  if (source.length > MAX_MANIFEST_BYTES) return `larger than ${MAX_MANIFEST_BYTES} bytes`;
  const nul = source.indexOf('\u0000');
  if (nul >= 0) return `binary data (a NUL byte at offset ${nul}), not YAML or JSON`;
  return yaml11BreakProblem(source);
}
