/**
 * Rules documents in the YAML they are usually written in, read without the YAML parser: block
 * mappings and sequences, flow sequences and mappings on one line (`rules: [{name: gcr, ...}]`, the
 * README's `RewriteRules`; `rules: []`, the template's default), one-line plain and quoted strings,
 * `true` and `false`, comments. Whatever else a document holds (anchors, tags, block scalars, scalars
 * over several lines, escapes, numbers, nulls, tabs, non-ASCII text, directives...) makes it decline: the `yaml`
 * package reads that document, and reports what is wrong with it, as before.
 *
 * Written by hand because the `yaml` package is the largest part of the Lambda's bundle:
 * loading and compiling it was most of a cold start with inline YAML rules (docs/performance.md,
 * "fourteenth pass"), and no smaller maintained parser reads YAML as it does. It accepts only text
 * it reads as the package does, which tests/unit/yaml-subset.property.test.ts checks against the
 * package on generated documents and on every rules document of the repository.
 */

export type SubsetValue = string | boolean | SubsetValue[] | { [key: string]: SubsetValue };

/** A line with content (not blank, not only a comment): its indentation and the text after it. */
interface Line {
  indent: number;
  body: string;
}

/** Declined: the text holds something this reader leaves to the YAML parser. */
class Decline extends Error {}
const decline = (): never => {
  throw new Decline();
};

/** Keys this reader accepts: plain words (never `__proto__`, checked apart). */
const BLOCK_KEY = /^([A-Za-z_][A-Za-z0-9_-]*):(?: +|$)/;
const FLOW_KEY = /^([A-Za-z_][A-Za-z0-9_-]*): +/;
/** YAML 1.2's core schema (the package's default): booleans, in the spellings it reads as such. */
const CORE_BOOLEAN = /^(?:true|True|TRUE|false|False|FALSE)$/;
/** Its numbers (`123456789012.dkr.ecr...`, an ECR host, is a string). */
const CORE_NUMBER = /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
/** Plain scalars left to the parser beside numbers: nulls, signs, dots, and YAML 1.1's words in any case. */
const LEFT_TO_PARSER = /^(?:[-+.~]|(?:null|true|false|yes|no|on|off|y|n)$)/i;
/** A plain scalar's first character may not be an indicator. */
const INDICATORS = new Set('-?:,[]{}#&*!|>\'"%@`');
const MAX_DEPTH = 32;

/** `text` read as YAML when it is in the subset above; undefined when the YAML parser must read it. */
export function readYamlSubset(text: string): SubsetValue | undefined {
  // Printable ASCII and line ends only (LF, or CRLF as an editor on Windows saves it): no tab, lone
  // carriage return, byte order mark or other line break.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 || c > 0x7e) && c !== 0x0a && !(c === 0x0d && text.charCodeAt(i + 1) === 0x0a)) return undefined;
  }
  const lines: Line[] = [];
  for (const raw of text.split(/\r?\n/)) {
    // Directives, document markers: left to the parser.
    if (raw.startsWith('%') || raw.startsWith('---') || raw.startsWith('...')) return undefined;
    const body = raw.trimStart();
    if (body === '' || body.startsWith('#')) continue;
    lines.push({ indent: raw.length - body.length, body });
  }
  const first = lines[0];
  if (first === undefined) return undefined;
  try {
    const reader = new Reader(lines);
    const value = reader.block(first.indent, 0);
    return reader.done() ? value : undefined;
  } catch (e) {
    if (e instanceof Decline) return undefined;
    throw e;
  }
}

const isSequenceLine = (body: string): boolean => body.startsWith('-') && (body.length === 1 || body[1] === ' ');

/** Nothing, or spaces and a comment: what may follow a value on its line. */
function endOfLine(rest: string): void {
  if (rest === '') return;
  if (!rest.startsWith(' ')) decline();
  const after = rest.trimStart();
  if (after !== '' && !after.startsWith('#')) decline();
}

/** A plain scalar: a string, or true or false; anything the core schema could read otherwise is declined. */
function plainScalar(s: string): string | boolean {
  if (CORE_BOOLEAN.test(s)) return s.startsWith('t') || s.startsWith('T');
  if (s === '' || INDICATORS.has(s[0] ?? '') || CORE_NUMBER.test(s) || LEFT_TO_PARSER.test(s)) decline();
  return s;
}

function keyOf(name: string, seen: Set<string>): string {
  // A repeated key is an error the parser reports; `__proto__` is set apart by its toJS.
  if (name === '__proto__' || seen.has(name) || LEFT_TO_PARSER.test(name)) decline();
  seen.add(name);
  return name;
}

/** A quoted scalar at the start of `s`: its value and the index after its closing quote. */
function quoted(s: string): [string, number] {
  const quote = s[0];
  if (quote === '"') {
    const end = s.indexOf('"', 1);
    // Escapes are left to the parser.
    if (end === -1 || s.lastIndexOf('\\', end) !== -1) decline();
    return [s.slice(1, end), end + 1];
  }
  let value = '';
  let from = 1;
  for (;;) {
    const end = s.indexOf("'", from);
    if (end === -1) decline();
    value += s.slice(from, end);
    if (s[end + 1] !== "'") return [value, end + 1];
    value += "'";
    from = end + 2;
  }
}

class Reader {
  #at = 0;
  readonly #lines: Line[];

  constructor(lines: Line[]) {
    this.#lines = lines;
  }

  done(): boolean {
    return this.#at === this.#lines.length;
  }

