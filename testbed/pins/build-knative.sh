#!/usr/bin/env bash
# Build Knative Serving's components from the Go module proxy, once, into the cache.
#
# controller, webhook, autoscaler, activator and queue (the queue-proxy sidecar) are the
# cmd/ packages of knative.dev/serving, built from this folder's module, which requires it
# at exactly the version in go.mod (go.mod and go.sum are committed, so the graph is fixed).
# Why v0.47.0 (Knative 1.20, Kubernetes >= 1.32): the proxy serves knative.dev/serving
# v0.51.0 but refuses the knative.dev/pkg, networking, caching and hack pseudo-versions it
# requires; v0.47.0's are served.
# Output goes outside the clone, keyed by version, so CI's fresh clone reuses it:
#   $CACHE/knative-serving-v0.47.0/bin/{controller,webhook,autoscaler,activator,queue}
# Only missing binaries are built. CGO_ENABLED=0 and -trimpath give static, path-free
# binaries that run on an empty image.
set -euo pipefail

pins=$(cd "$(dirname "$0")" && pwd)
source "$pins/gobuild.sh"
here=$pins/knative-serving
version=$(pinned "$here" knative.dev/serving)
bin="$cache/knative-serving-$version/bin"
for name in controller webhook autoscaler activator queue; do
  build_into "$here" "$bin/$name" "-s -w" "knative.dev/serving/cmd/$name"
done
echo "build-knative.sh: Knative Serving $version components in $bin" >&2
