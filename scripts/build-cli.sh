#!/bin/sh
# Builds a platform's own CLI (kn, faas-cli) from its pinned Go module, so the tests run the
# tool a user runs, not an imitation.  The module and every dependency are pinned by
# testbed/gopins/NAME/go.mod and go.sum (fetched through the Go module proxy, checked against
# go.sum); the static binary (CGO_ENABLED=0) goes to the cache outside the clone, keyed by
# version, and is built only when missing.
#   usage: scripts/build-cli.sh kn|faas-cli
#
# Why these versions: the proxy refuses the version LISTS of knative.dev/client and
# github.com/openfaas/*, so only exact versions resolve.  kn v0.46 and v0.50 need the separate
# module knative.dev/client/pkg, which is not served; v0.40.0 (Knative 1.13) has no split.
# faas-cli tags lack the "v" prefix, so only pseudo-versions exist; 08e3e965c831 (2021-10-12)
# is one the proxy serves.  kn's dependency knative.dev/client-pkg is a pseudo-version the
# checksum database does not know: go.sum pins it, and regenerating go.sum needs
# GONOSUMDB=knative.dev/client-pkg (a build with this go.sum does not ask).
set -eu
name=$1
go=${GO:-go}
cache=${CPU_ALERT_LABELER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpu-alert-labeler}
here=$(cd "$(dirname "$0")/.." && pwd)
case $name in
  kn)
    version=v0.40.0
    package=knative.dev/client/cmd/kn
    vpkg=knative.dev/client/pkg/kn/commands/version
    ldflags="-X $vpkg.Version=$version"
    ;;
  faas-cli)
    version=v0.0.0-20211012083206-08e3e965c831
    package=github.com/openfaas/faas-cli
    vpkg=github.com/openfaas/faas-cli/version
    # Without these it calls itself "dev".
    ldflags="-X $vpkg.Version=$version -X $vpkg.GitCommit=08e3e965c831"
    ;;
  *) echo "unknown tool: $name" >&2; exit 2 ;;
esac
out="$cache/$name-$version/bin/$name"
[ -x "$out" ] && exit 0
# Never touch the module files in the clone: build from a copy (go may tidy go.sum).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/testbed/gopins/$name/go.mod" "$here/testbed/gopins/$name/go.sum" \
   "$here/testbed/gopins/$name/tools.go" "$work/"
mkdir -p "$(dirname "$out")"
(cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 \
   "$go" build -ldflags "-s -w $ldflags" -o "$out.tmp" "$package")
mv "$out.tmp" "$out"
echo "$name $version in $out"
