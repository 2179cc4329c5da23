/**
 * The configuration front door: settings (src/config/settings.ts) in, the rules provider and the
 * webhook token out, the same way for every adapter (docs/design.md, "Environment"). The
 * token is read once, now; the first read of the rules is started now and never throws (it may
 * be `ok: false`, and the handler then fails open). A token that cannot be read is an error:
 * a webhook must not answer requests it cannot authenticate.
 */
import type { FileWatch } from './file-watch.js';
import type { RulesProvider } from './refresh.js';
import { openRules, type SourceDeps } from './rules-provider.js';
import { type AdapterOptions, ENV, type Env, readSettings, type Settings } from './settings.js';
import type { WebhookTokens } from './token-check.js';
import { describeToken, resolveToken } from './token.js';

export { type RulesProvider, type RulesState } from './refresh.js';
export { createRulesProvider, fileRules, fixedRules, inlineRules, RETRY_BASE_MS, type SharedRules, type SourceDeps, ssmRules, type SsmRulesOptions } from './rules-provider.js';
export { DEFAULT_TTL_SECONDS, type Env, readSettings, type Settings, SourceError } from './settings.js';
export { describeToken, READ_TIMEOUT_MS, resolveToken } from './token.js';

export interface Sources {
  readonly settings: Settings;
  readonly rules: RulesProvider;
  /** The current token, and during a rotation the previous one; undefined: requests are not authenticated. */
  readonly token: WebhookTokens | undefined;
  /** The watch of a followed rules file, to close at shutdown. */
  readonly watch: FileWatch | undefined;
}

/** Where the rules come from, for logs. */
export function describeRules(settings: Settings): string {
  const { rules } = settings;
  switch (rules.kind) {
    case 'inline':
      return rules.source ?? ENV.rules;
    case 'file':
      return rules.path;
    case 'ssm':
      return `ssm:${rules.name}`;
  }
}

/** The token and the rules of `settings`, read now. Throws `SourceError` when the token cannot be used. */
export async function openSources(settings: Settings, deps: SourceDeps): Promise<Sources> {
  // Both at once (two AWS reads at a cold start overlap); a watch opened for nothing is closed.
  // An SSM provider reads at its first current(), so that first read is part of the rules' side:
  // awaited after the token's, it made a cold start with both in SSM two round trips long (up to
  // twice READ_TIMEOUT_MS when SSM is slow). current() never rejects.
  const opened = openRules(settings.rules, deps).then(async (r) => {
    await r.provider.current();
    return r;
  });
  const [token, rules] = await Promise.allSettled([resolveToken(settings.token, deps), opened]);
  if (token.status === 'rejected') {
    if (rules.status === 'fulfilled') rules.value.watch?.close();
    throw token.reason;
  }
  if (rules.status === 'rejected') throw rules.reason;
  deps.logger.info('configuration', {
    rules: describeRules(settings),
    ...(settings.rules.kind === 'ssm' ? { ttlSeconds: settings.rules.ttlSeconds } : {}),
    token: describeToken(settings.token),
    // Two tokens: a rotation is under way (README, "Rotating the token"), until the old one is removed.
    ...(token.value?.length === 2 ? { tokens: 2 } : {}),
  });
  return { settings, rules: rules.value.provider, token: token.value, watch: rules.value.watch };
}

/** `readSettings` then `openSources`: what the Lambda entry does with its environment. */
export async function loadSources(env: Env, deps: Omit<SourceDeps, 'env'>, options: AdapterOptions = {}): Promise<Sources> {
  return openSources(readSettings(env, options), { ...deps, env });
}
