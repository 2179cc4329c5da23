#!/usr/bin/env bash
# What the security scanners say about what we ship, offline (docs/design.md, "What the scanners say"):
#   0. checkov -d . as a reviewer runs it (every framework, helm's included; .checkov.yaml): no failed check;
#   1. checkov on template.yaml, deploy/serve.yaml, mutating-webhook.yaml, the Dockerfile, and the chart
#      rendered by helm with its defaults and with README's install values: no failed check (each one
#      that does not apply is suppressed where it is, with its reason);
#   2. checkov on SAM's translation of template.yaml: the same, but for the three checks of the API's
#      Stage, whose suppressions SAM does not carry over (it puts WebhookApi's Metadata on the RestApi);
#   3. parliament on every inline IAM policy of that translation, every condition true, with its
#      parameters set: no finding but the one that does not apply (below).
# Venvs: hack/python/setup-venv.sh (SAM's translator) and `setup-venv.sh scanners` (checkov, parliament).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { echo "test-scanners: $*" >&2; }

venv="$(hack/python/setup-venv.sh | tail -n1)"
scanners="$(hack/python/setup-venv.sh scanners | tail -n1)"
helm="${IMAGE_REWRITER_HELM3:-$(hack/helm/build.sh 3 | tail -n1)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/image-rewriter-scanners.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Offline: no guideline download from checkov's platform, no version check.
export BC_SKIP_MAPPING=TRUE CHECKOV_SKIP_VERSION_CHECK=1 ANSI_COLORS_DISABLED=1
# checkov ARGS...: no failed check, no file it could not parse, and every framework named in
# $frameworks saw something (a file checkov skipped would otherwise pass unseen).
checkov() {
  "$scanners/bin/checkov" --skip-download --framework cloudformation kubernetes dockerfile -o json "$@" \
    >"$work/checkov.json" || true
  "$scanners/bin/python" - "$work/checkov.json" "$frameworks" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
runs = runs if isinstance(runs, list) else [runs]
seen, bad = set(), False
for run in runs:
    s = run["summary"]
    seen.add(run["check_type"])
    print(f"test-scanners:   {run['check_type']}: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped", file=sys.stderr)
    for c in run["results"]["failed_checks"]:
        bad = True
        print(f"test-scanners:   FAILED {c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}", file=sys.stderr)
    if s["parsing_errors"]:
        bad = True
        print(f"test-scanners:   {s['parsing_errors']} file(s) checkov could not parse", file=sys.stderr)
missing = set(sys.argv[2].split()) - seen
if missing:
    bad = True
    print(f"test-scanners:   nothing scanned for {sorted(missing)}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

step "checkov -d . (the checkout, every framework, .checkov.yaml)"
PATH="$(dirname "$helm"):$PATH" "$scanners/bin/checkov" -d . --skip-download --compact --quiet >&2

chart=deploy/chart/image-rewriter
"$helm" template image-rewriter "$chart" --namespace image-rewriter >"$work/chart-default.yaml"
printf 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n' >"$work/rules.yaml"
"$helm" template image-rewriter "$chart" --namespace image-rewriter \
  --set image.repository=123456789012.dkr.ecr.us-east-1.amazonaws.com/image-rewriter \
  --set-file rules.text="$work/rules.yaml" >"$work/chart-readme.yaml"

step "checkov $("$scanners/bin/checkov" --version 2>/dev/null): template.yaml, deploy/serve.yaml, mutating-webhook.yaml, Dockerfile, the chart"
frameworks="cloudformation kubernetes dockerfile"
checkov -f template.yaml -f deploy/serve.yaml -f mutating-webhook.yaml -f Dockerfile \
  -f "$work/chart-default.yaml" -f "$work/chart-readme.yaml"

step "checkov: SAM's translation of template.yaml (default parameters, then PRIVATE with tracing)"
"$venv/bin/python" hack/python/sam-translate.py template.yaml >"$work/translated.json"
"$venv/bin/python" hack/python/sam-translate.py template.yaml EndpointType=PRIVATE VpcEndpointIds=vpce-0123456789abcdef0 \
  Tracing=Active >"$work/translated-private.json"
frameworks=cloudformation
checkov -f "$work/translated.json" -f "$work/translated-private.json" --skip-check CKV_AWS_73,CKV_AWS_76,CKV_AWS_120

step "parliament $("$scanners/bin/parliament" --version </dev/null): the inline IAM policies, every condition true"
mkdir "$work/iam"
"$venv/bin/python" hack/python/iam-policies.py "$work/iam" \
  RewriteRulesParameterName=/image-rewriter/rules \
  'VerifyEcrRepositoryArns=arn:aws:ecr:us-east-1:123456789012:repository/docker-hub/*' \
  RegistryCredentialsSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:registry-AbCdEf \
  RegistryCredentialsParameterName=/image-rewriter/registry \
  KmsKeyArn=arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012 \
  <"$work/translated.json" >&2
# parliament exits 1 on any finding; the one left out below does not apply: ecr:BatchImportUpstreamImage
# takes the resource type repository (Service Authorization Reference), and parliament's data, older,
# asks for "*". (Its --config ignore_locations cannot say so: 1.6.4 drops plain lists and strings there.)
"$scanners/bin/parliament" --directory "$work/iam" --include-community-auditors --minimum_severity INFO \
  --json </dev/null >"$work/parliament.json" || true
"$scanners/bin/python" - "$work/parliament.json" <<'PY'
import json, sys
findings = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
known = lambda f: f["issue"] == "RESOURCE_MISMATCH" and [d.get("action") for d in f["detail"]] == ["ecr:BatchImportUpstreamImage"]
left = [f for f in findings if not known(f)]
for f in left:
    print(f"test-scanners: parliament: {f['severity']} {f['title']}: {f['detail']} in {f['location']}", file=sys.stderr)
sys.exit(1 if left else 0)
PY
step "ok: no finding of checkov or parliament"
