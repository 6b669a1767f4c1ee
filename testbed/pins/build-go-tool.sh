#!/usr/bin/env bash
# Build a monitoring program from the Go module proxy into the cache outside the clone:
#   testbed/pins/build-go-tool.sh kube-state-metrics | prometheus | prometheus-operator
#   -> $CPU_ALERT_LABELER_CACHE/<name>-<version>/bin/<name>
# Nothing to do when that binary exists.
#
# Each program is pinned by a small Go module of ours, testbed/pins/<name>/ (go.mod
# names the release, go.sum every dependency, each checked against the checksum database
# when first downloaded), and built from inside it.  `go install pkg@version` cannot be
# used: it asks the proxy for the module's version list, which is refused here.
# - kube-state-metrics v2.15.0: the newest release the proxy and checksum database serve
#   here (2.16 and 2.17 are refused); client-go 0.32 lists pods on 1.20 and 1.34 alike.
# - prometheus 2.53.4 (module v0.53.4, the 2.53 LTS line): Debian's prometheus (2.42) is
#   built without Kubernetes service discovery, which finding the kubelet and the function
#   through the API server needs.  Its web UI's assets are not in the module (they are built
#   with npm); the API, which is all the tests use, does not need them.
# - prometheus-operator v0.85.0 and its prometheus-config-reloader: the operator that
#   kube-prometheus-stack runs, to read the configurations it generates from the shipped
#   monitoring/ resources.  Its own go.mod replaces its sub-modules (pkg/apis/monitoring,
#   pkg/client) by folders of its repository; ours requires them at the same release.
#   Cold: about 7.5 min on 2 cores.
set -euo pipefail

NAME=${1:?usage: $0 kube-state-metrics|prometheus|prometheus-operator}
PINS=$(cd "$(dirname "$0")" && pwd)
source "$PINS/gobuild.sh"
MODULE=$PINS/$NAME
case $NAME in
  kube-state-metrics)
    GOMODULE=k8s.io/kube-state-metrics/v2; PACKAGES=(k8s.io/kube-state-metrics/v2) ;;
  prometheus)  # and its promtool: Debian's cannot check a configuration with kubernetes_sd_configs
    GOMODULE=github.com/prometheus/prometheus
    PACKAGES=(github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool) ;;
  prometheus-operator)
    GOMODULE=github.com/prometheus-operator/prometheus-operator
    PACKAGES=($GOMODULE/cmd/operator $GOMODULE/cmd/prometheus-config-reloader) ;;
  *) echo "$0: unknown program $NAME" >&2; exit 2 ;;
esac
VERSION=$(pinned "$MODULE" "$GOMODULE")
[[ $NAME == prometheus ]] && VERSION=v2.${VERSION#v0.}
BIN=$cache/$NAME-$VERSION/bin

PROGRAMS=("${PACKAGES[@]##*/}")
PROGRAMS=("${PROGRAMS[@]/#v2/$NAME}")  # kube-state-metrics' main package is its module root
LDFLAGS="-s -w -X github.com/prometheus/common/version.Version=${VERSION#v}"
LDFLAGS+=" -X github.com/prometheus/common/version.Revision=$VERSION -X github.com/prometheus/common/version.Branch=release"
for i in "${!PACKAGES[@]}"; do
  program=${PROGRAMS[$i]}
  [[ -x $BIN/$program ]] && continue
  build_into "$MODULE" "$BIN/$program" "$LDFLAGS" "${PACKAGES[$i]}"
  "$BIN/$program" --version 2>/dev/null || "$BIN/$program" version
done
# The operator's CRDs, as its module ships them (the chart installs the same files).
if [[ $NAME == prometheus-operator && ! -d $BIN/../crds ]]; then
  src=$(cd "$MODULE" && "$go" list -m -f '{{.Dir}}' "$GOMODULE")/example/prometheus-operator-crd
  cp -r "$src" "$BIN/../crds.tmp" && chmod -R u+w "$BIN/../crds.tmp" && mv "$BIN/../crds.tmp" "$BIN/../crds"
fi
