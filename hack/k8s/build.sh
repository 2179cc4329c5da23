#!/usr/bin/env bash
# Build real etcd, kube-apiserver, kube-controller-manager and kubectl from the Go module proxy
# (no release downloads, no Docker) into a per-version cache outside the repo.
#
#   hack/k8s/build.sh                   build if needed; last stdout line = the bin dir
#   hack/k8s/build.sh pin K8S ETCD      re-pin the tools modules, e.g. `pin 1.37.2 3.7.3`
#                                       (regenerates hack/k8s/go.mod + hack/k8s/etcd/go.mod)
#   hack/k8s/build.sh 1.32 [pin K8S ETCD]
#                                       the same for the older minor pinned in hack/k8s/v1.32/
#                                       (go.mod + etcd/go.mod): the oldest Kubernetes the e2e
#                                       suite is run against (README, Supported Kubernetes versions)
#
# Versions are read from the pinned go.mod files (hack/k8s/go.mod: k8s.io/kubernetes,
# hack/k8s/etcd/go.mod: go.etcd.io/etcd/server/v3), so a bump is one `pin` command.
#
# Cache: ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}/k8s-v<K8S>-etcd-v<ETCD>/bin/
# The build goes into a temp dir next to it and is renamed into place only when all four
# binaries are there, so an interrupted build never leaves a half-filled cache entry.
# Env: K8S_BUILD_JOBS (go build -p, default: the number of CPUs), SOURCE_DATE_EPOCH (stamped build date).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/retry.sh
source "$HERE/../lib/retry.sh"
# shellcheck source=../lib/publish-dir.sh
source "$HERE/../lib/publish-dir.sh"
# An optional first argument 1.NN selects the module dir hack/k8s/v1.NN instead of hack/k8s.
if [[ ${1:-} =~ ^1\.[0-9]+$ ]]; then
  if [[ ${2:-} == pin ]]; then
    mkdir -p "$HERE/v$1/etcd"
  elif [[ ! -f $HERE/v$1/go.mod || ! -f $HERE/v$1/etcd/go.mod ]]; then
    pinned=$(cd "$HERE" && for d in v1.*/go.mod; do if [[ -f $d ]]; then printf "%s " "${d%/go.mod}"; fi; done)
    echo "hack/k8s/build.sh: Kubernetes $1 is not pinned (no hack/k8s/v$1/go.mod); pinned: ${pinned}and the default (no argument)" >&2
    exit 2
  fi
  HERE=$HERE/v$1
  shift
fi
export GOWORK=off CGO_ENABLED=0

T0=$(date +%s)
log() { echo "[k8s-build +$(($(date +%s) - T0))s] $*" >&2; }

