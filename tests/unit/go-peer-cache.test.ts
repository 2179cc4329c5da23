/**
 * bench/lib/go-peer.ts builds the Go peer baseline into the tool cache that hack/'s scripts use:
 * IMAGE_REWRITER_CACHE, else $XDG_CACHE_HOME/image-rewriter, else ~/.cache/image-rewriter (README,
 * Development). Before, it ignored IMAGE_REWRITER_CACHE, and an empty XDG_CACHE_HOME made it a
 * path relative to the working directory.
 */
import { describe, expect, it } from '@jest/globals';
import { toolCache } from '../../bench/lib/go-peer.js';

describe('bench/lib/go-peer.ts toolCache', () => {
  it.each([
    ['nothing set', {}, '/home/u/.cache/image-rewriter'],
    ['IMAGE_REWRITER_CACHE', { IMAGE_REWRITER_CACHE: '/c', XDG_CACHE_HOME: '/x' }, '/c'],
    ['XDG_CACHE_HOME', { XDG_CACHE_HOME: '/x' }, '/x/image-rewriter'],
    ['both set but empty (as the shell reads ${X:-...})', { IMAGE_REWRITER_CACHE: '', XDG_CACHE_HOME: '' }, '/home/u/.cache/image-rewriter'],
  ])('%s', (_what, env: Record<string, string>, expected) => {
    expect(toolCache(env, '/home/u')).toBe(expected);
  });
});
