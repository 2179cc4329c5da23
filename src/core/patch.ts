/**
 * JSON Patch (RFC 6902) operations with RFC 6901 pointers, and their base64 encoding for an
 * AdmissionResponse. Small and ours: we only ever emit `add` and `replace`.
 *
 * Pure: no I/O, no Buffer (UTF-8 via TextEncoder, base64 by hand).
 */

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export type PatchOperation =
  | { readonly op: 'add'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'replace'; readonly path: string; readonly value: JsonValue };

/** One reference token escaped per RFC 6901: `~` -> `~0`, then `/` -> `~1`. */
export function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** An RFC 6901 pointer from reference tokens: `['metadata', 'a/b']` -> `/metadata/a~1b`; `[]` -> `''`. */
export function pointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${escapeToken(String(t))}`).join('');
}

/** The pointer for appending to the array at `arrayPointer` (RFC 6902 `-`). */
export function appendPointer(arrayPointer: string): string {
  return `${arrayPointer}/-`;
}

export function add(path: string, value: JsonValue): PatchOperation {
  return { op: 'add', path, value };
}

export function replace(path: string, value: JsonValue): PatchOperation {
  return { op: 'replace', path, value };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (RFC 4648, with padding) of bytes. */
export function base64(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0; // the bits not yet written, `bits` of them
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET.charAt((buffer >> bits) & 63);
    }
  }
  if (bits > 0) out += ALPHABET.charAt((buffer << (6 - bits)) & 63);
  return out + '='.repeat((4 - (out.length % 4)) % 4);
}

const encoder = new TextEncoder();

/** The `patch` field of an AdmissionResponse: base64 of the UTF-8 JSON of the operations. */
export function encodePatch(ops: readonly PatchOperation[]): string {
  return base64(encoder.encode(JSON.stringify(ops)));
}
