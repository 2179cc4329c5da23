/**
 * Names a regex rule matches, made from its source, so that the load-time checks of its `replace`
 * (src/core/rules.ts) and of what it rewrites (src/core/rule-warnings.ts) look at results the rule
 * really gives: the rule's own regex is run on each name and its template filled from that match.
 * Setting every group to one text ("x") gave results no image can give (`mirror.example.com$2/$3`
 * with an optional port group `(:[0-9]+)?` gave `mirror.example.comx/x`, `mirror.example.com:$1/$2`
 * with a port group `mirror.example.com:x/x`), so valid rules were refused or warned about.
 *
 * The source is read by a small reader of the regex syntax rules use (src/core carries no regex
 * parser: src/config/regex-check.ts has refused whatever is not that at load, lookarounds and
 * backreferences included): a character, an escape, a class and `.` are one character each, chosen
 * by the regex engine itself among those names are made of; a repetition gives a few realistic
 * texts (`x`, `x.x/x`, `5000`...) that its character takes, and nothing (second) when it may be
 * absent; an alternation gives each branch. A sequence gives every combination while they are few, else each
 * element's variants over a base of the others. Only ever too few: a name the reader misses is not
 * tried, and whatever is not read (`undefined`) leaves the checks with no names, never wrong ones.
 */
import { matchedName } from './matched-name.js';
import { parseNormalizedNamed } from './reference.js';

/** A regex node: one character of a set (`source` as written), an assertion, a group, or a repetition. */
type Node =
  | { readonly kind: 'char'; readonly source: string }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'empty' }
  | { readonly kind: 'group'; readonly alternatives: readonly (readonly Node[])[] }
  | { readonly kind: 'repeat'; readonly node: Node; readonly min: number; readonly max: number };

/** The characters normalized names are made of, in the order they are preferred as samples. */
const NAME_CHARS = 'x.05/-_:abcdefghijklmnopqrstuvwyz12346789';
/** Texts a repetition gives, when its character takes all of theirs: the shapes of hosts, ports and paths. */
const SHAPES = ['x', 'x.x/x', 'x.x', '5000', 'x/x', 'x-x', 'x.x:5000', 'x_x'];
/** At most this many variants of a node, and of names per rule. */
const MAX_VARIANTS = 4;
const MAX_NAMES = 24;
const MAX_NAME_LENGTH = 515;

/** The characters of NAME_CHARS a one-character source takes, by source: rules share theirs (`.`, `[a-z0-9.-]`). */
const charCache = new Map<string, string>();
function charsOf(source: string): string {
  let chars = charCache.get(source);
  if (chars === undefined) {
    let re: RegExp | undefined;
    try {
      re = new RegExp(`^(?:${source})$`);
    } catch {
      re = undefined;
    }
    chars = '';
    if (re !== undefined) for (const c of NAME_CHARS) if (re.test(c)) chars += c;
    if (charCache.size < 10_000) charCache.set(source, chars);
  }
  return chars;
}

