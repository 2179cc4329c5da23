#!/usr/bin/env bash
# npm run demo: a local Kubernetes control plane with the webhook registered, for a person to try.
#   1. hack/k8s/build.sh: etcd, kube-apiserver, kube-controller-manager, kubectl (cached after the first build)
#   2. npm run build: dist/cli.js
#   3. scripts/demo.ts (bundled by esbuild, then run by node in this process's place): starts the
#      environment of the end-to-end tests, shows nginx-gcr.yaml before/after, prints the
#      KUBECONFIG to use, and waits for Ctrl-C, which stops everything and removes the temp folder.
# Extra arguments go to scripts/demo.ts (--no-wait: tear down right after the before/after).
# IMAGE_REWRITER_K8S_VERSION=1.32: the older Kubernetes pinned in hack/k8s/v1.32 instead of the default.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

k8s_version=${IMAGE_REWRITER_K8S_VERSION:-}
bin="$(hack/k8s/build.sh ${k8s_version:+"$k8s_version"} | tail -n1)" || { echo "demo: hack/k8s/build.sh could not build the Kubernetes binaries" >&2; exit 1; }
npm run --silent build
out=node_modules/.cache/image-rewriter/demo.mjs
node_modules/.bin/esbuild scripts/demo.ts --bundle --platform=node --target=node20 --format=esm \
  --packages=external --sourcemap=inline --log-level=warning --outfile="$out"
export IMAGE_REWRITER_K8S_BIN="$bin"
# exec: node gets Ctrl-C itself (no wrapper process in between that would die first).
exec node "$out" "$@"
