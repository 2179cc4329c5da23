module image-rewriter/bench/go-webhook

go 1.22
