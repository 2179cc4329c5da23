/**
 * Where the Lambda's rules and webhook token come from, read from the environment once per
 * container (DESIGN.md "Interfaces", issue 4):
 *
 * - rules: `REWRITE_RULES` (inline YAML or JSON, parsed and compiled once), or the SSM parameter
 *   named by `REWRITE_RULES_PARAMETER` (String or SecureString, read with decryption) at cold start
 *   and again after `REWRITE_RULES_TTL_SECONDS` (default 60). A new document that is invalid is
 *   logged with every issue and its path, counted (`ConfigErrors`), and the last good rewriter is
 *   kept. When there is no good document yet (the first read failed: throttling, AccessDenied,
 *   ParameterNotFound, invalid document) the state is `{ ok: false, reason }`, the handler fails
 *   open, and the read is retried on a later request after a backoff (1 s, doubling, at most the
 *   TTL and 30 s), never on every request. Reads are single-flight and bounded by a timeout.
 * - token: `WEBHOOK_TOKEN` (inline), `WEBHOOK_TOKEN_PARAMETER` (SSM SecureString) or
 *   `WEBHOOK_TOKEN_SECRET_ARN` (Secrets Manager: the secret string, or a JSON object's `token`
 *   field), read once at cold start. A token that cannot be read is an init error: the function
 *   must not answer requests it cannot authenticate (the webhook's failurePolicy Ignore then lets
 *   the API server admit pods unchanged), and Lambda retries the init on the next invocation.
 *
 * Empty variables count as unset (a SAM template cannot easily omit a variable). Contradictory or
 * malformed variables are all reported at once in one `SourceError`.
 *
 * AWS access uses the SDK v3 clients directly (`GetParameter`, `GetSecretValue`), injected so the
 * tests mock them with aws-sdk-client-mock. The SDK is loaded only when a setting needs it: this
 * module imports its types alone, the clients come from async factories (src/lambda/main.ts imports the
 * client packages dynamically) and the command classes from a dynamic `import()` at the read, so
 * inline rules and an inline token never load it (loading the two clients is most of a cold start).
 * Not Powertools' SSMProvider: its cache expires on its own clock (`Date.now`) and hides the
 * parameter's Version, while we need the TTL and the retry backoff on an injected clock, "keep the
 * last good rewriter" on a bad document, single-flight reads and the version in the logs; with
 * `forceFetch` on every read it would add only a wrapper.
 * SDK v3 clients honour `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_SSM`,
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`), so integration tests point them at a moto server.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Issue, Rewriter } from '../core/rules.js';
import { count, Metric } from '../observability/telemetry.js';
import { parseRules } from './load.js';

/** The environment variables read here. */
export const ENV = {
  rules: 'REWRITE_RULES',
  rulesParameter: 'REWRITE_RULES_PARAMETER',
  ttl: 'REWRITE_RULES_TTL_SECONDS',
  token: 'WEBHOOK_TOKEN',
  tokenParameter: 'WEBHOOK_TOKEN_PARAMETER',
  tokenSecretArn: 'WEBHOOK_TOKEN_SECRET_ARN',
} as const;

export const DEFAULT_TTL_SECONDS = 60;
export const MAX_TTL_SECONDS = 86_400;
/** First retry delay after a failed read; doubles per consecutive failure. */
export const RETRY_BASE_MS = 1000;
/** Longest retry delay (and never longer than the TTL). */
export const RETRY_MAX_MS = 30_000;
/** Longest wait for one AWS read (the API server's webhook timeout is a few seconds). */
export const READ_TIMEOUT_MS = 3000;
/** The token is the last segment of the webhook URL: unreserved URL characters, long enough to guess. */
export const MIN_TOKEN_LENGTH = 16;
const TOKEN_CHARS = /^[A-Za-z0-9._~-]+$/;

export type Env = Readonly<Record<string, string | undefined>>;

export type RulesSetting =
  | { readonly kind: 'inline'; readonly text: string }
  | { readonly kind: 'ssm'; readonly name: string; readonly ttlSeconds: number };

export type TokenSetting =
  | { readonly kind: 'none' }
  | { readonly kind: 'inline'; readonly token: string }
  | { readonly kind: 'ssm'; readonly name: string }
  | { readonly kind: 'secret'; readonly secretId: string };

export interface Settings {
  readonly rules: RulesSetting;
  readonly token: TokenSetting;
}