// Sticky: read at the reader's position, without slicing the source.
const GROUP_HEAD = /\((?:\?:|\?<[A-Za-z_$][\w$]*>)?/y;
const ESCAPE = /\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|c[A-Za-z]|[\s\S])/y;
/** Literal characters and escaped punctuation, each not followed by a quantifier (which takes only the last). */
const LITERAL_RUN = /(?:[A-Za-z0-9/_:@-]|\\[./:_@-])+?(?=[A-Za-z0-9/_:@-][*+?{]|\\[./:_@-][*+?{]|(?![A-Za-z0-9/_:@-]|\\[./:_@-]))/y;
const QUANTIFIER = /(?:([*+?])|\{(\d+)(?:(,)(\d*))?\})\??/y;

/** Reads `source` as a tree, or undefined for what the reader does not know. */
function parse(source: string): Node | undefined {
  let i = 0;
  const alternatives = (): Node[][] | undefined => {
    const out: Node[][] = [[]];
    while (i < source.length && source[i] !== ')') {
      if (source[i] === '|') {
        i++;
        out.push([]);
        continue;
      }
      const term = quantified();
      if (term === undefined) return undefined;
      out[out.length - 1]?.push(term);
    }
    return out;
  };
  const atom = (): Node | undefined => {
    // A run of literal text (`registry`, `\.example\.com/`) as one node: most of a source, read fast.
    LITERAL_RUN.lastIndex = i;
    const run = LITERAL_RUN.exec(source)?.[0];
    if (run !== undefined) {
      i += run.length;
      return { kind: 'text', text: run.replace(/\\/g, '') };
    }
    const c = source[i] ?? '';
    if (c === '(') {
      GROUP_HEAD.lastIndex = i;
      const head = GROUP_HEAD.exec(source)?.[0] ?? '(';
      if (source[i + 1] === '?' && head === '(') return undefined;
      i += head.length;
      const alts = alternatives();
      if (alts === undefined || source[i] !== ')') return undefined;
      i++;
      return { kind: 'group', alternatives: alts };
    }
    if (c === '[') {
      let j = i + 1;
      if (source[j] === '^') j++;
      for (; j < source.length && source[j] !== ']'; j++) if (source[j] === '\\') j++;
      if (j >= source.length) return undefined;
      const set = source.slice(i, j + 1);
      i = j + 1;
      return { kind: 'char', source: set };
    }
    if (c === '^' || c === '$') {
      i++;
      return { kind: 'empty' };
    }
    if (c === '\\') {
      const e = source[i + 1] ?? '';
      if (e === 'b' || e === 'B') {
        i += 2;
        return { kind: 'empty' };
      }
      if (/^[1-9k]$/.test(e)) return undefined;
      ESCAPE.lastIndex = i;
      const escape = ESCAPE.exec(source)?.[0] ?? '\\';
      i += escape.length;
      return { kind: 'char', source: escape };
    }
    if (c === '*' || c === '+' || c === '?') return undefined;
    i++;
    return { kind: 'char', source: c === '.' ? '.' : c.replace(/[\]{}]/, '\\$&') };
  };
  const quantified = (): Node | undefined => {
    const node = atom();
    if (node === undefined) return undefined;
    QUANTIFIER.lastIndex = i;
    const q = QUANTIFIER.exec(source);
    if (q === null) return node;
    i += q[0].length;
    const [, sym, low, comma, high] = q;
    if (sym !== undefined) return { kind: 'repeat', node, min: sym === '+' ? 1 : 0, max: sym === '?' ? 1 : Number.POSITIVE_INFINITY };
    const min = Number(low);
    const max = comma === undefined ? min : high === '' || high === undefined ? Number.POSITIVE_INFINITY : Number(high);
    return { kind: 'repeat', node, min, max };
  };
  const alts = alternatives();
  return alts === undefined || i < source.length ? undefined : { kind: 'group', alternatives: alts };
}

/** Whether every character of `text` is one of `chars`. */
function takesAll(chars: string, text: string): boolean {
  for (const c of text) if (!chars.includes(c)) return false;
  return true;
}

const distinct = (texts: readonly string[], limit: number): string[] => [...new Set(texts)].slice(0, limit);

/** Some texts `node` matches, made of name characters (none when it matches none). */
function variants(node: Node): string[] {
  switch (node.kind) {
    case 'empty':
      return [''];
    case 'text':
      return [node.text];
    case 'char': {
      const first = charsOf(node.source)[0];
      return first === undefined ? [] : [first];
    }
    case 'group': {
      const each = node.alternatives.map(sequence);
      const out: string[] = [];
      // Round robin, so that every branch is among the first few.
      for (let k = 0; k < MAX_VARIANTS; k++) for (const list of each) if (list[k] !== undefined) out.push(list[k] ?? '');
      return distinct(out, MAX_VARIANTS);
    }
    case 'repeat': {
      const { min, max } = node;
      const out: string[] = [];
      // No name is that long (a host of 259 characters, a path of 255): `a{100000000}` is no 100 MB text.
      if (min > MAX_NAME_LENGTH) return out;
      if (max > 0 && node.node.kind === 'char') {
        const chars = charsOf(node.node.source);
        for (const shape of SHAPES) if (shape.length >= min && shape.length <= max && takesAll(chars, shape)) out.push(shape);
        const head = chars.charAt(0);
        if (head !== '') out.push(head.repeat(Math.max(min, 1)));
      } else if (max > 0) {
        // Whatever it repeats, once (or the fewest times it must).
        for (const v of variants(node.node)) out.push(v.repeat(Math.min(Math.max(min, 1), 8)));
      }
      // Absent second: a name usually has what the regex makes optional (`(.*)` at its end).
      if (min === 0) out.splice(1, 0, '');
      return distinct(out, MAX_VARIANTS);
    }
  }
}

/** Texts a sequence matches: every combination of its elements' variants while they are few, else each element varied over a base. */
function sequence(elements: readonly Node[]): string[] {
  // Runs of elements of one variant (the literal text of most regexes) as one.
  const lists: string[][] = [];
  for (const element of elements) {
    const list = variants(element);
    if (list.length === 0) return [];
    const last = lists[lists.length - 1];
    if (list.length === 1 && last?.length === 1) last[0] = (last[0] ?? '') + (list[0] ?? '');
    else lists.push(list);
  }
  const product = lists.reduce((n, l) => n * l.length, 1);
  if (product <= MAX_NAMES) {
    // Every combination, those of the first variants first (by the sum of their ranks), and of
    // a rank those that vary an earlier element first (a host's alternatives before a path's
    // shapes): what the first few names differ in is spread over the elements.
    let out = [{ text: '', rank: 0, ranks: [] as number[] }];
    for (const list of lists) out = out.flatMap((head) => list.map((v, k) => ({ text: head.text + v, rank: head.rank + k, ranks: [...head.ranks, k] })));
    const earlier = (a: readonly number[], b: readonly number[]): number => {
      const k = a.findIndex((r, i) => r !== b[i]);
      return k < 0 ? 0 : (b[k] ?? 0) - (a[k] ?? 0);
    };
    return out.sort((a, b) => a.rank - b.rank || earlier(a.ranks, b.ranks)).map((c) => c.text);
  }
  // Else each element's variants over a base of the others' first ones, and over one of their
  // second ones, element by element in turn, the two taken in turn.
  const [first, second] = [0, 1].map((b) => {
    const base = lists.map((l) => l[Math.min(b, l.length - 1)] ?? '');
    const out = [base.join('')];
    for (let v = 0; v < MAX_VARIANTS; v++) {
      lists.forEach((list, k) => {
        const other = list[v];
        if (other !== undefined && other !== base[k]) out.push([...base.slice(0, k), other, ...base.slice(k + 1)].join(''));
      });
    }
    return out;
  });
  const out: string[] = [];
  for (let k = 0; k < Math.max(first?.length ?? 0, second?.length ?? 0); k++) out.push(first?.[k] ?? '', second?.[k] ?? '');
  return distinct(out, MAX_NAMES * 2);
}

/**
 * At most this many results of each regex rule are checked at load (their cost: MAX_SAMPLE_TESTS
 * in rule-warnings.ts), and this many more before a rule is warned about as one that rewrites nothing.
 */
export const MAX_RULE_SAMPLES = 2;
export const MORE_RULE_SAMPLES = 8;

/** A name a rule matches, and what the rule gives for it. */
export interface RegexSample {
  readonly name: string;
  readonly out: string;
}

/**
 * Names `source` (a rule regex, as written) matches, made of the characters of image names, each
 * with what `apply` (the rule) gives for it: only names an image can have (normalized names:
 * `x.x/x`, never `x/x`, which is Docker Hub's docker.io/x/x) that the rule matches. At most
 * `limit`, one per distinct result. None when the source is not read.
 */
export function regexSamples(source: string, apply: (name: string) => string | undefined, limit: number): RegexSample[] {
  let each: string[][];
  try {
    const tree = parse(source);
    if (tree?.kind !== 'group') return [];
    each = tree.alternatives.map(sequence);
  } catch {
    // Groups nested thousands deep (the regex check refuses more than MAX_GROUP_NESTING, but this
    // reader is also called directly) run it out of stack: no names, as for a source it does not read.
    return [];
  }
  const out: RegexSample[] = [];
  const seen = new Set<string>();
  for (let k = 0; out.length < limit && each.some((list) => k < list.length); k++) {
    for (const list of each) {
      const base = list[k];
      if (base === undefined) continue;
      // Each name, then the same with a port on its host, when the regex takes that too (a `:`
      // is one more character its repetitions could take: `gcr\.io(.*)` matches gcr.io:5000/x).
      for (const name of [base, withPort(base)]) {
        if (name === undefined || out.length >= limit || !looksNormalized(name)) continue;
        const result = apply(name);
        if (result === undefined || seen.has(result) || !isNormalizedName(name)) continue;
        seen.add(result);
        out.push({ name, out: result });
      }
    }
  }
  return out;
}

/**
 * `name` with the port 5000 on its host, or undefined when its host has one or there is no host.
 * Without it a rule behind `([^:]+)` (which takes every name without a port) was warned about as
 * rewriting nothing, though it rewrites every image whose host has a port.
 */
function withPort(name: string): string | undefined {
  const slash = name.indexOf('/');
  return slash <= 0 || name.lastIndexOf(':', slash) >= 0 ? undefined : `${name.slice(0, slash)}:5000${name.slice(slash)}`;
}

/** A quick test before the parser's: a first component that is a host (a `.` or a `:`, or `localhost`), no empty component. */
function looksNormalized(name: string): boolean {
  const slash = name.indexOf('/');
  if (slash <= 0 || name.endsWith('/') || name.includes('//')) return false;
  const host = name.slice(0, slash);
  return host.includes('.') || host.includes(':') || host === 'localhost';
}

/** Whether `name` is a normalized name as rules see it (src/core/matched-name.ts): an image can have it. */
function isNormalizedName(name: string): boolean {
  const parsed = parseNormalizedNamed(name);
  return parsed.ok && parsed.value.tag === undefined && parsed.value.digest === undefined && matchedName(parsed.value) === name;
}
