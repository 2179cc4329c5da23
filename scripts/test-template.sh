#!/usr/bin/env bash
# Prove template.yaml and the bundle SAM builds from it, offline and without Docker:
#   1. sam validate --lint and cfn-lint in a region of each partition (aws, aws-cn, aws-us-gov),
#      sam validate (the SAM transform), and every resource type of SAM's translation on the
#      Serverless Application Repository's supported list (docs/sar-supported-resources.txt)
#      (venv: hack/python/setup-venv.sh); checkov and parliament on what we ship (scripts/test-scanners.sh)
#   2. sam build with its esbuild build method, into a temporary --build-dir (never --build-in-source:
#      that prunes devDependencies from the project), with node_modules/.bin on PATH for esbuild
#   3. the artifact: the handler file the built template names, its size next to dist/handler.js's
#   4. that artifact and dist/handler.js under the Runtime Interface Emulator with aws-lambda-ric,
#      invoked with every file of events/: both must answer exactly like the in-process handler
#      (tests/integration/rie.integration.ts; RIE and RIC from hack/lambda/*.sh)
#   5. sam local invoke without Docker: the environment SAM CLI's own code gives the function
#      (samconfig.toml, sam-local-env.json), the artifact run under RIE with exactly it on every
#      event, start-api's routes (tests/integration/sam-local.template.ts); the artifact's source
#      map (tests/integration/sam-artifact.template.ts); the README's sam commands and deploy:regions'
#      sam deploy read by SAM CLI's own parser with samconfig.toml (tests/integration/sam-cli.template.ts).
#      SAM's translation redeploys the API whenever its resource policy changes (tests/integration/sam-transform.template.ts).
#      No parameter change and no upgrade from an earlier template replaces the API, its stage (but
#      StageName), the function, its permission, the token or the log group (tests/integration/stack-update.template.ts).
#      With a Docker daemon, also the real
#      `sam local invoke` of one event in a container.
# Env: IMAGE_REWRITER_CACHE (tool cache), KEEP_SAM_BUILD=1 keeps the build directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { echo "test-template: $*" >&2; }

venv="$(hack/python/setup-venv.sh | tail -n1)"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1

# One region of each partition the template supports: aws, aws-cn, aws-us-gov.
regions=(us-east-1 cn-north-1 us-gov-west-1)
for region in "${regions[@]}"; do
  step "sam validate --lint --region $region"
  "$venv/bin/sam" validate --lint --region "$region" --template template.yaml
done
step "sam validate (SAM transform, offline)"
"$venv/bin/sam" validate --template template.yaml
step "cfn-lint $("$venv/bin/cfn-lint" --version) --regions ${regions[*]}, informational and experimental rules included"
# non-zero on errors (2), warnings (4) and informational findings (8): the informational (I) and
# experimental rules are off by default, and on here, as a reviewer's strictest run has them.
"$venv/bin/cfn-lint" --include-checks I --include-experimental --regions "${regions[@]}" -- template.yaml
step "cfn-lint: no findings"

step "security scanners: checkov, parliament (scripts/test-scanners.sh)"
bash scripts/test-scanners.sh

step "SAM's translation uses only types the Serverless Application Repository supports, and has one API stage"
for params in "" "EndpointType=PRIVATE VpcEndpointIds=vpce-0123456789abcdef0 Tracing=Active"; do
  # shellcheck disable=SC2086 # the parameters are words on purpose
  "$venv/bin/python" hack/python/sam-translate.py template.yaml $params | "$venv/bin/python" -c '
import json, sys
supported = {l.strip() for l in open("docs/sar-supported-resources.txt") if l.strip() and not l.startswith("#")}
resources = json.load(sys.stdin)["Resources"].values()
types = sorted({r["Type"] for r in resources})
missing = [t for t in types if t not in supported]
print("test-template:   translated types:", ", ".join(types), file=sys.stderr)
if missing: sys.exit(f"test-template: not on the supported list: {missing}")
# One stage, the throttled one: a Deployment with a StageName creates another ("Stage", without MethodSettings).
extra = [r["Properties"]["StageName"] for r in resources if r["Type"] == "AWS::ApiGateway::Deployment" and "StageName" in r["Properties"]]
stages = [r for r in resources if r["Type"] == "AWS::ApiGateway::Stage"]
sys.exit(f"test-template: the API has a stage besides StageName: {extra}" if extra or len(stages) != 1 else 0)
'
done

work="$(mktemp -d "${TMPDIR:-/tmp}/image-rewriter-sam.XXXXXX")"
if [[ "${KEEP_SAM_BUILD:-}" == 1 ]]; then
  step "keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi

