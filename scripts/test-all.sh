#!/usr/bin/env bash
# The whole test suite, as CI runs it (README's second command). Builds or reuses the tools it
# needs, cached by version outside the clone (${IMAGE_REWRITER_CACHE:-~/.cache/image-rewriter}):
# real etcd/kube-apiserver/kube-controller-manager/kubectl, the Lambda Runtime Interface Emulator
# and runtime client, and a Python venv with aws-sam-cli, cfn-lint and moto.
# A missing tool is built, never skipped. Prints the time of each stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# jest -t: the titles of the version-sensitive scenarios (README, Supported Kubernetes versions).
E2E_VERSION_SUBSET='1\. demo|4\. kubectl debug|8\. webhook killed|P0\.|12c\.|V3\.|V4\.|A5\.|F1\.|W1\.|W2\.|W3\.|webhook-config|deploy/serve\.yaml|the Helm chart'

T0=$(date +%s)
stage() {
  local name=$1; shift
  local t
  t=$(date +%s)
  echo "=== ${name}" >&2
  "$@"
  echo "=== ${name}: ok in $(( $(date +%s) - t ))s (total $(( $(date +%s) - T0 ))s)" >&2
}

stage "shell scripts: shellcheck" npm run --silent lint:sh
stage "unit: type check, lint, build, unit and short fuzz tests" npm test
# The same unit tests on the Node.js Lambda and the container image run (template.yaml's Runtime),
# which is not the local one: V8's and Node's behaviour the core relies on, on the version that runs it.
stage "unit tests on the Node.js Lambda runs" npm run --silent test:unit:lambda-node
# The audit fails on high/critical advisories in production dependencies. Where the registry cannot
# answer advisory queries (this workplace's answers 405), it says so loudly and the suite goes on;
# `npm run audit` alone stays strict about that (scripts/audit.sh, docs/reliability.md).
stage "dependency audit" env IMAGE_REWRITER_AUDIT_UNAVAILABLE="${IMAGE_REWRITER_AUDIT_UNAVAILABLE:-allow}" npm run --silent audit
stage "template: sam validate --lint, cfn-lint, sam build" npm run --silent test:template
stage "integration: Lambda runtime emulator, moto (SSM, Secrets Manager)" npm run --silent test:integration
stage "end-to-end: real kube-apiserver, etcd, kube-controller-manager" npm run --silent test:e2e
# The scenarios whose outcome depends on the API server's version, against the oldest minor the
# README supports (hack/k8s/v1.32; built once per cache: 11 to 20 minutes on 2 cores): the demo,
# kubectl debug, the API server's counters of a webhook it cannot reach, server-side apply,
# matchConditions and their cost, image volumes, every webhook-config output, deploy/serve.yaml
# under the restricted Pod Security Standard, the Helm chart, audit past an expired continue token
# (1.32 reads it from etcd), no MutatingAdmissionPolicy before 1.36, the generated Pods, and the
# kubectl workflows and ValidatingAdmissionPolicy of the README with that version's kubectl (what a
# user of that cluster runs).
stage "end-to-end subset: Kubernetes 1.32" env IMAGE_REWRITER_K8S_VERSION=1.32 npm run --silent test:e2e -- -t "$E2E_VERSION_SUBSET"
stage "benchmark (short; checks answers, not speed)" npm run --silent bench -- --quick
echo "all tests passed in $(( $(date +%s) - T0 ))s" >&2
