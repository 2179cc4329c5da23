#!/bin/sh
# Helm post-renderer: the rendered manifests on stdin, the same manifests with the images the
# webhook would rewrite rewritten on stdout (image-rewriter render). Arguments go to render, e.g.
# --config=rules.yaml (else the rules come from REWRITE_RULES). IMAGE_REWRITER names the command
# when image-rewriter is not on PATH: a command with arguments, split on spaces ("node
# /path/to/dist/cli.js"), or the path of the command itself (/path/to/dist/cli.js, which runs on
# node), taken whole: the one way to name a checkout whose path has a space ("~/My Projects").
# Helm 3: helm install --post-renderer ./helm/image-rewriter/post-renderer.sh --post-renderer-args=--config=rules.yaml ...
# Helm 4: helm plugin install ./helm/image-rewriter; helm install --post-renderer image-rewriter ...
if [ -n "${IMAGE_REWRITER:-}" ] && [ -f "$IMAGE_REWRITER" ]; then
  exec "$IMAGE_REWRITER" render "$@"
fi
# shellcheck disable=SC2086 # IMAGE_REWRITER may be a command with arguments
exec ${IMAGE_REWRITER:-image-rewriter} render "$@"
