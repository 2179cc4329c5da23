/**
 * What a kubeconfig names by file, read for `audit` as kubectl reads it (README.md, "Find what
 * still pulls from upstream"), where @kubernetes/client-node does not:
 * - a user's `tokenFile` (client-go's AuthInfo field: a file holding the bearer token). client-node
 *   reads only `token` (and a `token-file` that kubectl ignores), so audit called the API server
 *   anonymously where kubectl sent the file's token. The file's text, trimmed, wins over `token`
 *   when it can be read, as client-go's cached file token source lets it;
 * - an exec plugin's `command` written as a relative path (`./get-token.sh`), which client-go
 *   resolves against the kubeconfig's folder (a bare name is looked up in PATH) and client-node ran
 *   from the working directory (`spawn ./get-token.sh ENOENT` on every call).
 * Both are relative to the folder of the kubeconfig that names them, as the CA and client
 * certificate files already are.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { KubeConfig, User } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { isRecord } from '../core/json.js';
import { describeSystemError } from '../config/system-error.js';

/** The absolute tokenFile of each loaded user that names one. */
const tokenFiles = new WeakMap<User, string>();

/** The tokenFile of each user entry of the kubeconfig text at `path`, by user name (the first entry of a name). */
function tokenFilesOf(path: string): Map<string, string> {
  const files = new Map<string, string>();
  let raw: unknown;
  try {
    // Merge keys (`<<: *base`) applied, as kubectl's YAML reader and client-node's apply them.
    raw = parse(readFileSync(path, 'utf8'), { uniqueKeys: false, merge: true });
  } catch {
    return files; // client-node read it; a text the yaml package refuses names no tokenFile it can use
  }
  const users = isRecord(raw) ? raw['users'] : undefined;
  if (!Array.isArray(users)) return files;
  for (const entry of users as unknown[]) {
    const user = isRecord(entry) ? entry['user'] : undefined;
    const file = isRecord(user) ? user['tokenFile'] : undefined;
    const name = isRecord(entry) ? entry['name'] : undefined;
    if (typeof name === 'string' && typeof file === 'string' && file !== '' && !files.has(name)) files.set(name, resolve(dirname(path), file));
  }
  return files;
}

/** Resolve, in the users `kc` loaded from the kubeconfig `path`, what client-node leaves relative or drops. */
export function resolveKubeconfigFiles(kc: KubeConfig, path: string): void {
  const folder = dirname(path);
  const files = tokenFilesOf(path);
  const users = kc.users.map((u) => {
    const exec: unknown = u.exec; // client-node types it any
    const command = isRecord(exec) ? exec['command'] : undefined;
    const relative = typeof command === 'string' && command.includes('/') && !isAbsolute(command);
    const user: User = relative && isRecord(exec) ? { ...u, exec: { ...exec, command: resolve(folder, command) } } : u;
    const file = files.get(u.name);
    if (file !== undefined && !tokenFiles.has(user)) tokenFiles.set(user, file);
    return user;
  });
  kc.loadFromOptions({ clusters: kc.clusters, users, contexts: kc.contexts, currentContext: kc.currentContext });
}

/**
 * Give the current user of `kc` the token of its tokenFile. Returns why it cannot (the file
 * unreadable or empty, and no `token` beside it), else undefined.
 */
export function applyTokenFile(kc: KubeConfig): string | undefined {
  const current = kc.getCurrentUser();
  const file = current === null ? undefined : tokenFiles.get(current);
  if (current === null || file === undefined) return undefined;
  let token = '';
  let failure = `the tokenFile ${file} of user ${current.name} is empty`;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (e) {
    failure = `cannot read the tokenFile ${file} of user ${current.name}: ${describeSystemError(e)}`;
  }
  if (token === '') return current.token === undefined || current.token === '' ? failure : undefined;
  kc.loadFromOptions({
    clusters: kc.clusters,
    users: kc.users.map((u) => (u === current ? { ...u, token } : u)),
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return undefined;
}