# Mechanically derive the staging-module replaces from k/k's own go.mod (as served by the proxy).
pin() {
  local k8s=${1#v} etcd=${2#v} mod m v alt minor
  [[ $k8s =~ ^1\.[0-9]+\.[0-9]+$ && $etcd =~ ^3\.[0-9]+\.[0-9]+$ ]] \
    || { echo "usage: $0 pin <k8s 1.Y.Z> <etcd 3.Y.Z>" >&2; exit 2; }
  cd "$HERE"
  minor=${k8s#1.}
  minor=${minor%%.*}
  rm -f go.mod go.sum
  printf 'module image-rewriter/hack/k8s%s\n\ngo 1.26.0\n' "${HERE##*/hack/k8s}" >go.mod
  mod=$(go list -m -json "k8s.io/kubernetes@v$k8s" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  # keep k/k's godebug defaults: a dependency's godebug line is ignored, the main module's counts
  sed -n 's/^godebug /godebug /p' "$mod" >>go.mod
  for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*|\1|p' "$mod"); do
    v=v0.${k8s#1.}
    # The proxy does not serve every staging module at every patch (k8s.io/endpointslice
    # v0.32.13 is refused): take the newest patch of the same minor it does serve, and say so.
    if ! go mod download "$m@$v" >/dev/null 2>&1; then
      for alt in $(go list -m -versions "$m" | tr ' ' '\n' | grep "^v0\.${minor}\." | sort -rV); do
        go mod download "$m@$alt" >/dev/null 2>&1 && { v=$alt; break; }
      done
      if [[ $v == "v0.${k8s#1.}" ]]; then
        log "warning: the proxy serves no v0.$minor.x of $m: kept $v (the build fails only if it imports it)"
      else
        log "warning: the proxy does not serve $m@v0.${k8s#1.}: pinned $v, its newest v0.$minor.x"
      fi
    fi
    go mod edit -replace="$m=$m@$v"
  done
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$k8s" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@v$k8s" "k8s.io/kubernetes/cmd/kubectl@v$k8s"
  go mod tidy
  cd "$HERE/etcd"
  rm -f go.mod go.sum
  printf 'module image-rewriter/hack/k8s%s/etcd\n\ngo 1.26.0\n' "${HERE##*/hack/k8s}" >go.mod
  go get -tool "go.etcd.io/etcd/server/v3@v$etcd"
  go mod tidy
  log "pinned k8s v$k8s ($(grep -c ' => ' "$HERE/go.mod") staging replaces), etcd v$etcd"
}

if [[ ${1:-} == pin ]]; then
  shift
  pin "$@"
  exit 0
fi

K8S_VERSION=$(sed -n 's|^[[:space:]]*k8s.io/kubernetes v\([^ ]*\).*|\1|p' "$HERE/go.mod")
ETCD_VERSION=$(sed -n 's|^[[:space:]]*go.etcd.io/etcd/server/v3 v\([^ ]*\).*|\1|p' "$HERE/etcd/go.mod")
[[ -n $K8S_VERSION && -n $ETCD_VERSION ]] || { echo "cannot read versions from go.mod" >&2; exit 1; }

CACHE=${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
NAME=k8s-v${K8S_VERSION}-etcd-v${ETCD_VERSION}
DEST=$CACHE/$NAME
BINS=(etcd kube-apiserver kube-controller-manager kubectl)

complete() {
  local b
  for b in "${BINS[@]}"; do [[ -x $1/bin/$b ]] || return 1; done
}

if complete "$DEST"; then
  log "cached: $DEST/bin"
  echo "$DEST/bin"
  exit 0
fi

# Without Go, every step below fails with "go: command not found": say what is missing instead.
command -v go >/dev/null 2>&1 || {
  echo "hack/k8s/build.sh: $NAME is not in the cache ($DEST) and building it needs Go $(sed -n 's/^go //p' "$HERE/go.mod") or newer (https://go.dev/dl/); go is not on PATH" >&2
  exit 1
}
mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/.$NAME.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
mkdir "$TMP/bin"
JOBS=${K8S_BUILD_JOBS:-$(build_jobs)}
log "building k8s $K8S_VERSION + etcd $ETCD_VERSION into $DEST (go $(go env GOVERSION), -p $JOBS)"

MINOR=${K8S_VERSION#1.}
MINOR=${MINOR%%.*}
if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
  # GNU date reads the epoch with -d, BSD date (macOS) with -r.
  BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
else
  BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi
ldx=()
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldx+=("-X $pkg.gitVersion=v$K8S_VERSION" "-X $pkg.gitMajor=1" "-X $pkg.gitMinor=$MINOR"
    "-X $pkg.gitTreeState=clean" "-X $pkg.buildDate=$BUILD_DATE"
    "-X $pkg.gitCommit=") # the proxy does not tell the commit; blank beats "$Format:%H$"
done
COMMON=(-trimpath -pgo=off -p "$JOBS")
K8S_TAGS=selinux,notest,grpcnotrace # as upstream hack/lib/golang.sh for non-debug builds
K8S_PKGS=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kubectl)

# Download only the modules the four commands need (not the whole go.mod graph).
# Again after a failure: one proxy hiccup must not fail a cold build (hack/lib/retry.sh).
log "downloading modules"
retry_fetch k8s-build go -C "$HERE" list -tags "$K8S_TAGS" -deps "${K8S_PKGS[@]}" >/dev/null
retry_fetch k8s-build go -C "$HERE/etcd" list -deps go.etcd.io/etcd/server/v3 >/dev/null
log "modules ready"

(cd "$HERE/etcd" && go build "${COMMON[@]}" -ldflags "-s -w" -o "$TMP/bin/etcd" go.etcd.io/etcd/server/v3)
log "etcd built"

(cd "$HERE" && go build "${COMMON[@]}" -tags "$K8S_TAGS" -ldflags "-s -w ${ldx[*]}" \
  -o "$TMP/bin/" "${K8S_PKGS[@]}")
log "kube-apiserver, kube-controller-manager, kubectl built"

complete "$TMP" || { echo "build incomplete: $(ls "$TMP/bin")" >&2; exit 1; }
printf 'k8s=%s\netcd=%s\ngo=%s\nbuilt=%s\n' "$K8S_VERSION" "$ETCD_VERSION" "$(go env GOVERSION)" \
  "$BUILD_DATE" >"$TMP/BUILDINFO"
chmod 755 "$TMP" # mktemp makes it 0700

# Atomic publish. rm only an incomplete leftover; publish_dir fails instead of nesting if a
# concurrent build won the race, in which case its (complete) result is used.
if [[ -e $DEST ]] && ! complete "$DEST"; then rm -rf "$DEST"; fi
if ! publish_dir "$TMP" "$DEST"; then
  complete "$DEST" || { echo "cannot publish $DEST" >&2; exit 1; }
fi
log "done: $(du -sh "$DEST/bin" | cut -f1) in $DEST/bin"
echo "$DEST/bin"
