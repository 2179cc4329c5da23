# syntax=docker/dockerfile:1
# The container image of `image-rewriter serve`, for running the webhook in a cluster instead of on
# Lambda (README, "Running `serve` in a cluster"; deploy/serve.yaml runs it). No image is
# published: build it from a checkout and push it to a registry your nodes pull from, e.g.
#   docker build -t 123456789012.dkr.ecr.us-east-1.amazonaws.com/image-rewriter:0.1.0 .
# tests/integration/container-image.integration.ts runs the build stage's steps and the runtime
# stage's command line without Docker.

# Build: the same `npm run build` as a checkout; dependency install scripts are not run (the build
# needs none: esbuild's JS API finds its platform package without its postinstall check).
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts/ scripts/
COPY src/ src/
RUN npm run build

# Run: dist/ only. The bundles need no node_modules; distroless has no shell or package manager,
# and its `nonroot` user (65532) is what deploy/serve.yaml's securityContext names.
# No HEALTHCHECK: distroless has nothing to run one with, and the kubelet ignores it; the
# Deployment's probes call GET /healthz (docs/design.md, "What the scanners say").
# checkov:skip=CKV_DOCKER_2: the Deployment's readiness and liveness probes check /healthz
FROM gcr.io/distroless/nodejs24-debian12:nonroot
# The OCI annotations registries and scanners show: where the source is (template.yaml's
# SourceCodeUrl), its licence and version (package.json's; tests/unit/deploy-serve.test.ts checks).
LABEL org.opencontainers.image.title=image-rewriter org.opencontainers.image.source=https://github.com/image-rewriter/image-rewriter org.opencontainers.image.licenses=MIT-0 org.opencontainers.image.version=0.1.0
# dist/ holds THIRD-PARTY-NOTICES, the licences of the code bundled in it (docs/design.md, "What we ship").
COPY --from=build /src/dist /app
COPY LICENSE /app/LICENSE
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/nodejs/bin/node", "/app/cli.js"]
CMD ["serve", "--config", "/rules/rules.yaml", "--listen", ":8443", "--tls-cert-file", "/tls/tls.crt", "--tls-private-key-file", "/tls/tls.key", "--token-file", "/token/token"]
