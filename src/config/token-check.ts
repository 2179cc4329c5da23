/**
 * The one check of a webhook token, whatever its source (a variable, a file, SSM, Secrets Manager)
 * and whatever the adapter. The token is the last segment of the webhook URL: unreserved URL
 * characters, long enough not to be guessed.
 */
export const MIN_TOKEN_LENGTH = 16;
/** The reason every adapter logs when a request's token is wrong or missing (never the token). */
export const UNAUTHORIZED_REASON = 'wrong or missing webhook token';
const TOKEN_CHARS = /^[A-Za-z0-9._~-]+$/;

/** Why a token is unusable, or undefined. Never mentions the token itself. */
export function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN_CHARS.test(token)) {
    return `must be at least ${MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 . _ ~ - (it is the last segment of the webhook URL)`;
  }
  return undefined;
}
