#!/usr/bin/env bash
# Build the OpenFaaS gateway and faas-netes (the Kubernetes provider) from the Go module
# proxy, once, into the cache:
#   $CACHE/openfaas-gateway-<version>/bin/gateway
#   $CACHE/faas-netes-<version>/bin/faas-netes
# Each version is the one gateway/go.mod or faas-netes/go.mod requires; go.sum holds the
# module's checksum, so what is built is exactly what that file names.
#
# Built inside a copy of the module (its own go.mod and go.sum), as its own Makefile does,
# not as a dependency of ours: as a dependency, Go's version selection over our module
# would raise some of its requirements (golang.org/x/crypto v0.14 -> v0.52 for the
# gateway). The module zip keeps only vendor/modules.txt of its vendor/ folder, so
# `-mod=vendor` (the default when vendor/ exists) fails: the copy drops vendor/ and builds
# with -mod=mod, every dependency then checked against the module's go.sum and the
# checksum database. Why these versions: the proxy refuses the version lists of
# github.com/openfaas/*, and these are the newest pseudo-versions found served, both
# MIT-licensed (faas-netes: every later commit tried, 2023-02 to 2026-05, was refused).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source "$here/gobuild.sh"

# build NAME MODULE OUT COMMIT_VAR: COMMIT_VAR (in MODULE/version) gets the pseudo-version's commit.
build() {
  local name=$1 module=$2 out=$3 commit_var=$4 version dir copy began
  version=$(pinned "$here/$name" "$module")
  out=${out//@V@/$version}
  [ -x "$out" ] && return 0
  echo "$0: building $(basename "$out") from $module@$version" >&2
  began=$SECONDS  # a first build's time is printed: cold builds are budgeted (docs/development.md)
  dir=$(cd "$here/$name" && GOFLAGS=-mod=mod "$go" mod download -json "$module" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -n "$dir" ] || { echo "$0: go mod download $module failed" >&2; exit 1; }
  copy=$(mktemp -d)
  trap 'rm -rf "$copy"' RETURN
  cp -r "$dir/." "$copy/"
  chmod -R u+w "$copy"
  rm -rf "$copy/vendor"
  mkdir -p "$(dirname "$out")"
  (cd "$copy" && GOFLAGS=-mod=mod "$go" build -trimpath \
     -ldflags "-s -w -X $module/version.Version=$version -X $module/version.$commit_var=${version##*-}" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
  echo "$0: built $(basename "$out") in $((SECONDS - began)) s" >&2
}

build openfaas-gateway github.com/openfaas/faas/gateway "$cache/openfaas-gateway-@V@/bin/gateway" GitCommitSHA
build faas-netes github.com/openfaas/faas-netes "$cache/faas-netes-@V@/bin/faas-netes" GitCommit
echo "build-openfaas.sh: OpenFaaS gateway and faas-netes in $cache" >&2
