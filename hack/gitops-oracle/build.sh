#!/usr/bin/env bash
# Build the GitOps oracle (hack/gitops-oracle/main.go: Argo CD's diff and sync code, from
# github.com/argoproj/argo-cd/v3 and its gitops-engine, and Flux's fluxcd/pkg/ssa ResourceManager)
# from the Go module proxy, for tests/e2e/gitops.e2e.ts (docs/gitops.md). The versions are pinned
# in hack/gitops-oracle/go.mod, with the k8s.io staging replaces of hack/k8s/go.mod (Argo CD
# imports k8s.io/kubernetes); the build is keyed by Argo CD's version and a hash of go.mod, go.sum
# and main.go. Argo CD 3.6 needs Go 1.27: the go command takes go1.27.3 from the module proxy
# (GOTOOLCHAIN, this build only). Cold: about 9 min on a loaded 2-core machine.
# Output: <cache>/gitops-oracle-<version>-<hash>/gitops-oracle ; the path is the LAST stdout line.
# Progress goes to stderr. Skips the build when the binary already exists (hack/lib/go-build.sh).
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=go1.27.3
# shellcheck source=../lib/go-build.sh
source "$here/../lib/go-build.sh"

mod=github.com/argoproj/argo-cd/v3
version="$(awk -v m="$mod" '$1==m {print $2; exit} $1=="require" && $2==m {print $3; exit}' "$here/go.mod")"
hash="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)"
go_build_cached build-gitops-oracle "$here" "$mod" . gitops-oracle gitops-oracle "$version-$hash"
