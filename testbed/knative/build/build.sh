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

here=$(cd "$(dirname "$0")" && pwd)
cache=${CPU_ALERT_LABELER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpu-alert-labeler}
version=$(awk '$1 == "require" && $2 == "knative.dev/serving" {print $3}' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no 'require knative.dev/serving' in go.mod" >&2; exit 1; }
bin="$cache/knative-serving-$version/bin"
commands=(controller webhook autoscaler activator queue)

# -mod=readonly: go.mod and go.sum are the pins; a build that would change them fails.
# GOTOOLCHAIN=local: the machine's Go, never one fetched because a go.mod asks for it.
export CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$go" ] || { echo "build.sh: no Go toolchain (expected /usr/local/go/bin/go)" >&2; exit 1; }

mkdir -p "$bin"
for name in "${commands[@]}"; do
  [ -x "$bin/$name" ] && continue
  echo "build.sh: building Knative Serving $version $name" >&2
  (cd "$here" && "$go" build -trimpath -ldflags "-s -w" -o "$bin/$name.tmp" "knative.dev/serving/cmd/$name")
  mv "$bin/$name.tmp" "$bin/$name"
done
echo "build.sh: Knative Serving $version components in $bin" >&2