  /** The block node whose first line is the current one, at `indent`. */
  block(indent: number, depth: number): SubsetValue {
    if (depth > MAX_DEPTH) decline();
    const line = this.#lines[this.#at];
    if (line === undefined) return decline();
    if (isSequenceLine(line.body)) return this.#sequence(indent, depth);
    if (BLOCK_KEY.test(line.body)) return this.#mapping(indent, depth);
    return decline();
  }

  /** The value of a key or item that ends its line: the block below it (a sequence may start at `indent`, a key's). */
  #nested(indent: number, depth: number, sequenceAtIndent: boolean): SubsetValue {
    const next = this.#lines[this.#at];
    if (next !== undefined && next.indent > indent) return this.block(next.indent, depth + 1);
    if (sequenceAtIndent && next?.indent === indent && isSequenceLine(next.body)) return this.#sequence(indent, depth + 1);
    // An empty value is null: left to the parser.
    return decline();
  }

  #mapping(indent: number, depth: number): SubsetValue {
    const map: Record<string, SubsetValue> = {};
    const seen = new Set<string>();
    for (let line = this.#lines[this.#at]; line !== undefined && line.indent >= indent; line = this.#lines[this.#at]) {
      if (line.indent > indent) decline();
      const m = BLOCK_KEY.exec(line.body);
      if (m === null) return decline();
      const key = keyOf(m[1] ?? '', seen);
      const rest = line.body.slice(m[0].length);
      this.#at++;
      map[key] = rest === '' || rest.startsWith('#') ? this.#nested(indent, depth, true) : inline(rest, depth);
    }
    return map;
  }

  #sequence(indent: number, depth: number): SubsetValue {
    const list: SubsetValue[] = [];
    for (let line = this.#lines[this.#at]; line !== undefined && line.indent >= indent; line = this.#lines[this.#at]) {
      if (line.indent > indent) decline();
      // A key's compact sequence ends at the next key of the mapping.
      if (!isSequenceLine(line.body)) break;
      const rest = line.body.slice(1);
      const content = rest.trimStart();
      if (content === '' || content.startsWith('#')) {
        this.#at++;
        list.push(this.#nested(indent, depth, false));
        continue;
      }
      if (isSequenceLine(content)) decline();
      if (BLOCK_KEY.test(content)) {
        // `- key: value`: a mapping whose keys are at the column of this one.
        this.#lines[this.#at] = { indent: indent + 1 + rest.length - content.length, body: content };
        list.push(this.block(indent + 1 + rest.length - content.length, depth + 1));
        continue;
      }
      this.#at++;
      list.push(inline(content, depth));
    }
    return list;
  }
}

/** A value that starts after `key: ` or `- ` and ends its line. */
function inline(s: string, depth: number): SubsetValue {
  const c = s[0];
  if (c === '"' || c === "'") {
    const [value, end] = quoted(s);
    endOfLine(s.slice(end));
    return value;
  }
  if (c === '[' || c === '{') {
    const flow = new Flow(s);
    const value = flow.node(depth + 1);
    endOfLine(s.slice(flow.at));
    return value;
  }
  // A plain scalar: up to a comment, its trailing spaces dropped; `: ` or a final `:` would make it a key.
  const comment = s.indexOf(' #');
  const plain = (comment === -1 ? s : s.slice(0, comment)).trimEnd();
  if (plain.includes(': ') || plain.endsWith(':')) decline();
  return plainScalar(plain);
}

/** A flow collection on one line. */
class Flow {
  at = 0;
  readonly #s: string;

  constructor(s: string) {
    this.#s = s;
  }

  #spaces(): void {
    while (this.#s[this.at] === ' ') this.at++;
  }

  node(depth: number): SubsetValue {
    if (depth > MAX_DEPTH) decline();
    const c = this.#s[this.at];
    if (c === '[') return this.#collection(']', () => this.node(depth + 1));
    if (c === '{') {
      const map: Record<string, SubsetValue> = {};
      const seen = new Set<string>();
      this.#collection('}', () => {
        const m = FLOW_KEY.exec(this.#s.slice(this.at));
        if (m === null) return decline();
        const key = keyOf(m[1] ?? '', seen);
        this.at += m[0].length;
        map[key] = this.node(depth + 1);
        return map[key];
      });
      return map;
    }
    if (c === '"' || c === "'") {
      const [value, end] = quoted(this.#s.slice(this.at));
      this.at += end;
      return value;
    }
    // A plain scalar in a flow collection: no `:` or `#` at all (flow indicators end it).
    let end = this.at;
    while (end < this.#s.length && !',[]{}'.includes(this.#s[end] ?? '')) end++;
    const plain = this.#s.slice(this.at, end).trimEnd();
    if (plain.includes(':') || plain.includes('#')) decline();
    this.at = end;
    return plainScalar(plain);
  }

  /** `[...]` or `{...}`: entries read by `entry`, separated by commas, none empty, closed on this line. */
  #collection(close: string, entry: () => SubsetValue): SubsetValue[] {
    const items: SubsetValue[] = [];
    this.at++;
    this.#spaces();
    if (this.#s[this.at] === close) {
      this.at++;
      return items;
    }
    for (;;) {
      items.push(entry());
      this.#spaces();
      const c = this.#s[this.at];
      this.at++;
      if (c === close) return items;
      if (c !== ',') decline();
      this.#spaces();
      // A trailing comma, an empty entry: left to the parser.
      if (this.#s[this.at] === close || this.#s[this.at] === ',') decline();
    }
  }
}
