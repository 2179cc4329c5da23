module image-rewriter/hack/reference-oracle

go 1.26.0

require (
	github.com/distribution/reference v0.6.0
	github.com/opencontainers/go-digest v1.0.0
)

require (
	go.podman.io/image/v5 v5.42.1
	go.podman.io/storage v1.65.1 // indirect
)