/** The environment cannot be used (every problem listed), or the token cannot be read (`cause`). */
export class SourceError extends Error {
  override readonly name = 'SourceError';
  readonly issues: readonly Issue[];
  constructor(message: string, issues: readonly Issue[] = [], options?: ErrorOptions) {
    super(issues.length === 0 ? message : `${message}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, options);
    this.issues = issues;
  }
}

export type RulesState =
  | { readonly ok: true; readonly rewriter: Rewriter; readonly source: string; readonly version?: string }
  | { readonly ok: false; readonly reason: string };

/** The rules in force; `current()` never rejects (a failure is an `ok: false` state). */
export interface RulesProvider {
  current(): Promise<RulesState>;
}

export interface ProviderDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Seen by `${env:NAME}` substitutions in the rules. */
  readonly env: Env;
}

const set = (env: Env, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
};

/** Why a token is unusable, or undefined. Never mentions the token itself. */
function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN_CHARS.test(token)) {
    return `must be at least ${MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 . _ ~ - (it is the last segment of the webhook URL)`;
  }
  return undefined;
}

/** Read and check the variables; throws one `SourceError` listing every problem. */
export function readSettings(env: Env): Settings {
  const issues: Issue[] = [];
  const problem = (path: string, message: string): void => {
    issues.push({ path, severity: 'error', message });
  };

  const inline = set(env, ENV.rules);
  const parameter = set(env, ENV.rulesParameter)?.trim();
  const ttlText = set(env, ENV.ttl)?.trim();
  let ttlSeconds = DEFAULT_TTL_SECONDS;
  if (ttlText !== undefined) {
    ttlSeconds = /^\d+$/.test(ttlText) ? Number(ttlText) : Number.NaN;
    if (!(ttlSeconds >= 1 && ttlSeconds <= MAX_TTL_SECONDS)) problem(ENV.ttl, `must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
  }
  let rules: RulesSetting | undefined;
  if (inline !== undefined && parameter !== undefined) problem(ENV.rules, `set only one of ${ENV.rules} and ${ENV.rulesParameter}`);
  else if (inline !== undefined) rules = { kind: 'inline', text: inline };
  else if (parameter !== undefined) rules = { kind: 'ssm', name: parameter, ttlSeconds };
  else problem(ENV.rules, `no rules: set ${ENV.rules} (inline YAML or JSON) or ${ENV.rulesParameter} (an SSM parameter name)`);

  const tokenVars = [ENV.token, ENV.tokenParameter, ENV.tokenSecretArn].filter((n) => set(env, n) !== undefined);
  let token: TokenSetting = { kind: 'none' };
  if (tokenVars.length > 1) problem(ENV.token, `set only one of ${tokenVars.join(', ')}`);
  const inlineToken = set(env, ENV.token)?.trim();
  const tokenParameter = set(env, ENV.tokenParameter)?.trim();
  const tokenSecret = set(env, ENV.tokenSecretArn)?.trim();
  if (inlineToken !== undefined) {
    const p = tokenProblem(inlineToken);
    if (p !== undefined) problem(ENV.token, p);
    token = { kind: 'inline', token: inlineToken };
  } else if (tokenParameter !== undefined) token = { kind: 'ssm', name: tokenParameter };
  else if (tokenSecret !== undefined) token = { kind: 'secret', secretId: tokenSecret };

  if (issues.length > 0 || rules === undefined) throw new SourceError('the environment does not configure image-rewriter correctly', issues);
  return { rules, token };
}

/** The AWS error code (`AccessDeniedException`, `ParameterNotFound`, `TimeoutError`...), never a message. */
function errorCode(e: unknown): string {
  return e instanceof Error ? e.name : 'Error';
}

function errorDetail(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

type Compiled = { readonly ok: true; readonly state: RulesState & { ok: true } } | { readonly ok: false; readonly reason: string };

/** Parse and compile one document, logging the outcome (every issue with its path) and counting errors. */
function compile(text: string, source: string, version: string | undefined, deps: ProviderDeps): Compiled {
  const parsed = parseRules(text, deps.env);
  const where = { source, ...(version === undefined ? {} : { version }) };
  if (!parsed.ok) {
    const errors = parsed.issues.filter((i) => i.severity === 'error');
    count(deps.metrics, Metric.ConfigErrors);
    deps.logger.error('rules document is invalid', { ...where, issues: parsed.issues.map((i) => `${i.path}: ${i.message}`) });
    return { ok: false, reason: `rules document ${source}${version === undefined ? '' : ` version ${version}`} is invalid (${errors.length} problem(s), see the logs)` };
  }
  if (parsed.warnings.length > 0) deps.logger.warn('rules document has warnings', { ...where, issues: parsed.warnings.map((i) => `${i.path}: ${i.message}`) });
  deps.logger.info('rules loaded', { ...where, rules: parsed.rewriter.rules.length, exclusions: parsed.rewriter.exclude.length });
  return { ok: true, state: { ok: true, rewriter: parsed.rewriter, source, ...(version === undefined ? {} : { version }) } };
}

/** Rules from a document held in memory (`REWRITE_RULES`, a file): compiled once, now. */
export function inlineRules(text: string, source: string, deps: ProviderDeps): RulesProvider {
  const compiled = compile(text, source, undefined, deps);
  const state: RulesState = compiled.ok ? compiled.state : { ok: false, reason: compiled.reason };
  return { current: () => Promise.resolve(state) };
}

/** Rules already compiled (the CLI's `invoke`, tests). */
export function fixedRules(rewriter: Rewriter, source: string): RulesProvider {
  const state: RulesState = { ok: true, rewriter, source };
  return { current: () => Promise.resolve(state) };
}

/** A client, or an async factory called at the first read (src/lambda/main.ts: the SDK loads then). */
export type ClientSource<T> = T | (() => Promise<T>);

export interface SsmRulesOptions extends ProviderDeps {
  readonly client: ClientSource<SSMClient>;
  readonly name: string;
  readonly ttlSeconds: number;
  /** Milliseconds since the epoch; injected by tests. Default `Date.now`. */
  readonly now?: () => number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly timeoutMs?: number;
}

/**
 * Rules from an SSM parameter: read on the first `current()`, kept for `ttlSeconds`, then read
 * again; the document is compiled only when its text changed.
 */
export function ssmRules(options: SsmRulesOptions): RulesProvider {
  const { name, logger, metrics } = options;
  const clientSource = options.client;
  const client = async (): Promise<SSMClient> => (typeof clientSource === 'function' ? clientSource() : clientSource);
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlSeconds * 1000;
  const retryBase = options.retryBaseMs ?? RETRY_BASE_MS;
  const retryMax = Math.min(options.retryMaxMs ?? RETRY_MAX_MS, ttlMs);
  const timeoutMs = options.timeoutMs ?? READ_TIMEOUT_MS;
  const source = `ssm:${name}`;

  let state: RulesState = { ok: false, reason: `rules parameter ${name} has not been read yet` };
  /** The text of the document behind `state` when it is good (skips recompiling an unchanged one). */
  let goodText: string | undefined;
  let nextReadAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let inflight: Promise<RulesState> | undefined;

  const read = async (): Promise<RulesState> => {
    count(metrics, Metric.ConfigRefreshes);
    let value: string;
    let version: string | undefined;
    try {
      // Loading the SDK (first read only) is inside the try: a failure is a failed read, retried.
      const [{ GetParameterCommand }, ssm] = await Promise.all([import('@aws-sdk/client-ssm'), client()]);
      const out = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }), { abortSignal: AbortSignal.timeout(timeoutMs) });
      if (out.Parameter?.Value === undefined) throw new SourceError(`parameter ${name} has no value`);
      value = out.Parameter.Value;
      version = out.Parameter.Version === undefined ? undefined : String(out.Parameter.Version);
    } catch (e) {
      failures += 1;
      const retryInMs = Math.min(retryBase * 2 ** (failures - 1), retryMax);
      nextReadAt = now() + retryInMs;
      count(metrics, Metric.ConfigErrors);
      const code = errorCode(e);
      logger.error('cannot read the rules parameter', {
        parameter: name,
        error: code,
        detail: errorDetail(e),
        retryInMs,
        keeping: state.ok ? (state.version ?? 'the last good rules') : 'nothing: answering without rewriting',
      });
      if (!state.ok) state = { ok: false, reason: `rules parameter ${name} could not be read (${code})` };
      return state;
    }
    failures = 0;
    nextReadAt = now() + ttlMs;
    if (state.ok && value === goodText) {
      if (version !== undefined && version !== state.version) state = { ...state, version };
      return state;
    }
    const compiled = compile(value, source, version, options);
    if (compiled.ok) {
      state = compiled.state;
      goodText = value;
    } else if (state.ok) {
      logger.warn('keeping the last good rules', { source, version: state.version });
    } else {
      state = { ok: false, reason: compiled.reason };
    }
    return state;
  };

