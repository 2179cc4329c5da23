# shellcheck shell=bash
# Sourced by hack/lambda/install-ric.sh and hack/node/install-node.sh: a tree installed into the
# tool cache once, under a lock, made in a temporary directory beside its place and renamed into it,
# so that a reader never sees a half-made tree and concurrent installers wait for each other.
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
#
#   cache_lock NAME        creates the cache and holds <cache>/.NAME.lock (fd 9) until the script exits
#   cache_new NAME         sets cache_tmp to a new directory <cache>/.NAME.new.XXXXXX (0755), removed
#                          when the script exits unless cache_swap_in moved it
#   cache_swap_in DIR      puts cache_tmp at DIR (a stale DIR is moved aside first, removed at exit)

cache="${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}"
cache_tmp=""
cache_old=""

cache_lock() {
  mkdir -p "$cache"
  exec 9>"$cache/.$1.lock"
  flock 9
}

cache_new() {
  cache_tmp="$(mktemp -d "$cache/.$1.new.XXXXXX")"
  chmod 0755 "$cache_tmp"   # mktemp -d makes it 0700; the tree is shared like the other cache entries
  cache_old="$cache/.$1.old.$$"
  trap 'rm -rf "$cache_tmp" "$cache_old"' EXIT
}

cache_swap_in() {
  # rename is atomic within the cache
  if [[ -e "$1" ]]; then mv "$1" "$cache_old"; fi
  mv "$cache_tmp" "$1"
}
