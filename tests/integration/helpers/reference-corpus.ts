/**
 * The inputs and the comparison of the differential test of src/core/reference.ts against Go's
 * github.com/distribution/reference v0.6.0 (hack/reference-oracle): a corpus that is the same for
 * the same seed and size, and, for one input, every field where our parsers and Go's disagree.
 *
 * The corpus mixes the fast-check arbitraries of tests/helpers/arbitraries.ts, the string literals
 * of the Go test vectors (tests/unit/reference.vectors.test.ts) and of the rules fixtures'
 * examples, mutations of those (characters inserted, deleted, replaced, case flipped, Unicode
 * look-alikes, long runs, ports, IPv6 hosts, digests of every algorithm and length, `@` and `:` at
 * every place, empty parts, trailing separators) and random strings over the grammar's alphabet.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  type DigestReference,
  familiarName,
  familiarString,
  grammar,
  type NamedReference,
  parse,
  parseAnyReference,
  parseDockerRef,
  parseNamed,
  parseNormalizedNamed,
  referenceString,
  type Result,
} from '../../../src/core/reference.js';
import { digest as digestArb, format, hostile, reference } from '../../helpers/arbitraries.js';
import { FIXTURES, REPO_ROOT, commentValues, fixtureNames } from '../../helpers/fixtures.js';

/** What the oracle prints for one parser: an error, a digest-only reference, or a named one. */
export type GoResult =
  | { readonly error: string; readonly message: string }
  | { readonly digestOnly: string }
  | {
      readonly domain: string;
      readonly path: string;
      readonly tag: string;
      readonly digest: string;
      readonly string: string;
      readonly familiarName: string;
      readonly familiarString: string;
    };

/** One line of the oracle's output. */
export interface GoAnswer {
  readonly parse: GoResult;
  readonly named: GoResult;
  readonly normalized: GoResult;
  readonly dockerRef: GoResult;
  readonly any: GoResult;
  /** CRI-O's parser (go.podman.io/image/v5/docker/reference): compared only where said. */
  readonly crio: GoResult;
  /** Whether each exported regexp of the package, anchored, matches the input (by the names of our `grammar`). */
  readonly grammar: Readonly<Record<keyof typeof grammar, boolean>>;
}

/** Our answer, shaped as the oracle prints it. */
export function ours(r: Result<NamedReference | DigestReference>): GoResult {
  if (!r.ok) return { error: r.error.kind, message: r.error.message };
  const v = r.value;
  if (!('path' in v)) return { digestOnly: v.digest };
  return {
    domain: v.domain,
    path: v.path,
    tag: v.tag ?? '',
    digest: v.digest ?? '',
    string: referenceString(v),
    familiarName: familiarName(v),
    familiarString: familiarString(v),
  };
}

/** Our five parsers, by the oracle's names for Go's. */
export const PARSERS = {
  parse,
  named: parseNamed,
  normalized: parseNormalizedNamed,
  dockerRef: parseDockerRef,
  any: parseAnyReference,
} as const satisfies Record<string, (s: string) => Result<NamedReference | DigestReference>>;
export type ParserName = keyof typeof PARSERS;

/** Every field that differs between our answer and Go's, as `parser.field: ours != go`. */
export function differences(input: string, go: GoAnswer, withMessages = true): string[] {
  const out: string[] = [];
  for (const name of Object.keys(PARSERS) as ParserName[]) {
    const mine = ours(PARSERS[name](input)) as Record<string, string>;
    const theirs = go[name] as Record<string, string>;
    for (const key of new Set([...Object.keys(mine), ...Object.keys(theirs)])) {
      if (key === 'message' && !withMessages) continue;
      if (mine[key] !== theirs[key]) out.push(`${name}.${key}: ${JSON.stringify(mine[key])} != ${JSON.stringify(theirs[key])}`);
    }
  }
  for (const name of Object.keys(grammar) as (keyof typeof grammar)[]) {
    const mine = grammar[name].test(input);
    if (mine !== go.grammar[name]) out.push(`grammar.${name}: ${String(mine)} != ${String(go.grammar[name])}`);
  }
  return out;
}

// --- the corpus -------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32), so that a seed gives the same corpus everywhere. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The string literals of the ported Go vectors and the rules fixtures' examples: the seeds. */
export function seedInputs(): string[] {
  const vectors = readFileSync(join(REPO_ROOT, 'tests', 'unit', 'reference.vectors.test.ts'), 'utf8');
  const literals = [...vectors.matchAll(/'((?:[^'\\\n]|\\.)*)'/g)].map((m) => m[1] ?? '');
  // Descriptions have spaces; references do not (those with spaces are refused either way).
  const seeds = literals.filter((s) => !s.includes(' ') && !s.includes('\\') && s.length <= 300);
  for (const name of fixtureNames(/^valid-.*\.ya?ml$/)) {
    const text = readFileSync(join(FIXTURES, name), 'utf8');
    for (const example of commentValues(text, 'example')) seeds.push(...example.split(' -> '));
  }
  return [...new Set(seeds)];
}

