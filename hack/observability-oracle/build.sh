#!/usr/bin/env bash
# Build the observability oracle (hack/observability-oracle/main.go: Prometheus' expfmt parser and
# client_golang's promlint on serve's /metrics, Go's encoding/json/v2 on the log lines) from the Go
# module proxy, for tests/integration/observability-oracle.integration.ts. The versions are pinned
# in hack/observability-oracle/go.mod; the build is keyed by client_golang's version and a hash of
# the program's source, so an edit of main.go builds it again. encoding/json/v2 needs
# GOEXPERIMENT=jsonv2 (Go 1.25 and 1.26).
# Output: <cache>/observability-oracle-<version>-<hash>/observability-oracle ; the path is the LAST
# stdout line. Progress goes to stderr. Skips the build when the binary already exists (hack/lib/go-build.sh).
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-build.sh
source "$here/../lib/go-build.sh"
export GOEXPERIMENT=jsonv2

mod=github.com/prometheus/client_golang
version="$(awk -v m="$mod" '$1==m {print $2; exit} $1=="require" && $2==m {print $3; exit}' "$here/go.mod")"
hash="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)"
go_build_cached build-observability-oracle "$here" "$mod" . observability-oracle observability-oracle "$version-$hash"
