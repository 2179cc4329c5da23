/**
 * The settings of an adapter, read once from its environment and flags into one `Settings` value
 * (the rules' source, the token's, whether no token is allowed, the existence checks' settings).
 * Every adapter (the Lambda entry, `serve`, `invoke`, `explain`, `check-config`, `render`,
 * `audit`; not `webhook-config`, whose rules come from its own `--config` only) calls
 * `readSettings` and nothing else reads the configuration variables, so the same variables mean the
 * same thing everywhere (docs/design.md, "Environment"):
 *
 * - rules: `--config FILE` (command line), else `REWRITE_RULES` (inline YAML or JSON), else the SSM
 *   parameter named by `REWRITE_RULES_PARAMETER`, re-read after `REWRITE_RULES_TTL_SECONDS`
 *   (default 60). Setting both variables is an error; no rules at all is an error unless the
 *   adapter has a fallback (`invoke`'s built-in example rules).
 * - token: `--token-file FILE` (`serve`), else one of `WEBHOOK_TOKEN`, `WEBHOOK_TOKEN_PARAMETER`
 *   (SSM SecureString), `WEBHOOK_TOKEN_SECRET_ARN` (Secrets Manager). An adapter that listens for
 *   requests (the Lambda, `serve`) refuses to start without one unless
 *   `WEBHOOK_ALLOW_UNAUTHENTICATED=true` (or `serve --allow-unauthenticated`) says so.
 *
 * - existence checks (rules with `verify: true`; docs/verify.md): registry credentials from one
 *   Secrets Manager secret (`REGISTRY_CREDENTIALS_SECRET_ARN`) or SSM SecureString
 *   (`REGISTRY_CREDENTIALS_PARAMETER`), never from the rules document; all checks of a review
 *   within `VERIFY_DEADLINE_MS` (default 1500, well below the webhook's timeoutSeconds).
 *
 * Blank variables count as unset (a SAM template cannot easily omit a variable). Every problem is
 * reported at once, in one `SourceError`, with the same text in every adapter.
 */
import type { Issue } from '../core/rules.js';
import { formatIssue } from './issues.js';
import type { CredentialsSetting } from '../verify/credentials.js';
import { parseTokens, type WebhookTokens } from './token-check.js';

/** The environment variables of the configuration. */
export const ENV = {
  rules: 'REWRITE_RULES',
  rulesParameter: 'REWRITE_RULES_PARAMETER',
  ttl: 'REWRITE_RULES_TTL_SECONDS',
  token: 'WEBHOOK_TOKEN',
  tokenParameter: 'WEBHOOK_TOKEN_PARAMETER',
  tokenSecretArn: 'WEBHOOK_TOKEN_SECRET_ARN',
  allowUnauthenticated: 'WEBHOOK_ALLOW_UNAUTHENTICATED',
  registryCredentialsSecretArn: 'REGISTRY_CREDENTIALS_SECRET_ARN',
  registryCredentialsParameter: 'REGISTRY_CREDENTIALS_PARAMETER',
  verifyDeadlineMs: 'VERIFY_DEADLINE_MS',
} as const;

export const DEFAULT_VERIFY_DEADLINE_MS = 1500;
export const MIN_VERIFY_DEADLINE_MS = 50;
/** API Gateway gives up after 29 s and the webhook's timeoutSeconds is at most 30. */
export const MAX_VERIFY_DEADLINE_MS = 25_000;

/** How existence checks run (used only when a rule has `verify: true`). */
export interface VerifySettings {
  readonly deadlineMs: number;
  readonly credentials: CredentialsSetting;
}

export const DEFAULT_TTL_SECONDS = 60;
export const MAX_TTL_SECONDS = 86_400;

export type Env = Readonly<Record<string, string | undefined>>;

export type RulesSetting =
  | { readonly kind: 'inline'; readonly text: string; readonly source?: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'ssm'; readonly name: string; readonly ttlSeconds: number };

