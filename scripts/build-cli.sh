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
version=$(awk -v m="$module" '$1 == "require" && $2 == m {print $3}' "$pins/go.mod")
[ -n "$version" ] || { echo "$0: no 'require $module' line in $pins/go.mod" >&2; exit 1; }
# Without these the tools call themselves "dev".
ldflags="-X $vpkg.Version=$version"
[ "$name" = faas-cli ] && ldflags="$ldflags -X $vpkg.GitCommit=${version##*-}"
out="$cache/$name-$version/bin/$name"
[ -x "$out" ] && exit 0
mkdir -p "$(dirname "$out")"
# -mod=readonly: go.mod and go.sum are the pins; a build that would change them fails.
# GOTOOLCHAIN=local: the machine's Go, never one fetched because a go.mod asks for it.
(cd "$pins" && GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0 \
   "$go" build -ldflags "-s -w $ldflags" -o "$out.tmp" "$package")
mv "$out.tmp" "$out"
echo "$name $version in $out"
