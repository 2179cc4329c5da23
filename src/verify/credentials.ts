/**
 * Registry credentials for the existence check, per registry host, from one Secrets Manager secret
 * or one SSM SecureString parameter named in the function's settings (never in the rules
 * document). The value is JSON, either a Docker config (`{"auths": {"host": {"auth": base64
 * "user:password"}}}`, what `kubectl create secret docker-registry` holds) or a plain map
 * (`{"host": {"username": "...", "password": "..."}}`). Hosts are compared as images name them
 * (`https://index.docker.io/v1/` is `docker.io`).
 *
 * Read at the first check that needs them, shared by concurrent checks; a failed read is retried
 * after RETRY_MS, and meanwhile checks go on anonymously, with the reason attached so a refusal
 * (401) says that the credentials could not be read. Read again REFRESH_MS after a good read, so
 * that a rotated secret is used without a restart: in the background, the checks meanwhile using
 * what was read before (also when the new read fails).
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { secretsManagerFor } from '../config/secret-client.js';
import { becauseOf, cutByBound, errorName } from '../config/system-error.js';
import type { CredentialLookup, RegistryCredentials } from './oci.js';

// Its own copy, not core/json's: a module the entry and this lazily loaded one both import is split
// by esbuild into a chunk of its own, one more file to load at every cold start.
const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Docker Hub's other host names; its own copy of core/matched-name's DOCKER_HUB_HOSTS, for the same reason. */
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export type CredentialsSetting = { readonly kind: 'none' } | { readonly kind: 'secret'; readonly secretId: string } | { readonly kind: 'ssm'; readonly name: string };

export interface CredentialsDeps {
  readonly ssm: () => Promise<SSMClient>;
  readonly secretsManager: () => Promise<SecretsManagerClient>;
  readonly now: () => number;
}

const READ_TIMEOUT_MS = 3000;
export const RETRY_MS = 30_000;
export const REFRESH_MS = 5 * 60_000;
const MAX_VALUE_CHARS = 64 * 1024;

/** The host of a Docker config key, in lower case: `https://Index.docker.io/v1/` -> `index.docker.io`. */
const keyHost = (text: string): string => text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0]?.toLowerCase() ?? '';

/** `https://index.docker.io/v1/` -> `docker.io`; `Mirror.Example.com:5000` -> `mirror.example.com:5000`. */
export function registryKey(text: string): string {
  const host = keyHost(text);
  return DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host;
}

/** Whether a Docker config key names Docker Hub as the kubelet does (`https://index.docker.io/v1/`, `docker.io`). */
const isHubOwn = (text: string): boolean => {
  const host = keyHost(text);
  return host === 'index.docker.io' || host === 'docker.io';
};

/**
 * An entry's credentials. A non-empty `auth` wins over `username` and `password`, as the kubelet
 * (credentialprovider's DockerConfigEntry) and the Docker CLI read an entry that has both: the
 * check then asks with what the nodes pull with. Its username may be empty (`:token`), as the
 * kubelet reads it (split at the first colon) and pulls with it.
 */