step "sam build (esbuild, no container) -> $work/build"
# The README's `npm run sam:build` (sam local, publishing) leaves .aws-sam/build in the project: only
# what this build writes there is an error, not a directory that was there before it.
touch "$work/before-build"
start=$SECONDS
# SAM copies the sources, runs `npm install --omit=dev` in the copy and then esbuild, which must
# therefore come from PATH (it is a devDependency).
PATH="$root/node_modules/.bin:$PATH" "$venv/bin/sam" build --template-file template.yaml \
  --build-dir "$work/build" --cache-dir "$work/cache" >&2
sam_seconds=$((SECONDS - start))
step "sam build took ${sam_seconds}s"
if [[ -e "$root/.aws-sam" ]] && [[ -n "$(find "$root/.aws-sam" -newer "$work/before-build" -print -quit)" ]]; then
  step "error: sam build wrote $root/.aws-sam; it must build only into --build-dir"
  exit 1
fi

# The handler file the built template points at: <CodeUri>/<module>.{mjs,js,cjs}.
read -r code_uri handler < <("$venv/bin/python" - "$work/build/template.yaml" <<'EOF'
import sys
from samcli.yamlhelper import yaml_parse
with open(sys.argv[1]) as f:
    props = yaml_parse(f.read())["Resources"]["WebhookFunction"]["Properties"]
print(props["CodeUri"], props["Handler"])
EOF
)
module="${handler%.*}"
artifact=""
for ext in mjs js cjs; do
  if [[ -f "$work/build/$code_uri/$module.$ext" ]]; then artifact="$work/build/$code_uri/$module.$ext"; break; fi
done
if [[ -z "$artifact" ]]; then
  step "error: the built template's handler $handler has no file $module.{mjs,js,cjs} in $work/build/$code_uri:"
  ls -la "$work/build/$code_uri" >&2
  exit 1
fi
step "artifact: $artifact (Handler: $handler); the function's files:"
ls -la "$work/build/$code_uri" >&2

# The RIE run: the tools and dist/handler.js. The webhook's artifact carries the AWS SDK in its
# chunks and gets no node_modules (none is in reach of $work/build); the token function leaves the SDK
# to the runtime, so its directory gets a link to the project's.
IMAGE_REWRITER_RIE="$(hack/lambda/build-rie.sh | tail -n1)"
IMAGE_REWRITER_RIC_DIR="$(hack/lambda/install-ric.sh | tail -n1)"
IMAGE_REWRITER_LAMBDA_NODE="$(hack/node/install-node.sh | tail -n1)"
export IMAGE_REWRITER_RIE IMAGE_REWRITER_RIC_DIR IMAGE_REWRITER_LAMBDA_NODE
npm run --silent build
ln -s "$root/node_modules" "$work/build/WebhookTokenFunction/node_modules"

sizes() { printf '%s: %s bytes (%s gzipped)\n' "$1" "$(stat -c %s "$1")" "$(gzip -c "$1" | wc -c)"; }
{
  echo "test-template: sam build: ${sam_seconds}s"
  sizes "$artifact"
  sizes dist/handler.js
} >&2

step "both bundles under RIE with every event (tests/integration/rie.integration.ts)"
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-vm-modules"
# The SDK warns that it will need Node 22 from 2027 (Lambda runs nodejs24.x; the tests run on the
# local Node): once per client, in every suite. Known, and not what these tests look at.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:-true}"
export IMAGE_REWRITER_VENV="$venv" IMAGE_REWRITER_SAM_BUILD_DIR="$work/build" IMAGE_REWRITER_SAM_BUNDLE="$artifact"
step "sam local (no Docker: SAM CLI resolves, RIE runs) and the artifacts (tests/integration/*.template.ts)"
node_modules/.bin/jest --config jest.integration.config.js --testMatch '**/tests/integration/*.integration.ts' '**/tests/integration/*.template.ts' \
  -- tests/integration/rie.integration.ts tests/integration/sam-local.template.ts tests/integration/sam-artifact.template.ts tests/integration/sam-cli.template.ts \
  tests/integration/sam-transform.template.ts tests/integration/stack-update.template.ts

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  step "a Docker daemon answers: sam local invoke in a container, in a copy of the project"
  proj="$work/project"
  mkdir -p "$proj/.aws-sam"
  cp -r template.yaml samconfig.toml sam-local-env.json events "$proj/"
  ln -s "$work/build" "$proj/.aws-sam/build"
  out="$(cd "$proj" && "$venv/bin/sam" local invoke WebhookFunction -e events/rest-pod-v1.json 2>/dev/null | tail -n1)"
  grep -q '"statusCode": *200' <<<"$out" || { step "error: sam local invoke answered: $out"; exit 1; }
  step "sam local invoke in Docker answered 200"
else
  step "no Docker daemon: the container run of sam local invoke is not possible here (sam-local.template.ts ran what it would run)"
fi
step "ok: template valid and lint clean in every partition, SAR types, sam build artifact answers like dist/handler.js and the in-process handler, sam local environment"