/**
 * Characters next to the grammar's: look-alikes, case pairs whose lower case differs between Go and
 * JS, separators. Not here: the characters Unicode 16 gave a lower case (U+1C89, U+A7CB, U+A7CC,
 * U+A7CE, U+A7D2, U+A7D4, U+A7DA, U+A7DC, U+10D50-U+10D65, U+16EA0-U+16EB8), which Node's ICU lowers and
 * Go 1.26 (Unicode 15) does not: an image with one is refused by both, as "must be lowercase" here
 * and "invalid reference format" by Go, which follows each runtime's Unicode tables, not this code.
 */
const LOOKALIKES = [
  '\u0430', // Cyrillic a
  '\u0435', // Cyrillic e
  '\u043e', // Cyrillic o
  '\u0131', // dotless i (upper case I)
  '\u0130', // I with a dot (Go lowers it to i, JS to i + U+0307)
  '\u212a', // Kelvin sign (lower case k)
  '\u212b', // Angstrom sign
  '\u017f', // long s
  '\u1e9e', // capital sharp s
  '\uff1a', // fullwidth colon
  '\uff0f', // fullwidth solidus
  '\uff20', // fullwidth at
  '\u2010', // hyphen
  '\u2024', // one dot leader
  '\u00c9',
  '\u00e9',
  '\u0000',
  '\t',
  '\n',
  ' ',
  '\u{1d400}', // mathematical bold A (astral)
];
const GRAMMAR = 'abcxyz019ABCXYZ._-/:@[]'.split('');
const ALPHABET = [...GRAMMAR, ...GRAMMAR, ...GRAMMAR, '+', '=', '~', '%', '#', '!', ...LOOKALIKES];
const HEX = '0123456789abcdef'.split('');
const HEX_UPPER = HEX.map((c) => c.toUpperCase());
const ALGORITHMS = ['sha256', 'sha384', 'sha512', 'sha1', 'md5', 'SHA256', 'sha256+b64', 'multihash+base58', 'blake3', 'sha-256', 'a', '0sha', 'sha_256', 'sha.256'];
const PORTS = [':0', ':1', ':80', ':443', ':5000', ':65535', ':99999', ':', ':x', ':0x1', '::1'];
const HOSTS = [
  'localhost', 'LocalHost', 'localhost:5000', 'index.docker.io', 'docker.io', 'registry-1.docker.io', 'Docker.io', 'INDEX.DOCKER.IO',
  '[::1]', '[::1]:5000', '[fe80::1%eth0]', '[::ffff:127.0.0.1]', '[2001:db8::]:443', '[::]', '[]', '[:]', '[1:2:3:4:5:6:7:8]', '[g::1]',
  '127.0.0.1', '127.0.0.1:5000', 'example.com', 'Example.COM', 'a', 'A', 'a-b', '-a', 'a-', 'a..b', 'a.b.', '.a', 'xn--bcher-kva.example',
  'gcr.io', 'k8s.gcr.io', 'quay.io', 'ghcr.io', 'public.ecr.aws', '123456789012.dkr.ecr.us-west-2.amazonaws.com',
];

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)] as T;
}

function randomHex(rand: () => number, n: number, upper = false): string {
  let s = '';
  for (let i = 0; i < n; i++) s += pick(rand, upper ? HEX_UPPER : HEX);
  return s;
}

/** A digest of any algorithm (registered or not) and any length around the right ones. */
function anyDigest(rand: () => number): string {
  const alg = pick(rand, ALGORITHMS);
  const lengths = [0, 1, 31, 32, 63, 64, 65, 95, 96, 97, 127, 128, 129, 256];
  const n = pick(rand, lengths);
  const r = rand();
  const hex = randomHex(rand, n, r < 0.1);
  return `${alg}:${r > 0.95 ? hex.slice(0, -1) + pick(rand, ['g', 'G', '=', '_', '-']) : hex}`;
}