  return {
    current(): Promise<RulesState> {
      if (now() < nextReadAt) return Promise.resolve(state);
      inflight ??= read().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
  };
}

export interface SourceDeps extends ProviderDeps {
  /**
   * Called only when an SSM parameter or a secret is configured, at the first read (so inline rules
   * and an inline token neither build a client nor load the SDK).
   */
  readonly ssm: () => Promise<SSMClient>;
  readonly secretsManager: () => Promise<SecretsManagerClient>;
  readonly now?: () => number;
}

export function createRulesProvider(setting: RulesSetting, deps: SourceDeps): RulesProvider {
  switch (setting.kind) {
    case 'inline':
      return inlineRules(setting.text, ENV.rules, deps);
    case 'ssm':
      return ssmRules({ ...deps, client: deps.ssm, name: setting.name, ttlSeconds: setting.ttlSeconds });
  }
}

/** The webhook token, read once; undefined when none is configured. Throws `SourceError`. */
export async function resolveToken(
  setting: TokenSetting,
  deps: Pick<SourceDeps, 'ssm' | 'secretsManager'>,
  timeoutMs = READ_TIMEOUT_MS,
): Promise<string | undefined> {
  if (setting.kind === 'none') return undefined;
  if (setting.kind === 'inline') return setting.token;
  const from = setting.kind === 'ssm' ? `SSM parameter ${setting.name}` : `secret ${setting.secretId}`;
  let raw: string | undefined;
  try {
    if (setting.kind === 'ssm') {
      const [{ GetParameterCommand }, ssm] = await Promise.all([import('@aws-sdk/client-ssm'), deps.ssm()]);
      const command = new GetParameterCommand({ Name: setting.name, WithDecryption: true });
      raw = (await ssm.send(command, { abortSignal: AbortSignal.timeout(timeoutMs) })).Parameter?.Value;
    } else {
      const [{ GetSecretValueCommand }, secretsManager] = await Promise.all([import('@aws-sdk/client-secrets-manager'), deps.secretsManager()]);
      const command = new GetSecretValueCommand({ SecretId: setting.secretId });
      raw = (await secretsManager.send(command, { abortSignal: AbortSignal.timeout(timeoutMs) })).SecretString;
    }
  } catch (e) {
    throw new SourceError(`cannot read the webhook token from ${from} (${errorCode(e)}): ${errorDetail(e)}`, [], { cause: e });
  }
  if (setting.kind === 'secret' && raw?.trimStart().startsWith('{') === true) raw = tokenField(raw, from);
  const token = raw?.trim();
  if (token === undefined || token === '') throw new SourceError(`the webhook token in ${from} is empty`);
  const p = tokenProblem(token);
  if (p !== undefined) throw new SourceError(`the webhook token in ${from} ${p}`);
  return token;
}

/** A secret stored as JSON (`{"token": "..."}`, as SecretStringTemplate makes it). */
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

export interface Sources {
  readonly settings: Settings;
  readonly rules: RulesProvider;
  readonly token: string | undefined;
}

/**
 * Everything the Lambda reads from its environment, read now: the settings (throws `SourceError`),
 * the token (throws `SourceError`) and the first read of the rules (never throws: it may be `ok: false`).
 */
export async function loadSources(env: Env, deps: Omit<SourceDeps, 'env'>): Promise<Sources> {
  const settings = readSettings(env);
  const full: SourceDeps = { ...deps, env };
  const rules = createRulesProvider(settings.rules, full);
  const [token] = await Promise.all([resolveToken(settings.token, full), rules.current()]);
  deps.logger.info('configuration', {
    rules: settings.rules.kind === 'inline' ? ENV.rules : `ssm:${settings.rules.name}`,
    ...(settings.rules.kind === 'ssm' ? { ttlSeconds: settings.rules.ttlSeconds } : {}),
    token: describeToken(settings.token),
  });
  return { settings, rules, token };
}

/** Where the token comes from, for logs (never the token). */
export function describeToken(setting: TokenSetting): string {
  switch (setting.kind) {
    case 'none':
      return 'none: requests are not authenticated';
    case 'inline':
      return ENV.token;
    case 'ssm':
      return `ssm:${setting.name}`;
    case 'secret':
      return `secretsmanager:${setting.secretId}`;
  }
}
