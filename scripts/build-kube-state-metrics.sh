#!/usr/bin/env bash
# Build kube-state-metrics from the Go module proxy into the cache outside the clone:
#   $CPU_ALERT_LABELER_CACHE/kube-state-metrics-$VERSION/bin/kube-state-metrics
# Nothing to do when that binary exists.
#
# The version is pinned in testbed/monitoring/kube-state-metrics/go.mod (and every
# dependency in its go.sum): v2.15.0, the newest release whose module the proxy and its
# checksum database serve here (v2.16.0 and v2.17.0 are refused).  It lists pods through
# client-go 0.32, which both test apiservers (1.20 and 1.34) serve.  Built from inside that
# small module because `go install pkg@version` also asks the proxy for the module's
# version list, which it refuses.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODULE=$ROOT/testbed/monitoring/kube-state-metrics
VERSION=$(awk '$1 == "require" && $2 == "k8s.io/kube-state-metrics/v2" {print $3}' "$MODULE/go.mod")
CACHE=${CPU_ALERT_LABELER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpu-alert-labeler}
BIN=$CACHE/kube-state-metrics-$VERSION/bin
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

if [[ -x $BIN/kube-state-metrics ]]; then
  exit 0
fi
mkdir -p "$BIN"
# The version the binary reports (kube-state-metrics --version), as its own Makefile sets it.
LDFLAGS="-s -w -X github.com/prometheus/common/version.Version=${VERSION#v}"
LDFLAGS+=" -X github.com/prometheus/common/version.Revision=$VERSION -X github.com/prometheus/common/version.Branch=release"
echo "building kube-state-metrics $VERSION into $BIN (about 2 minutes on 2 cores)"
# -mod=readonly: go.mod and go.sum are the pins; a build that would change them fails.
(cd "$MODULE" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly \
  "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$BIN/kube-state-metrics.tmp" k8s.io/kube-state-metrics/v2)
mv "$BIN/kube-state-metrics.tmp" "$BIN/kube-state-metrics"
"$BIN/kube-state-metrics" version
