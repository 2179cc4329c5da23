/**
 * The audit annotation byte budget: an auditAnnotations value is compact JSON of as many leading
 * entries as fit under MAX_AUDIT_ANNOTATION_BYTES (UTF-8), then `{"omitted": n}` for the rest.
 */
import { MAX_AUDIT_ANNOTATION_BYTES } from './admission.js';
import { escapeBidi } from './json.js';
import type { JsonValue } from './patch.js';

/** UTF-8 length of `s`, as TextEncoder counts it (a lone surrogate becomes U+FFFD, 3 bytes), without encoding it. */
export function byteLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/** Compact JSON, bidirectional-text controls escaped (an audit log viewer shows entries as they are). */
export const entryJson = (value: JsonValue): string => escapeBidi(JSON.stringify(value));

/**
 * Compact JSON of as many leading entries as fit in MAX_AUDIT_ANNOTATION_BYTES, plus how many were
 * left out. `entries` are their JSON texts (`entryJson`); `total` counts entries the caller did not
 * build (it builds at most MAX_AUDIT_ENTRIES).
 */
export function auditValue(entries: readonly string[], total = entries.length): string {
  // Usually all of it fits: one join gives the same text as the entries joined below.
  if (total === entries.length) {
    const whole = `[${entries.join(',')}]`;
    if (whole.length <= MAX_AUDIT_ANNOTATION_BYTES / 3 || byteLength(whole) <= MAX_AUDIT_ANNOTATION_BYTES) return whole;
  }
  const omittedNote = (n: number): string => (n === 0 ? '' : `,{"omitted":${n}}`);
  let body = '';
  let bodyBytes = 0;
  let used = 0;
  for (const entry of entries) {
    const piece = (used === 0 ? '' : ',') + entry;
    const pieceBytes = byteLength(piece);
    const rest = total - used - 1;
    // The bytes of `[${body}${piece}${omittedNote(rest)}]`; the note is ASCII.
    if (2 + bodyBytes + pieceBytes + omittedNote(rest).length > MAX_AUDIT_ANNOTATION_BYTES) break;
    body += piece;
    bodyBytes += pieceBytes;
    used++;
  }
  if (used === total) return `[${body}]`;
  return `[${body}${used === 0 ? omittedNote(total).slice(1) : omittedNote(total - used)}]`;
}

/**
 * At most this many entries are built for one audit annotation: more could never fit in
 * MAX_AUDIT_ANNOTATION_BYTES (the smallest entry is over 40 bytes).
 */
export const MAX_AUDIT_ENTRIES = 256;
