//go:build tools

// Package tools pins Knative Serving's components, so `go mod tidy` keeps every module
// they need in go.mod and go.sum. build-knative.sh builds them by path.
package tools

import (
	_ "knative.dev/serving/cmd/activator"
	_ "knative.dev/serving/cmd/autoscaler"
	_ "knative.dev/serving/cmd/controller"
	_ "knative.dev/serving/cmd/queue"
	_ "knative.dev/serving/cmd/webhook"
)
