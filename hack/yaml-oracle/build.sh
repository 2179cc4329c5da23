#!/usr/bin/env bash
# Build the YAML oracle (hack/yaml-oracle/main.go: what kubectl's YAML reader, sigs.k8s.io/yaml,
# makes of each document) from the Go module proxy, for tests/integration/yaml-oracle.integration.ts.
# The versions are pinned in hack/yaml-oracle/go.mod; the build is keyed by sigs.k8s.io/yaml's
# version and a hash of the program's source, so an edit of main.go builds it again.
# Output: <cache>/yaml-oracle-<version>-<hash>/yaml-oracle ; the path is the LAST stdout line.
# Progress goes to stderr. Skips the build when the binary already exists (hack/lib/go-build.sh).
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-build.sh
source "$here/../lib/go-build.sh"

mod=sigs.k8s.io/yaml
# (`go mod tidy` writes a single requirement on one line: `require MODULE VERSION`)
version="$(awk -v m="$mod" '$1==m {print $2; exit} $1=="require" && $2==m {print $3; exit}' "$here/go.mod")"
hash="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)"
go_build_cached build-yaml-oracle "$here" "$mod" . yaml-oracle yaml-oracle "$version-$hash"
