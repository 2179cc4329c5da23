/**
 * A file or socket error in words, for the messages users read: `no such file or directory (ENOENT)`,
 * `address already in use (EADDRINUSE)`. The words are Node's own (libuv's table, as in Node's
 * own messages); the code stays for searching. Every adapter that names such an error goes through
 * here, so the same failure reads the same wherever it is reported.
 */

/**
 * Node's words for a system error code (`ENOENT`: "no such file or directory"), or undefined for a
 * code it has none for (`ERR_*`, `ENOTFOUND`, an AWS error name). `errno` (the error's number, when
 * it has one) is looked up first; an error that carries only the code is found by its name.
 */
export function systemErrorWords(code: string, errno?: number): string | undefined {
  // Only on an error path, and not a static import: node:util is not a module of the Lambda's cold
  // start (scripts/build.mjs, builtinsAtStart). Node 20 has no util.getSystemErrorMessage (22.12).
  const map = process.getBuiltinModule('node:util').getSystemErrorMap();
  const byErrno = errno === undefined ? undefined : map.get(errno);
  if (byErrno?.[0] === code) return byErrno[1];
  for (const [name, words] of map.values()) if (name === code) return words;
  return undefined;
}

/**
 * Why a file or socket operation failed: Node's words with the code (`no such file or directory
 * (ENOENT)`); the bare code when Node has no words for it; the message when the error has no code.
 */
export function describeSystemError(e: unknown): string {
  const { code, errno } = (typeof e === 'object' && e !== null ? e : {}) as { readonly code?: unknown; readonly errno?: unknown };
  if (typeof code !== 'string' || code === '') return e instanceof Error ? e.message : String(e);
  const words = systemErrorWords(code, typeof errno === 'number' ? errno : undefined);
  return words === undefined ? code : `${words} (${code})`;
}

/**
 * The end of a message that names a failure by its code or name: ` (AccessDeniedException)` for one
 * Node has no words for (an AWS error's name), `: connection refused (ECONNREFUSED)` for a system
 * error's code (a socket error, which the AWS SDK passes on as a plain Error named by its code).
 */
export function becauseOf(code: string): string {
  const words = systemErrorWords(code);
  return words === undefined ? ` (${code})` : `: ${words} (${code})`;
}

/**
 * The name of an error for a reason: an SDK error's name (`ThrottlingException`), or for a socket
 * error, which the SDK passes on as a plain `Error`, its `code` (`ECONNREFUSED`, `ENOTFOUND`), or
 * for an answer the SDK found no error code in (or no JSON, in an error), its HTTP status (`HTTP 500`).
 */
export function errorName(e: unknown): string {
  // Read as properties, not through instanceof: Node's socket errors may come from another realm
  // (a vm context, as under jest) and are no `instanceof Error` there.
  if (typeof e !== 'object' || e === null) return 'Error';
  const { name, code, $metadata } = e as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  if ((name === undefined || name === 'Error') && typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,39}$/.test(code)) return code;
  // The SDK's name for an answer without an AWS error code (a proxy's 500 with no body, its HTML error
  // page): its status says more. src/config/token.ts's errorCode says the same.
  const status = $metadata?.httpStatusCode;
  if (typeof status === 'number' && (name === 'Unknown' || (name === 'SyntaxError' && status >= 300))) return `HTTP ${String(status)}`;
  return typeof name === 'string' && name !== '' ? name.slice(0, 64) : 'Error';
}

/**
 * The error of a read that its own bound (`signal`) cut, as such: an `AbortError`, whatever was
 * thrown. The AWS SDK reports an abort that comes while the answer's body arrives (a store that sent
 * its headers, then stalled or trickled: docs/reliability.md) as the socket's error (`ECONNRESET`,
 * "aborted"), and the logs and the reason named a reset connection where the store was too slow.
 */
export function cutByBound(e: unknown, signal: AbortSignal): unknown {
  if (!signal.aborted || errorName(e) === 'AbortError') return e;
  const cut = new Error('Request aborted', { cause: e });
  cut.name = 'AbortError';
  return cut;
}
