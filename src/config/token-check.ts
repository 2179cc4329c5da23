/**
 * The one check of a webhook token, whatever its source (a variable, a file, SSM, Secrets Manager)
 * and whatever the adapter. The token is the last segment of the webhook URL: unreserved URL
 * characters, long enough not to be guessed.
 *
 * During a rotation a source holds two tokens, the current one, a comma, then the previous one
 * (`NEW,OLD`): both are accepted, so clusters can move to the new URL while the old one still works
 * (README, "Rotating the token"). A comma is in no token (TOKEN_CHARS), so the value cannot be read
 * two ways.
 */
import { foreignCharacterAt } from '../core/reference.js';

export const MIN_TOKEN_LENGTH = 16;
/** The reason every adapter logs when a request's token is wrong or missing (never the token). */
export const UNAUTHORIZED_REASON = 'wrong or missing webhook token';
export const TOKEN_CHARS = /^[A-Za-z0-9._~-]+$/;

/** How many tokens a source may hold: the current one and, during a rotation, the previous one. */
export const MAX_TOKENS = 2;

/** The configured tokens: the current one first, then (during a rotation) the previous one. */
export type WebhookTokens = readonly [current: string] | readonly [current: string, previous: string];

/** Why a token is unusable, or undefined. Never mentions the token itself. */
export function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN_CHARS.test(token)) {
    return `must be at least ${MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 . _ ~ - (it is the last segment of the webhook URL)${otherCharacter(token)}`;
  }
  return undefined;
}

/**
 * Where the first character that is none of TOKEN_CHARS' is, for tokenProblem: a zero-width or
 * no-break space pasted with a token otherwise right made the message above read as nonsense. Its
 * code point only when it is not printable ASCII (a `/` or `+` of the token itself is not shown).
 */
function otherCharacter(token: string): string {
  let n = 0;
  for (const c of token) {
    n++;
    if (/^[A-Za-z0-9._~-]$/.test(c)) continue;
    return /^[!-~]$/.test(c) ? `; character ${n} is not one of them` : `; ${foreignCharacterAt(c, n)}`;
  }
  return '';
}

/**
 * A source's value read as its tokens (each one trimmed), or why it cannot be. One token without a
 * comma gets exactly `tokenProblem`'s message; never mentions a token itself.
 */
export function parseTokens(text: string): { readonly tokens: WebhookTokens } | { readonly problem: string } {
  const parts = text.split(',').map((t) => t.trim());
  const [current, previous] = parts;
  if (current === undefined || parts.length > MAX_TOKENS) {
    return { problem: `holds ${parts.length} comma-separated tokens; at most ${MAX_TOKENS}: the current token, then during a rotation the previous one (NEW,OLD)` };
  }
  if (previous === undefined) {
    const p = tokenProblem(current);
    return p === undefined ? { tokens: [current] } : { problem: p };
  }
  for (const [i, token] of [current, previous].entries()) {
    const p = tokenProblem(token);
    if (p !== undefined) return { problem: `holds two tokens (the current one, a comma, the previous one); the ${i === 0 ? 'first' : 'second'} ${p}` };
  }
  if (current === previous) return { problem: 'holds the same token twice; during a rotation: the new token, a comma, then the old one' };
  return { tokens: [current, previous] };
}

/**
 * Whether `presented` is `expected`, in a time that depends only on the length of `expected` (the
 * configured token): every one of its UTF-16 units is compared, the differences OR-ed together,
 * with no branch on them and no early return; a length difference is OR-ed in as well. (A unit
 * past the end of `presented` reads as NaN, which `^` turns into 0.)
 *
 * Written here rather than `crypto.timingSafeEqual`, which compares equal-length buffers only (so
 * both sides had to be hashed first, a SHA-256 per request) and needs node:crypto, whose loading
 * and first digest were a measurable part of every Lambda cold start
 * (docs/performance.md, "Figures behind the comments"). The same OR-of-XORs is what Go's
 * crypto/subtle.ConstantTimeCompare does over bytes.
 */
export function sameToken(presented: string, expected: string): boolean {
  let diff = presented.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) diff |= presented.charCodeAt(i) ^ expected.charCodeAt(i);
  return diff === 0;
}
