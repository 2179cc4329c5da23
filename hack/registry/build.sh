#!/usr/bin/env bash
# Build the CNCF Distribution registry (github.com/distribution/distribution/v3/cmd/registry) from
# the Go module proxy, for the tests that need a real OCI registry (tests/helpers/registry.ts).
# The version is the one pinned in hack/registry/go.mod (tool directive); bump it with
#   cd hack/registry && go get -tool github.com/distribution/distribution/v3/cmd/registry@vX.Y.Z && go mod tidy
# Output: <cache>/registry-<version>/registry ; the path is printed as the LAST stdout line.
# Progress goes to stderr. Skips the build when the binary already exists.
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod=github.com/distribution/distribution/v3
pkg=$mod/cmd/registry
cache="${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}"

export GOWORK=off GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

# Version from go.mod without invoking the network (go.mod is the source of truth).
version="$(awk -v m="$mod" '$1==m {print $2; exit}' "$here/go.mod")"
if [[ -z "$version" ]]; then
  echo "build-registry: cannot find $mod in $here/go.mod" >&2
  exit 1
fi

dir="$cache/registry-$version"
bin="$dir/registry"
if [[ -x "$bin" ]]; then
  echo "build-registry: present: $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$dir"
tmp="$(mktemp "$dir/.registry.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
echo "build-registry: building $pkg@$version -> $bin" >&2
start=$SECONDS
(
  cd "$here"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp" "$pkg"
) >&2
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"   # atomic rename within the same directory
trap - EXIT
echo "build-registry: built in $((SECONDS - start))s" >&2
echo "$bin"
