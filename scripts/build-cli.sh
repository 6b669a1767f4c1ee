#!/usr/bin/env bash
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
set -euo pipefail
name=$1
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/gobuild.sh"
case $name in
  kn)
    module=knative.dev/client
    package=knative.dev/client/cmd/kn
    vpkg=knative.dev/client/pkg/kn/commands/version
    ;;
  faas-cli)
    module=github.com/openfaas/faas-cli
    package=github.com/openfaas/faas-cli
    vpkg=github.com/openfaas/faas-cli/version
    ;;
  *) echo "unknown tool: $name" >&2; exit 2 ;;
esac
pins="$here/testbed/gopins/$name"
version=$(pinned "$pins" "$module")
ldflags="-s -w -X $vpkg.Version=$version"
[ "$name" = faas-cli ] && ldflags="$ldflags -X $vpkg.GitCommit=${version##*-}"
out="$cache/$name-$version/bin/$name"
[ -x "$out" ] && exit 0
build_into "$pins" "$out" "$ldflags" "$package"
echo "$name $version in $out"
