# shellcheck shell=bash
# Sourced by hack/k8s/build.sh and hack/helm/build.sh: put a finished tree in its place in the tool
# cache, and the number of build jobs, on Linux and on macOS alike (GNU `mv -T` and `nproc` are not
# there: BSD mv has no -T, and moves a directory INTO an existing one).
#
#   publish_dir TMP DEST   renames TMP to DEST (one rename within the cache); non-zero, with DEST as
#                          it was, when DEST exists already (a concurrent build that won the race:
#                          the caller then uses its result, and its EXIT trap removes TMP)
#   build_jobs             prints the number of CPUs (go build -p)

publish_dir() {
  local tmp=$1 dest=$2
  [[ ! -e $dest ]] || return 1
  mv "$tmp" "$dest" || return 1
  # DEST appeared between the check and the rename: mv moved TMP into it. Take it out again.
  if [[ -e $dest/${tmp##*/} ]]; then
    rm -rf "${dest:?}/${tmp##*/}"
    return 1
  fi
}

build_jobs() {
  nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
}
