#!/usr/bin/env bash
# Build the node's cluster DNS, CoreDNS, from the Go module proxy, once, into the cache:
#   $CACHE/coredns-<version>/bin/coredns
# The version is the one this folder's go.mod requires (go.mod and go.sum are committed,
# so the graph is fixed); main.go says which plugins and why. Static (CGO_ENABLED=0) and
# path-free (-trimpath), so it runs on an empty image.
set -euo pipefail

pins=$(cd "$(dirname "$0")" && pwd)
source "$pins/gobuild.sh"
here=$pins/coredns
version=$(pinned "$here" github.com/coredns/coredns)
out="$cache/coredns-$version/bin/coredns"
[ -x "$out" ] && exit 0
build_into "$here" "$out" "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$version" .
echo "build-coredns.sh: CoreDNS $version in $out" >&2
