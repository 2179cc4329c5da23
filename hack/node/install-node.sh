#!/usr/bin/env bash
# Install the Node.js the Lambda function runs on (template.yaml's Runtime, nodejs24.x) OUTSIDE the
# project, for the tests that run the bundle as Lambda does: the handler under the Runtime Interface
# Emulator, the SAM build's artifact, the container image's command line. The tools and the other
# tests run on the local Node.js (20.19 or newer), which is not the one Lambda gives the function.
#
# The binary is the Node.js project's Linux build as the npm registry carries it, in the package
# node-linux-<arch> (what npm's `node` package installs): the only channel this workplace reaches
# besides the package registries. hack/node/node.lock pins the version and each architecture's
# package integrity; a tarball whose sha512 differs is refused.
#
# Output: <cache>/node-v<version>-linux-<arch>/bin/node, printed as the LAST stdout line; progress on
# stderr. Reused when present (its stamp holds the integrity it was unpacked from); else fetched with
# `npm pack` into a temporary directory beside it and renamed into place; flock-guarded.
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lock="$here/node.lock"
# shellcheck source=../lib/cache-install.sh
source "$here/../lib/cache-install.sh"

for tool in node npm tar flock; do
  command -v "$tool" >/dev/null || { echo "install-node: $tool is required" >&2; exit 1; }
done

case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-node: no Node.js build pinned for $(uname -m) (hack/node/node.lock has x64 and arm64)" >&2; exit 1 ;;
esac
version="$(awk '$1 == "version" { print $2 }' "$lock")"
integrity="$(awk -v a="$arch" '$1 == a { print $2 }' "$lock")"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ || "$integrity" != sha512-* ]]; then
  echo "install-node: $lock must give 'version X.Y.Z' and '$arch sha512-...' (got '$version', '$integrity')" >&2
  exit 1
fi
dir="$cache/node-v$version-linux-$arch"
stamp="$dir/.image-rewriter-integrity"

present() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$integrity" && -x "$dir/bin/node" ]]
}

cache_lock "node-v$version-linux-$arch"

if present; then
  echo "install-node: present: $dir" >&2
  echo "$dir/bin/node"
  exit 0
fi

cache_new "node-v$version-linux-$arch"
tmp="$cache_tmp"
echo "install-node: npm pack node-linux-$arch@$version" >&2
(cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
tarball="$tmp/node-linux-$arch-$version.tgz"
got="sha512-$(node -e 'process.stdout.write(require("node:crypto").createHash("sha512").update(require("node:fs").readFileSync(process.argv[1])).digest("base64"))' "$tarball")"
if [[ "$got" != "$integrity" ]]; then
  echo "install-node: node-linux-$arch-$version.tgz has integrity $got, hack/node/node.lock pins $integrity: refused" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp" --strip-components=1 package/bin/node package/LICENSE
rm "$tarball"
actual="$("$tmp/bin/node" --version)"
if [[ "$actual" != "v$version" ]]; then
  echo "install-node: the unpacked binary says $actual, not v$version" >&2
  exit 1
fi
echo "$integrity" >"$tmp/.image-rewriter-integrity"
cache_swap_in "$dir"
echo "install-node: installed $dir" >&2
echo "$dir/bin/node"