/** One edit of a string: the mutations of the brief. */
function mutate(rand: () => number, s: string): string {
  const i = s.length === 0 ? 0 : Math.floor(rand() * (s.length + 1));
  const before = s.slice(0, i);
  const after = s.slice(i);
  switch (Math.floor(rand() * 16)) {
    case 0:
      return before + pick(rand, ALPHABET) + after;
    case 1:
      return before + s.slice(i + 1);
    case 2:
      return before + pick(rand, ALPHABET) + s.slice(i + 1);
    case 3: {
      const c = s.charAt(i);
      const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
      return before + flipped + s.slice(i + 1);
    }
    case 4:
      return rand() < 0.5 ? s.toUpperCase() : before + after.toUpperCase();
    case 5:
      return before + pick(rand, LOOKALIKES) + s.slice(i + (rand() < 0.5 ? 1 : 0));
    case 6: {
      const unit = pick(rand, ['a', '-', '.', '_', '__', '/', ':', '@', 'a-', 'a.', 'a/', '0', 'A', 'ab-', '--']);
      const n = pick(rand, [2, 3, 64, 127, 128, 129, 200, 254, 255, 256, 300, 600]);
      return before + unit.repeat(Math.ceil(n / unit.length)) + after;
    }
    case 7: {
      // a port, valid or not, after the first component
      const slash = s.indexOf('/');
      const at = slash < 0 ? s.length : slash;
      return s.slice(0, at) + pick(rand, PORTS) + s.slice(at);
    }
    case 8: {
      // another host
      const slash = s.indexOf('/');
      const host = pick(rand, HOSTS) + (rand() < 0.3 ? pick(rand, PORTS) : '');
      return slash < 0 || rand() < 0.3 ? `${host}/${s}` : host + s.slice(slash);
    }
    case 9: {
      // a digest, replacing any there is
      const at = s.indexOf('@');
      return (at < 0 ? s : s.slice(0, at)) + '@' + anyDigest(rand);
    }
    case 10:
      return before + pick(rand, ['@', ':', '@@', '::', ':@', '@:']) + after;
    case 11:
      // an empty part
      return before + pick(rand, ['//', '/:', ':/', '/@', '.:', '/.', '__/', '-/', '/-']) + after;
    case 12:
      return s + pick(rand, ['/', '.', '-', '_', '__', ':', '@', ':latest', ':a.', ':-a', ':_', ':.a', '/a', '/A', '/ ']);
    case 13: {
      // a tag of a length around the limit
      const n = pick(rand, [1, 127, 128, 129, 200]);
      const at = s.indexOf('@');
      const tag = pick(rand, ['a', '_', '0', 'A']) + 'x'.repeat(n - 1);
      return at < 0 ? `${s}:${tag}` : `${s.slice(0, at)}:${tag}${s.slice(at)}`;
    }
    case 14:
      // a path of a length around the limits (255 for the path, with or without the host)
      return `${pick(rand, HOSTS)}/${'a'.repeat(pick(rand, [240, 245, 250, 254, 255, 256]) - pick(rand, [0, 8, 10, 16]))}${after.startsWith(':') || after.startsWith('@') ? after : ''}`;
    default:
      return `${randomHex(rand, pick(rand, [63, 64, 65]), rand() < 0.1)}${rand() < 0.2 ? after : ''}`;
  }
}

/** A random string over the grammar's alphabet and its neighbours. */
function randomString(rand: () => number): string {
  const n = Math.floor(rand() * rand() * 80);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(rand, ALPHABET);
  return s;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const mutatedReference = fc.tuple(reference.map(format), fc.integer({ min: 1, max: 4 }), fc.integer());

/**
 * `size` inputs for `seed`: the same strings in the same order every time. Strings the Kubernetes
 * API cannot carry (lone surrogates: its JSON decoder replaces them) are left out.
 */
export function corpus(seed: number, size: number): string[] {
  const rand = prng(seed);
  const seeds = seedInputs();
  const out: string[] = [...seeds];
  const quarter = Math.ceil(size / 8);
  const sample = <T>(arb: fc.Arbitrary<T>, n: number): T[] => fc.sample(arb, { seed, numRuns: n });
  out.push(...sample(reference.map(format), quarter));
  out.push(...sample(hostile, Math.ceil(quarter / 4)).map((s) => s.slice(0, 2000)));
  out.push(...sample(digestArb, Math.ceil(quarter / 8)));
  for (const [s, edits, salt] of sample(mutatedReference, quarter * 2)) {
    const r = prng(seed ^ salt);
    let m = s;
    for (let i = 0; i < edits; i++) m = mutate(r, m);
    out.push(m);
  }
  while (out.length < size) {
    const roll = rand();
    if (roll < 0.45) {
      let m = pick(rand, seeds);
      const edits = 1 + Math.floor(rand() * 3);
      for (let i = 0; i < edits; i++) m = mutate(rand, m);
      out.push(m);
    } else if (roll < 0.8) {
      out.push(randomString(rand));
    } else {
      out.push(`${pick(rand, HOSTS)}${rand() < 0.2 ? pick(rand, PORTS) : ''}/${randomString(rand)}`);
    }
  }
  return out.slice(0, Math.max(size, seeds.length)).filter((s) => !LONE_SURROGATE.test(s));
}

/** The oracle's answers for `inputs`, in order (one process per call; a few MB of output per 10,000 inputs). */
export function askOracle(binary: string, inputs: readonly string[]): GoAnswer[] {
  const r = spawnSync(binary, [], { input: inputs.map((s) => JSON.stringify(s)).join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`${binary} exited ${String(r.status)}: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  if (lines.length !== inputs.length) throw new Error(`${binary} answered ${lines.length} lines for ${inputs.length} inputs: ${r.stderr}`);
  return lines.map((l) => JSON.parse(l) as GoAnswer);
}
