/**
 * Plain scalars as kubectl reads them. kubectl reads manifests with sigs.k8s.io/yaml (go-yaml v2,
 * YAML 1.1), where `yes`, `no`, `on`, `off`, `y`, `n` (and their capitalized forms) are booleans and
 * `1_000`, `0b101`, `0X1F` numbers; the yaml package (YAML 1.2 core schema) reads them as strings.
 * `image: yes` is `"image": true` to kubectl, which the API server refuses; read as the string `yes`
 * (docker.io/library/yes), render would write a mirror's image there and make the manifest one the
 * API server admits. KUBECTL_SCALARS are tags for the yaml package (`customTags`) that read such
 * plain scalars as go-yaml does; `render` and `audit -f` compose manifests with them (quoted or
 * `!!str` scalars stay strings, as to kubectl), and read as strings the `0x` and `0o` integers past
 * uint64 that go-yaml keeps as text. Scalars both read alike keep the core schema's tags.
 *
 * go-yaml v2's resolve (yaml.v2/resolve.go): a plain scalar in its table of booleans is one; one
 * that starts with a digit, `+` or `-` is, with every `_` removed, an integer when Go's
 * strconv.ParseInt (or ParseUint) with base 0 reads it (`0x`, `0o`, `0b` prefixes and a leading
 * `0` for octal, any case), else a float when it matches its float syntax; a timestamp-like scalar
 * stays a string when decoded into interface{}, as kubectl decodes it. Measured against kubectl
 * 1.37.2 in tests/unit/render-yaml11-scalars.test.ts.
 *
 * Pure: no I/O.
 */
import type { ScalarTag, Tags } from 'yaml';

/** go-yaml v2's booleans that YAML 1.2's core schema reads as strings (`true`/`false` forms are alike in both). */
const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON'].map((s) => [s, true] as const),
  ...['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF'].map((s) => [s, false] as const),
]);

/** go-yaml v2's yamlStyleFloat: its float syntax, which decimal integers match too. */
const GO_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;

/** An integer with a base prefix, as strconv.ParseInt with base 0 reads it (after go-yaml removed every `_`). */
const GO_PREFIXED = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]+)$/;

/** A float that starts with `.`, as strconv.ParseFloat reads it (no `_` there). */
const GO_DOT_FLOAT = /^\.[0-9]+(?:[eE][-+]?[0-9]+)?$/;

const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** The number go-yaml v2 reads a plain scalar as, or undefined when it reads a string. */
function goNumber(text: string): number | undefined {
  if (GO_DOT_FLOAT.test(text)) return Number(text);
  if (!/^[-+0-9]/.test(text)) return undefined;
  const plain = text.replace(/_/g, '');
  const prefixed = GO_PREFIXED.exec(plain);
  if (prefixed !== null) {
    const [, sign = '', digits = ''] = prefixed;
    // BigInt reads 0x, 0o and 0b; a leading 0 alone is octal to Go.
    const magnitude = BigInt(/^0[0-7]/.test(digits) ? `0o${digits.slice(1)}` : digits);
    // ParseInt within int64, else ParseUint (no sign) within uint64, else the float syntax (000...0 past uint64 only).
    const fits = sign === '-' ? magnitude <= INT64_MAX + 1n : magnitude <= INT64_MAX || (sign === '' && magnitude <= UINT64_MAX);
    if (fits) return Number(sign === '-' ? -magnitude : magnitude);
  }
  return GO_FLOAT.test(plain) ? Number(plain) : undefined;
}

/** A RegExp whose `test` is a predicate: the yaml package picks a plain scalar's tag with `tag.test.test(text)`. */
class Predicate extends RegExp {
  constructor(private readonly accepts: (text: string) => boolean) {
    super('(?!)');
  }

  override test(text: string): boolean {
    return this.accepts(text);
  }
}

/** Whether YAML 1.2's core schema reads a go-yaml number otherwise (a string): `_` in it, or a prefix it lacks. */
const numberOnlyToKubectl = (text: string): boolean => goNumber(text) !== undefined && /_|^[-+]|^0[bBXO]|^0[0-7]/.test(text);

/**
 * Whether YAML 1.2's core schema reads as a number what go-yaml reads as a string: a `0x` or `0o`
 * integer past uint64, which strconv refuses and go-yaml's float syntax does not take
 * (`0xffffffffffffffffffff`), while the core schema reads any number of hex or octal digits.
 */
const stringOnlyToKubectl = (text: string): boolean => /^0[xo]/.test(text) && goNumber(text) === undefined;

/**
 * Tags for the yaml package's `customTags` (ahead of the schema's own): the plain scalars kubectl
 * reads as booleans or numbers where YAML 1.2 reads strings, and the reverse. No `identify`: never
 * used to write.
 */
export const KUBECTL_SCALARS = (tags: Tags): Tags => {
  const bool: ScalarTag = { tag: 'tag:yaml.org,2002:bool', default: true, test: new Predicate((s) => BOOLEANS.has(s)), resolve: (s) => BOOLEANS.get(s) };
  const number: ScalarTag = { tag: 'tag:yaml.org,2002:float', default: true, test: new Predicate(numberOnlyToKubectl), resolve: (s) => goNumber(s) };
  const string: ScalarTag = { tag: 'tag:yaml.org,2002:str', default: true, test: new Predicate(stringOnlyToKubectl), resolve: (s) => s };
  return [bool, number, string, ...tags];
};
