#!/usr/bin/env bash
# Install the AWS Lambda Node.js runtime interface client (npm aws-lambda-ric, pinned with its whole
# dependency tree by hack/lambda/ric/package-lock.json) OUTSIDE the project: only the emulator tests
# need it, and its install builds curl, aws-lambda-cpp and a native addon from source (1-4 minutes;
# needs cmake, make, g++, python3).
#
# Output: <cache>/ric-<version>/ (an npm project: node_modules/aws-lambda-ric/index.mjs is the
# runtime's bootstrap). The directory is printed as the LAST stdout line; progress goes to stderr.
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
#
# Reused when present and built from the same package.json + package-lock.json (their sha256 is kept
# in <dir>/.image-rewriter-lock-sha256); otherwise rebuilt with `npm ci` in a temporary directory
# beside it and swapped in by rename, so a reader never sees a half-installed tree. Concurrent
# callers are serialised with flock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/ric"
# shellcheck source=../lib/cache-install.sh
source "$here/../lib/cache-install.sh"

for tool in node npm sha256sum flock; do
  command -v "$tool" >/dev/null || { echo "install-ric: $tool is required" >&2; exit 1; }
done

version="$(node -p 'require(process.argv[1]).dependencies["aws-lambda-ric"]' "$src/package.json")"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "install-ric: $src/package.json must pin aws-lambda-ric to an exact version (got '$version')" >&2
  exit 1
fi
hash="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
dir="$cache/ric-$version"
stamp="$dir/.image-rewriter-lock-sha256"
addon="$dir/node_modules/aws-lambda-ric/rapid-client.node"

present() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" && -f "$addon" && -f "$dir/node_modules/aws-lambda-ric/index.mjs" ]]
}

cache_lock "ric-$version"

if present; then
  echo "install-ric: present: $dir" >&2
  echo "$dir"
  exit 0
fi

cache_new "ric-$version"
tmp="$cache_tmp"
cp "$src/package.json" "$src/package-lock.json" "$tmp/"
echo "install-ric: npm ci aws-lambda-ric@$version in $tmp (native build, 1-4 minutes)" >&2
start=$SECONDS
# npm warns EBADENGINE on Node 20 (the package declares node >=22); it works there. The package's
# install scripts run because package.json's allowScripts approves them.
(cd "$tmp" && npm ci --no-audit --no-fund --loglevel=warn) >&2
if [[ ! -f "$tmp/node_modules/aws-lambda-ric/rapid-client.node" ]]; then
  echo "install-ric: npm ci finished but rapid-client.node was not built (were install scripts skipped?)" >&2
  exit 1
fi
echo "$hash" >"$tmp/.image-rewriter-lock-sha256"

cache_swap_in "$dir"
echo "install-ric: installed in $((SECONDS - start))s: $dir" >&2
echo "$dir"
