#!/usr/bin/env bash
# Integration tests (npm run test:integration): the bundled handler under the AWS Lambda Runtime
# Interface Emulator with the Node.js runtime interface client, and the AWS reads against a moto
# server. Provides the tools first (each reused from the cache when present):
#   hack/python/setup-venv.sh   Python venv with moto (and aws-sam-cli, cfn-lint)  -> IMAGE_REWRITER_VENV
#   hack/lambda/build-rie.sh    aws-lambda-rie built from the Go module proxy       -> IMAGE_REWRITER_RIE
#   hack/lambda/install-ric.sh  aws-lambda-ric (native build) outside the project   -> IMAGE_REWRITER_RIC_DIR
#   hack/node/install-node.sh   the Node.js Lambda runs (template.yaml's Runtime)    -> IMAGE_REWRITER_LAMBDA_NODE
#   hack/registry/build.sh      the CNCF Distribution registry from the Go module proxy -> IMAGE_REWRITER_REGISTRY
#   hack/helm/build.sh 3|4      helm 3 and helm 4 built from the Go module proxy     -> IMAGE_REWRITER_HELM3|4
#   hack/reference-oracle/build.sh  Go's distribution/reference (and CRI-O's) as a command -> IMAGE_REWRITER_REFERENCE_ORACLE
#   hack/yaml-oracle/build.sh   kubectl's YAML reader (sigs.k8s.io/yaml) as a command -> IMAGE_REWRITER_YAML_ORACLE
#   hack/observability-oracle/build.sh  Prometheus' expfmt + promlint, Go's encoding/json/v2 -> IMAGE_REWRITER_OBSERVABILITY_ORACLE
#   npm run build               dist/handler.js
# then runs jest with jest.integration.config.js. Extra arguments go to jest (e.g. a test path).
# cache = ${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}; a cold cache
# takes several minutes (venv 2-4 min, RIE ~1 min, aws-lambda-ric 1-4 min, registry 2-3 min, helm 3 ~5 min,
# helm 4 ~10-20 min on 2 busy cores, reference oracle ~20 s, YAML oracle ~5 s, observability oracle ~1 min), a warm one seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { echo "test-integration: $*" >&2; }
timed() {
  local what="$1"; shift
  local start=$SECONDS out
  # (errexit does not reach into this command substitution: check the status here)
  out="$("$@" | tail -n1)" || { step "$what: $1 failed"; return 1; }
  step "$what: $out ($((SECONDS - start))s)"
  printf '%s\n' "$out"
}

IMAGE_REWRITER_VENV="$(timed venv hack/python/setup-venv.sh)"
IMAGE_REWRITER_RIE="$(timed rie hack/lambda/build-rie.sh)"
IMAGE_REWRITER_RIC_DIR="$(timed ric hack/lambda/install-ric.sh)"
IMAGE_REWRITER_LAMBDA_NODE="$(timed lambda-node hack/node/install-node.sh)"
IMAGE_REWRITER_REGISTRY="$(timed registry hack/registry/build.sh)"
IMAGE_REWRITER_HELM3="$(timed helm3 hack/helm/build.sh 3)"
IMAGE_REWRITER_HELM4="$(timed helm4 hack/helm/build.sh 4)"
IMAGE_REWRITER_REFERENCE_ORACLE="$(timed reference-oracle hack/reference-oracle/build.sh)"
IMAGE_REWRITER_YAML_ORACLE="$(timed yaml-oracle hack/yaml-oracle/build.sh)"
IMAGE_REWRITER_OBSERVABILITY_ORACLE="$(timed observability-oracle hack/observability-oracle/build.sh)"
export IMAGE_REWRITER_VENV IMAGE_REWRITER_RIE IMAGE_REWRITER_RIC_DIR IMAGE_REWRITER_LAMBDA_NODE IMAGE_REWRITER_REGISTRY IMAGE_REWRITER_HELM3 IMAGE_REWRITER_HELM4 IMAGE_REWRITER_REFERENCE_ORACLE IMAGE_REWRITER_YAML_ORACLE IMAGE_REWRITER_OBSERVABILITY_ORACLE

start=$SECONDS
npm run --silent build
step "npm run build ($((SECONDS - start))s)"

export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-vm-modules"
# The SDK warns that it will need Node 22 from 2027 (Lambda runs nodejs24.x; the tests run on the
# local Node): once per client, in every suite. Known, and not what these tests look at.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:-true}"
exec node_modules/.bin/jest --config jest.integration.config.js "$@"
