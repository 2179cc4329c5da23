/**
 * Reading untrusted JSON: plain-object and list checks and own-property access that never reach the
 * prototype (a `__proto__` key is data). The one `isRecord` of the code base, but for the copies
 * src/verify keeps so that its lazily loaded chunk shares no module with the Lambda's entry
 * (src/verify/platform.ts says why). Writing JSON text that carries strings from requests:
 * bidirectional-text controls escaped.
 */

/** A plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON array, typed as its elements being unknown (Array.isArray alone narrows to `any[]`). */
export function isList(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}

/** A JSON array of strings only. */
export function isStringList(value: unknown): value is readonly string[] {
  return isList(value) && value.every((v) => typeof v === 'string');
}

/** An own property of a JSON object; never reaches the prototype. */
export function own(value: unknown, key: string): unknown {
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}

/** The value at `path` (own properties only), or undefined. */
export function at(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const key of path) v = own(v, key);
  return v;
}

/**
 * Bidirectional-text controls (U+061C, U+200E-F, U+202A-E, U+2066-9). A request can carry them in
 * an image or a container name (mutating admission runs before the API server validates the
 * object); written raw, they make a log or audit viewer show text in another order than it has.
 */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const BIDI_ALL = new RegExp(BIDI.source, 'g');

/**
 * JSON text with every bidirectional-text control written as its `\uXXXX` escape: the same JSON
 * value. They can only be inside strings (JSON's own syntax is ASCII). The test first, because on
 * text V8 holds one byte per character (all ASCII and Latin-1 text, nearly every line) a class of
 * characters above U+00FF fails at once, without reading the text.
 */
export function escapeBidi(json: string): string {
  return BIDI.test(json) ? json.replace(BIDI_ALL, unicodeEscape) : json;
}

/**
 * Characters JSON.stringify leaves raw that a reader splitting lines may take for a line break
 * (U+0085, U+2028, U+2029: Python's `splitlines`, some log shippers) or that reorder text on a
 * terminal (the bidirectional-text controls above).
 */
