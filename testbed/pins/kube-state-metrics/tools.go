//go:build tools

// Package tools pins the kube-state-metrics release that
// testbed/pins/build-go-tool.sh builds: `go build` of its main package
// from inside this module uses the versions go.mod and go.sum record, every
// module checked against the checksum database when first downloaded.
package tools

import _ "k8s.io/kube-state-metrics/v2"
