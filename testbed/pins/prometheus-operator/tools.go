//go:build tools

// Package tools pins the Prometheus Operator release (the operator and its
// config-reloader) that testbed/pins/build-go-tool.sh builds, the version
// kube-prometheus-stack's chart 79.x runs (its appVersion).  Our own module, so
// the operator's `replace` lines to its own sub-modules (./pkg/apis/monitoring,
// ./pkg/client), which only its own repository can satisfy, do not apply: go.mod
// requires those two at the same release instead, from the Go module proxy.
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader"
)