export type TokenSetting =
  | { readonly kind: 'none' }
  | { readonly kind: 'inline'; readonly tokens: WebhookTokens }
  /** `text` (file, ssm, secret): the source's text read earlier, used instead of reading it (AdapterOptions.tokenText). */
  | { readonly kind: 'file'; readonly path: string; readonly text?: string }
  | { readonly kind: 'ssm'; readonly name: string; readonly text?: string }
  | { readonly kind: 'secret'; readonly secretId: string; readonly text?: string };

export interface Settings {
  readonly rules: RulesSetting;
  readonly token: TokenSetting;
  /**
   * True when no token is configured: the adapter was told that is intended, or needs none
   * (`tokenRequired: false`); an adapter that requires one and was not told fails in readSettings.
   */
  readonly allowUnauthenticated: boolean;
  readonly verify: VerifySettings;
}

/** What an adapter adds to the environment: its flags, and its policy for a missing token or rules. */
export interface AdapterOptions {
  /** `--config FILE`: overrides the rules variables. */
  readonly configFile?: string | undefined;
  /** `--token-file FILE`: overrides the token variables. */
  readonly tokenFile?: string | undefined;
  /**
   * The text of the token's source (`tokenFile`, or the SSM parameter or secret the variables name)
   * as read once before (`serve --workers`: by the primary at start, for every worker, a replacement
   * too): a source changed since is not read again.
   */
  readonly tokenText?: string | undefined;
  /** `--allow-unauthenticated`: the flag form of `WEBHOOK_ALLOW_UNAUTHENTICATED=true`. */
  readonly allowUnauthenticated?: boolean | undefined;
  /** False for adapters that answer no network requests (`invoke`): no token is then fine. Default true. */
  readonly tokenRequired?: boolean;
  /** Rules used when none are configured (`invoke`); otherwise no rules is an error. */
  readonly fallbackRules?: { readonly text: string; readonly source: string };
}

/** The configuration cannot be used (every problem listed), or the token cannot be read (`unreadable`). */
export class SourceError extends Error {
  override readonly name = 'SourceError';
  readonly issues: readonly Issue[];
  /** True when the settings are fine but a token source could not be read (a file, SSM, Secrets Manager). */
  readonly unreadable: boolean;
  constructor(message: string, issues: readonly Issue[] = [], options?: ErrorOptions & { readonly unreadable?: boolean }) {
    super(issues.length === 0 ? message : `${message}:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`, options);
    this.issues = issues;
    this.unreadable = options?.unreadable ?? false;
  }
}

const MESSAGES = {
  invalid: 'the settings do not configure image-rewriter correctly',
  noRules: `no rules: set ${ENV.rules} (inline YAML or JSON) or ${ENV.rulesParameter} (an SSM parameter name); the command line also takes --config FILE`,
  bothRules: `set only one of ${ENV.rules} and ${ENV.rulesParameter}`,
  ttl: `must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`,
  noToken: `no webhook token: set ${ENV.token}, ${ENV.tokenParameter} or ${ENV.tokenSecretArn} (serve: or --token-file), or set ${ENV.allowUnauthenticated}=true (serve: or --allow-unauthenticated) to accept requests without one`,
  allowValue: 'must be true or false',
} as const;

/** The variable's value, or undefined when it is unset or blank. */
function setting(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
}

function readRules(env: Env, options: AdapterOptions, problem: (path: string, message: string) => void): RulesSetting | undefined {
  const ttlText = setting(env, ENV.ttl)?.trim();
  let ttlSeconds = DEFAULT_TTL_SECONDS;
  if (ttlText !== undefined) {
    ttlSeconds = /^\d+$/.test(ttlText) ? Number(ttlText) : Number.NaN;
    if (!(ttlSeconds >= 1 && ttlSeconds <= MAX_TTL_SECONDS)) problem(ENV.ttl, MESSAGES.ttl);
  }
  if (options.configFile !== undefined) return { kind: 'file', path: options.configFile };
  const inline = setting(env, ENV.rules);
  const parameter = setting(env, ENV.rulesParameter)?.trim();
  if (inline !== undefined && parameter !== undefined) problem(ENV.rules, MESSAGES.bothRules);
  else if (inline !== undefined) return { kind: 'inline', text: inline };
  else if (parameter !== undefined) return { kind: 'ssm', name: parameter, ttlSeconds };
  else if (options.fallbackRules !== undefined) return { kind: 'inline', ...options.fallbackRules };
  else problem(ENV.rules, MESSAGES.noRules);
  return undefined;
}

