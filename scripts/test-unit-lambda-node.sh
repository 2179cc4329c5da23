#!/usr/bin/env bash
# The unit tests again, on the Node.js the Lambda function and the container image run
# (template.yaml's Runtime; hack/node/install-node.sh fetches it): the core answers on that Node.js
# in production, while `npm test` runs on the local one (20.19 or newer), whose V8 and libraries
# differ (JSON.parse's messages, TLS, HTTP). Type check, lint and build are not repeated; a child
# process a test spawns with process.execPath runs on it too. Extra arguments go to jest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
node_bin="$(hack/node/install-node.sh | tail -n1)"
echo "test-unit-lambda-node: $("$node_bin" --version) ($node_bin)" >&2
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-vm-modules"
export IMAGE_REWRITER_LAMBDA_NODE="$node_bin"
exec "$node_bin" node_modules/jest/bin/jest.js --coverage=false "$@"
