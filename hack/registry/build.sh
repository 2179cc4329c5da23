#!/usr/bin/env bash
# Build the CNCF Distribution registry (github.com/distribution/distribution/v3/cmd/registry) from
# the Go module proxy, for the tests that need a real OCI registry (tests/helpers/registry.ts).
# The version is the one pinned in hack/registry/go.mod (tool directive); bump it with
#   cd hack/registry && go get -tool github.com/distribution/distribution/v3/cmd/registry@vX.Y.Z && go mod tidy
# Output: <cache>/registry-<version>/registry ; the path is printed as the LAST stdout line.
# Progress goes to stderr. Skips the build when the binary already exists (hack/lib/go-build.sh).
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-build.sh
source "$here/../lib/go-build.sh"

mod=github.com/distribution/distribution/v3
go_build_cached build-registry "$here" "$mod" "$mod/cmd/registry" registry registry
