#!/usr/bin/env bash
# Build the node's cluster DNS, CoreDNS, from the Go module proxy, once, into the cache:
#   $CACHE/coredns-<version>/bin/coredns
# The version is the one this folder's go.mod requires (go.mod and go.sum are committed,
# so the graph is fixed); main.go says which plugins and why. Static (CGO_ENABLED=0) and
# path-free (-trimpath), so it runs on an empty image.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${CPU_ALERT_LABELER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpu-alert-labeler}
version=$(awk '$1 == "require" && $2 == "github.com/coredns/coredns" {print $3}' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no 'require github.com/coredns/coredns' in go.mod" >&2; exit 1; }
out="$cache/coredns-$version/bin/coredns"
[ -x "$out" ] && exit 0

# -mod=readonly: go.mod and go.sum are the pins; GOTOOLCHAIN=local: the machine's Go.
export CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$go" ] || { echo "build.sh: no Go toolchain (expected /usr/local/go/bin/go)" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
echo "build.sh: building CoreDNS $version" >&2
# Without the ldflag CoreDNS reports an empty git commit; the version comes from its source.
(cd "$here" && "$go" build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$version" -o "$out.tmp" .)
mv "$out.tmp" "$out"
echo "build.sh: CoreDNS $version in $out" >&2