function readToken(env: Env, options: AdapterOptions, problem: (path: string, message: string) => void): TokenSetting {
  const text = options.tokenText === undefined ? {} : { text: options.tokenText };
  if (options.tokenFile !== undefined) return { kind: 'file', path: options.tokenFile, ...text };
  const tokenVars = [ENV.token, ENV.tokenParameter, ENV.tokenSecretArn].filter((n) => setting(env, n) !== undefined);
  if (tokenVars.length > 1) problem(ENV.token, `set only one of ${tokenVars.join(', ')}`);
  const inlineToken = setting(env, ENV.token)?.trim();
  const tokenParameter = setting(env, ENV.tokenParameter)?.trim();
  const tokenSecret = setting(env, ENV.tokenSecretArn)?.trim();
  if (inlineToken !== undefined) {
    const parsed = parseTokens(inlineToken);
    if ('problem' in parsed) {
      problem(ENV.token, parsed.problem);
      return { kind: 'inline', tokens: [inlineToken] };
    }
    return { kind: 'inline', tokens: parsed.tokens };
  }
  if (tokenParameter !== undefined) return { kind: 'ssm', name: tokenParameter, ...text };
  if (tokenSecret !== undefined) return { kind: 'secret', secretId: tokenSecret, ...text };
  return { kind: 'none' };
}

function readVerify(env: Env, problem: (path: string, message: string) => void): VerifySettings {
  const deadlineText = setting(env, ENV.verifyDeadlineMs)?.trim();
  let deadlineMs = DEFAULT_VERIFY_DEADLINE_MS;
  if (deadlineText !== undefined) {
    deadlineMs = /^\d+$/.test(deadlineText) ? Number(deadlineText) : Number.NaN;
    if (!(deadlineMs >= MIN_VERIFY_DEADLINE_MS && deadlineMs <= MAX_VERIFY_DEADLINE_MS)) {
      problem(ENV.verifyDeadlineMs, `must be a whole number of milliseconds from ${MIN_VERIFY_DEADLINE_MS} to ${MAX_VERIFY_DEADLINE_MS}`);
    }
  }
  const secretId = setting(env, ENV.registryCredentialsSecretArn)?.trim();
  const name = setting(env, ENV.registryCredentialsParameter)?.trim();
  if (secretId !== undefined && name !== undefined) problem(ENV.registryCredentialsSecretArn, `set only one of ${ENV.registryCredentialsSecretArn} and ${ENV.registryCredentialsParameter}`);
  const credentials: CredentialsSetting = secretId !== undefined ? { kind: 'secret', secretId } : name !== undefined ? { kind: 'ssm', name } : { kind: 'none' };
  return { deadlineMs, credentials };
}

/** Read and check the settings; throws one `SourceError` listing every problem. */
export function readSettings(env: Env, options: AdapterOptions = {}): Settings {
  const issues: Issue[] = [];
  const problem = (path: string, message: string): void => {
    issues.push({ path: [path], severity: 'error', message });
  };
  const rules = readRules(env, options, problem);
  const token = readToken(env, options, problem);
  const verify = readVerify(env, problem);

  const allowText = setting(env, ENV.allowUnauthenticated)?.trim().toLowerCase();
  if (allowText !== undefined && allowText !== 'true' && allowText !== 'false') problem(ENV.allowUnauthenticated, MESSAGES.allowValue);
  const allowed = options.allowUnauthenticated === true || allowText === 'true';
  if (token.kind === 'none' && !allowed && (options.tokenRequired ?? true)) problem(ENV.token, MESSAGES.noToken);

  if (issues.length > 0 || rules === undefined) throw new SourceError(MESSAGES.invalid, issues);
  return { rules, token, allowUnauthenticated: token.kind === 'none', verify };
}
