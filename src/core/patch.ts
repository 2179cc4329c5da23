/**
 * JSON Patch (RFC 6902) operations with RFC 6901 pointers, and their base64 encoding for an
 * AdmissionResponse. Small and ours: we only ever emit `add` and `replace`.
 *
 * Pure: no I/O, no Buffer (UTF-8 via TextEncoder, base64 via btoa).
 */
import { quote } from './json.js';

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export type PatchOperation =
  | { readonly op: 'add'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'replace'; readonly path: string; readonly value: JsonValue };

/** One reference token escaped per RFC 6901: `~` -> `~0`, then `/` -> `~1`. */
export function escapeToken(token: string): string {
  // Most tokens (field names, indexes, container names) have nothing to escape: skip the two replaces.
  if (!token.includes('~') && !token.includes('/')) return token;
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** An RFC 6901 pointer from reference tokens: `['metadata', 'a/b']` -> `/metadata/a~1b`; `[]` -> `''`. */
export function pointer(tokens: readonly (string | number)[]): string {
  let out = '';
  for (const t of tokens) out += `/${escapeToken(String(t))}`;
  return out;
}

export function add(path: string, value: JsonValue): PatchOperation {
  return { op: 'add', path, value };
}

export function replace(path: string, value: JsonValue): PatchOperation {
  return { op: 'replace', path, value };
}

/** Bytes per String.fromCharCode call: well under any engine's argument limit. */
const CHUNK = 0x2000;

/** Standard base64 (RFC 4648, with padding) of bytes. */
export function base64(bytes: Uint8Array): string {
  // btoa (a web-platform global, like TextEncoder) encodes a "binary string": one char per byte.
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}

const encoder = new TextEncoder();
/** Where `encodePatch` checks a patch's text for ASCII; a longer text is encoded whole. */
const scratch = new Uint8Array(16 * 1024);

declare const base64Text: unique symbol;
/** Standard base64 text (RFC 4648, section 4): only `A-Z a-z 0-9 + / =`, none of which JSON escapes. */
export type Base64 = string & { readonly [base64Text]: true };

/**
 * An operation whose value's JSON text was written along with the value (the original-images
 * annotation: a JSON map in a JSON string, every quote escaped, the slowest text for
 * `JSON.stringify`): `encodePatch` puts the text in as it is. The text is in a private field: not a
 * key of the operation, not compared by a test's `toEqual`.
 */
class OperationWithJson {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: JsonValue;
  readonly #valueJson: string;

  constructor(op: 'add' | 'replace', path: string, value: JsonValue, valueJson: string) {
    this.op = op;
    this.path = path;
    this.value = value;
    this.#valueJson = valueJson;
  }

  static valueJsonOf(operation: unknown): string | undefined {
    return operation instanceof OperationWithJson ? operation.#valueJson : undefined;
  }
}

/** `operation` with the JSON text of its value, which must be `JSON.stringify(operation.value)`. */
export function withValueJson(operation: PatchOperation, valueJson: string): PatchOperation {
  return new OperationWithJson(operation.op, operation.path, operation.value, valueJson);
}

/**
 * The JSON text of the operations, the same as `JSON.stringify(ops)`, written op by op: `op` and
 * `path` by `quote`, a string value by `quote`, a value whose text is known as it is, any other by
 * `JSON.stringify` (docs/performance.md, "thirteenth pass").
 */
function operationsJson(ops: readonly PatchOperation[]): string {
  let text = '';
  for (const o of ops) {
    const { value } = o;
    const valueJson = OperationWithJson.valueJsonOf(o) ?? (typeof value === 'string' ? quote(value) : JSON.stringify(value));
    text += `${text === '' ? '' : ','}{"op":${quote(o.op)},"path":${quote(o.path)},"value":${valueJson}}`;
  }
  return `[${text}]`;
}

/** The `patch` field of an AdmissionResponse: base64 of the UTF-8 JSON of the operations. */
export function encodePatch(ops: readonly PatchOperation[]): Base64 {
  const json = operationsJson(ops);
  // ASCII text is its own UTF-8 (and its own binary string), and only ASCII text encodes to one
  // byte per UTF-16 unit: then btoa takes the text as it is. (encodeInto is the cheap test here: a
  // regex for non-ASCII took six times as long.)
  if (json.length <= scratch.length) {
    const { read, written } = encoder.encodeInto(json, scratch);
    if (read === json.length && written === json.length) return btoa(json) as Base64;
  }
  const bytes = encoder.encode(json);
  // A longer ASCII text too: as many bytes as UTF-16 units. Building its binary string 8 KiB at a
  // time cost as long as the rest of a review of 100,000 rewritten containers, and a copy of the
  // text (docs/performance.md, "Large objects and rules").
  if (bytes.length === json.length) return btoa(json) as Base64;
  return base64(bytes) as Base64;
}