function entryCredentials(v: unknown): RegistryCredentials | undefined {
  if (!isRecord(v)) return undefined;
  const { username, password, auth } = v;
  if (typeof auth === 'string' && auth !== '') {
    const text = Buffer.from(auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon >= 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (typeof username === 'string' && typeof password === 'string') return { username, password };
  return undefined;
}

/** An entry that gives credentials, usable or not: not one without any (`{}`, an `identitytoken` alone). */
const hasCredentialFields = (v: unknown): boolean =>
  isRecord(v) && ((typeof v['auth'] === 'string' && v['auth'] !== '') || v['username'] !== undefined || v['password'] !== undefined);

/** The credentials map of a secret's value; throws with a message that never quotes the value. */
export function parseCredentials(value: string): ReadonlyMap<string, RegistryCredentials> {
  if (value.length > MAX_VALUE_CHARS) throw new Error(`the value is longer than ${MAX_VALUE_CHARS} characters`);
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    throw new Error('the value is not JSON');
  }
  if (!isRecord(doc)) throw new Error('the value is not a JSON object');
  const auths = isRecord(doc['auths']) ? doc['auths'] : doc;
  const out = new Map<string, RegistryCredentials>();
  // An entry without credentials is skipped, as the kubelet reads it (no credentials for that host):
  // `docker login` beside a `credsStore` writes `{}`, `az acr login` an `identitytoken`, and one such
  // entry made every host's credentials unreadable. A value without any usable entry is refused.
  // An entry that has credentials the check cannot read (an `auth` that is not base64 of
  // `user:password`, a `username` without a `password`) is refused, as the kubelet refuses it:
  // skipped, its host's checks went anonymous, said to have "no registry credentials".
  // Docker Hub's entry is the one under index.docker.io (or docker.io), which the kubelet pulls its
  // images with: one under another of its hosts (`docker login registry.hub.docker.com` in CI) only
  // when there is none.
  let hubOwn = false;
  let unusable: string | undefined;
  for (const [host, entry] of Object.entries(auths)) {
    const c = entryCredentials(entry);
    const key = registryKey(host);
    if (c !== undefined && key === 'docker.io') {
      const own = isHubOwn(host);
      if (own || !hubOwn) out.set(key, c);
      hubOwn ||= own;
    } else if (c !== undefined) out.set(key, c);
    else if (hasCredentialFields(entry)) throw new Error(`the entry for ${registryKey(host).slice(0, 100)} has credentials that cannot be read (an "auth" that is not base64 of "username:password", or "username" and "password" not both strings)`);
    else unusable ??= host;
  }
  if (out.size === 0 && unusable !== undefined) throw new Error(`the entry for ${registryKey(unusable).slice(0, 100)} has neither "username" and "password" nor "auth"`);
  return out;
}

export type CredentialsSource = (registry: string, signal: AbortSignal) => Promise<CredentialLookup>;

/** The lookup the registry client calls; reads nothing until a registry asks for credentials. */
export function createCredentialsSource(setting: CredentialsSetting, deps: CredentialsDeps): CredentialsSource {
  if (setting.kind === 'none') return () => Promise.resolve({ credentials: undefined });
  let map: ReadonlyMap<string, RegistryCredentials> | undefined;
  let readAt = 0;
  let failure: { reason: string; retryAt: number } | undefined;
  let inflight: Promise<void> | undefined;
  const from = setting.kind === 'ssm' ? `SSM parameter ${setting.name}` : `secret ${setting.secretId}`;

  const read = async (): Promise<void> => {
    const signal = AbortSignal.timeout(READ_TIMEOUT_MS);
    let raw: unknown;
    try {
      if (setting.kind === 'ssm') {
        const [{ GetParameterCommand }, ssm] = await Promise.all([import('../config/sdk-ssm.js'), deps.ssm()]);
        raw = (await ssm.send(new GetParameterCommand({ Name: setting.name, WithDecryption: true }), { abortSignal: signal })).Parameter?.Value;
      } else {
        const [{ GetSecretValueCommand }, shared] = await Promise.all([import('../config/sdk-secrets-manager.js'), deps.secretsManager()]);
        const sm = await secretsManagerFor(setting.secretId, shared);
        raw = (await sm.send(new GetSecretValueCommand({ SecretId: setting.secretId }), { abortSignal: signal })).SecretString;
      }
      // The SDK's types say string; an endpoint that is not AWS (a proxy on the way) may answer any JSON.
      if (raw !== undefined && typeof raw !== 'string') throw new Error('the value is not a string');
      map = parseCredentials(typeof raw === 'string' ? raw : '');
      readAt = deps.now();
      failure = undefined;
    } catch (e) {
      // A socket error is named by its code, in words (`: connection refused (ECONNREFUSED)`), not "(Error)".
      const detail = raw === undefined ? becauseOf(errorName(cutByBound(e, signal))) : ` (${(e as Error).message})`;
      failure = { reason: `cannot read ${from}${detail}`, retryAt: deps.now() + RETRY_MS };
    }
  };

  return async (registry, signal) => {
    const now = deps.now();
    const due = failure === undefined ? map === undefined || now - readAt >= REFRESH_MS : now >= failure.retryAt;
    if (due) {
      inflight ??= read().finally(() => {
        inflight = undefined;
      });
    }
    if (map === undefined && inflight !== undefined) {
      // The read goes on for later checks even when this one's deadline passes.
      await Promise.race([
        inflight,
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            resolve();
          }, { once: true });
        }),
      ]);
    }
    if (map !== undefined) return { credentials: map.get(registryKey(registry)) };
    return { credentials: undefined, unavailable: failure?.reason ?? `${from} is still being read` };
  };
}
