# shellcheck shell=bash
# Sourced by the tool builds (hack/lib/go-build.sh, hack/k8s/build.sh, hack/helm/build.sh) and by
# .ci/run (apt-get, npm ci): a step that fetches from the network, run again after a failure, so
# that one hiccup of a mirror or of the Go module proxy (a 502, a reset connection, a name that did
# not resolve, apt's lock held by another apt) does not fail a cold CI run that has built for half
# an hour. What a failed go run fetched stays in Go's module cache.
#
#   retry_fetch LABEL CMD...   runs CMD up to 3 times, 15 s then 45 s apart; non-zero when the
#                              last run fails. Progress goes to stderr prefixed with "LABEL: ".

retry_fetch() {
  local label=$1 attempt=1
  local delays=(15 45)
  shift
  until "$@"; do
    if ((attempt > ${#delays[@]})); then
      echo "$label: failed $attempt times, giving up: $*" >&2
      return 1
    fi
    echo "$label: failed (attempt $attempt of $((${#delays[@]} + 1))), again in ${delays[attempt - 1]} s: $*" >&2
    sleep "${delays[attempt - 1]}"
    attempt=$((attempt + 1))
  done
}
