#!/usr/bin/env bash
# Build real Helm 3 and Helm 4 from the Go module proxy (no release downloads) into a per-version
# cache outside the repo, like hack/k8s/build.sh. Used by the Helm post-renderer tests.
#
#   hack/helm/build.sh 3|4              build if needed; last stdout line = the helm binary
#   hack/helm/build.sh pin 3|4 VERSION  re-pin hack/helm/v<N>/go.mod, e.g. `pin 4 4.3.2`
#
# Versions come from the pinned go.mod files (hack/helm/v3/go.mod: helm.sh/helm/v3,
# hack/helm/v4/go.mod: helm.sh/helm/v4), so a bump is one `pin` command.
# Built with the ldflags of Helm's release Makefile that matter here: the version `helm version`
# prints, and for Helm 3 the default Kubernetes version (`helm template` and `helm lint` without
# --kube-version, checked against a chart's kubeVersion): without them Helm 3 says v1.20.0. Helm 4
# reads it from the client-go in its build info, with no flag.
# Cache: ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}/helm-v<VERSION>-<HASH>/bin/helm,
# HASH of this script and the go.mod and go.sum (a change of the flags builds anew), built in a
# temp dir and renamed into place only when complete.
# Env: HELM_BUILD_JOBS (go build -p, default: the number of CPUs).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/retry.sh
source "$HERE/../lib/retry.sh"
# shellcheck source=../lib/publish-dir.sh
source "$HERE/../lib/publish-dir.sh"
export GOWORK=off CGO_ENABLED=0

T0=$(date +%s)
log() { echo "[helm-build +$(($(date +%s) - T0))s] $*" >&2; }
usage() { echo "usage: $0 3|4  or  $0 pin 3|4 VERSION" >&2; exit 2; }

if [[ ${1:-} == pin ]]; then
  major=${2:-}; version=${3#v}
  [[ ($major == 3 || $major == 4) && $version =~ ^$major\.[0-9]+\.[0-9]+$ ]] || usage
  cd "$HERE/v$major"
  rm -f go.mod go.sum
  printf 'module image-rewriter/hack/helm/v%s\n\ngo 1.26.0\n' "$major" >go.mod
  go get -tool "helm.sh/helm/v$major/cmd/helm@v$version"
  go mod tidy
  log "pinned helm v$version"
  exit 0
fi

MAJOR=${1:-}
[[ $MAJOR == 3 || $MAJOR == 4 ]] || usage
MOD=$HERE/v$MAJOR
VERSION=$(sed -n "s|^[[:space:]]*helm.sh/helm/v$MAJOR v\([^ ]*\).*|\1|p" "$MOD/go.mod" | head -n1)
[[ -n $VERSION ]] || { echo "cannot read the helm version from $MOD/go.mod" >&2; exit 1; }

CACHE=${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
# cksum: POSIX, so on macOS too.
HASH=$(cat "$HERE/build.sh" "$MOD/go.mod" "$MOD/go.sum" | cksum | cut -d' ' -f1)
NAME=helm-v$VERSION-$HASH
DEST=$CACHE/$NAME
if [[ -x $DEST/bin/helm ]]; then
  log "cached: $DEST/bin/helm"
  echo "$DEST/bin/helm"
  exit 0
fi

mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/.$NAME.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
mkdir "$TMP/bin"
JOBS=${HELM_BUILD_JOBS:-$(build_jobs)}
log "building helm $VERSION into $DEST (go $(go env GOVERSION), -p $JOBS)"
# The modules first, again after a failure (hack/lib/retry.sh); the build then reads them offline.
retry_fetch helm-build go -C "$MOD" list -deps "helm.sh/helm/v$MAJOR/cmd/helm" >/dev/null
# helm's Makefile stamps internal/version.version the same way (a release's: its tag, no metadata).
LDFLAGS="-s -w -X helm.sh/helm/v$MAJOR/internal/version.version=v$VERSION"
# Helm 3's Makefile: the default Kubernetes version is client-go's v0.MINOR.PATCH as 1.MINOR.
CLIENT_GO=$(go -C "$MOD" list -m -f '{{.Version}}' k8s.io/client-go)
[[ $CLIENT_GO =~ ^v([0-9]+)\.([0-9]+)\. ]] || { echo "cannot read the k8s.io/client-go version of $MOD (got '$CLIENT_GO')" >&2; exit 1; }
KUBE="$((BASH_REMATCH[1] + 1)).${BASH_REMATCH[2]}"
if [[ $MAJOR == 3 ]]; then
  for pkg in pkg/lint/rules pkg/chartutil; do
    LDFLAGS+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=${KUBE%.*} -X helm.sh/helm/v3/$pkg.k8sVersionMinor=${KUBE#*.}"
  done
fi
(cd "$MOD" && go build -trimpath -pgo=off -p "$JOBS" -ldflags "$LDFLAGS" \
  -o "$TMP/bin/helm" "helm.sh/helm/v$MAJOR/cmd/helm")
"$TMP/bin/helm" version >/dev/null || { echo "the built helm does not run" >&2; exit 1; }
printf 'helm=%s\ngo=%s\nkubernetes=%s\n' "$VERSION" "$(go env GOVERSION)" "$KUBE" >"$TMP/BUILDINFO"
chmod 755 "$TMP"
if [[ -e $DEST && ! -x $DEST/bin/helm ]]; then rm -rf "$DEST"; fi
if ! publish_dir "$TMP" "$DEST"; then
  [[ -x $DEST/bin/helm ]] || { echo "cannot publish $DEST" >&2; exit 1; }
fi
log "done: $(du -sh "$DEST/bin/helm" | cut -f1)"
echo "$DEST/bin/helm"
