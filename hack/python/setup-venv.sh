#!/usr/bin/env bash
# Create (or reuse) the Python tools venv (aws-sam-cli, cfn-lint, moto server) from hack/python/requirements.txt,
# installed by hash (pip --require-hashes).
# Location: <cache>/venv-<hash>, hash = sha256(requirements.txt + python major.minor), first 16 hex chars.
# `setup-venv.sh scanners`: the security scanners of scanners.txt (checkov, parliament) instead, in
# <cache>/scanners-venv-<hash> (hash of scanners.txt the same way): a venv of their own.
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
# Prints the venv path as the LAST stdout line; progress on stderr.
# Env: PYTHON (default python3; must be 3.11 for the pinned set).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
prefix=venv
if [[ "${1:-}" == scanners ]]; then req="$here/scanners.txt"; prefix=scanners-venv; fi
py="${PYTHON:-python3}"
cache="${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}"

pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$pyver" != "3.11" ]]; then
  echo "setup-venv: warning: $py is Python $pyver; requirements.txt was resolved on 3.11" >&2
fi
hash="$( { cat "$req"; echo "python=$pyver"; } | sha256sum | cut -c1-16)"
venv="$cache/$prefix-$hash"
marker="$venv/.image-rewriter-complete"

mkdir -p "$cache"
# Serialise concurrent callers (CI steps, parallel shells) on the same venv.
exec 9>"$cache/.$prefix-$hash.lock"
flock 9

if [[ -f "$marker" ]]; then
  echo "setup-venv: reusing $venv" >&2
  echo "$venv"
  exit 0
fi

# A venv is not relocatable (absolute shebangs), so build it in place and mark it complete at the
# end; a half-built venv (no marker) is removed and rebuilt.
rm -rf "$venv"
echo "setup-venv: creating $venv (python $pyver)" >&2
start=$SECONDS
"$py" -m venv "$venv" >&2
# Every file must match a sha256 in requirements.txt (hack/python/lock.sh writes them), so a re-uploaded or
# substituted artifact fails the build instead of being installed; wheels only, so no sdist's build code runs.
# --no-deps: the file is the whole resolved set (pip check below proves it), and the venv's pip 23.2 would
# otherwise refuse a dependency asked for with extras (aws-sam-cli's boto3-stubs[...]>=1.41.0) as unpinned.
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
  --require-hashes --only-binary :all: --no-deps -r "$req" >&2
"$venv/bin/python" -m pip check >&2
touch "$marker"
echo "setup-venv: done in $((SECONDS - start))s" >&2
echo "$venv"
