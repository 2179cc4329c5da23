#!/usr/bin/env bash
# Regenerate hack/python/requirements.txt from requirements.in: every resolved package pinned by version and by
# the sha256 of each file PyPI holds for that version (setup-venv.sh installs with --require-hashes).
# Usage: hack/python/lock.sh [scanners] [--upgrade]
#   scanners: scanners.txt from scanners.in instead (checkov, parliament: their own venv, setup-venv.sh scanners).
#   without --upgrade the pins already in requirements.txt are kept (only what an edit of requirements.in
#   forces moves, and hashes are (re)generated); --upgrade moves everything to its newest allowed version.
# pip-tools (pip-compile) runs from a throwaway venv under ${TMPDIR:-/tmp}, installed by hash from lock-tools.txt.
# Env: PYTHON (default python3; must be 3.11: environment markers resolve for the interpreter that runs this).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
set_name=requirements
if [[ "${1:-}" == scanners ]]; then set_name=scanners; shift; fi

pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$pyver" != "3.11" ]]; then
  echo "lock: $py is Python $pyver; the tools venv runs 3.11, resolve with it (PYTHON=python3.11)" >&2
  exit 1
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/image-rewriter-lock.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
"$py" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
  --require-hashes --only-binary :all: -r "$here/lock-tools.txt" >&2

# pip-compile reads the pins to keep from its output file: give it a copy, so a failed run leaves
# requirements.txt as it was. --allow-unsafe: aws-lambda-builders requires setuptools, which must be pinned
# and hashed too. No find-links or index URL of this machine goes into the file, and no local wheel
# directory (PIP_FIND_LINKS) adds the hash of a file PyPI does not serve.
if [[ -f "$here/$set_name.txt" ]]; then cp "$here/$set_name.txt" "$scratch/requirements.txt"; fi
(cd "$here" && env -u PIP_FIND_LINKS "$scratch/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
  --no-header --no-emit-find-links --no-emit-index-url --no-emit-trusted-host \
  --output-file "$scratch/requirements.txt" "$@" "$set_name.in")

if [[ "$set_name" == scanners ]]; then
  {
    cat <<'EOF'
# The security scanners scripts/test-scanners.sh runs (Python 3.11), in a venv of their own. Installed by
# hack/python/setup-venv.sh scanners with pip install --require-hashes --only-binary :all: --no-deps.
# Top-level tools: scanners.in (checkov, parliament); everything below is their resolved dependency set.
# Generated: do not edit; edit scanners.in and run hack/python/lock.sh scanners [--upgrade].
EOF
    cat "$scratch/requirements.txt"
  } >"$here/scanners.txt"
  echo "lock: wrote $here/scanners.txt" >&2
  exit 0
fi

{
  cat <<'EOF'
# Python test tooling for image-rewriter (Python 3.11). Installed by hack/python/setup-venv.sh with
# pip install --require-hashes --only-binary :all: --no-deps (a file whose sha256 is not listed here is refused).
# Top-level tools: requirements.in (aws-sam-cli, cfn-lint, moto[server,ssm,secretsmanager]); everything below
# is their resolved dependency set. Generated: do not edit; edit requirements.in and run
#   hack/python/lock.sh              keep today's pins, re-resolve what requirements.in changed, (re)hash
#   hack/python/lock.sh --upgrade    every package to its newest allowed version
EOF
  cat "$scratch/requirements.txt"
} >"$here/requirements.txt"
echo "lock: wrote $here/requirements.txt" >&2
