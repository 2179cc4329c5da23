/**
 * The webhook token from its setting, read once at start: inline, a file (`serve --token-file`),
 * an SSM SecureString, or a Secrets Manager secret (the secret string, or a JSON object's `token`
 * field, as SecretStringTemplate makes it). Every source goes through the same check
 * (src/config/token-check.ts), and each may hold two tokens during a rotation (`NEW,OLD`). A token that cannot be read is a `SourceError` with `unreadable`.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { type AttemptErrors, attemptErrors } from './attempt-errors.js';
import { readUpTo } from './bounded-read.js';
import { ENV, SourceError, type TokenSetting } from './settings.js';
import { parseTokens, type WebhookTokens } from './token-check.js';

/** Longest wait for one AWS read (the API server's webhook timeout is a few seconds). */
export const READ_TIMEOUT_MS = 3000;

/** A token file larger than this is refused unread: a token is one line of a few dozen characters. */
export const MAX_TOKEN_FILE_BYTES = 64 * 1024;

export interface AwsClients {
  /** Called only when a setting names an SSM parameter or a secret (the SDK loads then). */
  readonly ssm: () => Promise<SSMClient>;
  readonly secretsManager: () => Promise<SecretsManagerClient>;
}

/**
 * The AWS error code (`AccessDeniedException`, `ParameterNotFound`, `TimeoutError`...), never a
 * message. A socket error, which the SDK passes on as a plain `Error`, is named by its code
 * (`ECONNREFUSED`, `ENOTFOUND`), as the existence checks name it (src/config/system-error.ts, errorName): the
 * reason of a failed rules read is shown to kubectl users, and "(Error)" says nothing.
 */
export function errorCode(e: unknown): string {
  if (!(e instanceof Error)) return 'Error';
  const code = (e as NodeJS.ErrnoException).code;
  // An answer without an AWS error code (a proxy's 500 with no body, its HTML error page) is
  // `Unknown` or a JSON SyntaxError to the SDK: its HTTP status says what it was (as errorName does).
  const status = httpStatusOf(e);
  if (status !== undefined && (e.name === 'Unknown' || (e.name === 'SyntaxError' && status >= 300))) return `HTTP ${String(status)}`;
  return e.name === 'Error' && typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,39}$/.test(code) ? code : e.name;
}

