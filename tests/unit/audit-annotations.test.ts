/**
 * `byteLength`, which sizes the audit annotations and the original-images annotation against the
 * API server's limits without encoding: the UTF-8 length TextEncoder gives, for every width of
 * character and for lone surrogates (each encoded as U+FFFD, 3 bytes).
 */
import { describe, expect, it } from '@jest/globals';
import { byteLength } from '../../src/core/audit-annotations.js';

const encoded = (s: string): number => new TextEncoder().encode(s).length;

describe('byteLength', () => {
  it.each([
    { desc: 'empty', s: '' },
    { desc: 'ASCII', s: 'gcr.io/app:1' },
    { desc: 'two-byte characters', s: 'café Ünïcode' },
    { desc: 'three-byte characters (bidi controls, CJK)', s: 'x\u202ey 日本' },
    { desc: 'surrogate pairs (four bytes each)', s: 'a😀b𝄞' },
    { desc: 'a lone high surrogate, alone and before ASCII', s: '\ud800 \ud800' },
    { desc: 'a lone low surrogate', s: 'a\udc00b' },
    { desc: 'a high surrogate at the end', s: 'ab\ud83d' },
    { desc: 'two high surrogates then a low one', s: '\ud83d\ud83d\ude00' },
  ])('is the UTF-8 length of $desc', ({ s }) => {
    expect(byteLength(s)).toBe(encoded(s));
  });
});
