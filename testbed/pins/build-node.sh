#!/usr/bin/env bash
# Build the test node's Go binaries from the Go module proxy, once, into the cache.
#
# Kubernetes v1.34.4 (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy, kubectl), etcd v3.6.4 and the pod sandbox's pause, from this folder's module: it requires
# k8s.io/kubernetes and replaces every k8s.io staging module by the matching v0.34.4,
# the usual way to depend on it (go.mod and go.sum are committed, so the graph is fixed).
# Output goes outside the clone, keyed by version, so CI's fresh clone reuses it:
#   $CACHE/kubernetes-v1.34.4/bin/   $CACHE/etcd-v3.6.4/bin/etcd   $CACHE/pause-1/bin/pause
# Only missing binaries are built. CGO_ENABLED=0 and -trimpath give static, path-free
# binaries; the version ldflags are what Kubernetes' own build sets, so `kubectl version`
# and /version report v1.34.4 instead of v0.0.0.
set -euo pipefail

pins=$(cd "$(dirname "$0")" && pwd)
source "$pins/gobuild.sh"
here=$pins/kubernetes
export GOFLAGS=-mod=mod  # k8s.io/kubernetes needs its staging replacements resolved at build time
k8s_version=$(pinned "$here" k8s.io/kubernetes)
etcd_version=$(pinned "$here" go.etcd.io/etcd/server/v3)
k8s_bin="$cache/kubernetes-$k8s_version/bin"
etcd_bin="$cache/etcd-$etcd_version/bin"

pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=34"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"

for name in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  build_into "$here" "$k8s_bin/$name" "$ldflags" "k8s.io/kubernetes/cmd/$name"
done
build_into "$here" "$etcd_bin/etcd" "$ldflags" ./cmd/etcd
build_into "$here" "$cache/pause-1/bin/pause" "$ldflags" ./cmd/pause
echo "build-node.sh: $k8s_bin, $etcd_bin and the pause binary are complete" >&2
