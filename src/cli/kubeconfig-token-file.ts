/**
 * A kubeconfig user's `tokenFile` (client-go's AuthInfo field: a file holding the bearer token),
 * read for `audit` as kubectl reads it (README.md, "Find what still pulls from upstream"):
 * @kubernetes/client-node reads only `token` (and a `token-file` that kubectl ignores), so audit
 * called the API server anonymously where kubectl sent the file's token. The path is relative to
 * the folder of the kubeconfig that names it; the file's text, trimmed, wins over `token` when it
 * can be read, as client-go's cached file token source lets it.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { KubeConfig, User } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { isRecord } from '../core/json.js';
import { describeSystemError } from '../config/system-error.js';

/** The absolute tokenFile of each loaded user that names one. */
const tokenFiles = new WeakMap<User, string>();

/** Note the tokenFile of each user that `kc` loaded from the kubeconfig `path` (client-node drops the field). */
export function noteTokenFiles(kc: KubeConfig, path: string): void {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'), { uniqueKeys: false });
  } catch {
    return; // client-node read it; a text the yaml package refuses names no tokenFile it can use
  }
  const users = isRecord(raw) ? raw['users'] : undefined;
  if (!Array.isArray(users)) return;
  for (const entry of users as unknown[]) {
    if (!isRecord(entry)) continue;
    const user = entry['user'];
    const file = isRecord(user) ? user['tokenFile'] : undefined;
    if (typeof file !== 'string' || file === '') continue;
    const loaded = kc.users.find((u) => u.name === entry['name']);
    if (loaded !== undefined && !tokenFiles.has(loaded)) tokenFiles.set(loaded, resolve(dirname(path), file));
  }
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