function httpStatusOf(e: unknown): number | undefined {
  const status = (e as { $metadata?: { httpStatusCode?: unknown } } | null | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The error's message. With `timeoutMs`, the bound of the read that failed: the SDK reports the
 * abort of our timeout as an `AbortError` "Request aborted", which does not say the store was slow.
 * With `before`, the failure of an attempt before the bound cut the read (src/config/attempt-errors.ts):
 * `HTTP 503: ..., then no answer within 3000 ms (Request aborted)` for a 503 whose Retry-After the
 * SDK was waiting out.
 */
export function errorDetail(e: unknown, timeoutMs?: number, before?: unknown): string {
  // The first line: the SDK adds one of advice to an answer it could not read ("Deserialization
  // error: to see the raw response, inspect the hidden field {error}.$response ..."), and a log
  // field is one line.
  const message = (e instanceof Error ? e.message : String(e)).split('\n', 1)[0] ?? '';
  if (timeoutMs !== undefined && e instanceof Error && e.name === 'AbortError') {
    const cut = `no answer within ${timeoutMs} ms (${message})`;
    if (before === undefined) return cut;
    const code = errorCode(before);
    const status = httpStatusOf(before);
    return `${status === undefined || code.startsWith('HTTP ') ? code : `${code} (HTTP ${String(status)})`}: ${errorDetail(before)}, then ${cut}`;
  }
  // The status of an answer the SDK could not read (errorCode names only an error's).
  const status = httpStatusOf(e);
  return status !== undefined && e instanceof Error && e.name === 'SyntaxError' && status < 300 ? `${message} (HTTP ${String(status)})` : message;
}

function origin(setting: Exclude<TokenSetting, { kind: 'none' | 'inline' }>): string {
  switch (setting.kind) {
    case 'file':
      return `--token-file ${setting.path}`;
    case 'ssm':
      return `SSM parameter ${setting.name}`;
    case 'secret':
      return `secret ${setting.secretId}`;
  }
}

/** The source's value; unknown: the SDK's types say string, but an endpoint that is not AWS (a proxy on the way) may answer any JSON. */
async function readRaw(setting: Exclude<TokenSetting, { kind: 'none' | 'inline' }>, deps: AwsClients, signal: AbortSignal, attempts?: AttemptErrors): Promise<unknown> {
  switch (setting.kind) {
    case 'file':
      return setting.text ?? (await tokenFileText(setting.path));
    case 'ssm': {
      if (setting.text !== undefined) return setting.text;
      const [{ GetParameterCommand }, ssm] = await Promise.all([import('./sdk-ssm.js'), deps.ssm()]);
      const command = new GetParameterCommand({ Name: setting.name, WithDecryption: true });
      attempts?.watch(command.middlewareStack);
      return (await ssm.send(command, { abortSignal: signal })).Parameter?.Value;
    }
    case 'secret': {
      if (setting.text !== undefined) return setting.text;
      // secret-client.js by import(): the verify chunk imports it too, and a module shared with the
      // entry would become a chunk loaded at every cold start.
      const [{ GetSecretValueCommand }, shared, { secretsManagerFor }] = await Promise.all([
        import('./sdk-secrets-manager.js'),
        deps.secretsManager(),
        import('./secret-client.js'),
      ]);
      const secretsManager = await secretsManagerFor(setting.secretId, shared);
      const command = new GetSecretValueCommand({ SecretId: setting.secretId });
      attempts?.watch(command.middlewareStack);
      return (await secretsManager.send(command, { abortSignal: signal })).SecretString;
    }
  }
}

/**
 * The text of a token's source as `resolveToken` reads it (a file, an SSM parameter, a secret; the
 * secret's JSON as it is), or undefined when it cannot be read, or a file is too large: the reader
 * that uses it then reads the source itself, and says why it cannot.
 */
export async function readTokenText(setting: Exclude<TokenSetting, { kind: 'none' | 'inline' }>, deps: AwsClients, timeoutMs = READ_TIMEOUT_MS): Promise<string | undefined> {
  return readRaw(setting, deps, AbortSignal.timeout(timeoutMs)).then(
    (raw) => (typeof raw === 'string' ? raw : undefined),
    () => undefined,
  );
}

/** A token file's text; throws when it cannot be read or is larger than MAX_TOKEN_FILE_BYTES. */
async function tokenFileText(path: string): Promise<string> {
  const bytes = await readUpTo(path, MAX_TOKEN_FILE_BYTES + 1);
  if (bytes.length > MAX_TOKEN_FILE_BYTES) throw new Error(`larger than ${MAX_TOKEN_FILE_BYTES} bytes, not a token file`);
  return bytes.toString('utf8');
}

/**
 * The webhook token, read once: the current one, and during a rotation the previous one
 * (src/config/token-check.ts, `parseTokens`); undefined when none is configured. Throws `SourceError`.
 */
export async function resolveToken(setting: TokenSetting, deps: AwsClients, timeoutMs = READ_TIMEOUT_MS): Promise<WebhookTokens | undefined> {
  if (setting.kind === 'none') return undefined;
  if (setting.kind === 'inline') return setting.tokens;
  const from = origin(setting);
  let value: unknown;
  const signal = AbortSignal.timeout(timeoutMs);
  const attempts = attemptErrors(signal);
  try {
    value = await readRaw(setting, deps, signal, attempts);
  } catch (thrown) {
    // import(), on this error path only: statically, the module the existence checks share with the
    // Lambda's entry would be one more file of its cold start (scripts/build.mjs, maxFilesAtStart).
    const { cutByBound, describeSystemError } = await import('./system-error.js');
    const e = setting.kind === 'file' ? thrown : cutByBound(thrown, signal);
    const what = setting.kind === 'file' ? `cannot read ${from}: ${describeSystemError(e)}` : `cannot read the webhook token from ${from} (${errorCode(e)}): ${errorDetail(e, timeoutMs, attempts.last())}`;
    throw new SourceError(what, [], { cause: e, unreadable: true });
  }
  if (value !== undefined && typeof value !== 'string') throw new SourceError(`the webhook token in ${from} is not a string`);
  let raw = value;
  if (setting.kind === 'secret' && raw?.trimStart().startsWith('{') === true) raw = tokenField(raw, from);
  const token = raw?.trim();
  if (token === undefined || token === '') throw new SourceError(`the webhook token in ${from} is empty`);
  const parsed = parseTokens(token);
  if ('problem' in parsed) throw new SourceError(`the webhook token in ${from} ${parsed.problem}`);
  return parsed.tokens;
}

/** A secret stored as JSON (`{"token": "..."}`). */
function tokenField(json: string, from: string): string {
  let field: unknown;
  try {
    const value: unknown = JSON.parse(json);
    field = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)['token'] : undefined;
  } catch {
    field = undefined;
  }
  if (typeof field !== 'string') throw new SourceError(`the webhook token in ${from} is JSON without a string "token" field`);
  return field;
}

/** Where the token comes from, for logs (never the token). */
export function describeToken(setting: TokenSetting): string {
  switch (setting.kind) {
    case 'none':
      return 'none: requests are not authenticated';
    case 'inline':
      return ENV.token;
    case 'file':
      return '--token-file';
    case 'ssm':
      return `ssm:${setting.name}`;
    case 'secret':
      return `secretsmanager:${setting.secretId}`;
  }
}
