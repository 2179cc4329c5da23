#!/usr/bin/env bash
# Build the reference oracle (hack/reference-oracle/main.go: what Go's distribution/reference
# v0.6.0, the kubelet's and containerd's parser, and CRI-O's fork make of each input) from the Go
# module proxy, for tests/integration/reference-oracle.integration.ts. The versions are pinned in
# hack/reference-oracle/go.mod; the build is keyed by distribution/reference's version and a hash
# of the program's source, so an edit of main.go builds it again.
# Output: <cache>/reference-oracle-<version>-<hash>/reference-oracle ; the path is the LAST stdout line.
# Progress goes to stderr. Skips the build when the binary already exists (hack/lib/go-build.sh).
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-build.sh
source "$here/../lib/go-build.sh"

mod=github.com/distribution/reference
version="$(awk -v m="$mod" '$1==m {print $2; exit}' "$here/go.mod")"
hash="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)"
go_build_cached build-reference-oracle "$here" "$mod" . reference-oracle reference-oracle "$version-$hash"
