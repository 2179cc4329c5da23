#!/usr/bin/env bash
# Build the AWS Lambda Runtime Interface Emulator (aws-lambda-rie) from the Go module proxy.
# The version is the one pinned in hack/lambda/go.mod (tool directive).
# Output: <cache>/rie-<version>/aws-lambda-rie ; the path is printed as the LAST stdout line.
# Progress goes to stderr. Skips the build when the binary already exists.
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod=github.com/aws/aws-lambda-runtime-interface-emulator
pkg=$mod/cmd/aws-lambda-rie
cache="${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}"

export GOWORK=off GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

# Version from go.mod without invoking the network (go.mod is the source of truth).
version="$(awk -v m="$mod" '$1==m {print $2; exit}' "$here/go.mod")"
if [[ -z "$version" ]]; then
  echo "build-rie: cannot find $mod in $here/go.mod" >&2
  exit 1
fi

dir="$cache/rie-$version"
bin="$dir/aws-lambda-rie"
if [[ -x "$bin" ]]; then
  echo "build-rie: present: $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$dir"
tmp="$(mktemp "$dir/.aws-lambda-rie.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
echo "build-rie: building $pkg@$version -> $bin" >&2
start=$SECONDS
(
  cd "$here"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp" "$pkg"
) >&2
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"   # atomic rename within the same directory
trap - EXIT
echo "build-rie: built in $((SECONDS - start))s" >&2
echo "$bin"