const LINE_UNSAFE = /[\u0085\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const LINE_UNSAFE_ALL = new RegExp(LINE_UNSAFE.source, 'g');

/** LINE_UNSAFE without U+0085: every character above U+00FF, so a one-byte string fails the class at once. */
const WIDE_LINE_UNSAFE = /[\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * JSON text with every LINE_UNSAFE character written as its `\uXXXX` escape: the same JSON value,
 * one line for every reader, nothing reordered. For log lines, which carry strings from requests
 * (container names, images: mutating admission runs before the API server validates them). U+0085
 * is looked for by `includes` and the others by a class above U+00FF: on the one-byte text of
 * nearly every line both fail fast, where one class holding U+0085 reads every character.
 */
export function escapeLineUnsafe(json: string): string {
  return wellFormed(json.includes('\u0085') || WIDE_LINE_UNSAFE.test(json) ? json.replace(LINE_UNSAFE_ALL, unicodeEscape) : json);
}

/**
 * An escaped backslash, or a surrogate's escape. `JSON.stringify` writes a surrogate pair raw and
 * a lone surrogate (a hostile request's `"\ud800"`, or a pair a clip cut in two) as its escape:
 * JSON text, but no Unicode text, and strict readers refuse the whole line (Go's encoding/json/v2:
 * "invalid surrogate pair"; Rust's serde_json, in Vector: "lone leading surrogate"), so a log
 * shipper loses the line (docs/design.md, "Logs and metrics"). The backslashes are matched in pairs
 * so that the text `\ud800` (an escaped backslash, then letters) is left as it is.
 */
const LONE_SURROGATE_ESCAPE = /\\(?:\\|ud[89a-f][0-9a-f]{2})/g;

/** A lone surrogate's escape as U+FFFD's (what a UTF-8 encoder writes for it), an escaped backslash as it is. */
const wellFormedEscape = (escape: string): string => (escape === '\\\\' ? escape : '\\ufffd');

/** JSON text of `JSON.stringify` with each lone surrogate's escape (LONE_SURROGATE_ESCAPE) as U+FFFD's: the text every reader takes. */
const wellFormed = (json: string): string => (json.includes('\\ud') ? json.replace(LONE_SURROGATE_ESCAPE, wellFormedEscape) : json);

/**
 * One JSON line for the CLI's line-per-object outputs (`explain`, `audit -o json`): the same value
 * as `JSON.stringify`, with LINE_UNSAFE characters as their `\uXXXX` escapes, so a line is a line
 * for every reader, and a lone surrogate (a `-f` file's `"\ud800"`) as U+FFFD, so that a strict
 * reader takes the line (`wellFormed`).
 */
export function jsonLine(value: unknown): string {
  const text = JSON.stringify(value);
  return wellFormed(escapeInvisible(LINE_UNSAFE.test(text) ? text.replace(LINE_UNSAFE_ALL, unicodeEscape) : text));
}

/**
 * Characters a terminal or a log viewer shows as nothing, as a plain space or as "-": no-break and
 * other spaces, zero-width characters, the byte order mark, direction marks, line separators,
 * hyphens and dashes. Text pasted from a wiki, a chat or a word processor carries them; quoted raw,
 * `"gcr.io\u200b" is not a valid image name prefix` read as `"gcr.io"` and said nothing, and
 * explain's `{"image":"gcr.io/nginx\u200b"}` as a valid image refused. Messages (check-config, the
 * log line) and the CLI's JSON lines quote them as `\uXXXX` (other letters, `é`, stay).
 */
// eslint-disable-next-line no-misleading-character-class -- joiners and variation selectors alone are what is escaped
const INVISIBLE = new RegExp('[\\u00a0\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180e\\u2000-\\u2015\\u2028-\\u202f\\u205f-\\u206f\\u2212\\u3000\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0]', 'g');

/** `text` with INVISIBLE characters as their `\uXXXX` escapes (in JSON text: the same value). */
export function escapeInvisible(text: string): string {
  return text.replace(INVISIBLE, unicodeEscape);
}

/**
 * Text JSON writes as it is, between quotes: printable ASCII without `"` and `\`. Node 20's
 * `JSON.stringify` checks a string for escapes one character at a time, about three times as long
 * as this test (docs/performance.md, "thirteenth pass").
 */
const PLAIN_JSON_TEXT = /^[ !#-[\]-~]*$/;

/** Whether `s` is PLAIN_JSON_TEXT: its JSON text is `"${s}"`. */
export const isPlainJsonText = (s: string): boolean => PLAIN_JSON_TEXT.test(s);

/** The JSON text of a string, the same as `JSON.stringify(s)`. */
export function quote(s: string): string {
  return PLAIN_JSON_TEXT.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** The JSON text of a list, the same as `JSON.stringify(list)`, its strings written by `quote`. */
export function stringsJson(list: readonly unknown[]): string {
  let text = '';
  for (let i = 0; i < list.length; i++) {
    const s = list[i];
    if (typeof s !== 'string') return JSON.stringify(list);
    text += i === 0 ? quote(s) : `,${quote(s)}`;
  }
  return `[${text}]`;
}

/** One UTF-16 unit as its `\uXXXX` escape (JSON's form). */
export const unicodeEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * C0 and C1 controls, DEL, bidirectional-text controls and the Unicode line and paragraph
 * separators. Text the CLI prints quotes documents that may come from someone else (a rules
 * document in a pull request or an SSM parameter, a third-party chart): written raw to a terminal
 * or a CI log, an escape sequence would recolour, retitle or clear the screen, and a newline would
 * forge a line of its own ("rules[1].x: ok").
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
const UNPRINTABLE = new RegExp('[\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]', 'g');

/** `text` for a terminal: every UNPRINTABLE character written as its `\uXXXX` escape, other text as it is. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, unicodeEscape);
}

/**
 * Lines for a terminal: `printable`, but keeping line breaks and tabs, and escaping INVISIBLE
 * characters too. What the CLI writes to stderr: its messages quote paths, flags' values and
 * documents (`cannot read rules document rules.yaml\u200b`, a value ending in a CRLF file's `\r`).
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
const TERMINAL_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
export function terminalLines(text: string): string {
  return escapeInvisible(text.replace(TERMINAL_UNSAFE, unicodeEscape));
}

/** A value quoted in a one-line message (a flag's, a path): `printable`, and INVISIBLE characters escaped. */
export function oneLine(text: string): string {
  return escapeInvisible(printable(text));
}

/**
 * `printable(text)` in at most `max` characters: when it is longer, the longest start of it that
 * ends between two characters of `text` (never inside an escape written for one, nor between the
 * two halves of a surrogate pair), then "...". A plain `slice` could leave `\u00` at the end, which
 * reads as the start of an escape, or half an emoji, which JSON writes as a lone `\udXXX`.
 */
export function printableClipped(text: string, max: number): string {
  const whole = printable(text);
  if (whole.length <= max) return whole;
  const room = max - 3;
  let out = '';
  // By code point (`for...of`), so a surrogate pair is one step; only a text over `max` gets here.
  for (const c of text) {
    const shown = printable(c);
    if (out.length + shown.length > room) break;
    out += shown;
  }
  return `${out}...`;
}
