//go:build tools

// Package tools pins the Prometheus release (and its promtool) that
// testbed/pins/build-go-tool.sh builds (2.53.4: the Go module's v0.53.4).  Debian's prometheus package is
// built without Kubernetes service discovery, which the tests need to find
// the kubelet and the function through the API server.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
