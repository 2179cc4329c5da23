#!/bin/sh
# Helm post-renderer: the rendered manifests on stdin, the same manifests with the images the
# webhook would rewrite rewritten on stdout (image-rewriter render). Arguments go to render, e.g.
# --config=rules.yaml (else the rules come from REWRITE_RULES). IMAGE_REWRITER names the command
# when image-rewriter is not on PATH (e.g. "node /path/to/dist/cli.js").
# Helm 3: helm install --post-renderer ./helm/image-rewriter/post-renderer.sh --post-renderer-args=--config=rules.yaml ...
# Helm 4: helm plugin install ./helm/image-rewriter; helm install --post-renderer image-rewriter ...
# shellcheck disable=SC2086 # IMAGE_REWRITER may be a command with arguments
exec ${IMAGE_REWRITER:-image-rewriter} render "$@"
