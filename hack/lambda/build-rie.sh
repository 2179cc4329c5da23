#!/usr/bin/env bash
# Build the AWS Lambda Runtime Interface Emulator (aws-lambda-rie) from the Go module proxy.
# The version is the one pinned in hack/lambda/go.mod (tool directive).
# Output: <cache>/rie-<version>/aws-lambda-rie ; the path is printed as the LAST stdout line.
# Progress goes to stderr. Skips the build when the binary already exists (hack/lib/go-build.sh).
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-build.sh
source "$here/../lib/go-build.sh"

mod=github.com/aws/aws-lambda-runtime-interface-emulator
go_build_cached build-rie "$here" "$mod" "$mod/cmd/aws-lambda-rie" rie aws-lambda-rie
