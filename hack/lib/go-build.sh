# shellcheck shell=bash
# Sourced by hack/registry/build.sh and hack/lambda/build-rie.sh: build one Go command, pinned in the
# caller's go.mod (tool directive), from the Go module proxy into the tool cache, once.
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
#
# go_build_cached LABEL DIR MODULE PACKAGE NAME BIN [VERSION]
#   builds PACKAGE (of MODULE, whose version is read from DIR/go.mod) to <cache>/NAME-<version>/BIN,
#   unless that binary is already there; the path is printed as the LAST stdout line, progress goes
#   to stderr prefixed with "LABEL: ". Non-zero when the version or the build fails.
#   VERSION, when given, is used instead of MODULE's (a program of DIR itself: its source's hash).

export GOWORK=off GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
# shellcheck source=retry.sh
source "$(dirname "${BASH_SOURCE[0]}")/retry.sh"

go_build_cached() {
  local label=$1 here=$2 mod=$3 pkg=$4 name=$5 binname=$6 version=${7:-}
  local cache="${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}"

  # Version from go.mod without invoking the network (go.mod is the source of truth).
  [[ -n "$version" ]] || version="$(awk -v m="$mod" '$1==m {print $2; exit}' "$here/go.mod")"
  if [[ -z "$version" ]]; then
    echo "$label: cannot find $mod in $here/go.mod" >&2
    return 1
  fi

  local dir="$cache/$name-$version"
  local bin="$dir/$binname"
  if [[ -x "$bin" ]]; then
    echo "$label: present: $bin" >&2
    echo "$bin"
    return 0
  fi

  if ! command -v go >/dev/null 2>&1; then
    echo "$label: $bin is not built yet and building it needs Go $(sed -n 's/^go //p' "$here/go.mod") or newer (https://go.dev/dl/); go is not on PATH" >&2
    return 1
  fi
  mkdir -p "$dir"
  # Global, not local: the EXIT trap may run after this function has returned (set -e in the caller).
  go_build_tmp="$(mktemp "$dir/.$binname.XXXXXX")"
  trap 'rm -f "$go_build_tmp"' EXIT
  echo "$label: building $pkg@$version -> $bin" >&2
  local start=$SECONDS
  # The modules first, again after a failure (hack/lib/retry.sh); the build then reads them offline.
  retry_fetch "$label" go -C "$here" list -deps "$pkg" >/dev/null
  (
    cd "$here" || exit 1
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$go_build_tmp" "$pkg"
  ) >&2
  chmod 0755 "$go_build_tmp"
  mv -f "$go_build_tmp" "$bin"   # atomic rename within the same directory
  trap - EXIT
  echo "$label: built in $((SECONDS - start))s" >&2
  echo "$bin"
}
