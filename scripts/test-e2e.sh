#!/usr/bin/env bash
# End-to-end tests (npm run test:e2e): the webhook against a real kube-apiserver.
#   1. hack/k8s/build.sh: etcd, kube-apiserver, kube-controller-manager and kubectl built from the
#      Go module proxy into the cache (cold: about 35 min on a loaded 2-core machine; cached: instant)
#   2. hack/registry/build.sh: the Distribution registry (verify scenarios); hack/helm/build.sh 3|4:
#      Helm 3 and 4 (the chart scenarios); hack/gitops-oracle/build.sh: Argo CD's and Flux's diff
#      code (the GitOps scenarios); hack/node/install-node.sh:
#      the Node.js of the container image, which `serve` runs on; npm run build: dist/cli.js
#   3. jest with jest.e2e.config.js: globalSetup starts etcd, kube-apiserver,
#      kube-controller-manager and serve and registers the webhook; the scenarios run; the
#      teardown stops everything and prints the timings.
# Extra arguments go to jest (e.g. -t 'dry-run'). A missing tool fails the run; nothing is skipped.
# IMAGE_REWRITER_K8S_VERSION=1.32 runs it against the older minor pinned in hack/k8s/v1.32 (README,
# Supported Kubernetes versions); unset, against the default (hack/k8s/go.mod).
# IMAGE_REWRITER_E2E_KEEP=1 keeps the run folder (logs, certificates, kubeconfig) for a post-mortem.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
step() { echo "test-e2e: $*" >&2; }
fail() { echo "test-e2e: FAILED: $*" >&2; exit 1; }

for tool in node openssl; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not on PATH (node runs the suite and serve, openssl makes the webhook's CA)"
done

t0=$(now)
t=$(now)
k8s_version=${IMAGE_REWRITER_K8S_VERSION:-}
if ! bin="$(hack/k8s/build.sh ${k8s_version:+"$k8s_version"} | tail -n1)"; then
  command -v go >/dev/null 2>&1 || fail "the Kubernetes binaries are not cached yet and building them needs Go (1.26), which is not on PATH"
  fail "hack/k8s/build.sh could not build the Kubernetes binaries (its log is above)"
fi
k8s_s=$(since "$t")
for b in etcd kube-apiserver kube-controller-manager kubectl; do
  [[ -x $bin/$b ]] || fail "hack/k8s/build.sh printed $bin, which has no executable $b"
done
step "hack/k8s/build.sh: $bin (${k8s_s}s)"

t=$(now)
registry="$(hack/registry/build.sh | tail -n1)" || fail "hack/registry/build.sh could not build the Distribution registry (its log is above)"
registry_s=$(since "$t")
step "hack/registry/build.sh: $registry (${registry_s}s)"
export IMAGE_REWRITER_REGISTRY="$registry"

t=$(now)
# Helm 3 and Helm 4 (tests/e2e/chart.e2e.ts installs deploy/chart/image-rewriter with both): cached
# by the integration tests' build, about 5 min each cold.
helm3="$(hack/helm/build.sh 3 | tail -n1)" || fail "hack/helm/build.sh 3 could not build Helm 3 (its log is above)"
step "hack/helm/build.sh 3: $helm3 ($(since "$t")s)"
t=$(now)
helm4="$(hack/helm/build.sh 4 | tail -n1)" || fail "hack/helm/build.sh 4 could not build Helm 4 (its log is above)"
step "hack/helm/build.sh 4: $helm4 ($(since "$t")s)"
export IMAGE_REWRITER_HELM3="$helm3" IMAGE_REWRITER_HELM4="$helm4"

t=$(now)
# Argo CD's diff and sync code and Flux's ssa (tests/e2e/gitops.e2e.ts, docs/gitops.md): about 9 min cold.
gitops_oracle="$(hack/gitops-oracle/build.sh | tail -n1)" || fail "hack/gitops-oracle/build.sh could not build the GitOps oracle (its log is above)"
step "hack/gitops-oracle/build.sh: $gitops_oracle ($(since "$t")s)"
export IMAGE_REWRITER_GITOPS_ORACLE="$gitops_oracle"

t=$(now)
npm run --silent build || fail "npm run build"
build_s=$(since "$t")
step "npm run build (${build_s}s)"

t=$(now)
# `serve` runs on the Node.js of the container image (Dockerfile's base, the Lambda runtime's major:
# tests/integration/container-image.integration.ts holds them together), not the local one.
lambda_node="$(hack/node/install-node.sh | tail -n1)" || fail "hack/node/install-node.sh could not install the Node.js of the image (its log is above)"
image_major="$(sed -n 's#^FROM gcr.io/distroless/nodejs\([0-9]*\)-.*#\1#p' Dockerfile)"
[[ "$("$lambda_node" --version)" == "v$image_major."* ]] || fail "$lambda_node is Node.js $("$lambda_node" --version), the Dockerfile's image runs Node.js $image_major"
step "hack/node/install-node.sh: $lambda_node ($(since "$t")s)"
export IMAGE_REWRITER_LAMBDA_NODE="$lambda_node"

export IMAGE_REWRITER_K8S_BIN="$bin"
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-vm-modules"
t=$(now)
rc=0
node_modules/.bin/jest --config jest.e2e.config.js --runInBand "$@" || rc=$?
jest_s=$(since "$t")
step "timings: hack/k8s/build.sh ${k8s_s}s, npm run build ${build_s}s, jest ${jest_s}s, total $(since "$t0")s"
exit "$rc"
