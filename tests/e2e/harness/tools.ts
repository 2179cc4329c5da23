/**
 * The tools the end-to-end environment needs from outside node_modules, each checked up front so
 * that a missing one fails the run with a message saying how to get it (these tests never skip):
 * - the etcd, kube-apiserver, kube-controller-manager and kubectl built by hack/k8s/build.sh, found
 *   through IMAGE_REWRITER_K8S_BIN (scripts/test-e2e.sh and scripts/demo.sh export it);
 * - dist/cli.js, built from the current src/ (npm run build);
 * - openssl (tests/helpers/tls.ts makes the webhook's CA and certificate with it).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const K8S_BIN_VARIABLE = 'IMAGE_REWRITER_K8S_BIN';
export const K8S_BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;
export type K8sBinary = (typeof K8S_BINARIES)[number];

const HOW = 'Run the suite with `npm run test:e2e` (scripts/test-e2e.sh builds or reuses them), or `export IMAGE_REWRITER_K8S_BIN=$(hack/k8s/build.sh | tail -n1)`.';

export class MissingToolError extends Error {
  override readonly name = 'MissingToolError';
}

export type K8sBin = Readonly<Record<K8sBinary, string>> & { readonly dir: string };

/** The four binaries of hack/k8s/build.sh, from IMAGE_REWRITER_K8S_BIN (or `dir`). */
export function k8sBinaries(dir = process.env[K8S_BIN_VARIABLE]): K8sBin {
  if (dir === undefined || dir.trim() === '') throw new MissingToolError(`${K8S_BIN_VARIABLE} is not set: it must name the folder with ${K8S_BINARIES.join(', ')}. ${HOW}`);
  const missing: string[] = [];
  const paths: Partial<Record<K8sBinary, string>> = {};
  for (const name of K8S_BINARIES) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      paths[name] = path;
    } catch {
      missing.push(path);
    }
  }
  const { etcd, kubectl } = paths;
  const apiserver = paths['kube-apiserver'];
  const kcm = paths['kube-controller-manager'];
  if (missing.length > 0 || etcd === undefined || kubectl === undefined || apiserver === undefined || kcm === undefined) {
    throw new MissingToolError(`${K8S_BIN_VARIABLE}=${dir} lacks ${missing.join(', ')} (not there or not executable). ${HOW}`);
  }
  return { dir, etcd, kubectl, 'kube-apiserver': apiserver, 'kube-controller-manager': kcm };
}

function newestUnder(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** dist/cli.js, checked to exist and to be newer than every file under src/ (no stale bundle). */
export function distCli(root: string): string {
  const cli = join(root, 'dist', 'cli.js');
  if (!existsSync(cli)) throw new MissingToolError(`${cli} does not exist: run \`npm run build\` (scripts/test-e2e.sh does).`);
  if (statSync(cli).mtimeMs < newestUnder(join(root, 'src'))) {
    throw new MissingToolError(`${cli} is older than src/: run \`npm run build\` (scripts/test-e2e.sh does), or the suite would test a stale bundle.`);
  }
  return cli;
}

/** openssl answers `version` (OPENSSL overrides the binary, as in tests/helpers/tls.ts). */
export function checkOpenssl(): void {
  const openssl = process.env['OPENSSL'] ?? 'openssl';
  try {
    execFileSync(openssl, ['version'], { stdio: 'ignore', timeout: 30_000 });
  } catch (e) {
    throw new MissingToolError(`${openssl} does not run (${(e as Error).message}): the webhook's CA and certificate are made with it (apt-get install openssl).`, { cause: e });
  }
}
