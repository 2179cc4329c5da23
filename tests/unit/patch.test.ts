/** RFC 6901 escaping, RFC 6902 operations, and the base64 of the AdmissionResponse patch. */
import { describe, expect, it, jest } from '@jest/globals';
import fjp from 'fast-json-patch';
import { add, base64, encodePatch, escapeToken, pointer, replace } from '../../src/core/patch.js';

describe('RFC 6901 escaping', () => {
  it.each([
    { token: 'plain', escaped: 'plain' },
    { token: 'image-rewriter.io/original-images', escaped: 'image-rewriter.io~1original-images' },
    { token: 'a~b', escaped: 'a~0b' },
    // `~` first, then `/`: `~1` written literally must not turn into `/`.
    { token: '~1', escaped: '~01' },
    { token: '/~', escaped: '~1~0' },
    { token: '~/~/', escaped: '~0~1~0~1' },
    { token: '', escaped: '' },
    { token: '0', escaped: '0' },
    { token: 'caf\u00e9 \u{1f600}', escaped: 'caf\u00e9 \u{1f600}' },
  ])('$token -> $escaped', ({ token, escaped }) => {
    expect(escapeToken(token)).toBe(escaped);
    expect(fjp.escapePathComponent(token)).toBe(escaped);
    expect(fjp.unescapePathComponent(escaped)).toBe(token);
  });

  it('joins tokens into a pointer', () => {
    expect(pointer([])).toBe('');
    expect(pointer(['metadata', 'annotations', 'image-rewriter.io/original-images'])).toBe('/metadata/annotations/image-rewriter.io~1original-images');
    expect(pointer(['spec', 'containers', 0, 'image'])).toBe('/spec/containers/0/image');
    expect(pointer([''])).toBe('/');
  });

  it('a pointer built from any keys reaches that key with fast-json-patch', () => {
    for (const key of ['a/b', 'a~b', '~1', '~0', '/', '~', 'x y', '']) {
      const doc = { metadata: { annotations: { [key]: 'old' } } };
      const { newDocument } = fjp.applyPatch(doc, [{ op: 'replace', path: pointer(['metadata', 'annotations', key]), value: 'new' }], true, false);
      expect(newDocument.metadata.annotations[key]).toBe('new');
    }
  });
});

describe('operations', () => {
  it('are plain RFC 6902 objects', () => {
    expect(add('/a', { b: [1] })).toEqual({ op: 'add', path: '/a', value: { b: [1] } });
    expect(replace('/a', null)).toEqual({ op: 'replace', path: '/a', value: null });
  });
});

describe('base64', () => {
  it.each([
    '', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar', // RFC 4648 test vectors
    'caf\u00e9', '\u{1f600}', '\u0000\u00ff', 'x'.repeat(1000),
  ])('%j matches Node', (text) => {
    const bytes = new TextEncoder().encode(text);
    expect(base64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
  });

  it('covers every byte value', () => {
    const bytes = Uint8Array.from({ length: 256 * 3 }, (_, i) => (i * 7) % 256);
    expect(base64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
  });

  it('encodes a patch as UTF-8 JSON', () => {
    const ops = [replace('/spec/containers/0/image', 'asia.gcr.io/nginx'), add('/metadata/annotations', { k: 'caf\u00e9 \u{1f600}' })];
    const encoded = encodePatch(ops);
    expect(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'))).toEqual(ops);
    expect(encodePatch([])).toBe(Buffer.from('[]').toString('base64'));
  });

  it('gives the UTF-8 base64 of the JSON for ASCII and non-ASCII text of every length, past the check buffer too', () => {
    for (const unit of ['a', '\u00e9', '\u00ff', '\u0080', '\u20ac', '\u{1f600}']) {
      for (const n of [0, 1, 100, 16 * 1024 - 40, 16 * 1024, 40_000]) {
        const ops = [replace('/a', `${'x'.repeat(n)}${unit}`)];
        expect(encodePatch(ops)).toBe(Buffer.from(JSON.stringify(ops), 'utf8').toString('base64'));
      }
    }
  });

  it('gives a long ASCII patch to btoa as it is, without building its binary string (work grows with the text, not with 8 KiB chunks of it)', () => {
    const ops = Array.from({ length: 4000 }, (_, i) => replace(`/spec/containers/${String(i)}/image`, `asia.gcr.io/p/app${String(i)}:1`));
    const fromCharCode = jest.spyOn(String, 'fromCharCode');
    try {
      expect(encodePatch(ops)).toBe(Buffer.from(JSON.stringify(ops)).toString('base64'));
      expect(fromCharCode).not.toHaveBeenCalled();
      encodePatch([...ops, replace('/a', 'caf\u00e9')]);
      expect(fromCharCode).toHaveBeenCalled();
    } finally {
      fromCharCode.mockRestore();
    }
  });

  it('encodes lone surrogates (JSON.stringify escapes them), so the patch is always valid UTF-8', () => {
    const encoded = encodePatch([replace('/a', '\ud800x')]);
    const text = Buffer.from(encoded, 'base64').toString('utf8');
    expect(text).toBe('[{"op":"replace","path":"/a","value":"\\ud800x"}]');
  });
});
